/**
 * A suggestion's predicted figures as the detail shows them: each as now → predicted, on
 * the run's own steady-state basis (docs/figures.md). Free of the DOM, so it is tested in Node.
 */
import {
  formatBytes,
  formatDurationNs,
  formatSignedPct,
  formatSpeedup,
  formatSpeedupInterval,
} from '../../trace/format';
import type { SuggestionView, VerificationView } from '../protocol';

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

/**
 * The speed-up rows of a verified re-run, as [name, before, predicted, measured, error]: the
 * speed-up verify judges (against the baseline run beside the change, with its interval; against
 * the run verified when the baseline was not run again), and
 * the prediction re-made from that baseline run's own analysis when verify wrote one. The error
 * is (predicted − measured) / measured speed-up, whose size is bench:advisor's abs_pred_error.
 * None without verify's predicted and measured speed-ups.
 */
export function speedupRows(v: VerificationView | undefined): string[][] {
  if (v?.predictedSpeedup === undefined || v.measuredSpeedup === undefined) return [];
  const measuredSpeedup = v.measuredSpeedup;
  const measured =
    v.halfWidth !== undefined ? formatSpeedupInterval(measuredSpeedup, v.halfWidth) : formatSpeedup(measuredSpeedup);
  const error = (p: number) => formatSignedPct(((p - measuredSpeedup) / measuredSpeedup) * 100);
  // Without a baseline run again beside the change (a PyTorch re-run, or verify --reuse-baseline),
  // the speed-up is against the run verified.
  const beside = v.baselineStepNs !== undefined ? `${formatDurationNs(v.baselineStepNs)} a step (run beside)` : '–';
  const rows = [
    [
      v.baselineStepNs !== undefined
        ? 'Speed-up (against the baseline run beside the change)'
        : 'Speed-up (against this run)',
      beside,
      formatSpeedup(v.predictedSpeedup),
      measured,
      error(v.predictedSpeedup),
    ],
  ];
  if (v.repredictedSpeedup !== undefined)
    rows.push([
      'Speed-up predicted again from the baseline run beside',
      beside,
      formatSpeedup(v.repredictedSpeedup),
      measured,
      error(v.repredictedSpeedup),
    ]);
  return rows;
}

/**
 * The re-run's step split as the replay splits it, per rank and step, as [name, from, predicted,
 * measured, error]: "from" is the run predicted from (the Compare pane's "before"); the error is
 * (predicted − measured) / measured, as the step-time rows'; "–" where measured is 0.
 */
export function componentSplitRows(v: VerificationView | undefined): string[][] {
  return (v?.components ?? []).map((c) => [
    `${c.label[0].toUpperCase()}${c.label.slice(1)} per rank and step (replayed)`,
    formatDurationNs(c.fromNs),
    formatDurationNs(c.predictedNs),
    formatDurationNs(c.measuredNs),
    c.measuredNs > 0 ? formatSignedPct(((c.predictedNs - c.measuredNs) / c.measuredNs) * 100) : '–',
  ]);
}
