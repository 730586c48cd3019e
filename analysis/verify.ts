/**
 * Verification of a suggestion: what a re-run with the suggested change measured, beside
 * what the advisor predicted, and the verdict. The CLI's `verify` runs the job; this module
 * only reads runs (their summary.json) and compares, so every surface that shows a
 * comparison (the CLI, comparison.json, the extension's Compare view, bench:advisor) uses
 * the same arithmetic.
 */
import { finalDrainStepsOf, steadyStepSamples, warmupStepCount } from '../trace/warmup';
import { bootstrapRatio, median, ratioSampleProblem, type RatioInterval, type RatioSample } from '../trace/stats';
import { formatDurationNs, formatSpeedup, formatSpeedupInterval } from '../trace/format';
import { stepTimeFigure, syncPeriodOf as syncPeriodOfStrategy, speedupOf } from './runFigures';
import type { TorchApply } from '../trace/torchJob';
import { frozenAfterStepOf, onebitStepsFor } from '../trace/onebitWarmup';
import { parseStrategyIds } from '../trace/strategyIds';
import { COMPONENT_NAMES, type StepComponents } from './replay/simulate';
import type { PredictedComponents } from './replay/whatIf';

/** 2: the baseline is re-measured beside the change and the speed-up carries its interval. */
export const COMPARISON_SCHEMA_VERSION = 3;

/**
 * The error a prediction may have beyond the measurement's own uncertainty: a predicted
 * speed-up is right when it lies within the measured interval widened by this share of the
 * measured speed-up on each side.
 */
export const TARGET_ERROR = 0.05;

/** The parts of an advisor suggestion that verification reads. */
export interface VerifiableSuggestion {
  id: string;
  title: string;
  predicted: {
    stepTimeNs: number;
    baselineStepTimeNs: number;
    exposedCommNs?: number;
    peakMemoryBytes?: number;
    bytesPerStep?: number;
    /** The replay's components of the step without and with the change (replay/whatIf.ts). */
    components?: PredictedComponents;
  };
  configChange: Record<string, unknown>;
}

export interface Measured {
  /**
   * The run's step time (analysis/runFigures.ts): the median steady-state step, or for a
   * strategy that synchronises every H steps (DiLoCo family) the mean over the last whole
   * periods of H steps, since its prediction is the average over a period. Warm-up excluded.
   */
  stepTimeNs: number;
  /** How stepTimeNs was taken, in words. */
  stepTimeBasis: string;
  medianStepTimeNs: number;
  exposedCommNsPerStep: number;
  /** Undefined when the trace does not show it (PyTorch traces without memory events). */
  peakMemoryBytesPerRank?: number;
  /**
   * The bytes per step figure (Σ buffer bytes of the busiest rank's collectives; docs/figures.md).
   * Undefined when the trace does not show it (PyTorch traces whose collectives carry no sizes).
   * Until schema version 3 this was `wireBytesPerStepPerRank`, with the same value.
   */
  bytesPerStepPerRank?: number;
  /** The warm-up steps left out of these figures. */
  warmupSteps: number[];
  loss: number[];
  /**
   * The run's steps decomposed as the prediction decomposes the changed step: its analysis's
   * replay of its own steps (analysis.replay.components, replay/whatIf.ts replayedComponents),
   * so that predicted.components and these compare component by component. Absent when the
   * analysis has no replay (runs analysed before 2026-12-07, a trace without collectives), and
   * for a strategy that synchronises every H steps (DiLoCo family: its replayed step is one
   * inner step, its prediction the mean over a period).
   */
  components?: StepComponents;
}

export type Verdict =
  'as predicted' | 'better than predicted' | 'worse than predicted' | 'predicted a win, measured a slowdown';

export interface Comparison {
  schemaVersion: number;
  suggestion: { id: string; title: string; configChange: Record<string, unknown>; torchApply?: TorchApply };
  baselineRun: { runDir: string; runId: string };
  verifyRun: { runDir: string; runId: string };
  predicted: VerifiableSuggestion['predicted'];
  baseline: Measured;
  measured: Measured;
  /** (measured − predicted) / measured step time. */
  stepTimeRelError: number;
  /** baseline step time / measured step time (> 1: faster; analysis/runFigures.ts speedupOf). */
  measuredSpeedup: number;
  predictedSpeedup: number;
  verdict: Verdict;
  /**
   * The measured speed-up with its confidence interval over every round's steady-state
   * steps (measuredSpeedupInterval); absent when too few steps were measured for one.
   */
  speedupInterval?: MeasuredSpeedup;
  /** Whether the predicted speed-up lies within speedupInterval widened by targetError. */
  right?: boolean;
  targetError?: number;
  /** The runs behind baseline and measured, in the order they ran. */
  rounds?: {
    /** 're-measured': the baseline ran again beside the change; 'original run': the run verified, reused. */
    baselineSource: 're-measured' | 'original run';
    baselineRunIds: string[];
    changedRunIds: string[];
  };
  /** External (PyTorch) runs: whether the re-run's traces show the change commlens_torch was asked to apply. */
  applied?: AppliedCheck;
  /**
   * How far the baseline, run again beside the change, ran from the run the prediction started
   * from (baselineDriftOf); absent when the baseline was not run again.
   */
  baselineDrift?: BaselineDrift;
}

