/**
 * verify's rounds (analysis/verify.ts measureInRounds, judgeRounds), shared by `commlens
 * verify` and bench:advisor: the order runs are made in, when the rounds stop, a failed run,
 * and the judgement over every round's runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PRESETS } from '../../../runtime/config';
import type { RunSummary } from '../../../runtime/summary';
import {
  baselineDriftOf,
  baselineDriftText,
  judge,
  judgeRounds,
  measureInRounds,
  VERIFY_DEFAULTS,
  measuredSpeedupInterval,
  pooledMeasured,
  stepSamplesOf,
  type RoundRun,
} from '../../../analysis/verify';

/** The parts of a summary verification reads: a DDP run with these step times (ms), step 0 its warm-up. */
function run(stepsMs: number[]): RoundRun {
  const ns = stepsMs.map((x) => x * 1e6);
  const after = [...ns.slice(1)].sort((a, b) => a - b);
  const mid = after.length >> 1;
  const summary = {
    runId: `run-${stepsMs.join('-')}`,
    config: PRESETS['mlp-small'],
    stepTimeNs: ns,
    medianStepTimeNs: after.length % 2 ? after[mid] : (after[mid - 1] + after[mid]) / 2,
    memoryPerRank: [{ parameters: 1, gradients: 1, optimizerState: 2, activations: 0, communication: 0 }],
    bytesPerStepPerRank: [10],
    loss: stepsMs.map(() => 1),
  } as unknown as RunSummary;
  return { summary };
}

/** Callbacks that hand out the given runs in turn and log which side ran. */
function sides(baselines: RoundRun[], changed: RoundRun[]) {
  const log: string[] = [];
  let b = 0;
  let c = 0;
  return {
    log,
    runBaseline: () => {
      log.push('baseline');
      return Promise.resolve(baselines[b++]);
    },
    runChanged: () => {
      log.push('change');
      return Promise.resolve(changed[c++]);
    },
  };
}

const steady = (ms: number) => [5 * ms, ms, ms, ms, ms, ms, ms];
const noisy = (ms: number) => [5 * ms, ms, 1.4 * ms, 0.7 * ms, 1.3 * ms, 0.8 * ms, ms];

test('rounds run the baseline, then the change, and stop once the interval is tight after the minimum', async () => {
  const s = sides(
    [run(steady(100)), run(steady(100)), run(steady(100))],
    [run(steady(50)), run(steady(50)), run(steady(50))],
  );
  const rounds: number[] = [];
  const m = await measureInRounds({
    maxRounds: 3,
    intervalTarget: 0.03,
    ...s,
    onRound: (r) => rounds.push(r),
  });
  assert.ok(!('failed' in m));
  // Identical steps: the first round's interval is already a point, but one pair of runs cannot
  // show how runs differ: a second round (VERIFY_DEFAULTS.minRounds), tight, and no third.
  assert.equal(VERIFY_DEFAULTS.minRounds, 2);
  assert.deepEqual(s.log, ['baseline', 'change', 'baseline', 'change']);
  assert.deepEqual(rounds, [1, 2]);
  assert.equal(m.rounds, 2);
  assert.ok(m.interval);
  assert.equal(m.interval.estimate, 2);
  // The rounds were drawn in pairs.
  assert.equal(m.interval.resampled, 'paired');
  // A minimum of one stops after the first tight round; max-rounds 1 runs one whatever the minimum.
  const one = sides([run(steady(100))], [run(steady(50))]);
  const m1 = await measureInRounds({ maxRounds: 3, intervalTarget: 0.03, minRounds: 1, ...one });
  assert.ok(!('failed' in m1));
  assert.equal(m1.rounds, 1);
  assert.equal(m1.interval!.resampled, 'values');
  const cap = sides([run(steady(100))], [run(steady(50))]);
  const m2 = await measureInRounds({ maxRounds: 1, intervalTarget: 0.03, ...cap });
  assert.ok(!('failed' in m2));
  assert.equal(m2.rounds, 1);
});

