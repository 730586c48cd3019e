/**
 * Streaming, bounded-memory Kineto ingest: a byte scanner that reads a PyTorch profiler
 * trace (plain JSON or gzip, as a stream of chunks) straight into a compact columnar form
 * per rank — typed arrays and interned strings — holding what the analysis reads:
 * phase, category, name, pid, tid, ts, dur (µs), and the args `correlation`, `External id`,
 * `stream`, the memory instants' `Total Allocated` / `Device Type` / `Device Id`, and on the
 * rare events that carry them the collective args (`Collective name`, `In msg nelems`,
 * `Out msg nelems`, `Group size`, `dtype`, `Process Group Name`, and `Input Dims` /
 * `Input type` of comm launchers) and the `name` of metadata events.
 *
 * No whole-file string is built and no object is made per event: keys are recognised by a
 * hash of their bytes (only those whose length and first byte a read key has), strings are
 * interned by a hash of their bytes (of a sample of them for long ones, such as kernel names,
 * then compared natively; decoded once), integer
 * numbers are parsed from the bytes (numbers with a fraction or exponent go through Number()
 * so that every value is the one JSON.parse would give), and values nobody reads (shapes,
 * kernel launch parameters, …) are skipped. Memory is the columns (≈ 60 bytes per event) plus
 * one chunk and the unfinished event carried over to the next chunk.
 *
 * Top-level members other than `traceEvents` (`distributedInfo`, `deviceProperties`, …) are
 * small and are handed to JSON.parse whole.
 */
import type { FileHandle } from 'node:fs/promises';

/** Column codes of `ph`. */
export const PH = { other: 0, X: 1, M: 2, i: 3, I: 4, s: 5, f: 6, t: 7, B: 8, E: 9, C: 10 } as const;
const PH_BY_BYTE = new Map<number, number>([
  [0x58, PH.X],
  [0x4d, PH.M],
  [0x69, PH.i],
  [0x49, PH.I],
  [0x73, PH.s],
  [0x66, PH.f],
  [0x74, PH.t],
  [0x42, PH.B],
  [0x45, PH.E],
  [0x43, PH.C],
]);

/** One rank's events, column by column (index i is the i-th event of traceEvents that is an object). */
export interface KinetoColumns {
  count: number;
  ph: Uint8Array;
  /** Interned string ids (into `strings`); -1 when absent. */
  cat: Int32Array;
  name: Int32Array;
  /**
   * pid and tid as the JSON had them (idValue): a string's id (into `strings`), -1 when absent,
   * or for a number -2 - its index in `numbers`. A rank has a few of each, and one code per value
   * (four bytes an event, where a float64 column beside each took eight more).
   */
  pid: Int32Array;
  tid: Int32Array;
  /** µs as written (NaN when absent). */
  ts: Float64Array;
  dur: Float64Array;
  correlation: Float64Array;
  externalId: Float64Array;
  stream: Float64Array;
  strings: string[];
  /** The distinct numbers written as a pid or tid (see `pid`). */
  numbers: number[];
  /** Event index → the rare args kept (collective args, memory instants, metadata names). */
  extraArgs: Map<number, Record<string, unknown>>;
  /** Top-level members other than traceEvents (distributedInfo, deviceProperties, …). */
  top: Record<string, unknown>;
  /** Bytes of JSON scanned. */
  bytes: number;
  /** Elements of traceEvents that are not objects (skipped; the importer counts them as skipped events). */
  nonObjects?: number;
}

/** A pid or tid code of `c` (KinetoColumns.pid) as the JSON had it: a string, a number, or undefined when absent. */
export function idValue(c: Pick<KinetoColumns, 'strings' | 'numbers'>, code: number): string | number | undefined {
  return code >= 0 ? c.strings[code] : code === -1 ? undefined : c.numbers[-2 - code];
}

/** A pid or tid code's number when the JSON had one, else NaN. */
export function idNumber(c: Pick<KinetoColumns, 'numbers'>, code: number): number {
  return code <= -2 ? c.numbers[-2 - code] : NaN;
}

const QUOTE = 0x22,
  BACKSLASH = 0x5c,
  COLON = 0x3a,
  COMMA = 0x2c;
const LBRACE = 0x7b,
  RBRACE = 0x7d,
  LBRACKET = 0x5b,
  RBRACKET = 0x5d;
const MINUS = 0x2d,
  DOT = 0x2e,
  ZERO = 0x30,
  NINE = 0x39,
  LOWER_E = 0x65,
  UPPER_E = 0x45;

/** Keys the scanner reads; everything else is skipped. */
const enum K {
  ph = 1,
  cat,
  name,
  pid,
  tid,
  ts,
  dur,
  args,
  correlation,
  externalId,
  stream,
  extraNumber,
  extraString,
  extraRaw,
}

