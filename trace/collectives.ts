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