test('rounds go on to max-rounds while the interval is wide, pooling every round', async () => {
  const b = [run(noisy(100)), run(noisy(100)), run(noisy(100))];
  const c = [run(noisy(50)), run(noisy(50)), run(noisy(50))];
  const s = sides(b, c);
  const m = await measureInRounds({ maxRounds: 3, intervalTarget: 0.03, ...s });
  assert.ok(!('failed' in m));
  assert.deepEqual(s.log, ['baseline', 'change', 'baseline', 'change', 'baseline', 'change']);
  assert.equal(m.rounds, 3);
  assert.deepEqual(m.baselineRuns, b);
  assert.deepEqual(m.changedRuns, c);
  // The interval is the one over all six runs, as verify states it.
  const all = measuredSpeedupInterval(
    b.map((r) => stepSamplesOf(r.summary)),
    c.map((r) => stepSamplesOf(r.summary)),
  );
  assert.deepEqual(m.interval, all.interval);
  assert.equal(m.interval!.baselineRuns, 3);
});

test('without runBaseline the given baseline is reused and only the change runs', async () => {
  const earlier = run(steady(100));
  const s = sides([], [run(noisy(50)), run(noisy(50))]);
  const m = await measureInRounds({
    maxRounds: 2,
    intervalTarget: 0.03,
    baselineRuns: [earlier],
    runChanged: s.runChanged,
  });
  assert.ok(!('failed' in m));
  assert.deepEqual(s.log, ['change', 'change']);
  assert.deepEqual(m.baselineRuns, [earlier]);
  assert.equal(m.changedRuns.length, 2);
});

test('a failed run stops the rounds and says which side failed in which round', async () => {
  const failBase = sides([run(noisy(100))], [run(noisy(50))]);
  assert.deepEqual(await measureInRounds({ maxRounds: 3, intervalTarget: 0.03, ...failBase }), {
    failed: 'baseline',
    round: 2,
  });
  assert.deepEqual(failBase.log, ['baseline', 'change', 'baseline']);
  const failChange = sides([run(noisy(100))], []);
  assert.deepEqual(await measureInRounds({ maxRounds: 3, intervalTarget: 0.03, ...failChange }), {
    failed: 'change',
    round: 1,
  });
});

test('judgeRounds pools each side over its runs and judges with the interval, as comparison.json states', () => {
  const b = [run(steady(100)), run(steady(120))];
  const c = [run(steady(50)), run(steady(70))];
  const interval = measuredSpeedupInterval(
    b.map((r) => stepSamplesOf(r.summary)),
    c.map((r) => stepSamplesOf(r.summary)),
  ).interval!;
  const predicted = { stepTimeNs: 40e6, baselineStepTimeNs: 90e6 };
  const j = judgeRounds(predicted, { baselineRuns: b, changedRuns: c, interval });
  const baseline = pooledMeasured(b.map((r) => r.summary));
  const measured = pooledMeasured(c.map((r) => r.summary));
  assert.deepEqual(j, { baseline, measured, ...judge(predicted, baseline, measured, interval) });
  // The pooled medians: 110 ms against 60 ms.
  assert.equal(j.baseline.stepTimeNs, 110e6);
  assert.equal(j.measured.stepTimeNs, 60e6);
  assert.equal(j.measuredSpeedup, interval.estimate);
});

