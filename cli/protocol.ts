/**
 * The runtime's event stream: what `commlens profile` prints on stdout when started with
 * `--events` (one JSON object per line). This is the only contract between the runtime
 * and its parent (the VS Code extension, or any script). Types only: the extension
 * imports this file and nothing else of the runtime.
 *
 * Versioning: `v` is bumped on any breaking change; consumers must ignore unknown event
 * kinds and unknown fields.
 */
export const EVENT_STREAM_VERSION = 1;

export interface RunStartEvent {
  v: typeof EVENT_STREAM_VERSION;
  kind: 'start';
  runId: string;
  runDir: string;
  worldSize: number;
  steps: number;
  preset?: string;
  strategy: string;
  link: string;
}

export interface ProgressEvent {
  v: typeof EVENT_STREAM_VERSION;
  kind: 'progress';
  /** What the runtime is doing (`starting ranks`, `compiling kernels`, ...). */
  message: string;
}

export interface StepEvent {
  v: typeof EVENT_STREAM_VERSION;
  kind: 'step';
  step: number;
  steps: number;
  /** Mean loss across ranks. */
  loss: number;
  stepTimeNs: number;
  /** True while the step is warm-up by the rule so far (trace/warmup.ts): its time says nothing about the steady state. */
  warmup?: boolean;
  /** Estimated time to completion from the steady-state steps so far; absent while only warm-up steps have finished. */
  etaNs?: number;
}

export interface DoneEvent {
  v: typeof EVENT_STREAM_VERSION;
  kind: 'done';
  runId: string;
  runDir: string;
  tracePath: string;
  summaryPath: string;
  /** True when the run stopped early (cancelled); the trace then holds the finished steps. */
  partial: boolean;
}

export interface ErrorEvent {
  v: typeof EVENT_STREAM_VERSION;
  kind: 'error';
  message: string;
  /** The rank that failed, when one did. */
  rank?: number;
  /** Where the partial trace is, when one was written. */
  tracePath?: string;
  /** The signal the runtime process died of (exitCode is then EXIT.crashed). */
  signal?: string;
  exitCode: number;
}

export interface LogEvent {
  v: typeof EVENT_STREAM_VERSION;
  kind: 'log';
  level: 'info' | 'warn' | 'error';
  message: string;
}

export type RuntimeEvent = RunStartEvent | ProgressEvent | StepEvent | DoneEvent | ErrorEvent | LogEvent;

/** Exit codes of the CLI. */
export const EXIT = {
  ok: 0,
  failure: 1,
  badInput: 2,
  noAdapter: 3,
  /** The runtime process died of a signal (a crash in the GPU driver, or killed for memory); see runtime/supervisor.ts. */
  crashed: 4,
  cancelled: 130,
} as const;

/** Parses one line of the event stream; returns undefined for lines that are not events. */
export function parseEventLine(line: string): RuntimeEvent | undefined {
  const t = line.trim();
  if (!t.startsWith('{')) return undefined;
  try {
    const obj = JSON.parse(t) as { v?: unknown; kind?: unknown };
    if (typeof obj.v !== 'number' || typeof obj.kind !== 'string') return undefined;
    return obj as RuntimeEvent;
  } catch {
    return undefined;
  }
}