/**
 * The baseline measured again beside the change against the run the prediction started from:
 * how much runs of one job differ on this machine from one to the next (on the 2-core CPU
 * machine of docs/benchmarks.md, an sd of 5–11 % between runs of one config), which is why
 * verify compares speed-ups, each against a baseline run beside the change, and not step times
 * across runs made at different times.
 */
export interface BaselineDrift {
  /** The step time the prediction started from (the verified run's, predicted.baselineStepTimeNs). */
  predictedFromStepNs: number;
  /** Each baseline run's own step time (measuredOf), in the order they ran. */
  runStepNs: number[];
  /** The baseline's step time over all of them (Comparison.baseline.stepTimeNs). */
  pooledStepNs: number;
  /** pooledStepNs / predictedFromStepNs − 1: > 0 when the baseline ran slower this time. */
  relative: number;
  /**
   * The same suggestion's predicted speed-up in each baseline run's own analysis (the runs whose
   * analysis made it), and their median: the prediction re-made from the baselines run now.
   * Absent when none of them made the suggestion.
   */
  repredictedSpeedups?: number[];
  repredictedSpeedup?: number;
}

/** Below this |relative| the baseline is said to have run as it did in the verified run. */
export const BASELINE_DRIFT_NOTED = 0.03;

/** What the re-run of a PyTorch job recorded about the change it was asked to apply (analysis/externalVerify.ts). */
export interface AppliedCheck {
  asked: TorchApply;
  /** True when every DistributedDataParallel of the re-run shows the change. */
  ok: boolean;
  /** What the re-run ran with, in words (or why the change does not show). */
  message: string;
}

/** What verification reads of the analysis stored in a run's summary (analysis/index.ts `Analysis`). */
export interface AnalysisLike {
  ranks?: { steps?: { step: number; overlap: { exposedCommNs: number } }[] }[];
  suggestions?: VerifiableSuggestion[];
}

/** What verification reads of a run config (the runtime's RunConfig has these and more). */
export interface VerifiableConfig {
  steps: number;
  strategy: string;
  strategyOptions?: Record<string, unknown>;
}

/** What verification reads of a run's summary.json (the runtime's RunSummary has these and more). */
export interface RunRecord {
  runId: string;
  config: VerifiableConfig;
  stepTimeNs: number[];
  /** Warm-up steps (trace/warmup.ts); absent in summaries written before it was recorded. */
  warmupSteps?: number[];
  medianStepTimeNs: number;
  memoryPerRank: {
    parameters: number;
    gradients: number;
    optimizerState: number;
    activations: number;
    communication: number;
  }[];
  /** Σ buffer bytes per step of each rank (summaries since 2026-12-05). */
  bytesPerStepPerRank?: number[];
  /** The bytes each rank put on the wire per step: a CommLens run's summary has it (all of them). */
  wireBytesPerStepPerRank?: number[];
  loss: number[];
  /** The strategy's notes (1-bit Adam's freeze among them: trace/onebitWarmup.ts freezeNote). */
  strategyNotes?: string[];
  analysis?: unknown;
}

/**
 * The first step a run is measured from when that is later than its warm-up's end: a 1-bit
 * Adam run is measured over its compressed phase, the steps after its variance froze (the
 * run's notes), since that is the phase its prediction is about (trace/onebitWarmup.ts). The
 * phase starts as a run does, with steps that allocate its buffers and warm its code (the
 * codec's error feedback, the frozen denominator): the warm-up rule (trace/warmup.ts) leaves
 * them out as it leaves out a run's first steps. Undefined for other runs, or when no step
 * follows the freeze.
 */
export function compressedFromStep(s: RunRecord): number | undefined {
  const k = frozenAfterStepOf(s.strategyNotes);
  const times = Array.isArray(s.stepTimeNs) ? s.stepTimeNs : [];
  if (k === undefined || k + 1 >= times.length) return undefined;
  return k + 1 + warmupStepCount(times.slice(k + 1));
}

/** What verification reads of the figures the analysis stored (analysis/runFigures.ts `RunFigures`). */
interface FiguresLike {
  warmupSteps?: number[];
  stepTimeNs?: number;
  stepTimeBasis?: string;
  exposedCommNs?: number;
  bytesPerStep?: number;
  peakMemoryBytes?: number;
}

/** A run's headline figures as every surface shows them (docs/figures.md). */
export interface SummaryFigures {
  stepTimeNs: number;
  stepTimeBasis: string;
  exposedCommNs?: number;
  /** Undefined when neither the analysis nor the summary holds it (summaries before 2026-12-05 without an analysis). */
  bytesPerStep?: number;
  peakMemoryBytes: number;
  warmupSteps: number[];
  /** Wall time of the warm-up steps together. */
  warmupNs: number;
}

/**
 * The figures of a run from its summary.json: the analysis stored in it is the authority
 * (analysis/runFigures.ts, over the steady-state steps); what it lacks (an older summary, or
 * a run whose analysis failed) comes from the summary's own numbers with the same warm-up
 * rule and the same definitions.
 */
