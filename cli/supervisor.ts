/**
 * The supervisor: `commlens profile` and `commlens verify` train in a child process while
 * this parent stands by.
 *
 * Why: the ranks are threads of one process, and a GPU driver that runs out of memory can
 * take that whole process down with a signal instead of returning an error. On Mesa
 * lavapipe a failed allocation segfaults inside Dawn's lazy texture clear or in a lavapipe
 * worker thread; the kernel's out-of-memory killer sends SIGKILL; V8 aborts at its heap
 * limit. Nothing inside the process can then say why the run ended. The parent can: it
 * cuts a half-written packet off the streamed trace, appends how the run ended (status,
 * reason, signal) to the trace's run metadata, turns the summary the child rewrote after
 * every step into a failed one, analyses the steps that finished, and exits with
 * EXIT.crashed.
 *
 * The child inherits stdout and stderr, so progress lines (and the `--events` stream)
 * pass straight through; it names its run folder in the file given by RUN_DIR_FILE_ENV.
 * Signals that reach only the parent are passed on to the child.
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { freemem, tmpdir, totalmem } from 'node:os';
import { basename, join, relative } from 'node:path';
import { EXIT } from './protocol';
import { CRASH_FILE_ENV, guardStream, readCrashNote } from '../runtime/lifeline';
import { Output } from './output';
import { checkRunConfig } from './runConfigCheck';
import { LINK_PROFILES, slowedProfile } from '../runtime/comm';
import { readPerfetto } from '../trace/perfettoReader';
import { PerfettoStreamWriter, intactPrefixLength, runEndArgs, type RunEnd } from '../trace/perfettoWriter';
import { deflateFast, inflateBounded } from '../trace/load';
import { analyze, markdownReport } from '../analysis/index';
import type { RunSummary } from '../runtime/summary';
import type { TraceModel } from '../trace/model';

/** Set to '1' in the child, so it runs the command itself. */
export const SUPERVISED_ENV = 'COMMLENS_SUPERVISED';
/** The file where the child appends the run folder(s) it creates, one per line. */
export const RUN_DIR_FILE_ENV = 'COMMLENS_RUN_DIR_FILE';
/** Set to '1' to run without a supervisor (one process; a driver crash then leaves the summary at 'running'). */
export const NO_SUPERVISOR_ENV = 'COMMLENS_NO_SUPERVISOR';

// doctor too: Dawn prints its per-device notices from native code straight to file
// descriptor 2, so only a parent reading the child's stderr can leave them out.
const SUPERVISED_COMMANDS = new Set(['profile', 'verify', 'doctor']);
/** Signals that mean "stop", not "crashed": the run counts as cancelled. */
const STOP_SIGNALS = new Set<string>(['SIGINT', 'SIGTERM', 'SIGHUP']);

export function shouldSupervise(cmd: string | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  return (
    cmd !== undefined && SUPERVISED_COMMANDS.has(cmd) && env[SUPERVISED_ENV] !== '1' && env[NO_SUPERVISOR_ENV] !== '1'
  );
}

/** In a supervised child: tells the parent where this run writes (no-op otherwise). */
export function tellSupervisor(runDir: string): void {
  const file = process.env[RUN_DIR_FILE_ENV];
  if (!file) return;
  try {
    appendFileSync(file, runDir + '\n');
  } catch {
    // the parent then reports the crash without a run folder
  }
}

/** Writes `text` to `path` through a temporary file and a rename: a reader (or a crash) never sees half a file. */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** V8's own words when it ran out of heap. */
const HEAP_EXHAUSTED = /JavaScript heap out of memory|Reached heap limit|Ineffective mark-compacts near heap limit/;

/**
 * Why the runtime process died of `signal`, in a user's words: the JavaScript error it
 * noted before dying (`jsError`), else what its last stderr lines say (`stderrTail`: V8
 * out of heap, a Dawn or driver check), else what the signal usually means. Memory
 * advice only where memory is the likely cause.
 */
