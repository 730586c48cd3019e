// quietly (runtime/gpu/quietWait.ts): on a thread that waits for a software GPU, a pending GPU
// promise makes the thread sleep between event-loop turns. It must hand back the promise's own
// outcome (value or rejection), let timers and other promises run while it waits, and change
// nothing where quiet waits are off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quietly, quietGpuWaits, setQuietGpuWaits } from '../../../runtime/gpu/quietWait';

const after = <T>(ms: number, v: T): Promise<T> => new Promise((r) => setTimeout(() => r(v), ms));

test('quietly: off, the same promise comes back untouched', () => {
  setQuietGpuWaits(false);
  assert.equal(quietGpuWaits(), false);
  const p = after(1, 7);
  assert.equal(quietly(p), p);
});

test('quietly: on, values and rejections come through, timers fire while it waits, several waits at once', async () => {
  const saved = process.env.COMMLENS_GPU_WAIT;
  delete process.env.COMMLENS_GPU_WAIT;
  setQuietGpuWaits(true);
  try {
    assert.equal(quietGpuWaits(), true);
    const fired: number[] = [];
    setTimeout(() => fired.push(Date.now()), 5);
    const t0 = Date.now();
    const [a, b] = await Promise.all([quietly(after(60, 'a')), quietly(after(30, 'b'))]);
    assert.deepEqual([a, b], ['a', 'b']);
    assert.equal(fired.length, 1, 'a timer due during the wait fired');
    assert.ok(fired[0] - t0 < 45, `the 5 ms timer fired ${fired[0] - t0} ms in, not after the waits`);
    // The thread sleeps between turns: an immediate-chain that would turn the loop thousands of
    // times over 50 ms gets at most one turn per sleep (the sleeps grow to 1 ms).
    let turns = 0;
    let counting = true;
    const count = (): void => {
      turns++;
      if (counting) setImmediate(count);
    };
    setImmediate(count);
    await quietly(after(50, undefined));
    counting = false;
    assert.ok(turns < 120, `${turns} event-loop turns in 50 ms of a quiet wait (expected at most ~55)`);
    await assert.rejects(quietly(Promise.reject(new Error('device lost'))), /device lost/);
    // A wait after the others ended starts the loop again.
    assert.equal(await quietly(after(5, 3)), 3);
  } finally {
    setQuietGpuWaits(false);
    if (saved !== undefined) process.env.COMMLENS_GPU_WAIT = saved;
  }
});

test('quietly: COMMLENS_GPU_WAIT=spin keeps dawn polling as it does', () => {
  const saved = process.env.COMMLENS_GPU_WAIT;
  process.env.COMMLENS_GPU_WAIT = 'spin';
  try {
    setQuietGpuWaits(true);
    assert.equal(quietGpuWaits(), false);
  } finally {
    if (saved === undefined) delete process.env.COMMLENS_GPU_WAIT;
    else process.env.COMMLENS_GPU_WAIT = saved;
    setQuietGpuWaits(false);
  }
});
