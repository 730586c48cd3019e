/**
 * How much of a core each rank's host loops get when every rank runs them at once: the
 * ranks' gradient codecs, DiLoCo's outer step and 1-bit Adam's host optimizer run on every
 * rank at the same moment of the step. The replay used to take the machine's cores over the
 * ranks (½ core for 4 ranks on 2 cores); on this project's 2-vCPU machine a traced int8-EF
 * run's codec ran ~1.7× slower than that predicts. Measured here instead: a codec-like loop
 * (quantise and dequantise a 1 MiB array, ~1 ms a pass alone) run by one worker thread alone,
 * then by `threads` worker threads at once, each for a fixed wall time; each thread's passes per
 * ns are counted over the window in which every thread was running, against the thread alone.
 */
import { Worker } from 'node:worker_threads';
import { median } from '../trace/stats';

export interface HostShare {
  /** Threads run at once (the run's world size). */
  threads: number;
  /** One pass of the loop: alone, and the median over the threads run at once (ns). */
  aloneNs: number;
  sharedNs: number;
  /** aloneNs / sharedNs, at most 1: the share of a core each of `threads` threads got. */
  share: number;
}

/**
 * The worker: warmed up, then for each round it is released for (its slot of `gate` set to the
 * round), passes until `gate[threads]` says the round is over; it reports when each pass ended.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { values, gate, slot, stopSlot } = workerData;
const flags = new Int32Array(gate);
const x = new Float32Array(values);
const q = new Int8Array(values);
for (let i = 0; i < values; i++) x[i] = Math.sin(i * 0.001);
let sink = 0;
function pass() {
  let s = 0;
  for (let i = 0; i < values; i++) { const v = Math.round(x[i] * 100); q[i] = v; s += v; }
  for (let i = 0; i < values; i++) x[i] = q[i] / 100 + x[i] * 1e-6;
  sink += s;
}
for (let k = 0; k < 8; k++) pass();
parentPort.postMessage({ ready: true });
let round = 0;
for (;;) {
  Atomics.wait(flags, slot, round);
  round = Atomics.load(flags, slot);
  if (round < 0) break;
  const start = Number(process.hrtime.bigint());
  const ends = [];
  while (Atomics.load(flags, stopSlot) < round) {
    pass();
    ends.push(Number(process.hrtime.bigint()));
  }
  parentPort.postMessage({ start, ends, sink });
}
`;

interface Report {
  ready?: boolean;
  start?: number;
  ends?: number[];
}

/** Passes per ns of each thread over the window in which all of them ran. */
function ratesOver(reports: Report[]): number[] {
  const from = Math.max(...reports.map((r) => r.start ?? Infinity));
  const to = Math.min(...reports.map((r) => r.ends?.at(-1) ?? -Infinity));
  if (!(to > from)) return [];
  return reports.map((r) => (r.ends ?? []).filter((t) => t > from && t <= to).length / (to - from));
}

/** Times the loop on one thread alone, then on `threads` threads at once, each round `windowMs` long. */
export async function probeHostShare(
  threads: number,
  opts: { values?: number; windowMs?: number } = {},
): Promise<HostShare> {
  const n = Math.max(1, Math.floor(threads));
  const values = opts.values ?? 1 << 18;
  const windowMs = opts.windowMs ?? 100;
  const gate = new SharedArrayBuffer(4 * (n + 1));
  const flags = new Int32Array(gate);
  const workers: Worker[] = [];
  const next: ((m: Report) => void)[] = [];
  // A worker that fails or exits before it answers rejects the wait, so the probe never hangs
  // (probeHost records the message as hostShareError and the run goes on).
  const failed: ((e: Error) => void)[] = [];
  const message = (i: number): Promise<Report> =>
    new Promise((resolve, reject) => {
      next[i] = resolve;
      failed[i] = reject;
    });
  try {
    for (let i = 0; i < n; i++) {
      const w = new Worker(WORKER, { eval: true, workerData: { values, gate, slot: i, stopSlot: n } });
      workers.push(w);
      w.on('message', (m: Report) => next[i]?.(m));
      w.on('error', (e) => failed[i]?.(e));
      w.on('exit', (code) =>
        failed[i]?.(new Error(`host share probe: worker ${i} exited (code ${code}) before answering`)),
      );
    }
    await Promise.all(workers.map((_, i) => message(i)));
    const round = async (which: number[], r: number): Promise<number[]> => {
      const answers = which.map((i) => message(i));
      for (const i of which) {
        Atomics.store(flags, i, r);
        Atomics.notify(flags, i);
      }
      await new Promise((resolve) => setTimeout(resolve, windowMs));
      Atomics.store(flags, n, r);
      return ratesOver(await Promise.all(answers));
    };
    const [alone] = await round([0], 1);
    const shared = median(
      await round(
        workers.map((_, i) => i),
        2,
      ),
    );
    if (!(alone > 0) || !(shared > 0)) throw new Error('the host share probe timed no whole pass');
    return { threads: n, aloneNs: 1 / alone, sharedNs: 1 / shared, share: Math.min(1, shared / alone) };
  } finally {
    for (let i = 0; i < n; i++) {
      Atomics.store(flags, i, -1);
      Atomics.notify(flags, i);
    }
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
