/**
 * The level-of-detail index of a whole job, made of the indexes of its ranks (trace/rankLod.ts)
 * and answering as trace/lod.ts LodIndex would over the model the importer makes of the job
 * (trace/kineto.ts importKinetoFolder: the ranks' models one after the other, each with its
 * tracks, slices and flows numbered after the previous ranks', its times shifted to the
 * earliest origin): the same slices, merged counts, flows and counter samples, with the same
 * model indexes, without that model. Each rank's answer is found in its own columns (its time
 * base: a view's window is moved by the rank's shift, and buckets are on absolute time so the
 * levels are the job's), then the ranks' answers are put together.
 */
import { encodeSelection, type BinaryDetail, type EncodeOptions, type EncodedSlice, type SliceSource } from './binary';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { mergeRankModels } from './kinetoMerge';
import { codeHash } from './parseCache';
import {
  LOD_BASE_NS,
  LOD_FACTOR,
  LOD_MAX_SLICES,
  OVERVIEW_PX,
  selectionOf,
  type SearchAnswer,
  type ViewAnswer,
  type ViewRequest,
} from './lod';
import type { Flow, TraceModel } from './model';
import { NOT_INDEXED, type RankLodData, type RankLodFile } from './rankLod';
import { SLICE_CATEGORIES } from './binary';

interface Rank {
  file: RankLodFile;
  /**
   * The rank's whole index: its columns are read when needed (RankLodFile.data), making room
   * first within the job's resident budget (JobLod.use).
   */
  readonly d: RankLodData;
  /** The job's operation count when this rank was last used (least recently used goes first). */
  lastUse: number;
  sliceBase: number;
  trackBase: number;
  flowBase: number;
  counterBase: number;
  /** Added to the rank's times to give the job's. */
  shift: number;
  listsOfTrack: number[][];
  /** Levels built (level k ≥ top is level top). */
  top: number;
}

export class JobLod {
  /** Bucket width of each level of the job (as LodIndex over the job's model). */
  readonly bucketNs: number[] = [0];
  readonly extentNs: [number, number];
  readonly trackDepths: number[];
  readonly sliceCount: number;
  /** The job's model without slices and flows: meta, processes, tracks, counters, warnings. */
  readonly model: TraceModel;
  private readonly ranks: Rank[] = [];

