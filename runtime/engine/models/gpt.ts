/**
 * gpt-mini: a decoder-only transformer (pre-norm blocks: x + attn(ln1(x)), x + mlp(ln2(x)),
 * GELU MLP of width 4·dModel, learned positions, untied output head) trained on a
 * synthetic task. Layers, in forward order and so in the flat buffers: `embed`,
 * `layer0`..`layer{L−1}`, `head`.
 *
 * Sequence parallelism (DeepSpeed-Ulysses, `sp` given): this rank holds tokens
 * [i·T/P, (i+1)·T/P) of its group's sequences; around each attention an all-to-all turns
 * them into all T tokens of heads [i·H/P, (i+1)·H/P) and back (`forwardAsync`). The loss
 * covers the rank's own tokens with the full batch's weights, so the group's losses sum
 * to the full-sequence loss.
 *
 * Tensor parallelism (Megatron-LM, `tp` given, T ranks): each block's qkv and fc1 are
 * column-parallel (this rank holds output columns [i·n/T, (i+1)·n/T) of each of q, k, v,
 * i.e. heads [i·H/T, (i+1)·H/T), and of fc1), proj and fc2 row-parallel (the matching
 * input rows, no bias: their biases are whole and added after the all-reduce). f before
 * each column-parallel linear, g after each row-parallel one (ops/tensorParallel.ts):
 * two all-reduces forward and two backward per layer. Embedding, layer norms and the
 * head are replicated: every member of a group computes the same loss on the same batch.
 * A shard is initialised as its slice of the whole parameter, so T ranks start from the
 * single-rank model (params.ts `shard`). With `tp.sequenceParallel` (Megatron's sequence
 * parallelism) the rank holds tokens [i·S/T, (i+1)·S/T) outside the linear pairs, like
 * Ulysses' shard: f and g become an all-gather and a reduce-scatter over the sequence,
 * and the loss covers the rank's tokens (the group's losses sum to the whole loss).
 *
 * Mixture of experts (`model.experts` E): each block's MLP becomes a router (linear D → E,
 * softmax), top-k routing with a capacity per expert, and E expert MLPs (D → 4·D → D, GELU,
 * no biases) that run through ops/moe.ts; with expert parallelism (`ep` given, P ranks)
 * this rank holds experts [i·E/P, (i+1)·E/P) of every block, initialised as their slice of
 * the single-rank model's, and the tokens go to them and back by all-to-all.
 *
 * Context parallelism (ring attention, `cp` given, P ranks): this rank holds tokens
 * [i·T/P, (i+1)·T/P) of its group's sequences everywhere, like Ulysses' shard, with all
 * heads; each attention passes the key/value blocks around the group's ring instead of
 * exchanging heads (ops/ringAttention.ts). The loss covers the rank's own tokens.
 */
import { ResolvedGpt, gptFlopsPerStep } from '../config';
import type { GpuContext } from '../context';
import { causalSelfAttention } from '../ops/attention';
import { softmaxCrossEntropy } from '../ops/crossEntropy';
import { add, gelu } from '../ops/elementwise';
import { embedding } from '../ops/embedding';
import { ExchangeStaging, HostStaging, sequenceExchange, type SequenceParallel } from '../ops/exchange';
import {
  copyToTensorParallel,
  gatherSequence,
  reduceFromTensorParallel,
  scatterSequence,
  type TensorParallel,
} from '../ops/tensorParallel';
import type { Graph } from '../ops/graph';
import { layerNorm } from '../ops/layerNorm';
import { ringAttention, type ContextParallel } from '../ops/ringAttention';
import { SINGLE_RANK_EXPERTS, moeExperts, type ExpertLoad, type ExpertParallel } from '../ops/moe';
import { softmax } from '../ops/softmax';
import { linear, matmul } from '../ops/matmul';
import { planParams, type LayerSpec, type ParamSpec, type ParamStore } from '../params';
import type { Tensor } from '../tensor';
import { TrainableModel, inputTensor } from './model';
import { makeTaskBatch } from './tasks';

