/**
 * Scans many per-rank Kineto files in parallel: one worker thread per core (at most one per
 * file), each scanning one file at a time (trace/kinetoScan.ts) and handed the next when it
 * finishes, so memory holds the finished ranks' columns plus one file in flight per worker.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { KinetoColumns } from './kinetoScan';
import type { ScanReply, ScanRequest } from './kinetoScanWorker';

export interface ScanPoolOptions {
  /** Worker threads (default: the cores available, at most the number of files). */
  workers?: number;
  /** The compiled worker script (default: kinetoScanWorker.js beside this module). */
  workerPath?: string;
  /** Called with each rank's columns as soon as it is scanned (in completion order). */
  onRank?: (index: number, columns: KinetoColumns) => void;
  /** Keep every rank's columns in the result (default true); false leaves them to onRank alone. */
  keep?: boolean;
}

export async function scanKinetoFiles(paths: string[], opts: ScanPoolOptions = {}): Promise<KinetoColumns[]> {
  const out = new Array<KinetoColumns>(paths.length);
  if (paths.length === 0) return out;
  const n = Math.max(1, Math.min(opts.workers ?? availableParallelism(), paths.length));
  const script = opts.workerPath ?? join(__dirname, 'kinetoScanWorker.js');
  let next = 0;
  const workers: Worker[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      let done = 0;
      let failed = false;
      const feed = (w: Worker) => {
        if (next < paths.length) {
          const req: ScanRequest = { index: next, path: paths[next] };
          next++;
          w.postMessage(req);
        }
      };
      for (let k = 0; k < n; k++) {
        const w = new Worker(script);
        workers.push(w);
        w.on('message', (m: ScanReply) => {
          if (failed) return;
          if ('error' in m) {
            failed = true;
            reject(new Error(m.error));
            return;
          }
          if (opts.keep !== false) out[m.index] = m.columns;
          opts.onRank?.(m.index, m.columns);
          if (++done === paths.length) resolve();
          else feed(w);
        });
        w.on('error', (e) => {
          failed = true;
          reject(e);
        });
        feed(w);
      }
    });
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return out;
}
