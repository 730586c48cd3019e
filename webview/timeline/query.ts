/** Queries over the indexed trace (pure): area aggregation and search by name. */
import { firstVisible, type TraceIndex } from './traceIndex';

/** An area selection: a time window across a set of tracks. */
export interface AreaSelection {
  startNs: number;
  endNs: number;
  tracks: number[];
}

export interface AreaRow {
  name: string;
  count: number;
  /** Sum over the slices of their time inside the window. */
  totalNs: number;
  avgNs: number;
  /** totalNs / window length · 100 (summed over tracks, so it can exceed 100). */
  sharePct: number;
}

/** One counter track over an area's window. */
export interface AreaCounter {
  track: number;
  name: string;
  rank?: number;
  unit?: string;
  /** Samples inside the window (the value in effect at its start counts as well). */
  samples: number;
  min: number;
  max: number;
  /** Time-weighted mean of the step-wise value over the part of the window it covers. */
  mean: number;
}

export interface AreaSummary {
  startNs: number;
  endNs: number;
  windowNs: number;
  tracks: number;
  slices: number;
  /**
   * Of `slices`, how many stand for several merged below a pixel (a level-of-detail answer,
   * protocol step 10), and how many slices those stand for: the figures are then approximate.
   */
  mergedHeld: number;
  mergedStandFor: number;
  rows: AreaRow[];
  counters: AreaCounter[];
}

/**
 * Aggregates the slices of `area.tracks` that intersect [startNs, endNs], per name: how many,
 * their total time clipped to the window, the average of that, and the share of the window.
 */
export function aggregateArea(index: TraceIndex, area: AreaSelection): AreaSummary {
  const tr = index.trace;
  const windowNs = Math.max(0, area.endNs - area.startNs);
  const byName = new Map<number, { count: number; total: number }>();
  let slices = 0,
    mergedHeld = 0,
    mergedStandFor = 0;
  for (const t of area.tracks) {
    for (const l of index.tracks[t]?.lists ?? []) {
      for (let k = firstVisible(l, area.startNs); k < l.idx.length && l.start[k] <= area.endNs; k++) {
        if (l.end[k] < area.startNs) continue;
        const inside = Math.min(l.end[k], area.endNs) - Math.max(l.start[k], area.startNs);
        const name = tr.sliceName[l.idx[k]];
        let e = byName.get(name);
        if (!e) {
          e = { count: 0, total: 0 };
          byName.set(name, e);
        }
        e.count++;
        e.total += Math.max(0, inside);
        slices++;
        const merged = index.mergedCount(l.idx[k]);
        if (merged > 1) {
          mergedHeld++;
          mergedStandFor += merged;
        }
      }
    }
  }
  const rows = [...byName.entries()].map(([id, e]) => ({
    name: tr.string(id),
    count: e.count,
    totalNs: e.total,
    avgNs: e.total / e.count,
    sharePct: windowNs > 0 ? (100 * e.total) / windowNs : 0,
  }));
  rows.sort((a, b) => b.totalNs - a.totalNs || a.name.localeCompare(b.name));
  const counters: AreaCounter[] = [];
  for (const t of area.tracks) {
    const te = index.tracks[t];
    if (!te || te.info.type !== 'counter') continue;
    for (const c of te.counterSeries) {
      const agg = counterOverWindow(index, c, area.startNs, area.endNs);
      if (agg) counters.push({ track: t, name: te.info.name, rank: index.rankOfTrack(t), unit: te.info.unit, ...agg });
    }
  }
  return {
    startNs: area.startNs,
    endNs: area.endNs,
    windowNs,
    tracks: area.tracks.length,
    slices,
    mergedHeld,
    mergedStandFor,
    rows,
    counters,
  };
}

/** Index of the last sample at or before `t` in sorted `ts` (-1 when none). */
function lastAtOrBefore(ts: ArrayLike<number>, t: number): number {
  let lo = 0,
    hi = ts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ts[mid] <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/**
 * Min, max and time-weighted mean of counter series `c` (a step function: each sample holds
 * until the next) over [startNs, endNs]; null when no sample is in effect in the window.
 */
export function counterOverWindow(
  index: TraceIndex,
  c: number,
  startNs: number,
  endNs: number,
): { samples: number; min: number; max: number; mean: number } | null {
  const tr = index.trace;
  const a = tr.counterOffset[c],
    b = tr.counterOffset[c + 1];
  const ts = tr.counterTs.subarray(a, b),
    vs = tr.counterValue.subarray(a, b);
  let i = Math.max(0, lastAtOrBefore(ts, startNs));
  let samples = 0,
    min = Infinity,
    max = -Infinity,
    area = 0,
    covered = 0;
  for (; i < ts.length && ts[i] <= endNs; i++) {
    const v = vs[i];
    if (!Number.isFinite(v)) continue;
    const from = Math.max(ts[i], startNs);
    const to = Math.min(i + 1 < ts.length ? ts[i + 1] : endNs, endNs);
    if (to < startNs) continue;
    samples++;
    min = Math.min(min, v);
    max = Math.max(max, v);
    if (to > from) {
      area += v * (to - from);
      covered += to - from;
    }
  }
  if (samples === 0) return null;
  return { samples, min, max, mean: covered > 0 ? area / covered : (min + max) / 2 };
}

/** Value of each series of counter track `track` in effect at time `t` (skipping series with none yet). */
export function counterValuesAt(index: TraceIndex, track: number, t: number): { series: number; value: number }[] {
  const tr = index.trace;
  const out: { series: number; value: number }[] = [];
  for (const c of index.tracks[track]?.counterSeries ?? []) {
    const a = tr.counterOffset[c],
      b = tr.counterOffset[c + 1];
    const j = lastAtOrBefore(tr.counterTs.subarray(a, b), t);
    if (j >= 0) out.push({ series: c, value: tr.counterValue[a + j] });
  }
  return out;
}

/**
 * Encoded indexes of the slices whose name contains `query` (case-insensitive), sorted by
 * start. Names are interned, so each distinct name is tested once.
 */
export function searchSlices(index: TraceIndex, query: string): Uint32Array {
  const q = query.trim().toLowerCase();
  const tr = index.trace;
  if (!q) return new Uint32Array(0);
  const verdict = new Int8Array(tr.header.stringCount); // 0 unknown, 1 match, -1 no
  const out: number[] = [];
  for (let i = 0; i < tr.header.sliceCount; i++) {
    const id = tr.sliceName[i];
    let v = verdict[id];
    if (v === 0) {
      v = tr.string(id).toLowerCase().includes(q) ? 1 : -1;
      verdict[id] = v;
    }
    if (v === 1 && index.tracks[tr.sliceTrack[i]] && Number.isFinite(tr.sliceStart[i])) out.push(i);
  }
  out.sort((a, b) => tr.sliceStart[a] - tr.sliceStart[b] || a - b);
  return Uint32Array.from(out);
}

/** Next (dir 1) or previous (dir -1) position among `count` matches, wrapping; -1 when none. */
export function nextMatch(count: number, current: number, dir: 1 | -1): number {
  if (count === 0) return -1;
  if (current < 0 || current >= count) return dir === 1 ? 0 : count - 1;
  return (current + dir + count) % count;
}

/** The args of encoded slice `i` as an object (empty when it has none or they do not parse). */
export function sliceArgs(index: TraceIndex, i: number): Record<string, unknown> {
  const id = index.trace.sliceArgs[i];
  if (id < 0) return {};
  try {
    const v = JSON.parse(index.trace.string(id)) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : { value: v };
  } catch {
    return { args: index.trace.string(id) };
  }
}
