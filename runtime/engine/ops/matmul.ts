/**
 * Matmul as an autograd op. `matmul(x, w)` treats x as [M,K] over its leading dims and
 * w as [K,N]; backward is dx = dy·wᵀ and dw = xᵀ·dy, both through the same kernels with
 * transposed operand indexing (no transpose copies).
 */
import type { GpuContext } from '../context';
import { UniformWriter } from '../context';
import { Tensor } from '../tensor';
import { Graph, spanName } from './graph';
import { MatmulShape, MatmulVariant } from './matmulKernels';
import { chooseMatmulVariant } from './matmulSelect';

export interface MatmulCall extends MatmulShape {
  a: GPUBufferBinding;
  b: GPUBufferBinding;
  c: GPUBufferBinding;
  accumulate?: boolean;
  alpha?: number;
  batch?: number;
  /** Element strides between batch items. */
  strideA?: number;
  strideB?: number;
  strideC?: number;
  dtype?: 'f32' | 'f16';
  /** Force a variant (benchmarks); otherwise chosen per adapter and shape. */
  variant?: MatmulVariant;
}

/** Encodes one matmul dispatch named `name`. */
export function encodeMatmul(ctx: GpuContext, call: MatmulCall, name: string): void {
  const dtype = call.dtype ?? 'f32';
  const v = call.variant ?? chooseMatmulVariant(ctx, call, dtype);
  const acc = call.accumulate ?? false;
  const key = `matmul:${v.id}:${call.transA ? 'T' : 'N'}${call.transB ? 'T' : 'N'}:${acc ? 'acc' : 'set'}:${dtype}`;
  const pipeline = ctx.pipeline(key, v.code(call, acc, dtype));
  const batch = call.batch ?? 1;
  const { M, N, K } = call;
  const uniform = new UniformWriter()
    .u(M, N, K, call.strideA ?? 0, call.strideB ?? 0, call.strideC ?? 0)
    .f(call.alpha ?? 1)
    .u(0)
    .build();
  const elem = dtype === 'f16' ? 2 : 4;
  ctx.dispatch({
    name,
    pipeline,
    buffers: [call.a, call.b, call.c],
    uniform,
    workgroups: [Math.ceil(N / v.tileN), Math.ceil(M / v.tileM), batch],
    flops: 2 * M * N * K * batch,
    bytes: (M * K + K * N + M * N * (acc ? 2 : 1)) * elem * batch,
    args: { M, N, K, variant: v.id, ...(batch > 1 ? { batch } : {}) },
  });
}

/** y[M,N] = x[M,K] · w[K,N]. */
export function matmul(g: Graph, x: Tensor, w: Tensor): Tensor {
  const K = x.shape[x.shape.length - 1];
  if (w.shape.length !== 2 || w.shape[0] !== K) throw new Error(`matmul: x is ${x.shape.join('x')}, w is ${w.shape.join('x')}; w must be [${K}, N]`);
  const N = w.shape[1];
  const M = x.size / K;
  const { ctx } = g;
  const y = ctx.tensor([...x.shape.slice(0, -1), N]);
  const dims = `${M}x${N}x${K}`;
  encodeMatmul(ctx, { a: x.binding(), b: w.binding(), c: y.binding(), M, N, K, transA: false, transB: false }, spanName(ctx, 'matmul', dims));
  g.tape.record({
    name: 'matmul',
    inputs: [x, w],
    output: y,
    backward(dy, sink) {
      const dx = sink.target(x);
      if (dx) {
        encodeMatmul(ctx, { a: dy.binding(), b: w.binding(), c: dx.tensor.binding(), M, N: K, K: N, transA: false, transB: true, accumulate: dx.accumulate }, spanName(ctx, 'matmul.dx', `${M}x${K}x${N}`));
      }
      const dw = sink.target(w);
      if (dw) {
        encodeMatmul(ctx, { a: x.binding(), b: dy.binding(), c: dw.tensor.binding(), M: K, N, K: M, transA: true, transB: false, accumulate: dw.accumulate }, spanName(ctx, 'matmul.dw', `${K}x${N}x${M}`));
      }
    },
  });
  return y;
}
