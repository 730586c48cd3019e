/**
 * `commlens analyze <trace or folder of per-rank traces> [--json] [--include-last-step]`:
 * imports PyTorch profiler (Kineto) traces, runs the analysis and prints a Markdown
 * report, or with --json the per-rank metrics keyed by rank.
 */
import { discoverTraces, type TraceDiscovery } from '../../trace/discover';
import { assertRanked, loadRun } from '../../trace/load';
import { analyze, markdownReport, type Analysis } from '../../analysis/index';
import { analyzeKinetoJob } from '../../analysis/kinetoJobAnalysis';
import { JobTooLargeError, type JobProgress } from '../../trace/kinetoJob';
import { EXIT } from '../protocol';
import { Output, STDIO, type Io } from '../output';
import { checkRunConfig } from '../runConfigCheck';
import { HeapWanted } from '../heap';
import { parseArgs, flag, num, str, UsageError, type OptionSpecs } from '../args';
import type { Command } from '../command';
import { loadFacts, useFacts } from '../../trace/fileFacts';

export const ANALYZE_USAGE = `usage: commlens analyze <trace.json[.gz] ... | folder> [--json] [--per-rank-json] [--include-last-step] [--link-peak-gbps N] [--run ID] [--rank N]

  Analyses PyTorch profiler traces (Kineto, or pre-Kineto JSON arrays), one file per
  rank, or one CommLens/Perfetto trace of a whole job; a rank's summary written by
  \`commlens reduce\` (*.summary.commlens) stands for its trace, alone or beside other
  ranks' traces (made with the same --include-last-step). A folder is searched with its
  sub-folders (tensorboard_trace_handler folders too); each file's format is read from
  its content. When a folder holds several runs, the newest complete one is analysed
  (the report says which); --run ID picks another, --rank N gives the rank of a single
  file that does not say it. Prints a Markdown report; with --json, the whole analysis
  (schemas/analysis.schema.json, with its schemaVersion; --full-json is the same); with
  --per-rank-json, HTA's per-rank metrics keyed by rank (idle_us, compute_us,
  non_compute_us, kernel_span_us, overlap_pct, ...).
  --include-last-step  analyse the last ProfilerStep too (left out by default, as HTA does)
  --link-peak-gbps N   the link's peak bandwidth in GB/s, to rate bus bandwidth against
  --max-trace-bytes N  memory the traces may take to open (default 2G; docs/limits.md)
  --cache-dir DIR      where the parse cache goes (default: COMMLENS_CACHE_DIR, else
                       .commlens-cache beside the traces; docs/scale.md)
  --no-cache           neither read nor write the parse cache
  Kineto rank files are read in parallel and reduced as they are read; a rank file that
  is cut short or corrupt is named (byte, events and steps read) and left out, the other
  ranks are analysed, and the exit code is 1.
`;

/** Expands the positional arguments into the chosen run's trace files (trace/discover.ts); throws with a clear message on bad paths. */
export function collectTraceFiles(inputs: string[], opts: { run?: string; rank?: number } = {}): string[] {
  return discoverTraces(inputs, opts).chosen.files.map((f) => f.path);
}

/** The per-rank metrics of `--json`, keyed by rank, in µs and percent. */
export function perRankJson(a: Analysis): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  const us = (ns: number) => ns / 1000;
  const r2 = (x: number) => Math.round(x * 100) / 100;
  for (const r of a.ranks) {
    out[String(r.rank)] = {
      idle_us: us(r.temporal.idleNs),
      compute_us: us(r.temporal.computeNs),
      non_compute_us: us(r.temporal.nonComputeNs),
      kernel_span_us: us(r.temporal.spanNs),
      overlap_pct: r2(r.overlap.overlapPct),
      idle_pct: r2(r.temporal.idlePct),
      compute_pct: r2(r.temporal.computePct),
      non_compute_pct: r2(r.temporal.nonComputePct),
      exposed_comm_us: us(r.overlap.exposedCommNs),
      comm_us: us(r.overlap.commNs),
    };
  }
  return out;
}

const OPTIONS: OptionSpecs = {
  json: { kind: 'flag' },
  'full-json': { kind: 'flag' },
  'per-rank-json': { kind: 'flag' },
  'include-last-step': { kind: 'flag' },
  'link-peak-gbps': { kind: 'number', min: 1e-9 },
  run: { kind: 'string' },
  rank: { kind: 'int', min: 0 },
  'cache-dir': { kind: 'string' },
  'no-cache': { kind: 'flag' },
};

/** `analyze` of a Kineto job (analysis/kinetoJobAnalysis.ts, shared with the extension's trace worker). */
export { analyzeKinetoJob };

