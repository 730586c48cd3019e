/**
 * The host's side of the trace worker: one worker thread per open trace, with a heap limit
 * derived from commlens.maxTraceBytes, so that loading and analysis never run on the
 * extension host's thread and a failure there (a trace too big, a bug in a loader) ends the
 * worker with a message, never the editor. Closing the trace ends its worker and frees its
 * memory.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { EncodeOptions } from '../trace/binary';
import { defaultMaxTraceBytes } from '../trace/budget';
import type { SearchAnswer, ViewRequest } from '../trace/lod';
import type { JobProgress } from '../trace/kinetoJob';
import type { FromTraceWorker, OpenedTrace, ToTraceWorker } from './traceWorkerProtocol';

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

/** A trace held by a worker: what it is, and encodings of it on request. */
export type RemoteTrace = OpenedTrace & {
  /** The whole trace at a level of detail the webview can take. */
  encodeWhole(): Promise<ArrayBuffer>;
  /** A window of it, short slices left out below `minDurNs`. */
  encode(options: EncodeOptions): Promise<ArrayBuffer>;
  /** A view from its level-of-detail index (trace/lod.ts; for windowed traces). */
  view(request: ViewRequest): Promise<ArrayBuffer>;
  /** Slice names containing `query`, over the whole trace. */
  search(query: string, limit?: number): Promise<SearchAnswer>;
  /** Ends the worker (and frees the trace). */
  dispose(): void;
};

/** Heap for a worker: the loading budget (trace/budget.ts estimates memory, not only bytes) plus room for the analysis. */
export function workerHeapMb(maxTraceBytes: number): number {
  return Math.max(512, Math.ceil((maxTraceBytes * 1.25) / 2 ** 20) + 256);
}

/** The worker's script, beside this file (dist/extension in the bundle, out/extension under tests). */
export function traceWorkerPath(dir: string = __dirname): string {
  return path.join(dir, 'traceWorker.js');
}

/**
 * Opens `files` in a fresh worker. Never rejects: a worker that cannot start or dies while
 * loading gives `ok: false` with why.
 */
export function openTrace(
  files: string[],
  title: string,
  opts: {
    maxTraceBytes?: number;
    workerPath?: string;
    heapMb?: number;
    /** Called while a job's rank files are read (trace/kinetoJob.ts JobProgress). */
    onProgress?: (p: JobProgress) => void;
  } = {},
): Promise<RemoteTrace> {
  const maxTraceBytes = opts.maxTraceBytes ?? defaultMaxTraceBytes();
  const heapMb = opts.heapMb ?? workerHeapMb(maxTraceBytes);
  let worker: Worker;
  try {
    worker = new Worker(opts.workerPath ?? traceWorkerPath(), { resourceLimits: { maxOldGenerationSizeMb: heapMb } });
  } catch (e) {
    return Promise.resolve(failed(title, `cannot start the trace worker: ${(e as Error).message}`));
  }
  let nextId = 1;
  let ended: string | undefined;
  const pending = new Map<number, { resolve: (m: FromTraceWorker) => void }>();
  const end = (why: string): void => {
    if (ended) return;
    ended = why;
    for (const p of pending.values()) p.resolve({ type: 'failed', id: 0, message: why });
    pending.clear();
  };
  worker.on('message', (m: FromTraceWorker) => {
    if (m.type === 'progress') {
      try {
        opts.onProgress?.({ done: m.done, ranks: m.ranks, fromCache: m.fromCache });
      } catch {
        // what the caller does with progress does not stop the open
      }
      return;
    }
    const p = pending.get(m.id);
    pending.delete(m.id);
    p?.resolve(m);
  });
  worker.on('error', (e: Error & { code?: string }) =>
    end(
      e.code === 'ERR_WORKER_OUT_OF_MEMORY'
        ? `opening the trace needed more than the ${heapMb} MB the trace worker may use (set from commlens.maxTraceBytes, ${Math.round(maxTraceBytes / 2 ** 20)} MiB); open a shorter profile, or raise the setting`
        : `the trace worker failed: ${e.message}`,
    ),
  );
  worker.on('exit', (code) => end(`the trace worker stopped (exit code ${code})`));
  const ask = (m: WithoutId<ToTraceWorker>): Promise<FromTraceWorker> => {
    if (ended) return Promise.resolve({ type: 'failed', id: 0, message: ended });
    const id = nextId++;
    return new Promise((resolve) => {
      pending.set(id, { resolve });
      worker.postMessage({ ...m, id });
    });
  };
  const dispose = (): void => {
    end('the trace was closed');
    void worker.terminate();
  };
  const encodeWith = async (options: EncodeOptions | 'whole'): Promise<ArrayBuffer> => {
    const r = await ask({ type: 'encode', options });
    if (r.type === 'encoded') return r.data;
    throw new Error(r.type === 'failed' ? r.message : 'unexpected reply from the trace worker');
  };
  return ask({ type: 'open', files, maxTraceBytes }).then((r) => {
    if (r.type !== 'opened') {
      void worker.terminate();
      return failed(title, r.type === 'failed' ? r.message : 'unexpected reply from the trace worker');
    }
    if (!r.trace.ok) void worker.terminate();
    const view = async (request: ViewRequest): Promise<ArrayBuffer> => {
      const v = await ask({ type: 'view', request });
      if (v.type === 'encoded') return v.data;
      throw new Error(v.type === 'failed' ? v.message : 'unexpected reply from the trace worker');
    };
    const search = async (query: string, limit?: number): Promise<SearchAnswer> => {
      const v = await ask({ type: 'search', query, ...(limit !== undefined ? { limit } : {}) });
      if (v.type === 'searched') return v.result;
      throw new Error(v.type === 'failed' ? v.message : 'unexpected reply from the trace worker');
    };
    return {
      ...r.trace,
      encodeWhole: () => encodeWith('whole'),
      encode: (o: EncodeOptions) => encodeWith(o),
      view,
      search,
      dispose,
    };
  });
}

function failed(title: string, message: string): RemoteTrace {
  const no = (): Promise<never> => Promise.reject(new Error(message));
  return { ok: false, title, message, encodeWhole: no, encode: no, view: no, search: no, dispose: () => undefined };
}
