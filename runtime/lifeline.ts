/**
 * What keeps a training process honest about its own life: who may stop it, and how a
 * reader of its files tells a run in progress from one whose processes are all gone.
 *
 * - Stop requests: a signal (SIGTERM, SIGINT), the supervising parent going away (its IPC
 *   channel closes, cli/supervisor.ts), or stdout closing under the run (EPIPE, e.g.
 *   `commlens profile | head`). Each stops the run at the next step boundary as
 *   cancelled, with the reason.
 * - Crash notes: an uncaught JavaScript error in the training process is written to the
 *   file the supervisor names (CRASH_FILE_ENV) before the process goes down, so the
 *   supervisor reports that error instead of guessing from the signal that followed.
 * - Process identity: summary.json records the pid and start time of the processes that
 *   run it; `runLiveness` tells 'running' from 'interrupted' when reading it back.
 *
 * Pure Node, no GPU: the VS Code extension reads summaries with it too.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { processStartTime, type RunProcess } from '../trace/runLiveness';

export type { RunProcess };

/** The file where a supervised child writes an uncaught error (one JSON line). */
export const CRASH_FILE_ENV = 'COMMLENS_CRASH_FILE';

/** `failed`: the run ends as failed (an internal error), not as cancelled. */
type StopListener = (reason: string, failed: boolean) => void;
const listeners = new Set<StopListener>();
let stopReason: string | undefined;
let stopFailed = false;

/** Asks the current run to stop (the first reason wins); `failed` for an error, not a cancel. */
export function requestStop(reason: string, failed = false): void {
  if (stopReason !== undefined) return;
  stopReason = reason;
  stopFailed = failed;
  for (const l of [...listeners]) l(reason, failed);
}

/** The reason a stop was asked for, if one was. */
export function stopRequested(): string | undefined {
  return stopReason;
}

/** Calls `l` when a stop is asked for (at once when it already was); returns the unsubscribe. */
export function onStopRequest(l: StopListener): () => void {
  listeners.add(l);
  if (stopReason !== undefined) l(stopReason, stopFailed);
  return () => listeners.delete(l);
}

/** For tests: forget an earlier stop request. */
export function resetStopRequest(): void {
  stopReason = undefined;
  stopFailed = false;
}

const closedStreams = new WeakSet<NodeJS.WritableStream>();

/** True once writing to `stream` failed because its reader went away. */
export function streamClosed(stream: NodeJS.WritableStream = process.stdout): boolean {
  return closedStreams.has(stream);
}

/**
 * Keeps a write error on `stream` (EPIPE: the reader is gone) from killing the process
 * with an unhandled 'error' event; marks the stream closed and calls `onClosed` once.
 */
export function guardStream(stream: NodeJS.WritableStream, onClosed: (code: string) => void): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (closedStreams.has(stream)) return;
    closedStreams.add(stream);
    onClosed(e.code ?? e.message);
  });
}

/** The first line of an error's stack below its message ("at f (file:line:col)"), if any. */
export function firstStackFrame(e: unknown): string | undefined {
  const stack = (e as Error | undefined)?.stack;
  if (typeof stack !== 'string') return undefined;
  return stack
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.startsWith('at '));
}

/** "TypeError: x is not a function (at f (file:1:2))": what a user needs to report a bug. */
export function describeError(e: unknown): string {
  const err = e as Error | undefined;
  const head = err instanceof Error ? `${err.name}: ${err.message}` : String(e);
  const at = firstStackFrame(e);
  return at ? `${head} (${at})` : head;
}

let guardsInstalled = false;

/**
 * In a training process: stdout or stderr closing stops the run quietly as cancelled;
 * the supervisor's IPC channel closing (the parent died, even of SIGKILL) stops it too;
 * an uncaught error is written to CRASH_FILE_ENV's file before the process goes down.
 */
export function installRunGuards(env: NodeJS.ProcessEnv = process.env): void {
  if (guardsInstalled) return;
  guardsInstalled = true;
  guardStream(process.stdout, (code) => requestStop(`stdout was closed (${code}), e.g. by \`| head\``));
  // stderr gone: nothing to tell, but the run must not die of it.
  guardStream(process.stderr, () => undefined);
  if (typeof process.send === 'function') {
    // The channel must not keep the process alive on its own; its end still arrives.
    (process.channel as { unref?: () => void } | undefined)?.unref?.();
    process.on('disconnect', () => requestStop('the commlens process supervising this run ended'));
  }
  const crashFile = env[CRASH_FILE_ENV];
  process.on('uncaughtException', (e) => {
    const line = describeError(e);
    if (crashFile) {
      try {
        appendFileSync(crashFile, JSON.stringify({ error: line }) + '\n');
      } catch {
        // the supervisor then reports the signal or exit code alone
      }
    }
    if (!streamClosed(process.stderr)) {
      try {
        process.stderr.write(`commlens: ${(e as Error)?.stack ?? line}\n`);
      } catch {
        // nowhere left to say it
      }
    }
    process.exitCode = 1;
    // No run to stop: leave now. Otherwise stop the ranks first (leaving with live GPU
    // workers aborts inside Dawn) and leave if the run does not wind down by itself.
    if (listeners.size === 0) process.exit(1);
    requestStop(`internal error: ${line}`, true);
    setTimeout(() => process.exit(1), 5000).unref();
  });
}

/** The error an uncaught exception left in a crash file, if any. */
export function readCrashNote(file: string): string | undefined {
  try {
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    const first = lines.length ? (JSON.parse(lines[0]) as { error?: unknown }) : undefined;
    return typeof first?.error === 'string' ? first.error : undefined;
  } catch {
    return undefined;
  }
}

/** The processes of this run: this one, and its supervisor when it has one. */
export function currentRunProcesses(supervised: boolean): RunProcess[] {
  const host = hostname();
  const list: RunProcess[] = [{ pid: process.pid, startTime: processStartTime(process.pid), role: 'trainer', host }];
  if (supervised && process.ppid > 1)
    list.push({ pid: process.ppid, startTime: processStartTime(process.ppid), role: 'supervisor', host });
  return list.map((p) => (p.startTime === undefined ? { pid: p.pid, role: p.role, host } : p));
}
