/**
 * Verification of a suggestion: what a re-run with the suggested change measured, beside
 * what the advisor predicted, and the verdict. The CLI's `verify` runs the job; this module
 * only reads runs (their summary.json) and compares, so every surface that shows a
 * comparison (the CLI, comparison.json, the extension's Compare view, bench:advisor) uses
 * the same arithmetic.
 */
import { warmupStepCount } from '../trace/warmup';
import { stepTimeFigure, syncPeriodOf as syncPeriodOfStrategy, speedupOf } from './runFigures';
import { median } from '../trace/stats';
import type { TorchApply } from '../trace/torchJob';

export const COMPARISON_SCHEMA_VERSION = 1;

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
  /** Undefined when the trace does not show it (PyTorch traces whose collectives carry no sizes). */
  wireBytesPerStepPerRank?: number;
  /** The warm-up steps left out of these figures. */
  warmupSteps: number[];
  loss: number[];
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
  /** External (PyTorch) runs: whether the re-run's traces show the change commlens_torch was asked to apply. */
  applied?: AppliedCheck;
}

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
  wireBytesPerStepPerRank: number[];
  loss: number[];
  analysis?: unknown;
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
  bytesPerStep: number;
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
  const own = stepTimeFigure(times.slice(warmupCount), s.config ? syncPeriodOf(s.config) : undefined);
  const mem = (s.memoryPerRank ?? []).map(
    (m) => m.parameters + m.gradients + m.optimizerState + m.activations + m.communication,
  );
  return {
    stepTimeNs: f.stepTimeNs ?? own.value,
    stepTimeBasis: f.stepTimeBasis ?? own.basis,
    exposedCommNs: f.exposedCommNs ?? exposedOfRanks(s, new Set(warmupSteps)),
    bytesPerStep: f.bytesPerStep ?? Math.max(0, ...(s.wireBytesPerStepPerRank ?? [])),
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

/** Measured figures of a run, from its summary (and the analysis stored in it): figuresOfSummary. */
export function measuredOf(s: RunRecord): Measured {
  const f = figuresOfSummary(s);
  return {
    stepTimeNs: f.stepTimeNs,
    stepTimeBasis: f.stepTimeBasis,
    medianStepTimeNs: s.medianStepTimeNs,
    exposedCommNsPerStep: f.exposedCommNs ?? 0,
    peakMemoryBytesPerRank: f.peakMemoryBytes,
    wireBytesPerStepPerRank: f.bytesPerStep,
    warmupSteps: f.warmupSteps,
    loss: s.loss,
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
  return {
    stepTimeNs: f.stepTimeNs,
    stepTimeBasis: f.stepTimeBasis ?? 'median of the steady-state steps',
    medianStepTimeNs: median(f.stepTimesNs.filter((s) => steady.has(s.step)).map((s) => s.timeNs)),
    exposedCommNsPerStep: f.exposedCommNs ?? 0,
    peakMemoryBytesPerRank: f.peakMemoryBytes,
    wireBytesPerStepPerRank: f.bytesPerStep,
    warmupSteps: f.warmupSteps,
    loss: [],
  };
}

/** Inner steps between synchronisations when the run's strategy averages only every H steps. */
export function syncPeriodOf(config: VerifiableConfig): number | undefined {
  return syncPeriodOfStrategy(config.strategy, config.strategyOptions);
}

/** Compares a prediction with the measurement; a predicted win that measures >5% slower is called out. */
export function judge(
  predicted: VerifiableSuggestion['predicted'],
  baseline: Measured,
  measured: Measured,
): Pick<Comparison, 'stepTimeRelError' | 'measuredSpeedup' | 'predictedSpeedup' | 'verdict'> {
  const stepTimeRelError = (measured.stepTimeNs - predicted.stepTimeNs) / measured.stepTimeNs;
  const measuredSpeedup = speedupOf(baseline.stepTimeNs, measured.stepTimeNs);
  const predictedSpeedup = speedupOf(predicted.baselineStepTimeNs, predicted.stepTimeNs);
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

/** Applies a suggestion's config change (objects merge, values replace). */
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
  const next = merge(config as unknown as Record<string, unknown>, change);
  // A new strategy starts from its own defaults unless the change names options.
  if (Object.hasOwn(change, 'strategy') && !Object.hasOwn(change, 'strategyOptions')) delete next.strategyOptions;
  return next as unknown as C;
}

/**
 * The run that verifies a change: the base config with the change applied, lengthened
 * when the change synchronises only every H steps so that the comparison covers a whole
 * period between the warm-up step and the last step, which the analysis leaves out (HTA's
 * default) — else a short run would never synchronise and measure only the cheap inner
 * steps. Returns a note when it lengthened the run.
 */
export function verificationConfig<C extends VerifiableConfig>(
  base: C,
  change: Record<string, unknown>,
): { config: C; note?: string } {
  const config = applyConfigChange(base, change);
  const H = syncPeriodOf(config);
  if (H === undefined || config.steps >= H + 2) return { config };
  const steps = H + 2;
  const note = `running ${steps} steps instead of ${config.steps}: the change synchronises every ${H} steps, and the comparison needs one whole period between the first step and the last (which the analysis leaves out)`;
  return { config: { ...config, steps }, note };
}
