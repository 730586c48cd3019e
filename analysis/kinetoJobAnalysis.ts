/**
 * The analysis of a PyTorch profiler (Kineto) job, one function for the CLI's `analyze` and the
 * extension's trace worker: from the job cache when its files, options and code are the same,
 * else reduce-then-merge (trace/kinetoJob.ts) and the analysis, with its slice links in the
 * terms of the whole files' model (the viewer's). With `lodDirOf`, each rank's level-of-detail
 * index (trace/rankLod.ts) is made beside its reduction, in the same scan (when the job comes
 * from the job cache, no rank is read and `lodFiles` is absent).
 *
 * A rank file may be a rank summary (`commlens reduce`, trace/rankSummaryFile.ts): the digested
 * rank as the worker would post it, made where the trace was. It must have been made with this
 * analysis' `includeLastStep`; and a job whose steps do not line up (analysed from whole ranks)
 * cannot use the digested summaries: both are said, with what to do.
 */
import { join, resolve } from 'node:path';
import {
  describeRankFailure,
  jobCacheOf,
  loadKinetoJob,
  readJobResult,
  writeJobResult,
  type JobProgress,
  type KinetoJob,
} from '../trace/kinetoJob';
import type { RankFile } from '../trace/kinetoScanPool';
import { codeHash } from '../trace/parseCache';
import { analyze } from './index';
import { mapSliceIndexes } from './sliceIndexes';
import type { Analysis, AnalysisOptions } from './types';
import { DIGEST_FORMAT, digestReducedRank, materializeView, type DigestOptions, type WireDigest } from './rankDigest';
import { PartialViewError, type RankView } from './rankView';
import { REPLAY_STEPS } from './replay/whatIf';
import { TraceFormatError } from '../trace/errors';
import { analysisOfCacheValue, jobCacheValue } from './jobCacheCodec';
import { isSummaryFile, readSummaryHeader, type SummaryHeader } from '../trace/rankSummaryFile';

/** The digesting scan worker (analysis/rankDigestWorker.ts), beside this module. */
export function digestWorkerScript(): string {
  return join(__dirname, 'rankDigestWorker.js');
}

/**
 * Steps of each rank whose every op crosses to the main thread: the replay's (REPLAY_STEPS) up
 * to 64 ranks; beyond, fewer, so that about 64 × REPLAY_STEPS rank-steps are held (at least the
 * last step, which the critical path reads).
 */
export function keptStepsFor(ranks: number): number {
  return Math.max(1, Math.min(REPLAY_STEPS, Math.floor((64 * REPLAY_STEPS) / Math.max(1, ranks))));
}

/** The ranks' views from their digests, by rank; undefined when a rank came back whole (it is then analysed from whole ranks). */
function viewsOfDigests(job: KinetoJob): RankView[] | undefined {
  if (job.places.length !== job.digests.length) return undefined;
  const views: RankView[] = [];
  for (let i = 0; i < job.digests.length; i++) {
    const d = job.digests[i] as WireDigest | undefined;
    if (!d) return undefined;
    if (d.format !== DIGEST_FORMAT)
      throw new TraceFormatError(
        `a rank's digest is of format ${String(d.format)}, and this CommLens reads format ${DIGEST_FORMAT} (a rank summary made by another version of \`commlens reduce\`)`,
        { expected: 'rank summaries made by this version of `commlens reduce`, or the traces themselves' },
      );
    views.push(materializeView(d, job.places[i]));
  }
  return views.sort((a, b) => a.rank - b.rank);
}

/** The digested rank summaries among the files, with their headers (a header that cannot be read: left to the worker, which says why). */
function digestedSummaries(files: RankFile[]): { path: string; header: SummaryHeader }[] {
  const out: { path: string; header: SummaryHeader }[] = [];
  for (const f of files) {
    if (!isSummaryFile(f.path)) continue;
    let header: SummaryHeader;
    try {
      header = readSummaryHeader(f.path);
    } catch {
      continue;
    }
    if (header.digested) out.push({ path: f.path, header });
  }
  return out;
}

const withOrWithout = (b: boolean) => (b ? 'with' : 'without');

/** Throws when a digested summary was made with another `includeLastStep` than the analysis'. */
function checkSummaries(summaries: { path: string; header: SummaryHeader }[], includeLastStep: boolean): void {
  const other = summaries.filter((s) => s.header.includeLastStep !== includeLastStep);
  if (other.length === 0) return;
  const names = other.map((s) => s.path);
  throw new TraceFormatError(
    `${other.length === 1 ? 'this rank summary was' : `${other.length} rank summaries were`} made ${withOrWithout(!includeLastStep)} --include-last-step, and this analysis is ${withOrWithout(includeLastStep)} it${other.length > 1 ? ` (${names.join(', ')})` : ''}`,
    {
      file: other.length === 1 ? names[0] : undefined,
      expected: `summaries made ${withOrWithout(includeLastStep)} it: run \`commlens reduce\` again ${withOrWithout(includeLastStep)} --include-last-step, analyze ${withOrWithout(!includeLastStep)} --include-last-step, or analyze the traces`,
    },
  );
}

