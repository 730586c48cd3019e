/**
 * bench:scale — CommLens and Holistic Trace Analysis side by side on large jobs built from
 * the real HTA-sampled traces (bench/scaleJobs.ts; built once into a cache folder outside
 * the repository, $TMPDIR/commlens-scale-cache or $COMMLENS_SCALE_CACHE, and reused).
 *
 *   npm run bench:scale -- --quick      8 × 20 MB, 64 × 2 MB, 1,024 × 0.2 MB (gzip)
 *   npm run bench:scale                 8 × 500 MB, 64 × 100 MB, 1,024 × 10 MB (gzip)
 *   npm run bench:scale -- --case 8x100 8 ranks × 100 MB (repeatable; `gz` after the size: gzip files)
 *   options: --no-hta, --hta-time-s N, --hta-rss-gb N, --only NAME, --page-cache warm|evicted,
 *            --repeats N (cold runs of each tool, alternated; default 3 with --quick, else 1)
 *
 * Every tool starts with the job's files in the same state of the page cache: read once just
 * before (`warm`, the default: the tools are measured, not the disk), or dropped from it
 * (`evicted`, with dd's iflag=nocache: what a first open from this machine's disk costs). Left
 * as it was, the cold run of a big case read its files from disk whenever the earlier cases had
 * evicted them, and HTA, run after it, read them from memory.
 *
 * Each tool runs as users run it, in its own process tree (CommLens: `commlens analyze`, the
 * CLI itself, with the child Node it starts when a big job needs one: cold with an empty parse cache and
 * --per-rank-json, then re-opened from the cache with the Markdown report; its streaming
 * columnar ingest alone in bench/scaleChild.ts scan; HTA: shared/oracles/hta/
 * hta_metrics.py with Debian's python3) under a time and memory limit; wall time and the
 * peak RSS of the whole process tree are measured from outside (bench/procTree.ts). Where
 * both finish, the per-rank figures (idle, compute, non-compute, kernel span in µs, overlap %)
 * are compared rank by rank. The load average is printed beside every figure: the machine
 * may be shared. With --repeats N the cold `analyze` and HTA run N times each, one after the
 * other in turn (CommLens, HTA, CommLens, HTA, …), and each tool's figure is its median run (by
 * wall time; peak RSS the largest of its runs); a single run of a two-second job moved by 10–20 %
 * from one bench run to the next on this machine. HTA is not run again once a run of it did not finish.
 *
 * Writes its keys into bench/results/scale.json (headline keys first, then every case), keeping
 * the keys other benchmarks put there (the viewer's).
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { loadavg, totalmem } from 'node:os';
import { buildJob, cacheRoot, type JobManifest, type JobSpec } from './scaleJobs';
import { runTree, type TreeRun } from './procTree';
import type { ScanChildResult } from './scaleChild';

const repoRoot = resolve(__dirname, '..', '..');
const shared = resolve(repoRoot, '..', 'shared');
const fixtureDir = join(shared, 'fixtures', 'kineto', 'hta-sampled');
const htaScript = join(shared, 'oracles', 'hta', 'hta_metrics.py');
const MB = 1e6;
/**
 * The CLI users run: the package's `commlens` (its bin, the bundle `npm run build` makes). Until
 * 2026-12-06 the bench ran tsc's out/cli/main.js, whose worker threads load dozens of modules
 * each: 5–10 % slower on the quick jobs than the bundle, with the same output.
 */
const cli = join(repoRoot, 'dist', 'cli', 'commlens.js');
/** Where the runs of `analyze` keep their parse cache; removed at the end. */
const parseCacheRoot = join(cacheRoot(), `parse-cache-${process.pid}`);

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const flag = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};

/**
 * `--case RANKSxMB[gz]` (repeatable, e.g. `--case 8x100`): jobs of these sizes instead of the
 * quick or full ones, named `8x100` (between them: where HTA still finishes and CommLens' start-up
 * no longer dominates).
 */
