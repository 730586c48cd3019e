/**
 * Child process of bench:scale: `node out/bench/scaleChild.js analyze DIR CACHE_DIR` reads every
 * per-rank trace of DIR the way `commlens analyze` does (trace/kinetoJob.ts: each rank reduced
 * in the worker pool, or taken from the parse cache in CACHE_DIR; `-` for no cache), runs the
 * analysis and the Markdown report, and prints one JSON line: times, the process's own peak
 * RSS, the ranks taken from the cache, and the per-rank figures that Holistic Trace Analysis
 * also reports (µs), for the side-by-side equality check. `node out/bench/scaleChild.js scan DIR` runs the streaming
 * columnar ingest alone (trace/kinetoScanPool.ts, one worker per core) and prints its time,
 * events and peak RSS.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeKinetoJob } from '../cli/commands/analyze';
import { markdownReport } from '../analysis/report';
import { scanKinetoFiles } from '../trace/kinetoScanPool';

export interface ScaleChildResult {
  /** Loading and analysis together (`analyze`'s one call); analyzeMs is then 0. */
  loadMs: number;
  analyzeMs: number;
  reportMs: number;
  reportLines: number;
  selfPeakRssBytes: number;
  /** CPU seconds of the process, all threads (independent of other load on the machine). */
  cpuS: number;
  /** Ranks taken from the parse cache, or `job` when the whole analysis came from it. */
  fromCache: number | 'job';
  /** Rank files that could not be read. */
  failures: number;
  ranks: Record<
    string,
    { idle_us: number; compute_us: number; non_compute_us: number; kernel_span_us: number; overlap_pct: number }
  >;
}

export function traceFilesOf(dir: string): string[] {
  const rankOf = (f: string) => Number(/rank-(\d+)/.exec(f)?.[1] ?? 0);
  return readdirSync(dir)
    .filter((f) => /\.json(\.gz)?$/.test(f) && f !== 'manifest.json')
    .sort((a, b) => rankOf(a) - rankOf(b))
    .map((f) => join(dir, f));
}

export interface ScanChildResult {
  scanMs: number;
  events: number;
  jsonBytes: number;
  selfPeakRssBytes: number;
  cpuS: number;
}

async function scan(dir: string): Promise<ScanChildResult> {
  const files = traceFilesOf(dir);
  const t0 = performance.now();
  let events = 0,
    jsonBytes = 0;
  // Columns are counted and dropped as they arrive, as a reducer would summarise them.
  await scanKinetoFiles(files, {
    workerPath: join(__dirname, '..', 'trace', 'kinetoScanWorker.js'),
    keep: false,
    onRank: (_i, c) => ((events += c.count), (jsonBytes += c.bytes)),
  });
  const c = process.cpuUsage();
  return {
    scanMs: performance.now() - t0,
    events,
    jsonBytes,
    selfPeakRssBytes: process.resourceUsage().maxRSS * 1024,
    cpuS: (c.user + c.system) / 1e6,
  };
}

async function main(mode: string, dir: string, cacheDir?: string): Promise<ScaleChildResult | ScanChildResult> {
  if (mode === 'scan') return scan(dir);
  if (mode !== 'analyze') throw new Error(`unknown mode "${mode}": expected "analyze" or "scan"`);
  const files = traceFilesOf(dir);
  const t0 = performance.now();
  // What `commlens analyze` runs for a Kineto job (loading, or the job cache, and the analysis).
  const job = await analyzeKinetoJob(
    files.map((path) => ({ path })),
    { cache: cacheDir === undefined || cacheDir === '-' ? false : { dir: cacheDir }, options: {} },
  );
  const a = job.analysis;
  const t1 = performance.now();
  const t2 = t1;
  const md = markdownReport(a);
  const t3 = performance.now();
  const ranks: ScaleChildResult['ranks'] = {};
  for (const r of a.ranks) {
    const t = r.temporal;
    ranks[String(r.rank)] = {
      idle_us: t.idleNs / 1000,
      compute_us: t.computeNs / 1000,
      non_compute_us: t.nonComputeNs / 1000,
      kernel_span_us: t.spanNs / 1000,
      overlap_pct: r.overlap.overlapPct,
    };
  }
  return {
    loadMs: t1 - t0,
    analyzeMs: t2 - t1,
    reportMs: t3 - t2,
    reportLines: md.split('\n').length,
    selfPeakRssBytes: process.resourceUsage().maxRSS * 1024,
    cpuS: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
    fromCache: job.fromCache,
    failures: job.leftOut.length,
    ranks,
  };
}

if (require.main === module) {
  const [mode, dir, cacheDir] = process.argv.slice(2);
  main(mode, dir, cacheDir).then(
    (s) => process.stdout.write(`${JSON.stringify(s)}\n`),
    (e: unknown) => {
      process.stderr.write(`scaleChild: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
