/**
 * A PyTorch profiler (Kineto) job for the analysis, reduce-then-merge: each rank file is
 * scanned and reduced in the worker pool (trace/kinetoScanPool.ts, trace/kinetoRank.ts), or
 * taken from the parse cache (trace/parseCache.ts), and the reduced ranks are merged here into
 * one model (trace/kinetoMerge.ts) that the analysis reads like the importer's. Memory holds
 * the files in flight (one per worker) and the reduced ranks, never a whole file's JSON or
 * columns at once beyond the one being read.
 *
 * A rank file that cannot be read (cut short, corrupt, not Kineto) is left out and said: its
 * path, the byte where reading stopped and what had been read (events, steps). The others are
 * analysed; only when no rank can be read is it an error.
 */
import { TraceFormatError } from './errors';
import type { ScanProgress } from './kinetoScan';
import { reduceKinetoRanks, type RankFile } from './kinetoScanPool';
import type { RankTransform } from './kinetoScanService';
import { mergeRankModels, type MergePlace } from './kinetoMerge';
import { getHeapStatistics, serialize, deserialize } from 'node:v8';
import { totalmem } from 'node:os';
import { formatBytes } from './format';
import { CACHE_FORMAT, cacheDirFor, cacheKeyOf, readEntryParts, writeEntry, type JobKey } from './parseCache';
import { loadFacts, saveFacts } from './fileFacts';
import type { TraceModel } from './model';

export interface KinetoJobOptions {
  /** false: no parse cache; else its folder (default: COMMLENS_CACHE_DIR, else `.commlens-cache` beside each trace). */
  cache?: false | { dir?: string };
  workers?: number;
  workerPath?: string;
  /** The heap this process may use (default: V8's limit); the job is refused before it would pass it (JobTooLargeError). */
  heapLimitBytes?: number;
  /** Also each rank's level-of-detail index (trace/rankLod.ts), made in this folder when missing (`lodFiles`). */
  lodDirOf?: (path: string) => string;
  /** Options for the workers' RankTransform (analysis/rankDigestWorker.ts): each rank comes back digested (`digests`). */
  digest?: unknown;
  /** With `digest`: the transform's code (a hash); the parse cache then keeps the ranks digested (trace/parseCache.ts). */
  digestCode?: string;
  /** With `digest`: the same transform, applied here to a rank that came back without a digest (a worker without one). */
  localTransform?: RankTransform;
  /** Called before the first rank file is read, then as each one is done (read, or taken from the parse cache, or failed). */
  onProgress?: (p: JobProgress) => void;
}

/** How far the reading of a job's rank files has got. */
export interface JobProgress {
  /** Rank files done (failed ones included) of `ranks`. */
  done: number;
  ranks: number;
  /** Of those done, how many came from the parse cache. */
  fromCache: number;
}

export interface RankFailure {
  path: string;
  rank?: number;
  message: string;
  at?: ScanProgress;
}

export interface KinetoJob {
  model: TraceModel;
  /** Rank files left out, with why. */
  failures: RankFailure[];
  /** One line when cache entries could not be written (the analysis is not affected). */
  cacheWarning?: string;
  /** Ranks taken from the parse cache. */
  fromCache: number;
  /** JSON bytes of the ranks read (from the cache too). */
  jsonBytes: number;
  /** Events in the rank files, and in their reduced forms. */
  eventsIn: number;
  eventsKept: number;
  /**
   * Each slice's index in the model the importer would make of the same files (trace/kineto.ts
   * importKinetoFolder): the analysis' slice indexes (`sliceIndex`, report links) are given in
   * those terms with analysis/sliceIndexes.ts, so that they point at the same spans as in the viewer.
   */
  sliceOrigin: Int32Array;
  /** Per rank read (in model order): what the workers' RankTransform added, when asked for with `digest`. */
  digests: unknown[];
  /** Per rank read (in model order): where the merge put it (trace/kinetoMerge.ts); empty when the merge reordered slices. */
  places: MergePlace[];
  /** With `lodDirOf`: the index file of each rank read (in model order), or why it could not be made. */
  lodFiles?: ({ file: string } | { error: string })[];
}

/** The line that says a rank file was left out: which, why, and what had been read of it. */
export function describeRankFailure(f: RankFailure): string {
  const who = f.rank !== undefined ? `rank ${f.rank} (${f.path})` : f.path;
  let detail = f.message;
  if (detail.startsWith(f.path)) detail = detail.slice(f.path.length).replace(/^:?\s*/, '');
  const read = f.at
    ? `; reading stopped at JSON byte ${f.at.offset} after ${f.at.events} event(s) and ${f.at.steps} ProfilerStep(s)`
    : '';
  return `${who}${/^is /.test(detail) ? ' ' : ': '}${detail}${read}; this rank is left out of the analysis`;
}

