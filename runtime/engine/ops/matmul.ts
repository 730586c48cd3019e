/**
 * Matmul as an autograd op. `matmul(x, w)` treats x as [M,K] over its leading dims and
 * w as [K,N]; backward is dx = dy·wᵀ and dw = xᵀ·dy, both through the same kernels with
 * transposed operand indexing (no transpose copies).
 */
import type { GpuContext } from '../context';
import { UniformWriter } from '../context';
import { Tensor } from '../tensor';
import { Graph, spanName } from './graph';
import { MatmulShape, MatmulVariant, texturePackCode } from './matmulKernels';
import { chooseMatmulVariant } from './matmulSelect';
import { castToF16 } from './cast';
import { encodeSumToShape } from './elementwise';

export interface MatmulCall extends MatmulShape {
  a: GPUBufferBinding;
  b: GPUBufferBinding;
  c: GPUBufferBinding;
  accumulate?: boolean;
  alpha?: number;
  /** Fused epilogue: adds bias[col] (f32, N elements). */
  bias?: GPUBufferBinding;
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
  const stridesOk = [call.strideA, call.strideB, call.strideC].every((x) => (x ?? 0) % 4 === 0);
  if (!v.supports(call) || (!stridesOk && v.vec4)) {
    throw new Error(
      `matmul variant ${v.id} cannot run ${call.M}x${call.N}x${call.K} (transA ${call.transA}, transB ${call.transB})`,
    );
  }
  const acc = call.accumulate ?? false;
  const bias = call.bias !== undefined;
  if (v.textures) return encodeTextureMatmul(ctx, call, v, dtype, name);
  const key = `matmul:${v.id}:${call.transA ? 'T' : 'N'}${call.transB ? 'T' : 'N'}:${acc ? 'acc' : 'set'}:${dtype}${bias ? ':bias' : ''}`;
  const pipeline = ctx.pipeline(key, v.code(call, acc, dtype, bias));
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
    buffers: call.bias ? [call.a, call.b, call.c, call.bias] : [call.a, call.b, call.c],
    uniform,
    workgroups: [Math.ceil(N / v.tileN), Math.ceil(M / v.tileM), batch],
    flops: 2 * M * N * K * batch,
    bytes: (M * K + K * N + M * N * (acc ? 2 : 1)) * elem * batch,
    args: { M, N, K, variant: v.id, dtype, ...(batch > 1 ? { batch } : {}), ...(bias ? { epilogue: 'bias' } : {}) },
  });
}

/** Packs op(A) and op(B) into the context's scratch textures, then runs `v` on them. */
function encodeTextureMatmul(
  ctx: GpuContext,
  call: MatmulCall,
  v: MatmulVariant,
  dtype: 'f32' | 'f16',
  name: string,
): void {
  const { M, N, K } = call;
  const acc = call.accumulate ?? false;
  const bias = call.bias !== undefined;
  const k4 = Math.ceil(K / 4);
  const elem = dtype === 'f16' ? 2 : 4;
  const packs: ['a' | 'b', GPUBufferBinding, number, number, number, number][] = [
    // role, source, rows, cols of op(X), texture width (texels) and height
    ['a', call.a, M, K, k4, Math.ceil(M / v.tileM) * v.tileM],
    ['b', call.b, K, N, Math.ceil(N / v.tileN) * (v.tileN / 4), 4 * k4],
  ];
  const views: GPUTextureView[] = [];
  for (const [role, src, rows, cols, texels, height] of packs) {
    const trans = role === 'a' ? call.transA : call.transB;
    const pipeline = ctx.pipeline(
      `matmul.pack:${role}:${trans ? 'T' : 'N'}:${dtype}`,
      texturePackCode(role, call, dtype),
    );
    const view = ctx.scratchTexture(`matmul.${role}`, texels, height);
    ctx.dispatch({
      name: name.replace(/^(\S+)/, `$1.pack_${role}`),
      pipeline,
      buffers: [src, view],
      uniform: new UniformWriter().u(rows, cols, texels, height).build(),
      workgroups: [Math.ceil(texels / 8), Math.ceil(height / 8)],
      bytes: rows * cols * elem + texels * height * 16,
      args: { rows, cols, ...(trans ? { transposed: 1 } : {}) },
    });
    views.push(view);
  }
  const pipeline = ctx.pipeline(
    `matmul:${v.id}:${acc ? 'acc' : 'set'}${bias ? ':bias' : ''}`,
    v.code(call, acc, dtype, bias),
  );
  const uniform = new UniformWriter()
    .u(M, N, K, 0, 0, 0)
    .f(call.alpha ?? 1)
    .u(0)
    .build();
  ctx.dispatch({
    name,
    pipeline,
    buffers: call.bias ? [views[0], views[1], call.c, call.bias] : [views[0], views[1], call.c],
    uniform,
    workgroups: [Math.ceil(N / v.tileN), Math.ceil(M / v.tileM)],
    flops: 2 * M * N * K,
    bytes: k4 * (M + 4 * Math.ceil(N / 4)) * 16 + M * N * 4 * (acc ? 2 : 1),
    args: { M, N, K, variant: v.id, dtype, ...(bias ? { epilogue: 'bias' } : {}) },
  });
}

