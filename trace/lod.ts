/**
 * The level-of-detail index of a trace (pure; the trace worker builds one per open trace),
 * so a viewer asks for what it shows instead of receiving the trace: (tracks, time range,
 * resolution) in, the slices and counter samples that are visible at that resolution out,
 * at a cost that follows the answer's size, not the trace's.
 *
 * Structure. Slices are grouped into lists, one per (track, depth), sorted by start (on one
 * depth of a finalized track slices do not overlap, so their ends are sorted too). Level 0
 * is every slice. Level k ≥ 1 has a bucket width w_k = LOD_BASE_NS · LOD_FACTOR^(k−1) and
 * holds, per list:
 *   - every slice at least w_k long, and
 *   - per bucket [j·w_k, (j+1)·w_k) of start times, the longest of the slices shorter than
 *     w_k that start in it (the first of equals), standing for all of them (`merged` counts
 *     them).
 * Buckets are aligned on absolute time (the model's origin plus the start), so that the index
 * of one rank of a job (trace/rankLod.ts), in its own time base, has the buckets of the job's.
 * A query at resolution r ns/px uses the coarsest level with w_k ≤ r, so what it merges is
 * below a pixel. Counter series longer than COUNTER_KEEP_ALL samples have levels too: per
 * bucket the first, minimum, maximum and last sample.
 *
 * The definition is the brute-force rule above; test/unit/trace/lod.test.ts checks the index
 * against it at every level and that a query touches O(answer) entries.
 */
import { depthsOf, encodeParts, modelExtentNs } from './binary';
import type { Flow, TraceModel } from './model';

/**
 * Bucket width of level 1 (ns); each further level is LOD_FACTOR times wider. A view is answered
 * from the widest level whose bucket fits in a pixel, so an answer holds at most about LOD_FACTOR
 * boxes per pixel of a busy track: 4 keeps that small (with 8, a view at 474 µs/px was answered at
 * 64 µs buckets and an 8-rank overview held 3.6× the slices it holds at 4) for ~1.33× the entries
 * of level 0 over all levels, instead of ~1.14×.
 */
export const LOD_BASE_NS = 1000;
export const LOD_FACTOR = 4;
/** An answer holding more slices than this is taken from the next coarser level. */
export const LOD_MAX_SLICES = 400_000;
/** Counter series up to this many samples are sent whole. */
export const COUNTER_KEEP_ALL = 4096;
/** The overview a viewer gets first: the whole extent at this many pixels. */
export const OVERVIEW_PX = 2000;

/** What a viewer asks for. */
export interface ViewRequest {
  startNs: number;
  endNs: number;
  /** The view's resolution: nanoseconds per pixel. */
  nsPerPx: number;
  /** Tracks to answer for (every track when absent). */
  tracks?: readonly number[];
  /**
   * Model slice indexes to send whatever the window (the selection, a search match, a
   * suggestion's evidence), with the slices at the other end of their flows.
   */
  keep?: readonly number[];
}

export interface ViewAnswer {
  /** Model slice indexes, ascending. */
  slices: Uint32Array;
  /** How many slices each stands for. */
  merged: Uint32Array;
  /** Flows whose two ends are both in `slices`. */
  flows: Flow[];
  /** Per counter series, the sample indexes sent (ascending). */
  counterSamples: Uint32Array[];
  /** Level used (0 = every slice) and its bucket width (0 for level 0). */
  level: number;
  bucketNs: number;
  /** Index entries examined (for the O(answer) test). */
  touched: number;
}

interface List {
  track: number;
  /** Model indexes, by start. */
  idx: Uint32Array;
  start: Float64Array;
  end: Float64Array;
  endsSorted: boolean;
  maxDur: number;
}

/** One list at one level: positions into the list and how many slices each stands for; null = every position. */
type LevelList = { pos: Uint32Array; merged: Uint32Array } | null;

/** A search over slice names: the first `limit` matches by start, and how many there are. */
export interface SearchAnswer {
  total: number;
  slices: number[];
  startNs: number[];
  durNs: number[];
  track: number[];
}