function hashBytes(b: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ b[i], 0x01000193);
  // 30 bits: a small integer, which a Map looks up without boxing it.
  return (h ^ (end - start)) & 0x3fffffff;
}

interface KeyInfo {
  bytes: Buffer;
  kind: K;
  name: string;
}

function keyTable(entries: [string, K][]): Map<number, KeyInfo> {
  const m = new Map<number, KeyInfo>();
  for (const [name, kind] of entries) {
    const bytes = Buffer.from(JSON.stringify(name).slice(1, -1), 'utf8');
    const h = hashBytes(bytes, 0, bytes.length);
    if (m.has(h)) throw new Error(`kinetoScan: key hash collision between "${m.get(h)!.name}" and "${name}"`);
    m.set(h, { bytes, kind, name });
  }
  return m;
}

/**
 * The keys of `table` by (length, first byte): the key itself where one key has that pair, null
 * where several do (looked up by hash), undefined where none does (most args keys, such as
 * "Ev Idx" or "registers per thread", are not read and cost no lookup).
 */
function keyFilter(table: Map<number, KeyInfo>): (KeyInfo | null | undefined)[] {
  const f: (KeyInfo | null | undefined)[] = new Array(64 * 256).fill(undefined);
  for (const info of table.values()) {
    const { bytes } = info;
    if (bytes.length >= 64) throw new Error(`kinetoScan: key "${info.name}" is too long for keyFilter`);
    const slot = (bytes.length << 8) | bytes[0];
    f[slot] = f[slot] === undefined ? info : null;
  }
  return f;
}

/** The key info of b[ks, ke) in `table` (through `filter`, keyFilter), or undefined. */
function keyOf(
  table: Map<number, KeyInfo>,
  filter: (KeyInfo | null | undefined)[],
  b: Uint8Array,
  ks: number,
  ke: number,
): KeyInfo | undefined {
  const len = ke - ks;
  if (len <= 0 || len >= 64) return undefined;
  let info = filter[(len << 8) | b[ks]];
  if (info === undefined) return undefined;
  if (info === null) info = table.get(hashBytes(b, ks, ke));
  return info && sameBytes(b, ks, ke, info.bytes) ? info : undefined;
}

const EVENT_KEYS = keyTable([
  ['ph', K.ph],
  ['cat', K.cat],
  ['name', K.name],
  ['pid', K.pid],
  ['tid', K.tid],
  ['ts', K.ts],
  ['dur', K.dur],
  ['args', K.args],
]);
const ARG_KEYS = keyTable([
  ['correlation', K.correlation],
  ['External id', K.externalId],
  ['stream', K.stream],
  ['Total Allocated', K.extraNumber],
  ['Device Type', K.extraNumber],
  ['Device Id', K.extraNumber],
  ['In msg nelems', K.extraNumber],
  ['Out msg nelems', K.extraNumber],
  ['Group size', K.extraNumber],
  ['Collective name', K.extraString],
  ['dtype', K.extraString],
  ['Process Group Name', K.extraString],
  ['Process Group Description', K.extraString],
  ['name', K.extraString],
  ['Input Dims', K.extraRaw],
  ['Input type', K.extraRaw],
  ['Process Group Ranks', K.extraRaw],
  // PyTorch's with_flops=True: the analysis counts the FLOPs of CPU ops when kernels have none.
  ['flops', K.extraNumber],
]);
const EVENT_KEY_FILTER = keyFilter(EVENT_KEYS);
const ARG_KEY_FILTER = keyFilter(ARG_KEYS);

/** Strings longer than this are interned by a hash of a sample of their bytes (sampledHash). */
const INTERN_SAMPLE = 64;

/** A hash of b[start, end) (longer than INTERN_SAMPLE) over its first and last 24 bytes and 16 bytes spread between them, and its length. */
function sampledHash(b: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < start + 24; i++) h = Math.imul(h ^ b[i], 0x01000193);
  for (let i = end - 24; i < end; i++) h = Math.imul(h ^ b[i], 0x01000193);
  const step = ((end - start - 48) / 17) | 0;
  for (let k = 1, i = start + 24 + step; k <= 16; k++, i += step) h = Math.imul(h ^ b[i], 0x01000193);
  // 30 bits: a small integer, which a Map looks up without boxing it.
  return (h ^ (end - start)) & 0x3fffffff;
}

function sameBytes(a: Uint8Array, start: number, end: number, b: Buffer): boolean {
  if (end - start !== b.length) return false;
  for (let i = 0; i < b.length; i++) if (a[start + i] !== b[i]) return false;
  return true;
}

