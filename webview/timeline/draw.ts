/**
 * Canvas2D drawing of one timeline frame: track rows, slice boxes with level of detail
 * (every run of slices narrower than a pixel collapses into one 1-px column per pixel,
 * found by binary search, so a frame costs O(visible pixels · log n), not O(slices)),
 * counters as area charts, and the label layer.
 */
import { formatWithUnit } from '../../trace/format';
import { axisTicks } from './axis';
import { offScale, scaleRangeText, type CounterScale } from './counterScale';
import { COUNTER_COMPACT_H, GROUP_H, LABEL_W, SLICE_ROW_H, stickyGroup, TRACK_PAD, type Layout } from './layout';
import { clipLabel, clipTrackName } from './labelText';
import { fillIndex, type Palette } from './theme';
import { firstIndexAtOrAfter, firstVisible, type TraceIndex } from './traceIndex';
import type { Viewport } from './viewport';

export interface Frame {
  index: TraceIndex;
  layout: Layout;
  vp: Viewport;
  scrollY: number;
  /** CSS px of the whole canvas. */
  widthPx: number;
  heightPx: number;
  palette: Palette;
  collapsed: ReadonlySet<number>;
  /** Row (index into layout.rows) that has keyboard focus, or -1. */
  focusRow: number;
  /** Merge sub-pixel slices (on unless the benchmark measures what it saves). */
  lod: boolean;
  /** Pinned tracks. */
  pinned: ReadonlySet<number>;
  /** Time origin of the axis and of the times shown (ns, trace clock). */
  originNs: number;
  /** Marked ranges (the `m` key), drawn as bands. */
  marks: readonly Mark[];
}

/** A marked time range; `temporary` marks are replaced by the next `m`. */
export interface Mark {
  startNs: number;
  endNs: number;
  temporary: boolean;
}

/** A label to draw on the text layer. */
export interface LabelJob {
  x: number;
  y: number;
  w: number;
  slice: number;
  fill: number;
}

export interface DrawStats {
  boxes: number;
  labels: LabelJob[];
}

