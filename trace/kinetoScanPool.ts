/**
 * Reads many per-rank Kineto files in parallel: one worker thread per core (at most one per
 * file), each reading one file at a time (trace/kinetoScanWorker.ts) and handed the next when
 * it finishes. `scanKinetoFiles` brings back each rank's columns; `reduceKinetoRanks` brings
 * back each rank's reduced model (trace/kinetoRank.ts), made in the worker, so that memory
 * holds the files in flight (one per worker) plus the reduced ranks, not the job's columns.
 * A worker that dies (out of memory, a crash) fails the file it was reading, and a new
 * worker takes the rest: nothing waits for an answer that cannot come.
 */
import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { deserialize } from 'node:v8';
import type { KinetoColumns, ScanProgress } from './kinetoScan';
import type {
  LodReply,
  LodRequest,
  RankPayload,
  RankReply,
  RankRequest,
  ScanReply,
  ScanRequest,
} from './kinetoScanService';
import { unpackModel } from './rankPack';
import { cacheKeyOf, scanCodeId } from './parseCache';
import { lodEntryPath, RankLodFile } from './rankLod';
import type { TraceModel } from './model';

export interface ScanPoolOptions {
  /** Worker threads (default: the cores available, at most the number of files). */
  workers?: number;
  /** The compiled worker script (default: kinetoScanWorker.js beside this module). */
  workerPath?: string;
  /** Called with each rank's columns as soon as it is scanned (in completion order). */
  onRank?: (index: number, columns: KinetoColumns) => void;
  /** Keep every rank's columns in the result (default true); false leaves them to onRank alone. */
  keep?: boolean;
}

type Reply = { index: number; error?: string; at?: ScanProgress };

/** The scan worker's compiled script: `workerPath`, else kinetoScanWorker.js beside this module. */
export function scanWorkerScript(workerPath?: string): string {
  return workerPath ?? join(__dirname, 'kinetoScanWorker.js');
}

/**
 * The parse cache's code id for the reduced ranks and their indexes: that of the scan worker
 * beside this module, whichever worker script serves the requests (analysis/rankDigestWorker.ts
 * runs the same code), so that the CLI and the viewer share entries.
 */
export function scanCode(): string {
  return scanCodeId(scanWorkerScript());
}

/** Requests held by each worker at once: the one it works on and the next (it works on one at a time). */
const IN_FLIGHT = 2;

/**
 * Ranks of more JSON than this (a gzip file counted at 16 times its size) are handed to a worker
 * one at a time: starting the next one at once would hold it beside the last one's garbage (at
 * 8 × 500 MB the peak is the workers'), and what waiting costs such a rank (a round trip to this
 * thread) is nothing beside the seconds it takes.
 */
export const QUEUE_MAX_RANK_BYTES = 128 * 2 ** 20;

/** How many requests each worker holds for these files (IN_FLIGHT, or 1 when one of them is big). */
export function queueDepthFor(paths: readonly string[]): number {
  for (const p of paths) {
    let size: number;
    try {
      size = statSync(p).size;
    } catch {
      continue; // its error is the worker's to report
    }
    if ((p.endsWith('.gz') ? 16 * size : size) > QUEUE_MAX_RANK_BYTES) return 1;
  }
  return IN_FLIGHT;
}

/**
 * Runs `count` requests over a pool of workers; `onReply` sees every answer (a dead worker's
 * request is answered with an error naming how it died). `onReply` throwing stops the pool.
 */
