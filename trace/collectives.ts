/**
 * Definitions about collectives that the runtime (which measures them) and the analysis
 * (which reads them back from traces) must share exactly.
 */

/**
 * nccl-tests' bus-bandwidth factor (doc/PERFORMANCE.md): busbw = algbw × factor, which
 * makes busbw comparable to a link's peak. All-reduce 2(n−1)/n; reduce-scatter,
 * all-gather, all-to-all (n−1)/n; broadcast, reduce, send/recv 1. It is also the number
 * of bytes each rank puts on the wire per byte of buffer, so a group of one moves
 * nothing (0) for the four data-moving collectives.
 */
export function busBandwidthFactor(op: string, n: number): number {
  switch (op) {
    case 'allReduce':
      return n <= 1 ? 0 : (2 * (n - 1)) / n;
    case 'reduceScatter':
    case 'allGather':
    case 'allToAll':
      return n <= 1 ? 0 : (n - 1) / n;
    default:
      return 1;
  }
}

/**
 * The one definition of a collective's times and bandwidths (docs/figures.md), as
 * nccl-tests measure them: its **wait** is the time a rank spent in it while a peer had not
 * yet arrived; its **transfer** time is the rest of its span (moving and reducing data);
 * **algbw** = S / transfer time and **busbw** = algbw × busBandwidthFactor(op, n), so that
 * waiting for a late peer never lowers a bandwidth. Across ranks (analysis/collectives.ts)
 * the transfer is the shortest participant's span (the last to arrive waits for no one)
 * and each rank's wait is its excess over it.
 */
export function collectiveBandwidth(
  op: string,
  bytes: number,
  transferNs: number,
  n: number,
): { algbwGBps: number; busbwGBps: number } {
  const algbwGBps = transferNs > 0 ? bytes / transferNs : 0;
  return { algbwGBps, busbwGBps: algbwGBps * busBandwidthFactor(op, n) };
}