/** How far a scan got before it failed: the JSON byte offset, the events and the ProfilerSteps read. */
export interface ScanProgress {
  offset: number;
  events: number;
  steps: number;
}

/** Thrown for input that is not a Kineto trace or is not valid JSON where it was read; `at` says how far the scan got. */
export class KinetoScanError extends Error {
  constructor(
    message: string,
    readonly at?: ScanProgress,
  ) {
    super(message);
    this.name = 'KinetoScanError';
  }
}

const STEP_NAME = /^ProfilerStep\s*#\s*\d+/;

const COMM_LAUNCHER = /^(nccl:|record_param_comms$|c10d::)/;

/** Bytes read from a plain JSON file at a time. */
const READ_CHUNK = 1 << 20;

/** Signals that the buffer ends inside the value being read: wait for the next chunk. */
const NEED_MORE = -1;

class Columns {
  count = 0;
  cap = 0;
  ph = new Uint8Array(0);
  cat = new Int32Array(0);
  name = new Int32Array(0);
  pid = new Int32Array(0);
  tid = new Int32Array(0);
  ts = new Float64Array(0);
  dur = new Float64Array(0);
  correlation = new Float64Array(0);
  externalId = new Float64Array(0);
  stream = new Float64Array(0);

  /**
   * The document's size in bytes when known (a plain file's size, a gzip file's trailer), and the
   * bytes scanned so far (the scanner sets it per chunk): grow() sizes the columns for the whole
   * document from the events per byte seen, instead of doubling. Doubling a 2-million-event rank
   * copied and touched twice its final columns (page faults were a sixth of the CPU), then
   * trimmed() copied them once more.
   */
  expectedBytes = 0;
  bytesSeen = 0;

  /** The next capacity: the whole document's events, estimated, once a thousand are read; else twice. */
  private nextCap(): number {
    const doubled = Math.max(1024, this.cap * 2);
    if (this.expectedBytes <= 0 || this.bytesSeen <= 0 || this.count < 1024) return doubled;
    // 3 % more than the estimate and at least a quarter more than now; never more than one event
    // per 16 bytes of the document (no real event is shorter).
    const estimate = Math.ceil(((this.count * this.expectedBytes) / this.bytesSeen) * 1.03) + 1024;
    const cap = Math.min(Math.max(estimate, Math.ceil(this.cap * 1.25)), Math.ceil(this.expectedBytes / 16) + 1024);
    // An estimate already outgrown (a wrong size: a gzip trailer holds it modulo 4 GiB) is dropped.
    if (cap <= this.cap) {
      this.expectedBytes = 0;
      return doubled;
    }
    return cap;
  }

  grow(): void {
    const cap = this.nextCap();
    const f64 = (a: Float64Array) => {
      const b = new Float64Array(cap);
      b.set(a);
      return b;
    };
    const i32 = (a: Int32Array) => {
      const b = new Int32Array(cap);
      b.set(a);
      return b;
    };
    const u8 = new Uint8Array(cap);
    u8.set(this.ph);
    this.ph = u8;
    this.cat = i32(this.cat);
    this.name = i32(this.name);
    this.pid = i32(this.pid);
    this.tid = i32(this.tid);
    this.ts = f64(this.ts);
    this.dur = f64(this.dur);
    this.correlation = f64(this.correlation);
    this.externalId = f64(this.externalId);
    this.stream = f64(this.stream);
    // New rows start with every column absent (open() leaves them so).
    const n = this.cap;
    this.cat.fill(-1, n);
    this.name.fill(-1, n);
    this.pid.fill(-1, n);
    this.tid.fill(-1, n);
    this.ts.fill(NaN, n);
    this.dur.fill(NaN, n);
    this.correlation.fill(NaN, n);
    this.externalId.fill(NaN, n);
    this.stream.fill(NaN, n);
    this.cap = cap;
  }

  /**
   * Starts event `count`: its row has every column absent (grow() fills new rows so), or holds
   * what an unfinished read of this same event wrote, which its next read writes again alike.
   */
  open(): number {
    if (this.count === this.cap) this.grow();
    return this.count;
  }

