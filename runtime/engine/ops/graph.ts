/** What every op needs: the GPU context to encode on and the tape to record on. */
import type { GpuContext } from '../context';
import type { Tape } from '../tape';
import type { Tensor } from '../tensor';

export interface Graph {
  ctx: GpuContext;
  tape: Tape;
}

/** `fwd` / `bwd` / `opt` as span names use them. */
export function phaseTag(ctx: GpuContext): string {
  return ctx.phase === 'forward'
    ? 'fwd'
    : ctx.phase === 'backward'
      ? 'bwd'
      : ctx.phase === 'optimizer'
        ? 'opt'
        : 'other';
}

/** `matmul 64x128x32 fwd layer1.fc` */
export function spanName(ctx: GpuContext, op: string, dims: string): string {
  return `${op} ${dims} ${phaseTag(ctx)}${ctx.scope ? ' ' + ctx.scope : ''}`;
}

export function sameShape(a: Tensor, b: Tensor): boolean {
  return a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
}

/** WGSL preamble for 1-D element kernels dispatched with grid1d(ceil(n/256)). */
export const INDEX_1D = `
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;`;
