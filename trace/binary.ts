/**
 * A compact, columnar binary encoding of a TraceModel, made to cross the extension ↔
 * webview boundary as one transferred ArrayBuffer (no JSON of a million slices, no
 * copy on the receiving side: the decoder returns typed-array views into the buffer).
 *
 * Layout (little endian, every section 8-byte aligned so Float64Array views need no copy):
 *   u32 magic 'CLTB' · u32 version · u32 headerBytes · u32 reserved
 *   header: UTF-8 JSON (`BinaryHeader`: meta, processes, tracks, warnings, section table)
 *   sections, each a typed array named in `header.sections` ([byteOffset, length]):
 *     sliceTrack u32 · sliceStart f64 · sliceDur f64 · sliceName u32 (string id) ·
 *     sliceArgs i32 (string id of the args JSON, -1 none) · sliceCategory u8 · sliceDepth u16 ·
 *     sliceSource u32 (original model index; only when slices were filtered) ·
 *     sliceMerged u32 (slices each one stands for; only in level-of-detail answers) ·
 *     counterTrack u32 · counterOffset u32 (count+1) · counterTs f64 · counterValue f64 ·
 *     flowFrom u32 · flowTo u32 · flowId f64 · stringOffset u32 (count+1) · stringBytes u8
 *
 * Pure TypeScript with no Node or DOM dependency: it encodes in the extension host and
 * decodes in the browser.
 */
import type { CounterSeries, ProcessInfo, Slice, SliceCategory, TraceMetadata, TraceModel, TrackInfo } from './model';

export const BINARY_MAGIC = 0x42544c43; // 'CLTB' read as a little-endian u32
export const BINARY_VERSION = 1;

/** Category codes used in the `sliceCategory` column (index = code). */
export const SLICE_CATEGORIES: readonly SliceCategory[] = [
  'kernel',
  'collective',
  'memcpy',
  'memset',
  'staging',
  'wait',
  'step',
  'cpu_op',
  'runtime',
  'host',
];

/** When the encoder sent only part of the slices: which part, so the viewer can ask for more. */
export interface BinaryDetail {
  /** Slices shorter than this were left out (0 = none left out by duration). */
  minDurNs: number;
  /** Only slices intersecting [startNs, endNs] were kept (whole trace when absent). */
  window?: { startNs: number; endNs: number };
  /** Slice count of the full model. */
  totalSlices: number;
  /**
   * Set on an answer of the level-of-detail index (trace/lod.ts): the time resolution it was
   * built for (ns per pixel) and the bucket width of the index level it came from; slices
   * shorter than a bucket were merged per bucket into the longest of them (`sliceMerged`).
   */
  lod?: {
    nsPerPx: number;
    bucketNs: number;
    /** The tracks answered for (all when absent). */
    tracks?: number[];
    /** Nesting levels of each track in the whole trace (so rows keep their height from answer to answer). */
    depths?: number[];
  };
}

/** Section name → [byte offset from the end of the 8-aligned header, item count]. */
interface SectionTable {
  [name: string]: [byteOffset: number, length: number];
}

export interface BinaryHeader {
  meta: TraceMetadata;
  processes: ProcessInfo[];
  tracks: TrackInfo[];
  warnings: string[];
  sliceCount: number;
  counterCount: number;
  flowCount: number;
  stringCount: number;
  /** Time extent of the full model, [first start, last end] over slices and counters. */
  extentNs: [number, number];
  detail?: BinaryDetail;
  sections: SectionTable;
}

/** The decoded, columnar trace: typed-array views into the transferred buffer. */
export interface BinaryTrace {
  header: BinaryHeader;
  sliceTrack: Uint32Array;
  sliceStart: Float64Array;
  sliceDur: Float64Array;
  sliceName: Uint32Array;
  sliceArgs: Int32Array;
  sliceCategory: Uint8Array;
  sliceDepth: Uint16Array;
  /** Original model index of each slice; absent when every slice was sent in model order. */
  sliceSource?: Uint32Array;
  /** How many model slices each sent slice stands for (a level-of-detail answer); absent = one each. */
  sliceMerged?: Uint32Array;
  counterTrack: Uint32Array;
  counterOffset: Uint32Array;
  counterTs: Float64Array;
  counterValue: Float64Array;
  flowFrom: Uint32Array;
  flowTo: Uint32Array;
  flowId: Float64Array;
  /** Returns string `id` of the string table (decoded on first use, then cached). */
  string(id: number): string;
}

