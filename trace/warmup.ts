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

export const WARMUP_RULE = {
  /** A step after the first is warm-up while it takes more than this many times the median of the steps after it. */
  factor: 1.5,
  /** At most this share of the steps is warm-up (at least the first step, when there are two or more). */
  maxFraction: 0.25,
  text: 'the first step of a run with two or more steps is warm-up; so is each following step while it takes more than 1.5× the median of the steps after it, up to a quarter of the steps (at least one step is always steady state)',
} as const;

/**
 * How many leading steps are warm-up, given every finished step's time in step order
 * (WARMUP_RULE). 0 for runs of fewer than two steps: a lone step is all there is.
 */
export function warmupStepCount(stepTimesNs: readonly number[]): number {
  const n = stepTimesNs.length;
  if (n < 2) return 0;
  const cap = Math.max(1, Math.floor(n * WARMUP_RULE.maxFraction));
  let k = 1;
  while (k < cap && k < n - 1 && stepTimesNs[k] > WARMUP_RULE.factor * median(stepTimesNs.slice(k + 1))) k++;
  return k;
}

/** Splits step numbers (in step order, with their times) into warm-up and steady-state steps. */
export function splitWarmup<T extends { step: number; timeNs: number }>(steps: readonly T[]): { warmup: number[]; steady: number[] } {
  const k = warmupStepCount(steps.map((s) => s.timeNs));
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
