/**
 * What the machine's other programs took while a CommLens run was measured: the run's "other
 * programs CPU busy" counter (runtime/runTrace.ts), sampled at each step's start on rank 0, read
 * over the steady steps. On a software GPU (lavapipe) they take the cores the ranks' kernels run
 * on, so the run's step times, and a speed-up measured against it, carry their load
 * (docs/benchmarks.md, issue #19).
 */
import type { TraceModel } from '../trace/model';
import { OTHER_CPU_COUNTER } from '../trace/runCounters';
import { median } from '../trace/stats';
import type { RankView } from './rankView';

/** From this median (cores), the analysis says in a note that other programs were busy. */
export const OTHER_PROGRAMS_NOTE_CORES = 0.25;

/**
 * The median over `steadySteps` of the cores the machine's other programs used, from the counter
 * sampled at each of rank `view`'s steps' start (OTHER_CPU_COUNTER, or `counter`: the same split
 * by whether rank 0 waited, trace/runCounters.ts); undefined when the trace has no such counter (a
 * run before it, an imported trace) or none of its samples falls on a steady step.
 */
export function otherProgramsCores(
  model: TraceModel,
  view: RankView | undefined,
  steadySteps: readonly number[],
  counter: string = OTHER_CPU_COUNTER,
): number | undefined {
  if (!view) return undefined;
  const track = model.tracks.findIndex((t) => t.name === counter && t.pid === view.pid);
  if (track < 0) return undefined;
  const series = model.counters.find((c) => c.track === track);
  if (!series) return undefined;
  const steady = new Set(steadySteps);
  const values: number[] = [];
  // One walk over both: the view's steps are in start order (rankView.ts), the samples in time
  // order (one per step, appended as the steps end). A step's sample is the first at or after its
  // start, before its end.
  const { tsNs } = series;
  let i = 0;
  for (const w of view.steps) {
    while (i < tsNs.length && tsNs[i] < w.startNs) i++;
    if (i < tsNs.length && tsNs[i] < w.endNs && steady.has(w.step)) values.push(series.values[i]);
  }
  return values.length > 0 ? median(values) : undefined;
}

/** The note for a run measured beside busy programs, or undefined below OTHER_PROGRAMS_NOTE_CORES. */
export function otherProgramsNote(cores: number | undefined): string | undefined {
  if (cores === undefined || !(cores >= OTHER_PROGRAMS_NOTE_CORES)) return undefined;
  return `other programs on this machine used ${cores.toFixed(2)} cores (median over the steady steps) while this run was measured: on a software GPU they take the cores its kernels run on, so its step times, and a speed-up measured against it, are slower and noisier than on a quiet machine (the '${OTHER_CPU_COUNTER}' counter, per step)`;
}

/**
 * verify's line on the load beside its runs: the median over each side's runs of the cores other
 * programs used (each run's `otherProgramsCores`); undefined when neither side reaches
 * OTHER_PROGRAMS_NOTE_CORES or no run recorded it.
 */
export function otherProgramsVerifyLine(
  baselineRuns: readonly (number | undefined)[],
  changedRuns: readonly (number | undefined)[],
): string | undefined {
  const side = (xs: readonly (number | undefined)[]) => {
    const known = xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
    return known.length > 0 ? median(known) : undefined;
  };
  const b = side(baselineRuns);
  const c = side(changedRuns);
  if (!((b ?? 0) >= OTHER_PROGRAMS_NOTE_CORES || (c ?? 0) >= OTHER_PROGRAMS_NOTE_CORES)) return undefined;
  const cores = (v: number | undefined) => (v === undefined ? 'not recorded' : `${v.toFixed(2)} cores`);
  return `load: other programs used ${cores(b)} beside the baseline and ${cores(c)} beside the re-run (median over the runs): on a software GPU they slow both sides, not by the same factor (they slow a run's CPU-bound time, not its time on the wire, so the side with more of its step on the CPU loses more), so the measured speed-up differs from a quiet machine's`;
}