export class GptModel implements TrainableModel {
  readonly layerSpecs: LayerSpec[];
  readonly flopsPerStep: number;
  private ctx!: GpuContext;
  private store!: ParamStore;
  private tokens!: Tensor;
  private labels!: Tensor;
  private weights!: Tensor;
  private staging: ExchangeStaging | undefined;
  /** Tokens per sequence on this rank. */
  private readonly localSeq: number;

  private hostStaging: HostStaging | undefined;
  /** The token shard this rank holds outside attention (Ulysses, or tensor parallelism's sequence parallelism). */
  private readonly seqShard: { size: number; index: number } | undefined;

  constructor(
    private readonly cfg: ResolvedGpt,
    _seed: number,
    private readonly sp?: SequenceParallel,
    private readonly tp?: TensorParallel,
    readonly pp?: PipelineStage,
    private readonly ep?: ExpertParallel,
    private readonly cp?: ContextParallel,
  ) {
    if (cp && (sp || tp || pp || cfg.moe))
      throw new Error(
        'gpt-mini: context parallelism (ring attention) combines with data parallelism only (not Ulysses, tensor, pipeline or expert parallelism)',
      );
    if (cp && cfg.seqLen % cp.size !== 0)
      throw new Error(
        `gpt-mini: context parallelism over ${cp.size} ranks needs seqLen (${cfg.seqLen}) divisible by ${cp.size}`,
      );
    if (cfg.moe && (sp || tp || pp))
      throw new Error(
        'gpt-mini: a mixture of experts (model.experts) combines with expert and data parallelism only (not sequence, tensor or pipeline parallelism, yet)',
      );
    if (ep && !cfg.moe) throw new Error('gpt-mini: expert parallelism needs model.experts');
    if (pp && (sp || tp))
      throw new Error('gpt-mini: pipeline parallelism does not combine with sequence or tensor parallelism (yet)');
    if (pp && (cfg.layers % pp.stages !== 0 || cfg.batchSize % pp.microBatches !== 0))
      throw new Error(
        `gpt-mini: a pipeline of ${pp.stages} stages and ${pp.microBatches} micro-batches needs layers (${cfg.layers}) divisible by ${pp.stages} and batchSize (${cfg.batchSize}) by ${pp.microBatches}`,
      );
    if (sp && (cfg.seqLen % sp.size !== 0 || cfg.heads % sp.size !== 0))
      throw new Error(
        `gpt-mini: sequence parallelism over ${sp.size} ranks needs seqLen (${cfg.seqLen}) and heads (${cfg.heads}) divisible by ${sp.size}`,
      );
    if (sp && tp) throw new Error('gpt-mini: sequence parallelism and tensor parallelism do not combine (yet)');
    if (tp?.sequenceParallel && cfg.seqLen % tp.size !== 0)
      throw new Error(
        `gpt-mini: sequence-parallel tensor parallelism over ${tp.size} ranks needs seqLen (${cfg.seqLen}) divisible by ${tp.size}`,
      );
    this.seqShard = sp
      ? { size: sp.size, index: sp.index }
      : cp
        ? { size: cp.size, index: cp.index }
        : tp?.sequenceParallel
          ? { size: tp.size, index: tp.index }
          : undefined;
    this.localSeq = cfg.seqLen / (this.seqShard?.size ?? 1);
    this.layerSpecs = gptLayerSpecs(cfg, tp?.size ?? 1, tp?.index ?? 0, ep ?? SINGLE_RANK_EXPERTS);
    if (pp) {
      // Stage s: layers [s·L/P, (s+1)·L/P), the embedding on the first, the head on the last.
      const per = cfg.layers / pp.stages;
      const mine = (l: LayerSpec) =>
        l.name === 'embed'
          ? pp.stage === 0
          : l.name === 'head'
            ? pp.stage === pp.stages - 1
            : Math.floor(Number(l.name.slice(5)) / per) === pp.stage;
      // The random numbers the earlier stages' layers draw are skipped, so each layer starts as in the whole model.
      const draws = (l: LayerSpec) =>
        l.params.reduce((a, q) => a + (q.init === 'normal' ? q.shape.reduce((x, y) => x * y, 1) : 0), 0);
      let skipped = 0;
      const kept: LayerSpec[] = [];
      for (const l of this.layerSpecs) {
        if (mine(l)) {
          kept.push(kept.length === 0 ? { ...l, skipDraws: skipped } : l);
        } else if (kept.length === 0) skipped += draws(l);
      }
      this.layerSpecs = kept;
    }
    // Sequence-parallel ranks split every op evenly (tokens outside attention, heads inside;
    // ring attention: on average, the causal blocks fall unevenly on the ranks);
    // tensor-parallel ones split the blocks' matmuls and attention, and repeat the head's.
    this.flopsPerStep = tp
      ? gptTensorParallelFlopsPerStep(cfg, tp.size, tp.sequenceParallel)
      : pp
        ? gptStageFlopsPerStep(cfg, pp)
        : gptFlopsPerStep(cfg) / (sp?.size ?? cp?.size ?? 1);
  }

