/**
 * Warm-up steps: the first steps of a run, which compile GPU pipelines, fill buffer pools
 * and make first allocations, and so take far longer than the steady state (10–25 s on a
 * software rasterizer for a step that then takes milliseconds). Every statistic CommLens
 * shows (step time, breakdowns, Compare, verify, the ETA, the advisor's inputs) is taken
 * over the steady-state steps only. The runtime (runtime/summary.ts, the trace's run
 * metadata) and the analysis (analysis/runFigures.ts) use this one rule, so they agree on
 * which steps are warm-up.
 */
import { median } from './stats';
import { DEFAULT_LOCAL_STEPS, LOCAL_IDS, parseStrategyIds } from './strategyIds';

export const WARMUP_RULE = {
  /** A step after the first is warm-up while it takes more than this many times the median of the steps after it. */
  factor: 1.5,
  /** At most this share of the steps is warm-up (at least the first step, when there are two or more). */
  maxFraction: 0.25,
  text: 'the first step of a CommLens run with two or more steps is warm-up (of an imported trace, only when it is slow as below: the profiler schedule had its own warm-up); so is each following step while it takes more than 1.5× the median of the steps after it, up to a quarter of the steps (at least one step is always steady state)',
} as const;

/**
 * How many leading steps are warm-up, given every finished step's time in step order
 * (WARMUP_RULE). 0 for runs of fewer than two steps: a lone step is all there is.
 */
export function warmupStepCount(stepTimesNs: readonly number[], opts: { firstAlways?: boolean } = {}): number {
  const n = stepTimesNs.length;
  if (n < 2) return 0;
  const cap = Math.max(1, Math.floor(n * WARMUP_RULE.maxFraction));
  // An imported PyTorch trace comes from the profiler's active steps, after its own warm-up
  // steps (torch.profiler.schedule): its first step is warm-up only when it is slow too.
  let k = opts.firstAlways === false ? 0 : 1;
  while (k < cap && k < n - 1 && stepTimesNs[k] > WARMUP_RULE.factor * median(stepTimesNs.slice(k + 1))) k++;
  return k;
}

/** Splits step numbers (in step order, with their times) into warm-up and steady-state steps. */
export function splitWarmup<T extends { step: number; timeNs: number }>(
  steps: readonly T[],
  opts: { firstAlways?: boolean } = {},
): { warmup: number[]; steady: number[] } {
  const k = warmupStepCount(
    steps.map((s) => s.timeNs),
    opts,
  );
  return { warmup: steps.slice(0, k).map((s) => s.step), steady: steps.slice(k).map((s) => s.step) };
}

/**
 * Estimated time to finish `remaining` steps from the steady-state steps seen so far:
 * undefined while only warm-up steps have finished (nothing yet says how long a step takes).
 */
export function etaFromSteadySteps(stepTimesNs: readonly number[], remaining: number): number | undefined {
  if (remaining <= 0) return 0;
  // While the run goes on, every step after the first that is not (yet) warm-up by the rule counts.
  const k = Math.max(1, warmupStepCount(stepTimesNs));
  const steady = stepTimesNs.slice(k);
  if (steady.length === 0) return undefined;
  return remaining * median(steady);
}

/** Inner steps between synchronisations when the strategy averages only every H steps (DiLoCo family), else undefined. */
export function syncPeriodOf(strategy: unknown, strategyOptions?: Record<string, unknown>): number | undefined {
  if (typeof strategy !== 'string') return undefined;
  const ids = parseStrategyIds(strategy);
  if (!ids.some((id) => (LOCAL_IDS as readonly string[]).includes(id))) return undefined;
  const H = strategyOptions?.localSteps ?? DEFAULT_LOCAL_STEPS;
  // A hand-edited summary may hold anything here; validation reports it, this only must not misread it.
  return typeof H === 'number' && Number.isInteger(H) && H > 1 ? H : undefined;
}

/**
 * Steps at the end of a run that drain work the steady state overlaps: Streaming DiLoCo's
 * last step waits for the fragment sync still in flight (runtime/strategies/localUpdates.ts:
 * no rank may leave a collective behind), a whole all-reduce exposed once per run, which the
 * steady state hides under the next inner steps. 1 for Streaming DiLoCo with overlapSteps > 0
 * (the default), else 0. The step time's periods are taken before it (steadyStepSamples).
 */
export function finalDrainStepsOf(strategy: unknown, strategyOptions?: Record<string, unknown>): number {
  if (typeof strategy !== 'string' || !parseStrategyIds(strategy).includes('streaming-diloco')) return 0;
  const overlap = strategyOptions?.overlapSteps ?? 1;
  return typeof overlap === 'number' && overlap > 0 ? 1 : 0;
}

/**
 * **Step time** of a run (docs/figures.md): the median wall time of the steady-state steps;
 * for a strategy that synchronises only every H steps (DiLoCo family) the mean over the last
 * whole periods of H steady-state steps (each holds one synchronisation), since a median
 * would pick a cheap inner step. `perStep` is in step order, warm-up already left out.
 */
export function steadyStepTime(
  perStep: readonly number[],
  syncPeriod?: number,
  finalDrainSteps = 0,
): { value: number; basis: string } {
  const H = syncPeriod;
  const { values: last, period } = steadyStepSamples(perStep, H, finalDrainSteps);
  if (period === undefined)
    return {
      value: median([...perStep]),
      basis: `median of ${perStep.length} steady-state step${perStep.length === 1 ? '' : 's'}`,
    };
  const periods = last.length / period;
  return {
    value: last.reduce((a, b) => a + b, 0) / last.length,
    basis: `mean of the last ${last.length} steady-state steps (${periods} period${periods > 1 ? 's' : ''} of ${H} steps, each with its synchronisation)${finalDrainSteps > 0 && perStep.length > last.length ? ` before the last step (it drains the sync in flight)` : ''}`,
  };
}

/**
 * The steps the step time is taken over (steadyStepTime): all steady-state steps, or with a
 * synchronisation every H steps the last whole periods of H (`period` then says H; without
 * one whole period the steps are taken as they are), those periods ending before the run's
 * last `finalDrainSteps` (finalDrainStepsOf) when there are enough steps for one. `perStep`
 * is in step order, warm-up already left out. The speed-up's interval (analysis/verify.ts)
 * resamples these.
 */
export function steadyStepSamples(
  perStep: readonly number[],
  syncPeriod?: number,
  finalDrainSteps = 0,
): { values: number[]; period?: number } {
  const H = syncPeriod;
  if (!H) return { values: [...perStep] };
  const drained = perStep.length - finalDrainSteps >= H ? perStep.slice(0, perStep.length - finalDrainSteps) : perStep;
  const periods = Math.floor(drained.length / H);
  if (periods < 1) return { values: [...perStep] };
  return { values: drained.slice(drained.length - periods * H), period: H };
}
