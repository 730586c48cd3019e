/**
 * Runs a user's own training command (torchrun ..., python ...) the way CommLens' "Profile
 * External Command…" does, for the CLI: `/bin/sh -c <command>` in its folder, with
 * COMMLENS_TRACE_DIR set, the commlens_torch helper first on PYTHONPATH and, to verify a
 * suggestion, COMMLENS_APPLY naming the change (trace/torchJob.ts). Output is handed over
 * line by line; a SIGINT or SIGTERM of this process interrupts the job's whole process group,
 * and so does the end of `timeoutMs` (a job whose ranks wait forever on a collective that one
 * of them never joins does not end by itself): SIGINT first, SIGKILL if the group is still
 * there KILL_GRACE_MS later.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { APPLY_ENV, TRACE_DIR_ENV, type TorchApply } from '../trace/torchJob';

/** The folder holding python/commlens_torch in this checkout or package (found upwards from this file). */
export function pythonHelperDir(from = __dirname): string | undefined {
  for (let d = path.resolve(from); ; d = path.dirname(d)) {
    const p = path.join(d, 'python');
    if (existsSync(path.join(p, 'commlens_torch', '__init__.py'))) return p;
    if (path.dirname(d) === d) return undefined;
  }
}

export interface ExternalCommandOptions {
  command: string;
  cwd: string;
  traceDir: string;
  /** The change commlens_torch applies (COMMLENS_APPLY). */
  apply?: TorchApply;
  /** Folder holding commlens_torch, put first on PYTHONPATH. */
  helperDir?: string;
  env?: NodeJS.ProcessEnv;
  onLine?(line: string): void;
  /** Stop the job's process group after this long (ms); absent: no limit. */
  timeoutMs?: number;
}

/** After the time limit's SIGINT, how long the job has to end before its process group is killed. */
export const KILL_GRACE_MS = 10_000;

export interface ExternalCommandResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Ended by a SIGINT or SIGTERM of this process. */
  interrupted: boolean;
  /** Stopped at `timeoutMs`. */
  timedOut: boolean;
}

/** The environment the job runs with. */
export function externalCommandEnv(o: ExternalCommandOptions): NodeJS.ProcessEnv {
  const base = { ...(o.env ?? process.env) };
  const env: NodeJS.ProcessEnv = { ...base, [TRACE_DIR_ENV]: o.traceDir, PYTHONUNBUFFERED: '1' };
  if (o.helperDir) env.PYTHONPATH = base.PYTHONPATH ? `${o.helperDir}${path.delimiter}${base.PYTHONPATH}` : o.helperDir;
  if (o.apply) env[APPLY_ENV] = JSON.stringify(o.apply);
  else delete env[APPLY_ENV];
  return env;
}

/** Runs the command to its end; resolves with its exit code (null when a signal ended it) and signal. */
export function runExternalCommand(o: ExternalCommandOptions): Promise<ExternalCommandResult> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', o.command], {
      cwd: o.cwd,
      env: externalCommandEnv(o),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let interrupted = false,
      timedOut = false;
    const signalGroup = (sig: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };
    const stop = () => {
      interrupted = true;
      signalGroup('SIGINT');
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    let kill: NodeJS.Timeout | undefined;
    const limit =
      o.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            signalGroup('SIGINT');
            kill = setTimeout(() => signalGroup('SIGKILL'), KILL_GRACE_MS);
          }, o.timeoutMs)
        : undefined;
    const lines = (stream: NodeJS.ReadableStream) => {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (t: string) => {
        const parts = (rest + t).split(/\r?\n/);
        rest = parts.pop() ?? '';
        for (const l of parts) o.onLine?.(l);
      });
      stream.on('end', () => {
        if (rest) o.onLine?.(rest);
        rest = '';
      });
    };
    lines(child.stdout!);
    lines(child.stderr!);
    const done = (exitCode: number | null, signal: NodeJS.Signals | null) => {
      process.removeListener('SIGINT', stop);
      process.removeListener('SIGTERM', stop);
      clearTimeout(limit);
      clearTimeout(kill);
      // Whatever the shell left behind (ranks it started) goes with it once the limit has passed.
      if (timedOut) signalGroup('SIGKILL');
      resolve({ exitCode, signal, interrupted, timedOut });
    };
    child.on('error', (e) => {
      o.onLine?.(`cannot start the command: ${e.message}`);
      done(null, null);
    });
    child.on('close', (code, signal) => done(code, signal));
  });
}
