/**
 * Where a command's output goes: line-delimited JSON events (runtime/protocol.ts, for the
 * VS Code extension) or human lines on stdout, and failures on stderr.
 */
import { EVENT_STREAM_VERSION, type RuntimeEvent } from './protocol';
import { streamClosed } from './lifeline';
import { safeText } from './safeText';

export type RuntimeEventBody = RuntimeEvent extends infer E ? (E extends RuntimeEvent ? Omit<E, 'v'> : never) : never;

/** Where a run's output goes: JSON events (for the extension) or human lines. */
export class RunOutput {
  /** `quiet`: only failures are printed (for benchmarks that drive many runs). */
  constructor(public events: boolean, private readonly commandName: string, private readonly quiet = false) {}
  emit(e: RuntimeEventBody): void {
    if (this.events && !this.quiet && !streamClosed(process.stdout)) process.stdout.write(JSON.stringify({ v: EVENT_STREAM_VERSION, ...e }) + '\n');
  }
  say(line: string): void {
    if (!this.events && !this.quiet && !streamClosed(process.stdout)) process.stdout.write(safeText(line, { keepNewlines: true }) + '\n');
  }
  get isQuiet(): boolean {
    return this.quiet;
  }
  fail(message: string, exitCode: number, extra: Record<string, unknown> = {}): number {
    if (this.events) this.emit({ kind: 'error', message, exitCode, ...extra } as never);
    else if (!streamClosed(process.stderr)) process.stderr.write(`commlens ${this.commandName}: ${safeText(message, { keepNewlines: true })}\n`);
    return exitCode;
  }
}
