/**
 * Memory of the model states per rank under ZeRO (Rajbhandari et al., arXiv 1910.02054).
 */

/** `mixed`: fp16 params and grads + fp32 Adam states (2 + 2 + 12 bytes per parameter); `fp32`: 4 + 4 + 8. */
export type Precision = 'mixed' | 'fp32';

/**
 * Bytes of parameters, gradients and optimizer states per rank for Ψ parameters over N
 * data-parallel ranks: stage 0 (DDP) P + G + O; stage 1 P + G + O/N; stage 2 P + (G + O)/N;
 * stage 3 (P + G + O)/N. With mixed precision (K = 12) this is 16Ψ, 4Ψ + 12Ψ/N, 2Ψ + 14Ψ/N, 16Ψ/N.
 */
export function modelStatesBytes(psi: number, stage: number, n: number, precision: Precision): number {
  const [p, g, o] = precision === 'mixed' ? [2, 2, 12] : [4, 4, 8];
  const N = Math.max(1, n);
  switch (stage) {
    case 1:
      return psi * (p + g + o / N);
    case 2:
      return psi * (p + (g + o) / N);
    case 3:
      return (psi * (p + g + o)) / N;
    default:
      return psi * (p + g + o);
  }
}
