/**
 * Starts the CommLens runtime (or any program that speaks runtime/protocol.ts) as a
 * child process and turns its stdout into typed events. No `vscode` here, so the whole
 * process handling (event parsing, cancel, crash detection) is tested with real child
 * processes in plain Node.
 *
 * The child runs in its own process group (detached), so a cancel reaches the ranks and
 * anything else it started: SIGTERM to the group first (the runtime then writes the
 * partial trace and exits 130), SIGKILL to the group when it has not exited within the
 * grace period.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { parseEventLine, EXIT, type RuntimeEvent, type DoneEvent, type ErrorEvent } from '../cli/protocol';

export interface RuntimeInvocation {
  /** The program (normally `process.execPath`, i.e. Node). */
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** How a runtime process ended, as the extension reports it. */
export type RunOutcome =
  | { kind: 'done'; done: DoneEvent; exitCode: number | null; cancelled: boolean }
  | { kind: 'error'; error: ErrorEvent; exitCode: number | null; lastLines: string[] }
  /** Ended without a final event: a crash (killed, out of memory, a bug that bypassed the handler). */
  | { kind: 'crash'; exitCode: number | null; signal: NodeJS.Signals | null; lastLines: string[]; cancelled: boolean };

export interface RunHandlers {
  onEvent?(event: RuntimeEvent): void;
  /** Every line of stdout that is not an event, and every line of stderr. */
  onLog?(line: string, stream: 'stdout' | 'stderr'): void;
}

/** How many trailing log lines a crash report carries. */
export const CRASH_TAIL_LINES = 20;

/** Splits a byte stream into lines, keeping an unfinished last line for the next chunk. */
export class LineSplitter {
  private rest = '';
  push(chunk: string): string[] {
    const text = this.rest + chunk;
    const lines = text.split(/\r?\n/);
    this.rest = lines.pop() ?? '';
    return lines;
  }
  flush(): string[] {
    const r = this.rest;
    this.rest = '';
    return r.length > 0 ? [r] : [];
  }
}

export class RuntimeProcess {
  readonly child: ChildProcess;
  readonly finished: Promise<RunOutcome>;
  private final: DoneEvent | ErrorEvent | undefined;
  private readonly tail: string[] = [];
  private cancelRequested = false;
  private exited = false;
  private killTimer: NodeJS.Timeout | undefined;

  constructor(
    inv: RuntimeInvocation,
    private readonly handlers: RunHandlers = {},
  ) {
    this.child = spawn(inv.command, inv.args, {
      cwd: inv.cwd,
      env: inv.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: process.platform !== 'win32',
      windowsHide: true,
    });
    const out = new LineSplitter();
    const err = new LineSplitter();
    this.child.stdout!.setEncoding('utf8');
    this.child.stderr!.setEncoding('utf8');
    this.child.stdout!.on('data', (c: string) => out.push(c).forEach((l) => this.stdoutLine(l)));
    this.child.stderr!.on('data', (c: string) => err.push(c).forEach((l) => this.logLine(l, 'stderr')));

    this.finished = new Promise<RunOutcome>((resolve) => {
      let spawnError: Error | undefined;
      this.child.on('error', (e) => {
        // ENOENT and friends: no 'exit' follows when the spawn itself failed.
        spawnError = e;
        if (this.child.pid === undefined) {
          this.exited = true;
          this.logLine(`cannot start ${inv.command}: ${e.message}`, 'stderr');
          resolve({ kind: 'crash', exitCode: null, signal: null, lastLines: [...this.tail], cancelled: false });
        }
      });
      // 'close' fires after stdio is drained, so every event has been seen.
      this.child.on('close', (code, signal) => {
        this.exited = true;
        if (this.killTimer) clearTimeout(this.killTimer);
        out.flush().forEach((l) => this.stdoutLine(l));
        err.flush().forEach((l) => this.logLine(l, 'stderr'));
        if (spawnError && this.child.pid === undefined) return;
        resolve(this.outcome(code, signal));
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get isCancelled(): boolean {
    return this.cancelRequested;
  }

  /** The last lines the process printed (stderr and non-event stdout). */
  lastLines(): string[] {
    return [...this.tail];
  }

  /**
   * Asks the whole process tree to stop: SIGTERM to the group, then SIGKILL to the group
   * after `graceMs`. Resolves with the outcome (a done event with partial: true when the
   * runtime managed to write its partial trace).
   */
  cancel(graceMs = 1500): Promise<RunOutcome> {
    if (!this.exited && !this.cancelRequested) {
      this.cancelRequested = true;
      this.signalGroup('SIGTERM');
      this.killTimer = setTimeout(() => this.signalGroup('SIGKILL'), graceMs);
    }
    return this.finished;
  }

  private signalGroup(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined || this.exited) return;
    try {
      if (process.platform === 'win32') this.child.kill(signal);
      else process.kill(-pid, signal);
    } catch {
      // The group is already gone.
    }
  }

  private stdoutLine(line: string): void {
    const ev = parseEventLine(line);
    if (!ev) {
      if (line.trim().length > 0) this.logLine(line, 'stdout');
      return;
    }
    if (ev.kind === 'done' || ev.kind === 'error') this.final = ev;
    if (ev.kind === 'log' || ev.kind === 'error')
      this.remember(`${ev.kind === 'error' ? 'error' : ev.level}: ${ev.message}`);
    this.handlers.onEvent?.(ev);
  }

  private logLine(line: string, stream: 'stdout' | 'stderr'): void {
    this.remember(line);
    this.handlers.onLog?.(line, stream);
  }

  private remember(line: string): void {
    this.tail.push(line);
    if (this.tail.length > CRASH_TAIL_LINES) this.tail.shift();
  }

  private outcome(code: number | null, signal: NodeJS.Signals | null): RunOutcome {
    const f = this.final;
    if (f?.kind === 'done')
      return { kind: 'done', done: f, exitCode: code, cancelled: this.cancelRequested || f.partial };
    if (f?.kind === 'error') return { kind: 'error', error: f, exitCode: code, lastLines: [...this.tail] };
    return { kind: 'crash', exitCode: code, signal, lastLines: [...this.tail], cancelled: this.cancelRequested };
  }
}

/** One line for a crash: how the process ended and what it printed last. */
export function describeCrash(o: Extract<RunOutcome, { kind: 'crash' }>): string {
  const how = o.signal
    ? `was killed by ${o.signal}`
    : o.exitCode === null
      ? 'could not start'
      : `exited with code ${o.exitCode}${o.exitCode === EXIT.cancelled ? ' (cancelled)' : ''}`;
  const last = o.lastLines
    .filter((l) => l.trim().length > 0)
    .slice(-3)
    .join(' | ');
  return `The CommLens runtime ${how} without reporting a result${last ? `. Last output: ${last}` : ' and printed nothing'}.`;
}
