// An imported PyTorch job's parallel layout, read from its process groups (analysis/jobSettings.ts
// layoutOfGroups): groups of different sizes, p2p and all-to-all, named as Megatron / DeepSpeed
// name them; the data-parallel settings and the replay's gradients then read the DP group only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze, buildRankViews, prepareReplay } from '../../../analysis/index';
import { jobSettings, settingsLine } from '../../../analysis/jobSettings';
import { whatIfOn } from '../../../analysis/replay/whatIf';
import { syntheticRun, type SyntheticOptions } from '../../helpers/syntheticRun';

const GRAD = 8 * 1024 * 1024;
const job = (modelParallel?: SyntheticOptions['modelParallel']) =>
  syntheticRun({
    ranks: 8,
    steps: 4,
    kernels: 8,
    format: 'kineto',
    buckets: 2,
    gradBytes: GRAD,
    bytesPerNs: 1,
    ...(modelParallel ? { modelParallel } : {}),
  });

test('TP 2 × DP 4: the busy small group is tensor parallel, the other data parallel; DDP settings read the DP group only', () => {
  const m = job({ kind: 'tp', size: 2, perPhase: 4, bytes: 1 << 20 });
  const s = jobSettings(m, buildRankViews(m));
  assert.ok(s.layout?.value, 'a layout is found');
  assert.equal(s.layout.text, 'TP 2 × DP 4 (Megatron)');
  assert.deepEqual({ tp: s.layout.value.tp, dp: s.layout.value.dp, pp: s.layout.value.pp }, { tp: 2, dp: 4, pp: 1 });
  assert.equal(s.layout.confidence, 'high');
  assert.equal(
    s.layout.value.flags,
    '--tensor-model-parallel-size 2 --pipeline-model-parallel-size 1; data parallel 4',
  );
  const tpGroup = s.layout.value.groups.find((g) => g.role === 'tp')!;
  assert.equal(tpGroup.perStep, 8);
  // Every rank's TP group (4 of them), none of the DP groups.
  assert.equal(s.layout.value.modelParallelGroups.length, 4);
  assert.ok(s.layout.value.modelParallelGroups.includes(tpGroup.name));
  // The gradient buckets are the DP group's 2 all-reduces, not TP's 8 activations' as well.
  assert.equal(s.buckets.value?.perStep, 2);
  assert.equal(s.paramCount.value, GRAD / 4);
  assert.match(settingsLine(s), /^settings found: TP 2 × DP 4 \(Megatron\); DistributedDataParallel/);
  // The replay takes only the DP group's all-reduces for gradients.
  const ctx = prepareReplay(m, { modelParallelGroups: new Set(s.layout.value.modelParallelGroups) });
  const grads = ctx.graph.collectives.filter((c) => c.gradient);
  assert.ok(grads.length > 0 && grads.every((c) => c.groupSize === 4));
  // ZeRO shards over the 4 data-parallel ranks, not the world of 8: ZeRO-3's 16Ψ/N with N = 4 (mixed precision).
  const psi = GRAD / 4;
  const zeroCtx = prepareReplay(m, {
    modelParallelGroups: new Set(s.layout.value.modelParallelGroups),
    dataParallelSize: s.layout.value.dp,
    paramCount: psi,
  });
  assert.equal(whatIfOn(zeroCtx, { zeroStage: 3 }).predicted.peakMemoryBytes, (16 * psi) / 4);
  // Disjoint groups' collectives run side by side (each rank's stream is its own): the replay reproduces the step.
  assert.equal(ctx.baseReplay.stepTimeNs, ctx.graph.measuredStepNs);
  // The analysis carries it.
  assert.equal(analyze(m).settings?.layout?.text, 'TP 2 × DP 4 (Megatron)');
});

test('PP 2 × DP 4: the group that sends and receives is the pipeline', () => {
  const m = job({ kind: 'pp', size: 2, perPhase: 2, bytes: 1 << 18 });
  const s = jobSettings(m, buildRankViews(m));
  assert.equal(s.layout?.text, 'PP 2 × DP 4 (Megatron)');
  assert.equal(s.layout?.value?.groups.find((g) => g.role === 'pp')?.size, 2);
  assert.equal(s.buckets.value?.perStep, 2);
});

test('all-to-all groups: expert parallel when the trace has MoE ops, else context parallel (Ulysses)', () => {
  const cp = job({ kind: 'cp', size: 2, perPhase: 2, bytes: 1 << 18 });
  assert.equal(jobSettings(cp, buildRankViews(cp)).layout?.text, 'CP 2 × DP 4 (context parallel: DeepSpeed-Ulysses)');
  const ep = job({ kind: 'ep', size: 4, perPhase: 2, bytes: 1 << 18 });
  const kernel = ep.slices.find((x) => x.category === 'kernel')!;
  kernel.name = 'moe_router_topk_kernel';
  assert.equal(
    jobSettings(ep, buildRankViews(ep)).layout?.text,
    'EP 4 × DP 2 (expert parallel: DeepSpeed-MoE or Megatron)',
  );
});

test('a plain data-parallel job has no layout finding', () => {
  const m = job();
  const s = jobSettings(m, buildRankViews(m));
  assert.equal(s.layout, undefined);
  assert.equal(s.buckets.value?.perStep, 2);
});

test('a pipeline job with idle time is told to double its micro-batches, in Megatron and DeepSpeed terms', () => {
  // 8 kernels of 100 µs forward, 16 backward: 2.4 ms of compute per step; 2 sends and 2 recvs: m ≈ 2.
  const m = job({ kind: 'pp', size: 2, perPhase: 2, bytes: 1 << 10, idleNs: 2_000_000 });
  const a = analyze(m);
  const s = a.suggestions.find((x) => x.id.startsWith('pipeline-micro-batches-'));
  assert.ok(s, `suggestions: ${a.suggestions.map((x) => x.id).join(', ')}`);
  assert.equal(s.id, 'pipeline-micro-batches-4');
  assert.deepEqual(s.configChange, {
    megatron: { num_micro_batches: 4 },
    deepspeed: { gradient_accumulation_steps: 4 },
  });
  assert.match(
    s.title,
    /^PP 2 × DP 4 \(Megatron\): 4 micro-batches per step instead of 2 \(Megatron: halve --micro-batch-size/,
  );
  // The schedule's bubble (p−1)/(m+p−1): 1/3 → 1/5; one slot of 2.4 ms / 2 → 2.4 ms / 4 saved (0.6 ms), within the 2 ms idle.
  assert.match(s.title, /pipeline bubble 33\.3 % → 20\.0 %/);
  assert.ok(
    Math.abs(s.predicted.baselineStepTimeNs - s.predicted.stepTimeNs - 600_000) < 1_000,
    `${s.predicted.stepTimeNs}`,
  );
  assert.equal(s.verifiable, false);
  assert.match(
    s.pytorchHint ?? '',
    /^now: --tensor-model-parallel-size 1 --pipeline-model-parallel-size 2; data parallel 4, about 2 micro-batches per step → change to: 4 micro-batches/,
  );
  // Without idle time there is no bubble to win back.
  const busy = analyze(job({ kind: 'pp', size: 2, perPhase: 2, bytes: 1 << 10 }));
  assert.equal(busy.suggestions.filter((x) => x.id.startsWith('pipeline-micro-batches-')).length, 0);
});
