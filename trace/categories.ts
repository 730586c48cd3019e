/**
 * Mapping a producer's own slice category (and name) onto the model's SliceCategory.
 * Shared by the Perfetto and Chrome JSON importers; the Kineto importer has its own,
 * richer rules.
 */
import type { SliceCategory } from './model';

const KNOWN: ReadonlySet<string> = new Set([
  'kernel',
  'collective',
  'memcpy',
  'memset',
  'staging',
  'wait',
  'step',
  'cpu_op',
  'runtime',
  'host',
]);

/** True when `c` is already one of the model's categories. */
export function isSliceCategory(c: string): c is SliceCategory {
  return KNOWN.has(c);
}

/**
 * The model category of a slice from another producer: its own category when that is
 * already a model category, else by well-known names (NCCL kernels and collective op
 * names are `collective`; `ProfilerStep#N` is `step`; Memcpy/Memset; CUDA runtime calls;
 * GPU kernels), else `host`.
 */
export function mapCategory(raw: string | undefined, name: string): SliceCategory {
  const r = (raw ?? '').toLowerCase();
  if (isSliceCategory(r)) return r;
  const n = name.toLowerCase();
  if (
    /nccl|all_?reduce|reduce_?scatter|all_?gather|broadcast|all_?to_?all|sendrecv/.test(n) ||
    r.includes('nccl') ||
    r.includes('collective')
  )
    return 'collective';
  if (n.startsWith('profilerstep') || r === 'step') return 'step';
  if (r.includes('memcpy') || n.startsWith('memcpy')) return 'memcpy';
  if (r.includes('memset') || n.startsWith('memset')) return 'memset';
  if (r === 'cuda_runtime' || r === 'cuda_driver' || r === 'runtime') return 'runtime';
  if (r === 'cpu_op' || r === 'user_annotation' || r === 'python_function') return r === 'cpu_op' ? 'cpu_op' : 'host';
  if (r.includes('kernel') || r === 'gpu') return 'kernel';
  return 'host';
}
