/**
 * The Kineto scan workers' service (trace/kinetoScanWorker.ts is its entry; analysis/
 * rankDigestWorker.ts serves it too, adding a digest of each rank). Kinds of request:
 * - `columns`: scans the file and posts its columns back, buffers transferred (not copied);
 * - `rank`: the rank's reduced model (trace/kinetoRank.ts), made here so that only it leaves
 *   the worker and the columns are freed with the file: taken from the parse cache when an
 *   entry matches (trace/parseCache.ts), else scanned, reduced and written to the cache; it is
 *   posted serialised (node:v8, the cache's own bytes; its slices and flows packed as typed-array
 *   columns, trace/rankPack.ts, which serialise as bytes) with its buffer transferred. With
 *   `digest` (options this folder does not read) and a `transform` given to serveScanRequests,
 *   the reduced rank goes through it before it is posted (the cache keeps the reduced rank).
 * - `lod`, or `rank` with `lod`: also the rank's level-of-detail index (trace/rankLod.ts), built
 *   from the same columns (a one-rank model dropped after) and written beside the reduced model
 *   under the same key, unless a matching index is there already; the reply names its file.
 * A rank summary file (trace/rankSummaryFile.ts, `commlens reduce`) is a `rank` request's payload
 * already: it is checked and posted as it is, with no scan and no parse-cache entry (it is its
 * own cache); it has no level-of-detail index (it holds no whole rank).
 * A file that cannot be read is answered with the error and how far the scan got.
 */
import { parentPort } from 'node:worker_threads';
import { deserialize, serialize } from 'node:v8';
import { KinetoScanError, scanKinetoFile, type KinetoColumns, type ScanProgress } from './kinetoScan';
import { rankModelFromColumns, type RankModel } from './kinetoRank';
import { cacheKeyOf, readEntry, scanCodeId, writeEntry } from './parseCache';
import { packModel, unpackModel, type PackedModel } from './rankPack';
import type { TraceModel } from './model';
import { buildRankLod, lodEntryPath, rankFullModel, rankLodMatches, writeRankLod } from './rankLod';
import { isSummaryFile, readSummaryFile } from './rankSummaryFile';

export interface ScanRequest {
  kind?: 'columns';
  index: number;
  path: string;
}

export interface RankRequest {
  kind: 'rank';
  index: number;
  path: string;
  rank?: number;
  /** The cache folder; absent: no cache. */
  cacheDir?: string;
  /** Also the rank's level-of-detail index, in this folder. */
  lod?: { dir: string };
  /** The parse cache's code id (scanCode): the same whichever worker script serves the request. */
  code?: string;
  /** Options of the worker's RankTransform (analysis/rankDigestWorker.ts); ignored by a worker without one. */
  digest?: unknown;
  /**
   * The code of that transform (a hash): with it, the parse cache keeps the rank as it is posted,
   * digested (parseCache.ts CacheKey.digest), instead of the whole reduced rank.
   */
  digestCode?: string;
}

/** The rank's level-of-detail index alone (its file, made when missing). */
export interface LodRequest {
  kind: 'lod';
  index: number;
  path: string;
  rank?: number;
  lod: { dir: string };
  code?: string;
}

export type LodReply = { index: number; lodFile: string } | { index: number; error: string; at?: ScanProgress };

export type ScanReply = { index: number; columns: KinetoColumns } | { index: number; error: string; at?: ScanProgress };

/** What a `rank` payload deserialises to. */
export interface RankPayload {
  /** The reduced model, packed as columns (trace/rankPack.ts). */
  model: PackedModel;
  eventsIn: number;
  eventsKept: number;
  /** JSON bytes of the file. */
  bytes: number;
  /** Each slice's index in the model the importer makes of the whole file, and that model's slice count. */
  sliceOrigin: Int32Array;
  fullSlices: number;
  /** What the worker's RankTransform adds (analysis/rankDigest.ts), when the request asked for it. */
  digest?: unknown;
}

/** A rank's reduced model as the worker holds it, before it is packed. */
export interface ReducedRank {
  model: TraceModel;
  eventsIn: number;
  eventsKept: number;
  bytes: number;
  sliceOrigin: Int32Array;
  fullSlices: number;
  /**
   * The runtime calls kept as launch times only (trace/kinetoRank.ts launchTable): such a rank
   * is only digested (the transform reads them), never posted or cached whole.
   */
  launches?: RankModel['launches'];
}