  /**
   * The columns trimmed to `count`, handed over: views when the spare capacity is small (columns
   * sized from the document's bytes), else copies, each grown column let go as soon as its copy
   * is made, so that the peak is the grown columns and one copy, not both sets. The Columns are
   * empty after.
   */
  trimmed(): Omit<KinetoColumns, 'strings' | 'numbers' | 'extraArgs' | 'top' | 'bytes'> {
    const n = this.count;
    // Columns sized from the document's bytes are close to full: views of them are handed over
    // (at most a few per cent spare), not copies.
    const view = this.cap - n <= this.cap * 0.05 + 1024;
    const f64 = (a: Float64Array) => (view ? a.subarray(0, n) : a.slice(0, n));
    const i32 = (a: Int32Array) => (view ? a.subarray(0, n) : a.slice(0, n));
    const ph = view ? this.ph.subarray(0, n) : this.ph.slice(0, n);
    this.ph = new Uint8Array(0);
    const cat = i32(this.cat);
    this.cat = new Int32Array(0);
    const name = i32(this.name);
    this.name = new Int32Array(0);
    const pid = i32(this.pid);
    this.pid = new Int32Array(0);
    const tid = i32(this.tid);
    this.tid = new Int32Array(0);
    const ts = f64(this.ts);
    this.ts = new Float64Array(0);
    const dur = f64(this.dur);
    this.dur = new Float64Array(0);
    const correlation = f64(this.correlation);
    this.correlation = new Float64Array(0);
    const externalId = f64(this.externalId);
    this.externalId = new Float64Array(0);
    const stream = f64(this.stream);
    this.stream = new Float64Array(0);
    this.count = this.cap = 0;
    return { count: n, ph, cat, name, pid, tid, ts, dur, correlation, externalId, stream };
  }
}

/**
 * Incremental scanner of one Kineto document. push() each chunk (any size, any boundary),
 * then end() for the columns. Throws KinetoScanError with the byte offset on malformed input.
 */
export class KinetoScanner {
  private readonly cols = new Columns();
  private readonly strings: string[] = [];
  private readonly numbers: number[] = [];
  private readonly numberIds = new Map<number, number>();
  /** The last numeric pid and tid read, and their codes (NaN: none yet; no JSON number is NaN). */
  private lastPid = NaN;
  private lastPidCode = 0;
  private lastTid = NaN;
  private lastTidCode = 0;
  private readonly internIds = new Map<number, number[]>();
  private readonly internBytes: Buffer[] = [];
  private readonly extraArgs = new Map<number, Record<string, unknown>>();
  private readonly top: Record<string, unknown> = {};
  /**
   * The buffer the bytes are scanned from: its first `carryLen` bytes are the ones the last scan
   * left (an unfinished member or event), and the next chunk is read or copied after them. It is
   * reused from chunk to chunk: a fresh buffer per chunk (the read stream's, then a concatenation
   * with the carry) was two new megabytes per megabyte of JSON, page faults and collections.
   */
  private work = Buffer.allocUnsafe(0);
  private carryLen = 0;
  /** Where we are: before `{`, in the top-level object, in the traceEvents array, done. */
  private state: 'start' | 'top' | 'events' | 'end' = 'start';
  private consumed = 0;
  private sawEvents = false;
  private nonObjects = 0;
  private readonly label: string;

  constructor(label = 'the trace') {
    this.label = label;
  }

  private fail(what: string, at: number): never {
    const offset = this.consumed + at;
    throw new KinetoScanError(`${this.label} is not a valid Kineto trace at byte ${offset}: ${what}`, {
      ...this.progress(),
      offset,
    });
  }

  /** How far the scan has got: JSON bytes consumed, complete events and ProfilerStep#N events read. */
  progress(): ScanProgress {
    const cols = this.cols;
    const isStep: (boolean | undefined)[] = [];
    let steps = 0;
    for (let i = 0; i < cols.count; i++) {
      const id = cols.name[i];
      if (id < 0 || cols.ph[i] !== PH.X) continue;
      let v = isStep[id];
      if (v === undefined) v = isStep[id] = STEP_NAME.test(this.strings[id]);
      if (v) steps++;
    }
    return { offset: this.consumed, events: cols.count, steps };
  }

  /**
   * The document's size in bytes, when known before the scan (a plain file's size; a gzip
   * file's trailer, which holds it modulo 4 GiB): only a hint, which sizes the columns once
   * instead of doubling them (a wrong one costs a grow, never an event).
   */
  expectBytes(n: number): void {
    if (Number.isFinite(n) && n > 0) this.cols.expectedBytes = n;
  }

  /** Scans a chunk (any size, any boundary); the chunk is not kept. */
  push(chunk: Buffer): void {
    if (this.carryLen === 0) {
      this.cols.bytesSeen = this.consumed + chunk.length;
      const stop = this.scan(chunk);
      this.consumed += stop;
      if (stop < chunk.length) {
        chunk.copy(this.space(chunk.length - stop).buf, 0, stop);
        this.carryLen = chunk.length - stop;
      }
      return;
    }
    const { buf, at } = this.space(chunk.length);
    chunk.copy(buf, at);
    this.commit(chunk.length);
  }

