/**
 * The interactive layers: time axis with step markers, the overview strip of the whole run,
 * and the overlay (cursor, hover, selection, area selection, search and evidence highlights,
 * flow arrows). Redrawn on every pointer move without touching the box layer.
 */
import { formatDurationNs } from '../../trace/format';
import { axisTicks } from './axis';
import type { Frame } from './draw';
import { GROUP_H, LABEL_W, rowScreenY, SLICE_ROW_H, sliceCentreY, stickyGroup, toScreenY, TRACK_PAD } from './layout';
import type { TraceIndex } from './traceIndex';

export const AXIS_H = 34;
export const OVERVIEW_H = 40;
/** Above this many flows in the window only the selected slice's flows are drawn. */
export const MAX_FLOWS_IN_VIEW = 60;

import type { AreaSelection } from './query';
export type { AreaSelection };

export interface OverlayState {
  cursorX: number | null;
  hoverSlice: number;
  selectedSlice: number;
  area: AreaSelection | null;
  /** Dragging rectangle in canvas px while an area selection is being made. */
  dragRect: { x0: number; y0: number; x1: number; y1: number } | null;
  /** Encoded slice indexes to outline (search matches or suggestion evidence). */
  highlights: Uint32Array<ArrayBufferLike>;
  /** Draw every visible flow (when false, only flows touching the selection). */
  allFlows: boolean;
}

export function drawAxis(ctx: CanvasRenderingContext2D, f: Frame, cursorX: number | null, originLabel: string): void {
  const { vp, palette: pal, index } = f;
  const w = f.widthPx - LABEL_W;
  ctx.fillStyle = pal.background;
  ctx.fillRect(0, 0, f.widthPx, AXIS_H);
  ctx.font = pal.font;
  ctx.textBaseline = 'middle';
  ctx.fillStyle = pal.muted;
  ctx.fillText(`window ${formatDurationNs(vp.durNs)}`, 8, 10);
  ctx.fillText(`0 = ${originLabel}`, 8, AXIS_H - 10);
  const k = w / vp.durNs;
  // Step markers: a band per step with its name when there is room.
  ctx.save();
  ctx.beginPath();
  ctx.rect(LABEL_W, 0, w, AXIS_H);
  ctx.clip();
  for (const s of index.steps) {
    if (s.endNs < vp.startNs || s.startNs > vp.endNs) continue;
    const x0 = LABEL_W + (s.startNs - vp.startNs) * k,
      x1 = LABEL_W + (s.endNs - vp.startNs) * k;
    if (s.warmup) {
      // Warm-up steps stay in the trace, labelled: a faint band under their marker.
      ctx.fillStyle = pal.counterClip;
      ctx.globalAlpha = 0.12;
      ctx.fillRect(x0, 0, x1 - x0, 16);
      ctx.globalAlpha = 1;
    }
    ctx.fillStyle = pal.fills[6 * 3 + 2];
    ctx.fillRect(x0, 0, 2, AXIS_H);
    ctx.font = `11px ${pal.font.replace(/^\S+\s/, '')}`;
    // Labelled where its visible part has room (a step mostly off-screen must not cover the next one's name).
    const room = Math.min(x1, LABEL_W + w) - Math.max(x0, LABEL_W);
    const label = s.warmup
      ? [`${s.label} · warm-up`, 'warm-up'].find((t) => ctx.measureText(t).width + 10 < room)
      : s.label;
    if (label && (s.warmup || room > 60)) {
      ctx.fillStyle = pal.muted;
      ctx.fillText(label, Math.max(x0, LABEL_W) + 5, 8);
    }
    ctx.font = pal.font;
  }
  // Marks: a flag per marked range.
  for (const m of f.marks) {
    const x0 = LABEL_W + (m.startNs - vp.startNs) * k,
      x1 = LABEL_W + (m.endNs - vp.startNs) * k;
    ctx.fillStyle = pal.mark;
    ctx.fillRect(x0, AXIS_H - 6, Math.max(2, x1 - x0), 6);
    ctx.beginPath();
    ctx.moveTo(x0, 0);
    ctx.lineTo(x0 + 8, 4);
    ctx.lineTo(x0, 8);
    ctx.closePath();
    ctx.fill();
    ctx.fillRect(x0, 0, 1.5, AXIS_H);
  }
  const ticks = axisTicks(vp.startNs, vp.endNs, w, 90, f.originNs);
  ctx.strokeStyle = pal.foreground;
  ctx.fillStyle = pal.foreground;
  ctx.beginPath();
  for (const t of ticks.ticks) {
    const x = Math.round(LABEL_W + (t.ns - vp.startNs) * k) + 0.5;
    ctx.moveTo(x, AXIS_H - 8);
    ctx.lineTo(x, AXIS_H);
    ctx.fillText(t.label, x + 3, AXIS_H - 8);
  }
  ctx.stroke();
  if (cursorX !== null && cursorX >= LABEL_W) {
    const label = formatDurationNs(vp.pxToTime(cursorX - LABEL_W) - f.originNs);
    const tw = ctx.measureText(label).width + 8;
    ctx.fillStyle = pal.focus;
    ctx.fillRect(cursorX, 0, tw, 14);
    ctx.fillStyle = pal.focusText;
    ctx.fillText(label, cursorX + 4, 7);
  }
  ctx.restore();
  ctx.fillStyle = pal.border;
  ctx.fillRect(0, AXIS_H - 1, f.widthPx, 1);
}

