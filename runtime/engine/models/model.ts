/** What the trainer needs from a model. */
import type { GpuContext } from '../context';
import type { Graph } from '../ops/graph';
import type { LayerSpec, ParamStore } from '../params';
import { Tensor } from '../tensor';

export interface TrainableModel {
  /** Layers in forward order, each with its parameters. */
  readonly layerSpecs: LayerSpec[];
  /** Analytic FLOPs of one training step (forward + backward), per rank. */
  readonly flopsPerStep: number;
  /** Creates the input buffers once. */
  bind(ctx: GpuContext, store: ParamStore): void;
  /** Writes the batch of (seed, rank, step) into the input buffers. */
  writeBatch(seed: number, rank: number, step: number): void;
  /** Encodes the forward pass and returns the scalar loss. */
  forward(g: Graph): Tensor;
  /** forward for models that exchange data between ranks inside it (sequence parallelism). */
  forwardAsync?(g: Graph): Promise<Tensor>;
  /** Bytes of the input buffers. */
  inputBytes(): number;
  destroy(): void;
}

/** A non-pooled input tensor (the pool never sees it). */
export function inputTensor(ctx: GpuContext, shape: number[], label: string): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return new Tensor(shape, ctx.ownedBuffer(n * 4, undefined, label), 0, false);
}
