/**
 * Adapts the analysis (analysis/index.ts `Analysis`) to what the trace webview renders
 * (webview/protocol.ts `AnalysisView`): per-rank temporal breakdowns with their steps,
 * the ranked suggestions, the mean step time and the notes. Pure; no `vscode`.
 *
 * The analysis grows fields over time (collectives, suggestions, ...), so fields that
 * may be absent are read defensively and left out of the view rather than invented.
 */
import type { Analysis } from '../analysis/index';
import type { AnalysisView, RankBreakdownView, SuggestionView } from '../webview/protocol';

type Loose = Record<string, unknown>;
const num = (v: unknown, fallback = 0): number => (typeof v === 'number' && Number.isFinite(v) ? v : fallback);
const optNum = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown, fallback = ''): string => (typeof v === 'string' ? v : fallback);

function suggestionView(raw: Loose): SuggestionView | undefined {
  if (typeof raw.id !== 'string') return undefined;
  const p = (raw.predicted ?? {}) as Loose;
  const ev = (raw.evidence ?? {}) as Loose;
  const view: SuggestionView = {
    id: raw.id,
    title: str(raw.title, raw.id),
    kind: str(raw.kind, 'other'),
    predicted: {
      stepTimeNs: num(p.stepTimeNs),
      baselineStepTimeNs: num(p.baselineStepTimeNs),
      exposedCommNs: num(p.exposedCommNs),
    },
    risk: str(raw.risk, 'unknown'),
    source: str(raw.source),
    evidence: { sliceIndexes: Array.isArray(ev.sliceIndexes) ? ev.sliceIndexes.filter((i): i is number => Number.isInteger(i)) : [] },
    configChange: typeof raw.configChange === 'object' && raw.configChange !== null ? (raw.configChange as Record<string, unknown>) : {},
  };
  const bytes = optNum(p.bytesPerStep);
  const mem = optNum(p.peakMemoryBytes);
  if (bytes !== undefined) view.predicted.bytesPerStep = bytes;
  if (mem !== undefined) view.predicted.peakMemoryBytes = mem;
  if (typeof ev.text === 'string' && ev.text.length > 0) view.detail = ev.text;
  return view;
}

/**
 * The webview's view of an analysis. Per rank: HTA's temporal breakdown (idle, compute,
 * non-compute, span) and comm–comp overlap with the exposed communication, per analysed
 * step too; the mean step time is the mean duration of the analysed steps over all ranks.
 */
export function toAnalysisView(analysis: Analysis): AnalysisView {
  const ranks: RankBreakdownView[] = analysis.ranks.map((r) => ({
    rank: r.rank,
    idleNs: r.temporal.idleNs,
    computeNs: r.temporal.computeNs,
    nonComputeNs: r.temporal.nonComputeNs,
    spanNs: r.temporal.spanNs,
    overlapPct: r.overlap.overlapPct,
    exposedCommNs: r.overlap.exposedCommNs,
    steps: r.steps.map((s) => ({ step: s.step, computeNs: s.temporal.computeNs, overlappedCommNs: s.overlap.overlapNs, exposedCommNs: s.overlap.exposedCommNs, idleNs: s.temporal.idleNs })),
  }));
  const stepDurations = analysis.ranks.flatMap((r) => r.steps.map((s) => s.durNs)).filter((d) => d > 0);
  const rawSuggestions = (analysis as unknown as { suggestions?: unknown }).suggestions;
  const suggestions = Array.isArray(rawSuggestions) ? rawSuggestions.map((s) => suggestionView((s ?? {}) as Loose)).filter((s): s is SuggestionView => s !== undefined) : [];
  const view: AnalysisView = { ranks, suggestions };
  if (stepDurations.length > 0) view.stepTimeNs = stepDurations.reduce((a, b) => a + b, 0) / stepDurations.length;
  if (analysis.notes.length > 0) view.warnings = [...analysis.notes];
  return view;
}
