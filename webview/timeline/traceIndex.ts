/**
 * The viewer's index over a decoded binary trace (pure, no DOM): rank groups and their
 * tracks in display order, and for each (track, depth) the slices sorted by start with
 * their start/end copied into dense arrays, so a frame finds the visible slices by binary
 * search and merges sub-pixel runs without touching the rest.
 */
import type { BinaryTrace } from '../../trace/binary';
import { formatWithUnit } from '../../trace/format';
import { SLICE_CATEGORIES } from '../../trace/binary';
import type { StreamKind, TrackInfo } from '../../trace/model';
import {
  counterScale,
  stepNumberOf,
  warmupInflates,
  warmupWindow,
  type CounterScale,
  type StepSpan,
  type WarmupWindow,
} from './counterScale';

/** Slices of one depth of one track, sorted by start. */
export interface SliceList {
  idx: Uint32Array;
  start: Float64Array;
  /** start + max(dur, 0): zero and negative durations end where they start. */
  end: Float64Array;
  /** True when ends are non-decreasing (properly nested input), so end can be binary-searched. */
  endsSorted: boolean;
  maxDur: number;
}

export interface TrackEntry {
  info: TrackInfo;
  /** One list per depth (slice tracks); empty for counter tracks. */
  lists: SliceList[];
  /** Counter series indexes (into the trace's counter columns) on this track. */
  counterSeries: number[];
  counterMin: number;
  counterMax: number;
  /** How the counter is drawn (counterScale.ts): the steady-state range when warm-up would dwarf it. */
  scale?: CounterScale;
  sliceCount: number;
}

export interface GroupEntry {
  pid: number;
  rank?: number;
  label: string;
  tracks: number[];
  /** Its counter tracks whose every sample has one value (folded into one row by the layout), in track order. */
  constantCounters?: number[];
}

export const CATEGORY_STEP = SLICE_CATEGORIES.indexOf('step');

const STREAM_ORDER: Record<StreamKind, number> = {
  compute: 0,
  communication: 1,
  host: 2,
  staging: 3,
  wait: 4,
  other: 5,
};

export class TraceIndex {
  readonly tracks: TrackEntry[];
  readonly groups: GroupEntry[];
  /** Problems found while indexing (bad durations, unknown tracks...), shown as warnings. */
  readonly issues: string[] = [];
  /** Step slices of one rank (the first that has any), sorted: the step markers; `warmup` on warm-up steps. */
  readonly steps: { startNs: number; endNs: number; label: string; warmup?: boolean }[] = [];
  /** The warm-up steps and when they end (counterScale.ts), when the trace has any. */
  readonly warmup: WarmupWindow | undefined;
  readonly extentStartNs: number;
  readonly extentEndNs: number;
  /** Slices that were indexed (finite times on a known slice track). */
  readonly drawableSlices: number;

  constructor(readonly trace: BinaryTrace) {
    const h = trace.header;
    const n = h.sliceCount;
    const trackCount = h.tracks.length;
    this.tracks = h.tracks.map((info) => ({
      info,
      lists: [],
      counterSeries: [],
      counterMin: Infinity,
      counterMax: -Infinity,
      sliceCount: 0,
    }));

    // Bucket slices by track (counting sort keeps index order inside a track).
    const counts = new Uint32Array(trackCount + 1);
    let unknownTrack = 0,
      nonFinite = 0,
      negative = 0,
      zero = 0;
    const valid = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const t = trace.sliceTrack[i],
        s = trace.sliceStart[i],
        d = trace.sliceDur[i];
      if (t >= trackCount) {
        unknownTrack++;
        continue;
      }
      if (!Number.isFinite(s) || !Number.isFinite(d)) {
        nonFinite++;
        continue;
      }
      if (d < 0) negative++;
      else if (d === 0) zero++;
      valid[i] = 1;
      counts[t]++;
    }
    const offsets = new Uint32Array(trackCount + 1);
    for (let t = 0; t < trackCount; t++) offsets[t + 1] = offsets[t] + counts[t];
    const order = new Uint32Array(offsets[trackCount]);
    const fill = offsets.slice(0, trackCount);
    for (let i = 0; i < n; i++) if (valid[i]) order[fill[trace.sliceTrack[i]]++] = i;
    this.drawableSlices = order.length;

