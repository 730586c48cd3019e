import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PRESETS } from '../../../runtime/config';
import type { RunSummary } from '../../../runtime/summary';
import {
  comparisonText,
  figuresOfSummary,
  intervalIsTight,
  judge,
  judgeSpeedup,
  measuredOf,
  measuredSpeedupInterval,
  measuredSpeedupText,
  pooledMeasured,
  pooledSample,
  stepSamplesOf,
  syncPeriodOf,
  TARGET_ERROR,
  verificationConfig,
} from '../../../analysis/verify';
import { formatSpeedupInterval } from '../../../trace/format';

/** The parts of a summary measuredOf reads, with the given per-step times (ms). */
function summaryOf(config: RunSummary['config'], stepsMs: number[], exposedMs?: number[]): RunSummary {
  const ns = stepsMs.map((x) => x * 1e6);
  const after = [...ns.slice(1)].sort((a, b) => a - b);
  const mid = after.length >> 1;
  return {
    config,
    stepTimeNs: ns,
    medianStepTimeNs: after.length % 2 ? after[mid] : (after[mid - 1] + after[mid]) / 2,
    memoryPerRank: [{ parameters: 1, gradients: 1, optimizerState: 2, activations: 0, communication: 0 }],
    bytesPerStepPerRank: [10],
    loss: stepsMs.map(() => 1),
    analysis: exposedMs && {
      ranks: [0, 1].map(() => ({ steps: exposedMs.map((e, step) => ({ step, overlap: { exposedCommNs: e * 1e6 } })) })),
    },
  } as unknown as RunSummary;
}

test('a change that synchronises every H steps is verified over two whole periods, and says so', () => {
  const base = { ...PRESETS['mlp-small'], steps: 12 };
  const long = verificationConfig(base, { strategy: 'diloco', strategyOptions: { localSteps: 16 } });
  assert.equal(long.config.steps, 34);
  assert.match(long.note ?? '', /running 34 steps instead of 12: the change synchronises every 16 steps/);
  const fits = verificationConfig(base, { strategy: 'streaming-diloco', strategyOptions: { localSteps: 4 } });
  assert.equal(fits.config.steps, 12);
  assert.equal(fits.note, undefined);
  assert.equal(verificationConfig(base, { strategy: 'bf16' }).config.steps, 12);
  assert.equal(syncPeriodOf({ ...base, strategy: 'ddp' }), undefined);
  // A hand-edited summary's nonsense is left to validation, not turned into a step count.
  assert.equal(
    syncPeriodOf({ ...base, strategy: 'diloco', strategyOptions: { localSteps: '16' as unknown as number } }),
    undefined,
  );
});