  /** Room for `n` more bytes after the carried ones: the buffer to write them into, and where (push() without a copy: read into it, then commit()). */
  space(n: number): { buf: Buffer; at: number } {
    if (this.work.length < this.carryLen + n) {
      const grown = Buffer.allocUnsafe(Math.max(this.carryLen + n, 2 * this.work.length));
      this.work.copy(grown, 0, 0, this.carryLen);
      this.work = grown;
    }
    return { buf: this.work, at: this.carryLen };
  }

  /** Scans the carried bytes and the `n` bytes written after them (space()). */
  commit(n: number): void {
    const len = this.carryLen + n;
    this.cols.bytesSeen = this.consumed + len;
    const stop = this.scan(this.work.subarray(0, len));
    this.consumed += stop;
    if (stop < len) this.work.copyWithin(0, stop, len);
    this.carryLen = len - stop;
  }

  end(): KinetoColumns {
    const carry = this.work.subarray(0, this.carryLen);
    if (carry.subarray(skipWs(carry, 0)).length > 0 && this.state !== 'end')
      this.fail('the file ends inside an event or member', 0);
    if (this.state === 'start')
      this.fail('the file is empty, where a JSON object with a "traceEvents" array was expected', 0);
    if (this.state !== 'end') this.fail('the file ends before the top-level object is closed', 0);
    if (!this.sawEvents)
      throw new KinetoScanError(
        `${this.label} is not a PyTorch profiler (Kineto) trace: expected a JSON object with a "traceEvents" array`,
      );
    const t = this.cols.trimmed();
    // Every field named in one literal: one map for every rank's columns. A spread of the trimmed
    // columns gave each rank's columns a map of its own once V8 had run it a dozen times, and every
    // optimised function that reads the columns was thrown away for the next rank (each rank of a
    // 64-rank job compiled the importer's longest functions again).
    return {
      count: t.count,
      ph: t.ph,
      cat: t.cat,
      name: t.name,
      pid: t.pid,
      tid: t.tid,
      ts: t.ts,
      dur: t.dur,
      correlation: t.correlation,
      externalId: t.externalId,
      stream: t.stream,
      strings: this.strings,
      numbers: this.numbers,
      extraArgs: this.extraArgs,
      top: this.top,
      bytes: this.consumed + this.carryLen,
      nonObjects: this.nonObjects,
    };
  }

  /** Scans as far as complete units go; returns the offset of the first byte not consumed. */
  private scan(b: Buffer): number {
    let i = 0;
    for (;;) {
      i = skipWs(b, i);
      if (i >= b.length) return i;
      const c = b[i];
      if (this.state === 'start') {
        if (c !== LBRACE)
          this.fail(`expected "{" (a JSON object with a "traceEvents" array), found "${String.fromCharCode(c)}"`, i);
        this.state = 'top';
        i++;
        continue;
      }
      if (this.state === 'end') {
        this.fail('unexpected bytes after the top-level object', i);
      }
      if (this.state === 'events') {
        if (c === COMMA) {
          i++;
          continue;
        }
        if (c === RBRACKET) {
          this.state = 'top';
          i++;
          continue;
        }
        if (c !== LBRACE) {
          // Not an object: skipped like the importer skips it.
          const e = skipValue(b, i);
          if (e === NEED_MORE) return i;
          this.nonObjects++;
          i = e;
          continue;
        }
        const e = this.event(b, i);
        // Unfinished: the event is read again from its start with the next chunk.
        if (e === NEED_MORE) return i;
        i = e;
        continue;
      }
      // state 'top': `, "key": value` or `}`
      if (c === COMMA) {
        i++;
        continue;
      }
      if (c === RBRACE) {
        this.state = 'end';
        i++;
        continue;
      }
      if (c !== QUOTE) this.fail(`expected a key or "}" in the top-level object, found "${String.fromCharCode(c)}"`, i);
      const ke = stringEnd(b, i);
      if (ke === NEED_MORE) return i;
      let v = skipWs(b, ke);
      if (v >= b.length) return i;
      if (b[v] !== COLON) this.fail('expected ":" after a key', v);
      v = skipWs(b, v + 1);
      if (v >= b.length) return i;
      const key = JSON.parse(b.toString('utf8', i, ke)) as string;
      if (key === 'traceEvents') {
        if (b[v] !== LBRACKET) this.fail('"traceEvents" is not an array', v);
        this.sawEvents = true;
        this.state = 'events';
        i = v + 1;
        continue;
      }
      const ve = skipValue(b, v);
      if (ve === NEED_MORE) return i;
      this.top[key] = JSON.parse(b.toString('utf8', v, ve));
      i = ve;
    }
  }

  /** Whether event `ev` may be a comm launcher (nccl:*, record_param_comms, c10d::*): its shapes are kept. Unknown name: yes. */
  private mayLaunchComms(ev: number): boolean {
    const id = this.cols.name[ev];
    if (id < 0) return true;
    let v = this.launcher[id];
    if (v === undefined) v = this.launcher[id] = COMM_LAUNCHER.test(this.strings[id]);
    return v;
  }

