/**
 * The trace worker (a worker thread of the extension host): it opens one trace (or one
 * job's per-rank traces), analyses it, keeps the model, and answers the host's requests for
 * encodings of it (the whole trace at a level of detail, or a window). Its heap is limited
 * by the host (extension/traceHost.ts): a trace that would exhaust it ends this thread.
 */
import { parentPort } from 'node:worker_threads';
import { setDefaultMaxTraceBytes } from '../trace/budget';
import { encodeTrace } from '../trace/binary';
import type { TraceModel } from '../trace/model';
import { MAX_SLICES_WHOLE, lodMinDurNs } from '../webview/protocol';
import { loadAndAnalyze, toArrayBuffer } from './traceService';
import type { FromTraceWorker, ToTraceWorker } from './traceWorkerProtocol';

let model: TraceModel | undefined;

function reply(m: FromTraceWorker, transfer?: ArrayBuffer): void {
  parentPort!.postMessage(m, transfer ? [transfer] : []);
}

async function handle(m: ToTraceWorker): Promise<void> {
  if (m.type === 'open') {
    setDefaultMaxTraceBytes(m.maxTraceBytes);
    const t = await loadAndAnalyze(m.files);
    if (!t.ok) return reply({ type: 'opened', id: m.id, trace: t });
    model = t.model;
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
      },
    });
    return;
  }
  if (!model) return reply({ type: 'failed', id: m.id, message: 'no trace is open in this worker' });
  try {
    let options = m.options;
    if (options === 'whole') {
      const minDurNs = model.slices.length > MAX_SLICES_WHOLE ? lodMinDurNs(model.slices.map((s) => s.durNs)) : 0;
      options = minDurNs > 0 ? { minDurNs } : {};
    }
    const data = toArrayBuffer(encodeTrace(model, options));
    reply({ type: 'encoded', id: m.id, data }, data);
  } catch (e) {
    reply({ type: 'failed', id: m.id, message: (e as Error).message });
  }
}

parentPort?.on('message', (m: ToTraceWorker) => {
  handle(m).catch((e: unknown) => reply({ type: 'failed', id: m.id, message: (e as Error)?.message ?? String(e) }));
});