async function runPool<R extends Reply>(
  count: number,
  request: (index: number) => object,
  onReply: (reply: R) => void,
  opts: { workers?: number; workerPath?: string; queueDepth?: number; youngGenerationMb?: number },
): Promise<void> {
  if (count === 0) return;
  const depth = Math.max(1, opts.queueDepth ?? 1);
  const n = Math.max(1, Math.min(opts.workers ?? availableParallelism(), count));
  const script = scanWorkerScript(opts.workerPath);
  const live = new Set<Worker>();
  try {
    await new Promise<void>((resolve, reject) => {
      let next = 0,
        done = 0,
        stopped = false;
      // Requests a lost worker held but had not started: the next worker takes them first.
      const again: number[] = [];
      const left = () => again.length + count - next;
      const take = () => (again.length > 0 ? again.shift()! : next++);
      const answer = (m: R) => {
        if (stopped) return;
        try {
          onReply(m);
        } catch (e) {
          stopped = true;
          reject(e as Error);
          return;
        }
        if (++done === count) resolve();
      };
      const start = () => {
        const w = new Worker(
          script,
          opts.youngGenerationMb !== undefined
            ? { resourceLimits: { maxYoungGenerationSizeMb: opts.youngGenerationMb } }
            : undefined,
        );
        live.add(w);
        // The requests this worker holds, the first being worked on: the next one waits in the
        // worker (it takes them one at a time), so that it starts on it as soon as it replies,
        // not once this thread has dealt with the reply (on 64 ranks of 2 MB each worker was
        // idle a fifth of the time, waiting for the merge of other ranks' replies here).
        const held: number[] = [];
        const feed = () => {
          // A second request only while enough are left for the other workers: one waiting
          // here behind a long rank would leave another worker idle at the end.
          while (!stopped && left() > 0 && held.length < (left() > n ? depth : 1)) {
            const index = take();
            held.push(index);
            w.postMessage(request(index));
          }
        };
        const lost = (why: string) => {
          if (!live.delete(w)) return;
          // The request it was working on fails; the one waiting behind it goes to another worker.
          const [index, ...waiting] = held.splice(0);
          again.push(...waiting);
          if (index !== undefined) answer({ index, error: why } as R);
          // The others go on; a replacement takes the files still waiting.
          if (!stopped && left() > 0) start();
        };
        w.on('message', (m: R) => {
          const k = held.indexOf(m.index);
          if (k >= 0) held.splice(k, 1);
          feed();
          answer(m);
        });
        w.on('error', (e) => lost(`the worker reading it failed: ${e.message}`));
        w.on('exit', (code) => lost(`the worker reading it stopped (exit code ${code})`));
        feed();
      };
      for (let k = 0; k < n; k++) start();
    });
  } finally {
    const ws = [...live];
    live.clear();
    await Promise.all(ws.map((w) => w.terminate()));
  }
}

export async function scanKinetoFiles(paths: string[], opts: ScanPoolOptions = {}): Promise<KinetoColumns[]> {
  const out = new Array<KinetoColumns>(paths.length);
  await runPool<ScanReply & Reply>(
    paths.length,
    (index): ScanRequest => ({ index, path: paths[index] }),
    (m) => {
      if ('error' in m && m.error !== undefined) throw new Error(m.error);
      const columns = (m as { columns: KinetoColumns }).columns;
      if (opts.keep !== false) out[m.index] = columns;
      opts.onRank?.(m.index, columns);
    },
    { ...opts, queueDepth: queueDepthFor(paths) },
  );
  return out;
}

/** One rank file to reduce: its path and, when the file does not say it, its rank. */
export interface RankFile {
  path: string;
  rank?: number;
}

/** What became of one rank file. */
export type RankResult =
  | (Omit<RankPayload, 'model'> & {
      model: TraceModel;
      ok: true;
      fromCache: boolean;
      /** Bytes of the payload the worker posted (the serialised reduced rank): a floor of what it holds once unpacked. */
      payloadBytes: number;
      /** The rank's level-of-detail index (trace/rankLod.ts), when asked for with `lodDirOf`, or why there is none. */
      lodFile?: string;
      lodError?: string;
    })
  | { ok: false; error: string; at?: ScanProgress };

