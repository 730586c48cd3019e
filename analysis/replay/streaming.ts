/**
 * The replay of Streaming DiLoCo's schedule (trace/streamingSchedule.ts defines the
 * fragments and their staggered syncs, shared with the strategy).
 */
import { fragmentShift, planFragments } from '../../trace/streamingSchedule';

export { fragmentShift, planFragments };

export interface StreamingPeriod {
  /** Mean step time over one steady-state period of H steps. */
  meanStepNs: number;
  /** Mean wait for syncs per step over that period (communication not hidden). */
  meanExposedNs: number;
  /** The period's step times, in order. */
  stepNs: number[];
}

/**
 * Replays the schedule with inner steps of `localStepNs` and fragment syncs of `syncNs[f]`
 * each, and returns a steady-state period (the third, after every fragment has synced at
 * least once and the link's queue has settled): the mean over whole periods is what a
 * measurement over whole periods sees.
 */
export function streamingPeriod(
  localStepNs: number,
  syncNs: number[],
  H: number,
  overlapSteps: number,
): StreamingPeriod {
  const F = syncNs.length;
  const periods = 4;
  const steps = periods * H;
  let t = 0;
  let linkFree = 0;
  const pending: { applyAt: number; doneNs: number }[] = [];
  const durs: number[] = [];
  const waits: number[] = [];
  for (let s = 0; s < steps; s++) {
    const start = t;
    t += localStepNs;
    const computed = t;
    for (let i = pending.length - 1; i >= 0; i--) {
      if (pending[i].applyAt > s) continue;
      t = Math.max(t, pending[i].doneNs);
      pending.splice(i, 1);
    }
    for (let f = 0; f < F; f++) {
      const k = s + 1 - fragmentShift(f, F, H);
      if (k <= 0 || k % H !== 0) continue;
      const begin = Math.max(t, linkFree);
      linkFree = begin + syncNs[f];
      if (overlapSteps === 0) t = linkFree;
      else pending.push({ applyAt: s + overlapSteps, doneNs: linkFree });
    }
    durs.push(t - start);
    waits.push(t - computed);
  }
  const from = (periods - 2) * H;
  const stepNs = durs.slice(from, from + H);
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  return { meanStepNs: mean(stepNs), meanExposedNs: mean(waits.slice(from, from + H)), stepNs };
}