  bind(ctx: GpuContext, store: ParamStore): void {
    this.ctx = ctx;
    this.store = store;
    const B = this.cfg.batchSize;
    const T = this.localSeq;
    if (this.sp) this.staging = new ExchangeStaging(ctx, this.sp);
    if (this.tp || this.cfg.moe || this.cp) this.hostStaging = new HostStaging(ctx);
    if (this.pp) {
      const Bm = B / this.pp.microBatches;
      this.micro = Array.from({ length: this.pp.microBatches }, (_, m) => ({
        tokens: inputTensor(ctx, [Bm, T], `gpt.tokens.mb${m}`),
        labels: inputTensor(ctx, [Bm * T], `gpt.labels.mb${m}`),
        weights: inputTensor(ctx, [Bm * T], `gpt.weights.mb${m}`),
      }));
      ({ tokens: this.tokens, labels: this.labels, weights: this.weights } = this.micro[0]);
      return;
    }
    this.tokens = inputTensor(ctx, [B, T], 'gpt.tokens');
    this.labels = inputTensor(ctx, [B * T], 'gpt.labels');
    this.weights = inputTensor(ctx, [B * T], 'gpt.weights');
  }

  writeBatch(seed: number, rank: number, step: number): void {
    const { task, vocab, seqLen, batchSize } = this.cfg;
    const sp = this.seqShard;
    let b = makeTaskBatch(
      task,
      vocab,
      seqLen,
      batchSize,
      seed,
      this.sp
        ? this.sp.dataRank
        : this.cp
          ? this.cp.dataRank
          : this.tp
            ? this.tp.dataRank
            : this.pp
              ? this.pp.dataRank
              : rank,
      step,
    );
    if (sp) {
      // The group's batch; this rank keeps its token shard (weights stay those of the full batch).
      const tl = this.localSeq;
      const shard = <A extends Int32Array | Float32Array>(a: A): A => {
        const out = new (a.constructor as new (n: number) => A)(batchSize * tl);
        for (let i = 0; i < batchSize; i++)
          out.set(a.subarray(i * seqLen + sp.index * tl, i * seqLen + (sp.index + 1) * tl), i * tl);
        return out;
      };
      b = { tokens: shard(b.tokens), labels: shard(b.labels), weights: shard(b.weights), counted: b.counted };
    }
    const q = this.ctx.device.queue;
    if (this.micro) {
      // Micro-batch m: rows [m·B/M, (m+1)·B/M) of the batch, with the whole batch's weights.
      const n = (batchSize / this.micro.length) * this.localSeq;
      this.micro.forEach((mb, m) => {
        q.writeBuffer(mb.tokens.buf.gpu, 0, b.tokens.subarray(m * n, (m + 1) * n));
        q.writeBuffer(mb.labels.buf.gpu, 0, b.labels.subarray(m * n, (m + 1) * n));
        q.writeBuffer(mb.weights.buf.gpu, 0, b.weights.subarray(m * n, (m + 1) * n));
      });
      return;
    }
    q.writeBuffer(this.tokens.buf.gpu, 0, b.tokens);
    q.writeBuffer(this.labels.buf.gpu, 0, b.labels);
    q.writeBuffer(this.weights.buf.gpu, 0, b.weights);
  }

  private p(name: string): Tensor {
    const t = this.store.byName.get(name);
    if (!t) throw new Error(`gpt-mini: no parameter '${name}'`);
    return t;
  }

