/**
 * The one way a command writes: human lines or line-delimited JSON events
 * (cli/protocol.ts, for the VS Code extension) on stdout, reports and `--json` documents
 * on stdout, warnings and failures on stderr. Commands never touch process.stdout
 * themselves, so tests pass their own Io and the entry point can drain stdout before exit.
 */
import { EVENT_STREAM_VERSION, type RuntimeEvent } from './protocol';

export type RuntimeEventBody = RuntimeEvent extends infer E ? (E extends RuntimeEvent ? Omit<E, 'v'> : never) : never;

/** Where text goes: stdout and stderr of the process by default; tests pass their own. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export const STDIO: Io = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
};

export interface OutputOptions {
  /** Line-delimited JSON events instead of human lines (`--events`). */
  events?: boolean;
  /** Only failures are written (benchmarks that drive many runs). */
  quiet?: boolean;
  io?: Io;
}

/**
 * Terminal-safe text: control characters (ANSI/OSC escapes, bells, carriage returns)
 * from names found in files are shown as \\xNN instead of reaching the terminal.
 */
export function terminalSafe(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export class Output {
  readonly events: boolean;
  readonly io: Io;
  private readonly quiet: boolean;

  constructor(
    private readonly command: string,
    opts: OutputOptions = {},
  ) {
    this.events = opts.events ?? false;
    this.quiet = opts.quiet ?? false;
    this.io = opts.io ?? STDIO;
  }

  get isQuiet(): boolean {
    return this.quiet;
  }

  /** An event of the protocol (only with `--events`). */
  emit(e: RuntimeEventBody): void {
    if (this.events && !this.quiet) this.io.out(JSON.stringify({ v: EVENT_STREAM_VERSION, ...e }) + '\n');
  }

  /** A human line (not with `--events`). */
  say(line: string): void {
    if (!this.events && !this.quiet) this.io.out(line + '\n');
  }

  /** A document: a report or a `--json` value (always written, even with --events). */
  write(text: string): void {
    this.io.out(text.endsWith('\n') ? text : text + '\n');
  }

  json(value: unknown): void {
    this.io.out(JSON.stringify(value, null, 2) + '\n');
  }

  /** A warning or a note on stderr (a `log` event with --events). */
  warn(message: string, level: 'warn' | 'info' = 'warn'): void {
    if (this.events) this.emit({ kind: 'log', level, message });
    else if (!this.quiet) this.io.err(`commlens ${this.command}: ${level === 'warn' ? 'warning: ' : 'note: '}${message}\n`);
  }

  /** Reports a failure and returns its exit code (an `error` event with --events). */
  fail(message: string, exitCode: number, extra: Record<string, unknown> = {}): number {
    if (this.events) this.emit({ kind: 'error', message, exitCode, ...extra } as never);
    else this.io.err(`commlens ${this.command}: ${message}\n`);
    return exitCode;
  }
}

/** Resolves once everything written to stdout so far has been handed to the OS. */
export function drainStdout(): Promise<void> {
  return new Promise((resolve) => {
    if (process.stdout.destroyed || !process.stdout.writable) return resolve();
    process.stdout.write('', () => resolve());
  });
}