/** Draws rows, boxes and counters on `ctx` (scaled to CSS px). Returns the labels to draw. */
export function drawBoxes(ctx: CanvasRenderingContext2D, f: Frame): DrawStats {
  const { index, layout, vp, palette: pal } = f;
  ctx.fillStyle = pal.background;
  ctx.fillRect(0, 0, f.widthPx, f.heightPx);
  const timeW = f.widthPx - LABEL_W;
  const t0 = vp.startNs,
    t1 = vp.endNs,
    k = timeW / (t1 - t0);
  const fills = pal.fills;
  const rects: number[][] = fills.map(() => []);
  const labels: LabelJob[] = [];
  let boxes = 0;

  // Grid and step markers under everything.
  ctx.save();
  ctx.beginPath();
  ctx.rect(LABEL_W, 0, timeW, f.heightPx);
  ctx.clip();
  ctx.strokeStyle = pal.grid;
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (const t of axisTicks(t0, t1, timeW, 90, f.originNs).ticks) {
    const x = Math.round(LABEL_W + (t.ns - t0) * k) + 0.5;
    ctx.moveTo(x, 0);
    ctx.lineTo(x, f.heightPx);
  }
  ctx.stroke();
  ctx.setLineDash([3, 4]);
  ctx.beginPath();
  for (const st of index.steps) {
    if (st.startNs < t0 || st.startNs > t1) continue;
    const x = Math.round(LABEL_W + (st.startNs - t0) * k) + 0.5;
    ctx.moveTo(x, 0);
    ctx.lineTo(x, f.heightPx);
  }
  ctx.strokeStyle = pal.muted;
  ctx.globalAlpha = 0.5;
  ctx.stroke();
  ctx.globalAlpha = 1;
  ctx.setLineDash([]);
  ctx.restore();

  const pinnedH = layout.pinnedH;
  const flush = (clipTop: number, clipBottom: number): void => {
    ctx.save();
    ctx.beginPath();
    ctx.rect(LABEL_W, clipTop, timeW, clipBottom - clipTop);
    ctx.clip();
    for (let c = 0; c < fills.length; c++) {
      const a = rects[c];
      if (a.length === 0) continue;
      ctx.fillStyle = fills[c];
      ctx.beginPath();
      for (let i = 0; i < a.length; i += 4) ctx.rect(a[i], a[i + 1], a[i + 2], a[i + 3]);
      ctx.fill();
      if (pal.highContrast) {
        ctx.strokeStyle = pal.contrastBorder;
        ctx.lineWidth = 1;
        ctx.stroke();
      }
      a.length = 0;
    }
    ctx.restore();
  };

  // The scrolled region (below the pinned tracks), clipped to it.
  ctx.save();
  ctx.beginPath();
  ctx.rect(0, pinnedH, f.widthPx, f.heightPx - pinnedH);
  ctx.clip();
  const first = Math.max(layout.pinnedCount, rowIndexAt(layout, f.scrollY + pinnedH));
  for (let r = first; r < layout.rows.length; r++) {
    const row = layout.rows[r];
    const y = row.y - f.scrollY;
    if (y > f.heightPx) break;
    boxes += drawRow(ctx, f, r, y, rects, labels);
  }
  flush(pinnedH, f.heightPx);
  // Sticky rank header: the group of the top row stays labelled while its tracks scroll by.
  const sticky = stickyGroup(layout, f.scrollY);
  let labelTop = pinnedH;
  if (sticky) {
    boxes += drawRow(ctx, f, sticky.row, sticky.y, rects, [], true);
    flush(pinnedH, f.heightPx);
    labelTop = sticky.y + GROUP_H;
  }
  ctx.restore();
  const scrolledLabels = labels.filter((l) => l.y - SLICE_ROW_H / 2 >= labelTop - 1);
  labels.length = 0;
  labels.push(...scrolledLabels);

  // The pinned region on top.
  if (layout.pinnedCount > 0) {
    ctx.fillStyle = pal.background;
    ctx.fillRect(0, 0, f.widthPx, pinnedH);
    for (let r = 0; r < layout.pinnedCount; r++) boxes += drawRow(ctx, f, r, layout.rows[r].y, rects, labels);
    flush(0, pinnedH);
    ctx.fillStyle = pal.focus;
    ctx.fillRect(0, pinnedH - 2, f.widthPx, 2);
  }
  ctx.fillStyle = pal.border;
  ctx.fillRect(LABEL_W - 1, 0, 1, f.heightPx);
  return { boxes, labels };
}