test("the baseline's drift: each baseline run against the step the prediction started from, in words on both surfaces", () => {
  const runs = [run(steady(110)), run(steady(120))];
  const pooled = pooledMeasured(runs.map((r) => r.summary)).stepTimeNs;
  const d = baselineDriftOf(
    100e6,
    runs.map((r) => r.summary),
    pooled,
  )!;
  assert.deepEqual(d.runStepNs, [110e6, 120e6]);
  assert.equal(d.predictedFromStepNs, 100e6);
  assert.ok(Math.abs(d.relative - (pooled / 100e6 - 1)) < 1e-12);
  assert.ok(d.relative > 0.1 && d.relative < 0.2, `pooled of 110 and 120 ms against 100: ${d.relative}`);
  const full = baselineDriftText(d, { fromRun: 'run-a' })!;
  assert.match(full, /ran 110 ms, 120 ms a step in its 2 runs/);
  assert.match(
    full,
    new RegExp(`${(d.relative * 100).toFixed(1)} % slower than the 100 ms of run-a, which the prediction`),
  );
  assert.match(full, /can differ that much on this machine/);
  assert.equal(
    baselineDriftText(d, { short: true }),
    `the baseline ran ${(d.relative * 100).toFixed(1)} % slower than in the run the prediction came from`,
  );
  // A baseline that ran as before: no word on the machine's spread, and faster reads as faster.
  const same = baselineDriftOf(101e6, [run(steady(100)).summary], 100e6)!;
  assert.equal(
    baselineDriftText(same, { short: true }),
    'the baseline ran as in the run the prediction came from (within 1.0 %)',
  );
  assert.match(
    baselineDriftText(same)!,
    /ran 100 ms a step: within 1\.0 % of the 101 ms the prediction started from; so the speed-ups/,
  );
  assert.match(
    baselineDriftText(baselineDriftOf(100e6, [run(steady(80)).summary], 80e6), { short: true })!,
    /20\.0 % faster/,
  );
  // No suggestion id, or runs whose analyses did not make it: no prediction re-made.
  assert.equal(d.repredictedSpeedup, undefined);
  assert.equal(
    baselineDriftOf(
      100e6,
      runs.map((r) => r.summary),
      pooled,
      'compression-fp16',
    )?.repredictedSpeedup,
    undefined,
  );
  assert.doesNotMatch(full, /Re-made/);
  // Each baseline run's own analysis predicts the suggestion again: their median, in the sentence.
  const withAnalysis = (r: RoundRun, baseMs: number, newMs: number) =>
    ({
      ...r.summary,
      analysis: {
        suggestions: [
          { id: 'other', predicted: { baselineStepTimeNs: 1e6, stepTimeNs: 1e5 } },
          { id: 'compression-fp16', predicted: { baselineStepTimeNs: baseMs * 1e6, stepTimeNs: newMs * 1e6 } },
        ],
      },
    }) as unknown as RunSummary;
  const again = baselineDriftOf(
    100e6,
    [withAnalysis(runs[0], 110, 100), withAnalysis(runs[1], 120, 80), run(steady(90)).summary],
    pooled,
    'compression-fp16',
  )!;
  assert.deepEqual(again.repredictedSpeedups, [1.1, 1.5]);
  assert.ok(Math.abs(again.repredictedSpeedup! - 1.3) < 1e-12);
  assert.match(
    baselineDriftText(again)!,
    /Re-made from those baseline runs \(the median of their own analyses\), the prediction reads 1\.30× faster$/,
  );
  // The extension's clause carries the same figure, after the drift.
  assert.equal(
    baselineDriftText(again, { short: true }),
    `the baseline ran ${(again.relative * 100).toFixed(1)} % slower than in the run the prediction came from; re-made from its runs beside the change, the prediction reads 1.30× faster`,
  );
  assert.doesNotMatch(baselineDriftText(d, { short: true })!, /re-made/);
  // Nothing to compare, or a comparison.json without the field (written before it existed): no sentence.
  assert.equal(baselineDriftOf(100e6, [], 90e6), undefined);
  assert.equal(baselineDriftOf(0, [run(steady(80)).summary], 80e6), undefined);
  assert.equal(baselineDriftText(undefined), undefined);
  assert.equal(baselineDriftText({ predictedFromStepNs: 1, pooledStepNs: 1, relative: 'x' }), undefined);
});
