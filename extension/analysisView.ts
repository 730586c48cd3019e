/**
 * Adapts the analysis (analysis/index.ts `Analysis`) to what the trace webview renders
 * (webview/protocol.ts `AnalysisView`): per-rank temporal breakdowns with their
 * steady-state steps, the ranked suggestions and the diagnoses apart, the run's step time
 * and the notes. Pure; no `vscode`.
 *
 * The analysis grows fields over time (collectives, suggestions, ...), so fields that
 * may be absent are read defensively and left out of the view rather than invented.
 */
import type { Analysis } from '../analysis/index';
import { collectiveWaitsOf } from '../analysis/jobCacheCodec';
import { baselineDriftText, comparisonText } from '../analysis/verify';
import { componentRows, largestComponentMiss } from '../analysis/predictionReport';
import type { AnalysisView, RankBreakdownView, SuggestionView, VerificationView } from '../webview/protocol';

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
    ...(raw.changesAlgorithm === true ? { changesAlgorithm: true } : {}),
    ...(typeof raw.pytorchHint === 'string' ? { pytorchHint: raw.pytorchHint } : {}),
    ...(typeof raw.torchApply === 'object' && raw.torchApply !== null && !Array.isArray(raw.torchApply)
      ? { torchApply: raw.torchApply as Record<string, unknown> }
      : {}),
    risk: str(raw.risk, 'unknown'),
    source: str(raw.source),
    evidence: {
      sliceIndexes: Array.isArray(ev.sliceIndexes)
        ? ev.sliceIndexes.filter((i): i is number => Number.isInteger(i))
        : [],
    },
    configChange:
      typeof raw.configChange === 'object' && raw.configChange !== null
        ? (raw.configChange as Record<string, unknown>)
        : {},
  };
  // Every figure with its value before the change, so the detail reads before → after.
  for (const k of [
    'bytesPerStep',
    'peakMemoryBytes',
    'baselineExposedCommNs',
    'baselineBytesPerStep',
    'baselinePeakMemoryBytes',
  ] as const) {
    const v = optNum(p[k]);
    if (v !== undefined) view.predicted[k] = v;
  }
  if (typeof ev.text === 'string' && ev.text.length > 0) view.detail = ev.text;
  if (Array.isArray(p.notes)) {
    const pricing = p.notes.filter((n): n is string => typeof n === 'string' && n.length > 0);
    if (pricing.length > 0) view.pricing = pricing;
  }
  return view;
}

/**
 * The webview's view of an analysis. Per rank: HTA's temporal breakdown (idle, compute,
 * non-compute, span) and comm–comp overlap with the exposed communication, and the
 * steady-state steps (warm-up left out, so it does not set the bars' scale); the step time
 * is the run's (analysis/runFigures.ts), the same figure every other surface shows.
 * Suggestions and diagnoses come apart.
 */