/** Busy fraction per (group, bin) over the whole run, for the overview strip. */
export function overviewDensity(index: TraceIndex, bins: number): Float32Array[] {
  const lo = index.extentStartNs,
    span = Math.max(index.extentEndNs - lo, 1);
  const binNs = span / bins;
  return index.groups.map((g) => {
    const busy = new Float32Array(bins);
    let tracks = 0;
    for (const t of g.tracks) {
      const l = index.tracks[t].lists[0];
      if (!l || index.tracks[t].info.type !== 'slice') continue;
      tracks++;
      for (let i = 0; i < l.idx.length; i++) {
        let s = l.start[i];
        const e = l.end[i];
        let b = Math.min(bins - 1, Math.max(0, Math.floor((s - lo) / binNs)));
        while (s < e && b < bins) {
          const be = lo + (b + 1) * binNs;
          const part = Math.min(e, be) - s;
          if (part > 0) busy[b] += part;
          s = be;
          b++;
        }
      }
    }
    for (let b = 0; b < bins; b++) busy[b] = tracks ? Math.min(1, busy[b] / (binNs * tracks)) : 0;
    return busy;
  });
}

export function drawOverview(
  ctx: CanvasRenderingContext2D,
  f: Frame,
  density: Float32Array[],
  highlights: Uint32Array,
): void {
  const { vp, palette: pal, index } = f;
  const w = f.widthPx - LABEL_W;
  ctx.fillStyle = pal.headerBg;
  ctx.fillRect(0, 0, f.widthPx, OVERVIEW_H);
  ctx.font = pal.font;
  ctx.textBaseline = 'middle';
  ctx.fillStyle = pal.muted;
  ctx.fillText(`Overview · ${index.groups.length} rank${index.groups.length === 1 ? '' : 's'}`, 8, OVERVIEW_H / 2);
  const lo = index.extentStartNs,
    span = Math.max(index.extentEndNs - lo, 1);
  const rowH = Math.max(1, Math.min(8, (OVERVIEW_H - 6) / Math.max(1, density.length)));
  ctx.fillStyle = pal.fills[0];
  density.forEach((d, gi) => {
    const y = 3 + gi * rowH;
    if (y > OVERVIEW_H - 3) return;
    const bw = w / d.length;
    for (let b = 0; b < d.length; b++) {
      if (d[b] <= 0) continue;
      ctx.globalAlpha = 0.2 + 0.8 * d[b];
      ctx.fillRect(LABEL_W + b * bw, y, Math.ceil(bw), Math.max(1, rowH - 1));
    }
  });
  ctx.globalAlpha = 1;
  // The warm-up steps: labelled, so the part the timeline opens past stays recognisable.
  for (const st of index.steps) {
    if (!st.warmup) continue;
    const a = LABEL_W + ((st.startNs - lo) / span) * w,
      b = LABEL_W + ((st.endNs - lo) / span) * w;
    ctx.fillStyle = pal.counterClip;
    ctx.fillRect(a, OVERVIEW_H - 3, Math.max(1, b - a), 3);
    if (b - a > ctx.measureText('warm-up').width + 8) {
      ctx.fillStyle = pal.foreground;
      ctx.fillText('warm-up', a + 4, OVERVIEW_H / 2);
    }
  }
  ctx.fillStyle = pal.match;
  const tr = index.trace;
  const step = Math.max(1, Math.floor(highlights.length / 2000));
  for (let i = 0; i < highlights.length; i += step) {
    const x = LABEL_W + ((tr.sliceStart[highlights[i]] - lo) / span) * w;
    ctx.fillRect(x, OVERVIEW_H - 5, 1, 5);
  }
  const x0 = LABEL_W + ((vp.startNs - lo) / span) * w,
    x1 = LABEL_W + ((vp.endNs - lo) / span) * w;
  ctx.strokeStyle = pal.focus;
  ctx.lineWidth = 2;
  ctx.fillStyle = pal.areaFill;
  ctx.globalAlpha = 0.35;
  ctx.fillRect(x0, 1, Math.max(2, x1 - x0), OVERVIEW_H - 2);
  ctx.globalAlpha = 1;
  ctx.strokeRect(x0, 1, Math.max(2, x1 - x0), OVERVIEW_H - 2);
}