test('a periodic strategy is measured as the mean over whole periods; others by the median step', () => {
  const diloco = { ...PRESETS['mlp-small'], strategy: 'diloco', strategyOptions: { localSteps: 4 } };
  // Warm-up 900 ms, then inner steps of 100 ms with a 500 ms sync every 4th step; 10 steps after the first.
  const steps = [900, 100, 100, 500, 100, 100, 100, 500, 100, 100, 100];
  // Exposed communication only in the sync steps: 400 ms each.
  const m = measuredOf(
    summaryOf(
      diloco,
      steps,
      steps.map((x) => (x === 500 ? 400 : 0)),
    ),
  );
  // The last 8 steps (2 periods): 100·6 + 500·2 = 1600 ms over 8; exposed 800 ms over 8.
  assert.equal(m.stepTimeNs, 200e6);
  assert.equal(m.exposedCommNsPerStep, 100e6);
  assert.equal(m.medianStepTimeNs, 100e6);
  assert.match(m.stepTimeBasis, /mean of the last 8 steady-state steps \(2 periods of 4 steps/);
  const ddp = measuredOf(summaryOf(PRESETS['mlp-small'], steps));
  assert.equal(ddp.stepTimeNs, ddp.medianStepTimeNs);
  assert.match(ddp.stepTimeBasis, /median/);
  // Too short for one period: the median, said as such.
  assert.match(measuredOf(summaryOf(diloco, [900, 100, 100])).stepTimeBasis, /median/);
});

test('the verdict compares the comparable step times and calls out a predicted win that measured slower', () => {
  const cfg = PRESETS['mlp-small'];
  const baseline = measuredOf(summaryOf(cfg, [1000, 1000, 1000]));
  const predicted = { stepTimeNs: 500e6, baselineStepTimeNs: 1000e6 };
  assert.equal(judge(predicted, baseline, measuredOf(summaryOf(cfg, [1000, 520, 520]))).verdict, 'as predicted');
  assert.equal(
    judge(predicted, baseline, measuredOf(summaryOf(cfg, [1000, 400, 400]))).verdict,
    'better than predicted',
  );
  assert.equal(
    judge(predicted, baseline, measuredOf(summaryOf(cfg, [1000, 800, 800]))).verdict,
    'worse than predicted',
  );
  assert.equal(
    judge(predicted, baseline, measuredOf(summaryOf(cfg, [1000, 1100, 1100]))).verdict,
    'predicted a win, measured a slowdown',
  );
});

test('the speed-up interval pools every run of a side and takes each side’s step time as its figure', () => {
  const ddp = PRESETS['mlp-small'];
  const diloco = { ...PRESETS['mlp-small'], strategy: 'diloco', strategyOptions: { localSteps: 4 } };
  // Baseline: two runs of a 100 ms median step (warm-up 900 ms left out).
  const b1 = summaryOf(ddp, [900, 100, 101, 99, 100, 102, 98]);
  const b2 = summaryOf(ddp, [900, 99, 100, 101, 100, 98, 102]);
  // DiLoCo: inner 40 ms, a sync step of 120 ms every 4th: 60 ms per step over whole periods.
  const c1 = summaryOf(diloco, [900, 40, 40, 40, 120, 40, 40, 40, 120]);
  const c2 = summaryOf(diloco, [900, 40, 40, 40, 120, 40, 40, 40, 120]);
  const { interval, problem } = measuredSpeedupInterval([b1, b2].map(stepSamplesOf), [c1, c2].map(stepSamplesOf));
  assert.equal(problem, undefined);
  assert.ok(interval);
  assert.ok(Math.abs(interval.estimate - 100 / 60) < 1e-12, `${interval.estimate}`);
  assert.equal(interval.baselineSteps, 12);
  assert.equal(interval.changedSteps, 16);
  assert.equal(interval.changedRuns, 2);
  assert.match(interval.baselineBasis, /median of 12 steady-state steps over 2 runs/);
  assert.match(interval.changedBasis, /mean of 16 steady-state steps over 2 runs \(4 whole periods of 4 steps\)/);
  // The periodic side is exact (whole periods, no noise): the interval is the baseline's spread only.
  assert.ok(interval.low < interval.estimate && interval.high > interval.estimate);
  assert.ok(interval.halfWidth < 0.05, `${interval.halfWidth}`);
  // The pooled figures are those the interval is around.
  const base = pooledMeasured([b1, b2]);
  const meas = pooledMeasured([c1, c2]);
  assert.equal(base.stepTimeNs, 100e6);
  assert.equal(meas.stepTimeNs, 60e6);
  assert.equal(pooledMeasured([b1]).stepTimeNs, measuredOf(b1).stepTimeNs);
  // One period per run and one run: no interval yet, and why.
  const short = summaryOf(diloco, [900, 40, 40, 40, 120]);
  const none = measuredSpeedupInterval([b1].map(stepSamplesOf), [short].map(stepSamplesOf));
  assert.equal(none.interval, undefined);
  assert.match(none.problem!, /changed run has 1 period of 4: at least 2/);
});

test('a prediction is right when it lies within the measured interval widened by the 5 % target error', () => {
  const iv = { estimate: 1.39, low: 1.35, high: 1.43, halfWidth: 0.04, confidence: 0.95, resamples: 2000 };
  assert.equal(TARGET_ERROR, 0.05);
  // Widened: 1.35 − 0.0695 = 1.2805 … 1.43 + 0.0695 = 1.4995.
  assert.deepEqual(judgeSpeedup(1.42, iv), { verdict: 'as predicted', right: true });
  assert.deepEqual(judgeSpeedup(1.29, iv), { verdict: 'as predicted', right: true });
  assert.deepEqual(judgeSpeedup(1.27, iv), { verdict: 'better than predicted', right: false });
  assert.deepEqual(judgeSpeedup(1.51, iv), { verdict: 'worse than predicted', right: false });
  // A predicted win whose whole interval is below 1: measured slower beyond the noise.
  const slower = { estimate: 0.9, low: 0.88, high: 0.93, halfWidth: 0.03, confidence: 0.95, resamples: 2000 };
  assert.equal(judgeSpeedup(1.2, slower).verdict, 'predicted a win, measured a slowdown');
  // Straddling 1 is not a measured slowdown.
  const flat = { estimate: 0.99, low: 0.96, high: 1.02, halfWidth: 0.03, confidence: 0.95, resamples: 2000 };
  assert.equal(judgeSpeedup(1.2, flat).verdict, 'worse than predicted');
});

test('the verdict sentence: "measured 1.39× ± 0.04 faster (95 % CI, N steps each)", the same from comparison.json', () => {
  const iv = {
    estimate: 1.39,
    low: 1.36,
    high: 1.43,
    halfWidth: 0.04,
    confidence: 0.95,
    resamples: 2000,
    baselineSteps: 24,
    changedSteps: 24,
    baselineRuns: 2,
    changedRuns: 2,
    baselineBasis: '',
    changedBasis: '',
  };
  assert.equal(measuredSpeedupText(iv), 'measured 1.39× ± 0.04 faster (95 % CI, 24 steps each)');
  // Since 2026-12-07: how the runs entered it — rounds drawn in pairs, each side's runs on its
  // own, or one run a side (whose run-to-run noise the interval cannot hold, and says so).
  assert.equal(
    measuredSpeedupText({ ...iv, resampled: 'paired' }),
    'measured 1.39× ± 0.04 faster (95 % CI over 2 rounds, 24 steps each)',
  );
  assert.equal(
    measuredSpeedupText({ ...iv, resampled: 'runs', baselineRuns: 1, changedRuns: 3, changedSteps: 72 }),
    'measured 1.39× ± 0.04 faster (95 % CI over 1 baseline and 3 changed runs, 24 baseline and 72 changed steps)',
  );
  assert.equal(
    measuredSpeedupText({ ...iv, resampled: 'values', baselineRuns: 1, changedRuns: 1 }),
    'measured 1.39× ± 0.04 faster (95 % CI, 24 steps each, one run a side: how much one run differs from the next is not in it)',
  );
  assert.equal(
    measuredSpeedupText({ ...iv, estimate: 0.88, halfWidth: 0.031, changedSteps: 16 }),
    'measured 12.0 % ± 3.1 % slower (95 % CI, 24 baseline and 16 changed steps)',
  );
  const cfg = PRESETS['mlp-small'];
  const baseline = measuredOf(summaryOf(cfg, [1000, 1000, 1000]));
  const measured = measuredOf(summaryOf(cfg, [1000, 720, 720]));
  const j = judge({ stepTimeNs: 704e6, baselineStepTimeNs: 1000e6 }, baseline, measured, iv);
  assert.equal(j.measuredSpeedup, 1.39, 'the interval’s own estimate');
  assert.equal(j.right, true);
  const text = comparisonText(JSON.parse(JSON.stringify({ ...j })));
  assert.equal(text, 'as predicted: measured 1.39× ± 0.04 faster (95 % CI, 24 steps each), predicted 1.42× faster');
  // A comparison written before the interval existed still reads.
  assert.equal(
    comparisonText({
      verdict: 'as predicted',
      predicted: { stepTimeNs: 5e6 },
      measured: { stepTimeNs: 5.2e6 },
      measuredSpeedup: 1.9,
    }),
    'as predicted: predicted 5 ms/step, measured 5.2 ms/step (1.90× faster vs the baseline)',
  );
  assert.equal(comparisonText(null), 'compared: predicted –/step, measured –/step');
  assert.equal(formatSpeedupInterval(1.002, 0.03), 'unchanged (1.00× ± 0.03)');
});

test('the interval is tight enough to stop when its half-width is within the target share of the speed-up', () => {
  const iv = { estimate: 1.5, low: 1.46, high: 1.54, halfWidth: 0.04, confidence: 0.95, resamples: 2000 };
  assert.equal(intervalIsTight(iv, 0.03), true);
  assert.equal(intervalIsTight({ ...iv, halfWidth: 0.05 }, 0.03), false);
  assert.equal(intervalIsTight(undefined, 0.03), false);
});

test('1-bit Adam is measured over its compressed phase (after the freeze its notes record, less that phase’s own warm-up), in a run lengthened to hold as many such steps as the baseline has steady ones', () => {
  const base = { ...PRESETS['mlp-small'], steps: 12 };
  const v = verificationConfig(base, { strategy: 'onebit-adam' });
  assert.equal(v.config.steps, 22);
  assert.match(v.note ?? '', /running 22 steps instead of 12: 1-bit Adam is measured over the steps after its/);
  assert.equal(
    verificationConfig(base, { strategy: 'onebit-adam', strategyOptions: { onebitWarmupSteps: 4 } }).config.steps,
    15,
  );
  // A run as measured (mlp-small, load ~5): the warm-up step, 4 full-precision steps, then the
  // compressed ones, whose first allocates the codec's buffers.
  const steps = [2551, 1465, 1511, 1264, 1714, 1436, 1117, 729, 1164, 737, 841, 721];
  const onebit = { ...base, strategy: 'onebit-adam' };
  const run = {
    ...summaryOf(
      onebit,
      steps,
      steps.map((x) => x / 10),
    ),
    strategyNotes: ['1-bit Adam: variance frozen after step 4 (5 full-precision steps): stable'],
  } as RunSummary;
  const m = measuredOf(run);
  // The phase's first step is its warm-up (a quarter of 7 steps: at most one); the median of the other six.
  assert.equal(m.stepTimeNs, ((737 + 841) / 2) * 1e6);
  assert.match(m.stepTimeBasis, /compressed phase \(steps 6–11; its variance froze after step 4\)/);
  assert.equal(m.exposedCommNsPerStep, ((73.7 + 84.1) / 2) * 1e6);
  assert.deepEqual(
    stepSamplesOf(run).steadyStepTimesNs,
    steps.slice(6).map((x) => x * 1e6),
  );
  // Without the note (an older run): every steady-state step, full-precision ones among them.
  assert.equal(measuredOf(summaryOf(onebit, steps)).stepTimeNs, 1164e6);
});

test('Streaming DiLoCo’s periods are taken before its last step, which waits for the sync still in flight', () => {
  const streaming = { ...PRESETS['gpt-mini'], strategy: 'streaming-diloco', strategyOptions: { localSteps: 4 } };
  // Warm-up, inner steps of 100 ms, a 300 ms step per period, and a last step that drains a whole sync (700 ms).
  const steps = [900, 100, 100, 100, 300, 100, 100, 100, 300, 100, 700];
  const m = measuredOf(summaryOf(streaming, steps));
  // The two whole periods before the last step: (6 · 100 + 2 · 300) / 8.
  assert.equal(m.stepTimeNs, 150e6);
  assert.match(m.stepTimeBasis, /2 periods of 4 steps, each with its synchronisation\) before the last step/);
  const pooled = pooledSample([stepSamplesOf(summaryOf(streaming, steps))]);
  assert.equal(pooled.values.length, 8);
  assert.equal(pooled.values.reduce((a, b) => a + b, 0) / 8, 150e6);
  // Without overlap (the sync lands in its own step) nothing drains, and DiLoCo takes its last periods as they are.
  const blocking = { ...streaming, strategyOptions: { localSteps: 4, overlapSteps: 0 } };
  assert.equal(measuredOf(summaryOf(blocking, steps)).stepTimeNs, 225e6);
  assert.equal(measuredOf(summaryOf({ ...streaming, strategy: 'diloco' }, steps)).stepTimeNs, 225e6);
});

