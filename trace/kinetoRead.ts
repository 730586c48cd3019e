/**
 * Reading Kineto trace files: `.json` or `.json.gz`, gunzipped as a stream.
 *
 * Files under SMALL_FILE_ON_DISK_BYTES are read and gunzipped in one call each (on libuv's
 * thread pool); larger ones are read and gunzipped as a stream. Small texts are parsed whole
 * (JSON.parse is the fastest path). A file whose text grows
 * past SMALL_FILE_BYTES is parsed incrementally instead: a byte scanner walks the top-level
 * object, hands each element of `traceEvents` to JSON.parse on its own and never holds the
 * whole text as one string, so multi-gigabyte traces (past V8's string limit) still load.
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { createGunzip, gunzip } from 'node:zlib';

import { JSON_BYTE_COST, LoadBudget, statRegularFile, type LoadOptions } from './budget';
import { TraceFormatError } from './errors';

const gunzipAsync = promisify(gunzip);

const SMALL_FILE_BYTES = 64 * 1024 * 1024;
const SMALL_FILE_ON_DISK_BYTES = 8 * 1024 * 1024;

const QUOTE = 0x22,
  BACKSLASH = 0x5c,
  COLON = 0x3a,
  COMMA = 0x2c;
const LBRACE = 0x7b,
  RBRACE = 0x7d,
  LBRACKET = 0x5b,
  RBRACKET = 0x5d;

/**
 * Output chunk size for gunzipping `raw` in one piece: the gzip trailer's ISIZE (the
 * uncompressed size mod 2^32) + 1, so that inflating ends within the first chunk, bounded
 * by SMALL_FILE_BYTES so that a corrupt trailer cannot ask for a huge buffer. A trailer that
 * says less than the whole (a multi-member file, where it covers the last member) only costs
 * more chunks. With zlib's default 16 KiB chunks, every chunk is one hand-over from the
 * thread pool to the main thread and one more Buffer to concatenate: a 1.7 MB trace took ~100.
 */