export function crashReason(
  signal: string,
  mem = { freeBytes: freemem(), totalBytes: totalmem() },
  seen: { jsError?: string; stderrTail?: string[] } = {},
): string {
  if (seen.jsError)
    return `the runtime process stopped on an internal error: ${seen.jsError}; it then died of ${signal} (please report this with the messages above)`;
  const gib = (b: number): string => (b / 2 ** 30).toFixed(1);
  const memory = `${gib(mem.freeBytes)} of ${gib(mem.totalBytes)} GiB free now`;
  const smaller = 'lower worldSize, the model size or the batch';
  switch (signal) {
    case 'SIGKILL':
      return `the runtime process was killed (SIGKILL) from outside CommLens; on Linux that is usually the kernel's out-of-memory killer (see \`dmesg\`): free memory (${memory}) or ${smaller}`;
    case 'SIGSEGV':
    case 'SIGBUS':
      return `the runtime process crashed in native code (${signal}), in the GPU driver or Dawn. On a software adapter (lavapipe) this is how running out of memory ends: free memory (${memory}; a per-process limit such as \`ulimit -v\` or a container's counts too) or ${smaller}; on a GPU, check the driver with \`commlens doctor\``;
    case 'SIGABRT': {
      const tail = (seen.stderrTail ?? []).map((l) => l.trim()).filter(Boolean);
      if (tail.some((l) => HEAP_EXHAUSTED.test(l)))
        return `the runtime process ran out of JavaScript heap (V8 aborted, SIGABRT; ${memory}): ${smaller}, or raise the heap limit with NODE_OPTIONS=--max-old-space-size=MiB`;
      const last = tail.at(-1);
      if (last)
        return `the runtime process aborted (SIGABRT) in native code (Dawn or the GPU driver), after: ${JSON.stringify(last.length > 300 ? `${last.slice(0, 300)}…` : last)}; check the driver with \`commlens doctor\``;
      return `the runtime process aborted (SIGABRT) without a message (a failed check in Dawn, the GPU driver or Node); check the driver with \`commlens doctor\``;
    }
    default:
      return `the runtime process died of ${signal}`;
  }
}

export interface FinalizedRun {
  runDir: string;
  tracePath?: string;
  summaryPath?: string;
  stepsCompleted?: number;
  /** Bytes of a half-written packet cut off the end of the trace. */
  cutBytes: number;
}

/**
 * Completes the files of a run whose process ended without doing so: repairs the trace's
 * tail and appends `end` to its run metadata; sets the summary's status and error; writes
 * the analysis of the finished steps into the summary and report.md. Never throws: what
 * cannot be completed is left as it is.
 */
export function finalizeRun(runDir: string, end: RunEnd): FinalizedRun {
  const result: FinalizedRun = { runDir, cutBytes: 0 };
  const tracePath = join(runDir, 'trace.pftrace');
  let model: TraceModel | undefined;
  if (existsSync(tracePath)) {
    result.tracePath = tracePath;
    try {
      const bytes = readFileSync(tracePath);
      const intact = intactPrefixLength(bytes);
      if (intact < bytes.length) {
        truncateSync(tracePath, intact);
        result.cutBytes = bytes.length - intact;
      }
      model = readPerfetto(bytes.subarray(0, intact), { fileName: tracePath, inflate: inflateBounded });
      const args = runEndArgs(model.meta.info, end);
      const w = new PerfettoStreamWriter((chunk) => appendFileSync(tracePath, chunk), {
        originNs: model.meta.originNs,
        compress: deflateFast,
      });
      w.metadata(args);
      w.flush();
      model.meta.info = args.info as typeof model.meta.info;
    } catch {
      // an unreadable trace stays as it is; the summary still says how the run ended
    }
  }
  const summaryPath = join(runDir, 'summary.json');
  if (existsSync(summaryPath)) {
    try {
      const summary = JSON.parse(readFileSync(summaryPath, 'utf8')) as RunSummary;
      summary.status = end.status;
      if (end.status === 'failed')
        summary.error = {
          ...(end.rank !== undefined ? { rank: end.rank } : {}),
          message: end.error ?? 'failed',
          ...(end.signal ? { signal: end.signal } : {}),
        };
      result.stepsCompleted = summary.stepsCompleted;
      if (model) {
        const profile = LINK_PROFILES[summary.config?.link];
        const link = profile ? slowedProfile(profile, summary.config.linkScale ?? 1) : undefined;
        const analysis = analyze(model, { ...(link ? { linkPeakGBps: link.bytesPerNs } : {}), checkRunConfig });
        summary.analysis = analysis;
        writeFileSync(join(runDir, 'report.md'), markdownReport(analysis, { traceLink: './trace.pftrace' }));
      }
      writeFileAtomic(summaryPath, JSON.stringify(summary, null, 2) + '\n');
      result.summaryPath = summaryPath;
    } catch {
      // a summary that cannot be read or analysed stays as the child left it
    }
  }
  return result;
}

function summaryStatus(runDir: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')) as RunSummary).status;
  } catch {
    return undefined;
  }
}

/**
 * Dawn prints these for every device it creates (one per rank): limits it lowers on every
 * adapter to fit its own bookkeeping. They say nothing about the run and bury its output.
 */
const BENIGN_DAWN_LINE =
  /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/;

/**
 * A line filter for the child's stderr: feed it chunks as they come, then end(); it
 * writes every line except Dawn's per-device notices, and a last line without a newline.
 */
export function stderrFilter(write: (text: string) => void): { push(chunk: string): void; end(): void } {
  let pending = '';
  return {
    push(chunk: string): void {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (!BENIGN_DAWN_LINE.test(line)) write(line + '\n');
      }
    },
    end(): void {
      if (pending && !BENIGN_DAWN_LINE.test(pending)) write(pending);
      pending = '';
    },
  };
}

