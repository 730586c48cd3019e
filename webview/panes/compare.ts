/**
 * Comparison of two runs (before/after a suggestion): the breakdowns side by side on one
 * scale, predicted against measured, step times aligned by step, both loss curves.
 */
import { h } from '../dom';
import { formatDurationNs, formatPct, formatSignedPct } from '../../trace/format';
import type { AnalysisView, RankBreakdownView, SuggestionView, VerificationView } from '../protocol';
import { componentSplitRows, speedupRows } from './predictionRows';
import type { TraceIndex } from '../timeline/traceIndex';
import { BREAKDOWN_PARTS, breakdownChart, lineChart, stepsOf } from './charts';
import { exposedPerStepNs, idlePerStepNs, lossSeries, stepDurations, type Series } from './series';

export interface RunForComparison {
  title: string;
  index: TraceIndex;
  analysis: AnalysisView | null;
  /** The re-run (after) only: verify's judgement of it against the baseline run beside it. */
  verification?: VerificationView;
}

/** Step time of a run: the analysis' own figure (steady state, docs/figures.md), else the mean of its step slices. */
export function meanStepNs(run: RunForComparison): number {
  if (run.analysis?.stepTimeNs) return run.analysis.stepTimeNs;
  const d = [...stepDurations(run.index).values()];
  return d.length ? d.reduce((a, b) => a + b, 0) / d.length : NaN;
}

function meanOf(ranks: RankBreakdownView[], f: (r: RankBreakdownView) => number): number {
  return ranks.length ? ranks.reduce((a, r) => a + f(r), 0) / ranks.length : NaN;
}

const pctChange = (a: number, b: number): string =>
  Number.isFinite(a) && Number.isFinite(b) && a > 0 ? formatSignedPct(((b - a) / a) * 100) : '–';

