/**
 * Vertical layout of the timeline (pure): pinned tracks first (they stay at the top, outside
 * the scrolled region), then rank group headers and their tracks. Counter tracks are one
 * compact line unless expanded. A rank's counters whose value never changes (parameters,
 * gradients, optimizer state, buffers: GroupEntry.constantCounters) are folded into one
 * line, like a collapsed track group in Perfetto, until the rank is unfolded.
 */
import type { TraceIndex } from './traceIndex';

export const GROUP_H = 24;
export const SLICE_ROW_H = 18;
export const TRACK_PAD = 3;
/** Height of an expanded counter track. */
export const COUNTER_H = 44;
/** Height of a compact (default) counter track: one line. */
export const COUNTER_COMPACT_H = 18;
/** Width of the track-label column, CSS px. */
export const LABEL_W = 190;
/** Constant counters are folded when a rank has at least this many (one alone stays as it is). */
export const FOLD_MIN = 2;

export interface Row {
  /** A rank header, a track, or the folded constant counters of a rank (`folded`). */
  kind: 'group' | 'track' | 'fold';
  /** Index into TraceIndex.groups. */
  group: number;
  /** Track id for track rows, -1 for group headers. */
  track: number;
  /** Content y: pinned rows from 0 (never scrolled), the others from `pinnedH` (scrolled). */
  y: number;
  height: number;
  /** In the pinned region at the top. */
  pinned?: boolean;
  /** Fold rows: the counter tracks folded into the row. */
  folded?: number[];
  /** Fold rows: unfolded (its tracks follow it). */
  open?: boolean;
}

export interface Layout {
  rows: Row[];
  totalHeight: number;
  /** Height of the pinned region (0 when nothing is pinned); rows[0..pinnedCount) are pinned. */
  pinnedH: number;
  pinnedCount: number;
  /** y of the centre of the group header of each pid, for flows into collapsed groups. */
  groupY: Map<number, number>;
  /** Row index per track id (-1 when its group is collapsed). */
  rowOfTrack: Int32Array;
}

export interface LayoutOptions {
  /** Counter tracks shown at full height. */
  expanded?: ReadonlySet<number>;
  /** Tracks pinned to the top, in order. */
  pinned?: readonly number[];
  /** Ranks (pids) whose constant counters are shown one per row instead of folded. */
  unfolded?: ReadonlySet<number>;
}

export function trackHeight(index: TraceIndex, track: number, expanded?: ReadonlySet<number>): number {
  const t = index.tracks[track];
  if (t.info.type === 'counter') return expanded?.has(track) ? COUNTER_H : COUNTER_COMPACT_H;
  return Math.max(1, t.lists.length) * SLICE_ROW_H + 2 * TRACK_PAD;
}

