// The layout model (analysis/replay/layouts.ts): on ideal inputs the bubble and the
// collectives are the formulas', memory per rank is a hand count, and the advisor suggests
// only layouts the runtime accepts, never the run's own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  candidateLayouts,
  collectivesOf,
  DEFAULT_LAYOUT,
  jobDimsOf,
  layoutConfigChange,
  layoutName,
  layoutOfRun,
  memoryOf,
  paramsPerRank,
  predictLayout,
  calibrate,
  sameLayout,
  stepOf,
  pipelineSpanNs,
  type JobDims,
  type Layout,
  type LayoutCalibration,
  type MeasuredRun,
} from '../../../analysis/replay/layouts';
import { collectiveCostNs, latencyTerms, volumeFactor } from '../../../analysis/replay/costModel';
import { contextParallelTraffic } from '../../../trace/contextParallel';
import { theoreticalBubbleFraction } from '../../../analysis/pipelineBubble';
import { analyze } from '../../../analysis/index';
import {
  baselineBytesPerStep,
  measuredRunOf,
  prepareReplay,
  replayedComponents,
} from '../../../analysis/replay/whatIf';
import { componentRows } from '../../../analysis/predictionReport';
import { runInfoOf } from '../../../analysis/runInfo';
import { applyConfigChange } from '../../../analysis/verify';
import { checkRunConfig } from '../../../cli/runConfigCheck';
import { syntheticRun } from '../../helpers/syntheticRun';
import { TEST_HOST_PROBE } from '../../helpers/hostProbe';
import { PRICE_SHARING } from '../../../analysis/replay/sharing';
import type { Args } from '../../../trace/model';

/** d = 8, 2 layers, 2 heads, 4 tokens, vocabulary 16, 2 sequences per step on 2 ranks. */
const SMALL: JobDims = {
  layers: 2,
  dModel: 8,
  heads: 2,
  seqLen: 4,
  vocab: 16,
  maxSeqLen: 4,
  globalBatch: 2,
  worldSize: 2,
  bytesPerElement: 4,
  precision: 'fp32',
};

const layout = (o: Partial<Layout>): Layout => ({ ...DEFAULT_LAYOUT, dp: 1, ...o });
/** A link with no latency and (nearly) infinite bandwidth: communication costs nothing. */
const IDEAL: LayoutCalibration = {
  flopsPerNs: 1,
  optimizerNsPerParam: 0,
  link: { alphaNs: 0, bytesPerNs: 1e18 },
  commEfficiency: 1,
};

test('on an ideal link the pipeline bubble is (p−1)/(m+p−1) of the pipeline, GPipe and 1F1B alike', () => {
  const d: JobDims = { ...SMALL, layers: 8, globalBatch: 16, worldSize: 8 };
  for (const p of [2, 4, 8])
    for (const m of [1, 2, 4, 16])
      for (const schedule of ['gpipe', '1f1b'] as const) {
        const s = stepOf(d, layout({ pp: p, dp: 8 / p, microBatches: m, schedule }), IDEAL);
        assert.ok(Math.abs(s.bubbleFraction - theoreticalBubbleFraction(p, m)) < 1e-12, `p ${p} m ${m}`);
        assert.ok(Math.abs(s.bubbleNs - ((p - 1) / m) * s.computeNs) < 1e-6);
        assert.ok(s.exposedCommNs < 1e-6);
      }
  // Without a pipeline there is no bubble.
  assert.equal(stepOf(d, layout({ dp: 8 }), IDEAL).bubbleNs, 0);
});

