/**
 * Picks a matmul variant for an adapter and shape.
 */
import type { GpuContext } from '../context';
import { MATMUL_VARIANTS, MatmulShape, MatmulVariant } from './matmulKernels';

export function chooseMatmulVariant(_ctx: GpuContext, shape: MatmulShape, _dtype: 'f32' | 'f16'): MatmulVariant {
  return MATMUL_VARIANTS.find((v) => v.supports(shape)) ?? MATMUL_VARIANTS[0];
}
