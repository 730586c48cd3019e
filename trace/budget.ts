/**
 * The memory budget for loading a trace.
 *
 * Opening a trace costs memory in two ways: the bytes read (after gunzip) are held, at
 * least in part, while they are parsed, and every event becomes an object in the model.
 * Each loader meters both WHILE it streams — gunzip output as it is produced, events as
 * they are counted — and stops as soon as the estimate passes the limit, with a message
 * that says how much the whole trace would need and how to allow it. So a 38 MB gzip that
 * expands to 5 GB, or a protobuf with millions of tiny events, ends in a second with an
 * error instead of taking the process (or VS Code's extension host) down.
 *
 * The estimate, measured on Node 20 (docs/limits.md, "Loading traces"):
 *  - JSON text: ~4 bytes of memory per byte at the peak of parsing (the text, the parsed
 *    objects and the model built from them overlap);
 *  - protobuf: the file is held whole (1 byte per byte);
 *  - each event: ~700 bytes at the peak (the parsed event, its slice, args and track
 *    bookkeeping; 1 M Kineto events, 167 MB of JSON, peaked at 704 MB of RSS).
 * The larger of the two meters is the estimate.
 */
import { statSync, type Stats } from 'node:fs';
import { TraceFormatError } from './errors';

/** Default budget: 2 GiB, half of what V8 allows a pointer-compressed heap (VS Code's extension host). */
export const DEFAULT_MAX_TRACE_BYTES = 2 * 1024 ** 3;
/** Memory per byte of JSON text while it is parsed. */
export const JSON_BYTE_COST = 4;
/** Memory per byte of protobuf (held whole while decoded). */
export const PROTOBUF_BYTE_COST = 1;
/** Memory per imported event. */
export const EVENT_COST = 700;
/** The environment variable that sets the default. */
export const MAX_TRACE_BYTES_ENV = 'COMMLENS_MAX_TRACE_BYTES';

let processDefault: number | undefined;

/**
 * Parses a byte count: a plain number or one with a unit (`512M`, `4G`, `4GB`, `4GiB`,
 * `1.5g`); units are powers of 1024. Returns undefined when `text` is not one.
 */
export function parseByteSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[
    m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'
  ];
  const n = Math.round(Number(m[1]) * unit);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/** Sets the budget every loader uses when not given one (the CLI flag, the VS Code setting). */
export function setDefaultMaxTraceBytes(bytes: number | undefined): void {
  if (bytes !== undefined && !(bytes > 0))
    throw new Error(`the trace memory limit must be a positive number of bytes, got ${bytes}`);
  processDefault = bytes;
}

/** The budget in force: set by setDefaultMaxTraceBytes, else COMMLENS_MAX_TRACE_BYTES, else 2 GiB. */
export function defaultMaxTraceBytes(): number {
  if (processDefault !== undefined) return processDefault;
  const env = process.env[MAX_TRACE_BYTES_ENV];
  if (env !== undefined && env !== '') {
    const n = parseByteSize(env);
    if (n === undefined)
      throw new TraceFormatError(`${MAX_TRACE_BYTES_ENV}=${env} is not a size`, {
        expected: 'a number of bytes such as 4294967296 or 4G',
      });
    return n;
  }
  return DEFAULT_MAX_TRACE_BYTES;
}

/** Options every loader takes. */
export interface LoadOptions {
  /** Memory budget in bytes; default: defaultMaxTraceBytes(). */
  maxTraceBytes?: number;
  /** Memory already taken by other files of the same load (the other ranks of a job). */
  usedBytes?: number;
}

