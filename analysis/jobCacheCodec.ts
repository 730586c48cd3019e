/**
 * How a job's analysis is kept in the parse cache (trace/kinetoJob.ts writeJobResult): the
 * analysis, with the collective instances as bytes of their own. A job of many ranks has tens of
 * thousands of instances (33,814 instances, 56,320 participants and 12 MB of the 21 MB entry on the
 * 1,024 × 10 MB job of bench:scale), and what a re-open shows first (the report) does not read
 * them: they are deserialised the first time `collectives.instances` is read (`--json`, the
 * viewer), in their place among the collectives' properties, so that the analysis reads and
 * prints as the one that was cached.
 *
 * Beside them the entry keeps the one figure of theirs that a re-opened panel shows, each rank's
 * collective wait per step (collectives.ts waitNsByRankAndStep, the heat map's second figure),
 * so that opening the job in the viewer does not read them either (1,024 ranks: ~70 ms and 13 MB
 * less on a re-open).
 */
import { deserialize, serialize } from 'node:v8';
import { waitNsByRankAndStep } from './collectives';
import type { Analysis } from './index';

/** Shape of a cached job analysis; a change of it is a change of the analysing code, which keys the entry. */
interface CachedJob {
  analysis: Analysis;
  /** v8-serialised `analysis.collectives.instances` (the analysis holds null in their place), or absent. */
  instances?: Uint8Array;
  /** waitNsByRankAndStep of the instances: rank, step, ns, rank, step, ns, ... */
  waits?: Float64Array;
}

/** The collective waits by rank and step of analyses read from the cache, made when the entry was. */
const cachedWaits = new WeakMap<Analysis, Map<number, Map<number, number>>>();

/**
 * Σ collective wait per rank and step of the analysis (collectives.ts waitNsByRankAndStep over
 * its instances); undefined when it has none. An analysis read from the job cache answers from
 * the figures kept in its entry, without reading its instances.
 */
export function collectiveWaitsOf(analysis: Analysis): Map<number, Map<number, number>> | undefined {
  const kept = cachedWaits.get(analysis);
  if (kept) return kept;
  const instances = (analysis as Partial<Analysis>).collectives?.instances;
  return instances ? waitNsByRankAndStep(instances) : undefined;
}

/** What the job cache stores for `analysis`. */
export function jobCacheValue(analysis: Analysis): CachedJob {
  const c = analysis.collectives;
  if (!c) return { analysis };
  const waits: number[] = [];
  for (const [rank, bySteps] of waitNsByRankAndStep(c.instances))
    for (const [step, ns] of bySteps) waits.push(rank, step, ns);
  return {
    analysis: { ...analysis, collectives: { ...c, instances: null as unknown as typeof c.instances } },
    instances: serialize(c.instances),
    waits: Float64Array.from(waits),
  };
}

/**
 * The analysis of a cached value (jobCacheValue); undefined when it is not one. `instances`: where
 * the instances' bytes are read from when the value does not hold them (the cache entry keeps them
 * apart, read only when they are asked for: trace/parseCache.ts readEntryParts).
 */
export function analysisOfCacheValue(value: unknown, instancesApart?: () => Uint8Array): Analysis | undefined {
  if (typeof value !== 'object' || value === null || !('analysis' in value)) return undefined;
  const { analysis, waits } = value as CachedJob;
  const held = (value as CachedJob).instances;
  const instances = held instanceof Uint8Array ? () => held : instancesApart;
  const c = analysis?.collectives;
  if (c && instances) {
    if (waits instanceof Float64Array && waits.length % 3 === 0) {
      const byRank = new Map<number, Map<number, number>>();
      for (let i = 0; i < waits.length; i += 3) {
        let bySteps = byRank.get(waits[i]);
        if (!bySteps) byRank.set(waits[i], (bySteps = new Map()));
        bySteps.set(waits[i + 1], waits[i + 2]);
      }
      cachedWaits.set(analysis, byRank);
    }
    // An accessor where the data property was keeps the property's place (JSON key order).
    Object.defineProperty(c, 'instances', {
      enumerable: true,
      configurable: true,
      get() {
        const list = deserialize(instances()) as typeof c.instances;
        Object.defineProperty(c, 'instances', { value: list, writable: true, enumerable: true, configurable: true });
        return list;
      },
      set(list: typeof c.instances) {
        cachedWaits.delete(analysis);
        Object.defineProperty(c, 'instances', { value: list, writable: true, enumerable: true, configurable: true });
      },
    });
  } else if (c && c.instances === null) return undefined;
  return analysis;
}