/** The code that makes an analysis (the bundle and its scan worker, or the compiled modules), for the job cache's key. */
let code: string | undefined;
function codeId(): string {
  code ??= codeHash([
    __filename,
    join(__dirname, 'kinetoScanWorker.js'),
    join(__dirname, 'rankDigestWorker.js'),
    resolve(__dirname, '..', 'analysis'),
    resolve(__dirname, '..', 'trace'),
  ]);
  return code;
}

export interface KinetoJobAnalysis {
  analysis: Analysis;
  /** The ranks left out, one line each. */
  leftOut: string[];
  warning?: string;
  fromCache: 'job' | number;
  /**
   * True when the ranks were digested where they were read (analysis/rankDigest.ts); false when
   * they were analysed whole (a rank that could not be digested, or steps that do not line up).
   */
  digested?: boolean;
  /** With `lodDirOf`, when the ranks were read: each read rank's index file, or why it has none. */
  lodFiles?: ({ file: string } | { error: string })[];
}

export async function analyzeKinetoJob(
  files: RankFile[],
  opts: {
    cache: false | { dir?: string };
    options: AnalysisOptions;
    lodDirOf?: (path: string) => string;
    /** Scan workers, or what says how many when ranks are to be read (not asked when the job is in the cache). */
    workers?: number | (() => number);
    workerPath?: string;
    /** Steps of each rank whose every op reaches the analysis (default keptStepsFor(ranks)). */
    keptSteps?: number;
    /** Called when the job is not in the cache, before any rank is loaded (it may throw to stop there). */
    beforeLoad?: () => void;
    /**
     * Called before the ranks are loaded whole (the digests could not answer: steps that do not
     * line up, a rank that could not be digested); it may throw to stop there. The CLI starts its
     * child Node with a bigger heap then (cli/heap.ts): whole ranks are held on this thread.
     */
    beforeWholeRanks?: () => void;
    /** Called as each rank file is done (trace/kinetoJob.ts), on each pass over them. */
    onProgress?: (p: JobProgress) => void;
  },
): Promise<KinetoJobAnalysis> {
  const { cache, options } = opts;
  const jobCache = cache === false ? undefined : jobCacheOf(files, { dir: cache.dir, options, code: codeId() });
  const read = jobCache ? readJobResult(jobCache) : undefined;
  const cached = read ? analysisOfCacheValue(read.value, read.apart) : undefined;
  if (cached) return { analysis: cached, leftOut: [], fromCache: 'job' };
  opts.beforeLoad?.();
  const load = (digest: DigestOptions | undefined) =>
    loadKinetoJob(files, {
      cache,
      lodDirOf: opts.lodDirOf,
      workers: typeof opts.workers === 'function' ? opts.workers() : opts.workers,
      workerPath: opts.workerPath ?? digestWorkerScript(),
      onProgress: opts.onProgress,
      ...(digest ? { digest, digestCode: codeId(), localTransform: digestReducedRank } : {}),
    });
  // Each rank digested where it is read; the whole ranks only when a digest cannot answer.
  const keptSteps = opts.keptSteps ?? keptStepsFor(files.length);
  const summaries = digestedSummaries(files);
  checkSummaries(summaries, options.includeLastStep ?? false);
  let job = await load({ includeLastStep: options.includeLastStep ?? false, keptSteps });
  let analysis: Analysis | undefined;
  const views = viewsOfDigests(job);
  if (views) {
    try {
      analysis = analyze(job.model, options, views);
    } catch (e) {
      if (!(e instanceof PartialViewError)) throw e;
    }
  }
  const digested = analysis !== undefined;
  if (!analysis) {
    // Whole ranks are needed; a digested summary holds only a few steps of its rank.
    if (summaries.length > 0)
      throw new TraceFormatError(
        `this job must be analysed from whole ranks (its ranks' steps do not line up, or a rank could not be digested), and ${summaries.length === 1 ? 'this file is a rank summary' : `${summaries.length} files are rank summaries (${summaries.map((s) => s.path).join(', ')})`} made by \`commlens reduce\`, which keeps only the rank's digest and its last ${summaries[0].header.keptSteps} step(s)`,
        { file: summaries[0].path, expected: 'the traces the summaries were made from: analyze those' },
      );
    opts.beforeWholeRanks?.();
    job = await load(undefined);
    analysis = analyze(job.model, options);
  }
  const leftOut = job.failures.map(describeRankFailure);
  analysis = mapSliceIndexes(analysis, (i) => job.sliceOrigin[i]);
  // The collective instances are kept apart in the entry: a re-open reads them only when asked for.
  let failed: string | undefined;
  if (jobCache && leftOut.length === 0) {
    const { instances, ...value } = jobCacheValue(analysis);
    failed = writeJobResult(jobCache, value, instances);
  }
  return {
    analysis,
    leftOut,
    warning: job.cacheWarning ?? failed,
    fromCache: job.fromCache,
    digested,
    ...(job.lodFiles ? { lodFiles: job.lodFiles } : {}),
  };
}
