/**
 * The headline figures of a run, each with one definition and one function: step time,
 * exposed communication per step, bytes per step, peak memory and speed-up. Every surface
 * (the CLI, summary.json, report.md, the runs view, the suggestion detail, verify and
 * Compare) shows these, computed here, so one run reads the same everywhere
 * (docs/figures.md). All of them are over the steady-state steps: warm-up steps
 * (trace/warmup.ts) are left out.
 */
import type { TraceModel } from '../trace/model';
import { median } from '../trace/stats';
import {
  finalDrainStepsOf,
  splitWarmup,
  steadyStepTime,
  syncPeriodOf as syncPeriodOfStrategy,
  WARMUP_RULE,
} from '../trace/warmup';
import { stepExposedCommNs } from './breakdown';
import type { RankView } from './rankView';
import type { RankMemory } from './computeStats';

export interface RunFigures {
  /** Every step all ranks finished, in order, with its wall time (stepWallTimes). */
  stepTimesNs: { step: number; timeNs: number }[];
  /** Steps left out of every figure as warm-up. */
  warmupSteps: number[];
  /** Where warmupSteps comes from: the run's own record (run metadata) or the rule applied to the trace's steps. */
  warmupSource: 'run metadata' | 'rule';
  /** The steady-state steps the figures are taken over. */
  steadySteps: number[];
  /** Step time (see stepTimeFigure); undefined without step markers. */
  stepTimeNs?: number;
  /** How stepTimeNs was taken, in words. */
  stepTimeBasis?: string;
  /** Exposed communication per step (see exposedCommFigure). */
  exposedCommNs?: number;
  /** Σ buffer bytes of the busiest rank's collectives per step (see bytesPerStepFigure). */
  bytesPerStep?: number;
  /** Peak memory of the fullest rank (see peakMemoryFigure). */
  peakMemoryBytes?: number;
}

const STEP_CATEGORY = 'step';