test('the collectives per step are the formulas: TP 4 per layer, SP an all-gather and a reduce-scatter for each, PP 2m sends, Ulysses 4 all-to-alls per layer (QKV and output, each way), DP one all-reduce of the rank’s parameters', () => {
  const d: JobDims = { ...SMALL, worldSize: 4, globalBatch: 4 };
  const act = (b: number) => b * d.seqLen * d.dModel * 4;
  const find = (l: Layout, group: string, op: string) =>
    collectivesOf(d, l).find((c) => c.group === group && c.op === op);
  // DP 2 × TP 2: 2 sequences per replica.
  const tp = layout({ dp: 2, tp: 2 });
  assert.deepEqual(
    { count: find(tp, 'tp', 'allReduce')?.count, bytes: find(tp, 'tp', 'allReduce')?.bytes },
    { count: 4 * d.layers, bytes: act(2) },
  );
  assert.equal(find(tp, 'dp', 'allReduce')?.bytes, paramsPerRank(d, tp).total * 4);
  assert.equal(find(tp, 'dp', 'allReduce')?.groupSize, 2);
  const sp = layout({ dp: 2, tp: 2, sequenceParallel: true });
  assert.equal(find(sp, 'tp', 'allReduce'), undefined);
  assert.equal(find(sp, 'tp', 'allGather')?.count, 4 * d.layers);
  assert.equal(find(sp, 'tp', 'reduceScatter')?.count, 4 * d.layers);
  // DP 2 × PP 2, 4 micro-batches: each of the 2 sequences' quarter … per micro-batch, each way.
  const pp = layout({ dp: 2, pp: 2, microBatches: 4 });
  assert.deepEqual(
    { count: find(pp, 'pp', 'send')?.count, bytes: find(pp, 'pp', 'send')?.bytes },
    { count: 8, bytes: act(2) / 4 },
  );
  // Ulysses over 2, as the runtime exchanges (engine/ops/exchange.ts): per layer Q, K, V (3 shards of the
  // rank's half of the tokens) and the output (1 shard), forward and backward; gradients over every rank.
  const cp = layout({ dp: 2, cp: 2, cpMethod: 'ulysses' });
  assert.deepEqual(
    collectivesOf(d, cp)
      .filter((c) => c.group === 'cp')
      .map((c) => ({ op: c.op, count: c.count, bytes: c.bytes })),
    [
      { op: 'allToAll', count: 2 * d.layers, bytes: (3 * act(2)) / 2 },
      { op: 'allToAll', count: 2 * d.layers, bytes: act(2) / 2 },
    ],
  );
  assert.equal(find(cp, 'world', 'allReduce')?.groupSize, 4);
  // DP 4: one all-reduce of the whole model, nothing else.
  const dp = collectivesOf(d, layout({ dp: 4 }));
  assert.equal(dp.length, 1);
  assert.equal(dp[0].bytes, paramsPerRank(d, layout({ dp: 4 })).total * 4);
  // Their wire time: count × the α–β cost of each.
  const cal: LayoutCalibration = { ...IDEAL, link: { alphaNs: 5_000, bytesPerNs: 0.5 } };
  const s = stepOf(d, tp, cal);
  const want = collectivesOf(d, tp).reduce(
    (t, c) => t + c.count * collectiveCostNs(c.op, c.bytes, c.groupSize, cal.link),
    0,
  );
  assert.ok(Math.abs(s.wireNs - want) < 1e-6);
  assert.ok(Math.abs(s.exposedCommNs - want) < 1e-6, 'TP and a plain DP all-reduce are on the critical path');
});

test('expert parallelism: 4 all-to-alls per MoE block, experts sharded, overlap chunks hide what the experts’ compute covers', () => {
  const d: JobDims = { ...SMALL, worldSize: 4, globalBatch: 4, experts: 4, topK: 2, capacityFactor: 1 };
  const ep = layout({ ep: 4 });
  const a2a = collectivesOf(d, ep).find((c) => c.op === 'allToAll')!;
  assert.equal(a2a.count, 4 * d.layers);
  assert.equal(a2a.bytes, 1 * d.seqLen * 2 * d.dModel * 4);
  // Experts: 8d² each, 4 of them on one rank without EP, one with EP 4.
  assert.equal(paramsPerRank(d, layout({ dp: 4 })).expert - paramsPerRank(d, ep).expert, d.layers * 3 * 8 * 64);
  const cal: LayoutCalibration = { ...IDEAL, link: { alphaNs: 0, bytesPerNs: 1e-3 } };
  const one = stepOf(d, ep, cal).exposedCommNs;
  const four = stepOf(d, { ...ep, overlapChunks: 4 }, cal).exposedCommNs;
  assert.ok(four < one, `${four} < ${one}`);
});

