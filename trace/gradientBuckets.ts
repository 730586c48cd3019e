/**
 * Gradient buckets as PyTorch DDP forms them: whole layers, taken in reverse layer order
 * (the order backward produces gradients), closed when the next layer would push the
 * bucket past its cap. The first bucket has a small cap of its own so that the first
 * all-reduce starts early in backward. Because layers are contiguous ranges of the flat
 * gradient buffer, a bucket of consecutive layers is a contiguous range too. The runtime
 * buckets with it (runtime/strategies/buckets.ts) and the what-if replay rebuckets a
 * CommLens run's gradients with it (analysis/replay/transforms.ts rebucket).
 */

export interface LayerRange {
  name: string;
  paramOffset: number;
  paramCount: number;
}

export interface Bucket {
  index: number;
  /** First element of the bucket in the flat buffer. */
  offset: number;
  /** Number of f32 elements. */
  length: number;
  /** Layer indices in the bucket, in the order backward finishes them (descending). */
  layers: number[];
}

export const MIB = 1024 * 1024;
/** PyTorch DDP defaults: `bucket_cap_mb` = 25 and a first bucket of 1 MiB. */
export const DEFAULT_BUCKET_CAP_MB = 25;
export const DEFAULT_FIRST_BUCKET_CAP_MB = 1;

/** Plans buckets over `layers` (forward order) with caps in bytes of f32 gradients. */
export function planBuckets(layers: readonly LayerRange[], capBytes: number, firstCapBytes: number): Bucket[] {
  const buckets: Bucket[] = [];
  let current: number[] = [];
  let bytes = 0;
  const close = (): void => {
    if (current.length === 0) return;
    const lo = Math.min(...current.map((i) => layers[i].paramOffset));
    const hi = Math.max(...current.map((i) => layers[i].paramOffset + layers[i].paramCount));
    buckets.push({ index: buckets.length, offset: lo, length: hi - lo, layers: current });
    current = [];
    bytes = 0;
  };
  for (let i = layers.length - 1; i >= 0; i--) {
    const layerBytes = layers[i].paramCount * 4;
    const cap = buckets.length === 0 ? firstCapBytes : capBytes;
    if (current.length > 0 && bytes + layerBytes > cap) close();
    current.push(i);
    bytes += layerBytes;
    if (bytes >= (buckets.length === 0 ? firstCapBytes : capBytes)) close();
  }
  close();
  return buckets;
}
