/**
 * `commlens reduce <rank traces or folder> --out <dir>`: each PyTorch profiler (Kineto) rank
 * trace is read and digested as `analyze` does it (the same scan pool and digest worker:
 * trace/kinetoScanPool.ts, analysis/rankDigestWorker.ts) and what the worker posts is written
 * to `<dir>/<name>.summary.commlens` (trace/rankSummaryFile.ts), a rank summary that
 * `commlens analyze` reads in place of the trace: on a cluster each node reduces its own ranks
 * and only the summaries travel. With `--kineto`, each rank is written instead as
 * `<dir>/<name>.reduced.json.gz`: a valid Kineto trace holding only what the per-rank metrics
 * read (trace/kinetoReduce.ts), which analyze and HTA read like the original.
 * Exit codes: 0 ok, 2 bad input (usage, not a Kineto trace), 1 failure (some ranks not written).
 */
import * as fs from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { deserialize } from 'node:v8';
import { gzipSync } from 'node:zlib';
import { reduceKinetoRankPayloads, scanKinetoFiles } from '../../trace/kinetoScanPool';
import type { RankPayload } from '../../trace/kinetoScanService';
import { reduceKinetoColumns } from '../../trace/kinetoReduce';
import { describeRankFailure } from '../../trace/kinetoJob';
import { discoverTraces, type TraceFileInfo } from '../../trace/discover';
import { isSummaryFile, readSummaryHeader, SUMMARY_SUFFIX, writeSummaryFile } from '../../trace/rankSummaryFile';
import { formatBytes } from '../../trace/format';
import { digestWorkerScript } from '../../analysis/kinetoJobAnalysis';
import { REPLAY_STEPS } from '../../analysis/replay/whatIf';
import { EXIT } from '../protocol';
import { Output, type Io } from '../output';
import { flag, num, parseArgs, str, UsageError, type OptionSpecs } from '../args';
import type { Command } from '../command';

const REDUCE_USAGE = `usage: commlens reduce <rank trace files | folder> --out <dir> [--include-last-step] [--kept-steps N] [--kineto]
  writes <dir>/<name>${SUMMARY_SUFFIX} per rank: the rank digested as analyze digests it
  (its per-rank figures, its communication, step markers and last steps), a small file that
  \`commlens analyze <dir>\` reads in place of the trace (alone or beside other ranks' traces)
  --include-last-step  digest as \`analyze --include-last-step\` will read it (it must match)
  --kept-steps N       the last N analysed steps kept whole, for the critical path and the
                       replay (default ${REPLAY_STEPS})
  --kineto             write <dir>/<name>.reduced.json.gz instead: a Kineto trace of only what
                       the analysis reads (GPU work, its launches, steps, comm launchers,
                       memory), which analyze and HTA read as they read the original`;

const OPTIONS: OptionSpecs = {
  out: { kind: 'string' },
  'include-last-step': { kind: 'flag' },
  'kept-steps': { kind: 'int' },
  kineto: { kind: 'flag' },
};

function inputsOf(paths: string[]): string[] {
  return paths.flatMap((p) =>
    fs.statSync(p).isDirectory()
      ? fs
          .readdirSync(p)
          .filter((f) => /\.json(\.gz)?$/.test(f))
          .sort()
          .map((f) => join(p, f))
      : [p],
  );
}

