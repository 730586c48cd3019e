/** Queries over the indexed trace (pure): area aggregation and search by name. */
import { firstVisible, type TraceIndex } from './traceIndex';

/** An area selection: a time window across a set of tracks. */
export interface AreaSelection { startNs: number; endNs: number; tracks: number[] }

export interface AreaRow {
  name: string;
  count: number;
  /** Sum over the slices of their time inside the window. */
  totalNs: number;
  avgNs: number;
  /** totalNs / window length · 100 (summed over tracks, so it can exceed 100). */
  sharePct: number;
}

export interface AreaSummary {
  windowNs: number;
  tracks: number;
  slices: number;
  rows: AreaRow[];
}

/**
 * Aggregates the slices of `area.tracks` that intersect [startNs, endNs], per name: how many,
 * their total time clipped to the window, the average of that, and the share of the window.
 */
export function aggregateArea(index: TraceIndex, area: AreaSelection): AreaSummary {
  const tr = index.trace;
  const windowNs = Math.max(0, area.endNs - area.startNs);
  const byName = new Map<number, { count: number; total: number }>();
  let slices = 0;
  for (const t of area.tracks) {
    for (const l of index.tracks[t]?.lists ?? []) {
      for (let k = firstVisible(l, area.startNs); k < l.idx.length && l.start[k] <= area.endNs; k++) {
        if (l.end[k] < area.startNs) continue;
        const inside = Math.min(l.end[k], area.endNs) - Math.max(l.start[k], area.startNs);
        const name = tr.sliceName[l.idx[k]];
        let e = byName.get(name);
        if (!e) { e = { count: 0, total: 0 }; byName.set(name, e); }
        e.count++;
        e.total += Math.max(0, inside);
        slices++;
      }
    }
  }
  const rows = [...byName.entries()].map(([id, e]) => ({
    name: tr.string(id), count: e.count, totalNs: e.total, avgNs: e.total / e.count,
    sharePct: windowNs > 0 ? (100 * e.total) / windowNs : 0,
  }));
  rows.sort((a, b) => b.totalNs - a.totalNs || a.name.localeCompare(b.name));
  return { windowNs, tracks: area.tracks.length, slices, rows };
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
    if (v === 0) { v = tr.string(id).toLowerCase().includes(q) ? 1 : -1; verdict[id] = v; }
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