function gunzipChunkSize(raw: Buffer): number {
  const isize = raw.length >= 18 ? raw.readUInt32LE(raw.length - 4) : 0;
  return Math.min(Math.max(isize + 1, 64 * 1024), SMALL_FILE_BYTES);
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/**
 * Incremental parser of one Kineto document: `{ "k": value, ..., "traceEvents": [ {..}, .. ] }`.
 * Feed it chunks with push(); result() returns the document with traceEvents filled.
 */
export class KinetoStreamParser {
  private depth = 0;
  private inString = false;
  private escape = false;
  private parts: Buffer[] = [];
  private capturing: 'key' | 'value' | 'event' | undefined;
  private segStart = 0;
  private key = '';
  private afterColon = false;
  private inEvents = false;
  private readonly top: Record<string, unknown> = {};
  private readonly events: unknown[] = [];
  private error: string | undefined;

  /** `onEvent` is called as each event is split out (a load budget's meter; it may throw). */
  constructor(private readonly onEvent?: () => void) {}

  private scan(chunk: Buffer): void {
    if (this.capturing) this.segStart = 0;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      if (this.inString) {
        if (this.escape) this.escape = false;
        else if (c === BACKSLASH) this.escape = true;
        else if (c === QUOTE) {
          this.inString = false;
          if (this.capturing === 'key') this.key = this.finish(chunk, i + 1) as string;
        }
        continue;
      }
      if (isSpace(c)) continue;
      if (this.depth === 1 && !this.capturing) {
        if (this.afterColon) {
          this.afterColon = false;
          if (this.key === 'traceEvents' && c === LBRACKET) {
            this.inEvents = true;
            this.depth = 2;
            continue;
          }
          this.start('value', i);
        } else if (c === QUOTE) {
          this.start('key', i);
          this.inString = true;
          continue;
        } else if (c === COLON) {
          this.afterColon = true;
          continue;
        } else if (c === RBRACE) {
          this.depth = 0;
          continue;
        } else continue;
      }
      if (this.inEvents && this.depth === 2 && !this.capturing) {
        if (c === RBRACKET) {
          this.inEvents = false;
          this.depth = 1;
          continue;
        }
        if (c === COMMA) continue;
        this.start('event', i);
      }
      if (c === QUOTE) {
        this.inString = true;
        continue;
      }
      if (c === LBRACE || c === LBRACKET) {
        this.depth++;
        continue;
      }
      if (c === RBRACE || c === RBRACKET) {
        this.depth--;
        if (this.capturing === 'event' && this.depth === 2) {
          this.onEvent?.();
          this.events.push(this.finish(chunk, i + 1));
        } else if (this.capturing === 'value' && this.depth === 1) this.top[this.key] = this.finish(chunk, i + 1);
        else if (this.capturing === 'value' && this.depth === 0) {
          // A primitive value ended by the object's closing brace.
          this.top[this.key] = this.finish(chunk, i);
        }
        continue;
      }
      if (c === COMMA && this.capturing === 'value' && this.depth === 1) this.top[this.key] = this.finish(chunk, i);
    }
    if (this.capturing) this.parts.push(chunk.subarray(this.segStart));
  }

  private start(kind: 'key' | 'value' | 'event', i: number): void {
    this.capturing = kind;
    this.segStart = i;
    this.parts = [];
  }

  private finish(chunk: Buffer, end: number): unknown {
    this.parts.push(chunk.subarray(this.segStart, end));
    const text = (this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts)).toString('utf8').trim();
    this.parts = [];
    this.capturing = undefined;
    try {
      return JSON.parse(text);
    } catch (e) {
      this.error ??= `invalid JSON near ${text.slice(0, 80)}: ${(e as Error).message}`;
      return undefined;
    }
  }

  /** The parsed document; throws with a clear message when the text was not one JSON object. */
  result(): Record<string, unknown> | unknown[] {
    if (this.error) throw new Error(this.error);
    if (this.topArray) {
      if (this.depth !== 1 || this.inString) throw new Error('the JSON array of events ends early (truncated file?)');
      return this.events;
    }
    if (this.depth !== 0 || this.inString) throw new Error('the JSON document ends early (truncated file?)');
    return { ...this.top, traceEvents: this.events };
  }

  /** Feeds the next chunk of the document (the first may start with whitespace). */
  push(chunk: Buffer): void {
    if (this.error) return;
    if (!this.started) {
      const i = chunk.findIndex((c) => !isSpace(c));
      if (i < 0) return;
      if (chunk[i] === LBRACKET) {
        // A pre-Kineto trace: the document is the events array itself.
        this.started = true;
        this.topArray = true;
        this.inEvents = true;
        this.depth = 2;
        this.scan(chunk.subarray(i + 1));
        return;
      }
      if (chunk[i] !== LBRACE) {
        this.error = 'expected a JSON object (or, from PyTorch without Kineto, an array) at the start of the file';
        return;
      }
      this.started = true;
      this.depth = 1;
      this.scan(chunk.subarray(i + 1));
      return;
    }
    this.scan(chunk);
  }
  private started = false;
  private topArray = false;
}

/** True for the error a zlib call gives when its output would pass maxOutputLength. */
function isTooLarge(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException)?.code;
  return code === 'ERR_BUFFER_TOO_LARGE' || (e instanceof RangeError && /larger than|maxOutputLength/i.test(e.message));
}

/**
 * Reads a Kineto file as a stream (gunzipping when the bytes say gzip) and returns the
 * parsed document. Errors name the file and what was wrong. Only regular files are read
 * (a FIFO or /dev/zero would never end); the bytes produced and the events found are
 * charged to the load budget as they come, so a gzip bomb stops at the limit with
 * TraceTooLargeError instead of exhausting memory.
 */
