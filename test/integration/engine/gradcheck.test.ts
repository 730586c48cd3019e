/**
 * Finite-difference gradient checks on whole small models: the gradient backward() leaves
 * in the flat gradient buffer must match (L(θ+h) − L(θ−h)) / 2h for a sample of
 * parameters (the largest gradient of every layer plus random ones). The step h is small
 * next to the parameters' scale (layer norm over a narrow, near-constant embedding is
 * strongly curved); f32 rounding of the loss then limits agreement to ~1e-3 of the largest
 * gradient, hence the tolerance.
 * The mixture of experts is checked the same way, through forwardAsync/backwardAsync (it
 * routes on the host).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTrainer, ModelConfig, Trainer } from '../../../runtime/engine';
import { Rng } from '../../../runtime/engine/random';
import { testDevice } from './device';

async function readFlat(device: GPUDevice, buf: GPUBuffer, count: number): Promise<Float32Array> {
  const rb = device.createBuffer({ size: count * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buf, 0, rb, 0, count * 4);
  device.queue.submit([enc.finish()]);
  await rb.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(rb.getMappedRange().slice(0));
  rb.unmap();
  rb.destroy();
  return out;
}

async function lossAt(tr: Trainer, device: GPUDevice, index: number, value: number): Promise<number> {
  device.queue.writeBuffer(tr.paramBuffer, index * 4, Float32Array.of(value));
  await tr.forwardAsync();
  return tr.loss();
}

/**
 * The router of a mixture of experts gets gradients ~1000× smaller than the model's
 * largest (only through the gates), below gradCheck's tolerance: its own check compares
 * each of its largest entries (and every bias) against its own scale, with a step large
 * enough for the f32 loss to resolve them.
 */
async function routerCheck(tr: Trainer, device: GPUDevice, grads: Float32Array, params: Float32Array): Promise<void> {
  const h = 1e-2;
  const routers = tr.paramTensors.filter((t) => /\.moe\.router\./.test(t.name));
  assert.ok(routers.length > 0, 'the model has routers');
  for (const t of routers) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const idx = Array.from({ length: n }, (_, i) => t.offset + i).sort(
      (a, b) => Math.abs(grads[b]) - Math.abs(grads[a]),
    );
    const scale = Math.abs(grads[idx[0]]);
    assert.ok(scale > 0, `${t.name} gets a gradient`);
    for (const i of idx.slice(0, 4)) {
      const lp = await lossAt(tr, device, i, params[i] + h);
      const lm = await lossAt(tr, device, i, params[i] - h);
      device.queue.writeBuffer(tr.paramBuffer, i * 4, Float32Array.of(params[i]));
      const fd = (lp - lm) / (2 * h);
      // A few f32 ulps of the loss, over 2h: the finest difference the loss resolves.
      const noise = (4 * Math.max(Math.abs(lp), Math.abs(lm)) * 2 ** -23) / (2 * h);
      assert.ok(
        Math.abs(fd - grads[i]) <= 0.05 * Math.abs(grads[i]) + 0.03 * scale + noise,
        `${t.name}[${i - t.offset}]: backward ${grads[i]}, finite difference ${fd}`,
      );
    }
  }
}

async function gradCheck(device: GPUDevice, model: ModelConfig, h: number): Promise<void> {
  const tr = await createTrainer(device, {
    model,
    optimizer: { kind: 'sgd', lr: 0.1 },
    seed: 5,
    rank: 0,
    worldSize: 1,
    timing: false,
  });
  try {
    tr.nextBatch(0);
    // The async path is the synchronous one for dense models; a mixture of experts routes on the host.
    await tr.forwardAsync();
    await tr.backwardAsync();
    const grads = await readFlat(device, tr.gradBuffer, tr.paramCount);
    const params = await readFlat(device, tr.paramBuffer, tr.paramCount);
    const gmax = grads.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    assert.ok(gmax > 0 && Number.isFinite(gmax));
    const rng = new Rng(99);
    const picks = new Set<number>();
    for (const l of tr.layers) {
      let best = l.paramOffset;
      for (let i = l.paramOffset; i < l.paramOffset + l.paramCount; i++)
        if (Math.abs(grads[i]) > Math.abs(grads[best])) best = i;
      picks.add(best);
      for (let k = 0; k < 3; k++) picks.add(l.paramOffset + rng.int(l.paramCount));
    }
    for (const i of picks) {
      const lp = await lossAt(tr, device, i, params[i] + h);
      const lm = await lossAt(tr, device, i, params[i] - h);
      device.queue.writeBuffer(tr.paramBuffer, i * 4, Float32Array.of(params[i]));
      const fd = (lp - lm) / (2 * h);
      const layer = tr.layers.find((l) => i >= l.paramOffset && i < l.paramOffset + l.paramCount)!;
      assert.ok(
        Math.abs(fd - grads[i]) <= 0.03 * Math.abs(grads[i]) + 3e-3 * gmax,
        `${model.kind} ${layer.name}[${i - layer.paramOffset}]: backward ${grads[i]}, finite difference ${fd}`,
      );
    }
    if (model.experts !== undefined) await routerCheck(tr, device, grads, params);
  } finally {
    tr.destroy();
  }
}

test('MLP gradients match finite differences', async (t) => {
  const device = await testDevice();
  if (!device) return t.skip('no WebGPU adapter');
  await gradCheck(device, { kind: 'mlp', inputDim: 6, hiddenDims: [10, 7], classes: 3, batchSize: 5 }, 1e-2);
});

test('gpt-mini gradients match finite differences', async (t) => {
  const device = await testDevice();
  if (!device) return t.skip('no WebGPU adapter');
  await gradCheck(
    device,
    {
      kind: 'gpt-mini',
      layers: 2,
      heads: 2,
      dModel: 8,
      seqLen: 6,
      maxSeqLen: 7,
      vocab: 5,
      task: 'reverse',
      batchSize: 3,
    },
    1e-3,
  );
  await gradCheck(
    device,
    { kind: 'gpt-mini', layers: 1, heads: 1, dModel: 4, seqLen: 8, vocab: 4, task: 'modadd', batchSize: 2 },
    1e-3,
  );
});

test('mixture-of-experts gpt-mini gradients match finite differences (router, gates, experts, dispatch and combine)', async (t) => {
  const device = await testDevice();
  if (!device) return t.skip('no WebGPU adapter');
  // topK = experts and capacity for every token: each token goes to every expert, so no
  // routing decision can flip under the finite difference (the gates still renormalise).
  await gradCheck(
    device,
    {
      kind: 'gpt-mini',
      layers: 2,
      heads: 2,
      dModel: 8,
      seqLen: 6,
      vocab: 5,
      task: 'reverse',
      batchSize: 3,
      experts: 2,
      topK: 2,
      capacityFactor: 1,
    },
    1e-3,
  );
  // Top-2 of 4 (the gates renormalise over a subset: a term the softmax no longer cancels),
  // capacity for every assignment. The routing is held by this seed's margins: a choice
  // that flipped under ±h would show as a gross mismatch.
  await gradCheck(
    device,
    {
      kind: 'gpt-mini',
      layers: 1,
      heads: 2,
      dModel: 8,
      seqLen: 6,
      vocab: 5,
      task: 'reverse',
      batchSize: 3,
      experts: 4,
      topK: 2,
      capacityFactor: 2,
    },
    1e-3,
  );
});
