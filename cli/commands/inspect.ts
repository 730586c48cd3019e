/**
 * `commlens inspect <file | folder> [--json]`: what the importer finds in each trace file.
 * Exit codes: 0 ok, 2 bad input (usage, unreadable or malformed trace), 1 failure.
 */
import * as fs from 'node:fs';
import { TraceFormatError } from '../../trace/errors';
import { loadTraceFile } from '../../trace/load';
import { describeRun, discoverTraces } from '../../trace/discover';
import { summarizeTrace, type TraceSummary } from '../../trace/summary';
import { EXIT } from '../protocol';
import { Output, type Io } from '../output';
import { safeText } from '../../trace/safeText';
import { parseArgs, flag, str, UsageError, type OptionSpecs } from '../args';
import { perfettoSql } from '../perfettoSql';
import type { Command } from '../command';

const INSPECT_USAGE = `usage: commlens inspect <trace file or folder> [--json | --perfetto-sql "<query>"]
  Prints what the importer found in each trace: format, ranks, tracks, slices, flows,
  steps, collectives, and how a CommLens run ended. --json: the same as JSON.
  --perfetto-sql Q  run the SQL query Q over each trace through Perfetto's
                    trace_processor_shell (on PATH or $COMMLENS_TRACE_PROCESSOR)`;

const OPTIONS: OptionSpecs = { json: { kind: 'flag' }, 'perfetto-sql': { kind: 'string' } };

/** `inspect <file or folder> [--json]`: what the importer found in each trace file. */
export async function inspectCommand(args: string[], io?: Io): Promise<number> {
  const out = new Output('inspect', { io });
  let rest: string[], json: boolean, sql: string | undefined;
  try {
    const p = parseArgs(args, OPTIONS);
    rest = p.positional;
    json = flag(p, 'json');
    sql = str(p, 'perfetto-sql');
    if (sql !== undefined && json) throw new UsageError('--json and --perfetto-sql exclude each other');
  } catch (e) {
    if (e instanceof UsageError)
      return out.fail(e.showUsage ? `${e.message}\n${INSPECT_USAGE}` : e.message, EXIT.badInput);
    throw e;
  }
  if (rest.length !== 1) return out.fail(`expected one trace file or folder\n${INSPECT_USAGE}`, EXIT.badInput);
  const target = rest[0];
  let files: string[];
  try {
    const st = fs.statSync(target);
    const found = st.isDirectory() ? discoverTraces([target]) : undefined;
    files = found ? found.runs.flatMap((r) => r.files.map((f) => f.path)) : [target];
    // A folder: its runs and what was left out, before the files (text output only).
    if (found && !json && sql === undefined)
      out.write(
        [...found.runs.map(describeRun), ...found.skipped.map((x) => `skipped ${x.path}: ${x.reason}`), ''].join('\n'),
      );
  } catch (e) {
    return out.fail(e instanceof TraceFormatError ? e.message : `${target}: ${(e as Error).message}`, EXIT.badInput);
  }
  if (files.length === 0)
    return out.fail(`${target}: no trace files (.pftrace, .perfetto-trace, .json, .json.gz)`, EXIT.badInput);
  if (sql !== undefined) return perfettoSql(files, sql, out.io);
  const results: ({ file: string } & (TraceSummary | { error: string }))[] = [];
  let code: number = EXIT.ok;
  for (const file of files) {
    try {
      results.push({ file, ...summarizeTrace(await loadTraceFile(file)) });
    } catch (e) {
      code = Math.max(code, e instanceof TraceFormatError ? EXIT.badInput : EXIT.failure);
      results.push({ file, error: (e as Error).message });
    }
  }
  if (json) out.json(results.length === 1 && !fs.statSync(target).isDirectory() ? results[0] : results);
  else for (const r of results) out.write(formatSummary(r));
  return code;
}

function formatSummary(r: { file: string } & (TraceSummary | { error: string })): string {
  if ('error' in r) return `${safeText(r.file)}\n  error: ${safeText(r.error)}\n`;
  const ops =
    Object.entries(r.collectivesByOp)
      .map(([op, n]) => `${safeText(op)} ×${n}`)
      .join(', ') || 'none';
  // Names come from the file: escaped one by one (newlines too), so a trace cannot drive the terminal or fake a line.
  const lines = [
    safeText(r.file),
    `  format      ${r.format}${r.worldSize !== undefined ? `, world size ${r.worldSize}` : ''}`,
    `  ranks       ${r.ranks} (${r.processes.map((p) => (p.rank !== undefined ? `rank ${p.rank}` : safeText(p.name))).join(', ')})`,
    `  tracks      ${r.tracks.slice} slice, ${r.tracks.counter} counter`,
    `  slices      ${r.slices} (${r.steps} steps), flows ${r.flows}, counter samples ${r.counters.samples}`,
    `  collectives ${ops}`,
    `  span        ${(r.spanNs / 1e6).toFixed(3)} ms`,
    ...(r.run
      ? [
          `  run         ${safeText(String(r.run.status))}${r.run.failedRank !== undefined ? ` (rank ${r.run.failedRank})` : ''}${r.run.error ? `: ${safeText(String(r.run.error))}` : ''}`,
        ]
      : []),
    ...r.warnings.map((w) => `  warning     ${safeText(w)}`),
  ];
  return `${lines.join('\n')}\n`;
}

export const inspect: Command = {
  name: 'inspect',
  synopsis: 'inspect <file | folder> [--json | --perfetto-sql "<query>"]',
  summary: 'what a trace holds: format, ranks, tracks, slices, flows, steps',
  usage: INSPECT_USAGE,
  run: inspectCommand,
};