test('memory per rank is the hand count: f32 Adam states of the parameters held, activations in flight', () => {
  // Parameters: embedding 16·8 + 4·8 = 160; a block 12·64 + 13·8 = 872; head 2·8 + 8·16 + 16 = 160.
  const dp = memoryOf(SMALL, layout({ dp: 2 }));
  assert.equal(paramsPerRank(SMALL, layout({ dp: 2 })).total, 160 + 2 * 872 + 160);
  assert.equal(dp.modelStatesBytes, 16 * 2064);
  // One sequence of 4 tokens: per token and layer 2·(34·8 + 5·2·4) = 624 bytes, 2 layers, logits 2·16·4 = 128.
  assert.equal(dp.activationsBytes, 4 * (2 * 624 + 128));
  // TP 2 (the engine's shards: qkv 96 + 12, proj 32 + 8, fc1 128 + 16, fc2 128 + 8, norms 32 = 460 per block).
  const tp = memoryOf(SMALL, layout({ tp: 2 }));
  assert.equal(paramsPerRank(SMALL, layout({ tp: 2 })).total, 160 + 2 * 460 + 160);
  // Two sequences (8 tokens): 2·((10 + 24/2)·8 + 5·2·4/2) = 392 per token and layer.
  assert.equal(tp.activationsBytes, 8 * (2 * 392 + 128));
  // With sequence parallelism everything but the attention scores is split: 2·(34/2·8 + 20) = 312.
  assert.equal(memoryOf(SMALL, layout({ tp: 2, sequenceParallel: true })).activationsBytes, 8 * (2 * 312 + 128));
  // PP 2: one block and the larger end (160) per stage; GPipe holds all 4 micro-batches, 1F1B 2.
  assert.equal(paramsPerRank(SMALL, layout({ pp: 2, microBatches: 4 })).total, 872 + 160);
  const gpipe = memoryOf(SMALL, layout({ pp: 2, microBatches: 4 }));
  const f1b = memoryOf(SMALL, layout({ pp: 2, microBatches: 4, schedule: '1f1b' }));
  assert.equal(gpipe.activationsBytes, 8 * (624 + 128));
  assert.equal(f1b.activationsBytes, 4 * (624 + 128));
  assert.equal(gpipe.modelStatesBytes, f1b.modelStatesBytes);
});

/** A CommLens gpt-mini run on `ranks` ranks as the synthetic generator writes a DDP run, with its config. */
function gptRun(
  ranks: number,
  strategy: string,
  strategyOptions?: Record<string, unknown>,
  bytesPerNs = 0.05,
  hostProbe?: Args,
) {
  const model = {
    kind: 'gpt-mini',
    batchSize: 8,
    layers: 4,
    heads: 4,
    dModel: 64,
    seqLen: 32,
    vocab: 32,
    task: 'copy',
  };
  const d = { ...SMALL, layers: 4, heads: 4, dModel: 64, seqLen: 32, vocab: 32, maxSeqLen: 32, worldSize: ranks };
  const params = paramsPerRank(d, layout({ dp: ranks })).total;
  const m = syntheticRun({
    ranks,
    steps: 5,
    gradBytes: params * 4,
    bytesPerNs,
    alphaNs: 20_000,
    memory: true,
    ...(hostProbe ? { hostProbe } : {}),
  });
  const info = m.meta.info as Args;
  const config = JSON.parse(info.config as string) as Record<string, unknown>;
  Object.assign(config, { model, strategy, ...(strategyOptions ? { strategyOptions } : {}) });
  delete (config as { peakFlops?: unknown }).peakFlops;
  if (!strategyOptions) delete config.strategyOptions;
  config.link = 'eth-100g';
  info.config = JSON.stringify(config);
  info.strategy = strategy;
  return m;
}

