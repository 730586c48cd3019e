/**
 * gpt-mini: a decoder-only transformer (pre-norm blocks: x + attn(ln1(x)), x + mlp(ln2(x)),
 * GELU MLP of width 4·dModel, learned positions, untied output head) trained on a
 * synthetic task. Layers, in forward order and so in the flat buffers: `embed`,
 * `layer0`..`layer{L−1}`, `head`.
 */
import { ResolvedGpt, gptFlopsPerStep } from '../config';
import type { GpuContext } from '../context';
import { causalSelfAttention } from '../ops/attention';
import { softmaxCrossEntropy } from '../ops/crossEntropy';
import { add, gelu } from '../ops/elementwise';
import { embedding } from '../ops/embedding';
import type { Graph } from '../ops/graph';
import { layerNorm } from '../ops/layerNorm';
import { matmul } from '../ops/matmul';
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

  constructor(private readonly cfg: ResolvedGpt, _seed: number) {
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
    this.flopsPerStep = gptFlopsPerStep(cfg);
  }

  bind(ctx: GpuContext, store: ParamStore): void {
    this.ctx = ctx;
    this.store = store;
    const { batchSize: B, seqLen: T } = this.cfg;
    this.tokens = inputTensor(ctx, [B, T], 'gpt.tokens');
    this.labels = inputTensor(ctx, [B * T], 'gpt.labels');
    this.weights = inputTensor(ctx, [B * T], 'gpt.weights');
  }

  writeBatch(seed: number, rank: number, step: number): void {
    const { task, vocab, seqLen, batchSize } = this.cfg;
    const b = makeTaskBatch(task, vocab, seqLen, batchSize, seed, rank, step);
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
    return add(g, matmul(g, x, this.p(`${name}.w`)), this.p(`${name}.b`));
  }

  forward(g: Graph): Tensor {
    const { ctx } = g;
    ctx.scope = 'embed';
    let x = embedding(g, this.tokens, this.p('embed.tok'), this.p('embed.pos'));
    for (let l = 0; l < this.cfg.layers; l++) {
      const n = `layer${l}`;
      ctx.scope = `${n}.ln1`;
      let h = layerNorm(g, x, this.p(`${n}.ln1.g`), this.p(`${n}.ln1.b`));
      ctx.scope = `${n}.attn.qkv`;
      h = this.linear(g, h, `${n}.attn.qkv`);
      ctx.scope = `${n}.attn`;
      h = causalSelfAttention(g, h, this.cfg.heads);
      ctx.scope = `${n}.attn.proj`;
      x = add(g, x, this.linear(g, h, `${n}.attn.proj`));
      ctx.scope = `${n}.ln2`;
      h = layerNorm(g, x, this.p(`${n}.ln2.g`), this.p(`${n}.ln2.b`));
      ctx.scope = `${n}.mlp.fc1`;
      h = gelu(g, this.linear(g, h, `${n}.mlp.fc1`));
      ctx.scope = `${n}.mlp.fc2`;
      x = add(g, x, this.linear(g, h, `${n}.mlp.fc2`));
    }
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
  }
}
