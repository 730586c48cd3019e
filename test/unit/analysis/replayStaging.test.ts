// Staging copies and codecs in the replay: copies priced as latency + bytes / speed when a
// change moves other bytes, codec speeds from the run's host probe, and the per-component
// breakdown every prediction carries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prepareReplay, whatIfOn } from '../../../analysis/replay/whatIf';
import { COMPRESSORS } from '../../../analysis/compressors';
import { cloneGraph, compressAsExchange, copyNs, rebucket } from '../../../analysis/replay/transforms';
import { runInfoOf } from '../../../analysis/runInfo';
import { fitLatencyAndSpeed } from '../../../trace/stats';
import { syntheticRun } from '../../helpers/syntheticRun';
import { TEST_HOST_PROBE } from '../../helpers/hostProbe';

const MiB = 1024 * 1024;
const PROBE = TEST_HOST_PROBE;

test('rebucketing stages each bucket as latency + bytes / speed, scaled by measured / modelled copy time', () => {
  const grad = 4 * MiB;
  const ctx = prepareReplay(
    syntheticRun({ ranks: 2, steps: 4, buckets: 1, gradBytes: grad, stagingNsPerByte: 0.05, hostProbe: PROBE }),
  );
  assert.ok(ctx.staging, 'a staging model');
  assert.match(ctx.staging.source, /host probe/);
  const measured = ctx.graph.collectives[0].triggers.get(0)!;
  assert.equal(measured.stagedBytes, grad);
  assert.ok(Math.abs((measured.stagedNs ?? 0) - 0.05 * grad) < 1_000, `measured copy ${measured.stagedNs} ns`);

  const g = cloneGraph(ctx.graph);
  rebucket(g, ctx.link, MiB, true, MiB, 'allReduce', ctx.staging);
  const buckets = g.collectives.filter((c) => c.gradient);
  assert.equal(buckets.length, 4);
  const scale = (0.05 * grad) / copyNs(PROBE.d2h, grad);
  for (const b of buckets) {
    for (const t of b.triggers.values()) {
      // The fixed latency does not shrink with the bytes: a quarter of the bytes costs more than a quarter of the copy.
      const want = scale * copyNs(PROBE.d2h, MiB);
      assert.ok(Math.abs(t.delayNs - want) < 1_000, `bucket delay ${t.delayNs} ns, want ${want}`);
      assert.ok(t.delayNs > (0.05 * grad) / 4 + 10_000 && t.delayNs < 0.05 * grad);
      assert.equal(t.stagedBytes, MiB);
    }
  }
  // Bigger buckets cost more to stage than smaller ones.
  const g2 = cloneGraph(ctx.graph);
  rebucket(g2, ctx.link, 2 * MiB, true, 2 * MiB, 'allReduce', ctx.staging);
  assert.ok(g2.collectives[0].triggers.get(0)!.delayNs > buckets[0].triggers.get(0)!.delayNs);
});

test('one compressed exchange of the whole gradient stages all of it before and copies all of it back after', () => {
  const grad = 8 * MiB;
  // Measured: two chunks of 4 MiB, each staged before its all-reduce and copied back after.
  const ctx = prepareReplay(
    syntheticRun({
      ranks: 2,
      steps: 4,
      buckets: 2,
      gradBytes: grad,
      stagingNsPerByte: 0.05,
      h2dNsPerByte: 0.02,
      hostProbe: PROBE,
    }),
  );
  const first = ctx.graph.collectives[0].triggers.get(0)!;
  assert.equal(first.stagedBytes, grad / 2);
  const waiter = [...ctx.graph.lanes.get(0)!].find((s) => s.waitsOn.length > 0)!;
  assert.equal(waiter.postStagedBytes, grad / 2, "the optimizer waited for the last chunk's copy back");
  const postBefore = waiter.postDelayNs;

  const g = cloneGraph(ctx.graph);
  assert.ok(compressAsExchange(g, ctx.link, COMPRESSORS.bf16.exchange(2), () => 0, false, ctx.staging));
  const ex = g.collectives.filter((c) => c.gradient)[0].triggers.get(0)!;
  const want = ((first.stagedNs ?? 0) * copyNs(PROBE.d2h, grad)) / copyNs(PROBE.d2h, grad / 2);
  assert.ok(Math.abs((ex.stagedNs ?? 0) - want) < 1_000, `staged ${ex.stagedNs} ns, want ${want}`);
  assert.ok(Math.abs(ex.delayNs - (first.delayNs - (first.stagedNs ?? 0) + want)) < 1_000);
  assert.equal(ex.stagedBytes, grad);
  const after = [...g.lanes.get(0)!].find((s) => s.waitsOn.length > 0)!;
  assert.equal(after.postStagedBytes, grad);
  assert.ok(
    after.postDelayNs > postBefore * 1.5,
    `copy back ${after.postDelayNs} ns vs ${postBefore} ns measured for half the bytes`,
  );

  // Without a staging model the measured delay is kept (nothing says what a copy costs).
  const kept = cloneGraph(ctx.graph);
  compressAsExchange(kept, ctx.link, COMPRESSORS.bf16.exchange(2), () => 0, false);
  assert.equal(kept.collectives.filter((c) => c.gradient)[0].triggers.get(0)!.delayNs, first.delayNs);
});

