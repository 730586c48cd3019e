/** Vertical layout of the timeline: rank group headers and their tracks (pure). */
import type { TraceIndex } from './traceIndex';

export const GROUP_H = 24;
export const SLICE_ROW_H = 18;
export const TRACK_PAD = 3;
export const COUNTER_H = 44;
/** Width of the track-label column, CSS px. */
export const LABEL_W = 190;

export interface Row {
  kind: 'group' | 'track';
  /** Index into TraceIndex.groups. */
  group: number;
  /** Track id for track rows, -1 for group headers. */
  track: number;
  y: number;
  height: number;
}

export interface Layout {
  rows: Row[];
  totalHeight: number;
  /** y of the centre of the group header of each pid, for flows into collapsed groups. */
  groupY: Map<number, number>;
  /** Row index per track id (-1 when its group is collapsed). */
  rowOfTrack: Int32Array;
}

export function trackHeight(index: TraceIndex, track: number): number {
  const t = index.tracks[track];
  if (t.info.type === 'counter') return COUNTER_H;
  return Math.max(1, t.lists.length) * SLICE_ROW_H + 2 * TRACK_PAD;
}

/** Rows top to bottom; the tracks of collapsed groups (by pid) are left out. */
export function layoutRows(index: TraceIndex, collapsed: ReadonlySet<number>): Layout {
  const rows: Row[] = [];
  const groupY = new Map<number, number>();
  const rowOfTrack = new Int32Array(index.tracks.length).fill(-1);
  let y = 0;
  index.groups.forEach((g, gi) => {
    rows.push({ kind: 'group', group: gi, track: -1, y, height: GROUP_H });
    groupY.set(g.pid, y + GROUP_H / 2);
    y += GROUP_H;
    if (collapsed.has(g.pid)) return;
    for (const t of g.tracks) {
      const h = trackHeight(index, t);
      rowOfTrack[t] = rows.length;
      rows.push({ kind: 'track', group: gi, track: t, y, height: h });
      y += h;
    }
  });
  return { rows, totalHeight: y, groupY, rowOfTrack };
}

/** Index of the row containing content-y `y` (-1 outside), by binary search. */
export function rowAt(layout: Layout, y: number): number {
  const rows = layout.rows;
  let lo = 0, hi = rows.length - 1;
  if (rows.length === 0 || y < 0 || y >= layout.totalHeight) return -1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (rows[mid].y <= y) lo = mid; else hi = mid - 1;
  }
  return lo;
}

/** Centre y (content coordinates) of slice depth `depth` on `track`, or its group header when collapsed. */
export function sliceCentreY(index: TraceIndex, layout: Layout, track: number, depth: number): number | undefined {
  const r = layout.rowOfTrack[track];
  if (r >= 0) return layout.rows[r].y + TRACK_PAD + depth * SLICE_ROW_H + SLICE_ROW_H / 2;
  const pid = index.tracks[track]?.info.pid;
  return pid === undefined ? undefined : layout.groupY.get(pid);
}
