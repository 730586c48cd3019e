/**
 * The one way a command writes: human lines or line-delimited JSON events
 * (cli/protocol.ts, for the VS Code extension) on stdout, reports and `--json` documents
 * on stdout, warnings and failures on stderr. Commands never touch process.stdout
 * themselves, so tests pass their own Io and the entry point can drain stdout before exit.
 * Everything written here is made terminal-safe (trace/safeText.ts): names and messages
 * that come from files cannot drive the terminal.
 */
import { EVENT_STREAM_VERSION, type RuntimeEvent } from './protocol';
import { safeJson, safeText } from '../trace/safeText';
import { streamClosed } from '../runtime/lifeline';

export type RuntimeEventBody = RuntimeEvent extends infer E ? (E extends RuntimeEvent ? Omit<E, 'v'> : never) : never;

/** Where text goes: stdout and stderr of the process by default; tests pass their own. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

/** The process's stdout and stderr; nothing is written once the reader has gone (EPIPE). */
export const STDIO: Io = {
  out: (t) => void (streamClosed(process.stdout) || process.stdout.write(t)),
  err: (t) => void (streamClosed(process.stderr) || process.stderr.write(t)),
};

export interface OutputOptions {
  /** Line-delimited JSON events instead of human lines (`--events`). */
  events?: boolean;
  /** Only failures are written (benchmarks that drive many runs). */
  quiet?: boolean;
  io?: Io;
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
    if (this.events && !this.quiet) this.io.out(safeJson(JSON.stringify({ v: EVENT_STREAM_VERSION, ...e })) + '\n');
  }

  /** A human line (not with `--events`). */
  say(line: string): void {
    if (!this.events && !this.quiet) this.io.out(safeText(line, { keepNewlines: true }) + '\n');
  }

  /** A document: a report or a `--json` value (always written, even with --events). */
  write(text: string): void {
    this.io.out(safeText(text.endsWith('\n') ? text : text + '\n', { keepNewlines: true }));
  }

  json(value: unknown): void {
    this.io.out(safeJson(JSON.stringify(value, null, 2)) + '\n');
  }

  /** A warning or a note on stderr (a `log` event with --events). */
  warn(message: string, level: 'warn' | 'info' = 'warn'): void {
    if (this.events) this.emit({ kind: 'log', level, message });
    else if (!this.quiet)
      this.io.err(
        `commlens ${this.command}: ${level === 'warn' ? 'warning: ' : 'note: '}${safeText(message, { keepNewlines: true })}\n`,
      );
  }

  /** Reports a failure and returns its exit code (an `error` event with --events). */
  fail(message: string, exitCode: number, extra: Record<string, unknown> = {}): number {
    if (this.events) this.emit({ kind: 'error', message, exitCode, ...extra } as never);
    else this.io.err(`commlens ${this.command}: ${safeText(message, { keepNewlines: true })}\n`);
    return exitCode;
  }
}

/**
 * Resolves once everything written to stdout and stderr so far has been handed to the OS:
 * process.exit() right after a large write to a pipe would cut the output at the pipe's
 * buffer (64 KiB), e.g. `analyze --json | jq`.
 */
export async function drainStdout(): Promise<void> {
  const drain = (s: NodeJS.WriteStream): Promise<void> =>
    new Promise((resolve) => {
      if (s.destroyed || !s.writable) return resolve();
      s.write('', () => resolve());
    });
  await Promise.all([drain(process.stdout), drain(process.stderr)]);
}
