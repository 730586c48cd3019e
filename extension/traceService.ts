/**
 * The one place where the extension reaches the trace and analysis code (trace/,
 * analysis/, webview/html.ts). Everything else in extension/ goes through these
 * functions (and tests can hand `loadAndAnalyze` another backend).
 *
 * No `vscode` here: the functions run in the extension host and in plain Node tests.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TraceModel } from '../trace/model';
import { loadTraceFile, sniffTraceFile } from '../trace/load';
import { importKinetoFolder } from '../trace/kineto';
import { analyzeKinetoJob } from '../analysis/kinetoJobAnalysis';
import { cacheDirFor } from '../trace/parseCache';
import { indexKinetoRanks, openCachedLodFiles } from '../trace/kinetoScanPool';
import type { JobProgress } from '../trace/kinetoJob';
import { RankLodFile } from '../trace/rankLod';
import { JobLod } from '../trace/jobLod';
import { TraceTooLargeError, defaultMaxTraceBytes, formatBytes } from '../trace/budget';
import { encodeTrace, type EncodeOptions } from '../trace/binary';
import { analyze } from '../analysis/index';
import { ANALYSIS_SCHEMA_VERSION } from '../analysis/types';
import type { Suggestion } from '../analysis/advisor/advisor';
import { renderWebviewHtml, type WebviewHtmlOptions } from '../webview/html';
import type { AnalysisView } from '../webview/protocol';
import { toAnalysisView } from './analysisView';

/** What the host needs from the other parts of CommLens. */
export interface TraceBackend {
  /** trace/load.ts: reads a Perfetto / Chrome JSON / Kineto file (by content and name). */
  loadTraceFile(file: string): Promise<TraceModel>;
  /** trace/kineto.ts: one model from the per-rank Kineto files of one job. */
  importKinetoFolder(files: string[]): Promise<TraceModel>;
  /**
   * analysis/index.ts: metrics and ranked suggestions, as the webview shows them; `suggestions`,
   * when given, are a CommLens run's own (runSummarySuggestions) and replace the advisor's.
   */
  analyze(model: TraceModel, suggestions?: Suggestion[]): AnalysisView;
  /** trace/binary.ts: the transfer encoding the webview decodes. */
  encodeTrace(model: TraceModel, options?: EncodeOptions): ArrayBuffer;
  /** webview/html.ts: the webview's page. */
  renderWebviewHtml(opts: WebviewHtmlOptions): string;
}

export const backend: TraceBackend = {
  loadTraceFile,
  importKinetoFolder,
  analyze: (model, suggestions) => {
    const a = analyze(model);
    return toAnalysisView(suggestions ? { ...a, suggestions } : a);
  },
  encodeTrace,
  renderWebviewHtml,
};

/** What the trace panel shows: a model with its analysis, or why there is none. */
export type LoadedTrace =
  | { ok: true; title: string; model: TraceModel; analysis: AnalysisView | undefined; analysisError?: string }
  | { ok: false; title: string; message: string };

/** The name of a job from its traces' folder: the run's, for the kineto/ folder of a CommLens run. */
export function jobName(dir: string): string {
  const base = path.basename(dir);
  return base === 'kineto' ? path.basename(path.dirname(dir)) : base;
}

/** The panel title of a trace: the file's name, or the job's with its number of ranks. */
export function traceTitle(files: string[]): string {
  return files.length === 1 ? path.basename(files[0]) : `${jobName(path.dirname(files[0]))} (${files.length} ranks)`;
}

/** What the panel says of a trace that cannot be opened, naming the place once (the readers often name the file themselves). */
function cannotOpen(files: string[], where: string, reason: string): string {
  if (reason.startsWith(`${where}: `)) return `Cannot open ${reason}`;
  return files.some((f) => reason.includes(f)) ? `Cannot open the trace: ${reason}` : `Cannot open ${where}: ${reason}`;
}

/**
 * Loads one trace file, or several per-rank Kineto files as one job, and analyses it.
 * Never throws: a file that cannot be read or parsed gives `ok: false` with a message
 * naming the file and what the parser said (which includes the offset).
 */
export async function loadAndAnalyze(files: string[], be: TraceBackend = backend): Promise<LoadedTrace> {
  const title =
    files.length === 1 ? path.basename(files[0]) : `${jobName(path.dirname(files[0]))} (${files.length} ranks)`;
  let model: TraceModel;
  try {
    model = files.length === 1 ? await be.loadTraceFile(files[0]) : await be.importKinetoFolder(files);
  } catch (e) {
    const where = files.length === 1 ? files[0] : `${files.length} files in ${path.dirname(files[0])}`;
    const reason = (e as Error)?.message ?? String(e);
    // The readers name the file and the byte offset themselves; do not say the path twice.
    return {
      ok: false,
      title,
      message: cannotOpen(files, where, reason),
    };
  }
  try {
    const own = files.length === 1 ? runSummarySuggestions(files[0]) : undefined;
    return { ok: true, title, model, analysis: be.analyze(model, own) };
  } catch (e) {
    return { ok: true, title, model, analysis: undefined, analysisError: (e as Error)?.message ?? String(e) };
  }
}

