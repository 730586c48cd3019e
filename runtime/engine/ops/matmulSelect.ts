/**
 * Picks a matmul variant for an adapter and shape.
 *
 * Software adapters (lavapipe): invocations are SIMD lanes of a CPU core, and what costs
 * is loading operands: a storage-buffer load at a per-lane address is a bounds check, a
 * branch and a scalar load per lane and component, while a texture fetch is vectorised.
 * Large products therefore pack their operands into textures (tex8x8: ~2.5–4× the
 * workgroup-tiled kernel at n = 1024); smaller ones use the register-blocked vec4 kernel
 * without workgroup memory (8-row blocks spill and lose; 16×16 workgroups were neither
 * clearly better nor worse). The scalar 4×4 kernel covers dims that are not multiples of 4.
 * GPUs: the workgroup-memory tiled kernel once both output dims fill a 64×64 tile; the
 * vec4 register kernel for skinny products, where a 64-wide tile would idle.
 */
import type { GpuContext } from '../context';
import { MatmulShape, MatmulVariant, variantById } from './matmulKernels';

/**
 * Below this many FLOPs the texture variant loses: its two extra pack dispatches and its
 * 64×64 tiles cost more than it saves (bench:kernels step table: a 256×1024×1024 MLP step
 * 1.2× faster with it, gpt-mini's 4–67 MFLOP products 1.0–1.2× slower).
 */
export const TEXTURE_MIN_FLOPS = 1e8;

export function chooseMatmulVariant(ctx: GpuContext, shape: MatmulShape, _dtype: 'f32' | 'f16'): MatmulVariant {
  if (ctx.adapterClass === 'gpu' && shape.M >= 64 && shape.N >= 64) return variantById('tiled64');
  const tex = variantById('tex8x8');
  if (ctx.adapterClass === 'cpu' && 2 * shape.M * shape.N * shape.K >= TEXTURE_MIN_FLOPS && tex.supports(shape))
    return tex;
  const v4 = variantById('v4r4');
  return v4.supports(shape) ? v4 : variantById('rb4x4');
}