export function renderComparison(
  before: RunForComparison,
  after: RunForComparison | null,
  suggestion: SuggestionView | undefined,
): HTMLElement {
  if (!after) {
    return h(
      'p',
      { className: 'empty' },
      'No second run yet. Pick a suggestion and press "Apply & re-run"; the re-run opens here beside this one.',
    );
  }
  const b = before.analysis?.ranks ?? [],
    a = after.analysis?.ranks ?? [];
  const stepB = meanStepNs(before),
    stepA = meanStepNs(after);
  // The runs' own figures (steady state, docs/figures.md) when the analysis has them.
  const exposedB = before.analysis?.exposedCommNs ?? meanOf(b, exposedPerStepNs),
    exposedA = after.analysis?.exposedCommNs ?? meanOf(a, exposedPerStepNs);
  const rows: HTMLTableRowElement[] = [];
  const row = (name: string, before: string, predicted: string, measured: string, err: string): HTMLTableRowElement =>
    h(
      'tr',
      {},
      h('th', { scope: 'row' }, name),
      h('td', { className: 'num' }, before),
      h('td', { className: 'num' }, predicted),
      h('td', { className: 'num' }, measured),
      h('td', { className: 'num' }, err),
    );
  const verification = after.verification;
  for (const r of speedupRows(verification)) rows.push(row(r[0], r[1], r[2], r[3], r[4]));
  const predErr = (pred: number | undefined, meas: number): string =>
    pred !== undefined && Number.isFinite(meas) && meas > 0 ? formatSignedPct(((pred - meas) / meas) * 100) : '–';
  rows.push(
    row(
      'Step time (steady state)',
      formatDurationNs(stepB),
      suggestion ? formatDurationNs(suggestion.predicted.stepTimeNs) : '–',
      formatDurationNs(stepA),
      predErr(suggestion?.predicted.stepTimeNs, stepA),
    ),
  );
  rows.push(
    row(
      'Exposed communication per step (steady state)',
      formatDurationNs(exposedB),
      suggestion ? formatDurationNs(suggestion.predicted.exposedCommNs) : '–',
      formatDurationNs(exposedA),
      predErr(suggestion?.predicted.exposedCommNs, exposedA),
    ),
  );
  // Where the step went, as the replay splits it: the prediction against the re-run's own replay.
  for (const r of componentSplitRows(verification)) rows.push(row(r[0], r[1], r[2], r[3], r[4]));
  rows.push(
    row(
      'Comm–compute overlap (mean)',
      formatPct(meanOf(b, (r) => r.overlapPct)),
      '–',
      formatPct(meanOf(a, (r) => r.overlapPct)),
      '–',
    ),
  );
  rows.push(
    row(
      'Idle per step (mean over ranks)',
      formatDurationNs(meanOf(b, idlePerStepNs)),
      '–',
      formatDurationNs(meanOf(a, idlePerStepNs)),
      '–',
    ),
  );

  // Aligned by step number: the two runs' step times side by side.
  const db = stepDurations(before.index),
    da = stepDurations(after.index);
  const steps = [...new Set([...db.keys(), ...da.keys()])].sort((x, y) => x - y);
  const stepTable = h(
    'table',
    { className: 'grid steps' },
    h('thead', {}, h('tr', {}, ...['Step', 'Before', 'After', 'Change'].map((c) => h('th', { scope: 'col' }, c)))),
    h(
      'tbody',
      {},
      ...steps
        .slice(0, 200)
        .map((st) =>
          h(
            'tr',
            {},
            h(
              'td',
              { className: 'num' },
              [before, after].some((r) => r.analysis?.warmupSteps?.includes(st)) ? `${st} (warm-up)` : String(st),
            ),
            h('td', { className: 'num' }, db.has(st) ? formatDurationNs(db.get(st)!) : '–'),
            h('td', { className: 'num' }, da.has(st) ? formatDurationNs(da.get(st)!) : '–'),
            h('td', { className: 'num' }, pctChange(db.get(st) ?? NaN, da.get(st) ?? NaN)),
          ),
        ),
    ),
  );

  // One scale for both breakdowns, so bar heights compare.
  const total = (r: RankBreakdownView): number =>
    Math.max(...stepsOf(r).map((st) => BREAKDOWN_PARTS.reduce((s, p) => s + st[p.key], 0)));
  const scale = Math.max(1, ...b.map(total), ...a.map(total));
  const loss: Series[] = [
    ...lossSeries(before.index).map((s) => ({ ...s, label: `before: ${s.label}` })),
    ...lossSeries(after.index).map((s) => ({ ...s, label: `after: ${s.label}` })),
  ];
  const nb = lossSeries(before.index).length;
  const classes = loss.map((_, i) => (i < nb ? 'l0' : 'l1'));
  return h(
    'div',
    { className: 'compare' },
    h(
      'p',
      {},
      h('strong', {}, 'Before: '),
      before.title,
      ' · ',
      h('strong', {}, 'After: '),
      after.title,
      suggestion ? ` · applied: ${suggestion.title}` : '',
    ),
    h(
      'table',
      { className: 'grid predicted' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['', 'Before (measured)', 'Predicted', 'After (measured)', 'Prediction error'].map((c) =>
            h('th', { scope: 'col' }, c),
          ),
        ),
      ),
      h('tbody', {}, ...rows),
    ),
    verification
      ? h(
          'p',
          { className: 'verdict' },
          h('strong', {}, 'Verify: '),
          verification.text,
          verification.baselineStepNs !== undefined
            ? '. Step times compare this run with the re-run, made at different times; verify judges the speed-up, each change against a baseline run beside it.'
            : '. The baseline was not run again: the speed-up compares this run with the re-run.',
          verification.componentMiss ? ` Furthest from its prediction: ${verification.componentMiss}.` : '',
        )
      : null,
    h(
      'div',
      { className: 'side-by-side' },
      breakdownChart(b, 'Before: breakdown per rank and step', scale),
      breakdownChart(a, 'After: breakdown per rank and step', scale),
    ),
    h(
      'div',
      { className: 'side-by-side' },
      lineChart(loss, 'Loss by step, before and after', classes),
      h('figure', { className: 'chart' }, h('figcaption', {}, 'Step time by step'), stepTable),
    ),
  );
}