/** Draws row `r` (header or track) with its top at screen y `y`; boxes go to `rects`. */
function drawRow(
  ctx: CanvasRenderingContext2D,
  f: Frame,
  r: number,
  y: number,
  rects: number[][],
  labels: LabelJob[],
  sticky = false,
): number {
  const { index, layout, vp, palette: pal } = f;
  const tr = index.trace;
  const row = layout.rows[r];
  const t0 = vp.startNs,
    t1 = vp.endNs,
    k = (f.widthPx - LABEL_W) / (t1 - t0);
  let boxes = 0;
  if (row.kind === 'group') {
    const g = index.groups[row.group];
    ctx.fillStyle = pal.headerBg;
    ctx.fillRect(0, y, f.widthPx, GROUP_H);
    if (sticky) {
      ctx.fillStyle = pal.border;
      ctx.fillRect(0, y + GROUP_H - 1, f.widthPx, 1);
    }
    ctx.fillStyle = pal.foreground;
    ctx.font = `bold ${pal.font}`;
    ctx.textBaseline = 'middle';
    const open = !f.collapsed.has(g.pid);
    ctx.fillText(`${open ? '▾' : '▸'} ${g.label}`, 8, y + GROUP_H / 2);
    ctx.font = pal.font;
    ctx.fillStyle = pal.muted;
    if (open) {
      const nm = tr.header.processes.find((p) => p.pid === g.pid)?.name;
      ctx.fillText(
        `${g.tracks.length} track${g.tracks.length === 1 ? '' : 's'}${nm && nm !== g.label ? ` · ${nm}` : ''}`,
        LABEL_W + 8,
        y + GROUP_H / 2,
      );
    } else {
      // Collapsed: a summary of the rank's top-level slices on its header row, as Perfetto does.
      // GPU streams when the rank has any (host step spans would cover them), else every track.
      const gpu = g.tracks.some((t) => index.tracks[t].info.gpu);
      for (const t of g.tracks) {
        if (gpu && !index.tracks[t].info.gpu) continue;
        const l = index.tracks[t].lists[0];
        if (l) boxes += collectBoxes(index, l, t0, t1, k, y + 4, rects, [], f.lod);
      }
    }
  } else if (row.kind === 'fold') {
    // A rank's constant counters on one line: their values, and a toggle to unfold them.
    const n = row.folded?.length ?? 0;
    ctx.fillStyle = pal.border;
    ctx.fillRect(0, y + row.height - 1, f.widthPx, 1);
    ctx.font = pal.font;
    ctx.textBaseline = 'middle';
    ctx.fillStyle = pal.muted;
    ctx.fillText(row.open ? '▾' : '▸', 8, y + row.height / 2);
    ctx.fillStyle = pal.foreground;
    ctx.fillText(clipLabel(ctx, `${n} constant counters`, LABEL_W - 28), 20, y + row.height / 2);
    ctx.fillStyle = pal.muted;
    const text = row.open ? '' : (row.folded ?? []).map((t) => index.constantText(t)).join(' · ');
    ctx.fillText(clipLabel(ctx, text, f.widthPx - LABEL_W - 16), LABEL_W + 8, y + row.height / 2);
  } else {
    const te = index.tracks[row.track];
    ctx.fillStyle = pal.border;
    ctx.fillRect(0, y + row.height - 1, f.widthPx, 1);
    ctx.fillStyle = pal.foreground;
    ctx.font = pal.font;
    ctx.textBaseline = 'middle';
    const pinned = f.pinned.has(row.track);
    const rank = row.pinned ? index.rankOfTrack(row.track) : undefined;
    const name = row.pinned
      ? `${rank !== undefined ? `rank ${rank}` : index.groups[row.group].label} · ${te.info.name}`
      : te.info.name;
    if (te.info.type === 'counter') {
      const expanded = row.height > COUNTER_COMPACT_H;
      ctx.fillStyle = pal.muted;
      ctx.fillText(expanded ? '▾' : '▸', 8, y + Math.min(row.height / 2, 10));
      ctx.fillStyle = pal.foreground;
      const shown = clipLabel(ctx, name, LABEL_W - 46);
      ctx.fillText(shown, 20, y + Math.min(row.height / 2, 10));
      if (!expanded && te.scale?.steadyState)
        steadyTag(ctx, pal, 20 + ctx.measureText(shown).width, y + row.height / 2);
      if (expanded && te.scale?.steadyState) {
        // Warm-up is off this scale: say so, and give the range the track spans.
        ctx.fillStyle = pal.muted;
        ctx.fillText(clipLabel(ctx, 'steady-state scale', LABEL_W - 28), 20, y + 23);
        ctx.fillText(clipLabel(ctx, scaleRangeText(te.scale, te.info.unit), LABEL_W - 28), 20, y + 36);
      } else if (expanded) {
        ctx.fillStyle = pal.muted;
        const range = Number.isFinite(te.counterMax)
          ? `max ${formatWithUnit(te.counterMax, te.info.unit)}`
          : 'no samples';
        ctx.fillText(clipLabel(ctx, range, LABEL_W - 28), 20, y + 28);
      }
      drawCounter(ctx, f, row.track, y, row.height, k);
    } else {
      ctx.fillText(clipTrackName(ctx, name, LABEL_W - 46), 20, y + Math.min(row.height / 2, 12));
      ctx.fillStyle = pal.muted;
      if (row.height > 30 && te.info.stream !== te.info.name) ctx.fillText(te.info.stream, 20, y + 28);
      for (let d = 0; d < te.lists.length; d++) {
        const by = y + TRACK_PAD + d * SLICE_ROW_H;
        if (by > f.heightPx || by + SLICE_ROW_H < 0) continue;
        boxes += collectBoxes(index, te.lists[d], t0, t1, k, by, rects, labels, f.lod);
      }
    }
    drawPin(ctx, pal, LABEL_W - PIN_W, y + Math.min(row.height / 2, 10), pinned);
  }
  if (r === f.focusRow) {
    ctx.strokeStyle = pal.focus;
    ctx.lineWidth = 2;
    ctx.strokeRect(1, y + 1, LABEL_W - 2, row.height - 2);
  }
  return boxes;
}