export class LodIndex {
  /** Bucket width of each level; bucketNs[0] = 0 (level 0 holds every slice). */
  readonly bucketNs: number[] = [0];
  readonly extentNs: [number, number];
  /** Nesting levels of each track (deepest depth + 1; 0 for counter tracks). */
  readonly trackDepths: number[];
  private readonly lists: List[] = [];
  private readonly listsOfTrack: number[][];
  /** levels[k][list] for k ≥ 1 (levels[0] is unused). */
  private readonly levels: LevelList[][] = [[]];
  private readonly depth: Uint16Array;
  /** Flows of each slice (CSR: flowAt[flowStart[i] .. flowStart[i+1]) index model.flows). */
  private readonly flowStart: Uint32Array;
  private readonly flowAt: Uint32Array;
  /** counterLevels[series][k] for k ≥ 1; empty for series kept whole. */
  private readonly counterLevels: Uint32Array[][];

  constructor(readonly model: TraceModel) {
    const n = model.slices.length;
    const origin = model.meta.originNs;
    this.extentNs = modelExtentNs(model);
    this.depth = depthsOf(model);
    const trackCount = model.tracks.length;
    this.listsOfTrack = Array.from({ length: trackCount }, () => []);
    this.trackDepths = new Array<number>(trackCount).fill(0);
    // Slices by track (counting sort keeps model order), then by start, then per depth.
    const counts = new Uint32Array(trackCount + 1);
    for (const s of model.slices) if (s.track < trackCount && Number.isFinite(s.startNs)) counts[s.track + 1]++;
    for (let t = 0; t < trackCount; t++) counts[t + 1] += counts[t];
    const order = new Uint32Array(counts[trackCount]);
    const fill = counts.slice(0, trackCount);
    for (let i = 0; i < n; i++) {
      const s = model.slices[i];
      if (s.track < trackCount && Number.isFinite(s.startNs)) order[fill[s.track]++] = i;
    }
    for (let t = 0; t < trackCount; t++) {
      const seg = order.subarray(counts[t], counts[t + 1]);
      if (seg.length === 0) continue;
      const st = (i: number): number => model.slices[i].startNs;
      let sorted = true;
      for (let k = 1; k < seg.length && sorted; k++) if (st(seg[k]) < st(seg[k - 1])) sorted = false;
      if (!sorted) seg.sort((a, b) => st(a) - st(b) || a - b);
      const byDepth = new Map<number, number[]>();
      for (const i of seg) {
        const d = this.depth[i];
        let l = byDepth.get(d);
        if (!l) byDepth.set(d, (l = []));
        l.push(i);
      }
      const depthsHere = [...byDepth.keys()].sort((a, b) => a - b);
      this.trackDepths[t] = depthsHere[depthsHere.length - 1] + 1;
      for (const d of depthsHere) {
        const ids = byDepth.get(d)!;
        const list: List = {
          track: t,
          idx: Uint32Array.from(ids),
          start: new Float64Array(ids.length),
          end: new Float64Array(ids.length),
          endsSorted: true,
          maxDur: 0,
        };
        ids.forEach((i, k) => {
          const s = model.slices[i];
          const dur = Number.isFinite(s.durNs) ? Math.max(0, s.durNs) : 0;
          list.start[k] = s.startNs;
          list.end[k] = s.startNs + dur;
          if (dur > list.maxDur) list.maxDur = dur;
          if (k > 0 && list.end[k] < list.end[k - 1]) list.endsSorted = false;
        });
        this.listsOfTrack[t].push(this.lists.length);
        this.lists.push(list);
      }
    }
    // Levels up to the one whose bucket covers the whole extent.
    const span = Math.max(1, this.extentNs[1] - this.extentNs[0]);
    const longest = this.lists.reduce((a, l) => Math.max(a, l.start.length), 0);
    const scratch = { pos: new Uint32Array(longest), merged: new Uint32Array(longest) };
    for (let w = LOD_BASE_NS; ; w *= LOD_FACTOR) {
      this.bucketNs.push(w);
      const off = originOffset(origin, w);
      this.levels.push(this.lists.map((l) => buildLevel(l.start, l.end, w, off, scratch)));
      if (w >= span) break;
    }
    // Flows by slice.
    this.flowStart = new Uint32Array(n + 1);
    for (const f of model.flows) {
      if (f.from < n) this.flowStart[f.from + 1]++;
      if (f.to < n && f.to !== f.from) this.flowStart[f.to + 1]++;
    }
    for (let i = 0; i < n; i++) this.flowStart[i + 1] += this.flowStart[i];
    this.flowAt = new Uint32Array(this.flowStart[n]);
    const at = this.flowStart.slice(0, n);
    model.flows.forEach((f, k) => {
      if (f.from < n) this.flowAt[at[f.from]++] = k;
      if (f.to < n && f.to !== f.from) this.flowAt[at[f.to]++] = k;
    });
    this.counterLevels = model.counters.map((c) => {
      const m = Math.min(c.tsNs.length, c.values.length);
      if (m <= COUNTER_KEEP_ALL) return [];
      return this.bucketNs.map((w, k) =>
        k === 0 ? new Uint32Array(0) : counterLevel(c.tsNs, c.values, m, w, originOffset(origin, w)),
      );
    });
  }

