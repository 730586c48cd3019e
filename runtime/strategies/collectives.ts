/**
 * The collectives the strategies need, as one small promise-based interface. The real
 * implementation wraps runtime/comm's Communicator (commCollectives.ts); unit tests use an
 * in-process group. Every call is a collective: all ranks call it in the same order.
 */

export type ReduceOp = 'sum' | 'avg' | 'max';

export interface Collectives {
  readonly rank: number;
  readonly worldSize: number;
  /** In-place all-reduce of f32 values. */
  allReduceF32(data: Float32Array, op: ReduceOp): Promise<void>;
  /** In-place all-reduce of fp16 values (bit patterns), reduced in half precision. */
  allReduceF16(bits: Uint16Array, op: ReduceOp): Promise<void>;
  /**
   * Gathers every rank's equally sized `mine`, in rank order. With `out` (worldSize × mine's
   * length), the result is written there and `out` is returned: a caller that exchanges every
   * step keeps one buffer instead of faulting in a fresh one each time.
   */
  allGatherBytes(mine: Uint8Array, out?: Uint8Array): Promise<Uint8Array>;
  allGatherF32(mine: Float32Array): Promise<Float32Array>;
  /**
   * `send` holds worldSize equal blocks, block j for rank j; the result's block i came from
   * rank i. With `out` (send's length), the result is written there and `out` is returned.
   */
  allToAllBytes(send: Uint8Array, out?: Uint8Array): Promise<Uint8Array>;
  /** `data.length` must divide by worldSize; returns this rank's reduced block. */
  reduceScatterF32(data: Float32Array, op: ReduceOp): Promise<Float32Array>;
}

/** Length of each rank's shard when `n` values are split over `worldSize` ranks (the last shard is padded). */
export function shardLength(n: number, worldSize: number): number {
  return Math.ceil(n / worldSize);
}
