/**
 * The trace worker (a worker thread of the extension host): it opens one trace (or one
 * job's per-rank traces), analyses it, and answers the host's requests for encodings of it:
 * the whole trace, a window, or for a big trace views of its level-of-detail index
 * (webview/protocol.ts step 10) and searches over it. Its heap is limited by the host
 * (extension/traceHost.ts): a trace that would exhaust it ends this thread.
 *
 * A PyTorch profiler (Kineto) job (every file Kineto) is opened as `analyze` opens it
 * (extension/traceService.ts openKinetoJob): the CLI's analysis, and the level-of-detail index
 * of each rank made in the scan pool's workers and cached beside the rank's reduction
 * (trace/rankLod.ts), answered together by trace/jobLod.ts; no model of the whole job is made,
 * and a re-open reads the caches instead of the traces. Other traces are loaded into one model
 * (trace/lod.ts LodIndex over it).
 */
import { parentPort } from 'node:worker_threads';
import { setDefaultMaxTraceBytes } from '../trace/budget';
import { encodeTrace } from '../trace/binary';
import { LodIndex } from '../trace/lod';
import type { JobLod } from '../trace/jobLod';
import type { TraceModel } from '../trace/model';
import { WINDOWED_ABOVE_SLICES } from '../webview/protocol';
import { isKinetoJob, loadAndAnalyze, openKinetoJob, toArrayBuffer } from './traceService';
import type { FromTraceWorker, ToTraceWorker } from './traceWorkerProtocol';

let model: TraceModel | undefined;
let job: JobLod | undefined;
/**
 * The level-of-detail index of a windowed trace (webview/protocol.ts step 10): built with the
 * analysis, before the host hears that the trace is open, so the first paint does not wait
 * for it; for smaller traces only if a view is asked for.
 */
let lod: LodIndex | JobLod | undefined;
const windowed = (sliceCount: number): boolean => sliceCount > WINDOWED_ABOVE_SLICES;
const lodOf = (): LodIndex | JobLod => (lod ??= job ?? new LodIndex(model!));

/** Starts reading an opened job's columns in the background (set by `open`, cleared once called). */
let startLoading: (() => void) | undefined;

function reply(m: FromTraceWorker, transfer?: ArrayBuffer): void {
  parentPort!.postMessage(m, transfer ? [transfer] : []);
}

async function open(m: Extract<ToTraceWorker, { type: 'open' }>): Promise<void> {
  setDefaultMaxTraceBytes(m.maxTraceBytes);
  if (await isKinetoJob(m.files)) {
    const t = await openKinetoJob(m.files, {
      maxTraceBytes: m.maxTraceBytes,
      onProgress: (p) => reply({ type: 'progress', id: m.id, ...p }),
    });
    if (!t.ok) return reply({ type: 'opened', id: m.id, trace: t });
    job = lod = t.job;
    const big = windowed(job.sliceCount);
    // The first thing the panel asks for: ready before the host hears the trace is open.
    if (big) job.prepareOverview();
    // The ranks' columns (a kept overview needs none) are read one rank per turn, between
    // requests, so that zooming in finds them read: from when the first request after the open
    // (the page's first view) has been answered, so that it does not wait behind them, or 2 s
    // after the open when none comes.
    const opened = job;
    const loadNext = (): void => {
      try {
        if (job === opened && opened.loadNext()) setImmediate(loadNext);
      } catch {
        // A rank whose columns cannot be read: the request that needs them says why.
      }
    };
    const start = (): void => {
      if (startLoading !== start) return;
      startLoading = undefined;
      setImmediate(loadNext);
    };
    startLoading = start;
    setTimeout(start, 2000);
    return reply({
      type: 'opened',
      id: m.id,
      trace: {
        ok: true,
        title: t.title,
        analysis: t.analysis,
        warnings: job.model.warnings.slice(0, 50),
        sliceCount: job.sliceCount,
        windowed: big,
        fromCache: t.fromCache,
      },
    });
  }
  const t = await loadAndAnalyze(m.files);
  if (!t.ok) return reply({ type: 'opened', id: m.id, trace: t });
  model = t.model;
  lod = windowed(model.slices.length) ? new LodIndex(model) : undefined;
  lod?.overview();
  reply({
    type: 'opened',
    id: m.id,
    trace: {
      ok: true,
      title: t.title,
      analysis: t.analysis,
      ...(t.analysisError !== undefined ? { analysisError: t.analysisError } : {}),
      warnings: t.model.warnings.slice(0, 50),
      sliceCount: t.model.slices.length,
      windowed: windowed(t.model.slices.length),
    },
  });
}

async function handle(m: ToTraceWorker): Promise<void> {
  if (m.type === 'open') return open(m);
  if (!model && !job) return reply({ type: 'failed', id: m.id, message: 'no trace is open in this worker' });
  try {
    if (m.type === 'search') return reply({ type: 'searched', id: m.id, result: lodOf().search(m.query, m.limit) });
    if (m.type === 'view') {
      const data = lodOf().encode(m.request);
      return reply({ type: 'encoded', id: m.id, data }, data);
    }
    const count = job ? job.sliceCount : model!.slices.length;
    if (m.options === 'whole' && windowed(count)) {
      const data = lodOf().overview();
      return reply({ type: 'encoded', id: m.id, data }, data);
    }
    // At or below WINDOWED_ABOVE_SLICES the whole trace is sent.
    const options = m.options === 'whole' ? {} : m.options;
    const data = job ? job.encodeTrace(options) : toArrayBuffer(encodeTrace(model!, options));
    reply({ type: 'encoded', id: m.id, data }, data);
  } catch (e) {
    reply({ type: 'failed', id: m.id, message: (e as Error).message });
  }
}

parentPort?.on('message', (m: ToTraceWorker) => {
  handle(m)
    .catch((e: unknown) => reply({ type: 'failed', id: m.id, message: (e as Error)?.message ?? String(e) }))
    .finally(() => {
      if (m.type !== 'open') startLoading?.();
    });
});