/**
 * On a one-line counter whose scale leaves warm-up out: "steady-state scale" (or as much of
 * it as fits: "steady-state") after the name, smaller and muted; nothing when neither fits.
 */
function steadyTag(ctx: CanvasRenderingContext2D, pal: Palette, x: number, cy: number): void {
  ctx.save();
  ctx.font = pal.font.replace(/^(\d+(?:\.\d+)?)px/, (_, px: string) => `${Math.round(Number(px) * 0.85)}px`);
  const room = LABEL_W - PIN_W - 4 - (x + 6);
  const text = ['steady-state scale', 'steady-state'].find((t) => ctx.measureText(t).width <= room);
  if (text) {
    ctx.fillStyle = pal.muted;
    ctx.fillText(text, x + 6, cy);
  }
  ctx.restore();
}

/** Width of the pin button at the right of a track's label. */
export const PIN_W = 22;

/** A push-pin glyph: filled when the track is pinned, an outline otherwise. */
function drawPin(ctx: CanvasRenderingContext2D, pal: Palette, x: number, cy: number, on: boolean): void {
  ctx.save();
  ctx.strokeStyle = on ? pal.focus : pal.muted;
  ctx.fillStyle = on ? pal.focus : pal.muted;
  ctx.globalAlpha = on ? 1 : 0.7;
  ctx.lineWidth = 1.25;
  const cx = x + 9;
  ctx.beginPath();
  ctx.moveTo(cx - 4, cy - 6);
  ctx.lineTo(cx + 4, cy - 6); // head
  ctx.moveTo(cx - 2.5, cy - 6);
  ctx.lineTo(cx - 2.5, cy - 1);
  ctx.lineTo(cx - 4.5, cy + 1.5);
  ctx.lineTo(cx + 4.5, cy + 1.5);
  ctx.lineTo(cx + 2.5, cy - 1);
  ctx.lineTo(cx + 2.5, cy - 6);
  if (on) {
    ctx.closePath();
    ctx.fill();
  }
  ctx.stroke();
  ctx.beginPath();
  ctx.moveTo(cx, cy + 1.5);
  ctx.lineTo(cx, cy + 6); // needle
  ctx.stroke();
  ctx.restore();
}

/** Adds the boxes of one (track, depth) list that fall in [t0, t1]; returns how many. */
function collectBoxes(
  index: TraceIndex,
  l: TraceIndex['tracks'][number]['lists'][number],
  t0: number,
  t1: number,
  k: number,
  y: number,
  rects: number[][],
  labels: LabelJob[],
  lod: boolean,
): number {
  const tr = index.trace;
  const n = l.idx.length;
  let i = firstVisible(l, t0);
  let count = 0;
  const h = SLICE_ROW_H - 2;
  while (i < n) {
    const s = l.start[i];
    if (s > t1) break;
    const e = l.end[i];
    if (e < t0) {
      i++;
      continue;
    }
    const x0 = LABEL_W + (s - t0) * k,
      x1 = LABEL_W + (e - t0) * k;
    const slice = l.idx[i];
    const fi = fillIndex(tr.sliceCategory[slice], tr.sliceName[slice]);
    if (x1 - x0 >= 1 || !lod) {
      const xa = Math.max(x0, LABEL_W - 2),
        xb = Math.min(x1, LABEL_W + (t1 - t0) * k + 2);
      rects[fi].push(xa, y, Math.max(1, xb - xa - (xb - xa > 3 ? 0.5 : 0)), h);
      if (xb - xa >= 24) labels.push({ x: xa, y: y + h / 2, w: xb - xa, slice, fill: fi });
      i++;
    } else {
      // Sub-pixel: everything starting before the end of this pixel column becomes one column.
      const col = Math.floor(x0);
      const colEndT = t0 + (col + 1 - LABEL_W) / k;
      const j = Math.max(i + 1, firstIndexAtOrAfter(l.start, colEndT, i + 1));
      let xe = x1;
      if (j - i > 1) xe = Math.max(x1, LABEL_W + (l.end[j - 1] - t0) * k);
      rects[fi].push(col, y, Math.max(1, Math.min(xe, col + 1) - col), h);
      i = j;
    }
    count++;
  }
  return count;
}