export interface ReduceRanksOptions {
  workers?: number;
  workerPath?: string;
  /** The parse cache's folder for each file (trace/parseCache.ts); undefined: no cache. */
  cacheDirOf?: (path: string) => string;
  /** Called as each rank is done (in completion order). */
  onRank?: (index: number, result: RankResult) => void;
  /** Called with each failed cache write's message. */
  onCacheWarning?: (message: string) => void;
  /** Also each rank's level-of-detail index (trace/rankLod.ts), made in this folder when missing. */
  lodDirOf?: (path: string) => string;
  /** Options for the worker's RankTransform (RankRequest.digest); the reduced rank as it is when absent. */
  digest?: unknown;
  /** The transform's code (RankRequest.digestCode): the parse cache then keeps the ranks digested. */
  digestCode?: string;
}

/**
 * The young generation (MB) of a worker that digests ranks without indexing them (`analyze`,
 * `reduce`), where V8's default lets it grow to 48 MB (semi-spaces of 16 MB) in each worker: 12 MB
 * (semi-spaces of 4 MB). Measured side by side, `analyze --no-cache`, the process's peak RSS and
 * wall (docs/benchmarks.md, 2026-12-06): 8 × 100 MB 388–390 → 319–320 MB and 5.8–5.9 → 5.4–5.5 s;
 * 64 × 100 MB 595 → 457 MB, 30.6 → 31.6 s; 8 × 20 MB 228 → 175 MB, 64 × 2 MB 187 → 165 MB at the
 * same wall time; 8 × 500 MB 934 → 924 MB, 20.5 → 19.9 s; 64 × 20 MB mixed (−10 % once, +9 and
 * +13 % twice). A worker that also indexes its ranks for the viewer keeps V8's default (its
 * one-rank model of every event was not measured with it).
 */
export const DIGEST_WORKER_YOUNG_GENERATION_MB = 12;

/** The young generation for workers serving these options' rank requests (undefined: V8's default). */
function youngGenerationFor(opts: ReduceRanksOptions): number | undefined {
  return opts.digest !== undefined && opts.lodDirOf === undefined ? DIGEST_WORKER_YOUNG_GENERATION_MB : undefined;
}

/** The `rank` request for file `index`. */
function rankRequestOf(files: RankFile[], opts: ReduceRanksOptions, code: string): (index: number) => RankRequest {
  return (index) => ({
    kind: 'rank',
    index,
    path: files[index].path,
    rank: files[index].rank,
    cacheDir: opts.cacheDirOf?.(files[index].path),
    ...(opts.lodDirOf ? { lod: { dir: opts.lodDirOf(files[index].path) } } : {}),
    code,
    ...(opts.digest !== undefined ? { digest: opts.digest } : {}),
    ...(opts.digest !== undefined && opts.digestCode !== undefined ? { digestCode: opts.digestCode } : {}),
  });
}

/** Each rank file's reduced model (or why it could not be read), in the order given. */
export async function reduceKinetoRanks(files: RankFile[], opts: ReduceRanksOptions = {}): Promise<RankResult[]> {
  const out = new Array<RankResult>(files.length);
  await runPool<RankReply & Reply>(
    files.length,
    rankRequestOf(files, opts, scanCode()),
    (m) => {
      let r: RankResult;
      if ('payload' in m) {
        if (m.cacheWarning) opts.onCacheWarning?.(m.cacheWarning);
        try {
          const p = deserialize(new Uint8Array(m.payload)) as RankPayload;
          r = {
            ok: true,
            ...p,
            model: unpackModel(p.model),
            fromCache: m.fromCache,
            payloadBytes: m.payload.byteLength,
          };
          if (m.lodFile !== undefined) r.lodFile = m.lodFile;
          if (m.lodError !== undefined) r.lodError = m.lodError;
        } catch (e) {
          r = {
            ok: false,
            error: `${files[m.index].path}: its reduced form could not be read (${(e as Error).message})`,
          };
        }
      } else r = { ok: false, error: m.error ?? 'unknown error', at: m.at };
      out[m.index] = r;
      opts.onRank?.(m.index, r);
    },
    { ...opts, queueDepth: queueDepthFor(files.map((f) => f.path)), youngGenerationMb: youngGenerationFor(opts) },
  );
  return out;
}