/** Copies the child's stderr to ours line by line, leaving out Dawn's per-device notices; keeps the last lines in `tail`. */
function forwardStderr(stream: Readable, tail: string[]): void {
  const filter = stderrFilter((text) => {
    tail.push(...text.split('\n').filter(Boolean));
    tail.splice(0, Math.max(0, tail.length - 20));
    process.stderr.write(text);
  });
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => filter.push(chunk));
  stream.on('end', () => filter.end());
}

/**
 * Runs `commlens <cmd> <args>` in a child process (the same Node, the same CLI file) and
 * returns the exit code: the child's own when it exited, EXIT.crashed when it died of a
 * signal (EXIT.cancelled for SIGINT, SIGTERM, SIGHUP), after completing its run's files.
 */
export async function superviseCommand(cmd: string, args: string[], cliPath: string): Promise<number> {
  const events = args.includes('--events');
  const dir = mkdtempSync(join(tmpdir(), 'commlens-supervisor-'));
  const marker = join(dir, 'run-dirs');
  const crashFile = join(dir, 'crash');
  // Our own stdout or stderr closing (`| head`, `2>&1 | head`) must not kill the
  // supervisor: the child sees the same pipe close and stops its run as cancelled.
  guardStream(process.stdout, () => undefined);
  guardStream(process.stderr, () => undefined);
  // The IPC channel is the child's lifeline: when this process dies, even of SIGKILL, the
  // channel closes and the child stops its run (runtime/lifeline.ts).
  const child = spawn(process.execPath, [...process.execArgv, cliPath, cmd, ...args], {
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    env: { ...process.env, [SUPERVISED_ENV]: '1', [RUN_DIR_FILE_ENV]: marker, [CRASH_FILE_ENV]: crashFile },
  });
  const stderrTail: string[] = [];
  if (child.stderr) forwardStderr(child.stderr, stderrTail);
  const forward = (sig: NodeJS.Signals): void => {
    try {
      child.kill(sig);
    } catch {
      // already gone
    }
  };
  const stopSignals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of stopSignals) process.on(s, forward);
  const ended = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.on('error', (error) => resolve({ code: null, signal: null, error }));
    // 'close': after the child's stderr is drained too, so nothing it wrote is lost.
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  for (const s of stopSignals) process.off(s, forward);
  let runDirs: string[] = [];
  try {
    runDirs = readFileSync(marker, 'utf8').split('\n').filter(Boolean);
  } catch {
    // the child never got as far as creating a run folder
  }
  const jsError = readCrashNote(crashFile);
  rmSync(dir, { recursive: true, force: true });
  const runDir = runDirs.at(-1);

  const out = new Output(cmd, { events });

  if (ended.error) {
    return out.fail(`cannot start the runtime process (${process.execPath}): ${ended.error.message}`, EXIT.failure);
  }
  if (ended.signal === null) {
    const code = ended.code ?? EXIT.failure;
    // Exited on its own but left the summary at 'running' (an error that escaped the run's handlers).
    if (code !== EXIT.ok && runDir && summaryStatus(runDir) === 'running') {
      finalizeRun(runDir, {
        status: 'failed',
        error: jsError
          ? `internal error: ${jsError}`
          : `the runtime exited with code ${code} before it finished the run (see the messages above)`,
      });
    }
    return code;
  }

  const signal = ended.signal;
  const cancelled = STOP_SIGNALS.has(signal);
  const reason = cancelled ? `cancelled by ${signal}` : crashReason(signal, undefined, { jsError, stderrTail });
  const fin = runDir
    ? finalizeRun(
        runDir,
        cancelled ? { status: 'cancelled', error: reason } : { status: 'failed', error: reason, signal },
      )
    : undefined;
  const rel = (p: string): string => relative(process.cwd(), p) || p;
  const where = fin?.tracePath
    ? ` (${fin.stepsCompleted ?? 'its finished'} steps finished; trace: ${rel(fin.tracePath)}${fin.summaryPath ? `, summary: ${rel(fin.summaryPath)}` : ''})`
    : '';
  if (cancelled) {
    if (events && runDir && fin?.tracePath && fin.summaryPath) {
      out.emit({
        kind: 'done',
        runId: basename(runDir),
        runDir,
        tracePath: fin.tracePath,
        summaryPath: fin.summaryPath,
        partial: true,
      });
      return EXIT.cancelled;
    }
    return out.fail(`${reason}${where}`, EXIT.cancelled, fin?.tracePath ? { tracePath: fin.tracePath } : {});
  }
  return out.fail(`${reason}${where}`, EXIT.crashed, {
    signal,
    ...(fin?.tracePath ? { tracePath: fin.tracePath } : {}),
  });
}
