// Metrics, replay and advisor on hand-built CommLens-shaped runs whose numbers are known
// by construction (test/unit/analysis/synthetic.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze, markdownReport, prepareReplay, whatIfOn } from '../../../analysis/index';
import { syntheticRun } from './synthetic';

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
  const R = 4, bytes = 8 * 1024 * 1024, alpha = 10_000, bw = 2;
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
  const m = syntheticRun({ ranks: 4, steps: 4, fwdNs: 100_000, slowRank: 2, slowExtraNs: 60_000, gradBytes: 1024 * 1024 });
  const a = analyze(m);
  const st = a.stragglers!;
  assert.deepEqual(st.stragglers, [2]);
  const s2 = st.ranks.find((r) => r.rank === 2)!;
  assert.equal(s2.lastArrivals, s2.collectives);
  // Each other rank waits 12 kernels × 60 µs per collective.
  assert.ok(near(s2.meanLatenessNs, 12 * 60_000, 1e-9));
  assert.ok(s2.evidenceSlices.length > 0);
  assert.ok(s2.evidenceSlices.every((i) => m.tracks[m.slices[i].track].pid !== 2));
  assert.ok(a.suggestions.some((x) => x.id === 'straggler-rank-2' && !x.verifiable));
  const cp = a.criticalPath!;
  assert.ok(cp.rankSwitches >= 1);
  const computeOnPath = cp.segments.filter((x) => x.kind === 'computation');
  assert.ok(computeOnPath.length > 0 && computeOnPath.slice(0, -1).every((x) => x.rank === 2), 'the compute before the all-reduce is the slow rank\'s');
});

test('FLOP/s and MFU from matmul kernels; memory per rank by kind', () => {
  const a = analyze(syntheticRun({ ranks: 2, steps: 3, kernels: 4, memory: true, gradBytes: 4 * 1024 * 1024 }));
  const f = a.flops[0];
  assert.equal(f.source, 'kernels');
  assert.equal(f.flops, 2 * 12 * 2 * 64 * 128 * 32);
  assert.ok(near(f.mfu!, f.achievedFlops / 1e10));
  const mem = a.memory[0];
  assert.deepEqual(mem.kinds.map((k) => k.kind), ['params', 'grads', 'optimizer', 'activations']);
  assert.equal(mem.peakBytes, 4 * 4 * 1024 * 1024 + 1024 * 1024);
});

test('what-if: the replay reproduces the measured step, and rebucketing predicts the overlapped run it would become', () => {
  const shape = { ranks: 2, steps: 3, buckets: 4, gradBytes: 8 * 1024 * 1024, bytesPerNs: 1 };
  const ctx = prepareReplay(syntheticRun(shape));
  assert.ok(near(ctx.baseReplay.stepTimeNs, ctx.graph.measuredStepNs, 1e-9));
  const overlapped = prepareReplay(syntheticRun({ ...shape, overlap: true })).graph.measuredStepNs;
  const r = whatIfOn(ctx, { bucketing: { bucketCapMb: 2, overlap: true } });
  assert.ok(Math.abs(r.predicted.stepTimeNs - overlapped) / overlapped < 0.01, `predicted ${r.predicted.stepTimeNs} vs measured overlapped ${overlapped}`);
  assert.ok(r.predicted.exposedCommNs < r.baseline.exposedCommNs);
});

test('what-if: compression, ZeRO, local updates, world size and link change move the right numbers', () => {
  const ctx = prepareReplay(syntheticRun({ ranks: 2, steps: 3, buckets: 2, gradBytes: 8 * 1024 * 1024, bytesPerNs: 1, memory: true }));
  const base = whatIfOn(ctx, {});
  assert.equal(base.predicted.stepTimeNs, base.baseline.stepTimeNs);
  const fp16 = whatIfOn(ctx, { compression: { method: 'fp16' } });
  assert.equal(fp16.predicted.bytesPerStep, base.baseline.bytesPerStep / 2);
  assert.ok(fp16.predicted.stepTimeNs < base.baseline.stepTimeNs);
  const psi = 2 * 1024 * 1024; // gradBytes / 4
  const z2 = whatIfOn(ctx, { zeroStage: 2 });
  // fp32 states (4 + 4 + 8 bytes per parameter), ZeRO-2 over 2 ranks: 4Ψ + 12Ψ/2; activations (1 MiB) unchanged.
  assert.equal(z2.predicted.peakMemoryBytes, 4 * psi + (12 * psi) / 2 + 1024 * 1024);
  assert.equal(z2.predicted.bytesPerStep, base.baseline.bytesPerStep);
  const z3 = whatIfOn(ctx, { zeroStage: 3 });
  assert.ok(near(z3.predicted.bytesPerStep, 1.5 * base.baseline.bytesPerStep));
  const local = whatIfOn(ctx, { localSteps: { H: 8 } });
  assert.ok(near(local.predicted.bytesPerStep, base.baseline.bytesPerStep / 8));
  assert.ok(local.predicted.stepTimeNs < fp16.predicted.stepTimeNs);
  const wider = whatIfOn(ctx, { worldSize: 16 });
  assert.ok(wider.predicted.stepTimeNs > base.baseline.stepTimeNs);
  const faster = whatIfOn(ctx, { link: { alphaNs: 10_000, bytesPerNs: 10 } });
  assert.ok(faster.predicted.stepTimeNs < base.baseline.stepTimeNs);
  const sp = whatIfOn(ctx, { sequenceParallel: { degree: 2 } });
  assert.ok(sp.notes.some((n) => /seqLen/.test(n)));
});

test('advisor: ranked suggestions with evidence, prediction, risk, source and a config change a verifier can re-run', () => {
  const m = syntheticRun({ ranks: 2, steps: 3, buckets: 2, gradBytes: 8 * 1024 * 1024, bytesPerNs: 1, memory: true });
  const a = analyze(m);
  const s = a.suggestions;
  assert.ok(s.length >= 5);
  for (let i = 1; i < s.length; i++) assert.ok(s[i - 1].score >= s[i].score);
  const fp16 = s.find((x) => x.id === 'compression-fp16')!;
  assert.deepEqual(fp16.configChange, { strategy: 'fp16' });
  assert.ok(fp16.verifiable && fp16.risk.length > 0 && /fp16_compress_hook/.test(fp16.source + fp16.pytorchHint));
  assert.ok(fp16.predicted.stepTimeNs < fp16.predicted.baselineStepTimeNs);
  assert.ok(fp16.evidence.sliceIndexes.every((i) => m.slices[i].category === 'collective'));
  const overlap = s.find((x) => x.kind === 'overlap')!;
  assert.equal(overlap.configChange.strategy, 'ddp-bucketed');
  assert.equal(typeof overlap.configChange.bucketCapMb, 'number');
  assert.ok(s.some((x) => x.id.startsWith('diloco') && x.configChange.strategy === 'diloco' && typeof x.configChange.localSteps === 'number'));
  assert.ok(s.some((x) => x.id === 'zero2' && x.configChange.strategy === 'zero2' && x.predicted.peakMemoryBytes! < x.predicted.baselinePeakMemoryBytes!));
  const md = markdownReport(a, { traceLink: 'run.pftrace' });
  assert.match(md, /\| rank \| span µs \| idle µs/);
  assert.match(md, /## Top suggestions/);
  assert.match(md, /Config change: `\{"strategy":/);
  assert.match(md, /\(run\.pftrace#slice=\d+\)/);
});