export function figuresOfSummary(s: RunRecord): SummaryFigures {
  const f = ((s.analysis ?? {}) as { figures?: FiguresLike }).figures ?? {};
  const times = Array.isArray(s.stepTimeNs) ? s.stepTimeNs : [];
  const warmupCount = Array.isArray(s.warmupSteps) ? s.warmupSteps.length : warmupStepCount(times);
  const warmupSteps =
    f.warmupSteps ?? (Array.isArray(s.warmupSteps) ? s.warmupSteps : times.slice(0, warmupCount).map((_, i) => i));
  const drain = s.config ? finalDrainStepsOf(s.config.strategy, s.config.strategyOptions) : 0;
  const own = stepTimeFigure(times.slice(warmupCount), s.config ? syncPeriodOf(s.config) : undefined, drain);
  // 1-bit Adam: its compressed steps, after its warm-up and after the freeze.
  const from = compressedFromStep(s);
  if (from !== undefined && from > warmupCount) {
    const c = stepTimeFigure(times.slice(from), s.config ? syncPeriodOf(s.config) : undefined);
    const before = new Set([...warmupSteps, ...times.slice(0, from).map((_, i) => i)]);
    return {
      ...figuresWithout(s, f, warmupSteps, times),
      stepTimeNs: c.value,
      stepTimeBasis: `${c.basis} of 1-bit Adam's compressed phase (steps ${from}–${times.length - 1}; its variance froze after step ${frozenAfterStepOf(s.strategyNotes)})`,
      exposedCommNs: exposedOfRanks(s, before) ?? f.exposedCommNs,
    };
  }
  return {
    stepTimeNs: f.stepTimeNs ?? own.value,
    stepTimeBasis: f.stepTimeBasis ?? own.basis,
    exposedCommNs: f.exposedCommNs ?? exposedOfRanks(s, new Set(warmupSteps)),
    ...figuresWithout(s, f, warmupSteps, times),
  };
}

/**
 * True for a CommLens run whose stored analysis is older than schema 3: its bytes per step was
 * the run's wire bytes (S × the bus factor), not Σ S, so it is not shown as the figure. An
 * imported job's (no wireBytesPerStepPerRank) was Σ S already.
 */
function staleBytesFigure(s: RunRecord): boolean {
  const version = (s.analysis as { schemaVersion?: unknown } | undefined)?.schemaVersion;
  return s.wireBytesPerStepPerRank !== undefined && (typeof version !== 'number' || version < 3);
}

/** The figures that do not depend on which steps are measured. */
function figuresWithout(
  s: RunRecord,
  f: FiguresLike,
  warmupSteps: number[],
  times: readonly number[],
): Omit<SummaryFigures, 'stepTimeNs' | 'stepTimeBasis' | 'exposedCommNs'> {
  const mem = (s.memoryPerRank ?? []).map(
    (m) => m.parameters + m.gradients + m.optimizerState + m.activations + m.communication,
  );
  return {
    // A summary's wireBytesPerStepPerRank counts wire bytes, not this figure: never read as it.
    bytesPerStep:
      (staleBytesFigure(s) ? undefined : f.bytesPerStep) ??
      (s.bytesPerStepPerRank?.length ? Math.max(0, ...s.bytesPerStepPerRank) : undefined),
    peakMemoryBytes: f.peakMemoryBytes ?? Math.max(0, ...mem),
    warmupSteps,
    warmupNs: times.slice(0, warmupSteps.length).reduce((a, b) => a + b, 0),
  };
}

/**
 * Exposed communication per step from an analysis without figures (older summaries): the
 * mean over ranks per steady-state step, then the step-time statistic over steps (runFigures.ts).
 */
function exposedOfRanks(s: RunRecord, warmup: ReadonlySet<number>): number | undefined {
  const a = s.analysis as AnalysisLike | undefined;
  const perStep = new Map<number, number[]>();
  for (const r of a?.ranks ?? [])
    for (const st of r.steps ?? []) {
      if (warmup.has(st.step)) continue;
      const l = perStep.get(st.step) ?? [];
      l.push(st.overlap.exposedCommNs);
      perStep.set(st.step, l);
    }
  const order = [...perStep.keys()].sort((x, y) => x - y);
  if (order.length === 0) return undefined;
  return stepTimeFigure(
    order.map((k) => perStep.get(k)!.reduce((x, y) => x + y, 0) / perStep.get(k)!.length),
    s.config ? syncPeriodOf(s.config) : undefined,
  ).value;
}

/**
 * The replayed components an analysis recorded (analysis.replay.components), each a finite
 * number; undefined when it has none or any is missing.
 */
export function componentsOfAnalysis(a: unknown): StepComponents | undefined {
  const c = (a as { replay?: { components?: unknown } } | undefined)?.replay?.components;
  if (typeof c !== 'object' || c === null) return undefined;
  const out = {} as StepComponents;
  for (const k of COMPONENT_NAMES) {
    const v = (c as Record<string, unknown>)[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) return undefined;
    out[k] = v;
  }
  return out;
}

/** Each component's median over the runs that have them; undefined when none has. */
export function pooledComponents(each: readonly (StepComponents | undefined)[]): StepComponents | undefined {
  const known = each.filter((c): c is StepComponents => c !== undefined);
  if (known.length === 0) return undefined;
  const out = {} as StepComponents;
  for (const k of COMPONENT_NAMES) out[k] = median(known.map((c) => c[k]));
  return out;
}

