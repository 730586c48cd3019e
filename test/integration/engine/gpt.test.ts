import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTrainer, ModelConfig } from '../../../runtime/engine';
import { testDevice } from './device';

const model: ModelConfig = {
  kind: 'gpt-mini',
  layers: 1,
  heads: 2,
  dModel: 16,
  seqLen: 8,
  vocab: 6,
  task: 'copy',
  batchSize: 8,
};

async function curve(device: GPUDevice, steps: number, timing: boolean): Promise<number[]> {
  const trainer = await createTrainer(device, {
    model,
    optimizer: { kind: 'adamw', lr: 1e-2, clipGradNorm: 1 },
    seed: 11,
    rank: 0,
    worldSize: 1,
    timing,
  });
  const losses: number[] = [];
  try {
    for (let s = 0; s < steps; s++) {
      trainer.nextBatch(s);
      trainer.forward();
      trainer.backward();
      trainer.optimizerStep();
      losses.push(await trainer.loss());
    }
    const stats = trainer.poolStats();
    assert.ok(stats.hits >= (steps - 1) * stats.misses, `pool reuse ${JSON.stringify(stats)}`);
  } finally {
    trainer.destroy();
  }
  return losses;
}

test('gpt-mini loss falls clearly on the copy task, the same curve twice', async (t) => {
  const device = await testDevice();
  if (!device) return t.skip('no WebGPU adapter');
  const a = await curve(device, 40, true);
  const first = a.slice(0, 3).reduce((x, y) => x + y) / 3;
  const last = a.slice(-5).reduce((x, y) => x + y) / 5;
  assert.ok(a.every(Number.isFinite));
  // Content tokens are 2..5: chance is ln 4 ≈ 1.39.
  assert.ok(first > 1.2, `starts near chance: ${first}`);
  assert.ok(last < 0.75 * first, `loss should fall clearly: ${a.map((v) => v.toFixed(3)).join(' ')}`);
  const b = await curve(device, 40, false);
  assert.deepEqual(b, a);
});

test('a different rank trains on a different shard', async (t) => {
  const device = await testDevice();
  if (!device) return t.skip('no WebGPU adapter');
  const losses: number[] = [];
  for (const rank of [0, 1]) {
    const tr = await createTrainer(device, {
      model,
      optimizer: { kind: 'sgd', lr: 0.1 },
      seed: 11,
      rank,
      worldSize: 2,
      timing: false,
    });
    tr.nextBatch(0);
    tr.forward();
    losses.push(await tr.loss());
    tr.destroy();
  }
  assert.notEqual(losses[0], losses[1]);
});

test('gpt-mini with f16 matmul operands and loss scaling trains too', async (t) => {
  const device = await testDevice();
  if (!device) return t.skip('no WebGPU adapter');
  if (!device.features.has('shader-f16')) return t.skip('adapter lacks shader-f16');
  const tr = await createTrainer(device, {
    model: { ...model, dtype: 'f16' },
    optimizer: { kind: 'adamw', lr: 1e-2, clipGradNorm: 1, lossScale: 1024 },
    seed: 11,
    rank: 0,
    worldSize: 1,
    timing: true,
  });
  const losses: number[] = [];
  for (let s = 0; s < 40; s++) {
    tr.nextBatch(s);
    tr.forward();
    tr.backward();
    tr.optimizerStep();
    losses.push(await tr.loss());
  }
  const spans = await tr.drainSpans();
  tr.destroy();
  assert.ok(spans.some((s) => s.name.startsWith('cast.f16')));
  assert.ok(losses.every(Number.isFinite));
  const first = losses.slice(0, 3).reduce((x, y) => x + y) / 3;
  const last = losses.slice(-5).reduce((x, y) => x + y) / 5;
  assert.ok(last < 0.75 * first, `f16 loss should fall: ${losses.map((v) => v.toFixed(3)).join(' ')}`);
});
