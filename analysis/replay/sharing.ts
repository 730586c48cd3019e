/**
 * Ranks that share the machine's compute: on a software GPU (lavapipe) every rank's kernels run
 * on the same CPU cores, so a rank computes faster while the others are idle. The run's dispatch
 * probe measures how much (runtime/dispatchProbe.ts sharing: the same kernels on every rank at
 * once and on one rank alone, speed-up s); with one GPU per rank s is ~1 and nothing here
 * changes a prediction (below SHARING_MIN_SPEEDUP the ranks are taken not to share).
 *
 * The rule (processor sharing, interpolated between the two measured points): a unit of work
 * that takes 1 with all W ranks computing takes φ(k) = 1/s + (1 − 1/s)·(k − 1)/(W − 1) with k of
 * them computing, i.e. its time grows linearly with the number of ranks it shares the cores with,
 * from 1/s alone to 1 with all W.
 */

import { unionOf } from '../intervals';

/**
 * Whether the layout model prices the sharing (whatIf.ts measuredRunOf attaches it to the
 * measured run). Off from 2026-12-04 (on 2 lavapipe ranks at load 3–8.6 it made the PP rows'
 * errors larger), on again from 2026-12-05: with the host time per pass priced from the
 * baseline since then, eleven gpt-mini PP 2 GPipe runs (m2, m4, m8) beside their DDP baselines
 * on the quiet machine read a median step error of ~10 % priced against ~36 % not, the
 * unpriced model over-predicting every one; under two busy threads the probe's figure falls
 * (below SHARING_MIN_SPEEDUP in one set of two, pricing nothing) and the rows split either way
 * (docs/benchmarks.md).
 */
export const PRICE_SHARING = true;

/** Below this measured speed-up of a rank alone the ranks are taken not to share (the probe's noise on separate GPUs). */
export const SHARING_MIN_SPEEDUP = 1.1;

/** The measured speed-up of a rank alone when it shows sharing, else undefined (the model then changes nothing). */
export function sharingSpeedupOf(measured: number | undefined): number | undefined {
  return measured !== undefined && Number.isFinite(measured) && measured >= SHARING_MIN_SPEEDUP ? measured : undefined;
}

/** φ(k): the time of a unit of work with k of `world` ranks computing, relative to all of them (see the file's comment). */
export function sharedTimeFactor(k: number, world: number, speedup: number): number {
  if (world <= 1 || speedup <= 1) return 1;
  const ranks = Math.min(world, Math.max(1, k));
  return 1 / speedup + ((1 - 1 / speedup) * (ranks - 1)) / (world - 1);
}

/**
 * The mean φ over the ranks' kernel time, from each rank's kernel intervals ([start, end) ns):
 * what the run's measured compute was priced at, relative to all ranks computing at once
 * (1 when they always computed together, 1/s when never). A rank's overlapping intervals count once.
 */
export function measuredSharingFactor(intervalsByRank: [number, number][][], world: number, speedup: number): number {
  const events: { t: number; d: number }[] = [];
  for (const intervals of intervalsByRank) {
    const u = unionOf(intervals);
    for (let i = 0; i < u.starts.length; i++) events.push({ t: u.starts[i], d: 1 }, { t: u.ends[i], d: -1 });
  }
  events.sort((x, y) => x.t - y.t || x.d - y.d);
  let k = 0,
    last = 0,
    busy = 0,
    priced = 0;
  for (const e of events) {
    if (k > 0 && e.t > last) {
      busy += k * (e.t - last);
      priced += k * (e.t - last) * sharedTimeFactor(k, world, speedup);
    }
    k += e.d;
    last = e.t;
  }
  return busy > 0 ? priced / busy : 1;
}
