/**
 * Exact strategies (bucketing, ZeRO-1/2/3) must train the same model as the DDP
 * baseline: same parameters after K steps up to floating-point summation order, on
 * every rank. ZeRO's memory counters and wire volume must follow the paper's formulas.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runStrategy, tinyConfig, maxAbsDiff, type StrategyRun } from './harness';

const K = 4;
const model = { kind: 'mlp' as const, batchSize: 16, inputDim: 32, hiddenDims: [64, 48], classes: 10 };
let baseline: StrategyRun;
const near = (got: number, want: number, rel: number, what: string): void =>
  assert.ok(Math.abs(got / want - 1) <= rel, `${what}: ${got.toFixed(4)}, expected ${want.toFixed(4)}`);

test('the DDP baseline trains, and every rank holds the same parameters', async () => {
  baseline = await runStrategy(tinyConfig({ strategy: 'ddp', steps: K, model }));
  assert.equal(baseline.params.length, 2);
  assert.equal(maxAbsDiff(baseline.params[0], baseline.params[1]), 0);
  assert.ok(baseline.loss[K - 1] < baseline.loss[0], `loss falls: ${baseline.loss.join(', ')}`);
});

for (const strategy of ['ddp-bucketed', 'zero1', 'zero2', 'zero3']) {
  test(`${strategy} ends with the DDP baseline's parameters after ${K} steps`, async () => {
    const opts =
      strategy === 'ddp-bucketed' || strategy === 'zero2' ? { bucketCapMb: 0.01, firstBucketCapMb: 0.002 } : undefined;
    const run = await runStrategy(
      tinyConfig({ strategy, steps: K, model, ...(opts ? { strategyOptions: opts } : {}) }),
    );
    for (let r = 0; r < 2; r++) {
      const d = maxAbsDiff(run.params[r], baseline.params[0]);
      // Host and GPU Adam round differently in the last bits; anything real is far larger.
      assert.ok(d < 2e-6, `rank ${r}: max |Δθ| = ${d}`);
    }
    const moved = maxAbsDiff(run.params[0], new Float32Array(run.params[0].length));
    assert.ok(moved > 0.1, 'parameters are not zero');
    for (let s = 0; s < K; s++)
      assert.ok(
        Math.abs(run.loss[s] - baseline.loss[s]) < 1e-4,
        `step ${s} loss ${run.loss[s]} vs ${baseline.loss[s]}`,
      );

    // The collectives the method promises, counted on rank 0's communication track.
    const model0 = run.outcome.trace.model;
    const commTrack = model0.tracks.find((t) => t.pid === 1 && t.stream === 'communication')!.id;
    const ops = model0.slices
      .filter((x) => x.track === commTrack && x.category === 'collective')
      .map((x) => String(x.args?.op));
    const count = (op: string): number => ops.filter((o) => o === op).length / K;
    if (strategy === 'ddp-bucketed') assert.equal(count('allReduce'), 3, 'one all-reduce per bucket (3 buckets)');
    if (strategy === 'zero1') assert.deepEqual([count('reduceScatter'), count('allGather')], [1, 1]);
    if (strategy === 'zero2') assert.deepEqual([count('reduceScatter'), count('allGather')], [3, 3]);
    if (strategy === 'zero3')
      assert.deepEqual(
        [count('reduceScatter'), count('allGather')],
        [3, 6],
        'per layer: gather for forward and for backward, reduce-scatter',
      );

    const ddpWire = baseline.wireBytesPerStep[K - 1];
    const wire = run.wireBytesPerStep[K - 1];
    const ratio = wire / ddpWire;
    // ZeRO paper: stage 1 and 2 move 2Ψ like DDP (reduce-scatter + all-gather), stage 3 3Ψ.
    const expected = strategy === 'zero3' ? 1.5 : 1;
    assert.ok(
      Math.abs(ratio - expected) < 0.01,
      `${strategy}: wire ${wire} B/step = ${ratio.toFixed(3)} × DDP, expected ${expected}`,
    );

    const ddpMem = baseline.memory[K - 1];
    const mem = run.memory[K - 1];
    const psi = ddpMem.parameters / 4; // f32 elements in the flat buffers
    const shard = (n: number): number => Math.ceil(n / 2) * 4;
    if (strategy.startsWith('zero')) {
      // Adam: m, v and (ZeRO-1/2, computing on full GPU parameters) an f32 master copy of
      // the shard: K = 12 bytes per parameter, split over N_d = 2; ZeRO-3's shard is the parameters.
      const k = strategy === 'zero3' ? 8 : 12;
      assert.ok(
        Math.abs(mem.optimizerState - (k * psi) / 2) <= k * 16,
        `optimizer state ${mem.optimizerState} vs ${k}Ψ/N = ${(k * psi) / 2}`,
      );
      assert.equal(ddpMem.optimizerState, 8 * psi, 'DDP holds m and v for every parameter');
      // Model states per rank against DDP's 16Ψ: ZeRO-1 4+4+12/N, ZeRO-2 4+(4+12)/N, ZeRO-3 16/N.
      const states = (x: typeof mem): number => x.parameters + x.gradients + x.optimizerState;
      const want = { zero1: 4 + 4 + 12 / 2, zero2: 4 + 16 / 2, zero3: 16 / 2 }[strategy]! / 16;
      near(states(mem) / states(ddpMem), want, 0.01, `${strategy} model states vs DDP`);
    }
    if (strategy === 'zero2' || strategy === 'zero3')
      assert.ok(Math.abs(mem.gradients - shard(psi)) <= 4 * 16 * 4, `gradients ${mem.gradients} vs 4Ψ/N`);
    if (strategy === 'zero3')
      assert.ok(Math.abs(mem.parameters - shard(psi)) <= 4 * 16 * 4, `parameters ${mem.parameters} vs 4Ψ/N`);
    else assert.equal(mem.parameters, ddpMem.parameters);
  });
}