  private linear(g: Graph, x: Tensor, name: string): Tensor {
    return linear(g, x, this.p(`${name}.w`), this.p(`${name}.b`));
  }

  /**
   * Pipeline stage forward of micro-batch `m`: from its tokens (first stage) or `input`
   * (the previous stage's output, [B/M, T, D]) through this stage's layers to the output
   * activation, or the micro-batch's loss on the last stage.
   */
  forwardStage(g: Graph, m: number, input?: Tensor): Tensor {
    const pp = this.pp;
    if (!pp || !this.micro) throw new Error('gpt-mini: forwardStage needs a pipeline stage');
    ({ tokens: this.tokens, labels: this.labels, weights: this.weights } = this.micro[m]);
    let x = pp.stage === 0 ? this.embed(g) : input;
    if (!x) throw new Error(`gpt-mini: pipeline stage ${pp.stage} needs the previous stage's activations`);
    const per = this.cfg.layers / pp.stages;
    for (let l = pp.stage * per; l < (pp.stage + 1) * per; l++) {
      const n = `layer${l}`;
      const qkv = this.beforeAttention(g, x, n);
      g.ctx.scope = `${n}.attn`;
      x = this.afterAttention(g, x, causalSelfAttention(g, qkv, this.cfg.heads), n);
    }
    return pp.stage === pp.stages - 1 ? this.head(g, x) : x;
  }

  /** The shape of the activations between stages (one micro-batch). */
  stageActivationShape(): number[] {
    return [this.cfg.batchSize / (this.pp?.microBatches ?? 1), this.localSeq, this.cfg.dModel];
  }

  forward(g: Graph): Tensor {
    if (this.pp) throw new Error('gpt-mini: a pipeline stage runs micro-batches (Trainer.pipelineForward)');
    if (this.sp || this.cp || this.tp || this.cfg.moe)
      throw new Error(
        `gpt-mini: a ${this.sp || this.cp ? 'sequence-parallel' : this.tp ? 'tensor-parallel' : 'mixture-of-experts'} model exchanges data between ranks (or with the host) in its forward; run forwardAsync`,
      );
    let x = this.embed(g);
    for (let l = 0; l < this.cfg.layers; l++) {
      const n = `layer${l}`;
      const qkv = this.beforeAttention(g, x, n);
      g.ctx.scope = `${n}.attn`;
      x = this.afterAttention(g, x, causalSelfAttention(g, qkv, this.cfg.heads), n);
    }
    return this.head(g, x);
  }

  /** forward with the Ulysses all-to-alls around each attention (needs `sp`), or the ring's passes (`cp`). */
  async forwardAsync(g: Graph): Promise<Tensor> {
    if (this.tp) return this.forwardTensorParallel(g, this.tp, this.hostStaging!);
    if (this.cp) return this.forwardRing(g, this.cp, this.hostStaging!);
    if (this.cfg.moe) return this.forwardMoe(g);
    const staging = this.staging;
    if (!staging) return this.forward(g);
    let x = this.embed(g);
    for (let l = 0; l < this.cfg.layers; l++) {
      const n = `layer${l}`;
      const qkv = this.beforeAttention(g, x, n);
      g.ctx.scope = `${n}.attn`;
      const qkvHeads = await sequenceExchange(g, staging, qkv, 'toHeads', 3, `${n}.attn qkv`);
      const yHeads = causalSelfAttention(g, qkvHeads, this.cfg.heads / staging.sp.size);
      const y = await sequenceExchange(g, staging, yHeads, 'toSeq', 1, `${n}.attn out`);
      x = this.afterAttention(g, x, y, n);
    }
    return this.head(g, x);
  }

  /** forward with ring attention in every block (needs `cp`): key/value blocks go round the group's ring. */
  private async forwardRing(g: Graph, cp: ContextParallel, staging: HostStaging): Promise<Tensor> {
    let x = this.embed(g);
    for (let l = 0; l < this.cfg.layers; l++) {
      const n = `layer${l}`;
      const qkv = this.beforeAttention(g, x, n);
      g.ctx.scope = `${n}.attn`;
      const y = await ringAttention(g, staging, cp, qkv, this.cfg.heads, `${n}.attn`);
      x = this.afterAttention(g, x, y, n);
    }
    return this.head(g, x);
  }

