/**
 * How a job's analysis is kept in the parse cache (trace/kinetoJob.ts writeJobResult): the
 * analysis, with the collective instances as bytes of their own. A job of many ranks has tens of
 * thousands of instances (33,814 instances, 56,320 participants and 12 MB of the 21 MB entry on the
 * 1,024 × 10 MB job of bench:scale), and what a re-open shows first (the report) does not read
 * them: they are deserialised the first time `collectives.instances` is read (`--json`, the
 * viewer), in their place among the collectives' properties, so that the analysis reads and
 * prints as the one that was cached.
 */
import { deserialize, serialize } from 'node:v8';
import type { Analysis } from './index';

/** Shape of a cached job analysis; a change of it is a change of the analysing code, which keys the entry. */
interface CachedJob {
  analysis: Analysis;
  /** v8-serialised `analysis.collectives.instances` (the analysis holds null in their place), or absent. */
  instances?: Uint8Array;
}

/** What the job cache stores for `analysis`. */
export function jobCacheValue(analysis: Analysis): CachedJob {
  const c = analysis.collectives;
  if (!c) return { analysis };
  return {
    analysis: { ...analysis, collectives: { ...c, instances: null as unknown as typeof c.instances } },
    instances: serialize(c.instances),
  };
}

/** The analysis of a cached value (jobCacheValue); undefined when it is not one. */
export function analysisOfCacheValue(value: unknown): Analysis | undefined {
  if (typeof value !== 'object' || value === null || !('analysis' in value)) return undefined;
  const { analysis, instances } = value as CachedJob;
  const c = analysis?.collectives;
  if (c && instances instanceof Uint8Array) {
    // An accessor where the data property was keeps the property's place (JSON key order).
    Object.defineProperty(c, 'instances', {
      enumerable: true,
      configurable: true,
      get() {
        const list = deserialize(instances) as typeof c.instances;
        Object.defineProperty(c, 'instances', { value: list, writable: true, enumerable: true, configurable: true });
        return list;
      },
      set(list: typeof c.instances) {
        Object.defineProperty(c, 'instances', { value: list, writable: true, enumerable: true, configurable: true });
      },
    });
  } else if (c && c.instances === null) return undefined;
  return analysis;
}
