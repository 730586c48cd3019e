/**
 * Verification of a suggestion: what a re-run with the suggested change measured, beside
 * what the advisor predicted, and the verdict. The CLI's `verify` runs the job; this module
 * only reads runs (their summary.json) and compares, so every surface that shows a
 * comparison (the CLI, comparison.json, the extension's Compare view, bench:advisor) uses
 * the same arithmetic.
 */
import { DEFAULT_LOCAL_STEPS, LOCAL_IDS, parseStrategyIds } from '../trace/strategyIds';
import { median } from '../trace/stats';

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
   * The step time predictions are compared with: the median step (after the first), or for
   * a strategy that synchronises every H steps (DiLoCo family) the mean over the last whole
   * periods of H steps, since its prediction is the average over a period.
   */
  stepTimeNs: number;
  /** How stepTimeNs was taken, in words. */
  stepTimeBasis: string;
  medianStepTimeNs: number;
  exposedCommNsPerStep: number;
  peakMemoryBytesPerRank: number;
  wireBytesPerStepPerRank: number;
  loss: number[];
}

export type Verdict = 'as predicted' | 'better than predicted' | 'worse than predicted' | 'predicted a win, measured a slowdown';

export interface Comparison {
  schemaVersion: number;
  suggestion: { id: string; title: string; configChange: Record<string, unknown> };
  baselineRun: { runDir: string; runId: string };
  verifyRun: { runDir: string; runId: string };
  predicted: VerifiableSuggestion['predicted'];
  baseline: Measured;
  measured: Measured;
  /** (measured − predicted) / measured step time. */
  stepTimeRelError: number;
  /** measured step time / baseline step time. */
  measuredSpeedup: number;
  predictedSpeedup: number;
  verdict: Verdict;
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
  medianStepTimeNs: number;
  memoryPerRank: { parameters: number; gradients: number; optimizerState: number; activations: number; communication: number }[];
  wireBytesPerStepPerRank: number[];
  loss: number[];
  analysis?: unknown;
}

/** Measured figures of a run, from its summary (and the analysis stored in it). */
export function measuredOf(s: RunRecord): Measured {
  const a = s.analysis as AnalysisLike | undefined;
  // Exposed communication per step: mean over ranks, median over steps after the first
  // (the first step compiles pipelines and fills pools).
  const perStep = new Map<number, number[]>();
  for (const r of a?.ranks ?? []) for (const st of r.steps ?? []) {
    const l = perStep.get(st.step) ?? [];
    l.push(st.overlap.exposedCommNs);
    perStep.set(st.step, l);
  }
  const stepsSorted = [...perStep.keys()].sort((x, y) => x - y);
  const usable = stepsSorted.length > 1 ? stepsSorted.slice(1) : stepsSorted;
  const H = s.config ? syncPeriodOf(s.config) : undefined;
  const exposed = comparable(usable.map((k) => perStep.get(k)!.reduce((x, y) => x + y, 0) / perStep.get(k)!.length), H);
  const mem = s.memoryPerRank.map((m) => m.parameters + m.gradients + m.optimizerState + m.activations + m.communication);
  const step = comparable(s.stepTimeNs.length > 1 ? s.stepTimeNs.slice(1) : s.stepTimeNs, H);
  return {
    stepTimeNs: step.value,
    stepTimeBasis: step.basis,
    medianStepTimeNs: s.medianStepTimeNs,
    exposedCommNsPerStep: exposed.value,
    peakMemoryBytesPerRank: Math.max(0, ...mem),
    wireBytesPerStepPerRank: Math.max(0, ...s.wireBytesPerStepPerRank),
    loss: s.loss,
  };
}

/** Inner steps between synchronisations when the run's strategy averages only every H steps. */
export function syncPeriodOf(config: VerifiableConfig): number | undefined {
  if (typeof config.strategy !== 'string') return undefined;
  const ids = parseStrategyIds(config.strategy);
  if (!ids.some((id) => (LOCAL_IDS as readonly string[]).includes(id))) return undefined;
  const H = (config.strategyOptions?.localSteps ?? DEFAULT_LOCAL_STEPS) as number;
  // A hand-edited summary may hold anything here; validation reports it, this only must not misread it.
  return Number.isInteger(H) && H > 1 ? H : undefined;
}

/**
 * A per-step figure (steps after the first, in order) as predictions are made: the median
 * step, or with a sync period H the mean over the last whole periods (each holds one sync).
 */
function comparable(perStep: number[], H: number | undefined): { value: number; basis: string } {
  const periods = H ? Math.floor(perStep.length / H) : 0;
  if (!H || periods < 1) return { value: median(perStep), basis: 'median step after the first' };
  const last = perStep.slice(perStep.length - periods * H);
  return { value: last.reduce((a, b) => a + b, 0) / last.length, basis: `mean of the last ${last.length} steps (${periods} period${periods > 1 ? 's' : ''} of ${H} steps, each with its synchronisation)` };
}

/** Compares a prediction with the measurement; a predicted win that measures >5% slower is called out. */
export function judge(predicted: VerifiableSuggestion['predicted'], baseline: Measured, measured: Measured): Pick<Comparison, 'stepTimeRelError' | 'measuredSpeedup' | 'predictedSpeedup' | 'verdict'> {
  const stepTimeRelError = (measured.stepTimeNs - predicted.stepTimeNs) / measured.stepTimeNs;
  const measuredSpeedup = baseline.stepTimeNs / measured.stepTimeNs;
  const predictedSpeedup = predicted.baselineStepTimeNs / predicted.stepTimeNs;
  let verdict: Verdict;
  if (predictedSpeedup > 1 && measured.stepTimeNs > baseline.stepTimeNs * 1.05) verdict = 'predicted a win, measured a slowdown';
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
    for (const [k, v] of Object.entries(over)) out[k] = isObject(v) && isObject(Object.hasOwn(out, k) ? out[k] : undefined) ? merge(out[k] as Record<string, unknown>, v) : v;
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
export function verificationConfig<C extends VerifiableConfig>(base: C, change: Record<string, unknown>): { config: C; note?: string } {
  const config = applyConfigChange(base, change);
  const H = syncPeriodOf(config);
  if (H === undefined || config.steps >= H + 2) return { config };
  const steps = H + 2;
  const note = `running ${steps} steps instead of ${config.steps}: the change synchronises every ${H} steps, and the comparison needs one whole period between the first step and the last (which the analysis leaves out)`;
  return { config: { ...config, steps }, note };
}