/**
 * y[M,N] = x[M,K] · w[K,N]. With `ctx.mixedF16` the operands are cast to f16 for the
 * products (forward and both backward ones) and results stay f32.
 */
export function matmul(g: Graph, x: Tensor, w: Tensor): Tensor {
  return linear(g, x, w);
}

/**
 * y = x·w + b with the bias fused into the matmul's epilogue; backward adds db = Σ_rows dy
 * to matmul's dx and dw.
 */
export function linear(g: Graph, x: Tensor, w: Tensor, b?: Tensor): Tensor {
  const K = x.shape[x.shape.length - 1];
  if (w.shape.length !== 2 || w.shape[0] !== K)
    throw new Error(`matmul: x is ${x.shape.join('x')}, w is ${w.shape.join('x')}; w must be [${K}, N]`);
  const N = w.shape[1];
  const M = x.size / K;
  if (b && b.size !== N) throw new Error(`linear: bias has ${b.size} elements, w has ${N} columns`);
  const { ctx } = g;
  const y = ctx.tensor([...x.shape.slice(0, -1), N]);
  const dims = `${M}x${N}x${K}`;
  const half = ctx.mixedF16;
  const dtype = half ? 'f16' : 'f32';
  const xo = half ? g.tape.keep(castToF16(ctx, x)) : x;
  const wo = half ? g.tape.keep(castToF16(ctx, w)) : w;
  encodeMatmul(
    ctx,
    {
      a: xo.binding(),
      b: wo.binding(),
      c: y.binding(),
      M,
      N,
      K,
      transA: false,
      transB: false,
      dtype,
      bias: b?.binding(),
    },
    spanName(ctx, 'matmul', dims),
  );
  g.tape.record({
    name: 'matmul',
    inputs: b ? [x, w, b] : [x, w],
    output: y,
    backward(dy, sink) {
      const dyo = half ? castToF16(ctx, dy) : dy;
      const dx = sink.target(x);
      if (dx) {
        encodeMatmul(
          ctx,
          {
            a: dyo.binding(),
            b: wo.binding(),
            c: dx.tensor.binding(),
            M,
            N: K,
            K: N,
            transA: false,
            transB: true,
            accumulate: dx.accumulate,
            dtype,
          },
          spanName(ctx, 'matmul.dx', `${M}x${K}x${N}`),
        );
      }
      const dw = sink.target(w);
      if (dw) {
        encodeMatmul(
          ctx,
          {
            a: xo.binding(),
            b: dyo.binding(),
            c: dw.tensor.binding(),
            M: K,
            N,
            K: M,
            transA: true,
            transB: false,
            accumulate: dw.accumulate,
            dtype,
          },
          spanName(ctx, 'matmul.dw', `${K}x${N}x${M}`),
        );
      }
      if (dyo !== dy) ctx.release(dyo);
      const db = b && sink.target(b);
      if (db) encodeSumToShape(ctx, dy, db, spanName(ctx, 'bias.db', `${N}`));
    },
  });
  return y;
}
