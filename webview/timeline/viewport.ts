/**
 * The visible time window as one small state object (pure): zoom around an anchor, pan,
 * clamp to the trace extent. All times are ns relative to the trace origin.
 */

/** Narrowest window the viewer zooms to: 20 ns across the screen. */
export const MIN_WINDOW_NS = 20;

export class Viewport {
  startNs: number;
  endNs: number;
  /** Width in CSS pixels of the time area. */
  widthPx: number;

  constructor(
    readonly extentStartNs: number,
    readonly extentEndNs: number,
    widthPx: number,
  ) {
    const pad = Math.max((extentEndNs - extentStartNs) * 0.01, MIN_WINDOW_NS / 2);
    this.minNs = extentStartNs - pad;
    this.maxNs = extentEndNs + pad;
    this.startNs = this.minNs;
    this.endNs = this.maxNs;
    this.widthPx = Math.max(1, widthPx);
  }

  /** Bounds of panning: the extent with a 1 % margin. */
  readonly minNs: number;
  readonly maxNs: number;

  get durNs(): number {
    return this.endNs - this.startNs;
  }
  get nsPerPx(): number {
    return this.durNs / this.widthPx;
  }

  timeToPx(ns: number): number {
    return ((ns - this.startNs) / this.durNs) * this.widthPx;
  }
  pxToTime(px: number): number {
    return this.startNs + (px / this.widthPx) * this.durNs;
  }

  /** Shows [startNs, endNs], clamped to the pannable range and the minimum width. */
  set(startNs: number, endNs: number): void {
    if (!Number.isFinite(startNs) || !Number.isFinite(endNs)) return;
    let dur = Math.max(endNs - startNs, MIN_WINDOW_NS);
    const full = this.maxNs - this.minNs;
    if (dur >= full) {
      this.startNs = this.minNs;
      this.endNs = this.maxNs;
      return;
    }
    let start = startNs;
    if (endNs - startNs < MIN_WINDOW_NS) start = (startNs + endNs) / 2 - MIN_WINDOW_NS / 2;
    if (start < this.minNs) start = this.minNs;
    if (start + dur > this.maxNs) start = this.maxNs - dur;
    dur = Math.min(dur, full);
    this.startNs = start;
    this.endNs = start + dur;
  }

  /** Zooms by `factor` (> 1 zooms in) keeping the time under `anchorPx` fixed. */
  zoom(factor: number, anchorPx = this.widthPx / 2): void {
    const anchor = this.pxToTime(anchorPx);
    const frac = anchorPx / this.widthPx;
    const dur = this.durNs / factor;
    this.set(anchor - frac * dur, anchor - frac * dur + dur);
  }

  /** Pans by `px` pixels (positive moves the window later in time). */
  panPx(px: number): void {
    const d = px * this.nsPerPx;
    this.set(this.startNs + d, this.endNs + d);
  }

  resize(widthPx: number): void {
    this.widthPx = Math.max(1, widthPx);
  }

  /** Shows the whole trace. */
  fit(): void {
    this.set(this.minNs, this.maxNs);
  }

  /** Shows [startNs, endNs] with `marginFrac` of its length on each side. */
  focus(startNs: number, endNs: number, marginFrac = 0.1): void {
    const d = Math.max(endNs - startNs, MIN_WINDOW_NS);
    this.set(startNs - d * marginFrac, endNs + d * marginFrac);
  }
}

/**
 * The window the timeline opens on when no view was saved: the steady-state steps, from the
 * end of the last warm-up step (`warmupEndNs`, trace/warmup.ts) to the end of the trace, so
 * a warm-up step that takes a thousand times a steady one (pipeline compilation on a software
 * rasterizer) does not fill the screen. Undefined (open on the whole trace) without warm-up,
 * or when warm-up does not end inside the trace.
 */
export function initialWindow(
  extentStartNs: number,
  extentEndNs: number,
  warmupEndNs: number | undefined,
): { startNs: number; endNs: number } | undefined {
  if (warmupEndNs === undefined || !Number.isFinite(warmupEndNs)) return undefined;
  if (warmupEndNs <= extentStartNs || warmupEndNs >= extentEndNs) return undefined;
  return { startNs: warmupEndNs, endNs: extentEndNs + (extentEndNs - warmupEndNs) * 0.01 };
}