/** Turns a reduced rank into what is posted (a smaller model and what it adds), given the request's `digest` options. */
export type RankTransform = (options: unknown, r: ReducedRank) => ReducedRank & { digest?: unknown };

export type RankReply =
  | {
      index: number;
      payload: ArrayBuffer;
      fromCache: boolean;
      cacheWarning?: string;
      /** The level-of-detail index's file (when asked for), or why it could not be made. */
      lodFile?: string;
      lodError?: string;
    }
  | { index: number; error: string; at?: ScanProgress };

function buffersOf(c: KinetoColumns): ArrayBuffer[] {
  return [c.ph, c.cat, c.name, c.pid, c.tid, c.ts, c.dur, c.correlation, c.externalId, c.stream].map(
    (a) => a.buffer as ArrayBuffer,
  );
}

/** The code that makes the reduced form and the index, for the cache key (trace/parseCache.ts scanCodeId): the pool's, else this script's. */
const codeId = (req: { code?: string }): string => req.code ?? scanCodeId(__filename);

function ownBuffer(b: Buffer): ArrayBuffer {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) return b.buffer as ArrayBuffer;
  const copy = new Uint8Array(b.byteLength);
  copy.set(b);
  return copy.buffer;
}

/** A rank's columns, handed over once: the one-rank model is made from them, then they are let go. */
export type HeldColumns = { columns?: KinetoColumns };

/**
 * The columns of the rank at `path`, held only by the returned object. An async function
 * resumed by an awaited value runs in a microtask that holds that value until the function
 * reaches its next await: the reduction and digest after `await scanKinetoFile()` ran inside
 * it, so the columns (a 500 MB rank's 120 MB) stayed alive to the end of the digest, whatever
 * reduceHeld let go. The caller awaits this instead; the resolved value is the holder, not the
 * columns.
 */
export async function heldColumnsOf(path: string): Promise<HeldColumns> {
  return { columns: await scanKinetoFile(path) };
}

/** The one-rank model of every event; the columns are released before it is returned. */
function takeFullModel(held: HeldColumns, req: { path: string; rank?: number }): TraceModel {
  const model = rankFullModel(held.columns!, { fileName: req.path, rank: req.rank });
  freeColumns(held.columns!);
  held.columns = undefined;
  return model;
}

/**
 * The index file of the rank of `key` in `dir` when it is missing or stale: made from the held
 * columns, which are released once the one-rank model is made (the peak is the model and the
 * index, not the columns too).
 */
function ensureLod(
  dir: string,
  key: ReturnType<typeof cacheKeyOf>,
  held: HeldColumns,
  req: { path: string; rank?: number },
): string {
  const file = lodEntryPath(dir, key);
  if (rankLodMatches(file, key)) return file;
  writeRankLod(file, key, buildRankLod(takeFullModel(held, req)));
  return file;
}

const NO_LOD =
  'it is a rank summary (commlens reduce), which holds no whole rank to view: open the trace it was made from';

async function lod(req: LodRequest): Promise<LodReply> {
  if (isSummaryFile(req.path)) throw new Error(NO_LOD);
  const key = cacheKeyOf(req.path, req.rank, codeId(req));
  const file = lodEntryPath(req.lod.dir, key);
  if (rankLodMatches(file, key)) return { index: req.index, lodFile: file };
  const held = await heldColumnsOf(req.path);
  return { index: req.index, lodFile: ensureLod(req.lod.dir, key, held, req) };
}

/** The payload posted for a reduced rank: as it is, or through the transform when the request asks for one. */
function payloadOf(r: ReducedRank, req: RankRequest, transform: RankTransform | undefined): Buffer {
  if (!transform || req.digest === undefined) {
    if (r.launches)
      throw new Error('kinetoScanService: a rank reduced with a launch table is only posted digested, not whole');
    return serialize({
      model: packModel(r.model),
      eventsIn: r.eventsIn,
      eventsKept: r.eventsKept,
      bytes: r.bytes,
      sliceOrigin: r.sliceOrigin,
      fullSlices: r.fullSlices,
    } satisfies RankPayload);
  }
  const t = transform(req.digest, r);
  return serialize({
    model: packModel(t.model),
    eventsIn: t.eventsIn,
    eventsKept: t.eventsKept,
    bytes: t.bytes,
    sliceOrigin: t.sliceOrigin,
    fullSlices: t.fullSlices,
    ...(t.digest !== undefined ? { digest: t.digest } : {}),
  } satisfies RankPayload);
}