/**
 * The suggestions the CLI wrote for a CommLens run (its summary.json beside the trace, when the
 * summary names this trace and has an analysis of this schema version), else undefined. The CLI
 * analyses with the runtime's config check (cli/runConfigCheck.ts), which the extension may not
 * import: only with it does the advisor offer parallel layouts (DP × TP, PP, CP…) and leave out
 * changes the runtime would refuse. So the panel shows the run's suggestions as the CLI, the runs
 * view and Apply & re-run have them, not a second list.
 */
export function runSummarySuggestions(traceFile: string): Suggestion[] | undefined {
  let s: { tracePath?: unknown; analysis?: { schemaVersion?: unknown; suggestions?: unknown } };
  try {
    s = JSON.parse(fs.readFileSync(path.join(path.dirname(traceFile), 'summary.json'), 'utf8'));
  } catch {
    return undefined;
  }
  // By name: a run folder moved or copied elsewhere keeps its summary, which names the trace where it was written.
  if (typeof s?.tracePath !== 'string' || path.basename(s.tracePath) !== path.basename(traceFile)) return undefined;
  const a = s.analysis;
  if (!a || a.schemaVersion !== ANALYSIS_SCHEMA_VERSION || !Array.isArray(a.suggestions)) return undefined;
  return a.suggestions as Suggestion[];
}

/** Copies the encoding into an ArrayBuffer of its own (postMessage transfers whole buffers). */
export function toArrayBuffer(data: ArrayBuffer | Uint8Array): ArrayBuffer {
  if (data instanceof ArrayBuffer) return data;
  return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
}

/** A Kineto job opened through its ranks' level-of-detail indexes (trace/jobLod.ts), with the CLI's analysis. */
export type OpenedJob =
  | {
      ok: true;
      title: string;
      job: JobLod;
      analysis: AnalysisView | undefined;
      /** 'job': the analysis came from the job cache; else how many ranks' reductions did. */
      fromCache: 'job' | number;
    }
  | { ok: false; title: string; message: string };

/** True when every file is a Kineto trace (the files a job is opened from with `openKinetoJob`). */
export async function isKinetoJob(files: string[]): Promise<boolean> {
  if (files.length === 0) return false;
  try {
    for (const f of files) if ((await sniffTraceFile(f)) !== 'kineto') return false;
    return true;
  } catch {
    return false;
  }
}

/**
 * The folder where a job's parse cache and indexes go: `.commlens-cache` beside its first file
 * (or COMMLENS_CACHE_DIR), or when that cannot be written, one in the system's temporary folder.
 */
export function writableCacheDir(firstFile: string, env: NodeJS.ProcessEnv = process.env): string {
  for (const dir of [cacheDirFor(firstFile, undefined, env), path.join(os.tmpdir(), 'commlens-cache')]) {
    try {
      fs.mkdirSync(dir, { recursive: true });
      fs.accessSync(dir, fs.constants.W_OK);
      return dir;
    } catch {
      // the next one
    }
  }
  throw new Error(`no folder for the parse cache can be written (beside ${firstFile}, nor in ${os.tmpdir()})`);
}

/**
 * Memory one scan worker takes at its peak while it makes a rank's reduction and index (its
 * columns, the reduced model, the one-rank model of every event and the index built from it):
 * SCAN_PEAK_FIXED_BYTES + SCAN_PEAK_PER_JSON_BYTE × the rank's JSON. Measured above a Node
 * process's baseline on bench:scale's ranks (2026-12-04): 95 MB for 21 MB of JSON, 263 MB for
 * 104 MB, 838 MB for 521 MB: the cost per byte falls with the size, so a fixed part and a
 * slope (which these three stay under) and not one factor (4.5 per byte, fitted on 20 MB, gave
 * one worker where two fit: a 2 GiB budget opened 8 × 500 MB in 108 s and 1.2 GB, with two in
 * 74 s and 1.9 GB).
 */
export const SCAN_PEAK_FIXED_BYTES = 64 * 2 ** 20;
export const SCAN_PEAK_PER_JSON_BYTE = 1.9;