test('the run’s own layout is read with the runtime’s defaults and predicts its own measured step', () => {
  const m = gptRun(4, 'ddp');
  const ctx = prepareReplay(m);
  const info = runInfoOf(m);
  const cur = layoutOfRun(info);
  assert.ok(!('problem' in cur));
  assert.equal(layoutName(cur as Layout), 'DP 4');
  const d = jobDimsOf(info, ctx.precision);
  assert.ok(!('problem' in d));
  assert.equal((d as JobDims).globalBatch, 32);
  const measured = measuredRunOf(ctx);
  assert.ok(measured.computeNs > 0 && measured.optimizerNs > 0);
  const same = predictLayout(d as JobDims, cur as Layout, cur as Layout, measured, ctx.measuredExposedCommNs);
  assert.equal(same.stepTimeNs, measured.stepTimeNs);
  assert.equal(same.peakMemoryBytes, measured.peakMemoryBytes);
  // 'tp' without a size is TP over the whole world; 'pp' with micro-batches defaults to GPipe.
  assert.deepEqual(layoutOfRun({ ...info, strategy: 'tp', strategyOptions: undefined }), {
    ...DEFAULT_LAYOUT,
    dp: 1,
    tp: 4,
    sequenceParallel: false,
  });
  const pp = layoutOfRun({ ...info, strategy: 'pp', strategyOptions: { pipelineParallelSize: 2, microBatches: 4 } });
  assert.equal(layoutName(pp as Layout), 'DP 2 × PP 2 (GPipe, 4 micro-batches)');
  assert.ok('problem' in layoutOfRun({ ...info, strategy: 'ddp-bucketed+fp16' }));
});

test('layout suggestions: only what the runtime accepts, never the run’s own, each a config change that keeps the global batch', () => {
  const m = gptRun(4, 'ddp');
  const without = analyze(m);
  assert.equal(without.suggestions.filter((s) => s.kind === 'layout').length, 0, 'no runtime check, no layouts');
  const a = analyze(m, { checkRunConfig });
  const layouts = a.suggestions.filter((s) => s.kind === 'layout');
  assert.ok(layouts.length > 0, `suggestions: ${a.suggestions.map((s) => s.id).join(', ')}`);
  const base = JSON.parse((m.meta.info as Args).config as string) as { steps: number; strategy: string };
  for (const s of layouts) {
    const next = applyConfigChange(base, s.configChange) as unknown as Record<string, unknown>;
    assert.deepEqual(checkRunConfig(next), [], s.id);
    assert.notEqual(s.configChange.strategy === 'ddp' && !s.configChange.strategyOptions, true, 'not the run’s own');
    const strategyOf = next.strategy as string;
    const opts = (next.strategyOptions ?? {}) as Record<string, number>;
    const modelParallel =
      strategyOf === 'tp'
        ? opts.tensorParallelSize
        : strategyOf === 'pp'
          ? opts.pipelineParallelSize
          : strategyOf === 'ulysses'
            ? opts.sequenceParallelSize
            : strategyOf === 'ring'
              ? opts.contextParallelSize
              : 1;
    // The same 32 sequences per step: the batch per replica × the replicas.
    assert.equal(((next.model as { batchSize: number }).batchSize * 4) / modelParallel, 32, s.id);
    assert.match(s.title, /^(DP|TP|PP|CP|EP) \d.*: predicted .+\/step \([−+]\d+(\.\d)? %\), peak memory .+ per rank/);
    assert.ok(s.predicted.layout && s.predicted.layout.baselineName === 'DP 4');
    // Bytes per step as now → predicted, "now" being the run's as every other prediction has it.
    assert.equal(s.predicted.baselineBytesPerStep, baselineBytesPerStep(prepareReplay(m)), s.id);
    assert.ok(s.predicted.bytesPerStep !== undefined && s.predicted.bytesPerStep >= 0, s.id);
    assert.equal(s.verifiable, true);
    // Component by component, as every other prediction: the layout model's step, and the run's own replayed split before it.
    const c = s.predicted.components!;
    const model = s.predicted.layout.model;
    assert.ok(c, `${s.id}: no components`);
    assert.equal(c.computeNs.predictedNs, model.computeNs + model.optimizerNs, s.id);
    assert.equal(c.waitNs.predictedNs, model.bubbleNs, s.id);
    assert.equal(c.hostNs.predictedNs, model.submitNs, s.id);
    assert.equal(c.wireNs.predictedNs, model.wireNs, s.id);
    assert.equal(c.exposedCommNs.predictedNs, model.exposedCommNs, s.id);
    // The exposed communication a re-run's analysis will measure: a pipeline's bubble is spent in its receives.
    const from = s.predicted.layout.baselineModel;
    assert.ok(
      Math.abs(
        s.predicted.exposedCommNs -
          Math.max(
            0,
            s.predicted.baselineExposedCommNs! +
              model.exposedCommNs +
              model.bubbleNs -
              from.exposedCommNs -
              from.bubbleNs,
          ),
      ) < 1,
      s.id,
    );
    assert.equal(c.stagingNs.predictedNs + c.codecNs.predictedNs, 0, s.id);
    assert.deepEqual(
      Object.fromEntries(Object.entries(c).map(([k, v]) => [k, v.baselineNs])),
      replayedComponents(prepareReplay(m)),
      s.id,
    );
    // So a layout's re-run is read against it (verify's table, the bench's rows, the analysis view).
    assert.equal(componentRows(c, replayedComponents(prepareReplay(m))).length, 6, s.id);
  }
  assert.equal(new Set(layouts.map((s) => s.id)).size, layouts.length);
  // A run that is already DP 2 × TP 2 is not told to become DP 2 × TP 2.
  const tp = analyze(gptRun(4, 'tp', { tensorParallelSize: 2 }), { checkRunConfig });
  for (const s of tp.suggestions.filter((x) => x.kind === 'layout'))
    assert.ok(
      !(
        s.configChange.strategy === 'tp' &&
        (s.configChange.strategyOptions as Args).tensorParallelSize === 2 &&
        !(s.configChange.strategyOptions as Args).sequenceParallel
      ),
      s.id,
    );
});