export async function readKinetoFile(
  path: string,
  opts: { streamAboveBytes?: number } & LoadOptions = {},
): Promise<unknown> {
  const streamAbove = opts.streamAboveBytes ?? SMALL_FILE_BYTES;
  const onDisk = statRegularFile(path).size;
  const budget = new LoadBudget(path, JSON_BYTE_COST, opts);
  if (onDisk < SMALL_FILE_ON_DISK_BYTES && opts.streamAboveBytes === undefined) {
    let text: string | undefined;
    try {
      // Read and gunzip off the main thread, so reading the next rank's file overlaps parsing this one.
      const raw = await readFile(path);
      if (raw[0] === 0x1f && raw[1] === 0x8b) {
        const left = budget.bytesLeft();
        try {
          const out = await gunzipAsync(raw, {
            chunkSize: Math.max(64, Math.min(gunzipChunkSize(raw), left + 1)),
            maxOutputLength: Math.max(1, left + 1),
          });
          budget.bytes(out.length);
          text = out.toString('utf8');
        } catch (e) {
          // Over the budget: the streamed read below meters it and says how large the whole is.
          if (!isTooLarge(e)) throw e;
        }
      } else {
        budget.bytes(raw.length);
        text = raw.toString('utf8');
      }
    } catch (e) {
      if (e instanceof TraceFormatError) throw e;
      throw new Error(`cannot read ${path}: ${(e as Error).message}`, { cause: e });
    }
    if (text !== undefined) {
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch (e) {
        throw new Error(`${path} is not valid JSON: ${(e as Error).message}`, { cause: e });
      }
      countEvents(doc, budget);
      return doc;
    }
  }
  const head = await new Promise<Buffer>((resolve, reject) => {
    const s = createReadStream(path, { start: 0, end: 1 });
    const parts: Buffer[] = [];
    s.on('data', (d) => parts.push(d as Buffer));
    s.on('end', () => resolve(Buffer.concat(parts)));
    s.on('error', (e) => reject(new Error(`cannot read ${path}: ${e.message}`)));
  });
  const gz = head[0] === 0x1f && head[1] === 0x8b;
  const source = createReadStream(path);
  budget.progress = () => source.bytesRead / Math.max(1, onDisk);
  const gunzip = gz ? createGunzip() : undefined;
  const stream = gunzip ? source.pipe(gunzip) : source;
  // Input consumed by gunzip (not merely read ahead from disk), for the estimate of the whole.
  if (gunzip) budget.progress = () => gunzip.bytesWritten / Math.max(1, onDisk);
  const chunks: Buffer[] = [];
  let size = 0;
  let parser: KinetoStreamParser | undefined;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      budget.bytes(chunk.length);
      if (parser) {
        parser.push(chunk);
        continue;
      }
      chunks.push(chunk);
      size += chunk.length;
      if (size > streamAbove) {
        parser = new KinetoStreamParser(() => budget.events(1));
        for (const c of chunks) parser.push(c);
        chunks.length = 0;
      }
    }
  } catch (e) {
    source.destroy();
    if (e instanceof TraceFormatError) throw e;
    throw new Error(`cannot read ${path}${gz ? ' (gzip)' : ''}: ${(e as Error).message}`, { cause: e });
  }
  if (parser) {
    try {
      return parser.result();
    } catch (e) {
      throw new Error(`${path} is not valid JSON: ${(e as Error).message}`, { cause: e });
    }
  }
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (e) {
    throw new Error(`${path} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  countEvents(doc, budget);
  return doc;
}

/** Charges a parsed document's events (traceEvents, or the array of a pre-Kineto trace) to the budget. */
function countEvents(doc: unknown, budget: LoadBudget): void {
  budget.progress = () => 1;
  const events = Array.isArray(doc)
    ? doc
    : typeof doc === 'object' && doc !== null
      ? (doc as { traceEvents?: unknown }).traceEvents
      : undefined;
  if (Array.isArray(events)) budget.events(events.length);
}
