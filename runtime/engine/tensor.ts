/**
 * A GPU tensor: a shape over a range of one GPU buffer. Activations own a pooled buffer;
 * parameters and their gradients are views into the flat parameter / gradient buffers.
 */
import type { PooledBuffer } from './pool';

export type DType = 'f32' | 'f16';

/** Marks a tensor as a model parameter (a view into the flat buffers). */
export interface ParamInfo {
  name: string;
  layerIndex: number;
  /** Elements into the flat parameter buffer. */
  offset: number;
  /** The same range of the flat gradient buffer. */
  grad: Tensor;
}

export class Tensor {
  readonly size: number;
  requiresGrad = false;
  param?: ParamInfo;
  /** Tape entries recorded this step that need this tensor's gradient. */
  gradUses = 0;

  constructor(
    readonly shape: readonly number[],
    readonly buf: PooledBuffer,
    readonly offsetBytes = 0,
    /** Whether the engine may return `buf` to the pool when the tensor is dropped. */
    readonly pooled = true,
    readonly dtype: DType = 'f32',
  ) {
    this.size = shape.reduce((a, b) => a * b, 1);
  }

  get byteLength(): number {
    const raw = this.size * (this.dtype === 'f16' ? 2 : 4);
    return Math.ceil(raw / 4) * 4;
  }

  binding(): GPUBufferBinding {
    return { buffer: this.buf.gpu, offset: this.offsetBytes, size: this.byteLength };
  }
}

export function shapeStr(shape: readonly number[]): string {
  return shape.join('x');
}