  /**
   * The job of these ranks' indexes, in rank-file order (as the importer merges them). The files
   * are kept open until `close`. With `overviewDir`, the encoded overview is kept there
   * (`job.<id>.overview`, keyed by the indexes, the warnings and the code that encodes it) and a
   * re-open reads it instead of encoding it.
   *
   * With `residentBytes`, the ranks' columns held in memory stay within it (one rank's columns
   * always fit, however large): a rank is read when an answer needs it, and the ranks used least
   * recently are let go to make room (the hex editor's model: a job larger than memory is
   * answered from its files, a view at a time). Without it, every rank read stays.
   */
  constructor(
    files: RankLodFile[],
    private readonly opts: { overviewDir?: string; residentBytes?: number } = {},
  ) {
    if (files.length === 0) throw new Error('a job index needs at least one rank');
    const skeletons: TraceModel[] = files.map((f) => ({ ...f.meta.rest, slices: [], flows: [] }));
    const origins = files.map((f) => BigInt(f.meta.rest.meta.originNs));
    const common = origins.reduce((a, b) => (b < a ? b : a), origins[0]);
    this.model = mergeRankModels(skeletons);
    let sliceBase = 0,
      trackBase = 0,
      flowBase = 0,
      counterBase = 0;
    let lo = Infinity,
      hi = -Infinity;
    this.trackDepths = [];
    const windows: { rank: number; start: number; end: number }[] = [];
    // Each rank's `d` reads its columns through the job, which keeps what it holds within its budget.
    const use = (x: Rank) => this.use(x);
    for (let r = 0; r < files.length; r++) {
      const file = files[r];
      const d = file.meta;
      const shift = Number(origins[r] - common);
      const listsOfTrack: number[][] = Array.from({ length: d.rest.tracks.length }, () => []);
      for (let l = 0; l < d.listTrack.length; l++) listsOfTrack[d.listTrack[l]].push(l);
      this.ranks.push({
        file,
        get d() {
          return use(this);
        },
        lastUse: 0,
        sliceBase,
        trackBase,
        flowBase,
        counterBase,
        shift,
        listsOfTrack,
        top: d.bucketNs.length - 1,
      });
      sliceBase += d.sliceCount;
      trackBase += d.rest.tracks.length;
      flowBase += d.flows;
      counterBase += d.rest.counters.length;
      this.trackDepths.push(...d.trackDepths);
      // modelExtentNs of the job: the ranks' extents, shifted (an empty rank has none).
      if (d.sliceCount > 0 || d.rest.counters.some((c) => c.tsNs.length > 0)) {
        lo = Math.min(lo, d.extentNs[0] + shift);
        hi = Math.max(hi, d.extentNs[1] + shift);
      }
      const rank = d.rest.processes[0]?.rank;
      if (d.window && rank !== undefined) windows.push({ rank, start: d.window[0] + shift, end: d.window[1] + shift });
    }
    // mergeRankModels' last warning, from the ranks' windows (its skeletons had no slices to see them).
    if (files.length > 1)
      for (const w of windows) {
        const others = windows.filter((o) => o !== w);
        if (others.length > 0 && others.every((o) => o.end < w.start || o.start > w.end))
          this.model.warnings.push(
            `rank ${w.rank}'s trace does not overlap any other rank's in time: the files may come from different runs`,
          );
      }
    this.sliceCount = sliceBase;
    this.extentNs = Number.isFinite(lo) ? [lo, hi] : [0, 0];
    const span = Math.max(1, this.extentNs[1] - this.extentNs[0]);
    for (let w = LOD_BASE_NS; ; w *= LOD_FACTOR) {
      this.bucketNs.push(w);
      if (w >= span) break;
    }
  }

  get levelCount(): number {
    return this.bucketNs.length;
  }

  /** Operations begun (each public answer counts one): the clock of `Rank.lastUse`. */
  private op = 0;
  /** The ranks whose columns are read and held, and their bytes. */
  private readonly held = new Set<Rank>();
  private heldBytes = 0;
  /** A lower cap than `residentBytes` while an answer that reads every rank once is made (the overview). */
  private capNow: number | undefined;

  /** Ranks' columns read since the job was opened (a rank let go and read again counts again). */
  private reads = 0;

  /** How many ranks' columns are held in memory, their bytes, and how many times columns were read. */
  get resident(): { ranks: number; bytes: number; reads: number } {
    return { ranks: this.held.size, bytes: this.heldBytes, reads: this.reads };
  }

  /**
   * Rank `r`'s columns, read if they are not held: first the ranks used least recently are let go
   * until they fit in `residentBytes` (those of the answer being made last, and `r` never).
   */
  private use(r: Rank): RankLodData {
    r.lastUse = this.op;
    if (r.file.loaded) {
      // Read by the file itself (its args): counted now.
      if (!this.held.has(r)) {
        this.held.add(r);
        this.heldBytes += r.file.columnBytes;
      }
      return r.file.data;
    }
    const cap = this.capNow ?? this.opts.residentBytes ?? Infinity;
    const need = r.file.columnBytes;
    if (this.heldBytes + need > cap) {
      const order = [...this.held].filter((x) => x !== r).sort((a, b) => a.lastUse - b.lastUse);
      for (const x of order) {
        if (this.heldBytes + need <= cap) break;
        this.letGo(x);
      }
    }
    const d = r.file.data;
    this.reads++;
    this.held.add(r);
    this.heldBytes += need;
    return d;
  }

