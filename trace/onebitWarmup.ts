/**
 * 1-bit Adam's warm-up rule (arXiv 2102.02888: run full-precision Adam until its variance
 * has become stable, then freeze it), shared by the strategy (runtime/strategies/onebitAdam.ts)
 * and the replay that prices it (analysis/replay/whatIf.ts); the strategy measures the change
 * (onebitAdam.ts varianceChangeOfStep).
 *
 * Stability is measured after every warm-up step as the relative change of the bias-corrected
 * variance, ‖v̂_t − v̂_{t−1}‖₂ / ‖v̂_t‖₂. Early in training v̂ is an average of the g² seen so
 * far, so with vanishing gradients this change is 1/(t − 1) after t steps, and noisy ones
 * keep it near that: at VARIANCE_STABLE_CHANGE v̂ averages five batches or more. Measured on the presets (12-step runs, 2 warm-up steps diverged on
 * mlp-small: loss 2.89 → 14.08): the change at steps 1-5 was 0.72, 0.50, 0.33, 0.24, 0.20
 * on mlp-small and 0.81, 0.60, 0.37, 0.22, 0.19 on gpt-mini (so both freeze after 5 steps of
 * 12); after 2 steps, the next step's g² of 101 mlp-small entries was over 100× their v̂ (up
 * to 5·10⁶×), and the frozen variance divides the momentum by √v̂.
 *
 * A prediction of 1-bit Adam is about its compressed phase (the run's purpose once the
 * variance is frozen; the warm-up is a fixed cost of the first steps whatever the run's
 * length): verify measures a 1-bit Adam run over the steps after the freeze, which the run's
 * notes record (freezeNote, frozenAfterStepOf), and lengthens the run so that there are as
 * many of them as the baseline has steady-state steps (analysis/verify.ts).
 */

/** The variance is stable once its relative change over one step is at most this. */
export const VARIANCE_STABLE_CHANGE = 0.25;

/** The paper freezes after 15-25 % of training; never before 15 % of a long run. */
export const MIN_WARMUP_FRACTION = 0.15;

/** Never fewer full-precision steps than this: 2 diverged on mlp-small (see above), 3 did not. */
export const MIN_WARMUP_STEPS = 3;

/**
 * The least and most full-precision steps of a `steps`-step run under the adaptive rule:
 * at least max(3, 15 % of the steps), at most half the steps (so at least as many steps
 * are compressed), always leaving a compressed step (runs of 3 or 4 steps: 2 warm-up steps).
 */
export function onebitWarmupBounds(steps: number): { min: number; max: number } {
  const max = Math.min(Math.max(2, Math.floor(steps / 2)), Math.max(1, steps - 1));
  const min = Math.min(Math.max(MIN_WARMUP_STEPS, Math.round(steps * MIN_WARMUP_FRACTION)), max);
  return { min, max };
}

/**
 * Whether the variance freezes after the warm-up step that made `warmupSoFar` full-precision
 * steps, its relative change over that step being `change`.
 */
export function freezesNow(warmupSoFar: number, change: number, bounds: { min: number; max: number }): boolean {
  return warmupSoFar >= bounds.max || (warmupSoFar >= bounds.min && change <= VARIANCE_STABLE_CHANGE);
}

/** The start of the run's note when the variance froze after step `step` (0-based): its one definition. */
export function freezeNote(step: number): string {
  return `1-bit Adam: variance frozen after step ${step}`;
}

const FREEZE_NOTE = /^1-bit Adam: variance frozen after step (\d+)\b/;

/** The step after which a run's 1-bit Adam froze its variance, from the run's notes (freezeNote); undefined if none did. */
export function frozenAfterStepOf(notes: readonly unknown[] | undefined): number | undefined {
  for (const n of notes ?? []) {
    const m = typeof n === 'string' ? FREEZE_NOTE.exec(n) : null;
    if (m) return Number(m[1]);
  }
  return undefined;
}

/**
 * Steps a 1-bit Adam run needs so that at least `compressed` steps follow the freeze: with a
 * fixed warm-up W, W + compressed; with the adaptive one, whose warm-up is at most half the run,
 * twice `compressed`.
 */
export function onebitStepsFor(compressed: number, fixedWarmup?: number): number {
  return fixedWarmup !== undefined ? fixedWarmup + compressed : 2 * compressed;
}
