/**
 * `commlens inspect` and `commlens convert`: the trace importers and writers from the
 * command line. Exit codes: 0 ok, 2 bad input (usage, unreadable or malformed trace),
 * 1 failure (anything else, e.g. the output cannot be written).
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { TraceFormatError } from '../trace/errors';
import { deflateFast, loadTraceFile } from '../trace/load';
import { describeRun, discoverTraces } from '../trace/discover';
import { summarizeTrace, type TraceSummary } from '../trace/summary';
import { writePerfetto } from '../trace/perfettoWriter';
import { writeChromeJsonTo } from '../trace/chromeJson';

const OK = 0;
const FAILURE = 1;
const BAD_INPUT = 2;

const INSPECT_USAGE = 'usage: commlens inspect <trace file or folder> [--json]\n';
const CONVERT_USAGE = 'usage: commlens convert <input trace> <output.pftrace|output.perfetto-trace|output.json|output.json.gz> [--compress]\n  --compress  deflate the Perfetto packets (compressed_packets; Perfetto reads them)\n';

/** Where a command writes; tests pass their own. */
export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
}

const STDIO: CommandIo = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

function fail(io: CommandIo, e: unknown): number {
  if (e instanceof TraceFormatError) {
    io.err(`commlens: ${e.message}\n`);
    return BAD_INPUT;
  }
  io.err(`commlens: ${(e as Error)?.message ?? String(e)}\n`);
  return FAILURE;
}

/** `inspect <file or folder> [--json]`: what the importer found in each trace file. */
export async function inspectCommand(args: string[], io: CommandIo = STDIO): Promise<number> {
  const json = args.includes('--json');
  const rest = args.filter((a) => a !== '--json');
  if (rest.length !== 1 || rest[0].startsWith('-')) {
    io.err(INSPECT_USAGE);
    return BAD_INPUT;
  }
  const target = rest[0];
  let files: string[];
  try {
    const st = fs.statSync(target);
    const found = st.isDirectory() ? discoverTraces([target]) : undefined;
    files = found ? found.runs.flatMap((r) => r.files.map((f) => f.path)) : [target];
    // A folder: its runs and what was left out, before the files (text output only).
    if (found && !json) io.out([...found.runs.map(describeRun), ...found.skipped.map((x) => `skipped ${x.path}: ${x.reason}`), ''].join('\n') + '\n');
  } catch (e) {
    io.err(e instanceof TraceFormatError ? `commlens: ${e.message}\n` : `commlens: ${target}: ${(e as Error).message}\n`);
    return BAD_INPUT;
  }
  if (files.length === 0) {
    io.err(`commlens: ${target}: no trace files (.pftrace, .perfetto-trace, .json, .json.gz)\n`);
    return BAD_INPUT;
  }
  const results: ({ file: string } & (TraceSummary | { error: string }))[] = [];
  let code = OK;
  for (const file of files) {
    try {
      results.push({ file, ...summarizeTrace(await loadTraceFile(file)) });
    } catch (e) {
      code = Math.max(code, e instanceof TraceFormatError ? BAD_INPUT : FAILURE);
      results.push({ file, error: (e as Error).message });
    }
  }
  if (json) io.out(`${JSON.stringify(results.length === 1 && !(fs.statSync(target).isDirectory()) ? results[0] : results, null, 2)}\n`);
  else for (const r of results) io.out(formatSummary(r));
  return code;
}

function formatSummary(r: { file: string } & (TraceSummary | { error: string })): string {
  if ('error' in r) return `${r.file}\n  error: ${r.error}\n`;
  const ops = Object.entries(r.collectivesByOp).map(([op, n]) => `${op} ×${n}`).join(', ') || 'none';
  const lines = [
    r.file,
    `  format      ${r.format}${r.worldSize !== undefined ? `, world size ${r.worldSize}` : ''}`,
    `  ranks       ${r.ranks} (${r.processes.map((p) => (p.rank !== undefined ? `rank ${p.rank}` : p.name)).join(', ')})`,
    `  tracks      ${r.tracks.slice} slice, ${r.tracks.counter} counter`,
    `  slices      ${r.slices} (${r.steps} steps), flows ${r.flows}, counter samples ${r.counters.samples}`,
    `  collectives ${ops}`,
    `  span        ${(r.spanNs / 1e6).toFixed(3)} ms`,
    ...(r.run ? [`  run         ${r.run.status}${r.run.failedRank !== undefined ? ` (rank ${r.run.failedRank})` : ''}${r.run.error ? `: ${r.run.error}` : ''}`] : []),
    ...r.warnings.map((w) => `  warning     ${w}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** `convert <in> <out>`: any supported trace to Perfetto protobuf or Chrome JSON (gzip by `.gz`). */
export async function convertCommand(args: string[], io: CommandIo = STDIO): Promise<number> {
  const compress = args.includes('--compress');
  const files = args.filter((a) => a !== '--compress');
  if (files.length !== 2 || files.some((a) => a.startsWith('-'))) {
    io.err(CONVERT_USAGE);
    return BAD_INPUT;
  }
  const [input, output] = files;
  const kind = /\.(pftrace|perfetto-trace)$/i.test(output) ? 'perfetto' : /\.json$/i.test(output) ? 'json' : /\.json\.gz$/i.test(output) ? 'json.gz' : undefined;
  if (!kind) {
    io.err(`commlens: ${output}: unknown output format\n${CONVERT_USAGE}`);
    return BAD_INPUT;
  }
  let model;
  try {
    model = await loadTraceFile(input);
  } catch (e) {
    return fail(io, e);
  }
  try {
    if (kind === 'perfetto') fs.writeFileSync(output, writePerfetto(model, compress ? { compress: deflateFast } : {}));
    else await writeJson(model, output, kind === 'json.gz');
  } catch (e) {
    return fail(io, e);
  }
  for (const w of model.warnings) io.err(`commlens: warning: ${w}\n`);
  io.err(`commlens: wrote ${output} (${model.slices.length} slices, ${model.flows.length} flows)\n`);
  return OK;
}

async function writeJson(model: Parameters<typeof writeChromeJsonTo>[0], output: string, gzip: boolean): Promise<void> {
  const file = fs.createWriteStream(output);
  const out = gzip ? zlib.createGzip() : file;
  if (gzip) out.pipe(file);
  const done = new Promise<void>((resolve, reject) => {
    file.on('finish', resolve);
    file.on('error', reject);
    out.on('error', reject);
  });
  writeChromeJsonTo(model, (t) => out.write(t));
  out.end();
  await done;
}
