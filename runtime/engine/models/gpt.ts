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
 */
import { ResolvedGpt, gptFlopsPerStep } from '../config';
import type { GpuContext } from '../context';
import { causalSelfAttention } from '../ops/attention';
import { softmaxCrossEntropy } from '../ops/crossEntropy';
import { add, gelu } from '../ops/elementwise';
import { embedding } from '../ops/embedding';
import { ExchangeStaging, sequenceExchange, type SequenceParallel } from '../ops/exchange';
import type { Graph } from '../ops/graph';
import { layerNorm } from '../ops/layerNorm';
import { linear } from '../ops/matmul';
import type { LayerSpec, ParamSpec, ParamStore } from '../params';
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

  constructor(
    private readonly cfg: ResolvedGpt,
    _seed: number,
    private readonly sp?: SequenceParallel,
  ) {
    if (sp && (cfg.seqLen % sp.size !== 0 || cfg.heads % sp.size !== 0)) throw new Error(`gpt-mini: sequence parallelism over ${sp.size} ranks needs seqLen (${cfg.seqLen}) and heads (${cfg.heads}) divisible by ${sp.size}`);
    this.localSeq = cfg.seqLen / (sp?.size ?? 1);
    const { dModel: D, vocab: V, layers: L, maxSeqLen } = cfg;
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
    this.layerSpecs = [
      {
        name: 'embed',
        params: [
          { name: 'tok', shape: [V, D], init: 'normal', std },
          { name: 'pos', shape: [maxSeqLen, D], init: 'normal', std },
        ],
      },
    ];
    for (let l = 0; l < L; l++) {
      this.layerSpecs.push({
        name: `layer${l}`,
        params: [...ln('ln1'), ...lin('attn.qkv', D, 3 * D), ...lin('attn.proj', D, D, projStd), ...ln('ln2'), ...lin('mlp.fc1', D, 4 * D), ...lin('mlp.fc2', 4 * D, D, projStd)],
      });
    }
    this.layerSpecs.push({ name: 'head', params: [...ln('lnf'), ...lin('out', D, V)] });
    // Sequence-parallel ranks split every op evenly (tokens outside attention, heads inside).
    this.flopsPerStep = gptFlopsPerStep(cfg) / (sp?.size ?? 1);
  }

  bind(ctx: GpuContext, store: ParamStore): void {
    this.ctx = ctx;
    this.store = store;
    const B = this.cfg.batchSize;
    const T = this.localSeq;
    if (this.sp) this.staging = new ExchangeStaging(ctx, this.sp);
    this.tokens = inputTensor(ctx, [B, T], 'gpt.tokens');
    this.labels = inputTensor(ctx, [B * T], 'gpt.labels');
    this.weights = inputTensor(ctx, [B * T], 'gpt.weights');
  }

  writeBatch(seed: number, rank: number, step: number): void {
    const { task, vocab, seqLen, batchSize } = this.cfg;
    const sp = this.sp;
    let b = makeTaskBatch(task, vocab, seqLen, batchSize, seed, sp ? sp.dataRank : rank, step);
    if (sp) {
      // The group's batch; this rank keeps its token shard (weights stay those of the full batch).
      const tl = this.localSeq;
      const shard = <A extends Int32Array | Float32Array>(a: A): A => {
        const out = new (a.constructor as new (n: number) => A)(batchSize * tl);
        for (let i = 0; i < batchSize; i++) out.set(a.subarray(i * seqLen + sp.index * tl, i * seqLen + (sp.index + 1) * tl), i * tl);
        return out;
      };
      b = { tokens: shard(b.tokens), labels: shard(b.labels), weights: shard(b.weights), counted: b.counted };
    }
    const q = this.ctx.device.queue;
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

  forward(g: Graph): Tensor {
    if (this.sp) throw new Error('gpt-mini: a sequence-parallel model exchanges data between ranks in its forward; run forwardAsync');
    let x = this.embed(g);
    for (let l = 0; l < this.cfg.layers; l++) {
      const n = `layer${l}`;
      const qkv = this.beforeAttention(g, x, n);
      g.ctx.scope = `${n}.attn`;
      x = this.afterAttention(g, x, causalSelfAttention(g, qkv, this.cfg.heads), n);
    }
    return this.head(g, x);
  }

  /** forward with the Ulysses all-to-alls around each attention (needs `sp`). */
  async forwardAsync(g: Graph): Promise<Tensor> {
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

  private embed(g: Graph): Tensor {
    g.ctx.scope = 'embed';
    const offset = this.sp ? this.sp.index * this.localSeq : 0;
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

  inputBytes(): number {
    return this.tokens.buf.size + this.labels.buf.size + this.weights.buf.size;
  }

  destroy(): void {
    for (const t of [this.tokens, this.labels, this.weights]) t?.buf.gpu.destroy();
    this.staging?.destroy();
  }
}
