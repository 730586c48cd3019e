/**
 * bench:advisor's figures from given runs, without running anything: a row's errors (the
 * speed-up against the baseline run beside the change, the step time against the pass's first
 * baseline, the prediction scaled to the baseline beside), the headline over rows, and the flags.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PRESETS } from '../../../runtime/config';
import type { RunSummary } from '../../../runtime/summary';
import { measuredSpeedupInterval, stepSamplesOf, VERIFY_DEFAULTS, type RoundRun } from '../../../analysis/verify';
import {
  BENCH_MAX_ROUNDS,
  BenchArgError,
  everyBaselineFigures,
  headlineOf,
  makeKeepRunsDir,
  parseArgs,
  rowFigures,
} from '../../../bench/advisor';

/** A DDP run's summary with these steady step times (ms), after a slow warm-up step. */
function summary(stepsMs: number[]): RunSummary {
  const ns = [5 * stepsMs[0], ...stepsMs].map((x) => x * 1e6);
  const after = [...ns.slice(1)].sort((a, b) => a - b);
  const mid = after.length >> 1;
  return {
    runId: 'r',
    config: PRESETS['mlp-small'],
    stepTimeNs: ns,
    medianStepTimeNs: after.length % 2 ? after[mid] : (after[mid - 1] + after[mid]) / 2,
    memoryPerRank: [{ parameters: 1, gradients: 1, optimizerState: 2, activations: 0, communication: 0 }],
    bytesPerStepPerRank: [10],
    loss: ns.map(() => 1),
  } as unknown as RunSummary;
}
const flat = (ms: number) => summary([ms, ms, ms, ms, ms, ms]);
const rounds = (b: RunSummary[], c: RunSummary[]) => {
  const baselineRuns: RoundRun[] = b.map((s) => ({ summary: s }));
  const changedRuns: RoundRun[] = c.map((s) => ({ summary: s }));
  const { interval } = measuredSpeedupInterval(
    baselineRuns.map((r) => stepSamplesOf(r.summary)),
    changedRuns.map((r) => stepSamplesOf(r.summary)),
  );
  return { baselineRuns, changedRuns, interval };
};
const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);

test('a row judges the predicted speed-up against the baseline run beside the change, not the pass baseline', () => {
  // Predicted from a 1000 ms baseline: 500 ms, 2×. The pass baseline read 1000 ms; the machine then
  // slowed by 20 %: the baseline beside the change 1200 ms, the change 600 ms, still 2×.
  const predicted = { stepTimeNs: 500e6, baselineStepTimeNs: 1000e6 };
  const f = rowFigures(predicted, flat(1000), rounds([flat(1200)], [flat(600)]));
  assert.equal(f.predicted_speedup, 2);
  assert.equal(f.measured_speedup, 2);
  assert.equal(f.abs_pred_error, 0);
  assert.equal(f.abs_scaled_step_error, 0);
  assert.equal(f.verdict, 'as predicted');
  assert.equal(f.speedup_right, true);
  assert.equal(f.interleaved_baseline_step_ms, 1200);
  assert.equal(f.measured_step_ms, 600);
  // The baseline beside the change ran 20 % slower than the one the prediction came from (verify's baselineDrift).
  close(f.baseline_drift, 0.2);
  // The earlier definition counts the drift as error: (600 − 500) / 600, and the speed-up 1000 / 600.
  assert.equal(f.baseline_step_ms, 1000);
  close(f.abs_step_error_vs_pass_baseline, 100 / 600);
  close(f.measured_speedup_vs_pass_baseline, 1000 / 600);
});