export async function analyzeCommand(args: string[], io?: Io, beforeLoad?: () => void): Promise<number> {
  const out = new Output('analyze', { io });
  let inputs: string[], json: boolean, perRank: boolean, includeLastStep: boolean;
  let linkPeakGBps: number | undefined;
  let run: string | undefined, rank: number | undefined;
  let cache: false | { dir?: string };
  try {
    const p = parseArgs(args, OPTIONS);
    inputs = p.positional;
    // --full-json is the older name of --json (the whole analysis).
    json = flag(p, 'json') || flag(p, 'full-json');
    perRank = flag(p, 'per-rank-json');
    includeLastStep = flag(p, 'include-last-step');
    linkPeakGBps = num(p, 'link-peak-gbps');
    run = str(p, 'run');
    rank = num(p, 'rank');
    cache = flag(p, 'no-cache') ? false : { dir: str(p, 'cache-dir') };
  } catch (e) {
    if (e instanceof UsageError)
      return out.fail(e.showUsage ? `${e.message}\n\n${ANALYZE_USAGE}` : e.message, EXIT.badInput);
    throw e;
  }
  if (inputs.length === 0)
    return out.fail(`give a trace file or a folder of per-rank traces\n\n${ANALYZE_USAGE}`, EXIT.badInput);
  let found: TraceDiscovery;
  let analysis: Analysis | undefined;
  let leftOut: string[] = [];
  const options = { includeLastStep, linkPeakGBps };
  // What is known of the trace files from their heads (trace/fileFacts.ts) is kept in the cache
  // folder: read from --cache-dir too, and with --no-cache neither read nor kept.
  const factsWere = useFacts(cache !== false);
  if (cache && cache.dir) loadFacts(cache.dir);
  try {
    found = discoverTraces(inputs, { run, rank });
    if (found.chosen.kind === 'kineto') {
      // Reduce-then-merge through the worker pool and the parse cache (trace/kinetoJob.ts); a
      // job re-opened with the same files, options and code is answered from the cache.
      assertRanked(found.chosen);
      // On a terminal, how far the reading of the rank files has got (a first read of a big job
      // takes a while), on stderr, erased when it is done: the report on stdout is untouched.
      const tty = !out.isQuiet && out.io === STDIO && process.stderr.isTTY === true;
      let shown = false;
      const onProgress = tty
        ? (p: JobProgress) => {
            shown = true;
            const cached = p.fromCache > 0 ? `, ${p.fromCache} from the parse cache` : '';
            process.stderr.write(`\r\x1b[Kreading ${p.ranks} rank file(s): ${p.done} done${cached}…`);
          }
        : undefined;
      // The digested ranks need no bigger heap (this thread holds a few steps of each): a big job
      // is analysed here, and the child with its bigger heap (cli/heap.ts) is asked for only if the
      // ranks must be loaded whole, or if the ranks read so far say the job would not fit.
      const k = await analyzeKinetoJob(found.chosen.files, {
        cache,
        options,
        beforeWholeRanks: beforeLoad,
        onProgress,
      })
        .catch((e: unknown) => {
          if (beforeLoad && e instanceof JobTooLargeError) beforeLoad();
          throw e;
        })
        .finally(() => {
          if (shown) process.stderr.write('\r\x1b[K');
        });
      analysis = k.analysis;
      leftOut = k.leftOut;
      if (k.warning) out.warn(k.warning);
      const n = found.chosen.files.length;
      if (k.fromCache === 'job')
        out.warn(
          `the whole analysis came from the parse cache (the same ${n === 1 ? 'file' : `${n} files`}, options and CommLens as before); --no-cache reads the traces again`,
          'info',
        );
      else if (k.fromCache > 0) out.warn(`${k.fromCache} of ${n} ranks came from the parse cache`, 'info');
    } else {
      beforeLoad?.();
      analysis = analyze(await loadRun(found.chosen), { ...options, checkRunConfig });
    }
  } catch (e) {
    if (e instanceof HeapWanted) throw e;
    return out.fail((e as Error).message, EXIT.badInput);
  } finally {
    useFacts(factsWere);
  }
  const files = found.chosen.files.map((f) => f.path);
  if (json || perRank) {
    for (const n of found.notes) out.warn(n, 'info');
    out.json(perRank ? perRankJson(analysis) : analysis);
    if (perRank) for (const n of analysis.notes) out.warn(n, 'info');
  } else {
    const runs = found.notes.length > 0 ? `${found.notes.map((n) => `> ${n}`).join('\n')}\n\n` : '';
    out.write(
      runs + markdownReport(analysis, { traceLink: files.length === 1 ? files[0] : undefined, traceFiles: files }),
    );
  }
  if (leftOut.length > 0) {
    // A partial result: the ranks that could be read are analysed above; the others are named.
    for (const w of leftOut) out.warn(w);
    return EXIT.failure;
  }
  return EXIT.ok;
}

export const analyzeCmd: Command = {
  name: 'analyze',
  synopsis: 'analyze <trace | folder of per-rank traces> [--json] [--include-last-step] [--run ID]',
  summary: 'metrics (HTA definitions) and suggestions for a trace',
  usage: ANALYZE_USAGE,
  run: analyzeCommand,
  runUntilLoad: (args, beforeLoad, io) => analyzeCommand(args, io, beforeLoad),
};