/** Top of the visible scrolled region (below the pinned tracks and the sticky rank header). */
export function scrolledTop(f: Frame): number {
  const sticky = stickyGroup(f.layout, f.scrollY);
  return sticky ? Math.max(f.layout.pinnedH, sticky.y + GROUP_H) : f.layout.pinnedH;
}

/** Whether encoded slice `i` lies on a pinned track. */
function onPinned(f: Frame, i: number): boolean {
  const r = f.layout.rowOfTrack[f.index.trace.sliceTrack[i]];
  return r >= 0 && r < f.layout.pinnedCount;
}

/** Rectangle (canvas px) of encoded slice `i`, or null when its track is not laid out. */
export function sliceRect(f: Frame, i: number): { x: number; y: number; w: number; h: number } | null {
  const { index, layout, vp } = f;
  const tr = index.trace;
  const row = layout.rowOfTrack[tr.sliceTrack[i]];
  if (row === undefined || row < 0) return null;
  const k = (f.widthPx - LABEL_W) / vp.durNs;
  const x = LABEL_W + (tr.sliceStart[i] - vp.startNs) * k;
  const w = Math.max(1, Math.max(0, tr.sliceDur[i]) * k);
  const y = rowScreenY(layout.rows[row], f.scrollY) + TRACK_PAD + tr.sliceDepth[i] * SLICE_ROW_H;
  return { x, y, w, h: SLICE_ROW_H - 2 };
}

export function drawOverlay(ctx: CanvasRenderingContext2D, f: Frame, s: OverlayState): void {
  const { vp, palette: pal, index } = f;
  const tr = index.trace;
  ctx.clearRect(0, 0, f.widthPx, f.heightPx);
  ctx.save();
  ctx.beginPath();
  ctx.rect(LABEL_W, 0, f.widthPx - LABEL_W, f.heightPx);
  ctx.clip();
  const k = (f.widthPx - LABEL_W) / vp.durNs;
  for (const m of f.marks) {
    const x0 = LABEL_W + (m.startNs - vp.startNs) * k,
      x1 = LABEL_W + (m.endNs - vp.startNs) * k;
    ctx.globalAlpha = 0.16;
    ctx.fillStyle = pal.mark;
    ctx.fillRect(x0, 0, Math.max(1, x1 - x0), f.heightPx);
    ctx.globalAlpha = 1;
    ctx.fillRect(x0, 0, 1, f.heightPx);
    ctx.fillRect(x1, 0, 1, f.heightPx);
  }
  if (s.area) {
    const x0 = LABEL_W + (s.area.startNs - vp.startNs) * k,
      x1 = LABEL_W + (s.area.endNs - vp.startNs) * k;
    ctx.globalAlpha = 0.3;
    ctx.fillStyle = pal.areaFill;
    for (const t of s.area.tracks) {
      const r = f.layout.rowOfTrack[t];
      if (r < 0) continue;
      const row = f.layout.rows[r];
      ctx.fillRect(x0, rowScreenY(row, f.scrollY), x1 - x0, row.height);
    }
    ctx.globalAlpha = 1;
    ctx.strokeStyle = pal.focus;
    ctx.lineWidth = 1;
    ctx.strokeRect(x0 + 0.5, 0, x1 - x0, f.heightPx);
  }
  if (s.dragRect) {
    const d = s.dragRect;
    ctx.strokeStyle = pal.focus;
    ctx.setLineDash([4, 3]);
    ctx.strokeRect(Math.min(d.x0, d.x1), Math.min(d.y0, d.y1), Math.abs(d.x1 - d.x0), Math.abs(d.y1 - d.y0));
    ctx.setLineDash([]);
  }
  const top = scrolledTop(f);
  // Highlights: outline visible ones (bounded work: binary-searchable by start when sorted).
  ctx.strokeStyle = pal.match;
  ctx.lineWidth = 2;
  let drawn = 0;
  for (let j = 0; j < s.highlights.length && drawn < 4000; j++) {
    const i = s.highlights[j];
    const st = tr.sliceStart[i];
    if (st > vp.endNs || st + Math.max(0, tr.sliceDur[i]) < vp.startNs) continue;
    const r = sliceRect(f, i);
    if (!r || r.y + r.h < 0 || r.y > f.heightPx || (r.y + r.h <= top && !onPinned(f, i))) continue;
    ctx.strokeRect(r.x, r.y, Math.max(r.w, 2), r.h);
    drawn++;
  }
  drawFlows(ctx, f, s);
  for (const [slice, width] of [
    [s.hoverSlice, 1],
    [s.selectedSlice, 3],
  ] as const) {
    if (slice < 0) continue;
    const r = sliceRect(f, slice);
    if (!r || (r.y + r.h <= top && !onPinned(f, slice))) continue;
    ctx.strokeStyle = slice === s.selectedSlice ? pal.focus : pal.foreground;
    ctx.lineWidth = width;
    ctx.strokeRect(r.x - 1, r.y - 1, Math.max(r.w, 2) + 2, r.h + 2);
  }
  if (s.cursorX !== null && s.cursorX >= LABEL_W) {
    ctx.strokeStyle = pal.muted;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(Math.round(s.cursorX) + 0.5, 0);
    ctx.lineTo(Math.round(s.cursorX) + 0.5, f.heightPx);
    ctx.stroke();
  }
  ctx.restore();
}

