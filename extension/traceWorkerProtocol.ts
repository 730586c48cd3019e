/**
 * Messages between the extension host and its trace worker (extension/traceWorker.ts):
 * loading and analysing a trace, and encoding it for the webview, run in a worker thread
 * with its own heap limit, so that a trace too big or too hostile to open ends the worker,
 * never the extension host.
 */
import type { EncodeOptions } from '../trace/binary';
import type { SearchAnswer, ViewRequest } from '../trace/lod';
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
      /** True when the webview gets views from the level-of-detail index, not the whole trace (webview/protocol.ts). */
      windowed: boolean;
      /**
       * A Kineto job opened through its ranks' indexes: 'job' when the analysis came from the job
       * cache, else how many ranks' reductions came from the parse cache (absent for other traces).
       */
      fromCache?: 'job' | number;
    }
  | { ok: false; title: string; message: string };

export type ToTraceWorker =
  | { type: 'open'; id: number; files: string[]; maxTraceBytes: number }
  /**
   * `whole`: the whole trace, or for a windowed trace (above WINDOWED_ABOVE_SLICES slices)
   * the level-of-detail index's overview.
   */
  | { type: 'encode'; id: number; options: EncodeOptions | 'whole' }
  /** A view from the level-of-detail index (trace/lod.ts). */
  | { type: 'view'; id: number; request: ViewRequest }
  | { type: 'search'; id: number; query: string; limit?: number };

export type FromTraceWorker =
  | { type: 'opened'; id: number; trace: OpenedTrace }
  /** While an `open` runs: a job's rank files read so far (trace/kinetoJob.ts JobProgress); the open's reply comes after. */
  | { type: 'progress'; id: number; done: number; ranks: number; fromCache: number }
  | { type: 'encoded'; id: number; data: ArrayBuffer }
  | { type: 'searched'; id: number; result: SearchAnswer }
  | { type: 'failed'; id: number; message: string };