  /** forward with Megatron's f and g around each block's attention and MLP (needs `tp`). */
  private async forwardTensorParallel(g: Graph, tp: TensorParallel, staging: HostStaging): Promise<Tensor> {
    const { ctx } = g;
    // Megatron's f and g; with sequence parallelism an all-gather and a reduce-scatter of the token shards.
    const f = async (x: Tensor, what: string): Promise<Tensor> =>
      tp.sequenceParallel
        ? gatherSequence(g, staging, tp, x, `${what} gather`)
        : copyToTensorParallel(g, staging, tp, x, `${what} f`);
    const gOp = (x: Tensor, what: string): Promise<Tensor> =>
      tp.sequenceParallel
        ? scatterSequence(g, staging, tp, x, `${what} scatter`)
        : reduceFromTensorParallel(g, staging, tp, x, `${what} g`);
    let x = this.embed(g);
    for (let l = 0; l < this.cfg.layers; l++) {
      const n = `layer${l}`;
      ctx.scope = `${n}.ln1`;
      let h = layerNorm(g, x, this.p(`${n}.ln1.g`), this.p(`${n}.ln1.b`));
      ctx.scope = `${n}.attn.qkv`;
      h = await f(h, `${n}.attn`);
      const qkv = this.linear(g, h, `${n}.attn.qkv`);
      ctx.scope = `${n}.attn`;
      const y = causalSelfAttention(g, qkv, this.cfg.heads / tp.size);
      ctx.scope = `${n}.attn.proj`;
      h = await gOp(matmul(g, y, this.p(`${n}.attn.proj.w`)), `${n}.attn`);
      h = add(g, h, this.p(`${n}.attn.proj.b`));
      ctx.scope = `${n}.attn.residual`;
      x = add(g, x, h);
      ctx.scope = `${n}.ln2`;
      h = layerNorm(g, x, this.p(`${n}.ln2.g`), this.p(`${n}.ln2.b`));
      ctx.scope = `${n}.mlp.fc1`;
      h = await f(h, `${n}.mlp`);
      h = gelu(g, this.linear(g, h, `${n}.mlp.fc1`));
      ctx.scope = `${n}.mlp.fc2`;
      h = await gOp(matmul(g, h, this.p(`${n}.mlp.fc2.w`)), `${n}.mlp`);
      h = add(g, h, this.p(`${n}.mlp.fc2.b`));
      ctx.scope = `${n}.mlp.residual`;
      x = add(g, x, h);
    }
    return this.head(g, x);
  }

  /** The routing of each MoE block in the last forward (empty for a dense model). */
  expertLoad: ExpertLoad[] = [];

  /** forward of the mixture of experts: each block's MLP is its router and experts (ops/moe.ts). */
  private async forwardMoe(g: Graph): Promise<Tensor> {
    const moe = this.cfg.moe!;
    const { ctx } = g;
    const staging = this.hostStaging!;
    const ep = this.ep ?? SINGLE_RANK_EXPERTS;
    this.expertLoad = [];
    let x = this.embed(g);
    for (let l = 0; l < this.cfg.layers; l++) {
      const n = `layer${l}`;
      const qkv = this.beforeAttention(g, x, n);
      ctx.scope = `${n}.attn`;
      const y = causalSelfAttention(g, qkv, this.cfg.heads);
      ctx.scope = `${n}.attn.proj`;
      let h = this.linear(g, y, `${n}.attn.proj`);
      ctx.scope = `${n}.attn.residual`;
      x = add(g, x, h);
      ctx.scope = `${n}.ln2`;
      h = layerNorm(g, x, this.p(`${n}.ln2.g`), this.p(`${n}.ln2.b`));
      ctx.scope = `${n}.moe.router`;
      const probs = softmax(g, this.linear(g, h, `${n}.moe.router`));
      const out = await moeExperts(
        g,
        staging,
        ep,
        h,
        probs,
        this.p(`${n}.moe.experts.fc1.w`),
        this.p(`${n}.moe.experts.fc2.w`),
        { topK: moe.topK, capacityFactor: moe.capacityFactor, name: `${n}.moe` },
      );
      this.expertLoad.push(out.load);
      ctx.scope = `${n}.moe.residual`;
      x = add(g, x, out.y);
    }
    return this.head(g, x);
  }