  private readonly launcher: boolean[] = [];

  /** The pid / tid code of a number (KinetoColumns.pid): -2 - its index in `numbers`. */
  private numberId(v: number): number {
    let id = this.numberIds.get(v);
    if (id === undefined) {
      this.numbers.push(v);
      id = -1 - this.numbers.length;
      this.numberIds.set(v, id);
    }
    return id;
  }

  /**
   * The id of the string whose raw bytes are b[start, end) (between its quotes). Long strings
   * (kernel names run to kilobytes) are hashed over a sample of their bytes and compared natively,
   * so that a string seen before costs a bounded hash and one memcmp, not a pass of JS per byte.
   */
  private intern(b: Buffer, start: number, end: number): number {
    const long = end - start > INTERN_SAMPLE;
    const h = long ? sampledHash(b, start, end) : hashBytes(b, start, end);
    const ids = this.internIds.get(h);
    if (ids)
      for (const id of ids) {
        const known = this.internBytes[id];
        if (
          long
            ? known.length === end - start && b.compare(known, 0, known.length, start, end) === 0
            : sameBytes(b, start, end, known)
        )
          return id;
      }
    const id = this.strings.length;
    this.strings.push(
      hasBackslash(b, start, end)
        ? (JSON.parse(b.toString('utf8', start - 1, end + 1)) as string)
        : b.toString('utf8', start, end),
    );
    this.internBytes.push(Buffer.from(b.subarray(start, end)));
    if (ids) ids.push(id);
    else this.internIds.set(h, [id]);
    return id;
  }

  /** Reads one event object at b[i] = '{'; returns the offset after it or NEED_MORE (nothing kept). */
  private event(b: Buffer, i: number): number {
    const cols = this.cols;
    const ev = cols.open();
    let extra: Record<string, unknown> | undefined;
    i++;
    for (;;) {
      i = skipWs(b, i);
      if (i >= b.length) return NEED_MORE;
      let c = b[i];
      if (c === RBRACE) break;
      if (c === COMMA) {
        i++;
        continue;
      }
      if (c !== QUOTE) this.fail(`expected a key in an event, found "${String.fromCharCode(c)}"`, i);
      const ks = i + 1;
      const ke = stringEnd(b, i);
      if (ke === NEED_MORE) return NEED_MORE;
      const kind = keyOf(EVENT_KEYS, EVENT_KEY_FILTER, b, ks, ke - 1)?.kind ?? 0;
      i = skipWs(b, ke);
      if (i >= b.length) return NEED_MORE;
      if (b[i] !== COLON) this.fail('expected ":" after a key', i);
      i = skipWs(b, i + 1);
      if (i >= b.length) return NEED_MORE;
      c = b[i];
      if (kind === K.args && c === LBRACE) {
        const r = this.args(b, i, ev);
        if (r === NEED_MORE) return NEED_MORE;
        i = r;
        extra = this.argsExtra;
        continue;
      }
      if (c === QUOTE) {
        const se = stringEnd(b, i);
        if (se === NEED_MORE) return NEED_MORE;
        if (kind !== 0) {
          if (kind === K.ph) cols.ph[ev] = se - i === 3 ? (PH_BY_BYTE.get(b[i + 1]) ?? PH.other) : PH.other;
          else {
            const id = this.intern(b, i + 1, se - 1);
            if (kind === K.cat) cols.cat[ev] = id;
            else if (kind === K.name) cols.name[ev] = id;
            else if (kind === K.pid) cols.pid[ev] = id;
            else if (kind === K.tid) cols.tid[ev] = id;
          }
        }
        i = se;
        continue;
      }
      if (c === MINUS || (c >= ZERO && c <= NINE)) {
        const ne = numberEnd(b, i);
        if (ne === NEED_MORE) return NEED_MORE;
        if (kind !== 0) {
          const v = numberValue(b, i, ne);
          if (kind === K.ts) cols.ts[ev] = v;
          else if (kind === K.dur) cols.dur[ev] = v;
          // Most events repeat the last event's pid and tid: a compare, not a lookup.
          else if (kind === K.pid)
            cols.pid[ev] =
              v === this.lastPid ? this.lastPidCode : (this.lastPidCode = this.numberId((this.lastPid = v)));
          else if (kind === K.tid)
            cols.tid[ev] =
              v === this.lastTid ? this.lastTidCode : (this.lastTidCode = this.numberId((this.lastTid = v)));
        }
        i = ne;
        continue;
      }
      const ve = skipValue(b, i);
      if (ve === NEED_MORE) return NEED_MORE;
      i = ve;
    }
    cols.count++;
    if (extra) this.extraArgs.set(ev, extra);
    return i + 1;
  }

