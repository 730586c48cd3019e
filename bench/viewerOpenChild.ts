/**
 * Child process of bench:viewer's 8-rank case: opens a job as the trace worker does and prints
 * one JSON line (ViewerOpenResult) with the time until the first view is ready to send (the
 * overview, or the whole trace below WINDOWED_ABOVE_SLICES) and the process's own peak RSS (the
 * worker threads are in it), so that each way of opening is weighed alone.
 *
 *   node out/bench/viewerOpenChild.js job FILE...        through the ranks' indexes (extension/traceHost.ts
 *                                                        openTrace: the trace worker, the scan pool, the caches
 *                                                        in COMMLENS_CACHE_DIR)
 *   node out/bench/viewerOpenChild.js importer FILE...   as the trace worker did before: the importer's model of
 *                                                        the whole job, its analysis and LodIndex over it
 *                                                        (extension/traceService.ts loadAndAnalyze)
 */
import * as path from 'node:path';
import { openTrace } from '../extension/traceHost';
import { loadAndAnalyze } from '../extension/traceService';
import { LodIndex } from '../trace/lod';
import { decodeTrace, encodeTrace } from '../trace/binary';
import { setDefaultMaxTraceBytes } from '../trace/budget';
import { WINDOWED_ABOVE_SLICES } from '../webview/protocol';

export interface ViewerOpenResult {
  mode: 'job' | 'importer';
  /** From the start of the open to the first view encoded. */
  openMs: number;
  /**
   * Job mode, windowed: a zoomed-in view (1 µs per pixel over 2 ms in the middle of the job) asked
   * for as soon as the first view is there: it waits for whatever of the ranks' columns is not
   * read yet (a re-open reads them after the first view).
   */
  zoomMs?: number;
  /** The same zoom over the first rank's tracks only, asked for first (what the page asks when the ranks are summary rows and one is opened). */
  zoomRankMs?: number;
  /** Job mode: the process's peak RSS when the first view was ready (before the zooms). */
  openPeakRssMb?: number;
  firstViewBytes: number;
  slices: number;
  windowed: boolean;
  /** 'job' / ranks from the parse cache (job mode). */
  fromCache?: 'job' | number;
  peakRssMb: number;
}

async function main(): Promise<void> {
  const [mode, ...files] = process.argv.slice(2);
  if ((mode !== 'job' && mode !== 'importer') || files.length === 0)
    throw new Error('usage: viewerOpenChild.js job|importer FILE...');
  // The budget the bench gives the worker: big enough for the importer's whole model.
  const maxTraceBytes = Number(process.env.COMMLENS_BENCH_MAX_TRACE_BYTES ?? 64 * 2 ** 30);
  const t0 = performance.now();
  let out: Omit<ViewerOpenResult, 'peakRssMb'>;
  if (mode === 'job') {
    const t = await openTrace(files, 'job', {
      maxTraceBytes,
      workerPath: path.join(__dirname, '..', 'extension', 'traceWorker.js'),
    });
    if (!t.ok) throw new Error(t.message);
    const first = await t.encodeWhole();
    const openMs = performance.now() - t0;
    const openPeakRssMb = process.resourceUsage().maxRSS / 1024;
    let zoomMs: number | undefined, zoomRankMs: number | undefined;
    if (t.windowed) {
      const d = decodeTrace(new Uint8Array(first));
      let lo = Infinity,
        hi = -Infinity;
      for (let i = 0; i < d.sliceStart.length; i++) {
        lo = Math.min(lo, d.sliceStart[i]);
        hi = Math.max(hi, d.sliceStart[i] + d.sliceDur[i]);
      }
      const mid = (lo + hi) / 2;
      // The first rank's tracks: what the page asks for when the ranks are summary rows and one is opened.
      const pid0 = d.header.processes[0]?.pid;
      const rank0 = d.header.tracks.flatMap((tr, i) => (tr.pid === pid0 ? [i] : []));
      const zr = performance.now();
      await t.view({ startNs: mid - 1e6, endNs: mid + 1e6, nsPerPx: 1000, tracks: rank0 });
      zoomRankMs = performance.now() - zr;
      const z = performance.now();
      await t.view({ startNs: mid - 1e6, endNs: mid + 1e6, nsPerPx: 1000 });
      zoomMs = performance.now() - z;
    }
    out = {
      mode,
      openMs,
      ...(zoomMs !== undefined ? { zoomMs } : {}),
      ...(zoomRankMs !== undefined ? { zoomRankMs } : {}),
      openPeakRssMb,
      firstViewBytes: first.byteLength,
      slices: t.sliceCount,
      windowed: t.windowed,
      fromCache: t.fromCache,
    };
    t.dispose();
  } else {
    setDefaultMaxTraceBytes(maxTraceBytes);
    const t = await loadAndAnalyze(files);
    if (!t.ok) throw new Error(t.message);
    const n = t.model.slices.length;
    const first = n > WINDOWED_ABOVE_SLICES ? new LodIndex(t.model).overview() : encodeTrace(t.model);
    out = {
      mode,
      openMs: performance.now() - t0,
      firstViewBytes: first.byteLength,
      slices: n,
      windowed: n > WINDOWED_ABOVE_SLICES,
    };
  }
  const result: ViewerOpenResult = { ...out, peakRssMb: process.resourceUsage().maxRSS / 1024 };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(1);
});