  /**
   * After an answer: the ranks it did not use are let go, least recently used first, until half
   * of `residentBytes` is held, so that what a burst read (a search, the overview of a job of many
   * ranks) does not stay once the views move on to a few ranks. The answer's own ranks stay.
   */
  private settle(): void {
    const cap = (this.opts.residentBytes ?? Infinity) / 2;
    if (this.heldBytes <= cap) return;
    const order = [...this.held].filter((x) => x.lastUse < this.op).sort((a, b) => a.lastUse - b.lastUse);
    for (const x of order) {
      if (this.heldBytes <= cap) break;
      this.letGo(x);
    }
  }

  private letGo(r: Rank): void {
    if (!this.held.delete(r)) return;
    r.file.unload();
    this.heldBytes -= r.file.columnBytes;
  }

  /** As LodIndex.levelFor. */
  levelFor(nsPerPx: number): number {
    let k = 0;
    while (k + 1 < this.bucketNs.length && this.bucketNs[k + 1] <= nsPerPx) k++;
    return k;
  }

  /** The rank holding job slice `m`. */
  private rankOf(m: number): Rank {
    let lo = 0,
      hi = this.ranks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.ranks[mid].sliceBase <= m) lo = mid;
      else hi = mid - 1;
    }
    return this.ranks[lo];
  }

  /** As LodIndex.query, over the job. */
  query(req: ViewRequest): ViewAnswer {
    this.op++;
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
    // The lists asked for, per rank.
    const lists = this.ranks.map((r) => {
      if (!req.tracks) return Array.from(r.file.meta.listTrack.keys());
      const out: number[] = [];
      for (const t of req.tracks) {
        const local = t - r.trackBase;
        if (local >= 0 && local < r.listsOfTrack.length) out.push(...r.listsOfTrack[local]);
      }
      return out;
    });
    let level = this.levelFor(req.nsPerPx);
    let touched = 0;
    let ids: number[] = [],
      merged: number[] = [];
    for (;;) {
      ids = [];
      merged = [];
      this.ranks.forEach((r, ri) => {
        for (const li of lists[ri]) touched += collect(r, li, Math.min(level, r.top), t0, t1, ids, merged);
      });
      if (ids.length <= LOD_MAX_SLICES || level + 1 >= this.levelCount) break;
      level++;
    }
    // The slices asked for by index, and the other ends of their flows.
    const n = this.sliceCount;
    for (const m of req.keep ?? []) {
      if (!(Number.isInteger(m) && m >= 0 && m < n)) continue;
      const r = this.rankOf(m);
      const d = r.d;
      const i = m - r.sliceBase;
      if (d.posOf[i] === NOT_INDEXED) continue;
      ids.push(m);
      merged.push(1);
      for (let k = d.flowStart[i]; k < d.flowStart[i + 1]; k++) {
        const f = d.flowAt[k];
        ids.push(r.sliceBase + (d.flowFrom[f] === i ? d.flowTo[f] : d.flowFrom[f]));
        merged.push(1);
        touched++;
      }
    }
    const { slices, merged: outMerged, has } = selectionOf(ids, merged);
    const flows: Flow[] = [];
    for (const m of slices) {
      const r = this.rankOf(m);
      const d = r.d;
      const i = m - r.sliceBase;
      for (let k = d.flowStart[i]; k < d.flowStart[i + 1]; k++) {
        const f = d.flowAt[k];
        touched++;
        if (d.flowFrom[f] === i && has(r.sliceBase + d.flowTo[f]))
          flows.push({ id: d.flowId[f] + r.flowBase, from: m, to: r.sliceBase + d.flowTo[f] });
      }
    }
    const wanted = req.tracks ? new Set(req.tracks) : undefined;
    const counterSamples: Uint32Array[] = [];
    // A rank's counters are in its meta; its columns are read only for the counters asked for.
    for (const r of this.ranks)
      r.file.meta.rest.counters.forEach((c, ci) => {
        counterSamples.push(
          wanted && !wanted.has(c.track + r.trackBase) ? new Uint32Array(0) : this.counterQuery(r, ci, level, t0, t1),
        );
      });
    this.settle();
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

  private counterQuery(r: Rank, ci: number, level: number, t0: number, t1: number): Uint32Array {
    const c = r.file.meta.rest.counters[ci];
    const m = Math.min(c.tsNs.length, c.values.length);
    const lv = r.d.counterLevels[ci];
    if (lv.length === 0) return Uint32Array.from({ length: m }, (_, k) => k);
    const src = level === 0 ? null : lv[Math.min(level, r.top) - 1];
    const count = src ? src.length : m;
    const ts = (k: number): number => c.tsNs[src ? src[k] : k] + r.shift;
    let lo = 0,
      hi = count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ts(mid) < t0) lo = mid + 1;
      else hi = mid;
    }
    const out = new Set<number>();
    for (let k = Math.max(0, lo - 1); k < count && ts(k) <= t1; k++) out.add(src ? src[k] : k);
    const span = Math.max(1, this.extentNs[1] - this.extentNs[0]);
    const overviewLevel = Math.max(1, level, this.levelFor(span / OVERVIEW_PX));
    for (const k of lv[Math.min(overviewLevel, r.top) - 1]) out.add(k);
    return Uint32Array.from(out).sort();
  }

  /** Nesting depth of job slice `m` (0 when it is not indexed). */
  depthOf(m: number): number {
    this.op++;
    return this.depth(m);
  }

  private depth(m: number): number {
    const r = this.rankOf(m);
    const p = r.d.posOf[m - r.sliceBase];
    return p === NOT_INDEXED ? 0 : r.d.listDepth[listOf(r.d, p)];
  }

  /** The selection encoded (trace/binary.ts), its args read from the ranks' files. */
  private encodeIds(
    ids: Uint32Array,
    parts: { merged?: Uint32Array; flows: Flow[]; counterSamples?: Uint32Array[]; detail?: BinaryDetail },
  ): ArrayBuffer {
    // Args per answer slice: each rank's slices are one run of `ids`; read in position order.
    const args = new Array<string | undefined>(ids.length);
    let a = 0;
    while (a < ids.length) {
      const r = this.rankOf(ids[a]);
      const end = r.sliceBase + r.d.sliceCount;
      let b = a;
      while (b < ids.length && ids[b] < end) b++;
      const ks = Array.from({ length: b - a }, (_, j) => a + j).filter(
        (k) => r.d.posOf[ids[k] - r.sliceBase] !== NOT_INDEXED,
      );
      const posOfK = (k: number): number => r.d.posOf[ids[k] - r.sliceBase];
      ks.sort((x, y) => posOfK(x) - posOfK(y));
      // r.d first: the columns readArgs reads are then held, and counted.
      const positions = ks.map(posOfK);
      void r.d;
      const got = r.file.readArgs(positions);
      ks.forEach((k, j) => (args[k] = got[j]));
      a = b;
    }
    let cursor = 0;
    const ranks = this.ranks;
    const rankOf = (m: number) => this.rankOf(m);
    const src: SliceSource = {
      meta: this.model.meta,
      processes: this.model.processes,
      tracks: this.model.tracks,
      counters: this.model.counters,
      warnings: this.model.warnings,
      sliceCount: this.sliceCount,
      slice(i: number, out: EncodedSlice): void {
        const k = ids[cursor] === i ? cursor++ : ids.indexOf(i);
        const r = ranks.length === 1 ? ranks[0] : rankOf(i);
        const d = r.d;
        const p = d.posOf[i - r.sliceBase];
        if (p === NOT_INDEXED) throw new Error(`slice ${i} is not in the level-of-detail index`);
        out.track = d.listTrack[listOf(d, p)] + r.trackBase;
        out.startNs = d.start[p] + r.shift;
        out.durNs = d.dur[p];
        out.name = d.names[d.name[p]];
        out.argsJson = args[k];
        out.category = SLICE_CATEGORIES[d.category[p]];
      },
    };
    return encodeSelection(src, {
      slices: ids,
      ...(parts.merged ? { merged: parts.merged } : {}),
      depthOf: (i) => this.depth(i),
      flows: parts.flows,
      ...(parts.counterSamples ? { counterSamples: parts.counterSamples } : {}),
      extentNs: this.extentNs,
      warnings: parts.detail?.lod ? this.model.warnings.slice(0, 50) : this.model.warnings,
      ...(parts.detail ? { detail: parts.detail } : {}),
    });
  }

  /** As LodIndex.encode. */
  encode(req: ViewRequest): ArrayBuffer {
    const a = this.query(req);
    return this.encodeIds(a.slices, {
      merged: a.merged,
      flows: a.flows,
      counterSamples: a.counterSamples,
      detail: {
        minDurNs: 0,
        window: { startNs: req.startNs, endNs: req.endNs },
        totalSlices: this.sliceCount,
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
   * As LodIndex.overview: encoded once. Kept in `overviewDir` (when it can be written) and handed
   * out from there: the encoding read or written is given to the first caller as it is and let
   * go, and a later call reads the file again. Without a kept file it stays in memory and each
   * call returns a copy. (1,024 ranks: 12 MB; the copy took ~40 ms of a re-open.)
   */
  overview(): ArrayBuffer {
    this.prepareOverview();
    const data = this.overviewData!;
    if (!this.overviewOnDisk) return data.slice(0);
    this.overviewData = undefined;
    return data;
  }

  /** Gets the overview ready for `overview` (read from `overviewDir`, or encoded) without handing it out. */
  prepareOverview(): void {
    if (this.overviewData) return;
    const file = this.opts.overviewDir ? join(this.opts.overviewDir, `job.${this.overviewId()}.overview`) : undefined;
    this.overviewData = file ? readOverview(file) : undefined;
    this.overviewOnDisk = this.overviewData !== undefined;
    if (this.overviewData) return;
    const [t0, t1] = this.extentNs;
    // It reads every rank: within half the budget (ranks read again where they were let go),
    // since it is encoded once, and the ranks it read are no likelier to be asked for than others.
    this.capNow = (this.opts.residentBytes ?? Infinity) / 2;
    try {
      this.overviewData = this.encode({ startNs: t0, endNs: t1, nsPerPx: Math.max(1, (t1 - t0) / OVERVIEW_PX) });
    } finally {
      this.capNow = undefined;
    }
    this.overviewOnDisk = file !== undefined && writeOverview(file, this.overviewData);
    this.op++;
    this.settle();
  }
  /** Whether the overview can be read again from its file (so that it need not stay in memory). */
  private overviewOnDisk = false;

  /** The overview's key: the ranks' indexes (their columns' hashes), the warnings, and the code that encodes. */
  private overviewId(): string {
    const h = createHash('sha256');
    h.update(JSON.stringify({ code: encoderCode(), ranks: this.ranks.map((r) => [r.file.sha1, r.file.argsBytes]) }));
    h.update(JSON.stringify(this.model.warnings));
    return h.digest('hex').slice(0, 24);
  }
  private overviewData: ArrayBuffer | undefined;

  /**
   * As trace/binary.ts encodeTrace over the job's model: every slice, or with `options` those
   * at least minDurNs long that meet the window (for jobs small enough to be sent whole).
   */
  encodeTrace(options: EncodeOptions = {}): ArrayBuffer {
    this.op++;
    const minDur = options.minDurNs ?? 0;
    const win = options.window;
    const filtered = minDur > 0 || win !== undefined;
    const keep: number[] = [];
    for (const r of this.ranks) {
      const d = r.d;
      for (let i = 0; i < d.sliceCount; i++) {
        const p = d.posOf[i];
        if (p === NOT_INDEXED) continue;
        const start = d.start[p] + r.shift,
          dur = d.dur[p];
        if (minDur > 0 && dur < minDur) continue;
        if (win && (start > win.endNs || start + Math.max(0, dur) < win.startNs)) continue;
        keep.push(r.sliceBase + i);
      }
    }
    const ids = Uint32Array.from(keep);
    const kept = new Uint8Array(this.sliceCount);
    for (const m of ids) kept[m] = 1;
    const flows: Flow[] = [];
    for (const r of this.ranks) {
      const d = r.d;
      for (let f = 0; f < d.flowFrom.length; f++) {
        const from = r.sliceBase + d.flowFrom[f],
          to = r.sliceBase + d.flowTo[f];
        if (kept[from] === 1 && kept[to] === 1) flows.push({ id: d.flowId[f] + r.flowBase, from, to });
      }
    }
    const out = this.encodeIds(ids, {
      flows,
      ...(filtered ? { detail: { minDurNs: minDur, window: win, totalSlices: this.sliceCount } } : {}),
    });
    this.settle();
    return out;
  }

  /** As LodIndex.search. */
  search(query: string, limit = 10_000): SearchAnswer {
    this.op++;
    const q = query.trim().toLowerCase();
    const out: SearchAnswer = { total: 0, slices: [], startNs: [], durNs: [], track: [] };
    if (!q) return out;
    const hitIds: number[] = [],
      hitStart: number[] = [],
      hitRank: number[] = [],
      hitPos: number[] = [];
    this.ranks.forEach((r, ri) => {
      const d = r.d;
      const verdict = d.names.map((s) => s.toLowerCase().includes(q));
      for (let p = 0; p < d.idx.length; p++) {
        if (!verdict[d.name[p]]) continue;
        hitIds.push(r.sliceBase + d.idx[p]);
        hitStart.push(d.start[p] + r.shift);
        hitRank.push(ri);
        hitPos.push(p);
      }
    });
    out.total = hitIds.length;
    const order = Array.from(hitIds.keys()).sort((a, b) => hitStart[a] - hitStart[b] || hitIds[a] - hitIds[b]);
    const top = order.slice(0, limit);
    // The hits' durations and tracks, rank by rank: each rank read once (in time order, the
    // ranks alternate, and one held at a time would be read again for every hit).
    const dur = new Float64Array(top.length),
      track = new Float64Array(top.length);
    const byRank = Array.from(top.keys()).sort((a, b) => hitRank[top[a]] - hitRank[top[b]] || a - b);
    for (const j of byRank) {
      const k = top[j];
      const r = this.ranks[hitRank[k]];
      const d = r.d;
      dur[j] = Math.max(0, d.dur[hitPos[k]]);
      track[j] = d.listTrack[listOf(d, hitPos[k])] + r.trackBase;
    }
    top.forEach((k, j) => {
      out.slices.push(hitIds[k]);
      out.startNs.push(hitStart[k]);
      out.durNs.push(dur[j]);
      out.track.push(track[j]);
    });
    this.settle();
    return out;
  }

  /**
   * Reads the columns of one rank not read yet, while they fit in half of `residentBytes` beside
   * those held (the first view of a windowed job is the kept overview, which needs none); the
   * trace worker calls it between requests after the first view, so that zooming in does not
   * wait for them. Half: an open job settles there, and the answers' own reads have the other
   * half before any rank is let go (a job of many ranks is viewed a few ranks at a time, its
   * other ranks as summary rows, so reading all of them ahead would only fill memory). Returns
   * whether ranks are left that would fit.
   */
  loadNext(): boolean {
    const cap = (this.opts.residentBytes ?? Infinity) / 2;
    const fits = (x: Rank) => !x.file.loaded && this.heldBytes + x.file.columnBytes <= cap;
    const r = this.ranks.find(fits);
    if (!r) return false;
    // Not an answer: read as if used longest ago, so that the answers' ranks stay first.
    this.use(r);
    r.lastUse = -1;
    return this.ranks.some(fits);
  }

  /** Closes the ranks' files. */
  close(): void {
    for (const r of this.ranks) {
      this.letGo(r);
      r.file.close();
    }
  }
}

const OVERVIEW_MAGIC = 'CLOVW01\n';

/** A hash of the code that answers and encodes (this module and, unbundled, those beside it). */
let code: string | undefined;
function encoderCode(): string {
  code ??= codeHash([__filename, ...['binary.js', 'lod.js', 'rankLod.js'].map((f) => join(__dirname, f))]);
  return code;
}

/** A kept overview: magic, SHA-1 of the encoding (hex), the encoding; undefined when missing or not whole. */
function readOverview(file: string): ArrayBuffer | undefined {
  let b: Buffer;
  try {
    b = fs.readFileSync(file);
  } catch {
    return undefined;
  }
  const head = OVERVIEW_MAGIC.length + 40;
  if (b.length < head || b.toString('latin1', 0, OVERVIEW_MAGIC.length) !== OVERVIEW_MAGIC) return undefined;
  const body = b.subarray(head);
  if (createHash('sha1').update(body).digest('hex') !== b.toString('latin1', OVERVIEW_MAGIC.length, head))
    return undefined;
  return body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer;
}

/** Keeps an overview (temporary file, then rename); one that cannot be written is left out (it is only a shortcut): false. */
function writeOverview(file: string, data: ArrayBuffer): boolean {
  const body = new Uint8Array(data);
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    fs.writeFileSync(
      tmp,
      Buffer.concat([Buffer.from(OVERVIEW_MAGIC + createHash('sha1').update(body).digest('hex'), 'latin1'), body]),
    );
    fs.renameSync(tmp, file);
    return true;
  } catch {
    fs.rmSync(tmp, { force: true });
    return false;
  }
}

/** The list holding position `p`. */
function listOf(d: RankLodData, p: number): number {
  let lo = 0,
    hi = d.listTrack.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (d.listFrom[mid] <= p) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** LodIndex's collect over one list of one rank, in the job's time (ids are job model indexes). */
function collect(r: Rank, li: number, level: number, t0: number, t1: number, ids: number[], merged: number[]): number {
  const d = r.d;
  const base = d.listFrom[li];
  const all = level === 0 || d.levelAll[level - 1][li] === 1;
  const lvFrom = all ? 0 : d.levelFrom[level - 1][li];
  const count = all ? d.listFrom[li + 1] - base : d.levelFrom[level - 1][li + 1] - lvFrom;
  const pos = all ? undefined : d.levelPos[level - 1];
  const mer = all ? undefined : d.levelMerged[level - 1];
  const at = (k: number): number => base + (pos ? pos[lvFrom + k] : k);
  const shift = r.shift;
  const startOf = (p: number): number => d.start[p] + shift;
  const endOf = (p: number): number => {
    const dur = d.dur[p];
    return d.start[p] + shift + (Number.isFinite(dur) ? Math.max(0, dur) : 0);
  };
  const endsSorted = d.listEndsSorted[li] === 1;
  let lo = 0,
    hi = count,
    touched = 0;
  const key = endsSorted ? t0 : t0 - d.listMaxDur[li];
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    touched++;
    if ((endsSorted ? endOf(at(mid)) : startOf(at(mid))) < key) lo = mid + 1;
    else hi = mid;
  }
  for (let k = lo; k < count; k++) {
    const p = at(k);
    touched++;
    if (startOf(p) > t1) break;
    if (endOf(p) < t0) continue;
    ids.push(r.sliceBase + d.idx[p]);
    merged.push(mer ? mer[lvFrom + k] : 1);
  }
  return touched;
}