/** Step number of a step slice: args.step, else the last number in its name. */
function stepNumber(args: Record<string, unknown> | undefined, name: string): number | undefined {
  if (typeof args?.step === 'number') return args.step;
  const m = /(\d+)\s*$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * Wall time of each step every rank has a step marker for: from the first rank's start of
 * the step (or the previous step's end across ranks, if later) to the last rank's end —
 * the runtime's own measure (runtime/coordinator.ts), so the trace and summary.json agree.
 * A trace that is not a CommLens run leaves out its last step unless `includeLastStep`
 * (a profiler window usually cuts it short; Holistic Trace Analysis does the same).
 */
export function stepWallTimes(model: TraceModel, includeLastStep = false): { step: number; timeNs: number }[] {
  const rankOfPid = new Map<number, number>();
  for (const p of model.processes) if (p.rank !== undefined) rankOfPid.set(p.pid, p.rank);
  const byStep = new Map<number, { start: number; end: number; ranks: Set<number> }>();
  const ranksWithSteps = new Set<number>();
  for (const s of model.slices) {
    if (s.category !== STEP_CATEGORY) continue;
    const pid = model.tracks[s.track]?.pid;
    const rank = pid === undefined ? undefined : (rankOfPid.get(pid) ?? pid);
    const n = stepNumber(s.args as Record<string, unknown> | undefined, s.name);
    if (rank === undefined || n === undefined) continue;
    ranksWithSteps.add(rank);
    const e = byStep.get(n) ?? { start: Infinity, end: -Infinity, ranks: new Set<number>() };
    e.start = Math.min(e.start, s.startNs);
    e.end = Math.max(e.end, s.startNs + s.durNs);
    e.ranks.add(rank);
    byStep.set(n, e);
  }
  const out: { step: number; timeNs: number }[] = [];
  let prevEnd = -Infinity;
  for (const n of [...byStep.keys()].sort((a, b) => a - b)) {
    const e = byStep.get(n)!;
    if (e.ranks.size < ranksWithSteps.size) continue;
    out.push({ step: n, timeNs: e.end - Math.max(prevEnd, e.start) });
    prevEnd = e.end;
  }
  const commlens = model.meta.info?.tool === 'commlens';
  return !commlens && !includeLastStep && out.length > 1 ? out.slice(0, -1) : out;
}

/** The warm-up steps a CommLens run recorded in its run metadata (`warmupSteps`), if any. */
function recordedWarmup(model: TraceModel): number[] | undefined {
  const w = model.meta.info?.warmupSteps;
  return Array.isArray(w) && w.every((x) => typeof x === 'number') ? (w as number[]) : undefined;
}

/** Inner steps between synchronisations (DiLoCo family), else undefined: trace/warmup.ts. */
export const syncPeriodOf = syncPeriodOfStrategy;

/**
 * **Step time**: the median wall time of the steady-state steps, or for a strategy that
 * synchronises only every H steps the mean over the last whole periods (trace/warmup.ts
 * `steadyStepTime`, which the runtime's summary uses too).
 */
export const stepTimeFigure = steadyStepTime;

/**
 * **Exposed communication per step**: per steady-state analysed step, the mean over ranks
 * of |communication| − |communication ∩ computation| (HTA's definition, breakdown.ts);
 * then the same statistic over steps as the step time (median, or the period mean).
 */
export function exposedCommFigure(
  views: readonly RankView[],
  steady: ReadonlySet<number>,
  syncPeriod?: number,
): number | undefined {
  const perStep = new Map<number, number[]>();
  for (const v of views) {
    for (const st of v.analysedSteps) {
      if (!steady.has(st.step)) continue;
      const l = perStep.get(st.step) ?? [];
      l.push(stepExposedCommNs(v, st.step));
      perStep.set(st.step, l);
    }
  }
  const order = [...perStep.keys()].sort((a, b) => a - b);
  if (order.length === 0) return undefined;
  return stepTimeFigure(
    order.map((k) => perStep.get(k)!.reduce((a, b) => a + b, 0) / perStep.get(k)!.length),
    syncPeriod,
  ).value;
}

/**
 * **Bytes per step**: Σ buffer bytes (nccl-tests' S) of one rank's collectives per step,
 * receives included, median over the steady-state steps, the largest over ranks: what the
 * replay predicts (replay/whatIf.ts) and what PyTorch traces give. From CommLens' "bytes per
 * step" counter when the trace has it, else bytesPerStepOfCollectives (the collectives' own
 * sizes). Until 2026-12-05 CommLens runs wrote only the bytes on the wire (S × the bus factor,
 * 1.5 × S for a 4-rank all-reduce) as "bytes sent per step", which this read as the figure:
 * such a trace now takes the collectives' sizes.
 */
export function bytesPerStepFigure(model: TraceModel, steadyCount: number, warmupCount: number): number | undefined {
  let best: number | undefined;
  for (const c of model.counters) {
    const t = model.tracks[c.track];
    if (t?.name !== 'bytes per step') continue;
    const steady = c.values.slice(warmupCount, warmupCount + Math.max(1, steadyCount));
    if (steady.length === 0) continue;
    const m = median(steady);
    best = best === undefined ? m : Math.max(best, m);
  }
  return best;
}

/**
 * Bytes per step from the collectives themselves, for traces without CommLens' counter
 * (PyTorch profiler traces): per rank and steady-state analysed step, Σ bytes of its
 * communication ops that say their size; the median over steps, the largest over ranks.
 * Undefined when no collective says its size.
 */
export function bytesPerStepOfCollectives(
  model: TraceModel,
  views: readonly RankView[],
  steady: ReadonlySet<number>,
): number | undefined {
  let best: number | undefined;
  for (const v of views) {
    const perStep = new Map<number, number>();
    for (const st of v.analysedSteps) if (steady.has(st.step)) perStep.set(st.step, 0);
    let sized = false;
    for (const op of v.ops) {
      if (op.cls !== 'communication' || op.step === undefined || !perStep.has(op.step)) continue;
      const b = model.slices[op.index].args?.bytes;
      if (typeof b !== 'number' || !Number.isFinite(b)) continue;
      sized = true;
      perStep.set(op.step, perStep.get(op.step)! + b);
    }
    if (!sized || perStep.size === 0) continue;
    const m = median([...perStep.values()]);
    best = best === undefined ? m : Math.max(best, m);
  }
  return best;
}

/** **Peak memory**: the largest over ranks of the peak over time of the sum of a rank's memory counters (computeStats.ts). */
export function peakMemoryFigure(memory: readonly RankMemory[]): number | undefined {
  return memory.length > 0 ? Math.max(...memory.map((m) => m.peakBytes)) : undefined;
}

/**
 * **Speed-up**: baseline step time / new step time (> 1 is faster). Shown only through
 * trace/format.ts `formatSpeedup`, which always says the direction.
 */
export function speedupOf(baselineStepTimeNs: number, newStepTimeNs: number): number {
  return newStepTimeNs > 0 ? baselineStepTimeNs / newStepTimeNs : NaN;
}

/** Every figure of a run, over its steady-state steps. */
export function runFigures(
  model: TraceModel,
  views: readonly RankView[],
  memory: readonly RankMemory[],
  opts: { includeLastStep?: boolean; strategy?: string; strategyOptions?: Record<string, unknown> } = {},
): RunFigures {
  const stepTimesNs = stepWallTimes(model, opts.includeLastStep);
  const recorded = recordedWarmup(model);
  const split = recorded
    ? {
        warmup: stepTimesNs.filter((s) => recorded.includes(s.step)).map((s) => s.step),
        steady: stepTimesNs.filter((s) => !recorded.includes(s.step)).map((s) => s.step),
      }
    : splitWarmup(stepTimesNs, { firstAlways: model.meta.format === 'commlens' });
  const steady = new Set(split.steady);
  const H = syncPeriodOf(opts.strategy, opts.strategyOptions);
  const steadyTimes = stepTimesNs.filter((s) => steady.has(s.step)).map((s) => s.timeNs);
  const st =
    steadyTimes.length > 0
      ? stepTimeFigure(steadyTimes, H, finalDrainStepsOf(opts.strategy, opts.strategyOptions))
      : undefined;
  return {
    stepTimesNs,
    warmupSteps: split.warmup,
    warmupSource: recorded ? 'run metadata' : 'rule',
    steadySteps: split.steady,
    ...(st ? { stepTimeNs: st.value, stepTimeBasis: st.basis } : {}),
    exposedCommNs: exposedCommFigure(views, steady, H),
    bytesPerStep:
      bytesPerStepFigure(model, split.steady.length, split.warmup.length) ??
      bytesPerStepOfCollectives(model, views, steady),
    peakMemoryBytes: peakMemoryFigure(memory),
  };
}

/** The warm-up rule in words, for notes and docs. */
export const WARMUP_TEXT = WARMUP_RULE.text;
