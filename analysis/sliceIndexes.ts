/**
 * The analysis' links to spans — `sliceIndex`, `sliceIndexes` and `evidenceSlices` (SCHEMA.md),
 * indexes into the analysed model's slices — moved into another model's terms. `analyze` of a
 * Kineto job analyses a reduced model of each rank (trace/kinetoJob.ts) and gives its links in
 * the terms of the model the importer makes of the whole files, the one the viewer opens.
 */
import type { Analysis } from './types';

const LINK_KEYS = new Set(['sliceIndex', 'sliceIndexes', 'evidenceSlices']);

/** Rewrites every slice link of `a` (in place) through `to`; each object or array is rewritten once, however often it is shared. */
export function mapSliceIndexes(a: Analysis, to: (index: number) => number): Analysis {
  const seen = new WeakSet<object>();
  const mapped = new WeakSet<unknown[]>();
  const visit = (v: unknown): void => {
    if (typeof v !== 'object' || v === null || seen.has(v)) return;
    seen.add(v);
    if (Array.isArray(v)) {
      for (const x of v) visit(x);
      return;
    }
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      const x = o[k];
      if (LINK_KEYS.has(k)) {
        if (typeof x === 'number') o[k] = to(x);
        else if (Array.isArray(x) && !mapped.has(x)) {
          mapped.add(x);
          for (let i = 0; i < x.length; i++) if (typeof x[i] === 'number') x[i] = to(x[i] as number);
        }
      } else visit(x);
    }
  };
  visit(a);
  return a;
}
