/**
 * Runs a world of ranks as worker threads on this machine and collects what each returns:
 * the minimal coordinator the tests and the benchmark use (the training coordinator does
 * the same with trainers in its workers). Guarantees: if a rank fails or the run is
 * cancelled, the world is aborted, every worker has exited (terminated after a grace
 * period if need be) before the promise settles, and the error names the failing rank.
 */
import { Worker } from 'node:worker_threads';
import { abortWorld, createWorld, WorldInit, WorldOptions } from './world';

export interface RankFailure {
  rank: number;
  name: string;
  message: string;
}

export class RankFailedError extends Error {
  override name = 'RankFailedError';
  constructor(
    readonly rank: number,
    readonly failures: RankFailure[],
    readonly cancelled: boolean,
  ) {
    super(
      cancelled
        ? `run cancelled${failures.length ? `: ${failures[0].message}` : ''}`
        : `rank ${rank} failed: ${failures.find((f) => f.rank === rank)?.name}: ${failures.find((f) => f.rank === rank)?.message}`,
    );
  }
}

export interface LocalWorldOptions extends WorldOptions {
  worldSize: number;
  /** Absolute path of the worker entry (compiled .js). */
  workerPath: string;
  /** Passed to every rank as workerData.task. */
  task: unknown;
  /** Cancels the run: the world is aborted with reason 'cancelled'. */
  signal?: AbortSignal;
  /** After an abort, workers still alive after this long are terminated (default 1500 ms). */
  graceMs?: number;
  /** Called with the world before the workers start (e.g. to keep it for abortWorld). */
  onWorld?: (init: WorldInit) => void;
}

export interface RankMessage<T> {
  ok: boolean;
  result?: T;
  error?: { name: string; message: string };
}

export async function runLocalWorld<T>(opts: LocalWorldOptions): Promise<T[]> {
  const init = createWorld(opts.worldSize, opts);
  opts.onWorld?.(init);
  const results: (T | undefined)[] = new Array(opts.worldSize);
  const failures: RankFailure[] = [];
  let firstFailure = -1;
  let cancelled = false;
  const workers: Worker[] = [];
  let killTimer: NodeJS.Timeout | undefined;
  const abortAll = (reason: string, origin: number) => {
    abortWorld(init, reason, origin);
    killTimer ??= setTimeout(() => workers.forEach((w) => void w.terminate()), opts.graceMs ?? 1500);
  };
  const onCancel = () => {
    cancelled = true;
    abortAll('cancelled', -1);
  };
  if (opts.signal?.aborted) onCancel();
  opts.signal?.addEventListener('abort', onCancel, { once: true });
  const exits = Array.from({ length: opts.worldSize }, (_, rank) => {
    const w = new Worker(opts.workerPath, { workerData: { init, rank, task: opts.task } });
    workers.push(w);
    return new Promise<void>((resolve) => {
      w.on('message', (m: RankMessage<T>) => {
        if (m.ok) results[rank] = m.result;
        else fail(rank, m.error?.name ?? 'Error', m.error?.message ?? 'unknown error');
      });
      w.on('error', (e) => fail(rank, e.name, e.message));
      w.on('exit', (code) => {
        if (code !== 0 && results[rank] === undefined && !failures.some((f) => f.rank === rank))
          fail(rank, 'WorkerExit', `worker exited with code ${code}`);
        resolve();
      });
    });
  });
  function fail(rank: number, name: string, message: string) {
    failures.push({ rank, name, message });
    // The first failure that is not a consequence of an abort is the cause.
    if (firstFailure < 0 && name !== 'CommAbortedError') firstFailure = rank;
    abortAll(`rank ${rank} failed: ${message}`, rank);
  }
  await Promise.all(exits);
  if (killTimer) clearTimeout(killTimer);
  opts.signal?.removeEventListener('abort', onCancel);
  if (cancelled || failures.length) {
    throw new RankFailedError(firstFailure >= 0 ? firstFailure : (failures[0]?.rank ?? -1), failures, cancelled);
  }
  for (let r = 0; r < results.length; r++)
    if (results[r] === undefined)
      throw new RankFailedError(r, [{ rank: r, name: 'NoResult', message: 'rank exited without a result' }], false);
  return results as T[];
}