/** Measured figures of a run, from its summary (and the analysis stored in it): figuresOfSummary. */
export function measuredOf(s: RunRecord): Measured {
  const f = figuresOfSummary(s);
  // A strategy that synchronises every H steps has no split comparable with its prediction: a
  // replayed step of it is one inner step, while the prediction is the mean over a period.
  const components = s.config && syncPeriodOf(s.config) !== undefined ? undefined : componentsOfAnalysis(s.analysis);
  return {
    stepTimeNs: f.stepTimeNs,
    stepTimeBasis: f.stepTimeBasis,
    medianStepTimeNs: s.medianStepTimeNs,
    exposedCommNsPerStep: f.exposedCommNs ?? 0,
    peakMemoryBytesPerRank: f.peakMemoryBytes,
    bytesPerStepPerRank: f.bytesPerStep,
    warmupSteps: f.warmupSteps,
    loss: s.loss,
    ...(components ? { components } : {}),
  };
}

/**
 * Measured figures of an imported job from its analysis (analysis/runFigures.ts, the same
 * steady-state figures as everywhere): PyTorch jobs have no summary.json, and no loss curve
 * CommLens can read. Throws when the traces have no steps to take a step time from.
 */
export function measuredOfAnalysis(a: {
  figures?: {
    stepTimesNs: { step: number; timeNs: number }[];
    warmupSteps: number[];
    steadySteps: number[];
    stepTimeNs?: number;
    stepTimeBasis?: string;
    exposedCommNs?: number;
    bytesPerStep?: number;
    peakMemoryBytes?: number;
  };
}): Measured {
  const f = a.figures;
  if (!f || f.stepTimeNs === undefined)
    throw new Error(
      'the traces have no whole steps to measure (ProfilerStep#N spans on every rank, past the warm-up): profile at least 3 active steps',
    );
  const steady = new Set(f.steadySteps);
  const components = componentsOfAnalysis(a);
  return {
    stepTimeNs: f.stepTimeNs,
    stepTimeBasis: f.stepTimeBasis ?? 'median of the steady-state steps',
    medianStepTimeNs: median(f.stepTimesNs.filter((s) => steady.has(s.step)).map((s) => s.timeNs)),
    exposedCommNsPerStep: f.exposedCommNs ?? 0,
    peakMemoryBytesPerRank: f.peakMemoryBytes,
    bytesPerStepPerRank: f.bytesPerStep,
    warmupSteps: f.warmupSteps,
    loss: [],
    ...(components ? { components } : {}),
  };
}

/** Inner steps between synchronisations when the run's strategy averages only every H steps. */
export function syncPeriodOf(config: VerifiableConfig): number | undefined {
  return syncPeriodOfStrategy(config.strategy, config.strategyOptions);
}

/**
 * Compares a prediction with the measurement. With the measured speed-up's interval
 * (measuredSpeedupInterval over the same runs as `baseline` and `measured`) the verdict is
 * judgeSpeedup's; without one (a single pair of runs too short for an interval) it is on
 * the step times: within 10 % is as predicted, and a predicted win that measures >5 % slower
 * is called out.
 */
export function judge(
  predicted: VerifiableSuggestion['predicted'],
  baseline: Measured,
  measured: Measured,
  interval?: MeasuredSpeedup,
  targetError = TARGET_ERROR,
): Pick<
  Comparison,
  'stepTimeRelError' | 'measuredSpeedup' | 'predictedSpeedup' | 'verdict' | 'speedupInterval' | 'right' | 'targetError'
> {
  const stepTimeRelError = (measured.stepTimeNs - predicted.stepTimeNs) / measured.stepTimeNs;
  const measuredSpeedup = speedupOf(baseline.stepTimeNs, measured.stepTimeNs);
  const predictedSpeedup = speedupOf(predicted.baselineStepTimeNs, predicted.stepTimeNs);
  if (interval) {
    // The interval's own estimate: the ratio of the pooled steps' step times, which the interval is around.
    const j = judgeSpeedup(predictedSpeedup, interval, targetError);
    return {
      stepTimeRelError,
      measuredSpeedup: interval.estimate,
      predictedSpeedup,
      ...j,
      speedupInterval: interval,
      targetError,
    };
  }
  let verdict: Verdict;
  if (predictedSpeedup > 1 && measured.stepTimeNs > baseline.stepTimeNs * 1.05)
    verdict = 'predicted a win, measured a slowdown';
  else if (Math.abs(stepTimeRelError) <= 0.1) verdict = 'as predicted';
  else verdict = stepTimeRelError < 0 ? 'better than predicted' : 'worse than predicted';
  return { stepTimeRelError, measuredSpeedup, predictedSpeedup, verdict };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Applies a suggestion's config change (objects merge, values replace). A change to another
 * strategy brings its own options: they replace the run's (the old strategy's options would
 * not belong to the new one), and without options the new strategy starts from its defaults.
 */
