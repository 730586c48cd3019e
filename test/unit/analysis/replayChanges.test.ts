// The replay's view of collectives on CommLens runs: completion time, staging triggers, and
// compression replayed as CommLens' own strategy sends it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRankViews, collectiveMetrics, prepareReplay } from '../../../analysis/index';
import { COMPRESSORS, compressionKeepsBuckets } from '../../../analysis/compressors';
import { cloneGraph, compressAsExchange } from '../../../analysis/replay/transforms';
import { syntheticRun } from '../../helpers/syntheticRun';

test('a collective costs from its last start to its last end; the transfer stays the shortest duration', () => {
  const m = syntheticRun({ ranks: 3, steps: 3, buckets: 1 });
  const views = buildRankViews(m);
  // Synthetic ranks all end together (as NCCL's do): completion equals transfer.
  for (const inst of collectiveMetrics(m, views).instances) assert.equal(inst.completionNs, inst.transferNs);
  // The rank that arrived first ends 40 µs early, as on an emulated link where its chunks went ahead.
  const first = collectiveMetrics(m, views).instances[0].participants.reduce((a, b) => (b.startNs < a.startNs ? b : a));
  m.slices[first.sliceIndex].durNs -= 40_000;
  const inst = collectiveMetrics(m, buildRankViews(m)).instances[0];
  const ends = inst.participants.map((p) => p.startNs + p.durNs);
  const starts = inst.participants.map((p) => p.startNs);
  assert.equal(inst.completionNs, Math.max(...ends) - Math.max(...starts));
  assert.equal(inst.transferNs, Math.min(...inst.participants.map((p) => p.durNs)));
  assert.ok(inst.completionNs >= inst.transferNs);
});

test('a staged collective is triggered by the compute before its copy had the data, not when the copy was requested', () => {
  const grad = 4 * 1024 * 1024;
  const m = syntheticRun({ ranks: 2, steps: 4, buckets: 1, gradBytes: grad, stagingNsPerByte: 0.05 });
  // As CommLens' DDP does: the copy is requested while backward is still queued (its span
  // starts 0.9 ms before backward ends) and has the data once backward and the copy ran.
  for (const s of m.slices)
    if (s.category === 'staging') {
      s.startNs -= 900_000;
      s.durNs += 900_000;
    }
  const ctx = prepareReplay(m);
  for (const r of ctx.graph.ranks) {
    const lane = ctx.graph.lanes.get(r)!;
    const t = ctx.graph.collectives[0].triggers.get(r)!;
    assert.equal(lane[t.afterSegment].kind, 'backward');
    // What is left between backward's end and the collective is the copy itself.
    assert.ok(Math.abs(t.delayNs - 0.05 * grad) < 1_000, `launch delay ${t.delayNs} ns`);
  }
});

test('compression of a CommLens run is replayed as the strategy sends it: one exchange of every gradient byte, or one per bucket', () => {
  const grad = 8 * 1024 * 1024;
  const ctx = prepareReplay(syntheticRun({ ranks: 2, steps: 3, buckets: 2, gradBytes: grad }));
  const waiters = (g: typeof ctx.graph) => [...g.lanes.values()].flat().filter((s) => s.waitsOn.length > 0);

  const one = cloneGraph(ctx.graph);
  assert.ok(compressAsExchange(one, ctx.link, COMPRESSORS.bf16.exchange(2), (b) => b / 0.13));
  const grads = one.collectives.filter((c) => c.gradient);
  assert.deepEqual(
    grads.map((c) => [c.op, c.bytes]),
    [
      ['allToAll', grad / 2],
      ['allGather', grad / 2],
    ],
  );
  assert.equal(grads[0].extraNs, grad / 0.13);
  assert.equal(grads[1].extraNs, undefined);
  // Whatever waited on the gradients (the optimizer) waits on the whole exchange.
  for (const s of waiters(one)) assert.deepEqual([...s.waitsOn].sort(), grads.map((c) => c.id).sort());

  const perBucket = cloneGraph(ctx.graph);
  assert.ok(compressAsExchange(perBucket, ctx.link, COMPRESSORS.fp16.exchange(2), () => 0, true));
  assert.deepEqual(
    perBucket.collectives.filter((c) => c.gradient).map((c) => [c.op, c.bytes]),
    [
      ['allReduce', grad / 4],
      ['allReduce', grad / 4],
    ],
  );

  // Without sizes nothing can be priced: the graph is left as it was.
  const unsized = cloneGraph(ctx.graph);
  unsized.collectives[0].bytes = undefined;
  assert.equal(
    compressAsExchange(unsized, ctx.link, COMPRESSORS.bf16.exchange(2), () => 0),
    false,
  );
  assert.equal(unsized.collectives.length, ctx.graph.collectives.length);
});

test('compression keeps the buckets of a ddp-bucketed run, except 1-bit Adam, a strategy of its own', () => {
  assert.equal(compressionKeepsBuckets('ddp-bucketed', 'bf16'), true);
  assert.equal(compressionKeepsBuckets('ddp-bucketed + fp16', 'fp16'), true);
  assert.equal(compressionKeepsBuckets('ddp-bucketed', 'onebit-adam'), false);
  assert.equal(compressionKeepsBuckets('ddp', 'bf16'), false);
  assert.equal(compressionKeepsBuckets(undefined, 'bf16'), false);
});