test('every candidate layout differs from the others, and a layout equals itself', () => {
  const d: JobDims = { ...SMALL, layers: 4, heads: 4, worldSize: 4, globalBatch: 32 };
  const all = candidateLayouts(d);
  for (let i = 0; i < all.length; i++) {
    assert.ok(sameLayout(all[i], all[i]));
    for (let j = i + 1; j < all.length; j++) assert.ok(!sameLayout(all[i], all[j]), `${layoutName(all[i])}`);
  }
  // A change names every option of its strategy (so a re-run never keeps an option of the old layout),
  // defaults included: EP without overlap from a run with 2 chunks says overlapChunks 1.
  const moe: JobDims = { ...d, experts: 4, topK: 2, capacityFactor: 1.25 };
  assert.deepEqual(layoutConfigChange(moe, layout({ ep: 4, overlapChunks: 1 })).strategyOptions, {
    expertParallelSize: 4,
    overlapChunks: 1,
  });
  assert.deepEqual(layoutConfigChange(d, layout({ dp: 2, tp: 2 })).strategyOptions, {
    tensorParallelSize: 2,
    sequenceParallel: false,
  });
  const change = layoutConfigChange(d, layout({ dp: 2, pp: 2, microBatches: 4, schedule: '1f1b' }));
  assert.deepEqual(change, {
    strategy: 'pp',
    strategyOptions: { pipelineParallelSize: 2, microBatches: 4, schedule: '1f1b' },
    model: { batchSize: 16 },
  });
});