  private embed(g: Graph): Tensor {
    g.ctx.scope = 'embed';
    const offset = this.seqShard ? this.seqShard.index * this.localSeq : 0;
    return embedding(g, this.tokens, this.p('embed.tok'), this.p('embed.pos'), offset);
  }

  /** ln1 and the qkv projection of layer `n`. */
  private beforeAttention(g: Graph, x: Tensor, n: string): Tensor {
    const { ctx } = g;
    ctx.scope = `${n}.ln1`;
    const h = layerNorm(g, x, this.p(`${n}.ln1.g`), this.p(`${n}.ln1.b`));
    ctx.scope = `${n}.attn.qkv`;
    return this.linear(g, h, `${n}.attn.qkv`);
  }

  /** The rest of layer `n` after attention produced `y`: projection, residual, MLP. */
  private afterAttention(g: Graph, x: Tensor, y: Tensor, n: string): Tensor {
    const { ctx } = g;
    ctx.scope = `${n}.attn.proj`;
    let h = this.linear(g, y, `${n}.attn.proj`);
    ctx.scope = `${n}.attn.residual`;
    x = add(g, x, h);
    ctx.scope = `${n}.ln2`;
    h = layerNorm(g, x, this.p(`${n}.ln2.g`), this.p(`${n}.ln2.b`));
    ctx.scope = `${n}.mlp.fc1`;
    h = gelu(g, this.linear(g, h, `${n}.mlp.fc1`));
    ctx.scope = `${n}.mlp.fc2`;
    h = this.linear(g, h, `${n}.mlp.fc2`);
    ctx.scope = `${n}.mlp.residual`;
    return add(g, x, h);
  }

  private head(g: Graph, x: Tensor): Tensor {
    const { ctx } = g;
    ctx.scope = 'head';
    const h = layerNorm(g, x, this.p('head.lnf.g'), this.p('head.lnf.b'));
    const logits = this.linear(g, h, 'head.out');
    ctx.scope = 'loss';
    return softmaxCrossEntropy(g, logits, this.labels, this.weights);
  }

  private micro: { tokens: Tensor; labels: Tensor; weights: Tensor }[] | undefined;

  inputBytes(): number {
    if (this.micro)
      return this.micro.reduce((a, mb) => a + mb.tokens.buf.size + mb.labels.buf.size + mb.weights.buf.size, 0);
    return this.tokens.buf.size + this.labels.buf.size + this.weights.buf.size;
  }

  destroy(): void {
    const inputs = this.micro
      ? this.micro.flatMap((mb) => [mb.tokens, mb.labels, mb.weights])
      : [this.tokens, this.labels, this.weights];
    for (const t of inputs) t?.buf.gpu.destroy();
    this.staging?.destroy();
    this.hostStaging?.destroy();
  }
}

/**
 * gpt-mini's layers and parameters, for rank `index` of `tpSize` tensor-parallel ranks
 * (1: the whole model). Shards carry their place in the whole parameter (`shard`).
 */
