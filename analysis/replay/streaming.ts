/**
 * Streaming DiLoCo's schedule (arXiv 2501.18512, as CommLens' `streaming-diloco` runs it):
 * the parameters are cut into fragments of whole layers; fragment f starts its sync at the
 * end of every step s with (s + 1 − shift_f) mod H = 0 (shift_f = ⌊f·H/F⌋, so the syncs are
 * staggered), its all-reduce runs while the next `overlapSteps` inner steps train, and the
 * step `overlapSteps` later waits for it before merging it (overlapSteps = 0: the step that
 * starts it waits). The syncs share the link, one after another.
 *
 * The replay needs the same fragments as the strategy (their sizes decide each sync's
 * length), so the strategy takes its plan from here.
 */

/** Cuts layers into `count` contiguous fragments of similar size (whole layers each). */
export function planFragments(layers: { paramOffset: number; paramCount: number }[], count: number): { offset: number; length: number }[] {
  const total = layers.reduce((a, l) => a + l.paramCount, 0);
  const out: { offset: number; length: number }[] = [];
  let start = 0;
  let acc = 0;
  for (let i = 0; i < layers.length; i++) {
    acc += layers[i].paramCount;
    const remainingLayers = layers.length - 1 - i;
    const remainingFragments = count - out.length - 1;
    // Close the fragment at its share of the total, or when each layer left must become a fragment of its own.
    if ((acc >= (total * (out.length + 1)) / count && remainingFragments > 0) || remainingLayers <= remainingFragments || i === layers.length - 1) {
      const offset = layers[start].paramOffset;
      out.push({ offset, length: layers[i].paramOffset + layers[i].paramCount - offset });
      start = i + 1;
    }
  }
  return out;
}

/** The step whose end starts fragment `index`'s first sync is shift + H − 1; then every H steps. */
export function fragmentShift(index: number, fragments: number, H: number): number {
  return Math.floor((index * H) / fragments);
}

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
export function streamingPeriod(localStepNs: number, syncNs: number[], H: number, overlapSteps: number): StreamingPeriod {
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
