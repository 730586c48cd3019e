/**
 * A suggestion's predicted figures as the detail shows them: each as now → predicted, on
 * the run's own steady-state basis (docs/figures.md). Free of the DOM, so it is tested in Node.
 */
import { formatBytes, formatDurationNs, formatSignedPct } from '../../trace/format';
import type { SuggestionView } from '../protocol';

/** Relative change of the step time predicted by a suggestion, in percent (negative = faster). */
export function predictedChangePct(s: SuggestionView): number {
  const b = s.predicted.baselineStepTimeNs;
  return b > 0 ? (100 * (s.predicted.stepTimeNs - b)) / b : 0;
}

/** "before → after" of one figure, or the after-value alone when the analysis gave no before. */
function arrow(before: number | undefined, after: number, fmt: (x: number) => string): string {
  return before === undefined ? `→ ${fmt(after)}` : `${fmt(before)} → ${fmt(after)}`;
}

/** The rows of a suggestion's detail: every figure it predicts as now → after, on the run's own basis (docs/figures.md). */
export function predictionRows(sg: SuggestionView): [string, string][] {
  const p = sg.predicted;
  const pct = predictedChangePct(sg);
  const rows: [string, string][] = [
    [
      'Step time (now → predicted)',
      `${arrow(p.baselineStepTimeNs, p.stepTimeNs, formatDurationNs)} (${formatSignedPct(pct)})`,
    ],
    ['Exposed communication per step', arrow(p.baselineExposedCommNs, p.exposedCommNs, formatDurationNs)],
  ];
  if (p.bytesPerStep !== undefined)
    rows.push(['Bytes per rank per step', arrow(p.baselineBytesPerStep, p.bytesPerStep, formatBytes)]);
  if (p.peakMemoryBytes !== undefined)
    rows.push(['Peak memory', arrow(p.baselinePeakMemoryBytes, p.peakMemoryBytes, formatBytes)]);
  return rows;
}