test('the speed-up error divides by the measured speed-up; the scaled step error is 1 − measured / predicted', () => {
  // Predicted 2×; measured 1200 → 800 ms, 1.5×.
  const predicted = { stepTimeNs: 500e6, baselineStepTimeNs: 1000e6 };
  const f = rowFigures(predicted, flat(1000), rounds([flat(1200)], [flat(800)]));
  close(f.measured_speedup, 1.5);
  close(f.abs_pred_error, 0.5 / 1.5);
  // 500 ms scaled to 1200 ms: 600 against 800 measured: 200 / 800 = 1 − 1.5 / 2.
  close(f.abs_scaled_step_error, 0.25);
  close(f.abs_scaled_step_error, Math.abs(1 - f.measured_speedup / f.predicted_speedup));
  assert.equal(f.verdict, 'worse than predicted');
  // Rounds pool: two baselines (1100, 1300 ms: median 1200) and two changes (700, 900: 800).
  const g = rowFigures(predicted, flat(1000), rounds([flat(1100), flat(1300)], [flat(700), flat(900)]));
  assert.equal(g.interleaved_baseline_step_ms, 1200);
  assert.equal(g.measured_step_ms, 800);
  close(g.abs_pred_error, 0.5 / 1.5);
  assert.ok(g.measured_speedup_low! < 1.5 && g.measured_speedup_high! > 1.5);
  // Its first round alone: 1100 → 700 ms, 1.571×, predicted 2×.
  close(g.abs_pred_error_first_round!, (2 - 1100 / 700) / (1100 / 700));
  // One round: no separate first-round figure (it is the row's own).
  assert.equal(f.abs_pred_error_first_round, undefined);
  // The pass baseline reused (--reuse-baseline): one baseline run, so no round pairs to take apart.
  const h = rowFigures(predicted, flat(1000), rounds([flat(1000)], [flat(700), flat(900)]));
  assert.equal(h.abs_pred_error_first_round, undefined);
  // Pooled baselines: 1200 ms against 1000, +20 %; the pass baseline reused, none.
  close(g.baseline_drift, 0.2);
  assert.equal(h.baseline_drift, 0);
});

test('the headline takes the interleaved figures, and keeps the pass-baseline ones under their own names', () => {
  const row = (e: number, p: number, m: number, mPass: number) => ({
    abs_pred_error: e,
    abs_scaled_step_error: e / 2,
    abs_step_error_vs_pass_baseline: 3 * e,
    predicted_speedup: p,
    measured_speedup: m,
    measured_speedup_vs_pass_baseline: mPass,
    speedup_right: e < 0.05,
    baseline_drift: e - 0.05,
  });
  const h = headlineOf([row(0.01, 1.5, 1.4, 1.2), row(0.04, 1.2, 0.9, 1.0), row(0.1, 0.9, 0.5, 0.8)]);
  assert.equal(h.median_abs_pred_error, 0.04);
  assert.equal(h.max_abs_pred_error, 0.1);
  assert.equal(h.median_abs_scaled_step_error, 0.02);
  assert.equal(h.median_abs_step_error_vs_pass_baseline, 0.12);
  close(h.max_abs_step_error_vs_pass_baseline, 0.3);
  // Predicted wins only (the 0.9× row is not one): measured 0.9× beside its baseline is 11.1 % slower;
  // against the pass baseline the same row read 1.0×, no slowdown.
  close(h.worst_slowdown_of_predicted_win, 1 / 0.9 - 1);
  assert.equal(h.worst_slowdown_of_predicted_win_vs_pass_baseline, 0);
  close(h.right_within_interval, 2 / 3);
  // The first round alone, over the rows that had more than one round: NaN when none had.
  assert.ok(Number.isNaN(h.median_abs_pred_error_first_round) && Number.isNaN(h.max_abs_pred_error_first_round));
  const two = headlineOf([
    { ...row(0.01, 1.5, 1.4, 1.2), abs_pred_error_first_round: 0.3 },
    row(0.04, 1.2, 0.9, 1.0),
    { ...row(0.1, 0.9, 0.5, 0.8), abs_pred_error_first_round: 0.1 },
  ]);
  close(two.median_abs_pred_error_first_round, 0.2);
  assert.equal(two.max_abs_pred_error_first_round, 0.3);
  assert.equal(two.median_abs_pred_error, 0.04);
  assert.ok(Number.isNaN(headlineOf([]).median_abs_pred_error));
  assert.equal(headlineOf([]).worst_slowdown_of_predicted_win, 0);
  // The baselines' drift from the pass baseline, by size: |−0.04|, |−0.01|, |0.05|; a row without one is left out.
  close(h.median_abs_baseline_drift, 0.04);
  close(h.max_abs_baseline_drift, 0.05);
  close(
    headlineOf([row(0.01, 1.5, 1.4, 1.2), { ...row(0.1, 1, 1, 1), baseline_drift: NaN }]).max_abs_baseline_drift,
    0.04,
  );
  assert.ok(Number.isNaN(headlineOf([]).median_abs_baseline_drift));
  // Re-made predictions, over the rows that have one: NaN and no slowdown when none has.
  assert.ok(Number.isNaN(h.median_abs_repredicted_error) && Number.isNaN(h.max_abs_repredicted_error));
  assert.equal(h.worst_slowdown_of_repredicted_win, 0);
  const remade = headlineOf([
    { ...row(0.2, 1.5, 1.2, 1.2), repredicted_speedup: 1.26, abs_repredicted_error: 0.05 },
    { ...row(0.3, 1.3, 0.95, 1.0), repredicted_speedup: 1.02, abs_repredicted_error: 0.07 },
    { ...row(0.1, 0.9, 0.8, 0.8), repredicted_speedup: 0.95, abs_repredicted_error: 0.19 },
    row(0.01, 1.5, 1.4, 1.2),
  ]);
  close(remade.median_abs_repredicted_error, 0.07);
  close(remade.max_abs_repredicted_error, 0.19);
  // Re-made wins only: 1.02× predicted, 0.95× measured, 5.3 % slower; the 0.95× re-made is no win.
  close(remade.worst_slowdown_of_repredicted_win, 1 / 0.95 - 1);
  close(remade.median_abs_pred_error, 0.15);
});