test('a change to another strategy brings its own options instead of merging the old strategy’s', () => {
  const base = { steps: 6, strategy: 'tp', strategyOptions: { tensorParallelSize: 2 }, model: { batchSize: 4 } };
  const pp = applyConfigChange(base, {
    strategy: 'pp',
    strategyOptions: { pipelineParallelSize: 2, microBatches: 2, schedule: 'gpipe' },
    model: { batchSize: 4 },
  });
  assert.deepEqual({ ...pp.strategyOptions }, { pipelineParallelSize: 2, microBatches: 2, schedule: 'gpipe' });
  assert.equal(applyConfigChange(base, { strategy: 'ddp', model: { batchSize: 2 } }).strategyOptions, undefined);
  // The same strategy keeps the options the change does not name (a new bucket cap keeps the first bucket's).
  const bucketed = { steps: 6, strategy: 'ddp-bucketed', strategyOptions: { bucketCapMb: 5, firstBucketCapMb: 1 } };
  assert.deepEqual(
    {
      ...applyConfigChange(bucketed, { strategy: 'ddp-bucketed', strategyOptions: { bucketCapMb: 1 } }).strategyOptions,
    },
    {
      bucketCapMb: 1,
      firstBucketCapMb: 1,
    },
  );
});

test('a CommLens suggestion the runtime’s check refuses is left out, with a note naming the problem', () => {
  const m = gptRun(4, 'ddp');
  const all = analyze(m, { checkRunConfig });
  assert.ok(all.suggestions.length > 0);
  // A layout the check refuses is never a candidate (advisor.ts layoutRule): the first suggestion of another kind.
  const first = all.suggestions.find((s) => !s.id.startsWith('layout-'))!;
  const refuse = (config: Record<string, unknown>): string[] => {
    const changed = JSON.stringify(config.strategy) + JSON.stringify(config.strategyOptions ?? {});
    return changed ===
      JSON.stringify(first.configChange.strategy) + JSON.stringify(first.configChange.strategyOptions ?? {})
      ? ['strategy: refused for the test']
      : [];
  };
  const a = analyze(m, { checkRunConfig: refuse });
  assert.ok(!a.suggestions.some((s) => s.id === first.id));
  assert.ok(a.notes.some((n) => n.includes(`suggestion ${first.id} left out`) && n.includes('refused for the test')));
});

test('a context-parallel method is one entry of CONTEXT_PARALLEL: candidates, config change and collectives follow it', () => {
  const d: JobDims = { ...SMALL, worldSize: 2, globalBatch: 2 };
  const ring = candidateLayouts(d).find((l) => l.cpMethod === 'ring');
  assert.ok(ring);
  assert.equal(layoutName(ring), 'CP 2 (ring attention)');
  assert.deepEqual(layoutConfigChange(d, ring), {
    strategy: 'ring',
    strategyOptions: { contextParallelSize: 2 },
    model: { batchSize: 2 },
  });
  const send = collectivesOf(d, ring).find((c) => c.group === 'cp')!;
  assert.deepEqual({ op: send.op, count: send.count }, { op: 'send', count: (3 * 2 - 2) * d.layers });
  assert.ok(memoryOf(d, ring).activationsBytes < memoryOf(d, layout({ cp: 2, cpMethod: 'ulysses' })).activationsBytes);
  // Its passes hide under the attention compute: on a link fast enough, none is exposed; Ulysses' all-to-alls always are.
  const fast: LayoutCalibration = { ...IDEAL, link: { alphaNs: 0, bytesPerNs: 1e6 } };
  assert.equal(stepOf(d, ring, fast).byGroup.find((g) => g.group === 'cp')!.exposedNs, 0);
  const u = stepOf(d, layout({ cp: 2, cpMethod: 'ulysses' }), fast).byGroup.filter((g) => g.group === 'cp');
  assert.ok(u.every((g) => g.exposedNs === g.wireNs && g.wireNs > 0));
});

