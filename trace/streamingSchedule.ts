/**
 * Streaming DiLoCo's schedule (arXiv 2501.18512, as CommLens' `streaming-diloco` runs it):
 * the parameters are cut into fragments of whole layers; fragment f starts its sync at the
 * end of every step s with (s + 1 − shift_f) mod H = 0 (shift_f = ⌊f·H/F⌋, so the syncs are
 * staggered), its all-reduce runs while the next `overlapSteps` inner steps train, and the
 * step `overlapSteps` later waits for it before merging it (overlapSteps = 0: the step that
 * starts it waits). The syncs share the link, one after another.
 *
 * The strategy (runtime/strategies/localUpdates.ts) and the replay
 * (analysis/replay/streaming.ts) both need these fragments and shifts (their sizes decide
 * each sync's length), so they are defined once, here.
 */

/** Cuts layers into `count` contiguous fragments of similar size (whole layers each). */
export function planFragments(
  layers: { paramOffset: number; paramCount: number }[],
  count: number,
): { offset: number; length: number }[] {
  const total = layers.reduce((a, l) => a + l.paramCount, 0);
  const out: { offset: number; length: number }[] = [];
  let start = 0;
  let acc = 0;
  for (let i = 0; i < layers.length; i++) {
    acc += layers[i].paramCount;
    const remainingLayers = layers.length - 1 - i;
    const remainingFragments = count - out.length - 1;
    // Close the fragment at its share of the total, or when each layer left must become a fragment of its own.
    if (
      (acc >= (total * (out.length + 1)) / count && remainingFragments > 0) ||
      remainingLayers <= remainingFragments ||
      i === layers.length - 1
    ) {
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