function caseFlags(): JobSpec[] {
  const out: JobSpec[] = [];
  argv.forEach((a, i) => {
    if (a !== '--case') return;
    const v = argv[i + 1] ?? '';
    const m = /^(\d+)x(\d+(?:\.\d+)?)(gz)?$/.exec(v);
    if (!m || Number(m[1]) < 1 || Number(m[2]) <= 0)
      throw new Error(`--case takes RANKSxMB, with gz for gzip files (8x100, 1024x1gz), not '${v}'`);
    out.push({ name: v, ranks: Number(m[1]), bytesPerRank: Number(m[2]) * MB, gzip: m[3] === 'gz' });
  });
  return out;
}

/** The jobs to run: --case sizes, else the quick or full ones (read in main, where a bad --case is reported as such). */
const casesOf = (custom: JobSpec[]): JobSpec[] =>
  custom.length
    ? custom
    : quick
      ? [
          { name: 'quick-8', ranks: 8, bytesPerRank: 20 * MB, gzip: false },
          { name: 'quick-64', ranks: 64, bytesPerRank: 2 * MB, gzip: false },
          { name: 'quick-1024', ranks: 1024, bytesPerRank: 0.2 * MB, gzip: true },
        ]
      : [
          { name: 'full-8', ranks: 8, bytesPerRank: 500 * MB, gzip: false },
          { name: 'full-64', ranks: 64, bytesPerRank: 100 * MB, gzip: false },
          { name: 'full-1024', ranks: 1024, bytesPerRank: 10 * MB, gzip: true },
        ];

/** `commlens analyze --per-rank-json`'s figures of each rank (HTA's names; µs and %), and HTA's. */
type RankFigures = Record<
  string,
  { idle_us: number; compute_us: number; non_compute_us: number; kernel_span_us: number; overlap_pct: number }
>;

interface ToolRun {
  finished: boolean;
  /** Runs the figures are the median of (by wall time), and the range of their wall times (ms). */
  runs?: number;
  wallRangeMs?: [number, number];
  /** Why not, when it did not finish. */
  failure?: string;
  wallMs: number;
  peakRssMb: number;
  jsonMbPerS: number;
  loadavgBefore: number[];
  loadavgAfter: number[];
  /** CPU seconds of the whole process tree (all threads) and JSON MB per CPU second, a figure the machine's other load does not change much. */
  cpuS?: number;
  jsonMbPerCpuS?: number;
}

interface CaseResult {
  name: string;
  ranks: number;
  jsonMb: number;
  diskMb: number;
  gzip: boolean;
  events: number;
  /** `commlens analyze DIR --per-rank-json`, cold (an empty parse cache): the whole process tree. */
  commlens: ToolRun;
  /** `commlens analyze DIR` again (the Markdown report), from the parse cache: the whole process tree. */
  reopen?: ToolRun & { fromCache?: number | 'job'; reportLines?: number };
  /** The streaming columnar ingest alone (trace/kinetoScanPool.ts), events counted. */
  scan?: ToolRun & { events?: number };
  hta?: ToolRun;
  /** HTA wall / CommLens wall (whole processes), where both finished. */
  speedup?: number;
  /** HTA peak RSS / CommLens peak RSS, where both finished. */
  memoryRatio?: number;
  equality?: { ranksCompared: number; mismatches: string[] };
}

const la = () => loadavg().map((x) => Number(x.toFixed(2)));

type PageCache = 'warm' | 'evicted';

/**
 * Puts the job's files in the page cache (read through once) or drops them from it (dd with
 * iflag=nocache and count=0 asks the kernel to drop the file's cached pages), before a tool runs.
 */
