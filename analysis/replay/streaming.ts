/**
 * The replay of DiLoCo's and Streaming DiLoCo's synchronisation (trace/streamingSchedule.ts
 * defines the fragments and their staggered syncs, shared with the strategy): each
 * fragment's all-reduce on the link, and the outer step's host work around it — copies of
 * the fragment between GPU and host and the outer step's loops — which block the inner steps
 * that start and merge the sync.
 */
import { fragmentShift, planFragments } from '../../trace/streamingSchedule';

export { fragmentShift, planFragments };

export interface StreamingPeriod {
  /** Mean step time over one steady-state period of H steps. */
  meanStepNs: number;
  /** Mean wait for syncs per step over that period (communication not hidden). */
  meanExposedNs: number;
  /** Mean host work of the syncs per step over that period (FragmentSync startNs + applyNs). */
  meanHostNs: number;
  /** The period's step times, in order. */
  stepNs: number[];
}

/**
 * One fragment's sync as the strategy runs it (runtime/strategies/localUpdates.ts): host
 * work that blocks the step that starts it (reading the fragment, forming the outer
 * gradient), the all-reduce on the link, and host work that blocks the step that merges the
 * result (the outer step, copies to and from the GPU).
 */
export interface FragmentSync {
  startNs: number;
  wireNs: number;
  applyNs: number;
}

/**
 * Replays the schedule with inner steps of `localStepNs` and fragment syncs `syncs[f]` (a
 * number: an all-reduce of that length and no host work), and returns a steady-state period
 * (the third, after every fragment has synced at least once and the link's queue has
 * settled): the mean over whole periods is what a measurement over whole periods sees. At
 * the end of a step, merges due first, then the syncs that start; `overlapSteps` = 0 waits
 * for each sync and merges it in the step that starts it (DiLoCo: one fragment).
 */
export function streamingPeriod(
  localStepNs: number,
  syncs: readonly (number | FragmentSync)[],
  H: number,
  overlapSteps: number,
  drift?: RankDrift,
): StreamingPeriod {
  const F = syncs.length;
  // Steps since the last sync started (the ranks start aligned).
  let lastSync = 0;
  const sync = syncs.map((x) => (typeof x === 'number' ? { startNs: 0, wireNs: x, applyNs: 0 } : x));
  const periods = 4;
  const steps = periods * H;
  let t = 0;
  let linkFree = 0;
  const pending: { applyAt: number; doneNs: number; applyNs: number }[] = [];
  const durs: number[] = [];
  const waits: number[] = [];
  const hosts: number[] = [];
  for (let s = 0; s < steps; s++) {
    const start = t;
    t += localStepNs;
    let wait = 0;
    let host = 0;
    for (let i = 0; i < pending.length; i++) {
      const p = pending[i];
      if (p.applyAt > s) continue;
      wait += Math.max(0, p.doneNs - t);
      t = Math.max(t, p.doneNs) + p.applyNs;
      host += p.applyNs;
      pending.splice(i--, 1);
    }
    for (let f = 0; f < F; f++) {
      const k = s + 1 - fragmentShift(f, F, H);
      if (k <= 0 || k % H !== 0) continue;
      t += sync[f].startNs;
      host += sync[f].startNs;
      // The all-reduce starts once the last rank reaches it (driftLagNs: how long after a rank, on average).
      const lag = drift ? driftLagNs(drift, s + 1 - lastSync) : 0;
      lastSync = s + 1;
      const begin = Math.max(t + lag, linkFree);
      linkFree = begin + sync[f].wireNs;
      if (overlapSteps === 0) {
        wait += linkFree - t;
        t = linkFree + sync[f].applyNs;
        host += sync[f].applyNs;
      } else pending.push({ applyAt: s + overlapSteps, doneNs: linkFree, applyNs: sync[f].applyNs });
    }
    durs.push(t - start);
    waits.push(wait);
    hosts.push(host);
  }
  const from = (periods - 2) * H;
  const stepNs = durs.slice(from, from + H);
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    meanStepNs: mean(stepNs),
    meanExposedNs: mean(waits.slice(from, from + H)),
    meanHostNs: mean(hosts.slice(from, from + H)),
    stepNs,
  };
}