test('each context-parallel method puts on the wire what trace/contextParallel.ts says the runtime sends', () => {
  for (const method of ['ulysses', 'ring'] as const)
    for (const c of [2, 4, 8]) {
      const d: JobDims = { ...SMALL, worldSize: c, globalBatch: 2, seqLen: 16 };
      const l = layout({ dp: 1, cp: c, cpMethod: method });
      const cp = collectivesOf(d, l).filter((x) => x.group === 'cp');
      const want = contextParallelTraffic(method, {
        batch: 2,
        seqLen: d.seqLen,
        hidden: d.dModel,
        degree: c,
        elementBytes: d.bytesPerElement,
      });
      const bytes = cp.reduce((t, x) => t + x.count * x.bytes * volumeFactor(x.op, c), 0);
      const messages = cp.reduce((t, x) => t + x.count * latencyTerms(x.op, c), 0);
      assert.ok(Math.abs(bytes - want.bytesPerLayer * d.layers) < 1e-6, `${method} over ${c}: ${bytes} bytes`);
      assert.equal(messages, want.messagesPerLayer * d.layers, `${method} over ${c}: messages`);
    }
});

test('when the runtime refuses the run’s own config (an older run), its suggestions are kept unchecked, with a note', () => {
  const m = gptRun(4, 'ddp');
  const checked = analyze(m, { checkRunConfig });
  const a = analyze(m, { checkRunConfig: () => ['worldSize: refused for the test'] });
  assert.deepEqual(
    a.suggestions.map((s) => s.id),
    checked.suggestions.filter((s) => s.kind !== 'layout').map((s) => s.id),
  );
  assert.ok(a.notes.some((n) => n.includes('does not pass the runtime') && n.includes('refused for the test')));
});

test("a pipeline's span replays the runtime's schedule: transfers overlap compute where the schedule lets them", () => {
  // No transfer time: (m + p − 1) slots of a micro-batch's forward + backward, GPipe and 1F1B alike.
  for (const schedule of ['gpipe', '1f1b'] as const)
    for (const [p, m] of [
      [2, 4],
      [4, 8],
    ])
      assert.equal(pipelineSpanNs(p, m, schedule, 1, 2, 0), (m + p - 1) * 3, `${schedule} p ${p} m ${m}`);
  // GPipe with transfers shorter than a forward: only the fill's and the drain's p − 1 hops each way are exposed.
  assert.equal(pipelineSpanNs(4, 8, 'gpipe', 10, 20, 3), 11 * 30 + 2 * 3 * 3);
  // 1F1B's blocking sendRecv pairs expose more: the gpt-mini run (2 stages, 4 micro-batches, 1F1B;
  // forward 19.3 ms and backward 38.7 ms per micro-batch, 22.5 ms per transfer) ended its
  // pipeline at 379.9 ms of its step; every transfer exposed in full would be 380 + 2·4·22.5 more.
  assert.ok(Math.abs(pipelineSpanNs(2, 4, '1f1b', 19.3, 38.7, 22.5) - 380) < 1e-6);
  // The layout's step: compute, the bubble and the transfers the replayed schedule exposes.
  const d = { ...SMALL, worldSize: 2, globalBatch: 8 };
  const l = layout({ pp: 2, microBatches: 4, schedule: '1f1b' });
  const s = stepOf(d, l, { ...IDEAL, link: { alphaNs: 20_000_000, bytesPerNs: 0.004 } });
  const pp = s.byGroup.find((g) => g.group === 'pp')!;
  const each = pp.wireNs / pp.count;
  const span = pipelineSpanNs(2, 4, '1f1b', s.computeNs / 12, s.computeNs / 6, each);
  assert.ok(
    Math.abs(s.computeNs + s.bubbleNs + pp.exposedNs - span) < 1e-3,
    `${s.computeNs} + ${s.bubbleNs} + ${pp.exposedNs} vs ${span}`,
  );
  assert.ok(pp.exposedNs < pp.wireNs, 'some transfers hide under compute');
});

