/**
 * Opening any trace file CommLens understands, by content rather than name where the
 * two can disagree: gzip is recognised by its magic bytes, JSON by its first character,
 * anything else is read as a Perfetto protobuf. A JSON trace whose top level has
 * `distributedInfo` or `deviceProperties` before `traceEvents` is a PyTorch profiler
 * (Kineto) trace and goes to the Kineto importer.
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import type { TraceModel } from './model';
import { TraceFormatError } from './errors';
import { readChromeJsonFile, startsWithGzip } from './chromeJson';
import { readPerfetto } from './perfettoReader';

/** Largest protobuf trace read into memory at once. */
const MAX_PROTOBUF_BYTES = 2 * 1024 * 1024 * 1024 - 1;
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

/** Loads a trace file of any supported kind into the model. Throws TraceFormatError on unusable input. */
export async function loadTraceFile(path: string): Promise<TraceModel> {
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(path);
  } catch (e) {
    throw new TraceFormatError(`cannot open: ${(e as Error).message}`, { file: path, expected: 'a readable trace file' });
  }
  if (!stat.isFile()) throw new TraceFormatError('not a file', { file: path, expected: 'a trace file' });
  if (stat.size === 0) throw new TraceFormatError('empty file', { file: path, offset: 0, expected: 'a trace' });
  const kind = await sniffTraceFile(path);
  if (kind === 'kineto') return importKineto(path);
  if (kind === 'chrome-json') return readChromeJsonFile(path);
  if (stat.size > MAX_PROTOBUF_BYTES) throw new TraceFormatError(`protobuf trace of ${stat.size} bytes is larger than ${MAX_PROTOBUF_BYTES}`, { file: path, expected: 'a Perfetto trace under 2 GiB' });
  let bytes: Uint8Array = await fs.promises.readFile(path);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = zlib.gunzipSync(bytes, { maxOutputLength: MAX_PROTOBUF_BYTES });
    } catch (e) {
      throw new TraceFormatError(`gzip error: ${(e as Error).message}`, { file: path, expected: 'a complete gzip stream' });
    }
  }
  return readPerfetto(bytes, { fileName: path });
}

/** Module of the Kineto importer, resolved at run time so this file builds without it. */
const KINETO_MODULE = './kineto';

async function importKineto(path: string): Promise<TraceModel> {
  let mod: { importKinetoFile?: (p: string) => Promise<TraceModel> } | undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(KINETO_MODULE) as typeof mod;
  } catch {
    mod = undefined;
  }
  if (typeof mod?.importKinetoFile !== 'function') throw new TraceFormatError('Kineto import not available', { file: path, expected: 'a build of CommLens with the Kineto importer (trace/kineto.ts)' });
  return mod.importKinetoFile(path);
}