/**
 * Draws counter track `track` as a step-wise area chart on its scale (counterScale.ts): its
 * own min/max, or its steady-state range when warm-up would dwarf it; samples beyond the
 * scale are drawn at its edge, marked by warmupMarks.
 */
function drawCounter(
  ctx: CanvasRenderingContext2D,
  f: Frame,
  track: number,
  y: number,
  height: number,
  k: number,
): void {
  const { index, vp, palette: pal } = f;
  const tr = index.trace;
  const te = index.tracks[track];
  const scale = te.scale;
  if (!scale) return;
  const { lo, hi } = scale;
  const top = y + 4,
    bottom = y + height - 4;
  const yOf = (v: number): number => bottom - ((Math.min(hi, Math.max(lo, v)) - lo) / (hi - lo)) * (bottom - top);
  ctx.save();
  ctx.beginPath();
  ctx.rect(LABEL_W, y, f.widthPx - LABEL_W, height);
  ctx.clip();
  for (const c of te.counterSeries) {
    const a = tr.counterOffset[c],
      b = tr.counterOffset[c + 1];
    if (b <= a) continue;
    const ts = tr.counterTs.subarray(a, b),
      vs = tr.counterValue.subarray(a, b);
    let i = Math.max(0, firstIndexAtOrAfter(ts, vp.startNs) - 1);
    const path = new Path2D();
    let started = false,
      lastX = -Infinity,
      colMax = -Infinity,
      prevY = bottom;
    for (; i < ts.length; i++) {
      const x = LABEL_W + (ts[i] - vp.startNs) * k;
      const v = vs[i];
      if (!Number.isFinite(v)) continue;
      // Several samples in one pixel column: keep the column's maximum (peaks stay visible).
      if (started && x - lastX < 1) {
        colMax = Math.max(colMax, v);
        continue;
      }
      if (started && colMax > -Infinity) {
        prevY = yOf(colMax);
        path.lineTo(lastX, prevY);
      }
      const yy = yOf(v);
      if (!started) {
        path.moveTo(x, bottom);
        path.lineTo(x, yy);
        started = true;
      } else {
        path.lineTo(x, prevY);
        path.lineTo(x, yy);
      }
      prevY = yy;
      lastX = x;
      colMax = -Infinity;
      if (ts[i] > vp.endNs) break;
    }
    if (!started) continue;
    // The last value holds to the end of the trace (as in Perfetto): the last step's sample is drawn too.
    const endX = Math.min(LABEL_W + (Math.max(ts[ts.length - 1], index.extentEndNs) - vp.startNs) * k, f.widthPx);
    path.lineTo(Math.max(lastX, endX), prevY);
    const line = new Path2D(path);
    path.lineTo(Math.max(lastX, endX), bottom);
    path.closePath();
    ctx.fillStyle = pal.counterFill;
    ctx.fill(path);
    ctx.strokeStyle = pal.counterLine;
    ctx.lineWidth = 1.5;
    ctx.stroke(line);
    if (scale.steadyState) warmupMarks(ctx, f, ts, vs, k, scale, top, bottom, height > COUNTER_COMPACT_H, te.info.unit);
  }
  ctx.restore();
}