test('kernels cost a fixed time each: PP runs its stage’s kernels once per micro-batch and submits each pass, so past a point more micro-batches are slower', () => {
  // gpt-mini's kernels as the runtime dispatches them: 31 per layer (forward and backward), 3 of
  // the embedding, 11 of the head and loss; half a millisecond each, 2 ms per submission.
  const d: JobDims = { ...SMALL, layers: 2, dModel: 128, heads: 4, seqLen: 32, vocab: 32, globalBatch: 16 };
  const dispatch = {
    dispatchNs: 500_000,
    perLayer: 31,
    embed: 3,
    head: 11,
    submitNs: 2_000_000,
    dispatchSource: 'probe' as const,
  };
  const run: MeasuredRun = {
    stepTimeNs: 800e6,
    computeNs: 340e6,
    optimizerNs: 13e6,
    link: IDEAL.link,
    commEfficiency: 1,
    dispatch,
  };
  const dp = layout({ dp: 2 });
  const cal = calibrate(d, dp, run);
  // The run's own compute is its FLOPs at the calibrated rate plus its 76 dispatches: it predicts itself.
  const own = stepOf(d, dp, cal);
  assert.ok(Math.abs(own.computeNs - 340e6) < 1e-3);
  assert.equal(own.dispatchNs, 76 * 500_000);
  assert.equal(own.submitNs, 2_000_000);
  const flopsNs = own.computeNs - own.dispatchNs;
  const pp = (m: number) => stepOf(d, layout({ pp: 2, microBatches: m }), cal);
  for (const m of [2, 4, 8]) {
    const s = pp(m);
    // The last stage: one layer and the head, m times; the FLOPs are the same whatever m.
    assert.equal(s.dispatchNs, m * (31 + 11) * 500_000);
    assert.equal(s.submitNs, 2 * m * 2_000_000);
    assert.ok(Math.abs(s.computeNs - s.dispatchNs - (pp(1).computeNs - pp(1).dispatchNs)) < 1e-3);
    // Half the layers on twice the batch, and the head on all of it: the FLOPs are the run's and a head more.
    assert.ok(s.computeNs - s.dispatchNs > flopsNs);
  }
  // FLOPs alone, 8 micro-batches beat 4 (a smaller bubble); with the dispatches and submissions they cost more than they save.
  const flat = calibrate(d, dp, { ...run, dispatch: undefined });
  const flopsOnly = (m: number) => stepOf(d, layout({ pp: 2, microBatches: m }), flat).stepTimeNs;
  assert.ok(flopsOnly(8) < flopsOnly(4));
  assert.ok(pp(8).stepTimeNs > pp(4).stepTimeNs, `${pp(8).stepTimeNs} vs ${pp(4).stepTimeNs}`);
  // A floor that would leave the FLOPs almost nothing is no floor: compute is FLOPs alone.
  assert.equal(calibrate(d, dp, { ...run, dispatch: { ...dispatch, dispatchNs: 5e6 } }).dispatch, undefined);
});

test('a PP suggestion says when its stages were replayed with the ranks sharing the cores, and by how much', () => {
  // The run's probe: a rank alone `speedup`× as fast as with both at once (runtime/dispatchProbe.ts).
  const probed = (speedup: number) =>
    gptRun(2, 'ddp', undefined, 0.005, {
      ...TEST_HOST_PROBE,
      dispatch: { fixedNs: 10_000, sharing: { sharedNs: speedup * 1e6, aloneNs: 1e6, speedup } },
    });
  const ppOf = (m: ReturnType<typeof gptRun>) =>
    analyze(m, { checkRunConfig }).suggestions.find((s) => s.kind === 'layout' && s.configChange.strategy === 'pp');
  const shared = ppOf(probed(2));
  assert.ok(shared, 'a PP layout is suggested on a slow link');
  assert.equal(PRICE_SHARING, true, 'the sharing is priced');
  assert.match(shared.evidence.text, /a rank alone ran 2\.00× as fast as with all 2 at once/);
  const gpu = ppOf(probed(1.02));
  assert.ok(gpu);
  assert.doesNotMatch(gpu.evidence.text, /as fast as with all/, 'no sharing below the threshold, none said');
  assert.ok(shared.predicted.stepTimeNs < gpu.predicted.stepTimeNs, 'stages alone compute faster');
});
