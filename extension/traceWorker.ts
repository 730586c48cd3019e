/**
 * The trace worker (a worker thread of the extension host): it opens one trace (or one
 * job's per-rank traces), analyses it, keeps the model, and answers the host's requests for
 * encodings of it: the whole trace, a window, or for a big trace views of its level-of-detail
 * index (trace/lod.ts; webview/protocol.ts step 10) and searches over it. Its heap is limited
 * by the host (extension/traceHost.ts): a trace that would exhaust it ends this thread.
 */
import { parentPort } from 'node:worker_threads';
import { setDefaultMaxTraceBytes } from '../trace/budget';
import { encodeTrace } from '../trace/binary';
import { LodIndex } from '../trace/lod';
import type { TraceModel } from '../trace/model';
import { WINDOWED_ABOVE_SLICES } from '../webview/protocol';
import { loadAndAnalyze, toArrayBuffer } from './traceService';
import type { FromTraceWorker, ToTraceWorker } from './traceWorkerProtocol';

let model: TraceModel | undefined;
/**
 * The level-of-detail index of a windowed trace (webview/protocol.ts step 10): built with the
 * analysis, before the host hears that the trace is open, so the first paint does not wait
 * for it; for smaller traces only if a view is asked for.
 */
let lod: LodIndex | undefined;
const windowed = (m: TraceModel): boolean => m.slices.length > WINDOWED_ABOVE_SLICES;
const lodOf = (m: TraceModel): LodIndex => (lod ??= new LodIndex(m));

function reply(m: FromTraceWorker, transfer?: ArrayBuffer): void {
  parentPort!.postMessage(m, transfer ? [transfer] : []);
}

async function handle(m: ToTraceWorker): Promise<void> {
  if (m.type === 'open') {
    setDefaultMaxTraceBytes(m.maxTraceBytes);
    const t = await loadAndAnalyze(m.files);
    if (!t.ok) return reply({ type: 'opened', id: m.id, trace: t });
    model = t.model;
    lod = windowed(model) ? new LodIndex(model) : undefined;
    // The first thing the panel asks for: ready before the host hears the trace is open.
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
        windowed: windowed(t.model),
      },
    });
    return;
  }
  if (!model) return reply({ type: 'failed', id: m.id, message: 'no trace is open in this worker' });
  try {
    if (m.type === 'search')
      return reply({ type: 'searched', id: m.id, result: lodOf(model).search(m.query, m.limit) });
    if (m.type === 'view') {
      const data = lodOf(model).encode(m.request);
      return reply({ type: 'encoded', id: m.id, data }, data);
    }
    if (m.options === 'whole' && windowed(model)) {
      const data = lodOf(model).overview();
      return reply({ type: 'encoded', id: m.id, data }, data);
    }
    // At or below WINDOWED_ABOVE_SLICES the whole trace is sent.
    const data = toArrayBuffer(encodeTrace(model, m.options === 'whole' ? {} : m.options));
    reply({ type: 'encoded', id: m.id, data }, data);
  } catch (e) {
    reply({ type: 'failed', id: m.id, message: (e as Error).message });
  }
}

parentPort?.on('message', (m: ToTraceWorker) => {
  handle(m).catch((e: unknown) => reply({ type: 'failed', id: m.id, message: (e as Error)?.message ?? String(e) }));
});