/**
 * Marks the samples of one counter series that lie beyond its steady-state scale (warm-up):
 * a dashed edge over each run of them with a triangle pointing off the scale and, when the
 * track is expanded and the run is wide enough, "warm-up" and the run's extreme value.
 */
function warmupMarks(
  ctx: CanvasRenderingContext2D,
  f: Frame,
  ts: Float64Array,
  vs: Float64Array,
  k: number,
  scale: CounterScale,
  top: number,
  bottom: number,
  expanded: boolean,
  unit: string | undefined,
): void {
  const { vp, palette: pal } = f;
  const runs: { x0: number; x1: number; up: boolean; extreme: number }[] = [];
  const xOf = (t: number): number => LABEL_W + (t - vp.startNs) * k;
  const endX = Math.min(f.widthPx, xOf(Math.max(ts[ts.length - 1], f.index.extentEndNs)));
  for (let i = Math.max(0, firstIndexAtOrAfter(ts, vp.startNs) - 1); i < ts.length && ts[i] <= vp.endNs; i++) {
    const v = vs[i];
    if (!Number.isFinite(v) || !offScale(scale, v)) continue;
    const x0 = Math.max(LABEL_W, xOf(ts[i])),
      x1 = Math.min(f.widthPx, i + 1 < ts.length ? xOf(ts[i + 1]) : endX);
    const up = v > scale.hi;
    const last = runs[runs.length - 1];
    if (last && last.up === up && x0 - last.x1 < 1) {
      last.x1 = Math.max(last.x1, x1);
      last.extreme = up ? Math.max(last.extreme, v) : Math.min(last.extreme, v);
    } else runs.push({ x0, x1: Math.max(x1, x0 + 1), up, extreme: v });
  }
  ctx.strokeStyle = pal.counterClip;
  ctx.fillStyle = pal.counterClip;
  ctx.lineWidth = 1.5;
  ctx.font = pal.font;
  ctx.textBaseline = 'middle';
  for (const r of runs) {
    const edge = r.up ? top : bottom;
    ctx.setLineDash([3, 2]);
    ctx.beginPath();
    ctx.moveTo(r.x0, edge);
    ctx.lineTo(r.x1, edge);
    ctx.stroke();
    ctx.setLineDash([]);
    const cx = Math.min(r.x1 - 5, r.x0 + 6),
      d = r.up ? -1 : 1;
    ctx.beginPath();
    ctx.moveTo(cx - 4, edge);
    ctx.lineTo(cx + 4, edge);
    ctx.lineTo(cx, edge + d * 4);
    ctx.closePath();
    ctx.fill();
    if (!expanded) continue;
    const text = `warm-up ${formatWithUnit(r.extreme, unit)} ${r.up ? '↑' : '↓'}`;
    const w = ctx.measureText(text).width;
    if (cx + 8 + w > r.x1 - 2) continue;
    ctx.fillStyle = pal.foreground;
    ctx.fillText(text, cx + 8, r.up ? top + 9 : bottom - 9);
    ctx.fillStyle = pal.counterClip;
  }
}

/** The text layer: slice names inside boxes wide enough to hold some. */
export function drawLabels(ctx: CanvasRenderingContext2D, f: Frame, labels: LabelJob[]): void {
  ctx.clearRect(0, 0, f.widthPx, f.heightPx);
  ctx.font = f.palette.font;
  ctx.textBaseline = 'middle';
  ctx.save();
  ctx.beginPath();
  ctx.rect(LABEL_W, 0, f.widthPx - LABEL_W, f.heightPx);
  ctx.clip();
  const tr = f.index.trace;
  for (const l of labels) {
    const text = clipLabel(ctx, tr.string(tr.sliceName[l.slice]), l.w - 6);
    if (!text) continue;
    ctx.fillStyle = f.palette.fillText[l.fill];
    ctx.fillText(text, l.x + 3, l.y + 0.5);
  }
  ctx.restore();
}

/** Index of the first row whose bottom is below content-y `y`. */
function rowIndexAt(layout: Layout, y: number): number {
  const rows = layout.rows;
  let lo = 0,
    hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (rows[mid].y + rows[mid].height <= y) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