/** Rows top to bottom; the tracks of collapsed groups (by pid) are left out. */
export function layoutRows(index: TraceIndex, collapsed: ReadonlySet<number>, o: LayoutOptions = {}): Layout {
  const rows: Row[] = [];
  const groupY = new Map<number, number>();
  const rowOfTrack = new Int32Array(index.tracks.length).fill(-1);
  const pinned = (o.pinned ?? []).filter((t) => t >= 0 && t < index.tracks.length);
  const pinnedSet = new Set(pinned);
  const groupOf = new Map<number, number>();
  index.groups.forEach((g, gi) => {
    for (const t of g.tracks) groupOf.set(t, gi);
  });
  let y = 0;
  for (const t of pinned) {
    const gi = groupOf.get(t);
    if (gi === undefined) continue;
    const h = trackHeight(index, t, o.expanded);
    rowOfTrack[t] = rows.length;
    rows.push({ kind: 'track', group: gi, track: t, y, height: h, pinned: true });
    y += h;
  }
  const pinnedCount = rows.length;
  const pinnedH = y;
  index.groups.forEach((g, gi) => {
    rows.push({ kind: 'group', group: gi, track: -1, y, height: GROUP_H });
    groupY.set(g.pid, y + GROUP_H / 2);
    y += GROUP_H;
    if (collapsed.has(g.pid)) return;
    // Constant counters gather under one row where the first of them would be (pinned ones stay
    // pinned): folded, that row alone; unfolded, the row (to fold them again) and each of them.
    const fold = (g.constantCounters ?? []).filter((t) => !pinnedSet.has(t));
    const inFold = new Set(fold.length >= FOLD_MIN ? fold : []);
    const open = o.unfolded?.has(g.pid) ?? false;
    for (const t of g.tracks) {
      if (pinnedSet.has(t)) continue;
      if (inFold.has(t)) {
        if (t !== fold[0]) continue;
        rows.push({ kind: 'fold', group: gi, track: -1, y, height: COUNTER_COMPACT_H, folded: fold, open });
        y += COUNTER_COMPACT_H;
        if (open)
          for (const ft of fold) {
            const h = trackHeight(index, ft, o.expanded);
            rowOfTrack[ft] = rows.length;
            rows.push({ kind: 'track', group: gi, track: ft, y, height: h });
            y += h;
          }
        continue;
      }
      const h = trackHeight(index, t, o.expanded);
      rowOfTrack[t] = rows.length;
      rows.push({ kind: 'track', group: gi, track: t, y, height: h });
      y += h;
    }
  });
  return { rows, totalHeight: y, pinnedH, pinnedCount, groupY, rowOfTrack };
}

/** Index of the row containing content-y `y` (-1 outside), by binary search. */
export function rowAt(layout: Layout, y: number): number {
  const rows = layout.rows;
  let lo = 0,
    hi = rows.length - 1;
  if (rows.length === 0 || y < 0 || y >= layout.totalHeight) return -1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (rows[mid].y <= y) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Screen y (canvas px) of a content y: pinned content does not scroll. */
export function toScreenY(layout: Layout, contentY: number, scrollY: number): number {
  return contentY < layout.pinnedH ? contentY : contentY - scrollY;
}

/** Content y of a screen y (canvas px). */
export function toContentY(layout: Layout, screenY: number, scrollY: number): number {
  return screenY < layout.pinnedH ? screenY : screenY + scrollY;
}

/** Screen y of the top of `row`. */
export function rowScreenY(row: Row, scrollY: number): number {
  return row.pinned ? row.y : row.y - scrollY;
}

/**
 * The group whose header sticks to the top of the scrolled region at `scrollY`, and its
 * screen y (pushed up by the next group's header): null when the real header is in view.
 */
export function stickyGroup(layout: Layout, scrollY: number): { row: number; y: number } | null {
  const top = layout.pinnedH + scrollY;
  const r = rowAt(layout, top);
  if (r < layout.pinnedCount || r < 0) return null;
  const row = layout.rows[r];
  if (row.kind === 'group' && row.y === top) return null;
  let header = r;
  while (header > layout.pinnedCount && layout.rows[header].kind !== 'group') header--;
  if (layout.rows[header].kind !== 'group') return null;
  // The next header pushes the sticky one up as it arrives.
  let next = r + 1;
  while (next < layout.rows.length && layout.rows[next].kind !== 'group') next++;
  let y = layout.pinnedH;
  if (next < layout.rows.length) y = Math.min(y, layout.rows[next].y - scrollY - GROUP_H);
  return { row: header, y };
}

/** Centre y (content coordinates) of slice depth `depth` on `track`, or its group header when collapsed. */
export function sliceCentreY(index: TraceIndex, layout: Layout, track: number, depth: number): number | undefined {
  const r = layout.rowOfTrack[track];
  if (r >= 0) return layout.rows[r].y + TRACK_PAD + depth * SLICE_ROW_H + SLICE_ROW_H / 2;
  const pid = index.tracks[track]?.info.pid;
  return pid === undefined ? undefined : layout.groupY.get(pid);
}