/**
 * How the ranks' step times vary: between two syncs each rank runs its inner steps alone, so
 * they drift apart, and a sync's all-reduce starts when the last of them gets there. Each
 * rank's step time varies from step to step by `stepSigmaNs` (a standard deviation, measured
 * over the replayed steps, whatIf.ts stepTimeSpread); over k steps a rank's sum varies by
 * σ·√k, and the last of W ranks arrives E[max of W standard normals]·σ·√k after the mean.
 */
export interface RankDrift {
  stepSigmaNs: number;
  ranks: number;
}

/** How long after a rank (on average) the last of the ranks reaches a sync `steps` steps after the last one. */
export function driftLagNs(d: RankDrift, steps: number): number {
  if (d.ranks < 2 || steps <= 0 || !(d.stepSigmaNs > 0)) return 0;
  return d.stepSigmaNs * Math.sqrt(steps) * expectedMaxOfNormals(d.ranks);
}

/**
 * E[max of n independent standard normal variables] (0 for n = 1; 0.564 for 2, 1.029 for 4,
 * 1.424 for 8, 3.25 for 1,024): ∫ x·n·φ(x)·Φ(x)^(n−1) dx by the trapezoid rule over [−10, 10],
 * Φ accumulated from φ on the same grid.
 */
export function expectedMaxOfNormals(n: number): number {
  if (n <= 1) return 0;
  const known = expectedMaxCache.get(n);
  if (known !== undefined) return known;
  const value = integrateExpectedMax(n);
  expectedMaxCache.set(n, value);
  return value;
}

/** The integral above, computed once per rank count (8,001 points: ~0.6 ms a call here, and the replay asks for it per what-if). */
const expectedMaxCache = new Map<number, number>();

function integrateExpectedMax(n: number): number {
  const lo = -10,
    steps = 8000;
  const dx = 20 / steps;
  const pdf = (x: number) => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
  let cdf = 0,
    sum = 0,
    prev = 0;
  for (let k = 0; k <= steps; k++) {
    const x = lo + k * dx;
    const p = pdf(x);
    if (k > 0) cdf += ((prev + p) / 2) * dx;
    prev = p;
    const w = k === 0 || k === steps ? 0.5 : 1;
    sum += w * x * n * p * Math.pow(Math.min(1, cdf), n - 1);
  }
  return sum * dx;
}

/** What the host work of an outer step costs on the machine the run was measured on. */
export interface OuterStepCosts {
  /** A copy of `bytes` GPU → host (reading a fragment), host → GPU (writing it back). */
  d2hNs: (bytes: number) => number;
  h2dNs: (bytes: number) => number;
  /** The outer step's host loops, bytes of f32 parameters per ns, at the rank's share of a core. */
  gradientBytesPerNs: number;
  nesterovBytesPerNs: number;
  mixBytesPerNs: number;
}

/**
 * The host work of one fragment's sync of `bytes` (f32 parameters), as the strategy does it:
 * at the start, read the fragment and form the outer gradient; at the merge, the Nesterov
 * step, then (Streaming DiLoCo with overlap: the parameters moved on meanwhile) read the
 * fragment again and mix it with the global copy, and write it back.
 */
export function fragmentHostWork(
  bytes: number,
  c: OuterStepCosts,
  mergesIntoMovedParameters: boolean,
): { startNs: number; applyNs: number; copiesNs: number; loopsNs: number } {
  const startCopy = c.d2hNs(bytes);
  const startLoop = bytes / c.gradientBytesPerNs;
  const applyCopies = (mergesIntoMovedParameters ? c.d2hNs(bytes) : 0) + c.h2dNs(bytes);
  const applyLoops = bytes / c.nesterovBytesPerNs + (mergesIntoMovedParameters ? bytes / c.mixBytesPerNs : 0);
  return {
    startNs: startCopy + startLoop,
    applyNs: applyCopies + applyLoops,
    copiesNs: startCopy + applyCopies,
    loopsNs: startLoop + applyLoops,
  };
}
