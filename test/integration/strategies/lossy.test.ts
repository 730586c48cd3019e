/**
 * Lossy strategies (compression hooks, 1-bit Adam, local updates) on the synthetic task:
 * after K steps the loss must be within a stated margin of the DDP baseline's, and the
 * bytes on the wire (from the collectives' spans) must fall by the factor the method
 * promises.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runStrategy, tinyConfig, type StrategyRun } from './harness';
import { powerSgdValues } from '../../../runtime/strategies/powerSgd';
import type { RunConfig } from '../../../runtime/config';

const K = 12;
let ddp: StrategyRun;
/** Mean loss over the last three steps (the task's loss is noisy step to step). */
const finalLoss = (r: StrategyRun): number => r.loss.slice(-3).reduce((a, b) => a + b, 0) / 3;
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

test('baseline', async () => {
  ddp = await runStrategy(tinyConfig({ strategy: 'ddp', steps: K }), false);
  assert.ok(finalLoss(ddp) < 0.1, `DDP learns the task: ${ddp.loss.join(', ')}`);
});

interface Case {
  strategy: string;
  options?: RunConfig['strategyOptions'];
  /** Allowed final-loss excess over DDP. */
  margin: number;
  /** Checks the wire volume against DDP's; returns a description for the message. */
  wire(run: StrategyRun, ddpStep: number): void;
}

const near = (got: number, want: number, rel: number, what: string): void =>
  assert.ok(
    Math.abs(got / want - 1) <= rel,
    `${what}: ${got.toFixed(3)}, expected ${want.toFixed(3)} (±${rel * 100}%)`,
  );

const CASES: Case[] = [
  {
    strategy: 'fp16',
    margin: 0.01,
    wire: (r, d) => near(d / r.wireBytesPerStep[K - 1], 2, 0.001, 'fp16 volume reduction'),
  },
  {
    strategy: 'bf16',
    margin: 0.01,
    wire: (r, d) => near(d / r.wireBytesPerStep[K - 1], 2, 0.01, 'bf16 volume reduction'),
  },
  // int8 values plus one f32 scale per 256 values: 4 / (1 + 4/256).
  {
    strategy: 'int8-ef',
    margin: 0.01,
    wire: (r, d) => near(d / r.wireBytesPerStep[K - 1], 4 / (1 + 4 / 256), 0.02, 'int8 volume reduction'),
  },
  {
    strategy: 'topk-dgc',
    options: { density: 0.05, dgcWarmupSteps: 4 },
    margin: 0.1,
    // After warm-up: k (index, value) pairs per rank, so ~1/(2d) at 2 ranks.
    wire: (r, d) => {
      near(d / r.wireBytesPerStep[K - 1], 1 / (2 * 0.05), 0.05, 'top-k volume reduction at density 0.05');
      assert.ok(r.wireBytesPerStep[0] > r.wireBytesPerStep[4], 'sparsity warm-up sends more at first');
    },
  },
  {
    strategy: 'powersgd',
    options: { powerSgdRank: 2, powerSgdStartStep: 2 },
    margin: 0.1,
    wire: (r, d) => {
      // Tiny MLP 64-128-10: matrices 64×128 and 128×10 go as (n+m)·r factors, the rest as is.
      const psi = d / 4;
      const values = powerSgdValues(
        psi,
        [
          { offset: 0, rows: 64, cols: 128 },
          { offset: 0, rows: 128, cols: 10 },
        ],
        2,
      );
      assert.equal(
        r.wireBytesPerStep[K - 1],
        values * 4,
        'PowerSGD bytes = 4 × ((n+m)·r per matrix + uncompressed rest)',
      );
      assert.equal(r.wireBytesPerStep[0], d, 'plain all-reduce before powerSgdStartStep');
    },
  },
  {
    strategy: 'onebit-adam',
    options: { onebitWarmupSteps: 3 },
    margin: 0.1,
    wire: (r, d) => {
      assert.equal(r.wireBytesPerStep[0], d, 'full precision during warm-up');
      const ratio = d / r.wireBytesPerStep[K - 1];
      assert.ok(ratio > 28 && ratio <= 32, `1-bit phase: ${ratio.toFixed(1)}× less than f32 (32× less the scales)`);
    },
  },
  {
    strategy: 'localsgd',
    options: { localSteps: 4 },
    margin: 0.1,
    wire: (r, d) => near(sum(r.wireBytesPerStep), (K * d) / 4, 0.001, 'local SGD total volume (1/H)'),
  },
  {
    strategy: 'diloco',
    options: { localSteps: 4 },
    margin: 0.1,
    wire: (r, d) => near(sum(r.wireBytesPerStep), (K * d) / 4, 0.001, 'DiLoCo total volume (1/H)'),
  },
  {
    strategy: 'streaming-diloco',
    options: { localSteps: 4, fragments: 2, overlapSteps: 1 },
    margin: 0.1,
    wire: (r, d) => {
      // Fragments sync at staggered steps, so no step carries the whole model.
      assert.ok(Math.max(...r.wireBytesPerStep) < d, `peak per step ${Math.max(...r.wireBytesPerStep)} < ${d}`);
      assert.ok(sum(r.wireBytesPerStep) <= (K * d) / 4, 'at most 1/H of DDP in total');
    },
  },
];

for (const c of CASES) {
  test(`${c.strategy}: loss within ${c.margin} of DDP after ${K} steps, and the promised volume`, async () => {
    const run = await runStrategy(
      tinyConfig({ strategy: c.strategy, steps: K, ...(c.options ? { strategyOptions: c.options } : {}) }),
      false,
    );
    const excess = finalLoss(run) - finalLoss(ddp);
    assert.ok(
      excess <= c.margin,
      `${c.strategy}: final loss ${finalLoss(run).toFixed(4)} vs DDP ${finalLoss(ddp).toFixed(4)}; curve ${run.loss.map((x) => x.toFixed(3)).join(' ')}`,
    );
    c.wire(run, ddp.wireBytesPerStep[K - 1]);
  });
}