/** `1.5 GB`, `300 MB`: decimal units with one decimal, as the message shows them. */
export function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(0)} MB`;
  return `${Math.ceil(n / 1e3)} kB`;
}

/** `5G`-style flag value of at least `n` bytes (rounded up to a whole GiB). */
function suggestion(n: number): string {
  return `${Math.max(1, Math.ceil(n / 1024 ** 3))}G`;
}

/** The error a loader throws when a trace is over the budget (exit code 2 in the CLI, like any bad input). */
export class TraceTooLargeError extends TraceFormatError {
  constructor(
    file: string,
    readonly neededBytes: number,
    readonly limitBytes: number,
    detail: string,
  ) {
    super(
      `this trace needs ${detail.startsWith('at least') ? 'more than' : 'about'} ${formatBytes(neededBytes)} to open (${detail}), more than the limit of ${formatBytes(limitBytes)}; ` +
        `open a shorter profile (fewer steps or ranks), or raise the limit with --max-trace-bytes ${suggestion(neededBytes * 1.2)} / the commlens.maxTraceBytes setting (or ${MAX_TRACE_BYTES_ENV})`,
      { file },
    );
    this.name = 'TraceTooLargeError';
  }
}

/**
 * One file's meter. `bytes(n)` and `events(n)` add what was produced; both throw
 * TraceTooLargeError once the estimate passes the limit. `progress` (0..1, the share of
 * the file on disk consumed so far) lets the message extrapolate to the whole file.
 */
export class LoadBudget {
  readonly limit: number;
  private byteCount = 0;
  private eventCount = 0;
  private readonly used: number;
  /** Share of the file consumed so far, for the estimate of the whole; NaN when unknown (the message then says "at least"). */
  progress: () => number = () => Number.NaN;

  constructor(
    readonly file: string,
    readonly byteCost: number,
    opts: LoadOptions = {},
  ) {
    this.limit = opts.maxTraceBytes ?? defaultMaxTraceBytes();
    this.used = opts.usedBytes ?? 0;
  }

  get bytesSeen(): number {
    return this.byteCount;
  }
  get eventsSeen(): number {
    return this.eventCount;
  }

  /** The largest number of bytes that may still be produced before the limit is reached. */
  bytesLeft(): number {
    return Math.max(0, Math.floor((this.limit - this.used - this.estimate()) / this.byteCost));
  }

  /** The current estimate of memory this file takes. */
  estimate(): number {
    return Math.max(this.byteCount * this.byteCost, this.eventCount * EVENT_COST);
  }

  bytes(n: number): void {
    this.byteCount += n;
    if (this.used + this.byteCount * this.byteCost > this.limit) this.fail();
  }

  events(n: number): void {
    this.eventCount += n;
    if (this.used + this.eventCount * EVENT_COST > this.limit) this.fail();
  }

  /** Throws TraceTooLargeError for the current counts, extrapolated to the whole file. */
  fail(): never {
    const known = Number.isFinite(this.progress());
    const p = known ? Math.min(1, Math.max(this.progress(), 1e-9)) : 1;
    const whole = this.estimate() / p;
    const parts: string[] = [];
    if (this.byteCount > 0)
      parts.push(
        `${p < 1 ? 'about ' : ''}${formatBytes(this.byteCount / p)} of trace data${this.byteCost !== 1 ? ` at ~${this.byteCost} bytes of memory each` : ''}`,
      );
    if (this.eventCount > 0)
      parts.push(
        `${p < 1 ? 'about ' : ''}${Math.round(this.eventCount / p).toLocaleString('en-US')} events at ~${EVENT_COST} bytes each`,
      );
    const others = this.used > 0 ? `, plus ${formatBytes(this.used)} for the files loaded before it` : '';
    const detail = `${parts.join(', ')}${p < 1 ? `, extrapolated from the first ${Math.max(1, Math.round(p * 100))}% of the file` : ''}${others}`;
    throw new TraceTooLargeError(
      this.file,
      whole + this.used,
      this.limit,
      known ? detail : `at least ${detail}; stopped there`,
    );
  }
}

/** What a non-regular path is, in words. */
function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * The file's stats, after checking that it is a regular file: a FIFO would block the
 * read forever, /dev/zero would never end, a folder named as a file is a usage error.
 * Throws TraceFormatError naming the path and what it is.
 */
export function statRegularFile(path: string): Stats {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    throw new TraceFormatError(`cannot read: ${(e as Error).message}`, {
      file: path,
      expected: 'a readable trace file',
    });
  }
  if (!st.isFile()) {
    const hint = st.isDirectory()
      ? 'a trace file (give the folder itself to analyze or inspect, which search it)'
      : 'a regular trace file; copy the trace to a file first';
    throw new TraceFormatError(`is ${kindOf(st)}, not a trace file`, { file: path, expected: hint });
  }
  return st;
}

/**
 * Removes `--max-trace-bytes N` (or `--max-trace-bytes=N`) from a command line and sets
 * the process's default budget from it. Returns the other arguments, or undefined after
 * reporting a bad value through `err`.
 */
export function takeMaxTraceBytesFlag(args: string[], err: (message: string) => void): string[] | undefined {
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a !== '--max-trace-bytes' && !a.startsWith('--max-trace-bytes=')) {
      rest.push(a);
      continue;
    }
    const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : args[++i];
    const n = v === undefined ? undefined : parseByteSize(v);
    if (n === undefined) {
      err(`--max-trace-bytes needs a size such as 4294967296 or 4G, got '${v ?? ''}'`);
      return undefined;
    }
    setDefaultMaxTraceBytes(n);
  }
  return rest;
}
