import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planBuckets, singleBucket, type Bucket } from '../../../runtime/strategies/buckets';
import { TopKDgcHook, dgcDensity } from '../../../runtime/strategies/topkDgc';
import { PowerSgdHook, powerSgdValues } from '../../../runtime/strategies/powerSgd';
import { LocalWorld } from './localGroup';

const MiB = 1024 * 1024;
const noSpans = (): void => undefined;

test('buckets follow reverse layer order, whole layers, a small first bucket, and cover every gradient once', () => {
  const sizes = [300_000, 100_000, 2_000_000, 500_000, 200_000, 50_000]; // f32 elements
  let off = 0;
  const layers = sizes.map((n, i) => {
    const l = { name: `l${i}`, paramOffset: off, paramCount: n };
    off += n;
    return l;
  });
  const buckets = planBuckets(layers, 4 * MiB, 1 * MiB);
  // Backward finishes l5 (0.2 MB), l4 (0.8 MB): the first bucket closes at 1 MiB.
  assert.deepEqual(
    buckets.map((b) => b.layers),
    [[5, 4], [3], [2], [1, 0]],
  );
  for (const b of buckets) {
    const lo = Math.min(...b.layers.map((i) => layers[i].paramOffset));
    assert.equal(b.offset, lo);
    assert.equal(
      b.length,
      b.layers.reduce((a, i) => a + layers[i].paramCount, 0),
      'a bucket is one contiguous range',
    );
  }
  assert.equal(
    buckets.reduce((a, b) => a + b.length, 0),
    off,
  );
  assert.equal(singleBucket(layers)[0].length, off);
});

test('DGC sparsity warm-up falls geometrically from 25% to the target', () => {
  assert.equal(dgcDensity(0, 0.001, 4), 0.25);
  assert.ok(Math.abs(dgcDensity(2, 0.001, 4) - Math.sqrt(0.25 * 0.001)) < 1e-12);
  assert.equal(dgcDensity(4, 0.001, 4), 0.001);
  assert.equal(dgcDensity(0, 0.5, 4), 0.5);
});

test('top-k DGC conserves gradient mass: what was averaged plus what waits in the accumulators equals the true sum', async () => {
  const n = 2;
  const len = 4000;
  const world = new LocalWorld(n);
  const hooks = world.ranks.map(
    (coll) => new TopKDgcHook({ coll, span: noSpans }, { density: 0.01, momentum: 0, warmupSteps: 2 }),
  );
  const bucket: Bucket = { index: 0, offset: 0, length: len, layers: [0] };
  const sent = new Float64Array(len);
  const truth = new Float64Array(len);
  let s = 7;
  const rnd = (): number => (s = (s * 1103515245 + 12345) >>> 0) / 4294967296 - 0.5;
  for (let step = 0; step < 6; step++) {
    const grads = world.ranks.map(() => Float32Array.from({ length: len }, rnd));
    for (let i = 0; i < len; i++) truth[i] += (grads[0][i] + grads[1][i]) / n;
    const before = world.ranks.map((r) => r.sentBytes);
    await Promise.all(hooks.map((h, r) => h.exchange(bucket, grads[r], step)));
    const k = Math.ceil(dgcDensity(step, 0.01, 2) * len);
    assert.equal(world.ranks[0].sentBytes - before[0], k * 8, `step ${step}: k (index, value) pairs`);
    assert.deepEqual(grads[0], grads[1], 'every rank gets the same sparse average');
    const nonzero = grads[0].filter((x) => x !== 0).length;
    assert.ok(nonzero <= n * k && nonzero >= k, `step ${step}: ${nonzero} entries updated`);
    for (let i = 0; i < len; i++) sent[i] += grads[0][i];
  }
  // Residuals live in the hooks' accumulators: read them through stateBytes' arrays.
  const acc = hooks.map(
    (h) => (h as unknown as { state: Map<number, { accumulated: Float32Array }> }).state.get(0)!.accumulated,
  );
  let worst = 0;
  for (let i = 0; i < len; i++) worst = Math.max(worst, Math.abs(sent[i] + (acc[0][i] + acc[1][i]) / n - truth[i]));
  assert.ok(worst < 1e-4, `mass conserved (${worst})`);
});

test('PowerSGD recovers a rank-1 gradient exactly at rank 1, and sends (n+m)·r values per matrix', async () => {
  const rows = 40;
  const cols = 30;
  const bias = 30;
  const len = rows * cols + bias;
  const world = new LocalWorld(2);
  const planner = () => [{ offset: 0, rows, cols }];
  const hooks = world.ranks.map((coll) => new PowerSgdHook({ coll, span: noSpans }, 1, planner, 0, 1));
  const bucket: Bucket = { index: 0, offset: 0, length: len, layers: [0] };
  const u = Float32Array.from({ length: rows }, (_, i) => Math.sin(i + 1));
  const v = Float32Array.from({ length: cols }, (_, j) => Math.cos(j * 0.7));
  const make = (scale: number): Float32Array => {
    const g = new Float32Array(len);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) g[i * cols + j] = scale * u[i] * v[j];
    for (let j = 0; j < bias; j++) g[rows * cols + j] = scale * j;
    return g;
  };
  const grads = [make(1), make(3)];
  const want = make(2);
  await Promise.all(hooks.map((h, r) => h.exchange(bucket, grads[r], 0)));
  for (const g of grads)
    for (let i = 0; i < len; i++) assert.ok(Math.abs(g[i] - want[i]) < 1e-4, `element ${i}: ${g[i]} vs ${want[i]}`);
  assert.equal(world.ranks[0].sentBytes, powerSgdValues(len, [{ offset: 0, rows, cols }], 1) * 4);
  assert.equal(powerSgdValues(len, [{ offset: 0, rows, cols }], 1), rows + cols + bias);
});
