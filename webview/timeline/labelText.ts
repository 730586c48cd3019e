/**
 * Labels shortened to fit a width in the timeline's canvas (slice names, track names). Kept
 * apart from draw.ts so that it needs only a text measure, not a DOM.
 */

/** What measuring a label needs of a canvas context. */
export interface TextMeasure {
  font: string;
  measureText(s: string): { width: number };
}

let charWidthCache = { font: '', w: 7 };
function charWidth(ctx: TextMeasure): number {
  if (charWidthCache.font !== ctx.font)
    charWidthCache = { font: ctx.font, w: ctx.measureText('abcdefghijklmnopqrstuvwxyz0123').width / 30 };
  return charWidthCache.w;
}

/** Shortens `s` with an ellipsis so it fits in about `w` px (estimated from the mean character width). */
export function clipLabel(ctx: TextMeasure, s: string, w: number): string {
  const max = Math.floor(w / charWidth(ctx));
  if (s.length <= max) return s;
  return max <= 1 ? '' : `${s.slice(0, max - 1)}…`;
}

/**
 * clipLabel for a track's name that keeps a lane's number whole ("host blocked on… (2)",
 * runtime/runTrace.ts placeOnLanes), so that the lanes of one stream stay apart.
 */
export function clipTrackName(ctx: TextMeasure, s: string, w: number): string {
  const max = Math.floor(w / charWidth(ctx));
  if (s.length <= max) return s;
  const tail = / \(\d{1,3}\)$/.exec(s)?.[0];
  if (!tail || max - tail.length < 4) return clipLabel(ctx, s, w);
  return `${s.slice(0, max - tail.length - 1)}…${tail}`;
}
