// summary.json leaves warm-up out of its statistics by the shared rule (trace/warmup.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildSummary } from '../../../runtime/summary';
import { PRESETS, type RunConfig } from '../../../runtime/config';
import type { RunOutcome } from '../../../runtime/coordinator';

const mem = { parameters: 100, gradients: 100, optimizerState: 200, activations: 50, communication: 10 };

function outcome(stepTimesMs: number[], bytes: number[]): Omit<RunOutcome, 'trace'> {
  return {
    runDir: '/tmp/x',
    tracePath: '/tmp/x/trace.pftrace',
    ready: [],
    done: [],
    wallNs: 1,
    steps: stepTimesMs.map((ms, step) => ({
      step,
      meanLoss: 1 / (step + 1),
      stepTimeNs: ms * 1e6,
      perRank: [0, 1].map((rank) => ({
        type: 'step' as const,
        rank,
        step,
        loss: 1,
        startNs: 0,
        endNs: ms * 1e6,
        spans: [],
        bytes: bytes[step],
        // On the wire: S × a bus factor (1.5 for a 4-rank all-reduce), a figure of its own.
        wireBytes: 1.5 * bytes[step],
        memory: mem,
      })),
    })),
  };
}

test('summary.json: warm-up steps recorded and left out of the step time and bytes per step', () => {
  const config = { ...PRESETS['tiny'], worldSize: 2, steps: 8 } as RunConfig;
  // Step 0 compiles pipelines (12 s), step 1 still fills pools (900 ms), then ~15 ms.
  const s = buildSummary(
    'r',
    config,
    outcome([12_000, 900, 15, 14, 16, 15, 15, 14], [9e6, 9e6, 100, 100, 100, 100, 100, 100]),
  );
  assert.deepEqual(s.warmupSteps, [0, 1]);
  assert.equal(s.medianStepTimeNs, 15e6);
  assert.equal(s.steadyStepTimeNs, 15e6);
  assert.match(s.steadyStepTimeBasis, /median of 6 steady-state steps/);
  assert.deepEqual(s.bytesPerStepPerRank, [100, 100], 'bytes per step over the steady-state steps');
  assert.deepEqual(s.wireBytesPerStepPerRank, [150, 150], 'the wire bytes kept apart');
  assert.equal(s.stepTimeNs.length, 8, 'every step is still listed');
});

test("summary.json: a DiLoCo run's step time is the mean over whole periods of steady-state steps", () => {
  const config = {
    ...PRESETS['tiny'],
    worldSize: 2,
    steps: 9,
    strategy: 'diloco',
    strategyOptions: { localSteps: 4 },
  } as RunConfig;
  const s = buildSummary('r', config, outcome([9_000, 10, 10, 10, 50, 10, 10, 10, 50], Array(9).fill(100)));
  assert.deepEqual(s.warmupSteps, [0]);
  assert.equal(s.medianStepTimeNs, 10e6);
  assert.equal(s.steadyStepTimeNs, 20e6);
});