export function toAnalysisView(analysis: Analysis): AnalysisView {
  const figures = (analysis as Partial<Analysis>).figures;
  const warmup = new Set(figures?.warmupSteps ?? []);
  // Per-step collective waits, when the analysis joined collectives across ranks (the heat map's
  // second figure): kept in the job cache's entry, so that a re-open does not read the instances.
  const waits = collectiveWaitsOf(analysis);
  const ranks: RankBreakdownView[] = analysis.ranks.map((r) => ({
    rank: r.rank,
    idleNs: r.temporal.idleNs,
    computeNs: r.temporal.computeNs,
    nonComputeNs: r.temporal.nonComputeNs,
    spanNs: r.temporal.spanNs,
    overlapPct: r.overlap.overlapPct,
    exposedCommNs: r.overlap.exposedCommNs,
    steps: r.steps
      .filter((s) => !warmup.has(s.step))
      .map((s) => ({
        step: s.step,
        computeNs: s.temporal.computeNs,
        overlappedCommNs: s.overlap.overlapNs,
        exposedCommNs: s.overlap.exposedCommNs,
        idleNs: s.temporal.idleNs,
        ...(waits ? { collectiveWaitNs: waits.get(r.rank)?.get(s.step) ?? 0 } : {}),
        startNs: s.startNs,
        durNs: s.durNs,
      })),
  }));
  const list = (raw: unknown): SuggestionView[] =>
    Array.isArray(raw)
      ? raw.map((s) => suggestionView((s ?? {}) as Loose)).filter((s): s is SuggestionView => s !== undefined)
      : [];
  const loose = analysis as unknown as { suggestions?: unknown; diagnoses?: unknown };
  let suggestions = list(loose.suggestions);
  let diagnoses = list(loose.diagnoses);
  // Analyses written before diagnoses had their own list kept them among the suggestions.
  if (loose.diagnoses === undefined) {
    diagnoses = suggestions.filter((s) => Object.keys(s.configChange).length === 0);
    suggestions = suggestions.filter((s) => Object.keys(s.configChange).length > 0);
  }
  const view: AnalysisView = { ranks, suggestions, diagnoses };
  if (figures?.stepTimeNs !== undefined) {
    view.stepTimeNs = figures.stepTimeNs;
    if (figures.stepTimeBasis) view.stepTimeBasis = figures.stepTimeBasis;
    if (figures.exposedCommNs !== undefined) view.exposedCommNs = figures.exposedCommNs;
  } else {
    const stepDurations = analysis.ranks
      .flatMap((r) => r.steps.filter((s) => !warmup.has(s.step)).map((s) => s.durNs))
      .filter((d) => d > 0);
    if (stepDurations.length > 0) view.stepTimeNs = stepDurations.reduce((a, b) => a + b, 0) / stepDurations.length;
  }
  if (warmup.size > 0) view.warmupSteps = [...warmup].sort((a, b) => a - b);
  // The layout's figures, as report.md shows them (trace/layoutFigures.ts renders both).
  const { groups, pipeline } = analysis as Partial<Analysis>;
  if (groups && groups.length > 0)
    view.groups = groups.map((g) => ({
      group: g.group,
      ranks: [...g.ranks],
      exposedCommNs: g.exposedCommNs,
      commNs: g.commNs,
      opsPerStep: g.opsPerStep,
    }));
  if (pipeline && pipeline.length > 0)
    view.pipeline = pipeline.map((p) => ({
      group: p.group,
      ranks: [...p.ranks],
      stages: p.stages,
      ...(p.microBatches !== undefined ? { microBatches: p.microBatches } : {}),
      ...(p.schedule !== undefined ? { schedule: p.schedule } : {}),
      ...(p.theoreticalFraction !== undefined ? { theoreticalFraction: p.theoreticalFraction } : {}),
      perStage: p.perStage.map((st) => ({
        stage: st.stage,
        rank: st.rank,
        steps: st.steps.map((x) => ({ step: x.step, bubbleNs: x.bubbleNs, fraction: x.fraction })),
        meanBubbleNs: st.meanBubbleNs,
        meanFraction: st.meanFraction,
      })),
      meanFraction: p.meanFraction,
    }));
  if (analysis.source?.format === 'kineto') view.imported = true;
  if (analysis.notes.length > 0) view.warnings = [...analysis.notes];
  return view;
}

/**
 * verify's comparison.json (parsed) as the Compare pane shows it: the verdict line the toolbar
 * and the notification show (analysis/verify.ts comparisonText and the baseline's drift clause)
 * and the figures behind it, each as written; a field missing or of the wrong type is left out.
 */
export function verificationViewOf(c: unknown): VerificationView {
  const x = (typeof c === 'object' && c !== null ? c : {}) as Record<string, unknown>;
  const obj = (v: unknown) => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {});
  const iv = obj(x.speedupInterval),
    drift = obj(x.baselineDrift);
  const driftText = baselineDriftText(x.baselineDrift, { short: true });
  const fields: Omit<VerificationView, 'text'> = {
    predictedSpeedup: optNum(x.predictedSpeedup),
    measuredSpeedup: optNum(iv.estimate) ?? optNum(x.measuredSpeedup),
    halfWidth: optNum(iv.estimate) !== undefined ? optNum(iv.halfWidth) : undefined,
    confidence: optNum(iv.estimate) !== undefined ? optNum(iv.confidence) : undefined,
    baselineStepNs: optNum(drift.pooledStepNs),
    repredictedSpeedup: optNum(drift.repredictedSpeedup),
  };
  const split = componentRows(obj(x.predicted).components, obj(x.measured).components);
  if (split.length > 0) {
    fields.components = split.map((r) => ({
      label: r.label,
      fromNs: r.fromNs,
      predictedNs: r.predictedNs,
      measuredNs: r.measuredNs,
    }));
    fields.componentMiss = largestComponentMiss(split);
  }
  return {
    text: comparisonText(c) + (driftText ? `; ${driftText}` : ''),
    ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)),
  };
}