test('a row re-makes its prediction from its baselines beside: the median of their own analyses for the same suggestion', () => {
  // Each baseline run's analysis predicted the suggestion again: 1.8× and 1.6× (median 1.7×); a third
  // run's analysis did not make it. Measured 1200 → 750 ms, 1.6×; the pass baseline predicted 2×.
  const withSuggestion = (s: RunSummary, speedup?: number): RunSummary =>
    ({
      ...s,
      analysis: {
        suggestions:
          speedup === undefined
            ? []
            : [{ id: 'fp16', predicted: { baselineStepTimeNs: 1000e6, stepTimeNs: 1000e6 / speedup } }],
      },
    }) as unknown as RunSummary;
  const predicted = { stepTimeNs: 500e6, baselineStepTimeNs: 1000e6 };
  const m = rounds(
    [withSuggestion(flat(1100), 1.8), withSuggestion(flat(1200), 1.6), withSuggestion(flat(1300))],
    [flat(700), flat(750), flat(800)],
  );
  const f = rowFigures(predicted, flat(1000), m, 'fp16');
  close(f.measured_speedup, 1.6);
  close(f.abs_pred_error, 0.4 / 1.6);
  close(f.repredicted_speedup!, 1.7);
  close(f.abs_repredicted_error!, 0.1 / 1.6);
  // Each baseline's own prediction, in round order (the third run's analysis made none).
  assert.equal(f.repredicted_speedups?.length, 2);
  close(f.repredicted_speedups![0], 1.8);
  close(f.repredicted_speedups![1], 1.6);
  // How far one baseline run moved it: (1.8 − 1.6) / 1.7 for this row; a row with one re-made
  // prediction has no range and is left out; none with two: NaN.
  const asRow = { ...f, measured_speedup_vs_pass_baseline: 1.6, abs_step_error_vs_pass_baseline: 0 };
  const spread = headlineOf([asRow, { ...asRow, repredicted_speedups: [1.02] }]);
  close(spread.median_repredicted_spread, 0.2 / 1.7);
  assert.ok(Number.isNaN(headlineOf([{ ...asRow, repredicted_speedups: undefined }]).median_repredicted_spread));
  // No suggestion id, or no baseline analysis that made it: no re-made figure.
  const g = rowFigures(predicted, flat(1000), m);
  assert.equal(g.repredicted_speedup, undefined);
  assert.equal(g.abs_repredicted_error, undefined);
  assert.equal(rowFigures(predicted, flat(1000), m, 'bf16').repredicted_speedup, undefined);
});