test('bytes per step of a stored analysis older than schema 3 is not shown for a CommLens run (it was the wire bytes)', () => {
  const base = summaryOf({ ...PRESETS['mlp-small'], steps: 4 }, [900, 10, 10, 10]);
  const run = (analysis: unknown, extra: Record<string, unknown>) =>
    figuresOfSummary({ ...base, bytesPerStepPerRank: undefined, analysis, ...extra } as unknown as RunSummary)
      .bytesPerStep;
  const figures = (bytesPerStep: number) => ({ warmupSteps: [0], bytesPerStep });
  // A CommLens run (its summary has the wire bytes): schema 2 stored 1.5 × S, schema 3 stores S.
  assert.equal(run({ schemaVersion: 2, figures: figures(15) }, { wireBytesPerStepPerRank: [15] }), undefined);
  assert.equal(run({ figures: figures(15) }, { wireBytesPerStepPerRank: [15] }), undefined);
  assert.equal(run({ schemaVersion: 3, figures: figures(10) }, { wireBytesPerStepPerRank: [15] }), 10);
  // Its own per-rank Σ S, when the summary has it.
  assert.equal(
    run({ schemaVersion: 2, figures: figures(15) }, { wireBytesPerStepPerRank: [15], bytesPerStepPerRank: [10, 8] }),
    10,
  );
  // An imported job's summary has no wire bytes: its figure was Σ S already.
  assert.equal(run({ schemaVersion: 2, figures: figures(10) }, {}), 10);
});
