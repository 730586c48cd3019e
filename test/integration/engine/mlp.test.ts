import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTrainer, Trainer } from '../../../runtime/engine';
import { hostNowNs } from '../../../runtime/clock';
import { testDevice } from './device';

const model = { kind: 'mlp' as const, inputDim: 16, hiddenDims: [32], classes: 4, batchSize: 32 };

async function run(
  device: GPUDevice,
  steps: number,
  timing: boolean,
  kind: 'sgd' | 'adamw' = 'adamw',
): Promise<{ losses: number[]; trainer: Trainer; readyOrder: number[][]; missesAfterStep1: number }> {
  const trainer = await createTrainer(device, {
    model,
    optimizer: { kind, lr: kind === 'sgd' ? 0.1 : 0.01, momentum: 0.9 },
    seed: 7,
    rank: 0,
    worldSize: 1,
    timing,
  });
  const losses: number[] = [];
  const readyOrder: number[][] = [];
  let missesAfterStep1 = 0;
  for (let s = 0; s < steps; s++) {
    if (s === 1) missesAfterStep1 = trainer.poolStats().misses;
    trainer.nextBatch(s);
    trainer.forward();
    const order: number[] = [];
    trainer.backward((li) => order.push(li));
    readyOrder.push(order);
    trainer.optimizerStep();
    losses.push(await trainer.loss());
  }
  return { losses, trainer, readyOrder, missesAfterStep1 };
}

test('MLP loss falls over 20 steps, deterministically, with no buffer created after step 1', async (t) => {
  const device = await testDevice();
  if (!device) return t.skip('no WebGPU adapter');
  const a = await run(device, 20, true);
  const first = a.losses.slice(0, 3).reduce((x, y) => x + y) / 3;
  const last = a.losses.slice(-3).reduce((x, y) => x + y) / 3;
  assert.ok(a.losses.every(Number.isFinite), `finite losses: ${a.losses}`);
  assert.ok(last < 0.5 * first, `loss should fall clearly: first ${first}, last ${last}`);
  assert.ok(first > 0.8 * Math.log(4), `starts near ln(4): ${first}`);
  // Layers report in reverse order, each once per step.
  assert.deepEqual(a.readyOrder[0], [1, 0]);
  // Same seed, same curve.
  const b = await run(device, 20, false);
  assert.deepEqual(b.losses, a.losses);
  // Pool: every step after the first is served from the pool.
  const stats = a.trainer.poolStats();
  assert.equal(stats.misses, a.missesAfterStep1, `no pool miss after the first step: ${JSON.stringify(stats)}`);
  assert.ok(stats.hits >= 19 * stats.misses, `pool ${JSON.stringify(stats)}`);
  a.trainer.destroy();
  b.trainer.destroy();
});

test('spans are named, per kernel, inside the step on the host clock', async (t) => {
  const device = await testDevice();
  if (!device) return t.skip('no WebGPU adapter');
  const trainer = await createTrainer(device, {
    model,
    optimizer: { kind: 'sgd', lr: 0.05 },
    seed: 1,
    rank: 0,
    worldSize: 1,
    timing: true,
  });
  trainer.nextBatch(0);
  const t0 = hostNowNs();
  trainer.forward();
  trainer.backward();
  trainer.optimizerStep();
  await trainer.loss();
  const t1 = hostNowNs();
  const spans = await trainer.drainSpans();
  const names = spans.map((s) => s.name);
  assert.ok(names.includes('matmul 32x32x16 fwd layer0.fc'), names.join('\n'));
  assert.ok(names.includes('matmul.dw 16x32x32 bwd layer0.fc'), names.join('\n'));
  assert.ok(names.some((n) => n.startsWith('sgd ')));
  assert.ok(
    spans.some((s) => s.phase === 'forward') &&
      spans.some((s) => s.phase === 'backward') &&
      spans.some((s) => s.phase === 'optimizer'),
  );
  const err = trainer.calibrationErrorNs;
  assert.ok(Number.isFinite(err) && err >= 0, `calibration error ${err}`);
  for (const s of spans) {
    assert.ok(s.endNs >= s.startNs);
    assert.ok(
      s.startNs >= t0 - err - 1e6 && s.endNs <= t1 + err + 1e6,
      `${s.name} [${s.startNs}, ${s.endNs}] outside [${t0}, ${t1}] ± ${err}`,
    );
  }
  assert.deepEqual(await trainer.drainSpans(), []);
  trainer.destroy();
});
