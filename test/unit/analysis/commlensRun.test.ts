// Metrics, replay and advisor on hand-built CommLens-shaped runs whose numbers are known
// by construction (test/helpers/syntheticRun.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  analyze,
  collectiveCostNs,
  markdownReport,
  prepareReplay,
  topologyCostNs,
  whatIfOn,
} from '../../../analysis/index';
import { syntheticRun } from '../../helpers/syntheticRun';

const near = (a: number, b: number, rel = 1e-9) => Math.abs(a - b) <= rel * Math.max(1, Math.abs(b));

test('temporal metrics of a non-overlapped DDP run', () => {
  const m = syntheticRun({ ranks: 2, steps: 3, kernels: 4, fwdNs: 100_000, optimizerNs: 50_000 });
  const a = analyze(m);
  assert.equal(a.ranks.length, 2);
  const r0 = a.ranks[0];
  assert.deepEqual(r0.stepsAnalysed, [0, 1]);
  // Per step: 12 matmuls × 100 µs + a 50 µs optimizer kernel of compute.
  assert.equal(r0.steps[0].temporal.computeNs, 1_250_000);
  assert.equal(r0.temporal.computeNs, 2 * 1_250_000);
  // Nothing overlaps in plain DDP: all communication is exposed.
  assert.equal(r0.overlap.overlapNs, 0);
  assert.equal(r0.overlap.exposedCommNs, r0.overlap.commNs);
  assert.equal(analyze(m, { includeLastStep: true }).ranks[0].temporal.computeNs, 3 * 1_250_000);
});

test('collectives: transfer, algbw and busbw by the nccl-tests definitions', () => {
  const R = 4,
    bytes = 8 * 1024 * 1024,
    alpha = 10_000,
    bw = 2;
  const a = analyze(syntheticRun({ ranks: R, steps: 3, gradBytes: bytes, buckets: 1, bytesPerNs: bw, alphaNs: alpha }));
  const c = a.collectives!;
  const transfer = 2 * (R - 1) * alpha + (2 * ((R - 1) / R) * bytes) / bw;
  assert.equal(c.instances.length, 2);
  for (const inst of c.instances) {
    assert.equal(inst.participants.length, R);
    assert.ok(near(inst.transferNs, transfer, 1e-12));
    assert.ok(near(inst.algbwGBps!, bytes / transfer));
    assert.ok(near(inst.busbwGBps!, ((bytes / transfer) * 2 * (R - 1)) / R));
  }
  const ar = c.perOp.find((o) => o.op === 'allReduce')!;
  assert.equal(ar.count, 2);
  assert.ok(ar.busbwOfPeakPct! > 80 && ar.busbwOfPeakPct! < 100, `busbw ${ar.busbwOfPeakPct}% of the 2 GB/s link`);
});

test('a slow rank is flagged as a straggler, with the waits it causes as evidence, and the critical path runs through it', () => {
  const m = syntheticRun({
    ranks: 4,
    steps: 4,
    fwdNs: 100_000,
    slowRank: 2,
    slowExtraNs: 60_000,
    gradBytes: 1024 * 1024,
  });
  const a = analyze(m);
  const st = a.stragglers!;
  assert.deepEqual(st.stragglers, [2]);
  const s2 = st.ranks.find((r) => r.rank === 2)!;
  assert.equal(s2.lastArrivals, s2.collectives);
  // Each other rank waits 12 kernels × 60 µs per collective.
  assert.ok(near(s2.meanLatenessNs, 12 * 60_000, 1e-9));
  // …and the cause is its compute before each all-reduce: 12 kernels × 60 µs more than the others'.
  assert.ok(near(s2.meanComputeExcessNs, 12 * 60_000, 1e-9));
  assert.ok(s2.evidenceSlices.length > 0);
  assert.ok(s2.evidenceSlices.every((i) => m.tracks[m.slices[i].track].pid !== 2));
  // A diagnosis: listed apart from the config changes.
  assert.ok(a.diagnoses.some((x) => x.id === 'straggler-rank-2' && !x.verifiable));
  assert.ok(!a.suggestions.some((x) => x.id.startsWith('straggler')));
  const cp = a.criticalPath!;
  assert.ok(cp.rankSwitches >= 1);
  const computeOnPath = cp.segments.filter((x) => x.kind === 'computation');
  assert.ok(
    computeOnPath.length > 0 && computeOnPath.slice(0, -1).every((x) => x.rank === 2),
    "the compute before the all-reduce is the slow rank's",
  );
});