  /** Number of levels (level 0 included). */
  get levelCount(): number {
    return this.bucketNs.length;
  }

  /** The coarsest level whose buckets are at most `nsPerPx` wide (0 below the finest bucket). */
  levelFor(nsPerPx: number): number {
    let k = 0;
    while (k + 1 < this.bucketNs.length && this.bucketNs[k + 1] <= nsPerPx) k++;
    return k;
  }

  /** The slices, flows and counter samples visible in `req` (see the file comment). */
  query(req: ViewRequest): ViewAnswer {
    const t0 = req.startNs,
      t1 = req.endNs;
    if (!(Number.isFinite(t0) && Number.isFinite(t1) && t1 >= t0))
      throw new Error(`view request: startNs and endNs must be finite with startNs ≤ endNs, got ${t0} and ${t1}`);
    if (!(Number.isFinite(req.nsPerPx) && req.nsPerPx > 0))
      throw new Error(`view request: nsPerPx must be a positive number of nanoseconds per pixel, got ${req.nsPerPx}`);
    const trackCount = this.model.tracks.length;
    for (const t of req.tracks ?? [])
      if (!(Number.isInteger(t) && t >= 0 && t < trackCount))
        throw new Error(`view request: track ${t} does not exist (the trace has tracks 0 to ${trackCount - 1})`);
    const lists = req.tracks ? req.tracks.flatMap((t) => this.listsOfTrack[t]) : this.lists.map((_, i) => i);
    let level = this.levelFor(req.nsPerPx);
    let touched = 0;
    let ids: number[], merged: number[];
    for (;;) {
      ids = [];
      merged = [];
      for (const li of lists) touched += this.collect(li, level, t0, t1, ids, merged);
      if (ids.length <= LOD_MAX_SLICES || level + 1 >= this.levelCount) break;
      level++;
    }
    // The slices asked for by index, and the other ends of their flows.
    const n = this.model.slices.length;
    for (const m of req.keep ?? []) {
      if (!(Number.isInteger(m) && m >= 0 && m < n)) continue;
      ids.push(m);
      merged.push(1);
      for (let k = this.flowStart[m]; k < this.flowStart[m + 1]; k++) {
        const f = this.model.flows[this.flowAt[k]];
        ids.push(f.from === m ? f.to : f.from);
        merged.push(1);
        touched++;
      }
    }
    const { slices, merged: outMerged, has } = selectionOf(ids, merged);
    const flows: Flow[] = [];
    for (const m of slices) {
      for (let k = this.flowStart[m]; k < this.flowStart[m + 1]; k++) {
        const f = this.model.flows[this.flowAt[k]];
        touched++;
        if (f.from === m && has(f.to)) flows.push(f);
      }
    }
    const wanted = req.tracks ? new Set(req.tracks) : undefined;
    const counterSamples = this.model.counters.map((c, ci) =>
      wanted && !wanted.has(c.track) ? new Uint32Array(0) : this.counterQuery(ci, level, t0, t1),
    );
    return {
      slices,
      merged: outMerged,
      flows,
      counterSamples,
      level,
      bucketNs: this.bucketNs[level],
      touched,
    };
  }

  /** `query`, encoded with trace/binary.ts for the webview (every answer carries `sliceSource`). */
  encode(req: ViewRequest): ArrayBuffer {
    const a = this.query(req);
    return encodeParts(this.model, {
      slices: a.slices,
      merged: a.merged,
      depthOf: (i) => this.depth[i],
      flows: a.flows,
      counterSamples: a.counterSamples,
      extentNs: this.extentNs,
      warnings: this.model.warnings.slice(0, 50),
      detail: {
        minDurNs: 0,
        window: { startNs: req.startNs, endNs: req.endNs },
        totalSlices: this.model.slices.length,
        lod: {
          nsPerPx: req.nsPerPx,
          bucketNs: a.bucketNs,
          ...(req.tracks ? { tracks: [...req.tracks] } : {}),
          depths: this.trackDepths,
        },
      },
    });
  }

