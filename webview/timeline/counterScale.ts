/**
 * The vertical scale of a counter track (pure, no DOM). Warm-up steps (trace/warmup.ts) can
 * take a thousand times a steady-state step (pipeline compilation on a software rasterizer):
 * scaled to them, the step-time counter is a flat line along the bottom for the whole steady
 * state. So a counter of time or bytes (warmupInflates) whose warm-up samples would stretch
 * its scale by more than WARMUP_SCALE_FACTOR is scaled to its steady-state samples; warm-up samples beyond that
 * scale are drawn clipped at its edge with a marker, the label says "steady-state scale" and
 * the tooltip gives their value.
 */
import { formatWithUnit } from '../../trace/format';
import { warmupStepCount } from '../../trace/warmup';

/** A counter is scaled to its steady state when its warm-up samples would make its range more than this many times wider. */
export const WARMUP_SCALE_FACTOR = 1.5;

export interface CounterScale {
  /** Value at the bottom of the track. */
  lo: number;
  /** Value at the top of the track. */
  hi: number;
  /** True when the scale is the steady-state samples' only: warm-up samples may lie beyond it. */
  steadyState: boolean;
}

/** One counter series: sample times and values (a step function: each value holds until the next sample). */
export interface SampleSeries {
  ts: ArrayLike<number>;
  values: ArrayLike<number>;
}

/** The warm-up steps of a trace and the time their last sample can be taken at. */
export interface WarmupWindow {
  /** Step numbers of the warm-up steps. */
  steps: number[];
  /** Latest end of a warm-up step on any rank: a sample at or before it belongs to warm-up. */
  endNs: number;
  /** The same per process (rank), for the counters of a process that has step slices of its own. */
  endNsByPid: Map<number, number>;
  /** The run's own record (run metadata `warmupSteps`) or the rule applied to the trace's steps. */
  source: 'run metadata' | 'rule';
}

/** A step slice: where it lies and its name (`step 3`, `ProfilerStep#551`). */
export interface StepSpan {
  startNs: number;
  endNs: number;
  label: string;
  /** The process (rank) it ran on. */
  pid?: number;
}

/** The step number in a step slice's name (its last number), if it has one. */
export function stepNumberOf(label: string): number | undefined {
  const m = /(\d+)\s*$/.exec(label);
  return m ? Number(m[1]) : undefined;
}

/**
 * Whether warm-up can inflate a counter of this unit: times (pipeline compilation) and bytes
 * (first allocations). Others (a loss, a rate, a count) keep their whole range: a loss that
 * starts high is training, not warm-up.
 */
export function warmupInflates(unit: string | undefined): boolean {
  return unit !== undefined && ['ns', 'us', 'µs', 'ms', 's', 'bytes', 'B'].includes(unit);
}

/** [lo, hi] as the timeline always drew counters: from 0 (or the minimum, when negative) to the maximum. */
function rangeOf(min: number, max: number): { lo: number; hi: number } {
  const lo = Math.min(0, min);
  return { lo, hi: max > lo ? max : lo + 1 };
}

/**
 * The scale of a counter track made of `series`. Samples taken at or before `warmupEndNs`
 * are warm-up; when they would widen the steady-state samples' range more than
 * WARMUP_SCALE_FACTOR times, the scale is the steady-state range. Undefined without a
 * finite sample.
 */
export function counterScale(series: readonly SampleSeries[], warmupEndNs?: number): CounterScale | undefined {
  let min = Infinity,
    max = -Infinity,
    steadyMin = Infinity,
    steadyMax = -Infinity,
    warm = 0;
  for (const s of series) {
    const n = Math.min(s.ts.length, s.values.length);
    for (let i = 0; i < n; i++) {
      const v = s.values[i];
      if (!Number.isFinite(v)) continue;
      if (v < min) min = v;
      if (v > max) max = v;
      if (warmupEndNs !== undefined && s.ts[i] <= warmupEndNs) warm++;
      else {
        if (v < steadyMin) steadyMin = v;
        if (v > steadyMax) steadyMax = v;
      }
    }
  }
  if (max === -Infinity) return undefined;
  const full = rangeOf(min, max);
  if (warm === 0 || steadyMax === -Infinity) return { ...full, steadyState: false };
  const steady = rangeOf(steadyMin, steadyMax);
  if (full.hi - full.lo <= WARMUP_SCALE_FACTOR * (steady.hi - steady.lo)) return { ...full, steadyState: false };
  return { ...steady, steadyState: true };
}

/** The range a scale spans, for people: `0 – 13.2 ms`. */
export function scaleRangeText(scale: CounterScale, unit: string | undefined): string {
  return `${scale.lo === 0 ? '0' : formatWithUnit(scale.lo, unit)} – ${formatWithUnit(scale.hi, unit)}`;
}

/** True when `v` lies outside `scale` (drawn clipped at its edge). */
export function offScale(scale: CounterScale, v: number): boolean {
  return v > scale.hi || v < scale.lo;
}

/**
 * The warm-up steps of a trace, as the analysis finds them (analysis/runFigures.ts): the
 * run's own record when it has one, else the rule of trace/warmup.ts applied to the step
 * slices of one rank (`firstRankSteps`, sorted by start; an imported trace's last step is
 * left out of the rule, as the analysis leaves it out: a profiler window cuts it short).
 * `allSteps` are every rank's step slices: the window ends at the latest end of a warm-up
 * step, on any rank (`endNs`) and on each (`endNsByPid`): a rank's counters are sampled
 * during or at the end of its own steps (runtime/runTrace.ts: at their start). `partial`
 * says the trace holds only a window of the run: without a record, its first step is then
 * not taken as warm-up for being first. Undefined when no step is warm-up.
 */
export function warmupWindow(
  meta: { format: string; info?: Record<string, unknown> },
  firstRankSteps: readonly StepSpan[],
  allSteps: readonly StepSpan[],
  partial = false,
): WarmupWindow | undefined {
  const recorded = meta.info?.warmupSteps;
  let steps: number[];
  let source: WarmupWindow['source'];
  let end = -Infinity;
  if (Array.isArray(recorded) && recorded.every((x) => typeof x === 'number')) {
    steps = recorded as number[];
    source = 'run metadata';
  } else {
    const commlensRun = meta.info?.tool === 'commlens';
    const ruled = !commlensRun && firstRankSteps.length > 1 ? firstRankSteps.slice(0, -1) : firstRankSteps;
    const k = warmupStepCount(
      ruled.map((s) => s.endNs - s.startNs),
      { firstAlways: meta.format === 'commlens' && !partial },
    );
    steps = ruled.slice(0, k).map((s, i) => stepNumberOf(s.label) ?? i);
    source = 'rule';
    // Steps without a number in their name are matched by position on this rank.
    for (const s of ruled.slice(0, k)) if (s.endNs > end) end = s.endNs;
  }
  if (steps.length === 0) return undefined;
  const set = new Set(steps);
  const endNsByPid = new Map<number, number>();
  for (const s of allSteps) {
    const n = stepNumberOf(s.label);
    if (n === undefined || !set.has(n)) continue;
    if (s.endNs > end) end = s.endNs;
    if (s.pid !== undefined && s.endNs > (endNsByPid.get(s.pid) ?? -Infinity)) endNsByPid.set(s.pid, s.endNs);
  }
  return end > -Infinity ? { steps, endNs: end, endNsByPid, source } : undefined;
}