test('FLOP/s and MFU from matmul kernels; memory per rank by kind', () => {
  const a = analyze(syntheticRun({ ranks: 2, steps: 3, kernels: 4, memory: true, gradBytes: 4 * 1024 * 1024 }));
  const f = a.flops[0];
  assert.equal(f.source, 'kernels');
  assert.equal(f.flops, 2 * 12 * 2 * 64 * 128 * 32);
  assert.ok(near(f.mfu!, f.achievedFlops / 1e10));
  const mem = a.memory[0];
  assert.deepEqual(
    mem.kinds.map((k) => k.kind),
    ['memory: parameters', 'memory: gradients', 'memory: optimizer state', 'memory: activations'],
  );
  const h = (4 * 1024 * 1024) / 4 / 64 - 1;
  assert.equal(mem.peakBytes, 16 * (64 * h + h + h + 1) + 1024 * 1024);
});

test('what-if: the replay reproduces the measured step, and rebucketing predicts the overlapped run it would become', () => {
  const shape = { ranks: 2, steps: 3, buckets: 4, gradBytes: 8 * 1024 * 1024, bytesPerNs: 1 };
  const ctx = prepareReplay(syntheticRun(shape));
  assert.ok(near(ctx.baseReplay.stepTimeNs, ctx.graph.measuredStepNs, 1e-9));
  const overlapped = prepareReplay(syntheticRun({ ...shape, overlap: true })).graph.measuredStepNs;
  const r = whatIfOn(ctx, { bucketing: { bucketCapMb: 2, firstBucketCapMb: 2, overlap: true } });
  assert.ok(
    Math.abs(r.predicted.stepTimeNs - overlapped) / overlapped < 0.01,
    `predicted ${r.predicted.stepTimeNs} vs measured overlapped ${overlapped}`,
  );
  assert.ok(r.predicted.exposedCommNs < r.baseline.exposedCommNs);
});

test('what-if: with D2H staging before each all-reduce, rebucketing still predicts the overlapped run', () => {
  const shape = { ranks: 2, steps: 3, buckets: 4, gradBytes: 8 * 1024 * 1024, bytesPerNs: 1, stagingNsPerByte: 0.05 };
  const ctx = prepareReplay(syntheticRun(shape));
  const overlapped = prepareReplay(syntheticRun({ ...shape, overlap: true }));
  assert.ok(
    near(overlapped.baseReplay.stepTimeNs, overlapped.graph.measuredStepNs, 1e-9),
    'the staged, overlapped run replays exactly',
  );
  const r = whatIfOn(ctx, { bucketing: { bucketCapMb: 2, firstBucketCapMb: 2, overlap: true } });
  const want = overlapped.graph.measuredStepNs;
  assert.ok(
    Math.abs(r.predicted.stepTimeNs - want) / want < 0.01,
    `predicted ${r.predicted.stepTimeNs} vs measured overlapped ${want}`,
  );
});