  /**
   * The whole extent at OVERVIEW_PX pixels: what a viewer shows first. Encoded once and
   * kept; each call returns a copy of its own (callers transfer it).
   */
  overview(): ArrayBuffer {
    if (!this.overviewData) {
      const [t0, t1] = this.extentNs;
      this.overviewData = this.encode({ startNs: t0, endNs: t1, nsPerPx: Math.max(1, (t1 - t0) / OVERVIEW_PX) });
    }
    return this.overviewData.slice(0);
  }
  private overviewData: ArrayBuffer | undefined;

  /**
   * Slices whose name contains `query` (case-insensitive): how many, and the first `limit`
   * by start time with where they are (so a viewer can go to one it does not hold).
   */
  search(query: string, limit = 10_000): SearchAnswer {
    const q = query.trim().toLowerCase();
    const out: SearchAnswer = { total: 0, slices: [], startNs: [], durNs: [], track: [] };
    if (!q) return out;
    const verdict = new Map<string, boolean>();
    const hits: number[] = [];
    const sl = this.model.slices;
    for (let i = 0; i < sl.length; i++) {
      const name = sl[i].name;
      let v = verdict.get(name);
      if (v === undefined) verdict.set(name, (v = name.toLowerCase().includes(q)));
      if (v && Number.isFinite(sl[i].startNs)) hits.push(i);
    }
    out.total = hits.length;
    hits.sort((a, b) => sl[a].startNs - sl[b].startNs || a - b);
    for (const i of hits.slice(0, limit)) {
      out.slices.push(i);
      out.startNs.push(sl[i].startNs);
      out.durNs.push(Math.max(0, sl[i].durNs));
      out.track.push(sl[i].track);
    }
    return out;
  }

  /** Appends the entries of list `li` at `level` that intersect [t0, t1]; returns the entries examined. */
  private collect(li: number, level: number, t0: number, t1: number, ids: number[], merged: number[]): number {
    const l = this.lists[li];
    const lv = level === 0 ? null : this.levels[level][li];
    const count = lv ? lv.pos.length : l.idx.length;
    const at = (k: number): number => (lv ? lv.pos[k] : k);
    // First entry that may end at or after t0 (binary search: O(log) entries examined).
    let lo = 0,
      hi = count,
      touched = 0;
    const key = l.endsSorted ? t0 : t0 - l.maxDur;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      touched++;
      if ((l.endsSorted ? l.end[at(mid)] : l.start[at(mid)]) < key) lo = mid + 1;
      else hi = mid;
    }
    for (let k = lo; k < count; k++) {
      const p = at(k);
      touched++;
      if (l.start[p] > t1) break;
      if (l.end[p] < t0) continue;
      ids.push(l.idx[p]);
      merged.push(lv ? lv.merged[k] : 1);
    }
    return touched;
  }

  private counterQuery(ci: number, level: number, t0: number, t1: number): Uint32Array {
    const c = this.model.counters[ci];
    const m = Math.min(c.tsNs.length, c.values.length);
    const lv = this.counterLevels[ci];
    if (lv.length === 0) return Uint32Array.from({ length: m }, (_, k) => k);
    // At level 0 every sample in the window and the one before it; above, the level's samples.
    const src = level === 0 ? null : lv[level];
    const count = src ? src.length : m;
    const ts = (k: number): number => c.tsNs[src ? src[k] : k];
    let lo = 0,
      hi = count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ts(mid) < t0) lo = mid + 1;
      else hi = mid;
    }
    const out = new Set<number>();
    for (let k = Math.max(0, lo - 1); k < count && ts(k) <= t1; k++) out.add(src ? src[k] : k);
    // Beyond the window, the coarsest level that still has ~OVERVIEW_PX buckets, so the whole
    // series keeps its shape.
    const span = Math.max(1, this.extentNs[1] - this.extentNs[0]);
    const overviewLevel = Math.max(1, level, this.levelFor(span / OVERVIEW_PX));
    for (const k of lv[overviewLevel]) out.add(k);
    return Uint32Array.from(out).sort();
  }
}

/**
 * The start of the model's time axis within a bucket of width `w`: (origin mod w), so that
 * bucket j of a start s is floor((s + offset) / w), the same bucket in any model of the same
 * absolute times.
 */
export function originOffset(originNs: string, w: number): number {
  let o: bigint;
  try {
    o = BigInt(originNs);
  } catch {
    o = 0n;
  }
  const bw = BigInt(w);
  return Number(((o % bw) + bw) % bw);
}

/** Buffers that buildLevel may write into (each at least as long as the list), reused across calls. */
export interface LevelScratch {
  pos: Uint32Array;
  merged: Uint32Array;
}