/**
 * Of the heap limit, the share the reduced ranks may take while they arrive: the merge and the
 * analysis need the rest. Measured on the tiled jobs of bench:scale with Node's default 4 GiB
 * heap: 64 × 100 MB (about 2.7 GB of reduced ranks) was analysed; 1,024 × 10 MB (about 4 GB)
 * ran out of memory before this check existed.
 */
export const RANKS_HEAP_SHARE = 0.75;

/** A job whose reduced ranks would not fit in this process's heap, said before Node runs out of memory. */
export class JobTooLargeError extends TraceFormatError {
  constructor(
    readonly ranksRead: number,
    readonly ranks: number,
    readonly heapUsedBytes: number,
    readonly heapLimitBytes: number,
  ) {
    const need = (heapUsedBytes / Math.max(1, ranksRead)) * ranks;
    // Twice the ranks (the merge and the analysis of many ranks take about as much again), in MiB as --max-old-space-size takes it.
    const mb = Math.ceil((2 * need) / 2 ** 20 / 256) * 256;
    super(
      `this job does not fit in the memory Node gives this process: after ${ranksRead} of ${ranks} ranks its reduced ranks hold ${formatBytes(heapUsedBytes)} of a ${formatBytes(heapLimitBytes)} heap, so all ${ranks} would need about ${formatBytes(need)} before the analysis; ` +
        `run it with more heap, NODE_OPTIONS=--max-old-space-size=${mb} (this machine has ${formatBytes(totalmem())} of memory), or analyse a subset of the ranks (a folder holding fewer rank files)`,
    );
    this.name = 'JobTooLargeError';
  }
}

export async function loadKinetoJob(files: RankFile[], opts: KinetoJobOptions = {}): Promise<KinetoJob> {
  const cache = opts.cache;
  const cacheWarnings: string[] = [];
  // The reduced ranks live on this thread's heap until the analysis is done: past its limit Node
  // would abort the whole process. Each arriving rank is weighed, and the job refused (with
  // what it would take) as soon as the ranks read so far, projected to all, would pass their share.
  const heapLimit = opts.heapLimitBytes ?? getHeapStatistics().heap_size_limit;
  const heapBase = process.memoryUsage().heapUsed;
  let arrived = 0,
    payloads = 0,
    cachedRanks = 0;
  opts.onProgress?.({ done: 0, ranks: files.length, fromCache: 0 });
  const results = await reduceKinetoRanks(files, {
    onRank: (_, r) => {
      arrived++;
      if (r.ok) payloads += r.payloadBytes;
      if (r.ok && r.fromCache) cachedRanks++;
      opts.onProgress?.({ done: arrived, ranks: files.length, fromCache: cachedRanks });
      // From a sixteenth of the ranks on (at least two): one rank's garbage is not yet a trend.
      if (arrived < Math.max(2, Math.ceil(files.length / 16)) || arrived === files.length) return;
      // The heap's growth, and at least the ranks' payloads: a collection of earlier garbage
      // between the start and now can make the growth read less than what the ranks hold.
      const held = Math.max(payloads, process.memoryUsage().heapUsed - heapBase);
      if ((held / arrived) * files.length > RANKS_HEAP_SHARE * heapLimit)
        throw new JobTooLargeError(arrived, files.length, held, heapLimit);
    },
    workers: opts.workers,
    workerPath: opts.workerPath,
    cacheDirOf: cache === false ? undefined : (p) => cacheDirFor(p, cache?.dir),
    onCacheWarning: (m) => cacheWarnings.push(m),
    lodDirOf: opts.lodDirOf,
    digest: opts.digest,
    digestCode: opts.digestCode,
  });
  if (opts.digest !== undefined && opts.localTransform)
    for (let i = 0; i < results.length; i++) {
      const r = results[i];
      if (r.ok && r.digest === undefined) results[i] = { ...r, ...opts.localTransform(opts.digest, r) };
    }
  const digests: unknown[] = [];
  const lodFiles: ({ file: string } | { error: string })[] = [];
  const models: TraceModel[] = [];
  const failures: RankFailure[] = [];
  let fromCache = 0,
    jsonBytes = 0,
    eventsIn = 0,
    eventsKept = 0,
    reducedSlices = 0;
  for (const r of results) if (r.ok) reducedSlices += r.model.slices.length;
  const sliceOrigin = new Int32Array(reducedSlices);
  let reducedBase = 0,
    fullBase = 0;
  results.forEach((r, i) => {
    if (r.ok) {
      // mergeRankModels puts the ranks' slices one after the other, in this order, as the importer's merge does.
      for (let k = 0; k < r.sliceOrigin.length; k++) sliceOrigin[reducedBase + k] = fullBase + r.sliceOrigin[k];
      reducedBase += r.model.slices.length;
      fullBase += r.fullSlices;
      models.push(r.model);
      digests.push(r.digest);
      if (opts.lodDirOf)
        lodFiles.push(
          r.lodFile !== undefined && r.lodError === undefined
            ? { file: r.lodFile }
            : { error: `${files[i].path}: ${r.lodError ?? 'no level-of-detail index came back'}` },
        );
      if (r.fromCache) fromCache++;
      jsonBytes += r.bytes;
      eventsIn += r.eventsIn;
      eventsKept += r.eventsKept;
    } else failures.push({ path: files[i].path, rank: files[i].rank, message: r.error, at: r.at });
  });
  if (models.length === 0) {
    const f = failures[0];
    throw new TraceFormatError(
      failures.length === 1
        ? describeRankFailure(f).replace(/; this rank is left out of the analysis$/, '')
        : `no rank could be read: ${failures.map(describeRankFailure).join('; ')}`,
      {
        expected: 'a complete PyTorch profiler (Kineto) trace: a JSON object with a "traceEvents" array, plain or gzip',
      },
    );
  }
  const places: MergePlace[] = [];
  const model = mergeRankModels(models, places);
  for (const f of failures) model.warnings.push(describeRankFailure(f));
  const cacheWarning =
    cacheWarnings.length > 0
      ? `${cacheWarnings[0]}${cacheWarnings.length > 1 ? ` (and ${cacheWarnings.length - 1} more rank(s))` : ''}: the analysis is not affected; --cache-dir DIR puts the cache elsewhere, --no-cache skips it`
      : undefined;
  return {
    model,
    failures,
    cacheWarning,
    fromCache,
    jsonBytes,
    eventsIn,
    eventsKept,
    sliceOrigin,
    digests,
    places,
    ...(opts.lodDirOf ? { lodFiles } : {}),
  };
}

