// The codecs' host buffers are kept from one call to the next (runtime/strategies/scratch.ts):
// fresh buffers of a few MB cost a page fault per 4 KiB on every step. Kept buffers must give
// the same bits as fresh ones, call after call: the padding past the data zeroed again, the
// shard owner's sum started from zero, the error feedback unchanged, and each rank's received
// blocks in its own buffer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Int8Codec, topKIndices, type Codec } from '../../../runtime/strategies/codecs';
import { compressedAllReduce, newErrorFeedback } from '../../../runtime/strategies/compressedAllReduce';
import { shardLength } from '../../../runtime/strategies/collectives';
import { Bf16Hook } from '../../../runtime/strategies/hooks';
import { Scratch } from '../../../runtime/strategies/scratch';
import { LocalWorld } from './localGroup';

function rng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 4294967296 - 0.5;
  };
}

/** Each step's averaged data and error feedback on every rank, with kept or fresh buffers. */
async function steps(codec: Codec, kept: boolean, n: number, len: number, count: number) {
  const world = new LocalWorld(n);
  const efs = world.ranks.map(() => newErrorFeedback(len, n));
  const scratch = world.ranks.map(() => new Scratch());
  const r = rng(11);
  const out: { data: Float32Array[]; worker: Float32Array[]; server: Float32Array[] }[] = [];
  const padded: Float32Array[] = [];
  for (let s = 0; s < count; s++) {
    // Each step's gradients differ in scale, so a stale value left in a kept buffer shows.
    const inputs = world.ranks.map(() => Float32Array.from({ length: len }, () => r() * (s + 1)));
    await Promise.all(
      world.ranks.map((rank, i) =>
        compressedAllReduce(rank, inputs[i], codec, efs[i], undefined, kept ? scratch[i] : undefined),
      ),
    );
    out.push({
      data: inputs,
      worker: efs.map((e) => e.worker.slice()),
      server: efs.map((e) => e.server.slice()),
    });
    if (kept) {
      const p = scratch[0].f32('padded', shardLength(len, n) * n);
      if (s > 0) assert.equal(p, padded[0], 'the same buffer serves the next call');
      padded[0] = p;
    }
  }
  return { out, scratchBytes: scratch[0].bytes() };
}

{
  const codec = new Int8Codec(64);
  test('compressed all-reduce (int8, error feedback): kept buffers give the bits fresh ones give, step after step', async () => {
    const n = 3,
      len = 997; // not a multiple of 3: the last shard is padded
    const fresh = await steps(codec, false, n, len, 4);
    const kept = await steps(codec, true, n, len, 4);
    for (let s = 0; s < 4; s++)
      for (let i = 0; i < n; i++) {
        assert.deepEqual(kept.out[s].data[i], fresh.out[s].data[i], `step ${s} rank ${i}: the average`);
        assert.deepEqual(kept.out[s].worker[i], fresh.out[s].worker[i], `step ${s} rank ${i}: the worker's error`);
        assert.deepEqual(kept.out[s].server[i], fresh.out[s].server[i], `step ${s} rank ${i}: the owner's error`);
      }
    assert.ok(kept.scratchBytes >= shardLength(len, n) * n * 4, `the buffers are held (${kept.scratchBytes} bytes)`);
  });
}

test('bf16 hook: the averaged bucket is the same with its kept buffers as with fresh ones, step after step', async () => {
  const n = 4,
    len = 1001;
  const run = async (freshHookEachStep: boolean): Promise<Float32Array[][]> => {
    const world = new LocalWorld(n);
    const env = (i: number) => ({ coll: world.ranks[i], span: () => undefined });
    let hooks = world.ranks.map((_, i) => new Bf16Hook(env(i)));
    const r = rng(3);
    const bucket = { index: 0, offset: 0, length: len, layers: [0] };
    const res: Float32Array[][] = [];
    for (let s = 0; s < 3; s++) {
      if (freshHookEachStep) hooks = world.ranks.map((_, i) => new Bf16Hook(env(i)));
      const g = world.ranks.map(() => Float32Array.from({ length: len }, () => r() * 10 ** -s));
      await Promise.all(hooks.map((h, i) => h.exchange(bucket, g[i])));
      res.push(g);
    }
    return res;
  };
  const fresh = await run(true);
  const kept = await run(false);
  for (let s = 0; s < 3; s++)
    for (let i = 0; i < n; i++) assert.deepEqual(kept[s][i], fresh[s][i], `step ${s} rank ${i}`);
  // Every rank holds the same average (each decoded the same bytes).
  for (let i = 1; i < n; i++) assert.deepEqual(kept[2][i], kept[2][0]);
});

test('top-k selection with kept buffers picks what it picks with fresh ones, call after call', () => {
  const scratch = new Scratch();
  const r = rng(9);
  for (let call = 0; call < 5; call++) {
    const x = Float32Array.from({ length: 5000 }, () => r() * (call + 1));
    const k = 50 + call * 37;
    assert.deepEqual([...topKIndices(x, k, scratch)], [...topKIndices(x, k)], `call ${call}`);
  }
});

test('compressed all-reduce: a shorter bucket after a longer one of the same padded size sees zeros past its end', async () => {
  const n = 3;
  const codec = new Int8Codec(64);
  const world = new LocalWorld(n);
  const scratch = world.ranks.map(() => new Scratch());
  const freshWorld = new LocalWorld(n);
  const r = rng(5);
  // 998 and 997 values both pad to 3 shards of 333; the longer call leaves its last value behind.
  for (const len of [998, 997]) {
    const inputs = world.ranks.map(() => Float32Array.from({ length: len }, () => r() + (len === 998 ? 100 : 0)));
    const copies = inputs.map((x) => x.slice());
    await Promise.all(
      world.ranks.map((rank, i) => compressedAllReduce(rank, inputs[i], codec, undefined, undefined, scratch[i])),
    );
    await Promise.all(freshWorld.ranks.map((rank, i) => compressedAllReduce(rank, copies[i], codec)));
    for (let i = 0; i < n; i++) assert.deepEqual(inputs[i], copies[i], `${len} values, rank ${i}`);
  }
});