/** JSON bytes of a trace file: its size, or for gzip the size its trailer gives (mod 4 GiB, at least the file's). */
export function jsonBytesOf(file: string): number {
  const size = fs.statSync(file).size;
  if (!/\.gz$/i.test(file) || size < 18) return size;
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(4);
    fs.readSync(fd, b, 0, 4, size - 4);
    return Math.max(size, b.readUInt32LE(0));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * How many ranks are read at once when a job is opened: as many scan workers as the budget
 * holds at their peak (SCAN_PEAK_FIXED_BYTES + SCAN_PEAK_PER_JSON_BYTE × the largest rank), at least one, at most one
 * per core: the memory is bounded by the ranks in flight, not by the job.
 */
export function scanWorkersFor(files: string[], maxTraceBytes: number, cores = os.availableParallelism()): number {
  let largest = 1;
  for (const f of files)
    try {
      largest = Math.max(largest, jsonBytesOf(f));
    } catch {
      // the scan says what is wrong with it
    }
  return Math.max(
    1,
    Math.min(
      cores,
      files.length,
      Math.floor(maxTraceBytes / (SCAN_PEAK_FIXED_BYTES + SCAN_PEAK_PER_JSON_BYTE * largest)),
    ),
  );
}

/** What the panel says while a job's rank files are read (the first open of a job reads every rank; later ones come from the cache). */
export function jobProgressMessage(p: JobProgress): string {
  const what = p.ranks === 1 ? 'the trace and indexing it' : `${p.ranks} rank traces and indexing them`;
  const cached = p.fromCache > 0 ? `, ${p.fromCache} from the parse cache` : '';
  const left = p.done < p.ranks ? '…' : '; putting the job together…';
  return `Reading ${what} for the timeline: ${p.done} of ${p.ranks} done${cached}${left}`;
}

/**
 * Opens the per-rank Kineto files of one job as `analyze` does (analysis/kinetoJobAnalysis.ts:
 * reduce-then-merge in the scan pool's workers, or the job cache), each rank's level-of-detail
 * index made beside its reduction in the same scan (or read from the cache), and never a model
 * of the whole job: memory holds one rank per scan worker while they run, then the indexes' metas
 * and as many ranks' columns as the budget holds (trace/jobLod.ts). Never throws.
 */
export async function openKinetoJob(
  files: string[],
  opts: {
    maxTraceBytes?: number;
    cacheDir?: string;
    workers?: number;
    workerPath?: string;
    /** Called as each rank file is read or indexed (not when the analysis and the indexes all come from the cache). */
    onProgress?: (p: JobProgress) => void;
  } = {},
): Promise<OpenedJob> {
  const title = traceTitle(files);
  const where = files.length === 1 ? files[0] : `${files.length} files in ${path.dirname(files[0])}`;
  const opened: RankLodFile[] = [];
  try {
    const dir = opts.cacheDir ?? writableCacheDir(files[0]);
    const ranks = files.map((f) => ({ path: f }));
    const limit = opts.maxTraceBytes ?? defaultMaxTraceBytes();
    // Asked only when ranks are read: it reads every gzip rank's trailer (1,024 ranks: ~25 ms).
    let scanWorkers = opts.workers;
    const workers = (): number => (scanWorkers ??= scanWorkersFor(files, limit));
    const k = await analyzeKinetoJob(ranks, {
      cache: { dir },
      options: { includeLastStep: false },
      lodDirOf: () => dir,
      workers,
      workerPath: opts.workerPath,
      onProgress: opts.onProgress,
    });
    // The analysis came from the job cache (written by `commlens analyze`, say): the indexes too
    // when all are there (no worker started), else the pool makes the missing ones, saying how
    // far it has got as a first read does.
    const indexRanks = () => {
      opts.onProgress?.({ done: 0, ranks: files.length, fromCache: 0 });
      return indexKinetoRanks(ranks, {
        lodDirOf: () => dir,
        workers: workers(),
        workerPath: opts.workerPath,
        onRank: (done) => opts.onProgress?.({ done, ranks: files.length, fromCache: 0 }),
      });
    };
    // The indexes, opened (their metas read): from the cache when all are there.
    const cached = k.lodFiles ? undefined : openCachedLodFiles(ranks, { lodDirOf: () => dir });
    if (cached) opened.push(...cached);
    else {
      const lodFiles =
        k.lodFiles ??
        (await indexRanks()).map((r, i) => (r.ok ? { file: r.lodFile } : { error: `${files[i]}: ${r.error}` }));
      const missing = lodFiles.find((f): f is { error: string } => 'error' in f);
      if (missing) throw new Error(missing.error);
      for (const { file: f } of lodFiles as { file: string }[]) {
        const r = RankLodFile.open(f, undefined);
        if (!r) throw new Error(`the level-of-detail index ${f} could not be read (removed or corrupt while opening)`);
        opened.push(r);
      }
    }
    // What stays in memory: every index's meta, and as many ranks' columns as the rest of the
    // budget holds (JobLod lets the least recently used go), at least one rank's: refused only
    // when the metas and the largest rank's columns do not fit.
    const metaBytes = opened.reduce((a, r) => a + r.metaBytes, 0);
    const largest = opened.reduce((a, r) => Math.max(a, r.columnBytes), 0);
    if (metaBytes + largest > limit)
      throw new TraceTooLargeError(
        where,
        metaBytes + largest,
        limit,
        `the level-of-detail indexes of ${files.length} rank(s): ${formatBytes(metaBytes)} held while the job is open, and ${formatBytes(largest)} for the largest rank's columns, the least that answers a view of it`,
      );
    const job = new JobLod(opened, { overviewDir: dir, residentBytes: limit - metaBytes });
    job.model.warnings.push(...k.leftOut);
    return {
      ok: true,
      title,
      job,
      analysis: toAnalysisView(k.analysis),
      fromCache: k.fromCache,
    };
  } catch (e) {
    for (const r of opened) r.close();
    const reason = (e as Error)?.message ?? String(e);
    return {
      ok: false,
      title,
      message: cannotOpen(files, where, reason),
    };
  }
}