    for (let t = 0; t < trackCount; t++) {
      const seg = order.subarray(offsets[t], offsets[t + 1]);
      if (seg.length === 0) continue;
      let sorted = true;
      for (let k = 1; k < seg.length && sorted; k++)
        if (trace.sliceStart[seg[k]] < trace.sliceStart[seg[k - 1]]) sorted = false;
      if (!sorted)
        seg.sort((a, b) => trace.sliceStart[a] - trace.sliceStart[b] || trace.sliceDepth[a] - trace.sliceDepth[b]);
      let maxDepth = 0;
      for (let k = 0; k < seg.length; k++) if (trace.sliceDepth[seg[k]] > maxDepth) maxDepth = trace.sliceDepth[seg[k]];
      const perDepth = new Uint32Array(maxDepth + 1);
      for (let k = 0; k < seg.length; k++) perDepth[trace.sliceDepth[seg[k]]]++;
      const lists: SliceList[] = [];
      for (let d = 0; d <= maxDepth; d++) {
        lists.push({
          idx: new Uint32Array(perDepth[d]),
          start: new Float64Array(perDepth[d]),
          end: new Float64Array(perDepth[d]),
          endsSorted: true,
          maxDur: 0,
        });
      }
      const at = new Uint32Array(maxDepth + 1);
      for (let k = 0; k < seg.length; k++) {
        const i = seg[k],
          d = trace.sliceDepth[i],
          l = lists[d],
          j = at[d]++;
        const s = trace.sliceStart[i],
          dur = Math.max(0, trace.sliceDur[i]);
        l.idx[j] = i;
        l.start[j] = s;
        l.end[j] = s + dur;
        if (dur > l.maxDur) l.maxDur = dur;
        if (j > 0 && l.end[j] < l.end[j - 1]) l.endsSorted = false;
      }
      // Depths with no slice (possible after filtering) are dropped from the bottom only.
      while (lists.length > 1 && lists[lists.length - 1].idx.length === 0) lists.pop();
      this.tracks[t].lists = lists;
      this.tracks[t].sliceCount = seg.length;
    }

    // A level-of-detail answer holds part of the trace: keep every track as deep as it is in
    // the whole trace, so rows do not change height from answer to answer.
    const depths = h.detail?.lod?.depths;
    if (depths)
      for (let t = 0; t < trackCount; t++) {
        const lists = this.tracks[t].lists;
        while (lists.length < (depths[t] ?? 0))
          lists.push({
            idx: new Uint32Array(0),
            start: new Float64Array(0),
            end: new Float64Array(0),
            endsSorted: true,
            maxDur: 0,
          });
      }

    for (let c = 0; c < h.counterCount; c++) {
      const t = trace.counterTrack[c];
      const e = this.tracks[t];
      if (!e) {
        unknownTrack++;
        continue;
      }
      e.counterSeries.push(c);
      for (let k = trace.counterOffset[c]; k < trace.counterOffset[c + 1]; k++) {
        const v = trace.counterValue[k];
        if (!Number.isFinite(v)) continue;
        if (v < e.counterMin) e.counterMin = v;
        if (v > e.counterMax) e.counterMax = v;
      }
    }

    if (unknownTrack)
      this.issues.push(`${unknownTrack} slice(s) or counter(s) refer to a track that does not exist and are not shown`);
    if (nonFinite)
      this.issues.push(`${nonFinite} slice(s) have a start or duration that is not a finite number and are not shown`);
    if (negative)
      this.issues.push(`${negative} slice(s) have a negative duration; they are drawn as zero-length markers`);
    if (zero > 0 && zero === this.drawableSlices)
      this.issues.push('every slice has zero duration; they are drawn as markers');

