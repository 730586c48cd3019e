/**
 * f32 → f16 conversion for the mixed-precision path: matmul operands are cast to f16
 * (halving their bytes, and on GPUs with fast f16 the multiply cost), while accumulation,
 * outputs, master weights and everything else stay f32. Values beyond the f16 range
 * become ±Inf, which the optimizer's non-finite check turns into a skipped step.
 */
import type { GpuContext } from '../context';
import { UniformWriter, grid1d } from '../context';
import { Tensor, shapeStr } from '../tensor';
import { INDEX_1D, spanName } from './graph';

const CAST_WGSL = `enable f16;
struct U { n: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f16>;
${INDEX_1D}
  if (i >= u.n) { return; }
  Y[i] = f16(X[i]);
}`;

/** Returns a pooled f16 copy of x (the caller releases it). */
export function castToF16(ctx: GpuContext, x: Tensor): Tensor {
  if (!ctx.f16) throw new Error("f16 needs the adapter feature 'shader-f16' on the device");
  const y = ctx.tensor(x.shape, 'f16');
  ctx.dispatch({
    name: spanName(ctx, 'cast.f16', shapeStr(x.shape)),
    pipeline: ctx.pipeline('cast:f16', CAST_WGSL),
    buffers: [x.binding(), y.binding()],
    uniform: new UniformWriter().u(x.size).build(),
    workgroups: grid1d(Math.ceil(x.size / 256)),
    bytes: x.size * 6,
  });
  return y;
}
