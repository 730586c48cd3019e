/**
 * `commlens analyze <trace or folder of per-rank traces> [--json] [--include-last-step]`:
 * imports PyTorch profiler (Kineto) traces, runs the analysis and prints a Markdown
 * report, or with --json the per-rank metrics keyed by rank.
 */
import { safeJson, safeText } from './safeText';
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { importKinetoFolder } from '../trace/kineto';
import { loadTraceFile, sniffTraceFile } from '../trace/load';
import { analyze, markdownReport, type Analysis } from '../analysis/index';
import { EXIT } from './protocol';

export const ANALYZE_USAGE = `usage: commlens analyze <trace.json[.gz] ... | folder> [--json] [--full-json] [--include-last-step] [--link-peak-gbps N]

  Analyses PyTorch profiler (Kineto) traces, one file per rank (a folder is searched
  for *.json and *.json.gz). Prints a Markdown report; with --json, the per-rank
  metrics keyed by rank (idle_us, compute_us, non_compute_us, kernel_span_us,
  overlap_pct, ...); with --full-json, the whole analysis object (analysis/SCHEMA.md).
  --include-last-step  analyse the last ProfilerStep too (left out by default, as HTA does)
  --link-peak-gbps N   the link's peak bandwidth in GB/s, to rate bus bandwidth against
`;

const TRACE_FILE = /\.json(\.gz)?$/i;

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

/** Expands the positional arguments into trace files; throws with a clear message on bad paths. */
export function collectTraceFiles(inputs: string[]): string[] {
  const files: string[] = [];
  for (const input of inputs) {
    const p = resolve(input);
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new Error(`no such file or folder: ${input}`);
    }
    if (st.isDirectory()) {
      const found = readdirSync(p).filter((f) => TRACE_FILE.test(f)).sort(naturalCompare).map((f) => join(p, f));
      if (found.length === 0) throw new Error(`${input} holds no trace files (*.json, *.json.gz)`);
      files.push(...found);
    } else {
      files.push(p);
    }
  }
  return files;
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
  let json = false, fullJson = false, includeLastStep = false;
  let linkPeakGBps: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--json') json = true;
    else if (a === '--full-json') fullJson = true;
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
  let files: string[];
  try {
    files = collectTraceFiles(inputs);
  } catch (e) {
    io.err(`commlens analyze: ${safeText((e as Error).message, { keepNewlines: true })}\n`);
    return EXIT.badInput;
  }
  let model;
  try {
    // One CommLens/Perfetto/Chrome JSON file holds every rank; Kineto traces come one file per rank.
    const single = files.length === 1 && (await sniffTraceFile(files[0])) !== 'kineto';
    model = single ? await loadTraceFile(files[0]) : await importKinetoFolder(files);
  } catch (e) {
    io.err(`commlens analyze: ${safeText((e as Error).message, { keepNewlines: true })}\n`);
    return EXIT.badInput;
  }
  const analysis = analyze(model, { includeLastStep, linkPeakGBps });
  if (json || fullJson) {
    // Names in the analysis come from the trace: escaped for the terminal (runtime/safeText.ts).
    io.out(safeJson(JSON.stringify(fullJson ? analysis : perRankJson(analysis), null, 2)) + '\n');
    if (json) for (const n of analysis.notes) io.err(`note: ${safeText(n)}\n`);
  } else {
    io.out(safeText(markdownReport(analysis, { traceLink: files.length === 1 ? files[0] : undefined, traceFiles: files }), { keepNewlines: true }));
  }
  return EXIT.ok;
}