test('what-if: compression, ZeRO, local updates, world size and link change move the right numbers', () => {
  const ctx = prepareReplay(
    syntheticRun({ ranks: 2, steps: 3, buckets: 2, gradBytes: 8 * 1024 * 1024, bytesPerNs: 1, memory: true }),
  );
  const base = whatIfOn(ctx, {});
  assert.equal(base.predicted.stepTimeNs, base.baseline.stepTimeNs);
  // With a fast encoder fp16 halves the bytes and wins; with the runtime's measured host
  // encoder (≈ 0.05 GB/s) the encode costs more than the transfer saves.
  const fp16 = whatIfOn(ctx, { compression: { method: 'fp16', encodeGBps: 100 } });
  assert.equal(fp16.predicted.bytesPerStep, base.baseline.bytesPerStep / 2);
  assert.ok(fp16.predicted.stepTimeNs < base.baseline.stepTimeNs);
  const slowFp16 = whatIfOn(ctx, { compression: { method: 'fp16' } });
  assert.ok(slowFp16.predicted.stepTimeNs > base.baseline.stepTimeNs);
  // Ψ from the config's MLP 64-h-1 (h = 2^21/64 − 1): weights and biases.
  const h = (2 * 1024 * 1024) / 64 - 1;
  const psi = 64 * h + h + h * 1 + 1;
  assert.equal(ctx.paramCount, psi);
  const z2 = whatIfOn(ctx, { zeroStage: 2 });
  // fp32 states (4 + 4 + 8 bytes per parameter), ZeRO-2 over 2 ranks: 4Ψ + 12Ψ/2; activations (1 MiB) unchanged.
  assert.equal(z2.predicted.peakMemoryBytes, 4 * psi + (12 * psi) / 2 + 1024 * 1024);
  // Bytes per step count buffers (as the runtime's counter does): reduce-scatter + all-gather
  // of the same buffer for ZeRO-2 (the same wire volume as one all-reduce), plus the forward
  // and backward all-gathers for ZeRO-3.
  assert.equal(z2.predicted.bytesPerStep, 2 * base.baseline.bytesPerStep);
  const z3 = whatIfOn(ctx, { zeroStage: 3 });
  assert.ok(near(z3.predicted.bytesPerStep, 3 * base.baseline.bytesPerStep));
  const local = whatIfOn(ctx, { localSteps: { H: 8 } });
  assert.ok(near(local.predicted.bytesPerStep, base.baseline.bytesPerStep / 8));
  assert.ok(local.predicted.stepTimeNs < fp16.predicted.stepTimeNs);
  const wider = whatIfOn(ctx, { worldSize: 16 });
  assert.ok(wider.predicted.stepTimeNs > base.baseline.stepTimeNs);
  const faster = whatIfOn(ctx, { link: { alphaNs: 10_000, bytesPerNs: 10 } });
  assert.ok(faster.predicted.stepTimeNs < base.baseline.stepTimeNs);
  // Two nodes of one rank each behind a 10× faster link: as fast as the faster link alone.
  const fastLink = { alphaNs: 10_000, bytesPerNs: 10 };
  const topo = whatIfOn(ctx, { topology: { ranksPerNode: 1, intraLink: fastLink, interLink: fastLink } });
  assert.ok(near(topo.predicted.stepTimeNs, faster.predicted.stepTimeNs, 1e-9));
  const sp = whatIfOn(ctx, { sequenceParallel: { degree: 2 } });
  assert.ok(sp.notes.some((n) => /seqLen/.test(n)));
});

test('compression on a bucketed run keeps its buckets in the config change', () => {
  const a = analyze(
    syntheticRun({ ranks: 2, steps: 3, buckets: 4, gradBytes: 8 * 1024 * 1024, bytesPerNs: 0.05, overlap: true }),
  );
  const bf16 = a.suggestions.find((x) => x.id === 'compression-bf16')!;
  assert.deepEqual(bf16.configChange, { strategy: 'ddp-bucketed+bf16', strategyOptions: { bucketCapMb: 2 } });
});

