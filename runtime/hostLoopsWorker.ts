/**
 * The host probe's timing of the host loops (codecs, DiLoCo's outer step, 1-bit Adam's host
 * optimizer) in a worker thread of its own: a fresh V8 isolate, as each rank's is
 * (hostProbe.ts probeHostLoops says why).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { timeHostLoops, type HostLoopsRequest } from './hostProbe';

const request = workerData as HostLoopsRequest;
timeHostLoops(request).then(
  (result) => parentPort!.postMessage({ result }),
  (e: unknown) => parentPort!.postMessage({ error: e instanceof Error ? e.message : String(e) }),
);