/** What became of one rank file, as its serialised payload (RankPayload, node:v8), not unpacked. */
export type RankPayloadResult =
  { ok: true; payload: Uint8Array; fromCache: boolean } | { ok: false; error: string; at?: ScanProgress };

/**
 * The same requests as reduceKinetoRanks, each rank's reply handed to `onPayload` as the worker
 * posted it (the serialised RankPayload, not unpacked) as soon as it comes (in completion
 * order): what `commlens reduce` writes into a rank summary (trace/rankSummaryFile.ts).
 */
export async function reduceKinetoRankPayloads(
  files: RankFile[],
  opts: Omit<ReduceRanksOptions, 'onRank'>,
  onPayload: (index: number, result: RankPayloadResult) => void,
): Promise<void> {
  await runPool<RankReply & Reply>(
    files.length,
    rankRequestOf(files, opts, scanCode()),
    (m) => {
      if ('payload' in m) {
        if (m.cacheWarning) opts.onCacheWarning?.(m.cacheWarning);
        onPayload(m.index, { ok: true, payload: new Uint8Array(m.payload), fromCache: m.fromCache });
      } else onPayload(m.index, { ok: false, error: m.error ?? 'unknown error', at: m.at });
    },
    { ...opts, queueDepth: queueDepthFor(files.map((f) => f.path)), youngGenerationMb: youngGenerationFor(opts) },
  );
}

/** What became of one rank file's level-of-detail index. */
export type LodResult = { ok: true; lodFile: string } | { ok: false; error: string; at?: ScanProgress };

/**
 * Each rank file's level-of-detail index (trace/rankLod.ts), in `lodDirOf(path)`: the file of
 * a matching index already there, else one made from a scan of the rank (in the pool's workers).
 */
export async function indexKinetoRanks(
  files: RankFile[],
  opts: {
    workers?: number;
    workerPath?: string;
    lodDirOf: (path: string) => string;
    /** Called as each rank's index is there (made, found, or failed), with how many are. */
    onRank?: (done: number) => void;
  },
): Promise<LodResult[]> {
  const out = new Array<LodResult>(files.length);
  let done = 0;
  await runPool<LodReply & Reply>(
    files.length,
    (index): LodRequest => ({
      kind: 'lod',
      index,
      path: files[index].path,
      rank: files[index].rank,
      lod: { dir: opts.lodDirOf(files[index].path) },
      code: scanCode(),
    }),
    (m) => {
      out[m.index] =
        'lodFile' in m ? { ok: true, lodFile: m.lodFile } : { ok: false, error: m.error ?? 'unknown error', at: m.at };
      opts.onRank?.(++done);
    },
    { ...opts, queueDepth: queueDepthFor(files.map((f) => f.path)), youngGenerationMb: youngGenerationFor(opts) },
  );
  return out;
}

/**
 * Each rank file's level-of-detail index opened (its meta read), when every one is in the cache
 * and matches (looked up on this thread, as the scan workers would: no worker is started);
 * undefined, with none left open, when one is not. One pass over the files: a re-open of 1,024
 * ranks looked each index up, sized it and opened it in three (~0.17 s of the 1 s).
 */
export function openCachedLodFiles(
  files: RankFile[],
  opts: { lodDirOf: (path: string) => string },
): RankLodFile[] | undefined {
  const code = scanCode();
  const out: RankLodFile[] = [];
  for (const f of files) {
    let opened: RankLodFile | undefined;
    try {
      const key = cacheKeyOf(f.path, f.rank, code);
      opened = RankLodFile.open(lodEntryPath(opts.lodDirOf(f.path), key), key);
    } catch {
      // the file cannot be read: the scan says why
    }
    if (!opened) {
      for (const r of out) r.close();
      return undefined;
    }
    out.push(opened);
  }
  return out;
}