test("every baseline run of a preset judges each row: each run's own prediction against the row's measured speed-up", () => {
  const withSuggestion = (s: RunSummary, speedups: Record<string, number>): RunSummary =>
    ({
      ...s,
      analysis: {
        suggestions: Object.entries(speedups).map(([id, x]) => ({
          id,
          predicted: { baselineStepTimeNs: 1000e6, stepTimeNs: 1000e6 / x },
        })),
      },
    }) as unknown as RunSummary;
  // Four baseline runs of the preset in the pass: fp16 predicted 1.2, 1.5, 1.6 and 2.0×; bf16 by one run only.
  const runs = [
    withSuggestion(flat(1000), { fp16: 1.2, bf16: 1.3 }),
    withSuggestion(flat(1100), { fp16: 1.5 }),
    withSuggestion(flat(900), { fp16: 1.6 }),
    withSuggestion(flat(1000), { fp16: 2.0 }),
  ];
  // Measured 1.6×: errors 0.25, 0.0625, 0, 0.25 (median 0.15625); the median prediction 1.55×.
  const f = everyBaselineFigures(runs, 'fp16', 1.6);
  assert.deepEqual(
    f.every_baseline_speedups?.map((x) => +x.toFixed(12)),
    [1.2, 1.5, 1.6, 2.0],
  );
  close(f.median_abs_error_every_baseline!, (0.0625 + 0.25) / 2);
  close(f.abs_error_of_median_prediction!, 0.05 / 1.6);
  // No run made the suggestion, or nothing measured: no figures.
  assert.deepEqual(everyBaselineFigures(runs, 'powersgd', 1.6), {});
  assert.deepEqual(everyBaselineFigures([], 'fp16', 1.6), {});
  // The headline pools the (row, baseline) pairs: 4 of fp16, 1 of bf16 (measured 1.0×: 0.3 off, over 15 %).
  const g = everyBaselineFigures(runs, 'bf16', 1.0);
  const row = (x: typeof f, measured: number) => ({
    ...rowFigures({ stepTimeNs: 500e6, baselineStepTimeNs: 1000e6 }, flat(1000), rounds([flat(1000)], [flat(500)])),
    measured_speedup_vs_pass_baseline: 2,
    abs_step_error_vs_pass_baseline: 0,
    ...x,
    measured_speedup: measured,
  });
  const h = headlineOf([row(f, 1.6), row(g, 1.0)]);
  assert.equal(h.pairs_every_baseline, 5);
  close(h.median_abs_error_every_baseline, 0.25);
  close(h.share_over_15pct_every_baseline, 3 / 5);
  close(h.median_abs_error_of_median_prediction, (0.05 / 1.6 + 0.3) / 2);
  close(h.max_abs_error_of_median_prediction, 0.3);
  const none = headlineOf([row({}, 1.6)]);
  assert.equal(none.pairs_every_baseline, 0);
  assert.ok(Number.isNaN(none.median_abs_error_every_baseline) && Number.isNaN(none.share_over_15pct_every_baseline));
});

test('bench:advisor measures as verify does by default (its rounds, beside a fresh baseline) unless told otherwise', () => {
  assert.equal(BENCH_MAX_ROUNDS, VERIFY_DEFAULTS.maxRounds);
  assert.deepEqual(parseArgs([]), { repeats: 1, load: 0, maxRounds: VERIFY_DEFAULTS.maxRounds, reuseBaseline: false });
  assert.equal(parseArgs(['--max-rounds', '1']).maxRounds, 1);
  assert.deepEqual(parseArgs(['--load', '2', '--max-rounds', '3', '--reuse-baseline']), {
    repeats: 1,
    load: 2,
    maxRounds: 3,
    reuseBaseline: true,
  });
  assert.throws(() => parseArgs(['--max-rounds', '0']), /--max-rounds 0: expected an integer from 1 to 64/);
  assert.throws(() => parseArgs(['--rounds', '2']), /unknown option --rounds/);
  assert.equal(parseArgs(['--load', '2', '--load-only']).loadOnly, true);
  assert.equal(parseArgs(['--load', '2']).loadOnly, undefined);
  assert.throws(() => parseArgs(['--load-only']), /--load-only: expected --load N too/);
  assert.equal(parseArgs(['--keep-runs', '/tmp/runs']).keepRuns, '/tmp/runs');
  assert.throws(() => parseArgs(['--keep-runs']), /--keep-runs \(missing\): expected a folder/);
  assert.throws(() => parseArgs(['--keep-runs', '--load']), /--keep-runs --load: expected a folder/);
});

test('bench:advisor --keep-runs on a file says the path and what it must be', () => {
  const dir = mkdtempSync(join(tmpdir(), 'commlens-keep-'));
  try {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    for (const path of [file, join(file, 'below')])
      assert.throws(
        () => makeKeepRunsDir(path),
        (e: unknown) =>
          e instanceof BenchArgError &&
          e.message.startsWith(`--keep-runs ${path}: cannot make a folder there`) &&
          /expected a folder, new or existing/.test(e.message),
      );
    // A new folder (and its parents) is made; an existing one is kept.
    makeKeepRunsDir(join(dir, 'new', 'runs'));
    makeKeepRunsDir(join(dir, 'new', 'runs'));
    assert.ok(statSync(join(dir, 'new', 'runs')).isDirectory());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
