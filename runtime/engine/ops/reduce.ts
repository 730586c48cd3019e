/**
 * Full reductions (sum, sum of squares) in two stages: up to 256 workgroups each reduce a
 * grid-strided slice in workgroup memory, then one workgroup reduces their partials.
 */
import type { GpuContext } from '../context';
import { UniformWriter } from '../context';
import { spanName } from './graph';

const REDUCE_WGSL = (square: boolean) => `struct U { n: u32, scale: f32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
var<workgroup> sh: array<f32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  let stride = nwg.x * 256u;
  for (var i = wid.x * 256u + lid; i < u.n; i += stride) {
    let v = X[i];
    s += ${square ? 'v * v' : 'v'};
  }
  sh[lid] = s;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w = w >> 1u) {
    if (lid < w) { sh[lid] += sh[lid + w]; }
    workgroupBarrier();
  }
  if (lid == 0u) { Y[wid.x] = sh[0] * u.scale; }
}`;

/**
 * out[0] = scale · Σ x (or Σ x² when `square`), over `count` elements of x (default all).
 * `out` must hold one f32; the partials buffer comes from the pool.
 */
export function encodeReduce(
  ctx: GpuContext,
  x: GPUBufferBinding,
  count: number,
  out: GPUBufferBinding,
  opts: { square?: boolean; scale?: number; label: string },
): void {
  const square = opts.square ?? false;
  const groups = Math.min(256, Math.max(1, Math.ceil(count / (256 * 8))));
  const name = spanName(ctx, opts.label, `${count}`);
  if (groups === 1) {
    ctx.dispatch({
      name,
      pipeline: ctx.pipeline(`reduce:${square}`, REDUCE_WGSL(square)),
      buffers: [x, out],
      uniform: new UniformWriter()
        .u(count)
        .f(opts.scale ?? 1)
        .build(),
      workgroups: [1],
      flops: count * (square ? 2 : 1),
      bytes: count * 4,
    });
    return;
  }
  const partials = ctx.pool.acquire(groups * 4);
  const pb: GPUBufferBinding = { buffer: partials.gpu, offset: 0, size: groups * 4 };
  ctx.dispatch({
    name,
    pipeline: ctx.pipeline(`reduce:${square}`, REDUCE_WGSL(square)),
    buffers: [x, pb],
    uniform: new UniformWriter().u(count).f(1).build(),
    workgroups: [groups],
    flops: count * (square ? 2 : 1),
    bytes: count * 4,
  });
  ctx.dispatch({
    name: name + ' (partials)',
    pipeline: ctx.pipeline('reduce:false', REDUCE_WGSL(false)),
    buffers: [pb, out],
    uniform: new UniformWriter()
      .u(groups)
      .f(opts.scale ?? 1)
      .build(),
    workgroups: [1],
    flops: groups,
    bytes: groups * 4,
  });
  ctx.pool.release(partials);
}