  /** The rare args of the last args object read (set by args(), so that it returns a plain offset). */
  private argsExtra: Record<string, unknown> | undefined;

  /** Reads an args object; returns the offset after it (its rare args in argsExtra) or NEED_MORE. */
  private args(b: Buffer, i: number, ev: number): number {
    const cols = this.cols;
    let extra: Record<string, unknown> | undefined;
    this.argsExtra = undefined;
    i++;
    for (;;) {
      i = skipWs(b, i);
      if (i >= b.length) return NEED_MORE;
      const c = b[i];
      if (c === RBRACE) {
        this.argsExtra = extra;
        return i + 1;
      }
      if (c === COMMA) {
        i++;
        continue;
      }
      if (c !== QUOTE) this.fail(`expected a key in "args", found "${String.fromCharCode(c)}"`, i);
      const ks = i + 1;
      const ke = stringEnd(b, i);
      if (ke === NEED_MORE) return NEED_MORE;
      const hit = keyOf(ARG_KEYS, ARG_KEY_FILTER, b, ks, ke - 1);
      i = skipWs(b, ke);
      if (i >= b.length) return NEED_MORE;
      if (b[i] !== COLON) this.fail('expected ":" after a key', i);
      i = skipWs(b, i + 1);
      if (i >= b.length) return NEED_MORE;
      const ve = skipValue(b, i);
      if (ve === NEED_MORE) return NEED_MORE;
      if (hit) {
        const v0 = b[i];
        const isNum = v0 === MINUS || (v0 >= ZERO && v0 <= NINE);
        if (hit.kind === K.correlation && isNum) cols.correlation[ev] = numberValue(b, i, ve);
        else if (hit.kind === K.externalId && isNum) cols.externalId[ev] = numberValue(b, i, ve);
        else if (hit.kind === K.stream && isNum) cols.stream[ev] = numberValue(b, i, ve);
        else if (hit.kind === K.extraNumber && isNum) (extra ??= {})[hit.name] = numberValue(b, i, ve);
        else if (
          hit.kind === K.extraRaw
            ? this.mayLaunchComms(ev)
            : hit.kind === K.extraString
              ? hit.name !== 'name' || cols.ph[ev] === PH.M || cols.ph[ev] === PH.other
              : false
        ) {
          (extra ??= {})[hit.name] = JSON.parse(b.toString('utf8', i, ve));
        }
      }
      i = ve;
    }
  }
}

function hasBackslash(b: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (b[i] === BACKSLASH) return true;
  return false;
}

function skipWs(b: Uint8Array, i: number): number {
  while (i < b.length) {
    const c = b[i];
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i++;
  }
  return i;
}

/** b[i] = '"': the offset after the closing quote, or NEED_MORE. */
function stringEnd(b: Buffer, i: number): number {
  // Most strings are short: a loop finds their end sooner than a native call.
  const stop = Math.min(b.length, i + 33);
  for (let k = i + 1; k < stop; k++) {
    const x = b[k];
    if (x === QUOTE) return k + 1;
    if (x === BACKSLASH) break;
  }
  let j = i + 1;
  for (;;) {
    const q = b.indexOf(QUOTE, j);
    if (q < 0) return NEED_MORE;
    // Count the backslashes before the quote: an odd number escapes it.
    let k = q - 1,
      n = 0;
    while (k > i && b[k] === BACKSLASH) {
      n++;
      k--;
    }
    if ((n & 1) === 0) return q + 1;
    j = q + 1;
  }
}

function numberEnd(b: Uint8Array, i: number): number {
  let j = i;
  while (j < b.length) {
    const c = b[j];
    if ((c >= ZERO && c <= NINE) || c === MINUS || c === DOT || c === LOWER_E || c === UPPER_E || c === 0x2b) j++;
    else return j;
  }
  return NEED_MORE;
}

/** The value JSON.parse gives the number in b[i, e): integers of ≤ 15 digits are built from the bytes. */
function numberValue(b: Buffer, i: number, e: number): number {
  let j = i,
    neg = false;
  if (b[j] === MINUS) {
    neg = true;
    j++;
  }
  if (e - j <= 17) {
    // Exact while the value stays ≤ 2^53 (every partial value is smaller than the last).
    let v = 0;
    for (; j < e; j++) {
      const c = b[j];
      if (c < ZERO || c > NINE) break;
      v = v * 10 + (c - ZERO);
    }
    if (v > Number.MAX_SAFE_INTEGER) return Number(b.toString('latin1', i, e));
    if (j === e) return neg ? -v : v;
    // `68.0`: an integer with a zero fraction, as Kineto writes durations.
    if (b[j] === DOT) {
      let k = j + 1;
      while (k < e && b[k] === ZERO) k++;
      if (k === e && k > j + 1) return neg ? -v : v;
    }
  }
  return Number(b.toString('latin1', i, e));
}