export function gptLayerSpecs(
  cfg: Pick<ResolvedGpt, 'dModel' | 'vocab' | 'layers' | 'maxSeqLen' | 'heads' | 'moe'>,
  tpSize = 1,
  index = 0,
  ep: { size: number; index: number } = { size: 1, index: 0 },
): LayerSpec[] {
  const { dModel: D, vocab: V, layers: L, maxSeqLen } = cfg;
  const T = tpSize;
  if (!Number.isInteger(T) || T < 1 || cfg.heads % T !== 0)
    throw new Error(`gpt-mini: tensor parallelism over ${T} ranks needs model.heads (${cfg.heads}) divisible by ${T}`);
  const std = 0.02;
  // GPT-2's scaling of the residual projections keeps the residual stream's variance flat in depth.
  const projStd = std / Math.sqrt(2 * L);
  const ln = (name: string): ParamSpec[] => [
    { name: `${name}.g`, shape: [D], init: 'ones' },
    { name: `${name}.b`, shape: [D], init: 'zeros' },
  ];
  const lin = (name: string, i: number, o: number, s = std): ParamSpec[] => [
    { name: `${name}.w`, shape: [i, o], init: 'normal', std: s },
    { name: `${name}.b`, shape: [o], init: 'zeros' },
  ];
  // Column-parallel: of each of `parts` blocks of `o` columns, this rank's o/T.
  const col = (name: string, i: number, o: number, parts: number): ParamSpec[] => {
    const ol = o / T;
    const colOf = (c: number) => Math.floor(c / ol) * o + index * ol + (c % ol);
    return [
      {
        name: `${name}.w`,
        shape: [i, parts * ol],
        init: 'normal',
        std,
        shard: {
          fullShape: [i, parts * o],
          index: (k) => Math.floor(k / (parts * ol)) * parts * o + colOf(k % (parts * ol)),
        },
      },
      { name: `${name}.b`, shape: [parts * ol], init: 'zeros', shard: { fullShape: [parts * o], index: colOf } },
    ];
  };
  // Row-parallel: this rank's i/T input rows; the bias stays whole (added after the all-reduce).
  const row = (name: string, i: number, o: number, s: number): ParamSpec[] => [
    {
      name: `${name}.w`,
      shape: [i / T, o],
      init: 'normal',
      std: s,
      shard: { fullShape: [i, o], index: (k) => index * (i / T) * o + k },
    },
    { name: `${name}.b`, shape: [o], init: 'zeros' },
  ];
  const specs: LayerSpec[] = [
    {
      name: 'embed',
      params: [
        { name: 'tok', shape: [V, D], init: 'normal', std },
        { name: 'pos', shape: [maxSeqLen, D], init: 'normal', std },
      ],
    },
  ];
  const moe = cfg.moe;
  if (moe && (T !== 1 || moe.experts % ep.size !== 0))
    throw new Error(
      `gpt-mini: ${moe.experts} experts over ${ep.size} expert-parallel ranks (tensor parallel ${T}); model.experts must be divisible by the expert-parallel size and tensor parallelism is not combined with experts`,
    );
  // This rank's experts [i·E/P, (i+1)·E/P) of a [E, …] expert weight: a contiguous block.
  const experts = (name: string, inner: number[], s: number): ParamSpec => {
    const El = moe!.experts / ep.size;
    const per = inner.reduce((a, b) => a * b, 1);
    return {
      name,
      shape: [El, ...inner],
      init: 'normal',
      std: s,
      ...(ep.size > 1
        ? { shard: { fullShape: [moe!.experts, ...inner], index: (k: number) => ep.index * El * per + k } }
        : {}),
    };
  };
  for (let l = 0; l < L; l++) {
    const params = moe
      ? [
          ...ln('ln1'),
          ...lin('attn.qkv', D, 3 * D),
          ...lin('attn.proj', D, D, projStd),
          ...ln('ln2'),
          ...lin('moe.router', D, moe.experts),
          experts('moe.experts.fc1.w', [D, 4 * D], std),
          experts('moe.experts.fc2.w', [4 * D, D], projStd),
        ]
      : T === 1
        ? [
            ...ln('ln1'),
            ...lin('attn.qkv', D, 3 * D),
            ...lin('attn.proj', D, D, projStd),
            ...ln('ln2'),
            ...lin('mlp.fc1', D, 4 * D),
            ...lin('mlp.fc2', 4 * D, D, projStd),
          ]
        : [
            ...ln('ln1'),
            ...col('attn.qkv', D, D, 3),
            ...row('attn.proj', D, D, projStd),
            ...ln('ln2'),
            ...col('mlp.fc1', D, 4 * D, 1),
            ...row('mlp.fc2', 4 * D, D, projStd),
          ];
    specs.push({ name: `layer${l}`, params });
  }
  specs.push({ name: 'head', params: [...ln('lnf'), ...lin('out', D, V)] });
  return specs;
}

/** A pipeline-parallel rank (GPipe): its stage of `stages`, and the micro-batches per step. */
export interface PipelineStage {
  readonly stages: number;
  readonly stage: number;
  readonly microBatches: number;
  /** Whose batch the pipeline trains on (its data-parallel index). */
  readonly dataRank: number;
}