/** Flow arrows from the start of one collective's span to the start of its peer on another rank. */
function drawFlows(ctx: CanvasRenderingContext2D, f: Frame, s: OverlayState): void {
  const { index, layout, vp, palette: pal } = f;
  const tr = index.trace;
  const n = tr.header.flowCount;
  if (n === 0) return;
  ctx.strokeStyle = pal.flow;
  ctx.fillStyle = pal.flow;
  ctx.lineWidth = 1.25;
  const k = (f.widthPx - LABEL_W) / vp.durNs;
  // Every flow in view when they are few enough to read; otherwise only the selection's.
  let inView = 0;
  for (let j = 0; j < n && inView <= MAX_FLOWS_IN_VIEW; j++) {
    const ta = tr.sliceStart[tr.flowFrom[j]],
      tb = tr.sliceStart[tr.flowTo[j]];
    if (!((ta < vp.startNs && tb < vp.startNs) || (ta > vp.endNs && tb > vp.endNs))) inView++;
  }
  const all = s.allFlows && inView <= MAX_FLOWS_IN_VIEW;
  const top = scrolledTop(f);
  let drawn = 0;
  for (let j = 0; j < n && drawn < 1500; j++) {
    const a = tr.flowFrom[j],
      b = tr.flowTo[j];
    const touchesSelection = a === s.selectedSlice || b === s.selectedSlice;
    if (!all && !touchesSelection) continue;
    const ta = tr.sliceStart[a],
      tb = tr.sliceStart[b];
    if ((ta < vp.startNs && tb < vp.startNs) || (ta > vp.endNs && tb > vp.endNs)) continue;
    const ya = sliceCentreY(index, layout, tr.sliceTrack[a], tr.sliceDepth[a]);
    const yb = sliceCentreY(index, layout, tr.sliceTrack[b], tr.sliceDepth[b]);
    if (ya === undefined || yb === undefined) continue;
    const x1 = LABEL_W + (ta - vp.startNs) * k,
      x2 = LABEL_W + (tb - vp.startNs) * k;
    const y1 = toScreenY(layout, ya, f.scrollY),
      y2 = toScreenY(layout, yb, f.scrollY);
    if ((y1 < 0 && y2 < 0) || (y1 > f.heightPx && y2 > f.heightPx)) continue;
    // Flows between scrolled rows stay below the pinned tracks and the sticky header.
    const clip = !onPinned(f, a) && !onPinned(f, b);
    if (clip) {
      ctx.save();
      ctx.beginPath();
      ctx.rect(LABEL_W, top, f.widthPx - LABEL_W, f.heightPx - top);
      ctx.clip();
    }
    ctx.globalAlpha = touchesSelection || s.selectedSlice < 0 ? 1 : 0.35;
    const bend = Math.max(12, Math.min(60, Math.abs(x2 - x1) / 2));
    ctx.beginPath();
    ctx.moveTo(x1, y1);
    ctx.bezierCurveTo(x1 + bend, y1, x2 - bend, y2, x2, y2);
    ctx.stroke();
    ctx.beginPath();
    ctx.moveTo(x2, y2);
    ctx.lineTo(x2 - 6, y2 - 3.5);
    ctx.lineTo(x2 - 6, y2 + 3.5);
    ctx.closePath();
    ctx.fill();
    if (clip) ctx.restore();
    drawn++;
  }
  ctx.globalAlpha = 1;
}
