/**
 * `commlens analyze <trace or folder of per-rank traces> [--json] [--include-last-step]`:
 * imports PyTorch profiler (Kineto) traces, runs the analysis and prints a Markdown
 * report, or with --json the per-rank metrics keyed by rank.
 */
import { discoverTraces, type TraceDiscovery } from '../trace/discover';
import { loadRun } from '../trace/load';
import { analyze, markdownReport, type Analysis } from '../analysis/index';
import { EXIT } from './protocol';

export const ANALYZE_USAGE = `usage: commlens analyze <trace.json[.gz] ... | folder> [--json] [--per-rank-json] [--include-last-step] [--link-peak-gbps N] [--run ID] [--rank N]

  Analyses PyTorch profiler traces (Kineto, or pre-Kineto JSON arrays), one file per
  rank, or one CommLens/Perfetto trace of a whole job. A folder is searched with its
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
`;

/** Natural order, so rank-2 sorts before rank-10. */
/**
 * File names in natural order (`rank-2` before `rank-10`): runs of digits compare as
 * numbers, the rest by code unit. Written out because an ICU collator costs ~5 ms to start
 * in a fresh process, a tenth of analysing a trace pair.
 */
export function naturalCompare(a: string, b: string): number {
  const pa = a.match(/\d+|\D+/g) ?? [];
  const pb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i], y = pb[i];
    const dx = x.charCodeAt(0) <= 57 && x.charCodeAt(0) >= 48, dy = y.charCodeAt(0) <= 57 && y.charCodeAt(0) >= 48;
    if (dx && dy) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d;
      if (x.length !== y.length) return x.length - y.length;
    } else if (x !== y) return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

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

/** Where the command writes (stdout and stderr by default; tests pass their own). */
export interface CommandIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

const STDIO: CommandIo = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

export async function analyzeCommand(args: string[], io: CommandIo = STDIO): Promise<number> {
  const inputs: string[] = [];
  let json = false, perRank = false, includeLastStep = false;
  let linkPeakGBps: number | undefined;
  let run: string | undefined, rank: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--run') run = args[++i];
    else if (a === '--rank') {
      rank = Number(args[++i]);
      if (!Number.isInteger(rank) || rank < 0) {
        io.err(`commlens analyze: --rank needs a rank number (0, 1, ...), got '${args[i] ?? ''}'\n`);
        return EXIT.badInput;
      }
    } else if (a === '--json' || a === '--full-json') json = true;
    else if (a === '--per-rank-json') perRank = true;
    else if (a === '--include-last-step') includeLastStep = true;
    else if (a === '--link-peak-gbps') {
      const v = Number(args[++i]);
      if (!(v > 0)) {
        io.err(`commlens analyze: --link-peak-gbps needs a positive number of GB/s, got '${args[i] ?? ''}'\n`);
        return EXIT.badInput;
      }
      linkPeakGBps = v;
    } else if (a === '--help' || a === '-h') {
      io.out(ANALYZE_USAGE);
      return EXIT.ok;
    } else if (a.startsWith('--')) {
      io.err(`commlens analyze: unknown option '${a}'\n\n${ANALYZE_USAGE}`);
      return EXIT.badInput;
    } else inputs.push(a);
  }
  if (inputs.length === 0) {
    io.err(`commlens analyze: give a trace file or a folder of per-rank traces\n\n${ANALYZE_USAGE}`);
    return EXIT.badInput;
  }
  let found: TraceDiscovery;
  let model;
  try {
    found = discoverTraces(inputs, { run, rank });
    model = await loadRun(found.chosen);
  } catch (e) {
    io.err(`commlens analyze: ${(e as Error).message}\n`);
    return EXIT.badInput;
  }
  const files = found.chosen.files.map((f) => f.path);
  const analysis = analyze(model, { includeLastStep, linkPeakGBps });
  if (json || perRank) {
    for (const n of found.notes) io.err(`note: ${n}\n`);
    io.out(JSON.stringify(perRank ? perRankJson(analysis) : analysis, null, 2) + '\n');
    if (perRank) for (const n of analysis.notes) io.err(`note: ${n}\n`);
  } else {
    const runs = found.notes.length > 0 ? `${found.notes.map((n) => `> ${n}`).join('\n')}\n\n` : '';
    io.out(runs + markdownReport(analysis, { traceLink: files.length === 1 ? files[0] : undefined, traceFiles: files }));
  }
  return EXIT.ok;
}
