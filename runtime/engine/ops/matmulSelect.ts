/**
 * Picks a matmul variant for an adapter and shape.
 *
 * Software adapters (lavapipe): invocations are SIMD lanes of a CPU core, workgroup
 * memory is plain memory plus barriers, and 16 vector registers hold a 4×4 accumulator
 * block per lane: the register-blocked vec4 kernel without workgroup memory wins
 * (bench:kernels measures ~2.2–2.5× over the workgroup-tiled kernel at n = 1024; 8-row
 * blocks spill and lose; 16×16 workgroups were neither clearly better nor worse across
 * runs). The scalar 4×4 kernel covers dims that are not multiples of 4.
 * GPUs: the workgroup-memory tiled kernel once both output dims fill a 64×64 tile; the
 * vec4 register kernel for skinny products, where a 64-wide tile would idle.
 */
import type { GpuContext } from '../context';
import { MatmulShape, MatmulVariant, variantById } from './matmulKernels';

export function chooseMatmulVariant(ctx: GpuContext, shape: MatmulShape, _dtype: 'f32' | 'f16'): MatmulVariant {
  if (ctx.adapterClass === 'gpu' && shape.M >= 64 && shape.N >= 64) return variantById('tiled64');
  const v4 = variantById('v4r4');
  return v4.supports(shape) ? v4 : variantById('rb4x4');
}
