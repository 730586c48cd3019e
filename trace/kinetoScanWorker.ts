/**
 * Worker entry of the streaming Kineto ingest (trace/kinetoScanPool.ts): scans the files it
 * is given, one at a time, and posts each rank's columns back with their buffers transferred
 * (not copied).
 */
import { parentPort } from 'node:worker_threads';
import { scanKinetoFile, type KinetoColumns } from './kinetoScan';

export interface ScanRequest {
  index: number;
  path: string;
}

export type ScanReply = { index: number; columns: KinetoColumns } | { index: number; error: string };

function buffersOf(c: KinetoColumns): ArrayBuffer[] {
  return [
    c.ph,
    c.cat,
    c.name,
    c.pid,
    c.tid,
    c.pidNum,
    c.tidNum,
    c.ts,
    c.dur,
    c.correlation,
    c.externalId,
    c.stream,
  ].map((a) => a.buffer as ArrayBuffer);
}

parentPort?.on('message', (req: ScanRequest) => {
  scanKinetoFile(req.path).then(
    (columns) => parentPort!.postMessage({ index: req.index, columns } satisfies ScanReply, buffersOf(columns)),
    (e: unknown) => parentPort!.postMessage({ index: req.index, error: (e as Error).message } satisfies ScanReply),
  );
});
