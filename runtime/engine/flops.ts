/**
 * Achieved FLOP/s and model FLOPs utilisation (MFU, as in PaLM: the model's analytic
 * FLOPs per step over the step time, as a fraction of the hardware's peak; recomputation
 * and padding do not count).
 */

/** FLOP/s achieved by one rank: analytic FLOPs per step / step time. */
export function achievedFlopsPerSec(flopsPerStep: number, stepTimeNs: number): number {
  if (!(stepTimeNs > 0)) throw new Error(`stepTimeNs must be > 0, got ${stepTimeNs}`);
  return (flopsPerStep / stepTimeNs) * 1e9;
}

/** MFU in [0, 1]: achieved FLOP/s over `peakFlopsPerSec`. */
export function modelFlopsUtilization(flopsPerStep: number, stepTimeNs: number, peakFlopsPerSec: number): number {
  if (!(peakFlopsPerSec > 0)) throw new Error(`peakFlopsPerSec must be > 0, got ${peakFlopsPerSec}`);
  return achievedFlopsPerSec(flopsPerStep, stepTimeNs) / peakFlopsPerSec;
}
