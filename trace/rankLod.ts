/**
 * The level-of-detail index of one rank of a job (trace/lod.ts's definition), built where the
 * rank is scanned (trace/kinetoScanWorker.ts) from a one-rank model that is dropped after, and
 * held as typed-array columns, never as slice objects: trace/jobLod.ts answers a job's views
 * from the indexes of its ranks, and no model of the whole job is ever made.
 *
 * Columns (one entry per slice that has a finite start, in list order: by track, depth, start,
 * then model index, so that each (track, depth) list is one run of positions): the rank model's
 * slice index, start, duration, name (an id into `names`), category code and where its args'
 * JSON lies in the args blob. Levels k ≥ 1 are, per list, the positions kept at bucket width
 * w_k and how many slices each stands for (trace/lod.ts buildLevel, on absolute time, so that
 * they are the job's buckets too); levels stop at the first that keeps one bucket per list with
 * every slice shorter than its width: every wider level is the same. Flows and counters are the
 * rank model's, with the flows of each slice as CSR.
 *
 * On disk (the parse cache's folder, beside the rank's reduced model, same key): a header, the
 * meta (node:v8: the rank model without slices and flows, extents, levels' widths, lists' tracks:
 * what a job needs before its first view), the columns (their typed arrays' raw bytes, each on an
 * 8-byte boundary, after a node:v8 skeleton: read back as views into one buffer, not copied), then
 * the args blob. The meta has its SHA-1; the columns have their SHA-1 (what the index is) and a
 * CRC-32 (their check on read). A re-open reads the header and the meta and keeps the file open; the
 * columns are read (and checked) the first time an answer needs them, or when the trace worker
 * loads them after the first request is answered (a job's overview is kept apart, trace/jobLod.ts); the
 * args are read from the blob for the slices an answer holds, never all at once (they are most
 * of the index's bytes; the hex editor's model).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { dirname } from 'node:path';
import { serialize, deserialize } from 'node:v8';
import { SLICE_CATEGORIES, depthsOf, modelExtentNs, sliceArgsJson } from './binary';
import { importKinetoColumns } from './kineto';
import type { KinetoColumns } from './kinetoScan';
import { LOD_BASE_NS, LOD_FACTOR, COUNTER_KEEP_ALL, buildLevel, counterLevel, originOffset } from './lod';
import type { TraceModel } from './model';
import { CRC32, entryPath, type CacheKey } from './parseCache';

/** Bumped when the layout of the columns changes. */
export const RANK_LOD_FORMAT = 5;
const MAGIC = Buffer.from('CLLOD01\n', 'latin1');

/** The resident part of a rank's index (see the module comment). */
export interface RankLodData {
  format: number;
  /** The rank model without its slices and flows. */
  rest: Omit<TraceModel, 'slices' | 'flows'>;
  /** Slices of the rank model (those without a finite start are counted, not indexed). */
  sliceCount: number;
  /** The rank model's time extent (its own time base). */
  extentNs: [number, number];
  /** Its slices' window as mergeRankModels sees it (first start, last start + duration); absent without slices. */
  window?: [number, number];
  /** Bucket width of each level built; bucketNs[0] = 0. */
  bucketNs: number[];
  names: string[];
  idx: Uint32Array;
  start: Float64Array;
  dur: Float64Array;
  name: Uint32Array;
  category: Uint8Array;
  /**
   * Byte offsets of each position's args JSON in the blob (positions + 1 entries); an empty range:
   * no args. 32-bit while the blob is under 4 GiB.
   */
  argsAt: Uint32Array | Float64Array;
  /** Per list: track, depth, first position (lists + 1 entries), whether ends are sorted, longest duration. */
  listTrack: Uint32Array;
  listDepth: Uint16Array;
  listFrom: Uint32Array;
  listEndsSorted: Uint8Array;
  listMaxDur: Float64Array;
  /** Nesting levels of each track (deepest depth + 1). */
  trackDepths: number[];
  /** Per level k ≥ 1 (index k − 1): per list, its entries' range (lists + 1), all = 1 when it keeps every position. */
  levelFrom: Uint32Array[];
  levelAll: Uint8Array[];
  /** Positions relative to the list's first position, and merged counts. */
  levelPos: Uint32Array[];
  /** 16-bit at a level whose counts all fit. */
  levelMerged: (Uint16Array | Uint32Array)[];
  /** Model index → position (0xffffffff: not indexed). */
  posOf: Uint32Array;
  flowId: Float64Array;
  flowFrom: Uint32Array;
  flowTo: Uint32Array;
  /** Flows of each model slice (CSR into the flow columns). */
  flowStart: Uint32Array;
  flowAt: Uint32Array;
  /** Per counter series: per level k ≥ 1 (index k − 1) the sample indexes; empty for series kept whole. */
  counterLevels: Uint32Array[][];
}