export async function reduceCommand(args: string[], io?: Io): Promise<number> {
  const out = new Output('reduce', { io });
  let positional: string[], dir: string | undefined, kineto: boolean, includeLastStep: boolean, keptSteps: number;
  try {
    const p = parseArgs(args, OPTIONS);
    dir = str(p, 'out');
    kineto = flag(p, 'kineto');
    includeLastStep = flag(p, 'include-last-step');
    keptSteps = num(p, 'kept-steps') ?? REPLAY_STEPS;
    if (p.positional.length === 0) throw new UsageError('expected rank trace files or a folder of them');
    if (!dir) throw new UsageError('expected --out <dir>');
    if (!(keptSteps >= 1))
      throw new UsageError(`--kept-steps ${keptSteps}: expected a whole number of steps, 1 or more`);
    if (kineto && (includeLastStep || num(p, 'kept-steps') !== undefined))
      throw new UsageError('--include-last-step and --kept-steps are options of the summaries, not of --kineto');
    const missing = p.positional.find((f) => !fs.existsSync(f));
    if (missing) throw new UsageError(`${missing}: no such file or folder`);
    positional = p.positional;
  } catch (e) {
    if (e instanceof UsageError) return out.fail(`${e.message}\n${REDUCE_USAGE}`, EXIT.badInput);
    throw e;
  }
  if (!kineto) return writeSummaries(out, positional, dir, { includeLastStep, keptSteps });
  const inputs = inputsOf(positional);
  if (inputs.length === 0)
    return out.fail(`no .json or .json.gz trace in ${positional.join(', ')}\n${REDUCE_USAGE}`, EXIT.badInput);
  fs.mkdirSync(dir, { recursive: true });
  let bytesIn = 0,
    bytesOut = 0;
  try {
    await scanKinetoFiles(inputs, {
      keep: false,
      onRank: (i, cols) => {
        const r = reduceKinetoColumns(cols);
        const gz = gzipSync(r.json, { level: 6 });
        fs.writeFileSync(join(dir, `${basename(inputs[i]).replace(/\.json(\.gz)?$/, '')}.reduced.json.gz`), gz);
        bytesIn += cols.bytes;
        bytesOut += r.json.length;
      },
    });
  } catch (e) {
    const message = (e as Error)?.message ?? String(e);
    return out.fail(
      message,
      /not a valid Kineto trace|not a PyTorch profiler/.test(message) ? EXIT.badInput : EXIT.failure,
    );
  }
  out.warn(
    `wrote ${inputs.length} reduced rank trace(s) to ${dir}: ${bytesOut} of ${bytesIn} JSON bytes (${((100 * bytesOut) / Math.max(1, bytesIn)).toFixed(1)} %)`,
    'info',
  );
  return EXIT.ok;
}

/** The summary's name for a trace: its base name without .json / .json.gz / .gz, then SUMMARY_SUFFIX. */
export function summaryNameOf(trace: string): string {
  return `${basename(trace).replace(/(\.json)?(\.gz)?$/i, '')}${SUMMARY_SUFFIX}`;
}

/** The per-rank Kineto traces among the inputs (every run found: each node may hold its own), and what was passed over. */
function rankTracesOf(inputs: string[]): { files: TraceFileInfo[]; passed: string[] } {
  const found = discoverTraces(inputs);
  const files: TraceFileInfo[] = [];
  const passed: string[] = [];
  for (const run of found.runs)
    for (const f of run.files) {
      if (run.kind !== 'kineto') passed.push(`${f.path}: not a per-rank PyTorch profiler (Kineto) trace (${run.kind})`);
      else if (f.summary) passed.push(`${f.path}: a rank summary already`);
      else files.push(f);
    }
  return { files, passed };
}

/**
 * Why `target` must not be written for `f`: a file there that is not a summary, or the summary of
 * another rank (another node's trace of the same name, in a shared --out folder). A summary of
 * the same rank, or one this code cannot read, is replaced.
 */
function clashOf(target: string, f: TraceFileInfo): string | undefined {
  if (!fs.existsSync(target)) return undefined;
  if (!isSummaryFile(target)) return `${target} exists and is not a rank summary; reduce into another --out folder`;
  let rank: number | undefined, from: string;
  try {
    const h = readSummaryHeader(target);
    rank = h.source.rank;
    from = h.source.path;
  } catch {
    return undefined;
  }
  if (rank === undefined || f.rank === undefined || rank === f.rank) return undefined;
  return `${target} is already the summary of rank ${rank} (made from ${from}), and ${f.path} is rank ${f.rank}: traces of different ranks with the same file name cannot share an --out folder; name the traces by rank, or reduce each node into its own folder`;
}

