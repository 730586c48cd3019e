import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PRESETS } from '../../../runtime/config';
import type { RunSummary } from '../../../runtime/summary';
import { judge, measuredOf, syncPeriodOf, verificationConfig } from '../../../analysis/verify';

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
    wireBytesPerStepPerRank: [10],
    loss: stepsMs.map(() => 1),
    analysis: exposedMs && {
      ranks: [0, 1].map(() => ({ steps: exposedMs.map((e, step) => ({ step, overlap: { exposedCommNs: e * 1e6 } })) })),
    },
  } as unknown as RunSummary;
}

test('a change that synchronises every H steps is verified over a whole period, and says so', () => {
  const base = { ...PRESETS['mlp-small'], steps: 12 };
  const long = verificationConfig(base, { strategy: 'diloco', strategyOptions: { localSteps: 16 } });
  assert.equal(long.config.steps, 18);
  assert.match(long.note ?? '', /running 18 steps instead of 12: the change synchronises every 16 steps/);
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
