// Staging.read into a kept host array (runtime/strategies/staging.ts): a bucket's gradients are
// read into the same array every step, so the step does not fault in a fresh one. The array
// must hold each read's values (not a stale copy), be the array returned, and a wrong length
// must be refused before anything is queued.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Staging } from '../../../runtime/strategies/staging';
import { testDevice } from './device';

test('Staging.read into a kept array: each read lands there, the same array comes back, a wrong length is refused', async (t) => {
  const device = await testDevice();
  if (!device) return t.skip('no WebGPU device');
  const n = 3000;
  const buffer = device.createBuffer({
    size: n * 4,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
  const spans: string[] = [];
  const staging = new Staging(device, (name) => spans.push(name));
  try {
    const kept = new Float32Array(1000);
    for (const round of [1, 2, 3]) {
      const values = Float32Array.from({ length: n }, (_, i) => round * 10_000 + i);
      device.queue.writeBuffer(buffer, 0, values);
      const got = await staging.read(buffer, 500, 1000, `D2H round ${round}`, kept);
      assert.equal(got, kept, 'the kept array is the one returned');
      assert.deepEqual([...got], [...values.subarray(500, 1500)], `round ${round}: this read's values`);
    }
    // Without `into`, a fresh array each time, as before.
    const a = await staging.read(buffer, 0, 10);
    const b = await staging.read(buffer, 0, 10);
    assert.notEqual(a, b);
    await assert.rejects(staging.read(buffer, 0, 10, 'D2H', new Float32Array(9)), /'into' holds 9 values, the copy 10/);
    assert.equal(spans.length, 5, 'one span per read that ran');
  } finally {
    staging.destroy();
    buffer.destroy();
  }
});