export function applyConfigChange<C extends VerifiableConfig>(config: C, change: Record<string, unknown>): C {
  const merge = (base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> => {
    // Null-prototype objects and own keys: a "__proto__" key from summary.json stays a key (and is refused).
    const out: Record<string, unknown> = Object.assign(Object.create(null) as Record<string, unknown>, base);
    for (const [k, v] of Object.entries(over))
      out[k] =
        isObject(v) && isObject(Object.hasOwn(out, k) ? out[k] : undefined)
          ? merge(out[k] as Record<string, unknown>, v)
          : v;
    return out;
  };
  const newStrategy = Object.hasOwn(change, 'strategy') && change.strategy !== config.strategy;
  const next = merge(
    newStrategy
      ? { ...(config as unknown as Record<string, unknown>), strategyOptions: undefined }
      : (config as unknown as Record<string, unknown>),
    change,
  );
  // A new strategy starts from its own defaults unless the change names options.
  if (Object.hasOwn(change, 'strategy') && !Object.hasOwn(change, 'strategyOptions')) delete next.strategyOptions;
  if (next.strategyOptions === undefined) delete next.strategyOptions;
  return next as unknown as C;
}

/**
 * The run that verifies a change: the base config with the change applied, lengthened
 * when the change synchronises only every H steps so that the comparison covers two whole
 * periods between the warm-up step and the end — else a short run would never synchronise
 * and measure only the cheap inner steps, and with one period its spread (what the speed-up's
 * interval needs) could not be seen. Returns a note when it lengthened the run.
 */
export function verificationConfig<C extends VerifiableConfig>(
  base: C,
  change: Record<string, unknown>,
): { config: C; note?: string } {
  const config = applyConfigChange(base, change);
  // 1-bit Adam is measured over its compressed steps (compressedFromStep): as many as the
  // baseline's steady-state steps (all but its first), whatever the warm-up takes.
  if (parseStrategyIds(config.strategy).includes('onebit-adam')) {
    const w = config.strategyOptions?.onebitWarmupSteps;
    const steps = onebitStepsFor(base.steps - 1, typeof w === 'number' ? w : undefined);
    if (config.steps >= steps) return { config };
    const note = `running ${steps} steps instead of ${config.steps}: 1-bit Adam is measured over the steps after its full-precision warm-up (${typeof w === 'number' ? `${w} steps` : 'at most half the run'}), and the comparison needs as many of them as the baseline has steady-state steps`;
    return { config: { ...config, steps }, note };
  }
  const H = syncPeriodOf(config);
  const steps = H === undefined ? 0 : 2 * H + 2;
  if (H === undefined || config.steps >= steps) return { config };
  const note = `running ${steps} steps instead of ${config.steps}: the change synchronises every ${H} steps, and the comparison needs two whole periods after the warm-up step (their spread gives the speed-up's interval)`;
  return { config: { ...config, steps }, note };
}

/** One run's steady-state step times as the step time takes them (warm-up left out, in step order). */
export interface StepSamples {
  steadyStepTimesNs: readonly number[];
  /** Inner steps between synchronisations (DiLoCo family), else undefined. */
  syncPeriod?: number;
  /** Last steps that drain the overlapped sync (trace/warmup.ts finalDrainStepsOf), left out of the periods. */
  finalDrainSteps?: number;
}

/** The measured speed-up of a change over its baseline, pooled over runs, with its interval. */
export interface MeasuredSpeedup extends RatioInterval {
  /** How each side's step time is taken over the pooled steps, in words. */
  baselineBasis: string;
  changedBasis: string;
  /** Steps each side's figure is taken over (all runs together), and over how many runs. */
  baselineSteps: number;
  changedSteps: number;
  baselineRuns: number;
  changedRuns: number;
}

/** The steps of runs of one config pooled as the step time takes them: the sample the ratio resamples. */
export function pooledSample(runs: readonly StepSamples[]): RatioSample & { basis: string } {
  const per = runs.map((r) => steadyStepSamples(r.steadyStepTimesNs, r.syncPeriod, r.finalDrainSteps));
  const period = per.every((p) => p.period !== undefined && p.period === per[0].period) ? per[0]?.period : undefined;
  const values = per.flatMap((p) => p.values);
  // Each run's count of values: the bootstrap draws runs, then steps within them (trace/stats.ts bootstrapRatio).
  const runLengths = per.map((p) => p.values.length).filter((k) => k > 0);
  const runsText = runs.length === 1 ? '1 run' : `${runs.length} runs`;
  if (period === undefined)
    return {
      values,
      runs: runLengths,
      statistic: 'median',
      basis: `median of ${values.length} steady-state steps over ${runsText}`,
    };
  return {
    values,
    runs: runLengths,
    statistic: 'mean',
    period,
    basis: `mean of ${values.length} steady-state steps over ${runsText} (${values.length / period} whole periods of ${period} steps)`,
  };
}

/**
 * The measured speed-up (baseline step time / changed step time, analysis/runFigures.ts)
 * with its confidence interval, from the steady-state steps of every baseline run and every
 * changed run (trace/stats.ts bootstrapRatio: each side's step time — the median step, or
 * for a periodic strategy the mean over whole periods — over its runs' pooled steps, the runs
 * resampled and then the steps within them; run k of each side together when both sides have
 * the same number of runs, as verify's rounds do). For any pair of runs measured the same way: CommLens runs (stepSamplesOf) or
 * step times read from other traces. `problem` says why there is no interval (too few steps).
 */
export function measuredSpeedupInterval(
  baseline: readonly StepSamples[],
  changed: readonly StepSamples[],
  opts: { confidence?: number } = {},
): { interval?: MeasuredSpeedup; problem?: string } {
  const a = pooledSample(baseline);
  const b = pooledSample(changed);
  const problem = ratioSampleProblem(a) ?? ratioSampleProblem(b);
  const ci = problem ? undefined : bootstrapRatio(a, b, { confidence: opts.confidence });
  if (!ci) {
    const which = ratioSampleProblem(a) ? 'baseline' : 'changed run';
    return { problem: `no interval yet: the ${which} has ${problem ?? 'too few steps'}` };
  }
  return {
    interval: {
      ...ci,
      baselineBasis: a.basis,
      changedBasis: b.basis,
      baselineSteps: a.values.length,
      changedSteps: b.values.length,
      baselineRuns: baseline.length,
      changedRuns: changed.length,
    },
  };
}

/** A CommLens run's steady-state steps (summary.json): its step times after the warm-up it recorded (1-bit Adam: after its freeze too). */
export function stepSamplesOf(s: RunRecord): StepSamples {
  const times = Array.isArray(s.stepTimeNs) ? s.stepTimeNs : [];
  const warmup = Array.isArray(s.warmupSteps) ? s.warmupSteps.length : warmupStepCount(times);
  const from = Math.max(warmup, compressedFromStep(s) ?? 0);
  return {
    steadyStepTimesNs: times.slice(from),
    syncPeriod: s.config ? syncPeriodOf(s.config) : undefined,
    ...(s.config ? { finalDrainSteps: finalDrainStepsOf(s.config.strategy, s.config.strategyOptions) } : {}),
  };
}

/**
 * The figures of several runs of one config measured the same way: the step time over all
 * their steady-state steps pooled (pooledSample: the same statistic as one run's), the other
 * figures the median over the runs, warm-up and loss of the last run. One run: measuredOf.
 */
/** The median of the values a run has (traces without a figure leave it out); undefined when none has it. */
function medianOfKnown(xs: readonly (number | undefined)[]): number | undefined {
  const known = xs.filter((x): x is number => x !== undefined);
  return known.length > 0 ? median(known) : undefined;
}

export function pooledMeasured(runs: readonly RunRecord[]): Measured {
  if (runs.length === 0) throw new Error('pooledMeasured: no runs');
  const each = runs.map((r) => measuredOf(r));
  if (runs.length === 1) return each[0];
  const pooled = pooledSample(runs.map(stepSamplesOf));
  const stat =
    pooled.statistic === 'mean'
      ? pooled.values.reduce((t, x) => t + x, 0) / pooled.values.length
      : median(pooled.values);
  const last = each[each.length - 1];
  const components = pooledComponents(each.map((m) => m.components));
  return {
    stepTimeNs: stat,
    stepTimeBasis: pooled.basis,
    medianStepTimeNs: median(each.map((m) => m.medianStepTimeNs)),
    exposedCommNsPerStep: median(each.map((m) => m.exposedCommNsPerStep)),
    peakMemoryBytesPerRank: medianOfKnown(each.map((m) => m.peakMemoryBytesPerRank)),
    bytesPerStepPerRank: medianOfKnown(each.map((m) => m.bytesPerStepPerRank)),
    warmupSteps: last.warmupSteps,
    loss: last.loss,
    ...(components ? { components } : {}),
  };
}

/**
 * The verdict on a predicted speed-up against a measured one with its interval: right
 * ('as predicted') when the prediction lies within the interval widened by `targetError`
 * of the measured speed-up on each side; a predicted win whose whole interval lies below 1
 * (measured slower, beyond noise) is called out; otherwise better or worse than predicted.
 */
export function judgeSpeedup(
  predictedSpeedup: number,
  interval: RatioInterval,
  targetError = TARGET_ERROR,
): { verdict: Verdict; right: boolean } {
  const lo = interval.low - targetError * interval.estimate;
  const hi = interval.high + targetError * interval.estimate;
  const right = predictedSpeedup >= lo && predictedSpeedup <= hi;
  if (predictedSpeedup > 1 && interval.high < 1) return { verdict: 'predicted a win, measured a slowdown', right };
  if (right) return { verdict: 'as predicted', right };
  return { verdict: predictedSpeedup < lo ? 'better than predicted' : 'worse than predicted', right };
}

/** "measured 1.39× ± 0.04 faster (95 % CI, 24 steps each)": the sentence every surface shows. */
export function measuredSpeedupText(m: MeasuredSpeedup): string {
  const steps =
    m.baselineSteps === m.changedSteps
      ? `${m.baselineSteps} steps each`
      : `${m.baselineSteps} baseline and ${m.changedSteps} changed steps`;
  // How the runs entered the interval (absent in comparisons written before 2026-12-07's evening).
  const over =
    m.resampled === 'paired'
      ? ` over ${m.baselineRuns} rounds`
      : m.resampled === 'runs'
        ? ` over ${m.baselineRuns} baseline and ${m.changedRuns} changed run${m.changedRuns === 1 ? '' : 's'}`
        : '';
  const oneRun =
    m.resampled === 'values' ? ', one run a side: how much one run differs from the next is not in it' : '';
  return `measured ${formatSpeedupInterval(m.estimate, m.halfWidth)} (${Math.round(m.confidence * 100)} % CI${over}, ${steps}${oneRun})`;
}

/** How verify measures by default: rounds of a baseline run and a changed run, until the interval is this tight. */
export const VERIFY_DEFAULTS = {
  /** At most this many rounds (each: the baseline, then the change). */
  maxRounds: 3,
  /**
   * At least this many (when maxRounds allows), however tight the first round's interval: one
   * pair of runs cannot show how much one run differs from the next, and on a shared machine
   * that is most of the noise (a fixed one-rank job's step read 139–221 ms over 18 runs in four
   * minutes here; docs/benchmarks.md, 2026-12-07 evening).
   */
  minRounds: 2,
  /** Stop once the interval's half-width is at most this share of the measured speed-up. */
  intervalTarget: 0.03,
} as const;

/** Whether the measured interval is tight enough to stop measuring (half-width ≤ target × speed-up). */
export function intervalIsTight(interval: RatioInterval | undefined, target: number): boolean {
  return interval !== undefined && interval.halfWidth <= target * interval.estimate;
}

/**
 * The verdict in one line, from a comparison.json as read back (any version; unknown or
 * missing parts are left out): "as predicted: measured 1.39× ± 0.04 faster (95 % CI, 24
 * steps each), predicted 1.42× faster". The CLI prints the same sentence, the extension
 * shows it after a re-run.
 */
export function comparisonText(c: unknown): string {
  const x = (typeof c === 'object' && c !== null ? c : {}) as Partial<Comparison> & {
    measured?: { stepTimeNs?: number; medianStepTimeNs?: number };
  };
  const verdict = typeof x.verdict === 'string' ? x.verdict : 'compared';
  const iv = x.speedupInterval;
  const predicted = typeof x.predictedSpeedup === 'number' ? `, predicted ${formatSpeedup(x.predictedSpeedup)}` : '';
  if (iv && typeof iv.estimate === 'number' && typeof iv.halfWidth === 'number' && typeof iv.confidence === 'number')
    return `${verdict}: ${measuredSpeedupText(iv)}${predicted}`;
  const ms = (ns: unknown) => (typeof ns === 'number' ? formatDurationNs(ns) : '–');
  const vs = typeof x.measuredSpeedup === 'number' ? ` (${formatSpeedup(x.measuredSpeedup)} vs the baseline)` : '';
  return `${verdict}: predicted ${ms(x.predicted?.stepTimeNs)}/step, measured ${ms(x.measured?.stepTimeNs ?? x.measured?.medianStepTimeNs)}/step${vs}`;
}

/** A run a round made: its summary (and whatever else the caller keeps of it, e.g. its folder). */
export interface RoundRun {
  summary: RunRecord;
}

/** What measureInRounds measured: every run of each side, in the order they ran, and the interval over them. */
export interface RoundsMeasured<B extends RoundRun, C extends RoundRun = B> {
  baselineRuns: B[];
  changedRuns: C[];
  /** The measured speed-up's interval over all of them (measuredSpeedupInterval); absent with `problem`. */
  interval?: MeasuredSpeedup;
  problem?: string;
  /** Rounds run (each: the baseline again when runBaseline is given, then the change). */
  rounds: number;
}

/**
 * How `commlens verify` measures a change (and bench:advisor with it): rounds of a fresh
 * baseline run, then the changed run, until the measured speed-up's interval over all the
 * rounds (measuredSpeedupInterval: the rounds resampled, then their steps) is tight
 * (intervalIsTight) after at least `minRounds` rounds, or `maxRounds` rounds ran. Without `runBaseline`
 * the baseline is `baselineRuns` alone (a run measured earlier, reused) and only the change
 * runs again. A run that fails (its callback returns undefined) stops the rounds: the result
 * then names the side that failed and the round.
 */
export async function measureInRounds<B extends RoundRun, C extends RoundRun = B>(opts: {
  maxRounds: number;
  intervalTarget: number;
  /** Rounds run before a tight interval may stop them (default VERIFY_DEFAULTS.minRounds; at most maxRounds). */
  minRounds?: number;
  /** Baseline runs measured before the rounds (the verified run itself, reused); default none. */
  baselineRuns?: readonly B[];
  runBaseline?: () => Promise<B | undefined>;
  runChanged: () => Promise<C | undefined>;
  /** Called after each round with the interval so far (or why there is none yet). */
  onRound?: (round: number, m: { interval?: MeasuredSpeedup; problem?: string }) => void;
}): Promise<RoundsMeasured<B, C> | { failed: 'baseline' | 'change'; round: number }> {
  const baselineRuns: B[] = [...(opts.baselineRuns ?? [])];
  const changedRuns: C[] = [];
  let m: { interval?: MeasuredSpeedup; problem?: string } = {};
  let round = 0;
  while (round < opts.maxRounds) {
    round++;
    if (opts.runBaseline) {
      const b = await opts.runBaseline();
      if (!b) return { failed: 'baseline', round };
      baselineRuns.push(b);
    }
    const c = await opts.runChanged();
    if (!c) return { failed: 'change', round };
    changedRuns.push(c);
    m = measuredSpeedupInterval(
      baselineRuns.map((r) => stepSamplesOf(r.summary)),
      changedRuns.map((r) => stepSamplesOf(r.summary)),
    );
    opts.onRound?.(round, m);
    if (round >= (opts.minRounds ?? VERIFY_DEFAULTS.minRounds) && intervalIsTight(m.interval, opts.intervalTarget))
      break;
  }
  return { baselineRuns, changedRuns, ...m, rounds: round };
}

/**
 * The comparison of a prediction with what rounds measured: each side's figures pooled over
 * its runs (pooledMeasured) and judged with the interval over them (judge), as comparison.json
 * states it.
 */
export function judgeRounds(
  predicted: VerifiableSuggestion['predicted'],
  m: Pick<RoundsMeasured<RoundRun>, 'baselineRuns' | 'changedRuns' | 'interval'>,
): Pick<
  Comparison,
  | 'baseline'
  | 'measured'
  | 'stepTimeRelError'
  | 'measuredSpeedup'
  | 'predictedSpeedup'
  | 'verdict'
  | 'speedupInterval'
  | 'right'
  | 'targetError'
> {
  const baseline = pooledMeasured(m.baselineRuns.map((r) => r.summary));
  const measured = pooledMeasured(m.changedRuns.map((r) => r.summary));
  return { baseline, measured, ...judge(predicted, baseline, measured, m.interval) };
}

/**
 * The suggestion's predicted speed-up in each run's own analysis, in run order: the prediction
 * re-made from each of those runs (runs whose analysis did not make it are left out).
 */
export function repredictedSpeedupsOf(runs: readonly RunRecord[], suggestionId: string): number[] {
  return runs.flatMap((r) => {
    const p = (r.analysis as AnalysisLike | undefined)?.suggestions?.find((x) => x.id === suggestionId)?.predicted;
    const x = p ? speedupOf(p.baselineStepTimeNs, p.stepTimeNs) : NaN;
    return Number.isFinite(x) && x > 0 ? [x] : [];
  });
}

/**
 * The baseline runs made beside the change against the step time the prediction started from;
 * undefined without such runs or a positive step time to compare with.
 */
export function baselineDriftOf(
  predictedFromStepNs: number,
  baselineRuns: readonly RunRecord[],
  pooledStepNs: number,
  suggestionId?: string,
): BaselineDrift | undefined {
  if (baselineRuns.length === 0 || !(predictedFromStepNs > 0) || !(pooledStepNs > 0)) return undefined;
  const again = suggestionId === undefined ? [] : repredictedSpeedupsOf(baselineRuns, suggestionId);
  return {
    predictedFromStepNs,
    runStepNs: baselineRuns.map((r) => measuredOf(r).stepTimeNs),
    pooledStepNs,
    relative: pooledStepNs / predictedFromStepNs - 1,
    ...(again.length ? { repredictedSpeedups: again, repredictedSpeedup: median(again) } : {}),
  };
}

const pct = (x: number): string => `${(Math.abs(x) * 100).toFixed(1)} %`;

/**
 * verify's sentence on the baseline's drift, as the CLI prints it (`fromRun`: the verified run's
 * id, named in it); `short`, the clause the extension adds to its verdict. Reads a
 * comparison.json's field, so checks its shape.
 */
export function baselineDriftText(d: unknown, opts: { short?: boolean; fromRun?: string } = {}): string | undefined {
  const x = (typeof d === 'object' && d !== null ? d : {}) as Partial<BaselineDrift>;
  const from = x.predictedFromStepNs,
    pooled = x.pooledStepNs,
    rel = x.relative;
  if (typeof from !== 'number' || typeof pooled !== 'number' || typeof rel !== 'number' || !Number.isFinite(rel))
    return undefined;
  const runs = Array.isArray(x.runStepNs) ? x.runStepNs.filter((v): v is number => typeof v === 'number') : [];
  const noted = Math.abs(rel) >= BASELINE_DRIFT_NOTED;
  const dir = rel > 0 ? 'slower' : 'faster';
  const again =
    typeof x.repredictedSpeedup === 'number' && Number.isFinite(x.repredictedSpeedup)
      ? x.repredictedSpeedup
      : undefined;
  if (opts.short)
    return (
      (noted
        ? `the baseline ran ${pct(rel)} ${dir} than in the run the prediction came from`
        : `the baseline ran as in the run the prediction came from (within ${pct(rel)})`) +
      (again !== undefined
        ? `; re-made from ${runs.length > 1 ? 'its runs beside the change' : 'its run beside the change'}, the prediction reads ${formatSpeedup(again)}`
        : '')
    );
  const each =
    runs.length > 1
      ? `${runs.map((v) => formatDurationNs(v)).join(', ')} a step in its ${runs.length} runs (${formatDurationNs(pooled)} over all)`
      : `${formatDurationNs(pooled)} a step`;
  const how = noted ? `${pct(rel)} ${dir} than` : `within ${pct(rel)} of`;
  return (
    `the baseline, run again beside the change, ran ${each}: ${how} the ${formatDurationNs(from)}` +
    `${opts.fromRun ? ` of ${opts.fromRun}, which` : ''} the prediction started from` +
    (noted ? '; runs of one job can differ that much on this machine from one to the next, so' : '; so') +
    ' the speed-ups, each against the baseline run beside it, are what compare' +
    (again !== undefined
      ? `. Re-made from ${runs.length > 1 ? 'those baseline runs (the median of their own analyses)' : 'that baseline run'}, the prediction reads ${formatSpeedup(again)}`
      : '')
  );
}