/**
 * Level of bucket width `w` for one list, given its slices' starts and ends in start order (see
 * the file comment); null when it keeps every slice. `off` is originOffset(origin, w). With
 * `scratch` (buffers at least as long as the list) no buffer of the list's size is allocated.
 */
export function buildLevel(
  start: ArrayLike<number>,
  end: ArrayLike<number>,
  w: number,
  off: number,
  scratch?: LevelScratch,
): { pos: Uint32Array; merged: Uint32Array } | null {
  const m = start.length;
  const big = scratch !== undefined && scratch.pos.length >= m && scratch.merged.length >= m;
  const pos = big ? scratch.pos : new Uint32Array(m),
    merged = big ? scratch.merged : new Uint32Array(m);
  let n = 0;
  let bucket = NaN,
    best = -1,
    bestDur = -1,
    count = 0,
    // Where the open bucket's entries begin: the slices at least w long that start in it come
    // before its representative, which is written when the bucket ends, in position order.
    openAt = 0;
  for (let p = 0; p < m; p++) {
    const d = end[p] - start[p];
    if (d >= w) {
      pos[n] = p;
      merged[n++] = 1;
      continue;
    }
    const b = Math.floor((start[p] + off) / w);
    if (b !== bucket) {
      if (count > 0) n = putRepresentative(pos, merged, n, openAt, best, count);
      bucket = b;
      best = p;
      bestDur = d;
      count = 1;
      openAt = n;
    } else {
      count++;
      if (d > bestDur) {
        best = p;
        bestDur = d;
      }
    }
  }
  if (count > 0) n = putRepresentative(pos, merged, n, openAt, best, count);
  if (n === m) return null;
  return { pos: pos.slice(0, n), merged: merged.slice(0, n) };
}

/** Writes a bucket's representative among the entries [openAt, n), keeping positions ascending; returns the new length. */
function putRepresentative(
  pos: Uint32Array,
  merged: Uint32Array,
  n: number,
  openAt: number,
  best: number,
  count: number,
): number {
  let k = n;
  while (k > openAt && pos[k - 1] > best) {
    pos[k] = pos[k - 1];
    merged[k] = merged[k - 1];
    k--;
  }
  pos[k] = best;
  merged[k] = count;
  return n + 1;
}

/** Per bucket of width `w`: the first, minimum, maximum and last sample (indexes, ascending); `off` as in buildLevel. */
export function counterLevel(
  ts: ArrayLike<number>,
  values: ArrayLike<number>,
  m: number,
  w: number,
  off: number,
): Uint32Array {
  const out: number[] = [];
  let bucket = NaN,
    first = -1,
    lo = -1,
    hi = -1,
    last = -1;
  const flush = (): void => {
    if (first < 0) return;
    const pick = [first, lo, hi, last].sort((a, b) => a - b);
    for (let k = 0; k < pick.length; k++) if (k === 0 || pick[k] !== pick[k - 1]) out.push(pick[k]);
  };
  for (let i = 0; i < m; i++) {
    const b = Math.floor((ts[i] + off) / w);
    if (b !== bucket) {
      flush();
      bucket = b;
      first = lo = hi = last = i;
      continue;
    }
    last = i;
    if (values[i] < values[lo]) lo = i;
    if (values[i] > values[hi]) hi = i;
  }
  flush();
  return Uint32Array.from(out);
}

/**
 * The slices of an answer as a view encodes them: `ids` (model order, with repeats) made
 * ascending and unique, each keeping the largest of its `merged` counts, and a membership test
 * by binary search. Shared by the whole-model index and the per-rank job index (trace/jobLod.ts).
 */
export function selectionOf(
  ids: readonly number[],
  merged: readonly number[],
): { slices: Uint32Array; merged: Uint32Array; has(m: number): boolean } {
  const perm = Array.from(ids.keys()).sort((a, b) => ids[a] - ids[b] || merged[b] - merged[a]);
  const outIds: number[] = [],
    outMerged: number[] = [];
  for (const p of perm) {
    if (outIds.length > 0 && outIds[outIds.length - 1] === ids[p]) continue;
    outIds.push(ids[p]);
    outMerged.push(merged[p]);
  }
  const slices = Uint32Array.from(outIds);
  const has = (m: number): boolean => {
    let lo = 0,
      hi = slices.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (slices[mid] < m) lo = mid + 1;
      else hi = mid;
    }
    return lo < slices.length && slices[lo] === m;
  };
  return { slices, merged: Uint32Array.from(outMerged), has };
}