function reducedOf(payload: RankPayload): ReducedRank {
  return { ...payload, model: unpackModel(payload.model) };
}

/**
 * Frees the columns' memory now: their buffers are transferred into a clone that is dropped at
 * once (its young buffers go at the next scavenge), so the digest that follows does not run on
 * top of them. Let go by reference only, they waited for a full collection (the JS buffer
 * objects are old by then), which came after the digest's peak, if at all. The columns are
 * empty (detached) after.
 */
function freeColumns(c: KinetoColumns): void {
  structuredClone(undefined, { transfer: buffersOf(c) });
}

/**
 * The held columns' reduced rank. With `release`, the holder lets go of the columns and they are
 * freed once the model is made (not as soon as the reduction has read them: freed before the
 * model is finished, a 500 MB rank's worker peaked ~100 MB higher, 472-483 against 363-368 MB in
 * three runs each; V8 collects less eagerly once the columns' external memory is gone).
 * `launchTable`: the rank will only be digested (trace/kinetoRank.ts RankModelOptions.launchTable),
 * so its runtime calls that launched GPU work can be launch times instead of slices.
 */
export function reduceHeld(held: HeldColumns, req: RankRequest, release: boolean, launchTable = false): ReducedRank {
  const columns = held.columns!;
  if (release) held.columns = undefined;
  const r = rankModelFromColumns(columns, { fileName: req.path, rank: req.rank, launchTable });
  const bytes = columns.bytes;
  if (release) freeColumns(columns);
  return {
    model: r.model,
    eventsIn: r.eventsIn,
    eventsKept: r.eventsKept,
    bytes,
    sliceOrigin: r.sliceOrigin,
    fullSlices: r.fullSlices,
    ...(r.launches ? { launches: r.launches } : {}),
  };
}

async function rank(
  req: RankRequest,
  transform: RankTransform | undefined,
): Promise<{ reply: RankReply; transfer: ArrayBuffer[] }> {
  if (isSummaryFile(req.path)) {
    const payload = ownBuffer(readSummaryFile(req.path).payload);
    return {
      reply: { index: req.index, payload, fromCache: false, ...(req.lod ? { lodError: NO_LOD } : {}) },
      transfer: [payload],
    };
  }
  const transforms = transform !== undefined && req.digest !== undefined;
  let key: ReturnType<typeof cacheKeyOf> | undefined;
  // The entry of the rank as posted when it is digested with a known code, else of the whole rank.
  let postedKey: ReturnType<typeof cacheKeyOf> | undefined;
  let hit: Buffer | undefined;
  let postedHit: Buffer | undefined;
  if (req.cacheDir !== undefined || req.lod) {
    try {
      key = cacheKeyOf(req.path, req.rank, codeId(req));
      postedKey =
        transforms && req.digestCode !== undefined
          ? { ...key, digest: { options: req.digest, code: req.digestCode } }
          : undefined;
      if (req.cacheDir !== undefined) {
        if (postedKey) postedHit = readEntry(req.cacheDir, postedKey);
        // A whole rank's entry (written by an earlier CommLens, or for the analysis of whole ranks) is digested here.
        if (!postedHit) hit = readEntry(req.cacheDir, key);
      }
    } catch {
      // the file itself is read below, where its error is reported
    }
  }
  let cacheWarning: string | undefined;
  const keep = (k: ReturnType<typeof cacheKeyOf> | undefined, b: Buffer): void => {
    if (req.cacheDir === undefined || !k) return;
    try {
      writeEntry(req.cacheDir, k, b);
    } catch (e) {
      cacheWarning = `could not write the parse cache in ${req.cacheDir} (${(e as Error).message})`;
    }
  };
  const fromWhole = (whole: Buffer): Buffer => {
    if (!transforms) return whole;
    const b = payloadOf(reducedOf(deserialize(whole) as RankPayload), req, transform);
    keep(postedKey, b);
    return b;
  };
  const lodFile = req.lod && key ? lodEntryPath(req.lod.dir, key) : undefined;
  const cached = postedHit ?? hit;
  if (cached && (!lodFile || rankLodMatches(lodFile, key!))) {
    const payload = ownBuffer(postedHit ?? fromWhole(hit!));
    return { reply: { index: req.index, payload, fromCache: true, cacheWarning, lodFile }, transfer: [payload] };
  }
  const held = await heldColumnsOf(req.path);
  let bytes: Buffer;
  if (cached) bytes = postedHit ?? fromWhole(hit!);
  else {
    // Without an index to make, the columns are let go before the reduced rank is digested and packed.
    // A rank that is only digested (its whole form neither posted nor cached) keeps its launches as a table.
    const reduced = reduceHeld(
      held,
      req,
      !req.lod,
      transforms && (postedKey !== undefined || req.cacheDir === undefined),
    );
    if (postedKey || !transforms) {
      // The cache keeps what is posted: the digested rank, or the whole one when that is posted.
      bytes = payloadOf(reduced, req, transforms ? transform : undefined);
      keep(postedKey ?? key, bytes);
    } else {
      // A digest of unknown code: the cache keeps the whole rank, and the digest is posted.
      if (req.cacheDir !== undefined) keep(key, payloadOf(reduced, req, undefined));
      bytes = payloadOf(reduced, req, transform);
    }
  }
  // The index from the same columns (the reduced model above is already bytes).
  let lodError: string | undefined;
  if (req.lod && key)
    try {
      ensureLod(req.lod.dir, key, held, req);
    } catch (e) {
      lodError = `its level-of-detail index could not be made in ${req.lod.dir} (${(e as Error).message})`;
    }
  const payload = ownBuffer(bytes);
  return {
    reply: { index: req.index, payload, fromCache: cached !== undefined, cacheWarning, lodFile, lodError },
    transfer: [payload],
  };
}

