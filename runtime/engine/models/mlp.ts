/**
 * MLP classifier on a synthetic task: Gaussian clusters. Class centres are drawn from the
 * seed (the same on every rank); each sample picks a class and adds unit noise, drawn from
 * (seed, rank, step) so every rank trains on its own shard of an endless data set.
 */
import type { GpuContext } from '../context';
import { relu } from '../ops/elementwise';
import { softmaxCrossEntropy } from '../ops/crossEntropy';
import type { Graph } from '../ops/graph';
import { linear } from '../ops/matmul';
import type { LayerSpec, ParamStore } from '../params';
import { Rng, mixSeed } from '../random';
import type { Tensor } from '../tensor';
import { TrainableModel, inputTensor } from './model';

export interface MlpConfig {
  inputDim: number;
  hiddenDims: number[];
  classes: number;
  batchSize: number;
}

export function mlpFlopsPerStep(c: MlpConfig): number {
  const dims = [c.inputDim, ...c.hiddenDims, c.classes];
  let f = 0;
  // forward 2·B·in·out per layer, backward twice that (dx and dw).
  for (let i = 0; i + 1 < dims.length; i++) f += 6 * c.batchSize * dims[i] * dims[i + 1];
  return f;
}

export class MlpModel implements TrainableModel {
  readonly layerSpecs: LayerSpec[];
  readonly flopsPerStep: number;
  private ctx!: GpuContext;
  private store!: ParamStore;
  private x!: Tensor;
  private labels!: Tensor;
  private weights!: Tensor;
  private readonly centres: Float32Array;

  constructor(
    private readonly cfg: MlpConfig,
    seed: number,
  ) {
    const dims = [cfg.inputDim, ...cfg.hiddenDims, cfg.classes];
    this.layerSpecs = [];
    for (let i = 0; i + 1 < dims.length; i++) {
      const last = i + 2 === dims.length;
      this.layerSpecs.push({
        name: last ? 'head' : `layer${i}`,
        params: [
          // He init for ReLU layers, a smaller one for the logits.
          { name: 'w', shape: [dims[i], dims[i + 1]], init: 'normal', std: Math.sqrt((last ? 1 : 2) / dims[i]) },
          { name: 'b', shape: [dims[i + 1]], init: 'zeros' },
        ],
      });
    }
    this.flopsPerStep = mlpFlopsPerStep(cfg);
    const rng = new Rng(mixSeed(seed, 0x636c7573));
    this.centres = new Float32Array(cfg.classes * cfg.inputDim).map(() => rng.normal());
  }

  bind(ctx: GpuContext, store: ParamStore): void {
    this.ctx = ctx;
    this.store = store;
    const B = this.cfg.batchSize;
    this.x = inputTensor(ctx, [B, this.cfg.inputDim], 'mlp.x');
    this.labels = inputTensor(ctx, [B], 'mlp.labels');
    this.weights = inputTensor(ctx, [B], 'mlp.weights');
    ctx.device.queue.writeBuffer(this.weights.buf.gpu, 0, new Float32Array(B).fill(1 / B));
  }

  /** The batch as host arrays (tests check the GPU against it). */
  batch(seed: number, rank: number, step: number): { x: Float32Array; labels: Int32Array } {
    const { batchSize: B, inputDim: D, classes: C } = this.cfg;
    const rng = new Rng(mixSeed(seed, rank, step, 0x6d6c70));
    const x = new Float32Array(B * D);
    const labels = new Int32Array(B);
    for (let b = 0; b < B; b++) {
      const c = rng.int(C);
      labels[b] = c;
      for (let d = 0; d < D; d++) x[b * D + d] = this.centres[c * D + d] + rng.normal();
    }
    return { x, labels };
  }

  writeBatch(seed: number, rank: number, step: number): void {
    const { x, labels } = this.batch(seed, rank, step);
    this.ctx.device.queue.writeBuffer(this.x.buf.gpu, 0, x);
    this.ctx.device.queue.writeBuffer(this.labels.buf.gpu, 0, labels);
  }

  forward(g: Graph): Tensor {
    let h = this.x;
    this.layerSpecs.forEach((l, i) => {
      g.ctx.scope = l.name === 'head' ? 'head' : `${l.name}.fc`;
      const w = this.store.byName.get(`${l.name}.w`)!;
      const b = this.store.byName.get(`${l.name}.b`)!;
      const z = linear(g, h, w, b);
      h = i + 1 < this.layerSpecs.length ? relu(g, z) : z;
    });
    g.ctx.scope = 'loss';
    return softmaxCrossEntropy(g, h, this.labels, this.weights);
  }

  inputBytes(): number {
    return this.x.buf.size + this.labels.buf.size + this.weights.buf.size;
  }

  destroy(): void {
    for (const t of [this.x, this.labels, this.weights]) t?.buf.gpu.destroy();
  }
}
