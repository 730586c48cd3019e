/**
 * The analysis of a PyTorch profiler (Kineto) job, one function for the CLI's `analyze` and the
 * extension's trace worker: from the job cache when its files, options and code are the same,
 * else reduce-then-merge (trace/kinetoJob.ts) and the analysis, with its slice links in the
 * terms of the whole files' model (the viewer's). With `lodDirOf`, each rank's level-of-detail
 * index (trace/rankLod.ts) is made beside its reduction, in the same scan (when the job comes
 * from the job cache, no rank is read and `lodFiles` is absent).
 */
import { join, resolve } from 'node:path';
import { describeRankFailure, jobCacheOf, loadKinetoJob, readJobResult, writeJobResult } from '../trace/kinetoJob';
import type { RankFile } from '../trace/kinetoScanPool';
import { codeHash } from '../trace/parseCache';
import { analyze } from './index';
import { mapSliceIndexes } from './sliceIndexes';
import type { Analysis, AnalysisOptions } from './types';

/** The code that makes an analysis (the bundle and its scan worker, or the compiled modules), for the job cache's key. */
let code: string | undefined;
function codeId(): string {
  code ??= codeHash([
    __filename,
    join(__dirname, 'kinetoScanWorker.js'),
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
  /** With `lodDirOf`, when the ranks were read: each read rank's index file, or why it has none. */
  lodFiles?: ({ file: string } | { error: string })[];
}

export async function analyzeKinetoJob(
  files: RankFile[],
  opts: {
    cache: false | { dir?: string };
    options: AnalysisOptions;
    lodDirOf?: (path: string) => string;
    workers?: number;
    workerPath?: string;
  },
): Promise<KinetoJobAnalysis> {
  const { cache, options } = opts;
  const jobCache = cache === false ? undefined : jobCacheOf(files, { dir: cache.dir, options, code: codeId() });
  const cached = jobCache ? (readJobResult(jobCache) as Analysis | undefined) : undefined;
  if (cached) return { analysis: cached, leftOut: [], fromCache: 'job' };
  const job = await loadKinetoJob(files, {
    cache,
    lodDirOf: opts.lodDirOf,
    workers: opts.workers,
    workerPath: opts.workerPath,
  });
  const leftOut = job.failures.map(describeRankFailure);
  const analysis = mapSliceIndexes(analyze(job.model, options), (i) => job.sliceOrigin[i]);
  const failed = jobCache && leftOut.length === 0 ? writeJobResult(jobCache, analysis) : undefined;
  return {
    analysis,
    leftOut,
    warning: job.cacheWarning ?? failed,
    fromCache: job.fromCache,
    ...(job.lodFiles ? { lodFiles: job.lodFiles } : {}),
  };
}
