import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTrainer } from '../../../runtime/engine';
import { requestDevice } from '../../../runtime/gpu/dawn';
import { testAdapter, testDevice } from './device';

test('impossible configs are rejected before any GPU work, naming setting and limit', async (t) => {
  const device = await testDevice();
  if (!device) return t.skip('no WebGPU adapter');
  const base = { optimizer: { kind: 'adam' as const, lr: 1e-3 }, seed: 1, rank: 0, worldSize: 1, timing: true };
  await assert.rejects(
    createTrainer(device, { ...base, model: { kind: 'gpt-mini', heads: 5, dModel: 32, batchSize: 2 } }),
    /model\.heads \(5\) must divide model\.dModel \(32\)/,
  );
  await assert.rejects(
    createTrainer(device, { ...base, model: { kind: 'gpt-mini', seqLen: 40, maxSeqLen: 32, batchSize: 2 } }),
    /model\.seqLen \(40\) exceeds model\.maxSeqLen \(32\)/,
  );
  const limit = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  await assert.rejects(
    createTrainer(device, {
      ...base,
      model: { kind: 'gpt-mini', dModel: 64, heads: 4, seqLen: 1024, vocab: 50000, batchSize: 16 },
    }),
    new RegExp(`limit of ${limit} bytes`),
  );
  await assert.rejects(
    createTrainer(device, { ...base, rank: 2, worldSize: 2, model: { kind: 'mlp', batchSize: 2 } }),
    /0 ≤ rank < worldSize/,
  );
});

test('a lost device ends the run with that reason instead of hanging', async (t) => {
  const adapter = await testAdapter();
  if (!adapter) return t.skip('no WebGPU adapter');
  const device = await requestDevice(adapter);
  const tr = await createTrainer(device, {
    model: { kind: 'mlp', inputDim: 8, hiddenDims: [8], classes: 2, batchSize: 4 },
    optimizer: { kind: 'sgd', lr: 0.1 },
    seed: 1,
    rank: 0,
    worldSize: 1,
    timing: true,
  });
  tr.nextBatch(0);
  tr.forward();
  device.destroy();
  const started = Date.now();
  await assert.rejects(tr.loss(), /GPU device lost/);
  assert.throws(() => tr.backward(), /GPU device lost/);
  await assert.rejects(tr.drainSpans(), /GPU device lost/);
  assert.ok(Date.now() - started < 5000);
});

test('a GPU error during a run (here: a destroyed buffer) surfaces as an Error', async (t) => {
  const adapter = await testAdapter();
  if (!adapter) return t.skip('no WebGPU adapter');
  const device = await requestDevice(adapter);
  const tr = await createTrainer(device, {
    model: { kind: 'mlp', inputDim: 8, hiddenDims: [8], classes: 2, batchSize: 4 },
    optimizer: { kind: 'sgd', lr: 0.1 },
    seed: 1,
    rank: 0,
    worldSize: 1,
    timing: false,
  });
  tr.nextBatch(0);
  tr.paramBuffer.destroy();
  tr.forward();
  await assert.rejects(async () => {
    await tr.loss();
    tr.backward();
  }, /GPU error: .*destroyed/i);
  device.destroy();
});