async function writeSummaries(
  out: Output,
  inputs: string[],
  dir: string,
  digest: { includeLastStep: boolean; keptSteps: number },
): Promise<number> {
  let files: TraceFileInfo[], passed: string[];
  try {
    ({ files, passed } = rankTracesOf(inputs));
  } catch (e) {
    return out.fail((e as Error).message, EXIT.badInput);
  }
  for (const p of passed) out.warn(`skipped ${p}`, 'info');
  if (files.length === 0)
    return out.fail(
      `no PyTorch profiler (Kineto) rank trace in ${inputs.join(', ')}; reduce reads the per-rank traces torch.profiler writes (plain or gzip JSON)`,
      EXIT.badInput,
    );
  const names = files.map((f) => summaryNameOf(f.path));
  const twice = names.findIndex((n, i) => names.indexOf(n) !== i);
  if (twice >= 0)
    return out.fail(
      `${files[names.indexOf(names[twice])].path} and ${files[twice].path} would both be written as ${join(dir, names[twice])}; reduce them into separate --out folders`,
      EXIT.badInput,
    );
  const clash = files.map((f, i) => clashOf(join(dir, names[i]), f)).find((c) => c !== undefined);
  if (clash) return out.fail(clash, EXIT.badInput);
  fs.mkdirSync(dir, { recursive: true });
  let bytesIn = 0,
    bytesOut = 0,
    written = 0;
  const failures: string[] = [];
  try {
    await reduceKinetoRankPayloads(
      files.map((f) => ({ path: f.path, rank: f.rank })),
      { workerPath: digestWorkerScript(), digest },
      (i, r) => {
        const f = files[i];
        if (!r.ok) {
          failures.push(
            describeRankFailure({ path: f.path, rank: f.rank, message: r.error, at: r.at }).replace(
              /; this rank is left out of the analysis$/,
              '; no summary written',
            ),
          );
          return;
        }
        const p = deserialize(r.payload) as RankPayload;
        const target = join(dir, names[i]);
        const size = writeSummaryFile(
          target,
          {
            includeLastStep: digest.includeLastStep,
            keptSteps: digest.keptSteps,
            digested: p.digest !== undefined,
            source: {
              name: basename(f.path),
              path: resolve(f.path),
              size: f.size,
              mtimeMs: f.mtimeMs,
              ...(f.rank !== undefined ? { rank: f.rank } : {}),
              ...(f.worldSize !== undefined ? { worldSize: f.worldSize } : {}),
              ...(f.backend !== undefined ? { backend: f.backend } : {}),
              ...(f.startUs !== undefined ? { startUs: f.startUs } : {}),
              ...(f.worker !== undefined ? { worker: f.worker } : {}),
              ...(f.exportMs !== undefined ? { exportMs: f.exportMs } : {}),
            },
          },
          r.payload,
        );
        out.warn(
          `${f.rank !== undefined ? `rank ${f.rank}: ` : ''}${target}: ${formatBytes(size)} for ${formatBytes(p.bytes)} of JSON${p.digest === undefined ? ' (the whole reduced rank: it could not be digested)' : ''}`,
          'info',
        );
        bytesIn += p.bytes;
        bytesOut += size;
        written++;
      },
    );
  } catch (e) {
    return out.fail(`writing the summaries in ${dir}: ${(e as Error)?.message ?? String(e)}`, EXIT.failure);
  }
  for (const f of failures) out.warn(f);
  if (written === 0) return out.fail(`no summary written: ${failures.join('; ')}`, EXIT.badInput);
  out.warn(
    `wrote ${written} rank summar${written === 1 ? 'y' : 'ies'} to ${dir}: ${formatBytes(bytesOut)} for ${formatBytes(bytesIn)} of JSON (${((100 * bytesOut) / Math.max(1, bytesIn)).toFixed(2)} %)`,
    'info',
  );
  return failures.length > 0 ? EXIT.failure : EXIT.ok;
}

export const reduce: Command = {
  name: 'reduce',
  synopsis: 'reduce <rank traces | folder> --out <dir> [--kineto]',
  summary: 'write small per-rank summaries that analyze reads in place of the traces',
  usage: REDUCE_USAGE,
  run: reduceCommand,
};