function setPageCache(job: JobManifest, mode: PageCache): void {
  const buf = Buffer.allocUnsafe(8 << 20);
  for (const entry of readdirSync(job.dir, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = join(job.dir, entry.name);
    if (mode === 'evicted') {
      const r = spawnSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
      if (r.status !== 0) throw new Error(`could not drop ${file} from the page cache: ${String(r.stderr)}`);
      continue;
    }
    const fd = openSync(file, 'r');
    try {
      while (readSync(fd, buf, 0, buf.length, null) > 0);
    } finally {
      closeSync(fd);
    }
  }
}

function toolRun(r: TreeRun, jsonBytes: number, before: number[]): ToolRun {
  const finished = r.code === 0 && !r.killedFor;
  return {
    finished,
    failure: finished
      ? undefined
      : r.killedFor
        ? `did not finish: stopped at the ${r.killedFor} limit`
        : `exit ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`,
    wallMs: Math.round(r.wallMs),
    peakRssMb: Math.round(r.peakRssBytes / 1048576),
    jsonMbPerS: Number((jsonBytes / MB / (r.wallMs / 1000)).toFixed(1)),
    loadavgBefore: before,
    loadavgAfter: la(),
  };
}

/**
 * One figure of several runs of a tool: the run of median wall time (the faster of the middle two
 * for an even count), the largest peak RSS of any run, and the wall times' range. A run that did
 * not finish is the figure.
 */
function medianRun(runs: ToolRun[]): ToolRun {
  const failed = runs.find((r) => !r.finished);
  if (failed || runs.length === 1) return failed ?? runs[0];
  const byWall = [...runs].sort((a, b) => a.wallMs - b.wallMs);
  const mid = byWall[Math.floor((byWall.length - 1) / 2)];
  return {
    ...mid,
    runs: runs.length,
    wallRangeMs: [byWall[0].wallMs, byWall[byWall.length - 1].wallMs],
    peakRssMb: Math.max(...runs.map((r) => r.peakRssMb)),
    loadavgBefore: runs[0].loadavgBefore,
    loadavgAfter: runs[runs.length - 1].loadavgAfter,
  };
}

function compare(a: RankFigures, b: RankFigures): { ranksCompared: number; mismatches: string[] } {
  const mismatches: string[] = [];
  let n = 0;
  for (const rank of Object.keys(a)) {
    const x = a[rank],
      y = b[rank];
    if (!y) {
      mismatches.push(`rank ${rank}: only in CommLens`);
      continue;
    }
    n++;
    for (const k of ['idle_us', 'compute_us', 'non_compute_us', 'kernel_span_us'] as const)
      if (Math.abs(x[k] - y[k]) > 0.5) mismatches.push(`rank ${rank} ${k}: CommLens ${x[k]}, HTA ${y[k]}`);
    // HTA's overlap of a rank with no communication is 0 / 0 (NaN, read as null); CommLens defines it as 0.
    const hRaw = y.overlap_pct as number | null;
    const hOverlap = hRaw ?? 0;
    if (Math.abs(x.overlap_pct - hOverlap) > 0.01)
      mismatches.push(
        `rank ${rank} overlap_pct: CommLens ${x.overlap_pct.toFixed(4)}, HTA ${hRaw === null ? 'NaN' : hOverlap.toFixed(4)}`,
      );
  }
  for (const rank of Object.keys(b)) if (!a[rank]) mismatches.push(`rank ${rank}: only in HTA`);
  return { ranksCompared: n, mismatches };
}

async function runCase(
  job: JobManifest,
  opts: { hta: boolean; htaTimeMs: number; htaRssBytes: number; pageCache: PageCache; repeats: number },
): Promise<CaseResult> {
  const limits = { timeMs: 3_600_000, rssBytes: Math.min(totalmem() * 0.8, 16 * 2 ** 30) };
  // The parse cache of this case (this process's own: others may be running the bench), emptied
  // first: the first run is cold, the second re-opens.
  const parseCache = join(parseCacheRoot, job.spec.name);
  const clRuns: ToolRun[] = [];
  const htaRuns: ToolRun[] = [];
  // Every cold run's figures (they must not differ), and HTA's.
  const clFigures: RankFigures[] = [];
  let htaFigures: RankFigures | undefined;
  let before: number[];
  for (let i = 0; i < opts.repeats; i++) {
    rmSync(parseCache, { recursive: true, force: true });
    // `commlens analyze` itself, as a user runs it (with its child Node and larger heap when a big
    // job needs one): cold with --per-rank-json, whose figures are compared with HTA's.
    setPageCache(job, opts.pageCache);
    before = la();
    const c = await runTree(
      process.execPath,
      [cli, 'analyze', job.dir, '--per-rank-json', '--cache-dir', parseCache],
      limits,
    );
    const run = toolRun(c, job.jsonBytes, before);
    clRuns.push(run);
    if (!run.finished) break;
    clFigures.push(JSON.parse(c.stdout) as RankFigures);
    run.cpuS = Number(c.cpuS.toFixed(2));
    run.jsonMbPerCpuS = Number((job.jsonBytes / MB / c.cpuS).toFixed(1));
    if (opts.hta && htaRuns.every((r) => r.finished)) {
      setPageCache(job, opts.pageCache);
      before = la();
      const h = await runTree('/usr/bin/python3', [htaScript, job.dir], {
        timeMs: opts.htaTimeMs,
        rssBytes: opts.htaRssBytes,
      });
      const hr = toolRun(h, job.jsonBytes, before);
      htaRuns.push(hr);
      if (hr.finished) {
        hr.cpuS = Number(h.cpuS.toFixed(2));
        hr.jsonMbPerCpuS = Number((job.jsonBytes / MB / h.cpuS).toFixed(1));
        // Python's json writes NaN bare (HTA's overlap of a rank with no communication): read as null.
        htaFigures = (
          JSON.parse(h.stdout.slice(h.stdout.indexOf('{')).replace(/\bNaN\b/g, 'null')) as { ranks: RankFigures }
        ).ranks;
      }
    }
  }
  const commlens: CaseResult['commlens'] = medianRun(clRuns);
  let reopen: CaseResult['reopen'];
  if (commlens.finished) {
    // Re-opened as a user reads it: the Markdown report, from the parse cache.
    before = la();
    const ro = await runTree(process.execPath, [cli, 'analyze', job.dir, '--cache-dir', parseCache], limits);
    reopen = toolRun(ro, job.jsonBytes, before);
    if (reopen.finished) {
      reopen.cpuS = Number(ro.cpuS.toFixed(2));
      reopen.jsonMbPerCpuS = Number((job.jsonBytes / MB / ro.cpuS).toFixed(1));
      reopen.reportLines = ro.stdout.trimEnd().split('\n').length;
      // The CLI says on stderr what the parse cache answered (cli/commands/analyze.ts).
      const ranks = /(\d+) of \d+ ranks came from the parse cache/.exec(ro.stderr);
      reopen.fromCache = /whole analysis came from the parse cache/.test(ro.stderr)
        ? 'job'
        : ranks
          ? Number(ranks[1])
          : 0;
      if (reopen.fromCache !== 'job' && reopen.fromCache !== job.spec.ranks)
        reopen.failure = `${reopen.fromCache} of ${job.spec.ranks} ranks came from the parse cache`;
    }
  }
  before = la();
  const sc = await runTree(process.execPath, [join(__dirname, 'scaleChild.js'), 'scan', job.dir], limits);
  const scan: CaseResult['scan'] = toolRun(sc, job.jsonBytes, before);
  if (scan.finished) {
    const out = JSON.parse(sc.stdout.trim().split('\n').pop()!) as ScanChildResult;
    scan.events = out.events;
    scan.cpuS = Number(out.cpuS.toFixed(2));
    scan.jsonMbPerCpuS = Number((job.jsonBytes / MB / out.cpuS).toFixed(1));
    scan.peakRssMb = Math.max(scan.peakRssMb, Math.round(out.selfPeakRssBytes / 1048576));
    if (out.events !== job.events) scan.failure = `scanned ${out.events} events, the job has ${job.events}`;
  }
  const result: CaseResult = {
    name: job.spec.name,
    ranks: job.spec.ranks,
    jsonMb: Number((job.jsonBytes / MB).toFixed(1)),
    diskMb: Number((job.diskBytes / MB).toFixed(1)),
    gzip: job.spec.gzip,
    events: job.events,
    commlens,
    reopen,
    scan,
  };
  if (htaRuns.length > 0) {
    result.hta = medianRun(htaRuns);
    if (htaFigures && clFigures.length > 0) {
      // Each cold run's figures against HTA's: a run that differed from the others would show here.
      const each = clFigures.map((f) => compare(f, htaFigures!));
      result.equality = {
        ranksCompared: each[0].ranksCompared,
        mismatches: each.flatMap((e, i) => e.mismatches.map((m) => (each.length > 1 ? `run ${i + 1}: ${m}` : m))),
      };
    }
    if (result.hta.finished && commlens.finished) {
      result.speedup = Number((result.hta.wallMs / commlens.wallMs).toFixed(2));
      result.memoryRatio = Number((result.hta.peakRssMb / Math.max(1, commlens.peakRssMb)).toFixed(2));
    }
  }
  return result;
}

async function main(): Promise<void> {
  const custom = caseFlags();
  const CASES = casesOf(custom);
  const repeats = Number(flag('--repeats') ?? (quick ? 3 : 1));
  if (!Number.isInteger(repeats) || repeats < 1)
    throw new Error(`--repeats takes a whole number of runs, 1 or more, not '${flag('--repeats')}'`);
  const only = flag('--only');
  const hta = !argv.includes('--no-hta');
  if (hta && !existsSync(htaScript))
    throw new Error(
      `Holistic Trace Analysis is not at ${htaScript}: put shared/ beside the checkout, or pass --no-hta`,
    );
  if (!existsSync(cli))
    throw new Error(`the CLI bundle is not at ${cli}: run npm run build first (npm run bench:scale does)`);
  const htaTimeMs = Number(flag('--hta-time-s') ?? (quick ? 300 : 1800)) * 1000;
  const htaRssBytes = Number(flag('--hta-rss-gb') ?? Math.min(16, Math.floor((totalmem() / 2 ** 30) * 0.7))) * 2 ** 30;
  console.log(
    `bench:scale ${custom.length ? CASES.map((c) => `--case ${c.name}`).join(' ') : quick ? '--quick' : '(full sizes)'}; cache ${cacheRoot()}; HTA ${hta ? `limited to ${htaTimeMs / 1000} s and ${(htaRssBytes / 2 ** 30).toFixed(0)} GiB` : 'not run'}; load average ${la().join(' ')}`,
  );
  const pageCache = (flag('--page-cache') ?? 'warm') as PageCache;
  if (pageCache !== 'warm' && pageCache !== 'evicted')
    throw new Error(`--page-cache takes warm or evicted, not '${String(pageCache)}'`);
  console.log(`  each tool starts with the job's files ${pageCache === 'warm' ? 'in' : 'dropped from'} the page cache`);
  if (repeats > 1)
    console.log(
      `  ${repeats} cold runs of each tool, in turn; each figure is the median run's (peak RSS: the largest)`,
    );
  const results: CaseResult[] = [];
  for (const spec of CASES) {
    if (only && spec.name !== only) continue;
    const t = performance.now();
    const job = await buildJob(spec, fixtureDir, console.log);
    const built = performance.now() - t;
    if (built > 1000) console.log(`  built in ${(built / 1000).toFixed(1)} s`);
    const r = await runCase(job, { hta, htaTimeMs, htaRssBytes, pageCache, repeats });
    results.push(r);
    const fmt = (x: ToolRun) =>
      (x.finished
        ? `${(x.wallMs / 1000).toFixed(2)} s${x.wallRangeMs ? ` (median of ${x.runs}: ${(x.wallRangeMs[0] / 1000).toFixed(2)}–${(x.wallRangeMs[1] / 1000).toFixed(2)} s)` : ''}, ${x.jsonMbPerS} MB/s${x.cpuS !== undefined ? ` (${x.cpuS} CPU s, ${x.jsonMbPerCpuS} MB per CPU s)` : ''}, peak RSS ${x.peakRssMb} MB (${((x.peakRssMb * 1048576) / (r.jsonMb * MB)).toFixed(2)} × JSON)`
        : x.failure) + ` [load ${x.loadavgBefore[0]} → ${x.loadavgAfter[0]}]`;
    console.log(
      `${r.name}: ${r.ranks} ranks, ${r.jsonMb} MB JSON (${r.diskMb} MB on disk${r.gzip ? ', gzip' : ''}), ${r.events} events`,
    );
    console.log(`  CommLens ${fmt(r.commlens)} (commlens analyze --per-rank-json, cold)`);
    if (r.reopen)
      console.log(
        `  re-open  ${fmt(r.reopen)}${r.reopen.finished ? `; commlens analyze (the report, ${r.reopen.reportLines} lines), from the parse cache: ${r.reopen.fromCache === 'job' ? 'the whole analysis' : `${r.reopen.fromCache} ranks`}` : ''}`,
      );
    if (r.scan)
      console.log(
        `  scan     ${fmt(r.scan)} (streaming columnar ingest alone${r.scan.failure ? `; ${r.scan.failure}` : ''})`,
      );
    if (r.hta) console.log(`  HTA      ${fmt(r.hta)}`);
    if (r.speedup !== undefined)
      console.log(`  side by side: CommLens ${r.speedup}× faster, HTA uses ${r.memoryRatio}× CommLens' memory`);
    if (r.equality)
      console.log(
        `  per-rank figures: ${r.equality.ranksCompared} ranks compared, ${r.equality.mismatches.length === 0 ? 'all equal' : `${r.equality.mismatches.length} mismatch(es), first: ${r.equality.mismatches.slice(0, 3).join('; ')}`}`,
      );
  }
  const done = results.filter((r) => r.commlens.finished);
  const both = results.filter((r) => r.speedup !== undefined);
  const r1024 = results.find((r) => r.ranks === 1024 && r.commlens.finished);
  const summary = {
    mode: custom.length ? 'cases' : quick ? 'quick' : 'full',
    /** The page cache each tool's cold run started from: the job's files read just before, or dropped from it. */
    page_cache: pageCache,
    /** Slowest case: JSON MB over the whole CommLens process's wall time. */
    json_mb_per_s: done.length ? Math.min(...done.map((r) => r.commlens.jsonMbPerS)) : null,
    /** Worst case: peak RSS of the CommLens process tree over the job's JSON bytes. */
    peak_rss_over_json_bytes: done.length
      ? Number(Math.max(...done.map((r) => (r.commlens.peakRssMb * 1048576) / (r.jsonMb * MB))).toFixed(3))
      : null,
    peak_rss_mb_1024_ranks: r1024 ? r1024.commlens.peakRssMb : null,
    /** Cold runs of each tool per case (the figures are the median run's). */
    repeats,
    /** Smallest HTA wall / CommLens wall among cases both finished (median runs). */
    speedup_over_hta: both.length ? Math.min(...both.map((r) => r.speedup!)) : null,
    hta_cases_finished: hta ? `${results.filter((r) => r.hta?.finished).length}/${results.length}` : null,
    hta_figures_equal: both.length ? both.every((r) => r.equality && r.equality.mismatches.length === 0) : null,
    /** The streaming columnar ingest alone (trace/kinetoScan.ts, workers on every core): slowest case, worst case. */
    scan_json_mb_per_s: results.some((r) => r.scan?.finished)
      ? Math.min(...results.filter((r) => r.scan?.finished).map((r) => r.scan!.jsonMbPerS))
      : null,
    scan_peak_rss_over_json_bytes: results.some((r) => r.scan?.finished)
      ? Number(
          Math.max(
            ...results.filter((r) => r.scan?.finished).map((r) => (r.scan!.peakRssMb * 1048576) / (r.jsonMb * MB)),
          ).toFixed(3),
        )
      : null,
    /** Worst case: wall time of the whole `analyze` process re-opening a job from the parse cache. */
    reopen_ms: results.some((r) => r.reopen?.finished)
      ? Math.max(...results.filter((r) => r.reopen?.finished).map((r) => r.reopen!.wallMs))
      : null,
    loadavg_end: la(),
    cases: results,
  };
  const dir = join(repoRoot, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  // Merged into the file: other benchmarks (the viewer's) keep their keys. Jobs of --case sizes
  // go to a file of their own: the headline keys are the quick or full sizes'.
  const file = join(dir, custom.length ? 'scale-cases.json' : 'scale.json');
  let previous: Record<string, unknown> = {};
  try {
    previous = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    // no file yet, or not JSON: written afresh
  }
  writeFileSync(file, `${JSON.stringify({ ...previous, ...summary }, null, 2)}\n`);
  rmSync(parseCacheRoot, { recursive: true, force: true });
  const { cases: _c, ...head } = summary;
  console.log(JSON.stringify(head));
}

main().catch((e: unknown) => {
  console.error(`bench:scale: ${(e as Error).message}`);
  process.exit(1);
});