export interface EncodeOptions {
  /** Leave out slices shorter than this (the viewer's level-of-detail request). */
  minDurNs?: number;
  /** Keep only slices that intersect this window. */
  window?: { startNs: number; endNs: number };
}

/** Time extent of a model: [earliest slice start or counter sample, latest slice end or sample]. */
export function modelExtentNs(model: TraceModel): [number, number] {
  let lo = Infinity,
    hi = -Infinity;
  for (const s of model.slices) {
    if (s.startNs < lo) lo = s.startNs;
    const end = s.startNs + Math.max(0, s.durNs);
    if (end > hi) hi = end;
  }
  for (const c of model.counters) {
    for (const t of c.tsNs) {
      if (t < lo) lo = t;
      if (t > hi) hi = t;
    }
  }
  return Number.isFinite(lo) ? [lo, hi] : [0, 0];
}

/**
 * Nesting depth of every slice, by the rule of `finalizeModel`: on one track, a slice is one
 * level deeper than the slices that are still open when it starts. Uses `Slice.depth` when the
 * model was finalized; computes it (without touching the model) otherwise.
 */
export function depthsOf(model: TraceModel): Uint16Array {
  const n = model.slices.length;
  const depth = new Uint16Array(n);
  if (model.slices.every((s) => s.depth !== undefined)) {
    for (let i = 0; i < n; i++) depth[i] = Math.min(65535, model.slices[i].depth ?? 0);
    return depth;
  }
  const order = Array.from({ length: n }, (_, i) => i);
  const sl = model.slices;
  order.sort(
    (a, b) => sl[a].track - sl[b].track || sl[a].startNs - sl[b].startNs || sl[b].durNs - sl[a].durNs || a - b,
  );
  const stack: number[] = [];
  let track = -1;
  for (const i of order) {
    const s = sl[i];
    if (s.track !== track) {
      track = s.track;
      stack.length = 0;
    }
    while (stack.length > 0 && stack[stack.length - 1] <= s.startNs) stack.pop();
    depth[i] = Math.min(65535, stack.length);
    stack.push(s.startNs + Math.max(0, s.durNs));
  }
  return depth;
}

