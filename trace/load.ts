/**
 * Opening any trace file CommLens understands, by content rather than name where the
 * two can disagree: gzip is recognised by its magic bytes, JSON by its first character,
 * anything else is read as a Perfetto protobuf. A JSON trace whose top level has
 * `distributedInfo` or `deviceProperties` before `traceEvents` is a PyTorch profiler
 * (Kineto) trace and goes to the Kineto
 * importer.
 */
import * as fs from 'node:fs';
import { importKinetoFile } from './kineto';
import * as zlib from 'node:zlib';
import type { TraceModel } from './model';
import { TraceFormatError } from './errors';
import { readChromeJsonFile, startsWithGzip } from './chromeJson';
import { readPerfetto } from './perfettoReader';
import { LoadBudget, PROTOBUF_BYTE_COST, statRegularFile, type LoadOptions } from './budget';

/** Largest protobuf trace read into memory at once. */
const MAX_PROTOBUF_BYTES = 2 * 1024 * 1024 * 1024 - 1;
/** Largest inflated size of one compressed_packets field. */
const MAX_INFLATED_BYTES = 256 * 1024 * 1024;
/** How much of a JSON file's start is searched for Kineto's top-level keys. */
const SNIFF_BYTES = 256 * 1024;

export type TraceFileKind = 'perfetto' | 'chrome-json' | 'kineto';

/** The kind of trace in `path`, from its first bytes (decompressed when gzip). */
export async function sniffTraceFile(path: string): Promise<TraceFileKind> {
  const head = await readHead(path, SNIFF_BYTES);
  let i = 0;
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) i = 3;
  while (i < head.length && (head[i] === 0x20 || head[i] === 0x0a || head[i] === 0x0d || head[i] === 0x09)) i++;
  if (head[i] !== 0x7b && head[i] !== 0x5b && !looksLikeText(head)) return 'perfetto';
  const text = new TextDecoder().decode(head);
  const events = text.search(/"traceEvents"\s*:/);
  const kineto = text.search(/"(distributedInfo|deviceProperties)"\s*:/);
  return kineto >= 0 && (events < 0 || kineto < events) ? 'kineto' : 'chrome-json';
}

/** Text (so JSON, perhaps not a trace) rather than protobuf: no control bytes other than whitespace. */
function looksLikeText(head: Uint8Array): boolean {
  const n = Math.min(head.length, 512);
  for (let i = 0; i < n; i++) {
    const b = head[i];
    if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) return false;
  }
  return n > 0;
}

async function readHead(path: string, n: number): Promise<Uint8Array> {
  if (await startsWithGzip(path)) {
    const parts: Buffer[] = [];
    let got = 0;
    const stream = fs.createReadStream(path).pipe(zlib.createGunzip());
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        parts.push(chunk);
        got += chunk.length;
        if (got >= n) break;
      }
    } catch {
      // A corrupt gzip stream: sniff what came out; the reader reports the error itself.
    } finally {
      stream.destroy();
    }
    return Buffer.concat(parts).subarray(0, n);
  }
  const fh = await fs.promises.open(path, 'r');
  try {
    const b = Buffer.alloc(n);
    const { bytesRead } = await fh.read(b, 0, n, 0);
    return b.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/**
 * Loads a trace file of any supported kind into the model. Throws TraceFormatError on
 * unusable input, and TraceTooLargeError (a TraceFormatError) when opening it would take
 * more memory than the budget (budget.ts), detected while reading.
 */
export async function loadTraceFile(path: string, opts: LoadOptions = {}): Promise<TraceModel> {
  const stat = statRegularFile(path);
  if (stat.size === 0) throw new TraceFormatError('empty file', { file: path, offset: 0, expected: 'a trace' });
  const kind = await sniffTraceFile(path);
  if (kind === 'kineto') return importKinetoFile(path, opts);
  if (kind === 'chrome-json') return readChromeJsonFile(path, opts);
  if (stat.size > MAX_PROTOBUF_BYTES) throw new TraceFormatError(`protobuf trace of ${stat.size} bytes is larger than ${MAX_PROTOBUF_BYTES}`, { file: path, expected: 'a Perfetto trace under 2 GiB' });
  const budget = new LoadBudget(path, PROTOBUF_BYTE_COST, opts);
  let bytes: Uint8Array;
  if (await startsWithGzip(path)) {
    bytes = await gunzipFileBounded(path, stat.size, budget);
  } else {
    budget.progress = () => 1;
    budget.bytes(stat.size);
    bytes = await fs.promises.readFile(path);
  }
  budget.progress = () => Number.NaN;
  return readPerfetto(bytes, { fileName: path, inflate: (b) => inflateMetered(b, budget), onEvent: () => budget.events(1) });
}

/** Gunzips a whole file as a stream, metering the output as it is produced. */
async function gunzipFileBounded(path: string, size: number, budget: LoadBudget): Promise<Uint8Array> {
  const source = fs.createReadStream(path);
  budget.progress = () => source.bytesRead / size;
  const parts: Buffer[] = [];
  const gunzip = zlib.createGunzip();
  budget.progress = () => gunzip.bytesWritten / size;
  const stream = source.pipe(gunzip);
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      budget.bytes(chunk.length);
      parts.push(chunk);
    }
  } catch (e) {
    if (e instanceof TraceFormatError) throw e;
    throw new TraceFormatError(`gzip error: ${(e as Error).message}`, { file: path, expected: 'a complete gzip stream' });
  } finally {
    source.destroy();
    stream.destroy();
  }
  return Buffer.concat(parts);
}

/** inflateBounded, also charged to (and bounded by) the file's budget. */
function inflateMetered(bytes: Uint8Array, budget: LoadBudget): Uint8Array {
  const left = budget.bytesLeft();
  let out: Uint8Array;
  try {
    out = zlib.inflateSync(bytes, { maxOutputLength: Math.max(1, Math.min(MAX_INFLATED_BYTES, left + 1)) });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' && left < MAX_INFLATED_BYTES) {
      budget.bytes(left + 1);
    }
    throw e;
  }
  budget.bytes(out.length);
  return out;
}

/** Inflates compressed_packets, refusing more than MAX_INFLATED_BYTES per packet (zip bombs). */
export function inflateBounded(bytes: Uint8Array): Uint8Array {
  return zlib.inflateSync(bytes, { maxOutputLength: MAX_INFLATED_BYTES });
}

/** zlib deflate for PerfettoStreamWriter's `compress` option (level 1: speed over size). */
export function deflateFast(bytes: Uint8Array): Uint8Array {
  return zlib.deflateSync(bytes, { level: 1 });
}