export const NOT_INDEXED = 0xffffffff;

/** The fields of RankLodData read when the file is opened (the rest are read when first needed). */
const META_FIELDS = [
  'format',
  'rest',
  'sliceCount',
  'extentNs',
  'window',
  'bucketNs',
  'trackDepths',
  'listTrack',
] as const;

/** What an opened index holds before its columns are read: the meta fields and the number of flows. */
export type RankLodMeta = Pick<RankLodData, (typeof META_FIELDS)[number]> & { flows: number };

function splitData(d: RankLodData): { meta: RankLodMeta; columns: Partial<RankLodData> } {
  const meta: Record<string, unknown> = { flows: d.flowFrom.length };
  const columns: Record<string, unknown> = { ...d };
  for (const f of META_FIELDS) {
    meta[f] = d[f];
    delete columns[f];
  }
  return { meta: meta as RankLodMeta, columns: columns as Partial<RankLodData> };
}

/** A rank's model of every event, from its columns: the importer's model of the whole file (trace/kineto.ts). */
export function rankFullModel(c: KinetoColumns, opts: { fileName?: string; rank?: number } = {}): TraceModel {
  const keep = new Uint8Array(c.count).fill(1);
  return importKinetoColumns(c, keep, new Map(), {
    fileName: opts.fileName,
    rank: opts.rank,
    uncounted: { skipped: c.nonObjects ?? 0, badTimes: 0 },
  }).model;
}