test('advisor: ranked suggestions with evidence, prediction, risk, source and a config change a verifier can re-run', () => {
  const m = syntheticRun({ ranks: 2, steps: 3, buckets: 2, gradBytes: 8 * 1024 * 1024, bytesPerNs: 1, memory: true });
  const a = analyze(m);
  const s = a.suggestions;
  // Only changes worth making (advisor WORTHWHILE): the casts and ZeRO do not reach 3 % here.
  assert.ok(s.length >= 3);
  for (let i = 1; i < s.length; i++) assert.ok(s[i - 1].score >= s[i].score);
  // On a 0.05 GB/s link halving the volume pays for bf16's host codec (0.13 GB/s per core)
  // but not for fp16's slower one (0.082 GB/s): S/(2·0.05) saved against S/0.13 and S/0.082 spent.
  const slowLink = syntheticRun({ ranks: 2, steps: 3, buckets: 2, gradBytes: 8 * 1024 * 1024, bytesPerNs: 0.05 });
  const slowSuggestions = analyze(slowLink).suggestions;
  const bf16 = slowSuggestions.find((x) => x.id === 'compression-bf16')!;
  // The runtime's own config schema (runtime/config.ts, runtime/strategies/options.ts).
  assert.deepEqual(bf16.configChange, { strategy: 'bf16' });
  assert.ok(bf16.verifiable && bf16.risk.length > 0 && /bf16_compress_hook/.test(bf16.source + bf16.pytorchHint));
  assert.ok(bf16.predicted.stepTimeNs < bf16.predicted.baselineStepTimeNs);
  assert.ok(bf16.evidence.sliceIndexes.every((i) => slowLink.slices[i].category === 'collective'));
  assert.equal(
    slowSuggestions.find((x) => x.id === 'compression-fp16'),
    undefined,
  );
  const overlap = s.find((x) => x.kind === 'overlap')!;
  assert.equal(overlap.configChange.strategy, 'ddp-bucketed');
  assert.equal(typeof (overlap.configChange.strategyOptions as Record<string, unknown>).bucketCapMb, 'number');
  assert.ok(
    s.some(
      (x) =>
        x.id.startsWith('diloco') &&
        x.configChange.strategy === 'diloco' &&
        typeof (x.configChange.strategyOptions as Record<string, unknown>).localSteps === 'number',
    ),
  );
  const zero = slowSuggestions.find((x) => x.kind === 'sharding');
  if (zero)
    assert.ok(
      zero.configChange.strategy === zero.id &&
        zero.predicted.peakMemoryBytes! < zero.predicted.baselinePeakMemoryBytes!,
    );
  // PowerSGD's volume comes from the model's matrices at rank 1: far below the dense all-reduce.
  const psgd = s.find((x) => x.id === 'compression-powersgd');
  if (psgd) assert.ok(psgd.predicted.bytesPerStep! < 0.05 * psgd.predicted.baselineBytesPerStep!);
  const md = markdownReport(a, { traceLink: 'run.pftrace' });
  assert.match(md, /\| rank \| span µs \| idle µs/);
  assert.match(md, /## Top suggestions/);
  assert.match(md, /Config change: `\{"strategy":/);
  assert.match(md, /\(run\.pftrace#slice=\d+\)/);
});

test('cost model: ring formulas, and a two-level topology as reduce-scatter + inter-node all-reduce + all-gather', () => {
  const link = { alphaNs: 1000, bytesPerNs: 10 };
  const S = 1e6;
  assert.ok(near(collectiveCostNs('allReduce', S, 4, link), 2 * 3 * 1000 + (2 * 0.75 * S) / 10));
  assert.ok(near(collectiveCostNs('allGather', S, 4, link), 3 * 1000 + (0.75 * S) / 10));
  const slow = { alphaNs: 5000, bytesPerNs: 1 };
  // One node: the intra link alone.
  assert.ok(
    near(
      topologyCostNs('allReduce', S, 4, { ranksPerNode: 4, intraLink: link, interLink: slow }),
      collectiveCostNs('allReduce', S, 4, link),
    ),
  );
  // 2 nodes × 4: RS over 4 fast + AR of S/4 over 2 slow + AG over 4 fast.
  const expected =
    collectiveCostNs('reduceScatter', S, 4, link) +
    collectiveCostNs('allReduce', S / 4, 2, slow) +
    collectiveCostNs('allGather', S, 4, link);
  const got = topologyCostNs('allReduce', S, 8, { ranksPerNode: 4, intraLink: link, interLink: slow });
  assert.ok(near(got, expected));
  assert.ok(got < collectiveCostNs('allReduce', S, 8, slow));
});

test('what-if: Ulysses sequence parallelism on a long-sequence GPT config adds all-to-alls and divides activations', () => {
  const m = syntheticRun({ ranks: 4, steps: 3, buckets: 1, gradBytes: 8 * 1024 * 1024, bytesPerNs: 1, memory: true });
  const cfg = JSON.parse(String(m.meta.info!.config)) as Record<string, unknown>;
  cfg.model = { kind: 'gpt-mini', batchSize: 1, layers: 2, heads: 8, dModel: 256, seqLen: 8192, vocab: 64 };
  m.meta.info = { ...m.meta.info, config: JSON.stringify(cfg) };
  const ctx0 = prepareReplay(m);
  const psi = ctx0.paramCount!;
  // Memory counters consistent with that model: fp32 Adam states plus 64 MiB of activations.
  const perKind: Record<string, number> = {
    'memory: parameters': 4 * psi,
    'memory: gradients': 4 * psi,
    'memory: optimizer state': 8 * psi,
    'memory: activations': 64 * 1024 * 1024,
  };
  for (const c of m.counters) {
    const v = perKind[m.tracks[c.track].name];
    if (v !== undefined) c.values = c.values.map(() => v);
  }
  const ctx = prepareReplay(m);
  const base = whatIfOn(ctx, {});
  const sp = whatIfOn(ctx, { sequenceParallel: { degree: 4 } });
  assert.equal(base.baseline.peakMemoryBytes, 16 * psi + 64 * 1024 * 1024);
  assert.equal(sp.predicted.peakMemoryBytes, 16 * psi + 16 * 1024 * 1024);
  // Per layer, forward and backward: 4·N·h values over P ranks, f32.
  const added = (2 * 2 * 4 * 8192 * 256 * 4) / 4;
  assert.ok(near(sp.predicted.bytesPerStep - base.baseline.bytesPerStep, added));
  assert.ok(sp.predicted.stepTimeNs > base.baseline.stepTimeNs);
  const a = analyze(m);
  const s = a.suggestions.find((x) => x.kind === 'sequence-parallel');
  if (s) assert.deepEqual(s.configChange, { strategy: 'ulysses', strategyOptions: { sequenceParallelSize: 4 } });
});

test('advisor: 1-bit Adam on a CommLens run says when its variance will freeze (trace/onebitWarmup.ts)', () => {
  const run = syntheticRun({ ranks: 2, steps: 12, buckets: 2, gradBytes: 8 * 1024 * 1024, bytesPerNs: 0.05 });
  const onebit = analyze(run).suggestions.find((x) => x.id === 'compression-onebit-adam');
  assert.ok(onebit, 'a slow link makes 1-bit Adam worth suggesting');
  assert.match(
    onebit.risk,
    /a 12-step run like this one compresses from step 3 at the earliest and step 6 at the latest/,
  );
});

test("bytes per step: the runtime's counter, the collectives' sizes and the replay give one figure; an old trace's wire counter is not read as it", () => {
  const MiB = 1024 * 1024;
  const shape = { ranks: 4, steps: 4, buckets: 2, gradBytes: 8 * MiB, bytesPerNs: 1 };
  // With the runtime's counters: "bytes per step" (Σ S) and "bytes on the wire per step" (1.5 × S at 4 ranks).
  const withCounters = analyze(syntheticRun({ ...shape, memory: true }));
  assert.equal(withCounters.figures.bytesPerStep, 8 * MiB);
  // Without them: summed from the collectives' own sizes, the same figure.
  const noCounters = analyze(syntheticRun(shape));
  assert.equal(noCounters.figures.bytesPerStep, 8 * MiB);
  assert.ok(withCounters.suggestions.length > 0);
  for (const s of withCounters.suggestions)
    if (s.predicted.baselineBytesPerStep !== undefined) assert.equal(s.predicted.baselineBytesPerStep, 8 * MiB, s.id);
  // A trace written before 2026-12-05 has only the wire bytes, as "bytes sent per step".
  const old = syntheticRun({ ...shape, memory: true });
  for (const t of old.tracks) if (t.name === 'bytes on the wire per step') t.name = 'bytes sent per step';
  const bytesTrack = old.tracks.findIndex((t) => t.name === 'bytes per step');
  old.counters = old.counters.filter((c) => old.tracks[c.track].name !== 'bytes per step');
  assert.ok(bytesTrack >= 0);
  assert.equal(analyze(old).figures.bytesPerStep, 8 * MiB);
});
