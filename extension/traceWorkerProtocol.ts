/**
 * Messages between the extension host and its trace worker (extension/traceWorker.ts):
 * loading and analysing a trace, and encoding it for the webview, run in a worker thread
 * with its own heap limit, so that a trace too big or too hostile to open ends the worker,
 * never the extension host.
 */
import type { EncodeOptions } from '../trace/binary';
import type { AnalysisView } from '../webview/protocol';

/** What the host knows of a trace the worker holds. */
export type OpenedTrace =
  | {
      ok: true;
      title: string;
      analysis: AnalysisView | undefined;
      analysisError?: string;
      warnings: string[];
      sliceCount: number;
    }
  | { ok: false; title: string; message: string };

export type ToTraceWorker =
  | { type: 'open'; id: number; files: string[]; maxTraceBytes: number }
  /** `whole`: the whole trace at the level of detail that keeps it under MAX_SLICES_WHOLE slices. */
  | { type: 'encode'; id: number; options: EncodeOptions | 'whole' };

export type FromTraceWorker =
  | { type: 'opened'; id: number; trace: OpenedTrace }
  | { type: 'encoded'; id: number; data: ArrayBuffer }
  | { type: 'failed'; id: number; message: string };