/** The index of a one-rank model: its columns and its args blob (in chunks). The model is not changed. */
export function buildRankLod(model: TraceModel): { data: RankLodData; args: Uint8Array[] } {
  const sl = model.slices;
  const n = sl.length;
  const trackCount = model.tracks.length;
  const depth = depthsOf(model);
  const order = positionOrder(sl, trackCount, depth);
  const m = order.length;
  const names: string[] = [];
  const nameIds = new Map<string, number>();
  const catCode = new Map(SLICE_CATEGORIES.map((c, i) => [c, i]));
  const d: RankLodData = {
    format: RANK_LOD_FORMAT,
    rest: {
      meta: model.meta,
      processes: model.processes,
      tracks: model.tracks,
      counters: model.counters,
      warnings: model.warnings,
    },
    sliceCount: n,
    extentNs: modelExtentNs(model),
    bucketNs: [0],
    names,
    idx: order,
    start: new Float64Array(m),
    dur: new Float64Array(m),
    name: new Uint32Array(m),
    category: new Uint8Array(m),
    argsAt: new Float64Array(0),
    listTrack: new Uint32Array(0),
    listDepth: new Uint16Array(0),
    listFrom: new Uint32Array(0),
    listEndsSorted: new Uint8Array(0),
    listMaxDur: new Float64Array(0),
    trackDepths: new Array<number>(trackCount).fill(0),
    levelFrom: [],
    levelAll: [],
    levelPos: [],
    levelMerged: [],
    posOf: new Uint32Array(n).fill(NOT_INDEXED),
    flowId: Float64Array.from(model.flows, (f) => f.id),
    flowFrom: Uint32Array.from(model.flows, (f) => f.from),
    flowTo: Uint32Array.from(model.flows, (f) => f.to),
    flowStart: new Uint32Array(n + 1),
    flowAt: new Uint32Array(0),
    counterLevels: [],
  };
  let wStart = Infinity,
    wEnd = -Infinity;
  for (const s of sl) {
    if (s.startNs < wStart) wStart = s.startNs;
    if (s.startNs + s.durNs > wEnd) wEnd = s.startNs + s.durNs;
  }
  if (Number.isFinite(wStart)) d.window = [wStart, wEnd];
  const argsOut = new ByteWriter();
  const argsAt = new Float64Array(m + 1);
  const listTrack: number[] = [],
    listDepth: number[] = [],
    listFrom: number[] = [];
  for (let p = 0; p < m; p++) {
    const i = order[p];
    const s = sl[i];
    d.posOf[i] = p;
    d.start[p] = s.startNs;
    d.dur[p] = s.durNs;
    let id = nameIds.get(s.name);
    if (id === undefined) {
      id = names.length;
      names.push(s.name);
      nameIds.set(s.name, id);
    }
    d.name[p] = id;
    d.category[p] = catCode.get(s.category) ?? SLICE_CATEGORIES.indexOf('host');
    const json = sliceArgsJson(s);
    if (json !== undefined) argsOut.write(json);
    argsAt[p + 1] = argsOut.length;
    if (p === 0 || s.track !== sl[order[p - 1]].track || depth[i] !== depth[order[p - 1]]) {
      listTrack.push(s.track);
      listDepth.push(depth[i]);
      listFrom.push(p);
      d.trackDepths[s.track] = Math.max(d.trackDepths[s.track], depth[i] + 1);
    }
  }
  listFrom.push(m);
  d.argsAt = argsOut.length < 2 ** 32 ? Uint32Array.from(argsAt) : argsAt;
  const lists = listTrack.length;
  d.listTrack = Uint32Array.from(listTrack);
  d.listDepth = Uint16Array.from(listDepth);
  d.listFrom = Uint32Array.from(listFrom);
  d.listEndsSorted = new Uint8Array(lists);
  d.listMaxDur = new Float64Array(lists);
  const ends: Float64Array[] = [];
  for (let l = 0; l < lists; l++) {
    const a = d.listFrom[l],
      b = d.listFrom[l + 1];
    const end = new Float64Array(b - a);
    let sorted = true,
      maxDur = 0;
    for (let p = a; p < b; p++) {
      const dur = Number.isFinite(d.dur[p]) ? Math.max(0, d.dur[p]) : 0;
      end[p - a] = d.start[p] + dur;
      if (dur > maxDur) maxDur = dur;
      if (p > a && end[p - a] < end[p - a - 1]) sorted = false;
    }
    d.listEndsSorted[l] = sorted ? 1 : 0;
    d.listMaxDur[l] = maxDur;
    ends.push(end);
  }
  // Levels, until one that keeps a single bucket per list, every slice shorter than its width.
  const [lo, hi] = d.extentNs;
  const span = Math.max(1, hi - lo);
  let longest = 0;
  for (let l = 0; l < lists; l++) longest = Math.max(longest, d.listFrom[l + 1] - d.listFrom[l]);
  const scratch = { pos: new Uint32Array(longest), merged: new Uint32Array(longest) };
  for (let w = LOD_BASE_NS; ; w *= LOD_FACTOR) {
    const off = originOffset(model.meta.originNs, w);
    d.bucketNs.push(w);
    const from = new Uint32Array(lists + 1),
      all = new Uint8Array(lists);
    const pos: Uint32Array[] = [],
      merged: Uint32Array[] = [];
    let total = 0;
    for (let l = 0; l < lists; l++) {
      const a = d.listFrom[l];
      const lv = buildLevel(d.start.subarray(a, d.listFrom[l + 1]), ends[l], w, off, scratch);
      from[l] = total;
      if (lv === null) all[l] = 1;
      else {
        pos.push(lv.pos);
        merged.push(lv.merged);
        total += lv.pos.length;
      }
    }
    from[lists] = total;
    d.levelFrom.push(from);
    d.levelAll.push(all);
    d.levelPos.push(concat(pos, total));
    const counts = concat(merged, total);
    d.levelMerged.push(counts.every((c) => c <= 0xffff) ? Uint16Array.from(counts) : counts);
    if (w > span && Math.floor((lo + off) / w) === Math.floor((hi + off) / w)) break;
  }
  // Flows by slice.
  for (let k = 0; k < d.flowFrom.length; k++) {
    if (d.flowFrom[k] < n) d.flowStart[d.flowFrom[k] + 1]++;
    if (d.flowTo[k] < n && d.flowTo[k] !== d.flowFrom[k]) d.flowStart[d.flowTo[k] + 1]++;
  }
  for (let i = 0; i < n; i++) d.flowStart[i + 1] += d.flowStart[i];
  d.flowAt = new Uint32Array(d.flowStart[n]);
  const at = d.flowStart.slice(0, n);
  for (let k = 0; k < d.flowFrom.length; k++) {
    if (d.flowFrom[k] < n) d.flowAt[at[d.flowFrom[k]]++] = k;
    if (d.flowTo[k] < n && d.flowTo[k] !== d.flowFrom[k]) d.flowAt[at[d.flowTo[k]]++] = k;
  }
  d.counterLevels = model.counters.map((c) => {
    const cm = Math.min(c.tsNs.length, c.values.length);
    if (cm <= COUNTER_KEEP_ALL) return [];
    return d.bucketNs.slice(1).map((w) => counterLevel(c.tsNs, c.values, cm, w, originOffset(model.meta.originNs, w)));
  });
  return { data: d, args: argsOut.chunks() };
}

