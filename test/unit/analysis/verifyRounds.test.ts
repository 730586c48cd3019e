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
  judge,
  judgeRounds,
  measureInRounds,
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

test('rounds run the baseline, then the change, and stop once the interval is tight', async () => {
  const s = sides([run(steady(100)), run(steady(100))], [run(steady(50)), run(steady(50))]);
  const rounds: number[] = [];
  const m = await measureInRounds({
    maxRounds: 3,
    intervalTarget: 0.03,
    ...s,
    onRound: (r) => rounds.push(r),
  });
  assert.ok(!('failed' in m));
  // Identical steps: the first round's interval is a point, tight: one round.
  assert.deepEqual(s.log, ['baseline', 'change']);
  assert.deepEqual(rounds, [1]);
  assert.equal(m.rounds, 1);
  assert.ok(m.interval);
  assert.equal(m.interval.estimate, 2);
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
