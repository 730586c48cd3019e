/**
 * Gradient buckets of the data-parallel strategies: DDP's plan (trace/gradientBuckets.ts,
 * shared with the what-if replay), and the whole model as one bucket.
 */
export {
  planBuckets,
  MIB,
  DEFAULT_BUCKET_CAP_MB,
  DEFAULT_FIRST_BUCKET_CAP_MB,
  type Bucket,
  type LayerRange,
} from '../../trace/gradientBuckets';
import type { Bucket, LayerRange } from '../../trace/gradientBuckets';

/** The whole model as one bucket (the DDP baseline's single all-reduce). */
export function singleBucket(layers: readonly LayerRange[]): Bucket[] {
  if (layers.length === 0) return [];
  const lo = Math.min(...layers.map((l) => l.paramOffset));
  const hi = Math.max(...layers.map((l) => l.paramOffset + l.paramCount));
  return [{ index: 0, offset: lo, length: hi - lo, layers: layers.map((_, i) => i).reverse() }];
}