/**
 * The indexed slices (on a track of the model, with a finite start) in position order: by track,
 * depth, start, then model index. A model in finalizeModel's order (by track, then start) needs
 * no sort: a stable partition by (track, depth) keeps each list's slices by start, then index.
 */
function positionOrder(sl: TraceModel['slices'], trackCount: number, depth: Uint16Array): Uint32Array {
  const n = sl.length;
  let m = 0,
    maxDepth = 0,
    inOrder = true,
    lastTrack = -1,
    lastStart = -Infinity;
  for (let i = 0; i < n; i++) {
    const s = sl[i];
    if (!(s.track < trackCount) || !Number.isFinite(s.startNs)) continue;
    m++;
    if (depth[i] > maxDepth) maxDepth = depth[i];
    if (!(s.track >= lastTrack) || (s.track === lastTrack && s.startNs < lastStart) || !Number.isInteger(s.track))
      inOrder = false;
    lastTrack = s.track;
    lastStart = s.startNs;
  }
  const order = new Uint32Array(m);
  const keys = trackCount * (maxDepth + 1);
  if (!inOrder || keys > 1 << 22) {
    let k = 0;
    for (let i = 0; i < n; i++) if (sl[i].track < trackCount && Number.isFinite(sl[i].startNs)) order[k++] = i;
    return order.sort(
      (a, b) => sl[a].track - sl[b].track || depth[a] - depth[b] || sl[a].startNs - sl[b].startNs || a - b,
    );
  }
  const at = new Uint32Array(keys + 1);
  for (let i = 0; i < n; i++) {
    const s = sl[i];
    if (s.track < trackCount && Number.isFinite(s.startNs)) at[s.track * (maxDepth + 1) + depth[i] + 1]++;
  }
  for (let k = 0; k < keys; k++) at[k + 1] += at[k];
  for (let i = 0; i < n; i++) {
    const s = sl[i];
    if (s.track < trackCount && Number.isFinite(s.startNs)) order[at[s.track * (maxDepth + 1) + depth[i]]++] = i;
  }
  return order;
}