/** Where a job's analysis is cached, and its key (trace/parseCache.ts JobKey). */
export interface JobCache {
  dir: string;
  key: JobKey;
}

/**
 * The job's cache entry: in the cache folder of its first file, keyed by every rank file's
 * key, the analysis `options` and `code` (a hash of the code that analyses). Undefined when a
 * file cannot be read (the loading then says why).
 */
export function jobCacheOf(
  files: RankFile[],
  opts: { dir?: string; options: unknown; code: string },
): JobCache | undefined {
  try {
    const dir = cacheDirFor(files[0].path, opts.dir);
    loadFacts(dir);
    const ranks = files.map((f) => cacheKeyOf(f.path, f.rank, opts.code));
    // What was learnt of the files (their heads here, their kinds when they were listed) is
    // kept for the next open (trace/fileFacts.ts).
    saveFacts(
      dir,
      files.map((f) => f.path),
    );
    return {
      dir,
      key: { format: CACHE_FORMAT, ranks, options: opts.options, code: opts.code },
    };
  } catch {
    return undefined;
  }
}

/**
 * The cached result of the job, when its entry is there and matches; undefined otherwise. With
 * `apart`: what writeJobResult was given apart, read when asked for (it throws when the entry
 * was replaced since).
 */
export function readJobResult(c: JobCache): { value: unknown; apart?: () => Buffer } | undefined {
  const parts = readEntryParts(c.dir, c.key);
  if (!parts) return undefined;
  try {
    return { value: deserialize(parts.payload), ...(parts.tail ? { apart: parts.tail } : {}) };
  } catch {
    return undefined;
  }
}

/**
 * Caches the job's result, and bytes of it (`apart`) that a read leaves on disk until they are
 * asked for; returns a warning when it cannot be written.
 */
export function writeJobResult(c: JobCache, value: unknown, apart?: Uint8Array): string | undefined {
  try {
    writeEntry(c.dir, c.key, serialize(value), apart);
    // A first analysis made the folder just now: what jobCacheOf learnt of the files is kept too.
    saveFacts(
      c.dir,
      c.key.ranks.map((r) => r.file),
    );
    return undefined;
  } catch (e) {
    return `could not write the parse cache in ${c.dir} (${(e as Error).message}): the analysis is not affected; --cache-dir DIR puts the cache elsewhere, --no-cache skips it`;
  }
}
