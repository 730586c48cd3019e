/**
 * Optimizer steps on the GPU against a float64 CPU replay of the same update from the same
 * gradients: SGD with momentum and weight decay, Adam, AdamW; with global-norm clipping and
 * loss scaling; and a non-finite gradient skips the step.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTrainer, OptimizerConfig, Trainer } from '../../../runtime/engine';
import { relError } from './harness';
import { testDevice } from './device';

async function readFlat(device: GPUDevice, buf: GPUBuffer, count: number): Promise<Float64Array> {
  const rb = device.createBuffer({ size: count * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buf, 0, rb, 0, count * 4);
  device.queue.submit([enc.finish()]);
  await rb.mapAsync(GPUMapMode.READ);
  const out = Float64Array.from(new Float32Array(rb.getMappedRange().slice(0)));
  rb.unmap();
  rb.destroy();
  return out;
}

/** The update rules as documented in runtime/engine/optimizer.ts, in float64. */
function cpuStep(
  o: OptimizerConfig,
  p: Float64Array,
  g: Float64Array,
  m: Float64Array,
  v: Float64Array,
  step: number,
): void {
  let norm2 = 0;
  for (const x of g) norm2 += x * x;
  let gs = 1 / (o.lossScale ?? 1);
  if (o.clipGradNorm) gs *= Math.min(1, o.clipGradNorm / (Math.sqrt(norm2) * gs + 1e-6));
  const b1 = o.beta1 ?? 0.9;
  const b2 = o.beta2 ?? 0.999;
  const wd = o.weightDecay ?? (o.kind === 'adamw' ? 0.01 : 0);
  for (let i = 0; i < p.length; i++) {
    let gi = g[i] * gs;
    if (o.kind === 'sgd') {
      gi += wd * p[i];
      m[i] = (o.momentum ?? 0.9) * m[i] + gi;
      p[i] -= o.lr * m[i];
      continue;
    }
    if (o.kind === 'adamw') p[i] -= o.lr * wd * p[i];
    else gi += wd * p[i];
    m[i] = b1 * m[i] + (1 - b1) * gi;
    v[i] = b2 * v[i] + (1 - b2) * gi * gi;
    p[i] -= (o.lr * (m[i] / (1 - b1 ** step))) / (Math.sqrt(v[i] / (1 - b2 ** step)) + (o.eps ?? 1e-8));
  }
}

async function compare(device: GPUDevice, o: OptimizerConfig): Promise<void> {
  const tr: Trainer = await createTrainer(device, {
    model: { kind: 'mlp', inputDim: 5, hiddenDims: [6], classes: 3, batchSize: 4 },
    optimizer: o,
    seed: 3,
    rank: 0,
    worldSize: 1,
    timing: false,
  });
  try {
    const n = tr.paramCount;
    const p = await readFlat(device, tr.paramBuffer, n);
    const m = new Float64Array(n);
    const v = new Float64Array(n);
    for (let step = 1; step <= 3; step++) {
      tr.nextBatch(step);
      tr.forward();
      tr.backward();
      // The caller may rewrite the gradients (an all-reduce does): the optimizer uses them as they are.
      const g = await readFlat(device, tr.gradBuffer, n);
      if (step === 2) {
        for (let i = 0; i < n; i++) g[i] *= 3;
        device.queue.writeBuffer(tr.gradBuffer, 0, Float32Array.from(g));
      }
      tr.optimizerStep();
      cpuStep(o, p, g, m, v, step);
      const got = await readFlat(device, tr.paramBuffer, n);
      const err = relError(got, p);
      assert.ok(err < 1e-5, `${JSON.stringify(o)} step ${step}: relative error ${err.toExponential(2)}`);
      p.set(got); // keep CPU and GPU on the same f32 trajectory
    }
  } finally {
    tr.destroy();
  }
}

test('SGD, Adam, AdamW (clipping, weight decay, loss scaling) match a float64 replay', async (t) => {
  const device = await testDevice();
  if (!device) return t.skip('no WebGPU adapter');
  await compare(device, { kind: 'sgd', lr: 0.1, momentum: 0.8, weightDecay: 1e-3 });
  await compare(device, { kind: 'adam', lr: 0.01, weightDecay: 1e-2 });
  await compare(device, { kind: 'adamw', lr: 0.01, weightDecay: 0.1, clipGradNorm: 0.05 });
  await compare(device, { kind: 'adamw', lr: 0.01, lossScale: 256, clipGradNorm: 1 });
});

test('a non-finite gradient skips the step and leaves parameters finite', async (t) => {
  const device = await testDevice();
  if (!device) return t.skip('no WebGPU adapter');
  const tr = await createTrainer(device, {
    model: { kind: 'mlp', inputDim: 5, hiddenDims: [6], classes: 3, batchSize: 4 },
    optimizer: { kind: 'adam', lr: 0.1 },
    seed: 3,
    rank: 0,
    worldSize: 1,
    timing: false,
  });
  const before = await readFlat(device, tr.paramBuffer, tr.paramCount);
  tr.nextBatch(0);
  tr.forward();
  tr.backward();
  device.queue.writeBuffer(tr.gradBuffer, 8, Float32Array.of(Number.POSITIVE_INFINITY));
  tr.optimizerStep();
  const after = await readFlat(device, tr.paramBuffer, tr.paramCount);
  assert.deepEqual(after, before);
  tr.destroy();
});