function concat(parts: Uint32Array[], total: number): Uint32Array {
  const out = new Uint32Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** UTF-8 text appended into 4 MiB chunks (one Buffer per chunk, not per string). */
class ByteWriter {
  private done: Buffer[] = [];
  private cur = Buffer.allocUnsafe(0);
  private used = 0;
  length = 0;
  write(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: with that much room, no need to measure first.
    if (this.cur.length - this.used < 3 * text.length) {
      const need = Buffer.byteLength(text, 'utf8');
      if (this.used + need > this.cur.length) {
        if (this.used > 0) this.done.push(this.cur.subarray(0, this.used));
        this.cur = Buffer.allocUnsafe(Math.max(need, 4 << 20));
        this.used = 0;
      }
    }
    const n = this.cur.write(text, this.used, 'utf8');
    this.used += n;
    this.length += n;
  }
  /** The text written, as the chunks it was written into. */
  chunks(): Uint8Array[] {
    return this.used > 0 ? [...this.done, this.cur.subarray(0, this.used)] : [...this.done];
  }
}

/** Where a typed array of the columns lies in their part of the file. */
interface ArrayPlace {
  type: string;
  /** Byte offset from the start of the columns' part (a multiple of 8), and element count. */
  at: number;
  length: number;
}

const ARRAY_TYPES: Record<string, new (b: ArrayBuffer, at: number, length: number) => ArrayBufferView> = {
  Uint8Array,
  Uint16Array,
  Uint32Array,
  Int32Array,
  Float64Array,
};

/**
 * The columns as bytes to write: the skeleton's length (u32, then 4 zero bytes), the skeleton
 * (node:v8: every field, each typed array replaced by its number, and where each typed array
 * lies), padded to 8 bytes, then each typed array's bytes, each padded to 8, so that a reader
 * makes views into one buffer instead of copying each array out of a serialisation. The layout
 * is inside the checked bytes, not in the header.
 */
function packColumns(columns: Partial<RankLodData>): { parts: Uint8Array[]; length: number } {
  const found: ArrayBufferView[] = [];
  const strip = (v: unknown): unknown => {
    if (ArrayBuffer.isView(v)) {
      if (!(v.constructor.name in ARRAY_TYPES)) throw new Error(`an index column of type ${v.constructor.name}`);
      found.push(v);
      return { $column: found.length - 1 };
    }
    if (Array.isArray(v)) return v.map(strip);
    return v;
  };
  const fields = Object.fromEntries(Object.entries(columns).map(([k, v]) => [k, strip(v)]));
  const pad = (n: number): Uint8Array => new Uint8Array((8 - (n % 8)) % 8);
  const arrays: ArrayPlace[] = [];
  const data: Uint8Array[] = [];
  let at = 0;
  for (const a of found) {
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    arrays.push({
      type: a.constructor.name,
      at,
      length: a.byteLength / (a as unknown as Uint8Array).BYTES_PER_ELEMENT,
    });
    const p = pad(bytes.length);
    data.push(bytes, p);
    at += bytes.length + p.length;
  }
  const skeleton = serialize({ fields, arrays });
  const head = Buffer.alloc(8);
  head.writeUInt32LE(skeleton.length, 0);
  const parts = [head, skeleton, pad(8 + skeleton.length), ...data];
  // No empty parts: zlib.crc32 of an empty typed array can return 0, not the value it was given.
  return { parts: parts.filter((b) => b.length > 0), length: parts.reduce((n, b) => n + b.length, 0) };
}

/** The columns from their part of the file (`bytes`, a buffer of its own, checked): typed arrays are views into it. */
function unpackColumns(bytes: Buffer): Record<string, unknown> {
  const bad = (): never => {
    throw new Error('its columns do not match their own layout');
  };
  if (bytes.byteOffset !== 0 || bytes.length < 8) bad();
  const sk = bytes.readUInt32LE(0);
  if (8 + sk > bytes.length) bad();
  const { fields, arrays } = deserialize(bytes.subarray(8, 8 + sk)) as {
    fields: Record<string, unknown>;
    arrays: ArrayPlace[];
  };
  if (!Array.isArray(arrays) || fields === null || typeof fields !== 'object') bad();
  const base = 8 + sk + ((8 - ((8 + sk) % 8)) % 8);
  const views = arrays.map((p) => {
    const Ctor = ARRAY_TYPES[p.type];
    const size = Ctor === undefined ? 0 : (Ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
    if (!Ctor || !(p.at % 8 === 0 && p.at >= 0 && p.length >= 0 && base + p.at + p.length * size <= bytes.length))
      bad();
    return new Ctor(bytes.buffer as ArrayBuffer, base + p.at, p.length);
  });
  const put = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(put);
    if (v !== null && typeof v === 'object' && '$column' in v) {
      const view = views[(v as { $column: number }).$column];
      return view ?? bad();
    }
    return v;
  };
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, put(v)]));
}

