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
import { describeTraceFile, readHeadSync, type TraceRun } from './discover';
import { importKinetoFolder } from './kineto';
import { isSummaryFile } from './rankSummaryFile';

/** A rank summary (`commlens reduce`) holds a digest of its rank, not its events: only `analyze` reads it. */
function refuseSummary(path: string): void {
  if (isSummaryFile(path))
    throw new TraceFormatError(
      "is a CommLens rank summary (commlens reduce): it holds a digest of its rank, not the rank's events, and only `commlens analyze` reads it",
      { file: path, expected: 'the trace it was made from' },
    );
}

/** Largest protobuf trace read into memory at once. */
const MAX_PROTOBUF_BYTES = 2 * 1024 * 1024 * 1024 - 1;
/** Largest inflated size of one compressed_packets field. */
const MAX_INFLATED_BYTES = 256 * 1024 * 1024;

export type TraceFileKind = 'perfetto' | 'chrome-json' | 'kineto' | 'pre-kineto';

/** The kind of trace in `path`, from its first bytes (decompressed when gzip); see trace/discover.ts. */
export async function sniffTraceFile(path: string): Promise<TraceFileKind> {
  const info = describeTraceFile(path);
  if (info.kind !== 'unknown') return info.kind;
  // Unrecognised: text goes to the JSON reader, anything else to the protobuf reader; each says what is wrong.
  const head = readHeadSync(path, 512);
  return head.length > 0 && head.every((b) => b >= 0x20 || b === 0x09 || b === 0x0a || b === 0x0d)
    ? 'chrome-json'
    : 'perfetto';
}

/**
 * Loads one run found by discoverTraces: its per-rank files (Kineto or pre-Kineto)
 * merged into one model, or its one whole-job file. Ranks that the files do not state
 * are never made up: several per-rank files without ranks are an error saying how to
 * name them.
 */
export async function loadRun(run: TraceRun, opts: LoadOptions = {}): Promise<TraceModel> {
  if (run.kind !== 'kineto' && run.kind !== 'pre-kineto') return loadTraceFile(run.files[0].path, opts);
  assertRanked(run);
  for (const f of run.files) refuseSummary(f.path);
  return importKinetoFolder(
    run.files.map((f) => f.path),
    { ...opts, ranks: run.files.map((f) => f.rank) },
  );
}

/** Throws when a run of several per-rank files has files whose rank nothing says. */
export function assertRanked(run: TraceRun): void {
  const unranked = run.files.filter((f) => f.rank === undefined);
  if (run.files.length > 1 && unranked.length > 0) {
    throw new TraceFormatError(
      `cannot tell which rank wrote ${unranked.map((f) => f.path).join(', ')}: ${run.kind === 'pre-kineto' ? 'a trace from PyTorch without Kineto (a JSON array of events) has no distributedInfo' : 'the trace has no distributedInfo'} and the file name has no rank`,
      {
        expected:
          "files named by rank (rank0.json, rank1.json ...: prof.export_chrome_trace(f'rank{dist.get_rank()}.json')), one file at a time with --rank N, or traces from a PyTorch build with Kineto (torch.profiler writes distributedInfo)",
      },
    );
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
  refuseSummary(path);
  const kind = await sniffTraceFile(path);
  if (kind === 'kineto' || kind === 'pre-kineto') return importKinetoFile(path, opts);
  if (kind === 'chrome-json') return readChromeJsonFile(path, opts);
  if (stat.size > MAX_PROTOBUF_BYTES)
    throw new TraceFormatError(`protobuf trace of ${stat.size} bytes is larger than ${MAX_PROTOBUF_BYTES}`, {
      file: path,
      expected: 'a Perfetto trace under 2 GiB',
    });
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
  return readPerfetto(bytes, {
    fileName: path,
    inflate: (b) => inflateMetered(b, budget),
    onEvent: () => budget.events(1),
  });
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
    throw new TraceFormatError(`gzip error: ${(e as Error).message}`, {
      file: path,
      expected: 'a complete gzip stream',
    });
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