/** b[i] starts a JSON value: the offset after it, or NEED_MORE. Validates only as much as needed to find its end. */
function skipValue(b: Buffer, i: number): number {
  const c = b[i];
  if (c === QUOTE) return stringEnd(b, i);
  if (c === LBRACE || c === LBRACKET) {
    let depth = 0;
    let j = i;
    while (j < b.length) {
      const x = b[j];
      if (x === QUOTE) {
        const e = stringEnd(b, j);
        if (e === NEED_MORE) return NEED_MORE;
        j = e;
        continue;
      }
      if (x === LBRACE || x === LBRACKET) depth++;
      else if (x === RBRACE || x === RBRACKET) {
        depth--;
        if (depth === 0) return j + 1;
      }
      j++;
    }
    return NEED_MORE;
  }
  // number, true, false, null
  let j = i;
  while (j < b.length) {
    const x = b[j];
    if (x === COMMA || x === RBRACE || x === RBRACKET || x === 0x20 || x === 0x0a || x === 0x0d || x === 0x09) return j;
    j++;
  }
  return NEED_MORE;
}

/**
 * The inflated size a gzip file's trailer states (its last 4 bytes: the size modulo 4 GiB, of the
 * last member), or 0 when it cannot be read. A hint for the scanner's columns, never trusted for
 * more.
 */
async function gzipSizeHint(fh: FileHandle, size: number): Promise<number> {
  if (size < 18) return 0;
  try {
    const b = Buffer.alloc(4);
    const { bytesRead } = await fh.read(b, 0, 4, size - 4);
    return bytesRead === 4 ? b.readUInt32LE(0) : 0;
  } catch {
    return 0;
  }
}

/**
 * Reads a Kineto file (`.json` or `.json.gz`, detected by its magic bytes) as a stream into
 * columns. Every failure (malformed JSON, a file cut short, a corrupt gzip stream, a read
 * error) is a KinetoScanError whose `at` says the JSON byte offset and the events and steps
 * read before it; a file that cannot be opened fails as the open did.
 *
 * The file is opened once: its magic bytes, its size (or a gzip file's trailer) and its content
 * are read through one handle (a job of 1,024 small ranks spent about a millisecond per rank on
 * opening and closing the same file three times).
 */
export async function scanKinetoFile(path: string): Promise<KinetoColumns> {
  const { open } = await import('node:fs/promises');
  const fh = await open(path, 'r');
  const scanner = new KinetoScanner(path);
  try {
    let size: number, gz: boolean;
    try {
      size = (await fh.stat()).size;
      const head = Buffer.alloc(2);
      const { bytesRead } = await fh.read(head, 0, 2, 0);
      gz = bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
    } catch (e) {
      throw new KinetoScanError(`${path}: read error (${(e as Error).message})`, scanner.progress());
    }
    if (!gz) {
      // Plain JSON is read straight into the scanner's buffer, after the bytes it carries.
      try {
        scanner.expectBytes(size);
        for (let pos = 0; ;) {
          const { buf, at } = scanner.space(READ_CHUNK);
          const { bytesRead } = await fh.read(buf, at, READ_CHUNK, pos);
          if (bytesRead === 0) break;
          pos += bytesRead;
          scanner.commit(bytesRead);
        }
      } catch (e) {
        if (e instanceof KinetoScanError) throw e;
        throw new KinetoScanError(`${path}: read error (${(e as Error).message})`, scanner.progress());
      }
      return scanner.end();
    }
    scanner.expectBytes(await gzipSizeHint(fh, size));
    const { createGunzip } = await import('node:zlib');
    // The handle stays ours (autoClose off): it is closed below, once, whatever happened.
    const raw = fh.createReadStream({ start: 0, highWaterMark: 1 << 20, autoClose: false });
    const src = raw.pipe(createGunzip({ chunkSize: 1 << 20 }));
    raw.on('error', (e) => src.destroy(e));
    try {
      for await (const chunk of src as AsyncIterable<Buffer>) scanner.push(chunk);
    } catch (e) {
      if (e instanceof KinetoScanError) throw e;
      const at = scanner.progress();
      const what = `the gzip stream is cut short or corrupt (${(e as Error).message}) after ${raw.bytesRead} compressed bytes`;
      throw new KinetoScanError(`${path}: ${what}`, at);
    } finally {
      raw.destroy();
    }
    return scanner.end();
  } finally {
    await fh.close().catch(() => undefined);
  }
}
