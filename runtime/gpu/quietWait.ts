/**
 * Waiting for a software GPU without taking its cores.
 *
 * dawn-node settles its promises (mapAsync, onSubmittedWorkDone, requestDevice...) by ticking
 * the device from the thread's event loop again and again until they resolve: a thread that
 * awaits its GPU keeps a core busy. On a GPU that is a separate chip that costs a host core
 * and nothing else; on a software GPU (lavapipe) the kernels run on the same cores, so every
 * rank that waits for its own kernels slows everyone's. Measured on this project's 2-core
 * machine (one 1M-invocation kernel, timestamped): 85–148 ms while the host awaited mapAsync,
 * 65–89 ms while it slept (LP_NUM_THREADS 2 and 8) (docs/benchmarks.md, 2026-12-07).
 * In training runs the spinning made a kernel's time depend on what the other ranks were
 * doing (waiting for their GPU or for a collective), which no model of the run can see.
 *
 * On a software adapter (requestAdapter turns it on for the thread) every GPU promise the
 * runtime awaits goes through `quietly`: while any is pending, the thread sleeps between
 * event-loop turns (Atomics.wait, no CPU), 0.05 ms at first and doubling to 1 ms, so dawn
 * ticks the device at most ~1000 times a second instead of continuously, and a promise
 * settles at most ~1 ms after its work is done. Timers and messages still run every turn.
 * The loop's turns do not keep the thread alive (unref'd): dawn keeps it alive while its
 * promise is pending, as without the loop, and a promise that never settles does not leave a
 * thread spinning here after everything else has ended.
 * Hardware adapters keep dawn's own polling (their waits are short and cost no GPU time).
 * COMMLENS_GPU_WAIT=spin turns this off (for measuring what it changes).
 */

const FIRST_SLEEP_MS = 0.05;
const LONGEST_SLEEP_MS = 1;

let quiet = false;
let pending = 0;
let driving = false;
let sleeper: Int32Array | undefined;

/** Whether this thread's GPU waits sleep between ticks (a software adapter, and not turned off). */
export function quietGpuWaits(): boolean {
  return quiet;
}

/** Turns quiet waits on or off for this thread; COMMLENS_GPU_WAIT=spin keeps them off. */
export function setQuietGpuWaits(on: boolean): void {
  quiet = on && process.env.COMMLENS_GPU_WAIT !== 'spin';
}

/** Returns `p` (same promise); while it is pending on a quiet thread, the thread sleeps between event-loop turns. */
export function quietly<T>(p: Promise<T>): Promise<T> {
  if (!quiet) return p;
  pending++;
  const settled = (): void => {
    pending--;
  };
  p.then(settled, settled);
  if (!driving) void drive();
  return p;
}

async function drive(): Promise<void> {
  driving = true;
  sleeper ??= new Int32Array(new SharedArrayBuffer(4));
  let sleepMs = FIRST_SLEEP_MS;
  try {
    while (pending > 0) {
      Atomics.wait(sleeper, 0, 0, sleepMs);
      sleepMs = Math.min(LONGEST_SLEEP_MS, sleepMs * 2);
      await new Promise<void>((resolve) => setImmediate(resolve).unref());
    }
  } finally {
    driving = false;
  }
}