/** FLOPs of one step on pipeline stage `pp.stage`: its layers (and the head on the last stage). */
export function gptStageFlopsPerStep(
  r: Omit<ResolvedGpt, 'kind' | 'task' | 'dtype' | 'maxSeqLen'>,
  pp: PipelineStage,
): number {
  const { batchSize: B, seqLen: S, dModel: D, layers: L, vocab: V } = r;
  const Ls = L / pp.stages;
  const matmulFwd = 2 * B * S * (Ls * 12 * D * D + (pp.stage === pp.stages - 1 ? D * V : 0));
  const attnFwd = Ls * B * 2 * 2 * ((S * (S + 1)) / 2) * D;
  return 3 * (matmulFwd + attnFwd);
}

/**
 * FLOPs of one step on one of T tensor-parallel ranks: the blocks' matmuls and attention
 * ÷ T, the head's whole (÷ T too with sequence parallelism: it runs on S/T tokens).
 */
export function gptTensorParallelFlopsPerStep(
  r: Omit<ResolvedGpt, 'kind' | 'task' | 'dtype' | 'maxSeqLen'>,
  T: number,
  sequenceParallel = false,
): number {
  const { batchSize: B, seqLen: S, dModel: D, layers: L, vocab: V } = r;
  const tokens = B * S;
  const matmulFwd = 2 * tokens * ((L * 12 * D * D) / T + (D * V) / (sequenceParallel ? T : 1));
  const attnFwd = (L * B * 2 * 2 * ((S * (S + 1)) / 2) * D) / T;
  return 3 * (matmulFwd + attnFwd);
}

/**
 * The whole model's flat parameters (the layout of gptLayerSpecs(cfg), alignment
 * `alignElems`) from the flat parameters of each of T tensor-parallel ranks (index
 * order). Replicated parameters are taken from rank 0.
 */
export function assembleTensorParallel(
  cfg: Pick<ResolvedGpt, 'dModel' | 'vocab' | 'layers' | 'maxSeqLen' | 'heads' | 'moe'>,
  alignElems: number,
  shards: Float32Array[],
): Float32Array {
  return assembleShards(cfg, alignElems, shards, (t) => gptLayerSpecs(cfg, shards.length, t), 'tensor');
}

/**
 * The whole mixture-of-experts model's flat parameters from the flat parameters of each
 * of P expert-parallel ranks (index order): the experts from their ranks, the rest
 * (replicated) from rank 0.
 */
export function assembleExpertParallel(
  cfg: Pick<ResolvedGpt, 'dModel' | 'vocab' | 'layers' | 'maxSeqLen' | 'heads' | 'moe'>,
  alignElems: number,
  shards: Float32Array[],
): Float32Array {
  return assembleShards(
    cfg,
    alignElems,
    shards,
    (t) => gptLayerSpecs(cfg, 1, 0, { size: shards.length, index: t }),
    'expert',
  );
}

function assembleShards(
  cfg: Pick<ResolvedGpt, 'dModel' | 'vocab' | 'layers' | 'maxSeqLen' | 'heads' | 'moe'>,
  alignElems: number,
  shards: Float32Array[],
  specsOf: (t: number) => LayerSpec[],
  kind: string,
): Float32Array {
  const full = gptLayerSpecs(cfg);
  const fullPlan = planParams(full, alignElems);
  const out = new Float32Array(fullPlan.flatCount);
  shards.forEach((flat, t) => {
    const specs = specsOf(t);
    const plan = planParams(specs, alignElems);
    if (plan.flatCount !== flat.length)
      throw new Error(`${kind}-parallel rank ${t}: ${flat.length} parameters, expected ${plan.flatCount}`);
    specs.forEach((l, li) =>
      l.params.forEach((p, pi) => {
        const src = plan.offsets[li][pi];
        const dst = fullPlan.offsets[li][pi];
        const n = p.shape.reduce((a, b) => a * b, 1);
        if (p.shard) for (let i = 0; i < n; i++) out[dst + p.shard.index(i)] = flat[src + i];
        else if (t === 0) out.set(flat.subarray(src, src + n), dst);
      }),
    );
  });
  return out;
}