    this.groups = this.buildGroups();
    for (const g of this.groups) {
      const constant = g.tracks.filter((t) => {
        const e = this.tracks[t];
        return e.info.type === 'counter' && Number.isFinite(e.counterMin) && e.counterMin === e.counterMax;
      });
      if (constant.length) g.constantCounters = constant;
    }
    this.collectSteps();
    const allSteps: StepSpan[] = [];
    for (const i of order)
      if (trace.sliceCategory[i] === CATEGORY_STEP)
        allSteps.push({
          startNs: trace.sliceStart[i],
          endNs: trace.sliceStart[i] + Math.max(0, trace.sliceDur[i]),
          label: trace.string(trace.sliceName[i]),
          pid: this.tracks[trace.sliceTrack[i]].info.pid,
        });
    this.warmup = warmupWindow(h.meta, this.steps, allSteps, h.detail?.window !== undefined);
    this.markWarmupSteps();
    for (const e of this.tracks) {
      if (e.counterSeries.length === 0) continue;
      e.scale = counterScale(
        e.counterSeries.map((c) => ({
          ts: trace.counterTs.subarray(trace.counterOffset[c], trace.counterOffset[c + 1]),
          values: trace.counterValue.subarray(trace.counterOffset[c], trace.counterOffset[c + 1]),
        })),
        warmupInflates(e.info.unit) ? (this.warmup?.endNsByPid.get(e.info.pid) ?? this.warmup?.endNs) : undefined,
      );
    }
    const [lo, hi] = h.extentNs;
    this.extentStartNs = Number.isFinite(lo) ? lo : 0;
    this.extentEndNs = Number.isFinite(hi) && hi > this.extentStartNs ? hi : this.extentStartNs + 1000;
  }

  private buildGroups(): GroupEntry[] {
    const h = this.trace.header;
    const byPid = new Map<number, GroupEntry>();
    for (const p of h.processes) {
      byPid.set(p.pid, {
        pid: p.pid,
        rank: p.rank,
        label: p.rank !== undefined ? `Rank ${p.rank}` : p.name || `Process ${p.pid}`,
        tracks: [],
      });
    }
    for (const t of this.tracks) {
      let g = byPid.get(t.info.pid);
      if (!g) {
        g = { pid: t.info.pid, label: `Process ${t.info.pid}`, tracks: [] };
        byPid.set(t.info.pid, g);
      }
      g.tracks.push(t.info.id);
    }
    const key = (t: TrackInfo): number[] => [
      t.type === 'counter' ? 1 : 0,
      t.order ?? 0,
      STREAM_ORDER[t.stream] ?? 9,
      t.id,
    ];
    for (const g of byPid.values()) {
      g.tracks.sort((a, b) => {
        const ka = key(this.tracks[a].info),
          kb = key(this.tracks[b].info);
        for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] - kb[i];
        return 0;
      });
    }
    return [...byPid.values()]
      .filter((g) => g.tracks.length > 0)
      .sort((a, b) => (a.rank ?? a.pid) - (b.rank ?? b.pid) || a.pid - b.pid);
  }

  private collectSteps(): void {
    const tr = this.trace;
    for (const g of this.groups) {
      for (const t of g.tracks) {
        for (const l of this.tracks[t].lists) {
          for (let k = 0; k < l.idx.length; k++) {
            const i = l.idx[k];
            if (tr.sliceCategory[i] === CATEGORY_STEP)
              this.steps.push({ startNs: l.start[k], endNs: l.end[k], label: tr.string(tr.sliceName[i]) });
          }
        }
      }
      if (this.steps.length > 0) break;
    }
    this.steps.sort((a, b) => a.startNs - b.startNs);
  }

  /**
   * Flags the step markers of the warm-up steps: by the number in their name, or (a rule
   * applied to unnumbered steps) by position, as warmupWindow matches them.
   */
  private markWarmupSteps(): void {
    const w = this.warmup;
    if (!w) return;
    const set = new Set(w.steps);
    this.steps.forEach((st, i) => {
      const n = stepNumberOf(st.label);
      if (n !== undefined ? set.has(n) : w.source === 'rule' && i < w.steps.length) st.warmup = true;
    });
  }

  /**
   * The value of constant counter `track` in a few words, for its fold row: its name without
   * the `memory: ` prefix and its one value (`parameters 5.05 MiB`).
   */
  constantText(track: number): string {
    const e = this.tracks[track];
    const name = e.info.name.replace(/^memory:\s*/, '');
    return Number.isFinite(e.counterMin) ? `${name} ${formatWithUnit(e.counterMin, e.info.unit)}` : name;
  }

  /** Rank of the process that owns `track` (the pid when the rank is unknown). */
  rankOfTrack(track: number): number | undefined {
    const pid = this.tracks[track]?.info.pid;
    return this.trace.header.processes.find((p) => p.pid === pid)?.rank;
  }

  /** Model slice index of encoded slice `i` (differs when the host sent a subset). */
  modelIndex(i: number): number {
    return this.trace.sliceSource ? this.trace.sliceSource[i] : i;
  }

  /** How many model slices encoded slice `i` stands for (more than one where a level-of-detail answer merged them). */
  mergedCount(i: number): number {
    return this.trace.sliceMerged?.[i] ?? 1;
  }

  /** True when the host sends views from its level-of-detail index (protocol step 10), not the whole trace. */
  get windowed(): boolean {
    return this.trace.header.detail?.lod !== undefined;
  }

  /** Encoded index of model slice `m`, or -1 when it was not sent. */
  encodedIndex(m: number): number {
    const src = this.trace.sliceSource;
    if (!src) return m >= 0 && m < this.trace.header.sliceCount ? m : -1;
    let lo = 0,
      hi = src.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (src[mid] < m) lo = mid + 1;
      else hi = mid;
    }
    return lo < src.length && src[lo] === m ? lo : -1;
  }

  /** Slice under time `t` (± `tolNs`) at `depth` of `track`, or -1. Prefers the slice containing t. */
  hit(track: number, depth: number, t: number, tolNs: number): number {
    const l = this.tracks[track]?.lists[depth];
    if (!l || l.idx.length === 0) return -1;
    let k = firstIndexAtOrAfter(l.start, t + tolNs + 1e-9) - 1;
    let best = -1,
      bestDist = Infinity;
    for (let steps = 0; k >= 0 && steps < 64; k--, steps++) {
      const dist = t < l.start[k] ? l.start[k] - t : t > l.end[k] ? t - l.end[k] : 0;
      if (dist <= tolNs && dist < bestDist) {
        best = l.idx[k];
        bestDist = dist;
        if (dist === 0) break;
      }
      if (l.endsSorted && l.end[k] < t - tolNs) break;
    }
    return best;
  }
}

/** First position in sorted `a` whose value is ≥ `v` (a.length when none). */
export function firstIndexAtOrAfter(a: Float64Array, v: number, lo = 0): number {
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First position in `l` of a slice that may intersect a window starting at `t0`. */
export function firstVisible(l: SliceList, t0: number): number {
  if (l.endsSorted) {
    let lo = 0,
      hi = l.end.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (l.end[mid] < t0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
  return firstIndexAtOrAfter(l.start, t0 - l.maxDur);
}