test('a trace without a host probe fits its staging model to its own copies; one without copies has none', () => {
  const withCopies = prepareReplay(
    syntheticRun({ ranks: 2, steps: 4, buckets: 2, gradBytes: 4 * MiB, stagingNsPerByte: 0.05 }),
  );
  assert.ok(withCopies.staging);
  assert.match(withCopies.staging.source, /fit to the trace's \d+ staging copies/);
  assert.ok(Math.abs(withCopies.staging.d2h.bytesPerNs - 20) < 0.5, `fitted ${withCopies.staging.d2h.bytesPerNs} GB/s`);
  assert.equal(prepareReplay(syntheticRun({ ranks: 2, steps: 4 })).staging, undefined);
});

test('codec cost comes from the host probe when the trace has it, else from the constant, and the notes say which', () => {
  const grad = 4 * MiB;
  const probed = prepareReplay(syntheticRun({ ranks: 2, steps: 4, gradBytes: grad, hostProbe: PROBE, hostCores: 4 }));
  assert.equal(runInfoOf(probed.model).hostProbe?.codecBytesPerNs.fp16, 0.5);
  const r = whatIfOn(probed, { compression: { method: 'fp16' } });
  assert.ok(
    r.notes.some((n) => /fp16 encode \+ decode measured by the host probe.*0\.500 GB\/s per core/.test(n)),
    r.notes.join('\n'),
  );
  // One exchange of the whole gradient: encode + decode of 4 MiB at 0.5 GB/s on a core of its own (4 cores, 2 ranks).
  assert.ok(
    Math.abs(r.predicted.components.codecNs.predictedNs - grad / 0.5) < 1,
    `codec ${r.predicted.components.codecNs.predictedNs} ns`,
  );

  const plain = prepareReplay(syntheticRun({ ranks: 2, steps: 4, gradBytes: grad, hostCores: 4 }));
  const c = whatIfOn(plain, { compression: { method: 'fp16' } });
  assert.ok(
    c.notes.some((n) => /CommLens' constant 0\.082 GB\/s per core .*no host probe/.test(n)),
    c.notes.join('\n'),
  );
  assert.ok(Math.abs(c.predicted.components.codecNs.predictedNs - grad / COMPRESSORS.fp16.encodeGBpsCpu) < 1);
  // A probe that failed leaves `{ error }`: not read as figures.
  assert.equal(runInfoOf(syntheticRun({ hostProbe: { error: 'no adapter' } })).hostProbe, undefined);
});

test('every prediction carries its components, replayed without and with the change', () => {
  const ctx = prepareReplay(
    syntheticRun({
      ranks: 2,
      steps: 4,
      buckets: 2,
      gradBytes: 8 * MiB,
      stagingNsPerByte: 0.05,
      h2dNsPerByte: 0.02,
      hostProbe: PROBE,
    }),
  );
  const r = whatIfOn(ctx, { compression: { method: 'int8-ef' } });
  const c = r.predicted.components;
  assert.deepEqual(Object.keys(c).sort(), [
    'codecNs',
    'computeNs',
    'exposedCommNs',
    'hostNs',
    'stagingNs',
    'waitNs',
    'wireNs',
  ]);
  for (const v of Object.values(c))
    assert.ok(
      Number.isFinite(v.baselineNs) && Number.isFinite(v.predictedNs) && v.baselineNs >= 0 && v.predictedNs >= 0,
    );
  assert.equal(c.codecNs.baselineNs, 0);
  assert.ok(c.codecNs.predictedNs > 0);
  assert.ok(c.wireNs.predictedNs < c.wireNs.baselineNs, 'int8 sends a quarter of the bytes');
  assert.ok(Math.abs(c.computeNs.predictedNs - c.computeNs.baselineNs) < 1, 'compute is unchanged');
  // The baseline's staging: both chunks' copies there and the last one's copy back.
  assert.ok(
    Math.abs(c.stagingNs.baselineNs - (0.05 * 4 * MiB + 0.02 * 4 * MiB)) < 2_000,
    `staging ${c.stagingNs.baselineNs}`,
  );
  // Carried into the advisor's suggestions.
  const bucketed = whatIfOn(ctx, { bucketing: { bucketCapMb: 1 } });
  assert.ok(bucketed.predicted.components.stagingNs.predictedNs > 0);
});

test('fitLatencyAndSpeed recovers latency + bytes / speed, and falls back sensibly on one size or noise', () => {
  const exact = fitLatencyAndSpeed([1024, 65536, 1 << 20].map((b) => ({ bytes: b, ns: 3000 + b / 2.5 })));
  assert.ok(Math.abs(exact.latencyNs - 3000) < 1e-6 && Math.abs(exact.bytesPerNs - 2.5) < 1e-9);
  const one = fitLatencyAndSpeed([
    { bytes: 1000, ns: 500 },
    { bytes: 1000, ns: 500 },
  ]);
  assert.ok(one.latencyNs >= 0 && Number.isFinite(one.bytesPerNs) && one.bytesPerNs > 0);
  // Larger copies measured faster than small ones (noise): no negative latency, a positive speed.
  const noisy = fitLatencyAndSpeed([
    { bytes: 1000, ns: 5000 },
    { bytes: 2000, ns: 100 },
  ]);
  assert.ok(noisy.latencyNs >= 0 && noisy.bytesPerNs > 0);
});

test('the wait component is the skew between participants, not a busy communication lane', () => {
  // Rank 1 is 20 µs slower per kernel: rank 0 waits 12 kernels × 20 µs at the all-reduce, rank 1 not at all.
  const skewed = whatIfOn(
    prepareReplay(syntheticRun({ ranks: 2, steps: 4, buckets: 1, slowRank: 1, slowExtraNs: 20_000 })),
    { worldSize: 2 },
  );
  assert.ok(
    Math.abs(skewed.predicted.components.waitNs.baselineNs - (12 * 20_000) / 2) < 1_000,
    `wait ${skewed.predicted.components.waitNs.baselineNs}`,
  );
  // Two chunks back to back on one lane, no skew: the second queues behind the first, which is not waiting for anyone.
  const queued = whatIfOn(prepareReplay(syntheticRun({ ranks: 2, steps: 4, buckets: 2 })), { worldSize: 2 });
  assert.ok(
    queued.predicted.components.waitNs.baselineNs < 1_000,
    `wait ${queued.predicted.components.waitNs.baselineNs}`,
  );
});

test("rebucketing with the layers' sizes cuts whole layers as the runtime plans them, not the caps' bytes", () => {
  const ctx = prepareReplay(syntheticRun({ ranks: 2, steps: 4, buckets: 1, gradBytes: 5 * MiB + 40 * 1024 }));
  const layers = [MiB, 4 * MiB, 40 * 1024]; // forward order; backward fills the last first
  const g = cloneGraph(ctx.graph);
  rebucket(g, ctx.link, 5 * MiB, true, MiB, 'allReduce', undefined, layers);
  // 40 KB alone (the next layer would pass the 1 MiB first cap), then 4 MiB + 1 MiB reach the 5 MiB cap.
  assert.deepEqual(
    g.collectives.filter((c) => c.gradient).map((c) => c.bytes),
    [40 * 1024, 5 * MiB],
  );
  const bytesOnly = cloneGraph(ctx.graph);
  rebucket(bytesOnly, ctx.link, 5 * MiB, true, MiB, 'allReduce');
  assert.deepEqual(
    bytesOnly.collectives.filter((c) => c.gradient).map((c) => c.bytes),
    [MiB, 4 * MiB + 40 * 1024],
  );
});

test("the codec runs at the host probe's measured share of a core when it measured the run's ranks at once, else at the cores over the ranks", () => {
  const grad = 4 * MiB;
  // 2 ranks on 2 cores: a core each by the count; measured, 0.3 of one each (two threads on hyperthreads of one core).
  const measured = prepareReplay(
    syntheticRun({
      ranks: 2,
      steps: 4,
      gradBytes: grad,
      hostProbe: { ...PROBE, hostShare: { threads: 2, aloneNs: 30e6, sharedNs: 100e6, share: 0.3 } },
      hostCores: 2,
    }),
  );
  assert.deepEqual(runInfoOf(measured.model).hostProbe?.hostShare, { threads: 2, share: 0.3 });
  const r = whatIfOn(measured, { compression: { method: 'fp16' } });
  assert.ok(
    Math.abs(r.predicted.components.codecNs.predictedNs - grad / (0.5 * 0.3)) < 1,
    `${r.predicted.components.codecNs.predictedNs} ns`,
  );
  assert.ok(
    r.notes.some((n) =>
      /0\.500 GB\/s per core, at 0\.30 core per rank \(measured by the host probe with 2 threads at once\)/.test(n),
    ),
    r.notes.join('\n'),
  );
  // Measured for another number of ranks (or not at all): the cores over the ranks.
  for (const hostProbe of [
    { ...PROBE, hostShare: { threads: 4, aloneNs: 30e6, sharedNs: 100e6, share: 0.3 } },
    PROBE,
  ]) {
    const other = prepareReplay(syntheticRun({ ranks: 2, steps: 4, gradBytes: grad, hostProbe, hostCores: 2 }));
    const o = whatIfOn(other, { compression: { method: 'fp16' } });
    assert.ok(Math.abs(o.predicted.components.codecNs.predictedNs - grad / 0.5) < 1);
    assert.ok(
      o.notes.some((n) => /at 1\.00 core per rank \(2 cores over 2 ranks\)/.test(n)),
      o.notes.join('\n'),
    );
  }
});
