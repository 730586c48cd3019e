/**
 * Worker entry of the communication tests and benchmark: one rank of a local world.
 * workerData = { init: WorldInit, rank, task }. Posts { ok, result } or { ok: false, error }
 * and, on failure, aborts the world so that its peers stop waiting at once.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { abortWorld, WorldInit } from './comm/world';
import { runCallsTask, CallsTask } from './comm/harness';
import { runBenchTask, BenchTask } from './comm/benchTask';
import { runGpuTask, GpuTask } from './comm/gpuTask';

const { init, rank, task } = workerData as { init: WorldInit; rank: number; task: CallsTask | BenchTask | GpuTask };

async function main(): Promise<unknown> {
  if (task.kind === 'calls') return runCallsTask(init, rank, task);
  if (task.kind === 'bench') return runBenchTask(init, rank, task);
  if (task.kind === 'gpu') return runGpuTask(init, rank, task);
  throw new Error(`unknown task kind '${(task as { kind: string }).kind}'`);
}

main().then(
  (result) => parentPort?.postMessage({ ok: true, result }),
  (e: unknown) => {
    const err = e instanceof Error ? e : new Error(String(e));
    abortWorld(init, `rank ${rank}: ${err.message}`, rank);
    parentPort?.postMessage({ ok: false, error: { name: err.name, message: err.message } });
  },
);