/** Where the index of the rank of `key` lives in `dir`: beside its reduced model (trace/parseCache.ts entryPath). */
export function lodEntryPath(dir: string, key: CacheKey): string {
  return entryPath(dir, key).replace(/\.rank$/, '.lod');
}

/**
 * Writes the index to `file` (temporary file, then rename): magic, u32 header length, header
 * JSON (the key; the meta's and the columns' bytes and SHA-1s; the columns' CRC-32; the blob's
 * bytes), the meta, the columns (packColumns), the blob. Throws when it cannot be written.
 */
export function writeRankLod(file: string, key: CacheKey, built: { data: RankLodData; args: Uint8Array[] }): void {
  const parts = splitData(built.data);
  const meta = serialize(parts.meta);
  const columns = packColumns(parts.columns);
  const sha1 = createHash('sha1');
  for (const b of columns.parts) sha1.update(b);
  const header = Buffer.from(
    JSON.stringify({
      key,
      format: RANK_LOD_FORMAT,
      meta: meta.length,
      metaSha1: createHash('sha1').update(meta).digest('hex'),
      columns: columns.length,
      sha1: sha1.digest('hex'),
      ...(CRC32 ? { crc32: columns.parts.reduce((c, b) => CRC32!(b, c), 0) } : {}),
      args: built.args.reduce((n, b) => n + b.length, 0),
    }),
    'utf8',
  );
  const len = Buffer.alloc(4);
  len.writeUInt32LE(header.length);
  fs.mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      for (const b of [MAGIC, len, header, meta, ...columns.parts, ...built.args]) {
        let off = 0;
        while (off < b.length) off += fs.writeSync(fd, b, off, b.length - off);
      }
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** Whether `file` holds an index of `key` of this format, whole in size (the columns' hash is checked on open). */
export function rankLodMatches(file: string, key: CacheKey): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return false;
  }
  try {
    const h = readHeader(fd);
    return h !== undefined && h.format === RANK_LOD_FORMAT && JSON.stringify(h.key) === JSON.stringify(key);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Bytes of the meta (held while the index is open) and of the columns (held while they are read)
 * of the index in `file`, as an open index holds them in memory; 0 and 0 when it is not one.
 */
export function rankLodBytes(file: string): { meta: number; columns: number } {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return { meta: 0, columns: 0 };
  }
  try {
    const h = readHeader(fd);
    return h ? { meta: h.meta, columns: h.columns } : { meta: 0, columns: 0 };
  } finally {
    fs.closeSync(fd);
  }
}

interface LodHeader {
  key: unknown;
  format: number;
  meta: number;
  metaSha1: string;
  /** Bytes of the columns' part: their layout, then each typed array (see packColumns). */
  columns: number;
  sha1: string;
  /** CRC-32 of the columns' part (checked on read; the SHA-1 when absent or without zlib.crc32). */
  crc32?: number;
  args: number;
  /** Where the meta starts (the columns follow it, then the blob). */
  at: number;
}

/** The header of an index file, when the file is one and has the size the header says. */
function readHeader(fd: number): LodHeader | undefined {
  try {
    const size = fs.fstatSync(fd).size;
    const head = Buffer.alloc(MAGIC.length + 4);
    if (size < head.length || fs.readSync(fd, head, 0, head.length, 0) !== head.length) return undefined;
    if (!head.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
    const hl = head.readUInt32LE(MAGIC.length);
    if (head.length + hl > size) return undefined;
    const hb = Buffer.alloc(hl);
    if (fs.readSync(fd, hb, 0, hl, head.length) !== hl) return undefined;
    const h = JSON.parse(hb.toString('utf8')) as LodHeader;
    h.at = head.length + hl;
    if (!(h.meta >= 0 && h.columns >= 0 && h.args >= 0) || size !== h.at + h.meta + h.columns + h.args)
      return undefined;
    return h;
  } catch {
    return undefined;
  }
}

/** Reads `length` bytes of `fd` at `position` (throws when the file is shorter); `own`: into a buffer of its own, at offset 0. */
function readAt(fd: number, length: number, position: number, what: string, own = false): Buffer {
  const buf = own ? Buffer.allocUnsafeSlow(length) : Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const r = fs.readSync(fd, buf, got, length - got, position + got);
    if (r === 0) throw new Error(`${what} ends at byte ${position + got}, ${length - got} bytes short`);
    got += r;
  }
  return buf;
}

/**
 * Removes a damaged index, so that the next open makes it again (the scan makes the indexes that
 * are missing): only while `file` still names the file `fd` has open, not one written since.
 */
function dropDamaged(file: string, fd: number): void {
  try {
    const mine = fs.fstatSync(fd);
    const now = fs.statSync(file);
    if (mine.ino === now.ino && mine.dev === now.dev) fs.rmSync(file, { force: true });
  } catch {
    // gone already
  }
}

/**
 * An index read from its file: the meta when opened, the columns when first needed (`data`), the
 * args blob on demand. The file stays open, so what is read later is what was opened even if the
 * cache entry is replaced meanwhile (a rename leaves this file as it was).
 */
export class RankLodFile {
  private columns: RankLodData | undefined;

  private constructor(
    private readonly file: string,
    /** What the job needs before its first view (see RankLodMeta). */
    readonly meta: RankLodMeta,
    private fd: number | undefined,
    private readonly header: LodHeader,
    /** Bytes of the file kept on disk (the args blob). */
    readonly argsBytes: number,
    /** SHA-1 of the columns (the header's): what the index is, for keys of what is made from it. */
    readonly sha1: string,
  ) {}

  /**
   * The index in `file` when it is there, whole in size, of this format and of `key`, with a meta
   * that checks (undefined otherwise: missing, stale, truncated or corrupt). `key` undefined: any
   * key (a file just written by this session). The columns are checked when they are read.
   */
  static open(file: string, key: CacheKey | undefined): RankLodFile | undefined {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      return undefined;
    }
    let matched = false;
    try {
      const h = readHeader(fd);
      if (!h || h.format !== RANK_LOD_FORMAT) throw new Error('not an index');
      if (key !== undefined && JSON.stringify(h.key) !== JSON.stringify(key)) throw new Error('stale');
      matched = true;
      const bytes = readAt(fd, h.meta, h.at, 'the meta');
      if (createHash('sha1').update(bytes).digest('hex') !== h.metaSha1) throw new Error('corrupt');
      const meta = deserialize(bytes) as RankLodMeta;
      if (meta.format !== RANK_LOD_FORMAT) throw new Error('format');
      return new RankLodFile(file, meta, fd, h, h.args, h.sha1);
    } catch {
      // A header that matches over a meta that does not: damaged. Left there, the scan (which
      // looks at the header) would take it for made, and every open would fail on it.
      if (matched) dropDamaged(file, fd);
      fs.closeSync(fd);
      return undefined;
    }
  }

  /** Whether the columns have been read. */
  get loaded(): boolean {
    return this.columns !== undefined;
  }

  /** Bytes of the meta (held while the index is open). */
  get metaBytes(): number {
    return this.header.meta;
  }

  /** Bytes the columns take in memory once read (the columns' part of the file, read into one buffer). */
  get columnBytes(): number {
    return this.header.columns;
  }

  /**
   * Lets the columns go (trace/jobLod.ts keeps the ranks it holds within a budget): the next
   * `data` reads and checks them again. Views of them already handed out stay valid.
   */
  unload(): void {
    this.columns = undefined;
  }

  /**
   * The whole index: the columns are read and checked against the header's CRC-32 (SHA-1 without it) the first time.
   * Throws, naming the file and what to do, when they cannot be read or do not check.
   */
  get data(): RankLodData {
    if (this.columns) return this.columns;
    if (this.fd === undefined) throw new Error(`the level-of-detail index ${this.file} was closed`);
    const h = this.header;
    let bytes: Buffer;
    try {
      // A buffer of its own (offset 0): the columns are views into it, each on an 8-byte boundary.
      bytes = readAt(this.fd, h.columns, h.at + h.meta, `the level-of-detail index ${this.file}`, true);
    } catch (e) {
      dropDamaged(this.file, this.fd);
      throw new Error(`${(e as Error).message}: close the trace and open it again to rebuild the index`, { cause: e });
    }
    const checked =
      h.crc32 !== undefined && CRC32
        ? CRC32(bytes) === h.crc32
        : createHash('sha1').update(bytes).digest('hex') === h.sha1;
    if (!checked) {
      dropDamaged(this.file, this.fd);
      throw new Error(
        `the level-of-detail index ${this.file} is corrupt (its columns do not match their checksum): close the trace and open it again to rebuild it`,
      );
    }
    let cols: Partial<RankLodData>;
    try {
      cols = unpackColumns(bytes) as Partial<RankLodData>;
    } catch (e) {
      dropDamaged(this.file, this.fd);
      throw new Error(
        `the level-of-detail index ${this.file} is corrupt (${(e as Error).message}): close the trace and open it again to rebuild it`,
        { cause: e },
      );
    }
    const { flows: _flows, ...meta } = this.meta;
    this.columns = { ...meta, ...cols } as RankLodData;
    return this.columns;
  }

  /**
   * The args JSON of each position in `positions` (ascending), undefined for none: read from
   * the blob in runs (positions whose args are near each other are read with one call).
   */
  readArgs(positions: ArrayLike<number>): (string | undefined)[] {
    const out = new Array<string | undefined>(positions.length);
    const at = this.data.argsAt;
    const GAP = 1 << 14;
    let k = 0;
    while (k < positions.length) {
      // A run: positions whose args lie within GAP bytes of the previous one's.
      let j = k;
      const from = at[positions[k]];
      let to = at[positions[k] + 1];
      while (
        j + 1 < positions.length &&
        at[positions[j + 1]] - to <= GAP &&
        at[positions[j + 1] + 1] - from <= 1 << 22
      ) {
        j++;
        to = Math.max(to, at[positions[j] + 1]);
      }
      const buf = this.read(from, to - from);
      for (let q = k; q <= j; q++) {
        const a = at[positions[q]],
          b = at[positions[q] + 1];
        out[q] = b > a ? buf.toString('utf8', a - from, b - from) : undefined;
      }
      k = j + 1;
    }
    return out;
  }

  private read(offset: number, length: number): Buffer {
    if (length === 0) return Buffer.alloc(0);
    if (this.fd === undefined) throw new Error(`the level-of-detail index ${this.file} was closed`);
    const h = this.header;
    return readAt(this.fd, length, h.at + h.meta + h.columns + offset, `the level-of-detail index ${this.file}`);
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
