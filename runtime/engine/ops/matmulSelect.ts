/**
 * Picks a matmul variant for an adapter and shape.
 *
 * Software adapters (lavapipe): invocations are SIMD lanes of a CPU core, workgroup
 * memory is plain memory plus barriers, and 16 vector registers hold a 4×4 accumulator
 * block per lane: register-blocked vec4 kernels without workgroup memory win (bench:kernels
 * measures ~2.3–3.5× over the workgroup-tiled kernel there; 8-row blocks spill and lose).
 * A 16×16 workgroup covers a 64×64 output tile, which halves the operand bytes streamed
 * per output compared with 8×8 workgroups: it is the better choice once both output dims
 * fill that tile (large products are cache-bound on a CPU), the 8×8 one for skinny
 * products where a 64-wide tile would idle. The scalar 4×4 kernel covers dims that are not
 * multiples of 4.
 * GPUs: the workgroup-memory tiled kernel once both output dims fill a 64×64 tile; the
 * vec4 register kernel for skinny products.
 */
import type { GpuContext } from '../context';
import { MatmulShape, MatmulVariant, variantById } from './matmulKernels';

export function chooseMatmulVariant(ctx: GpuContext, shape: MatmulShape, _dtype: 'f32' | 'f16'): MatmulVariant {
  const big = shape.M >= 64 && shape.N >= 64;
  if (ctx.adapterClass === 'gpu' && big) return variantById('tiled64');
  const v4 = variantById(big && ctx.adapterClass === 'cpu' ? 'v4r4w16x16' : 'v4r4');
  return v4.supports(shape) ? v4 : variantById('rb4x4');
}