class StringTable {
  private ids = new Map<string, number>();
  private chunks: Uint8Array[] = [];
  private offsets: number[] = [0];
  private bytes = 0;
  private encoder = new TextEncoder();
  intern(s: string): number {
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.offsets.length - 1;
      this.ids.set(s, id);
      const b = this.encoder.encode(s);
      this.chunks.push(b);
      this.bytes += b.length;
      this.offsets.push(this.bytes);
    }
    return id;
  }
  get count(): number {
    return this.offsets.length - 1;
  }
  offsetArray(): Uint32Array {
    return Uint32Array.from(this.offsets);
  }
  byteArray(): Uint8Array {
    const out = new Uint8Array(this.bytes);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

const align8 = (n: number): number => (n + 7) & ~7;

/**
 * Encodes `model` into one ArrayBuffer (layout in the file comment). Slices keep model order;
 * with `options` some are left out and `sliceSource` maps each kept slice to its model index,
 * so flows and analysis evidence (model slice indexes) still resolve.
 */
export function encodeTrace(model: TraceModel, options: EncodeOptions = {}): ArrayBuffer {
  const minDur = options.minDurNs ?? 0;
  const win = options.window;
  const depthAll = depthsOf(model);
  const keep: number[] = [];
  const filtered = minDur > 0 || win !== undefined;
  for (let i = 0; i < model.slices.length; i++) {
    const s = model.slices[i];
    if (minDur > 0 && s.durNs < minDur) continue;
    if (win && (s.startNs > win.endNs || s.startNs + Math.max(0, s.durNs) < win.startNs)) continue;
    keep.push(i);
  }
  // Flows survive when both ends were kept.
  let flows = model.flows;
  if (filtered) {
    const kept = new Uint8Array(model.slices.length);
    for (const i of keep) kept[i] = 1;
    flows = model.flows.filter((f) => kept[f.from] === 1 && kept[f.to] === 1);
  }
  return encodeParts(model, {
    slices: keep,
    depthOf: (i) => depthAll[i],
    flows,
    extentNs: modelExtentNs(model),
    ...(filtered ? { detail: { minDurNs: minDur, window: win, totalSlices: model.slices.length } } : {}),
  });
}

/**
 * What `encodeParts` writes: an explicit selection of a model's slices, flows and counter
 * samples. A level-of-detail index (trace/lod.ts) builds one per request without touching
 * the rest of the model, so an answer costs what it holds, not what the trace holds.
 */
export interface EncodeParts {
  /** Model slice indexes to send, ascending. */
  slices: ArrayLike<number>;
  /** How many slices each sent slice stands for (merged below a pixel); absent = one each. */
  merged?: ArrayLike<number>;
  /** Nesting depth of model slice `i`. */
  depthOf(i: number): number;
  /** Flows to send (model slice indexes; both ends must be among `slices`). */
  flows: readonly { id: number; from: number; to: number }[];
  /** Per counter series, the sample indexes to send (ascending); absent = every sample. */
  counterSamples?: readonly ArrayLike<number>[];
  /** Time extent of the whole model (the header's extentNs). */
  extentNs: [number, number];
  /** Set when not every slice is sent (the decoder then reads `sliceSource`). */
  detail?: BinaryDetail;
  /** Warnings to carry (the model's when absent). */
  warnings?: string[];
}

/**
 * The slices an encoder reads, one field at a time: a model's (`modelSlices`), or the columns of
 * a level-of-detail index that holds no model (trace/jobLod.ts).
 */
export interface SliceSource {
  meta: TraceMetadata;
  processes: ProcessInfo[];
  tracks: TrackInfo[];
  counters: readonly CounterSeries[];
  warnings: string[];
  /** Slices in the model the source stands for (slice indexes are below it). */
  sliceCount: number;
  /**
   * Puts slice `i`'s fields into `out`. `argsJson` is what the viewer shows as its args: the
   * args with the raw category when it differs from the category, as JSON; undefined when empty.
   */
  slice(i: number, out: EncodedSlice): void;
}

/** One slice as the encoder writes it. */
export interface EncodedSlice {
  track: number;
  startNs: number;
  durNs: number;
  name: string;
  argsJson: string | undefined;
  category: SliceCategory;
}

/** A model as a SliceSource. */
export function modelSlices(model: TraceModel): SliceSource {
  return {
    meta: model.meta,
    processes: model.processes,
    tracks: model.tracks,
    counters: model.counters,
    warnings: model.warnings,
    sliceCount: model.slices.length,
    slice(i, out) {
      const s = model.slices[i];
      out.track = s.track;
      out.startNs = s.startNs;
      out.durNs = s.durNs;
      out.name = s.name;
      out.argsJson = sliceArgsJson(s);
      out.category = s.category;
    },
  };
}

/** The args the viewer shows for a slice, as JSON (the raw category added when it differs); undefined when there are none. */
export function sliceArgsJson(s: Slice): string | undefined {
  const args =
    s.rawCategory !== undefined && s.rawCategory !== s.category ? { ...s.args, category: s.rawCategory } : s.args;
  return args && Object.keys(args).length > 0 ? JSON.stringify(args) : undefined;
}

/** Encodes an explicit selection of `model` (see EncodeParts); `encodeTrace` is this over the whole model. */
export function encodeParts(model: TraceModel, parts: EncodeParts): ArrayBuffer {
  return encodeSelection(modelSlices(model), parts);
}

/** `encodeParts` over any SliceSource. */
export function encodeSelection(src: SliceSource, parts: EncodeParts): ArrayBuffer {
  const keep = parts.slices;
  const n = keep.length;
  const strings = new StringTable();
  const sliceTrack = new Uint32Array(n),
    sliceName = new Uint32Array(n),
    sliceArgs = new Int32Array(n);
  const sliceStart = new Float64Array(n),
    sliceDur = new Float64Array(n);
  const sliceCategory = new Uint8Array(n),
    sliceDepth = new Uint16Array(n);
  const sliceSource = parts.detail ? Uint32Array.from(keep) : undefined;
  const catCode = new Map(SLICE_CATEGORIES.map((c, i) => [c, i]));
  // Model index → encoded index: a dense array for big selections, a map for small answers.
  const dense = n * 8 >= src.sliceCount ? new Int32Array(src.sliceCount).fill(-1) : undefined;
  const sparse = dense ? undefined : new Map<number, number>();
  const encodedIndex = (i: number): number | undefined =>
    dense ? (dense[i] >= 0 ? dense[i] : undefined) : sparse!.get(i);
  const s: EncodedSlice = { track: 0, startNs: 0, durNs: 0, name: '', argsJson: undefined, category: 'host' };
  for (let k = 0; k < n; k++) {
    src.slice(keep[k], s);
    if (dense) dense[keep[k]] = k;
    else sparse!.set(keep[k], k);
    sliceTrack[k] = s.track;
    sliceStart[k] = s.startNs;
    sliceDur[k] = s.durNs;
    sliceName[k] = strings.intern(s.name);
    sliceArgs[k] = s.argsJson !== undefined ? strings.intern(s.argsJson) : -1;
    sliceCategory[k] = catCode.get(s.category) ?? SLICE_CATEGORIES.indexOf('host');
    sliceDepth[k] = Math.min(65535, parts.depthOf(keep[k]));
  }
  // Flow ends are re-pointed at encoded indexes; a flow whose end was not sent is left out.
  const ff: number[] = [],
    ft: number[] = [],
    fid: number[] = [];
  for (const f of parts.flows) {
    const a = encodedIndex(f.from),
      b = encodedIndex(f.to);
    if (a !== undefined && b !== undefined) {
      ff.push(a);
      ft.push(b);
      fid.push(f.id);
    }
  }
  const sampleCount = (c: number): number =>
    parts.counterSamples?.[c]?.length ?? Math.min(src.counters[c].tsNs.length, src.counters[c].values.length);
  const counterTrack = Uint32Array.from(src.counters.map((c) => c.track));
  const counterOffset = new Uint32Array(src.counters.length + 1);
  src.counters.forEach((_, i) => {
    counterOffset[i + 1] = counterOffset[i] + sampleCount(i);
  });
  const total = counterOffset[src.counters.length];
  const counterTs = new Float64Array(total),
    counterValue = new Float64Array(total);
  src.counters.forEach((c, i) => {
    const m = counterOffset[i + 1] - counterOffset[i];
    const pick = parts.counterSamples?.[i];
    for (let j = 0; j < m; j++) {
      const x = pick ? pick[j] : j;
      counterTs[counterOffset[i] + j] = c.tsNs[x];
      counterValue[counterOffset[i] + j] = c.values[x];
    }
  });
  const columns: [string, ArrayBufferView & { length: number }][] = [
    ['sliceStart', sliceStart],
    ['sliceDur', sliceDur],
    ['counterTs', counterTs],
    ['counterValue', counterValue],
    ['flowId', Float64Array.from(fid)],
    ['sliceTrack', sliceTrack],
    ['sliceName', sliceName],
    ['sliceArgs', sliceArgs],
    ['counterTrack', counterTrack],
    ['counterOffset', counterOffset],
    ['flowFrom', Uint32Array.from(ff)],
    ['flowTo', Uint32Array.from(ft)],
    ['stringOffset', strings.offsetArray()],
    ['sliceDepth', sliceDepth],
    ['sliceCategory', sliceCategory],
    ['stringBytes', strings.byteArray()],
  ];
  if (sliceSource) columns.push(['sliceSource', sliceSource]);
  if (parts.merged) columns.push(['sliceMerged', Uint32Array.from(parts.merged)]);
  // Section offsets are relative to the first byte after the (8-aligned) header, so the
  // header does not depend on its own length.
  const sections: SectionTable = {};
  let rel = 0;
  const rels: number[] = [];
  for (const [name, col] of columns) {
    rels.push(rel);
    sections[name] = [rel, col.length];
    rel = align8(rel + col.byteLength);
  }
  const header: BinaryHeader = {
    meta: src.meta,
    processes: src.processes,
    tracks: src.tracks,
    warnings: parts.warnings ?? src.warnings,
    sliceCount: n,
    counterCount: src.counters.length,
    flowCount: ff.length,
    stringCount: strings.count,
    extentNs: parts.extentNs,
    sections,
  };
  if (parts.detail) header.detail = parts.detail;
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const base = align8(16 + headerBytes.length);
  const buffer = new ArrayBuffer(base + rel);
  const view = new DataView(buffer);
  view.setUint32(0, BINARY_MAGIC, true);
  view.setUint32(4, BINARY_VERSION, true);
  view.setUint32(8, headerBytes.length, true);
  new Uint8Array(buffer, 16, headerBytes.length).set(headerBytes);
  columns.forEach(([, col], i) => {
    new Uint8Array(buffer, base + rels[i], col.byteLength).set(
      new Uint8Array(col.buffer, col.byteOffset, col.byteLength),
    );
  });
  return buffer;
}

type TypedCtor<T> = { new (buffer: ArrayBuffer, byteOffset: number, length: number): T; BYTES_PER_ELEMENT: number };

/**
 * Decodes an `encodeTrace` buffer. The arrays are views into the buffer (no copy, unless a
 * typed array over a shared or unaligned buffer is passed, which is copied first); strings
 * decode lazily. Throws an Error naming what is wrong when the buffer is not a CommLens
 * binary trace, has another version, or is truncated.
 */
export function decodeTrace(input: ArrayBuffer | ArrayBufferView): BinaryTrace {
  // A message channel may deliver a typed array (or a Node Buffer) instead of the buffer itself;
  // copy it into a buffer of its own so the 8-byte alignment of the sections holds.
  const buffer = ArrayBuffer.isView(input)
    ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength).slice().buffer
    : input;
  if (!(buffer instanceof ArrayBuffer) || buffer.byteLength < 16) {
    throw new Error(
      `decodeTrace: expected an ArrayBuffer of at least 16 bytes, got ${buffer instanceof ArrayBuffer ? buffer.byteLength + ' bytes' : typeof buffer}`,
    );
  }
  const view = new DataView(buffer);
  const magic = view.getUint32(0, true);
  if (magic !== BINARY_MAGIC)
    throw new Error(
      `decodeTrace: not a CommLens binary trace (magic 0x${magic.toString(16)}, expected 0x${BINARY_MAGIC.toString(16)} 'CLTB')`,
    );
  const version = view.getUint32(4, true);
  if (version !== BINARY_VERSION)
    throw new Error(`decodeTrace: binary trace version ${version}; this viewer reads version ${BINARY_VERSION}`);
  const headerLen = view.getUint32(8, true);
  if (16 + headerLen > buffer.byteLength)
    throw new Error(`decodeTrace: truncated header (${headerLen} bytes announced, ${buffer.byteLength - 16} present)`);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 16, headerLen))) as BinaryHeader;
  const base = align8(16 + headerLen);
  function col<T>(name: string, ctor: TypedCtor<T>, optional = false): T {
    const entry = header.sections[name];
    if (!entry) {
      if (optional) return undefined as T;
      throw new Error(`decodeTrace: section '${name}' is missing`);
    }
    const offset = base + entry[0],
      length = entry[1];
    if (offset % ctor.BYTES_PER_ELEMENT !== 0 || offset + length * ctor.BYTES_PER_ELEMENT > buffer.byteLength) {
      throw new Error(
        `decodeTrace: section '${name}' (${length} items at byte ${offset}) lies outside the ${buffer.byteLength}-byte buffer`,
      );
    }
    return new ctor(buffer, offset, length);
  }
  const stringOffset = col('stringOffset', Uint32Array);
  const stringBytes = col('stringBytes', Uint8Array);
  const cache = new Map<number, string>();
  const decoder = new TextDecoder();
  const trace: BinaryTrace = {
    header,
    sliceTrack: col('sliceTrack', Uint32Array),
    sliceStart: col('sliceStart', Float64Array),
    sliceDur: col('sliceDur', Float64Array),
    sliceName: col('sliceName', Uint32Array),
    sliceArgs: col('sliceArgs', Int32Array),
    sliceCategory: col('sliceCategory', Uint8Array),
    sliceDepth: col('sliceDepth', Uint16Array),
    sliceSource: col('sliceSource', Uint32Array, true),
    sliceMerged: col('sliceMerged', Uint32Array, true),
    counterTrack: col('counterTrack', Uint32Array),
    counterOffset: col('counterOffset', Uint32Array),
    counterTs: col('counterTs', Float64Array),
    counterValue: col('counterValue', Float64Array),
    flowFrom: col('flowFrom', Uint32Array),
    flowTo: col('flowTo', Uint32Array),
    flowId: col('flowId', Float64Array),
    string(id: number): string {
      let s = cache.get(id);
      if (s === undefined) {
        if (id < 0 || id >= header.stringCount) return '';
        s = decoder.decode(stringBytes.subarray(stringOffset[id], stringOffset[id + 1]));
        cache.set(id, s);
      }
      return s;
    },
  };
  return trace;
}
