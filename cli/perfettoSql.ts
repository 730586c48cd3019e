/**
 * `commlens inspect --perfetto-sql "<query>"`: a SQL query over trace files through
 * Perfetto's own trace processor (trace_processor_shell), when the user has it. CommLens
 * never needs it: this only hands the query to the binary and passes its CSV through.
 * Node only (spawns a process); the webview never imports it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';

/** Environment variable naming the binary; else `trace_processor_shell` or `trace_processor` on PATH. */
export const TRACE_PROCESSOR_ENV = 'COMMLENS_TRACE_PROCESSOR';
const NAMES = ['trace_processor_shell', 'trace_processor'];

function executable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Where the binary is: $COMMLENS_TRACE_PROCESSOR when set, else the first of NAMES on PATH. */
export function findTraceProcessor(env: NodeJS.ProcessEnv = process.env): { path?: string; looked: string } {
  const named = env[TRACE_PROCESSOR_ENV];
  if (named)
    return executable(named)
      ? { path: named, looked: named }
      : { looked: `${TRACE_PROCESSOR_ENV}=${named} (not an executable file)` };
  const dirs = (env.PATH ?? '').split(path.delimiter).filter((d) => d !== '');
  for (const d of dirs)
    for (const n of NAMES) if (executable(path.join(d, n))) return { path: path.join(d, n), looked: '' };
  return { looked: `${NAMES.join(' or ')} on PATH, and ${TRACE_PROCESSOR_ENV} (unset)` };
}

/**
 * Runs `sql` over each file through the trace processor and writes its output (CSV: a
 * header line, then one line per row), each file's under its name when there are
 * several. Returns the exit code: 0, 1 when the binary is missing or fails to start,
 * 2 when it refuses a query or a file (its message is passed on).
 */
export function perfettoSql(
  files: string[],
  sql: string,
  io: { out(t: string): void; err(t: string): void },
  env: NodeJS.ProcessEnv = process.env,
): number {
  const bin = findTraceProcessor(env);
  if (!bin.path) {
    io.err(
      `commlens: --perfetto-sql needs Perfetto's trace processor (trace_processor_shell); not found: looked for ${bin.looked}. Put it on PATH or set ${TRACE_PROCESSOR_ENV} to its path; every other command works without it.\n`,
    );
    return 1;
  }
  if (sql.trim() === '') {
    io.err('commlens: --perfetto-sql: the query is empty; give a SQL query, e.g. "select count(*) from slice"\n');
    return 2;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-sql-'));
  try {
    const queryFile = path.join(dir, 'query.sql');
    fs.writeFileSync(queryFile, sql);
    let code = 0;
    for (const file of files) {
      if (files.length > 1) io.out(`${file}\n`);
      // -q FILE: the classic flag, understood by old and new versions alike.
      const r = spawnSync(bin.path, ['-q', queryFile, file], { encoding: 'utf8', maxBuffer: 1024 * 1024 * 1024 });
      if (r.error) {
        io.err(`commlens: ${bin.path}: ${r.error.message}\n`);
        return 1;
      }
      io.out(r.stdout);
      if (r.status !== 0) {
        // Its stderr holds the load progress and, last, what it refused.
        const why = r.stderr
          .split(/[\r\n]+/)
          .filter(
            (l) =>
              l.trim() !== '' &&
              !/^Loading trace|Trace loaded|Query execution time/.test(l.replace(/^\[[\d.]+\]\s*\S+\s*/, '')),
          );
        io.err(
          `commlens: ${file}: Perfetto's trace processor failed on the query or the file (exit ${r.status ?? r.signal}):\n${why.join('\n')}\n`,
        );
        code = 2;
      }
    }
    return code;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