/**
 * Detaches one empty ArrayBuffer, before any code of this thread is optimised. V8 compiles
 * typed-array reads on the assumption that no ArrayBuffer of the thread was ever detached, and
 * the first detach (a rank's columns freed, a reply's buffers transferred) throws away every
 * optimised function that relied on it: the scanner's and the reduction's, in each worker, each
 * compiled again (on 8 × 20 MB, 30 functions of each worker at the end of its first rank).
 * Detached here, the assumption is never made.
 */
function detachOnce(): void {
  structuredClone(undefined, { transfer: [new ArrayBuffer(0)] });
}

/**
 * Answers the pool's requests on this worker thread (`parentPort`); `transform`: what a `rank`
 * request with `digest` options goes through before it is posted.
 */
export function serveScanRequests(transform?: RankTransform): void {
  detachOnce();
  // One request at a time, in the order they came (the pool sends the next before this one is
  // done, so that it is here when this one ends): two at once would hold two ranks in memory.
  let queue: Promise<void> = Promise.resolve();
  // Whatever a request does (a throw, a reply that cannot be posted), the queue goes on.
  parentPort?.on('message', (req: ScanRequest | RankRequest | LodRequest) => {
    queue = queue.then(() => serve(req)).catch(failedOf(req));
  });
  const failedOf = (req: ScanRequest | RankRequest | LodRequest) => (e: unknown) => {
    const reply: { index: number; error: string; at?: ScanProgress } = {
      index: req.index,
      error: (e as Error)?.message ?? String(e),
      at: e instanceof KinetoScanError ? e.at : undefined,
    };
    parentPort!.postMessage(reply);
  };
  const serve = (req: ScanRequest | RankRequest | LodRequest): Promise<void> => {
    const failed = failedOf(req);
    if (req.kind === 'lod') return lod(req).then((reply) => parentPort!.postMessage(reply), failed);
    if (req.kind === 'rank')
      return rank(req, transform).then(({ reply, transfer }) => parentPort!.postMessage(reply, transfer), failed);
    return scanKinetoFile(req.path).then(
      (columns) => parentPort!.postMessage({ index: req.index, columns } satisfies ScanReply, buffersOf(columns)),
      failed,
    );
  };
}
