/**
 * The flat parameter and gradient buffers. Every parameter is a view into one f32
 * buffer, grouped by layer in forward order, so a layer's parameters (and gradients) are
 * one contiguous range: gradient buckets and shards can be cut at layer boundaries.
 * Each parameter starts at the device's storage-offset alignment; the few padding
 * elements between them stay zero in parameters, gradients and optimizer state.
 */
import type { GpuContext } from './context';
import { Rng } from './random';
import { Tensor } from './tensor';

export interface LayerInfo {
  name: string;
  /** Elements into the flat buffers. */
  paramOffset: number;
  paramCount: number;
}

export interface ParamSpec {
  name: string;
  shape: number[];
  /** 'normal' uses std; 'zeros' / 'ones' are constants. */
  init: 'normal' | 'zeros' | 'ones';
  std?: number;
  /**
   * A tensor-parallel shard: this rank holds part of a parameter of shape `fullShape`.
   * Initialisation draws the whole parameter (so every rank, and a single rank holding
   * all of it, consume the same random numbers) and keeps element `index(i)` of it as
   * element i of the shard.
   */
  shard?: { fullShape: number[]; index: (i: number) => number };
}

export interface LayerSpec {
  name: string;
  params: ParamSpec[];
  /**
   * Random numbers to draw and drop before this layer's parameters: what the layers of the
   * whole model that this rank does not hold would have drawn (a pipeline stage), so its
   * layers start as in the whole model.
   */
  skipDraws?: number;
}

export interface ParamStore {
  paramBuffer: GPUBuffer;
  gradBuffer: GPUBuffer;
  /** Elements in the flat buffers (parameters plus alignment padding). */
  flatCount: number;
  /** Parameters of the model, without padding. */
  modelParamCount: number;
  layers: LayerInfo[];
  params: Tensor[];
  byName: Map<string, Tensor>;
}

/** Plans offsets without touching the GPU (validation uses it too). */
export function planParams(
  layers: LayerSpec[],
  alignElems: number,
): { offsets: number[][]; layers: LayerInfo[]; flatCount: number; modelParamCount: number } {
  let cursor = 0;
  let modelParamCount = 0;
  const offsets: number[][] = [];
  const infos: LayerInfo[] = [];
  for (const l of layers) {
    const start = cursor;
    const offs: number[] = [];
    for (const p of l.params) {
      const n = p.shape.reduce((a, b) => a * b, 1);
      offs.push(cursor);
      cursor += Math.ceil(n / alignElems) * alignElems;
      modelParamCount += n;
    }
    offsets.push(offs);
    infos.push({ name: l.name, paramOffset: start, paramCount: cursor - start });
  }
  return { offsets, layers: infos, flatCount: cursor, modelParamCount };
}

export function createParams(ctx: GpuContext, layers: LayerSpec[], seed: number): ParamStore {
  const alignElems = Math.max(1, ctx.device.limits.minStorageBufferOffsetAlignment / 4);
  const plan = planParams(layers, alignElems);
  const bytes = Math.max(16, plan.flatCount * 4);
  const paramBuf = ctx.ownedBuffer(bytes, undefined, 'parameters');
  const gradBuf = ctx.ownedBuffer(bytes, undefined, 'gradients');
  const host = new Float32Array(plan.flatCount);
  const rng = new Rng(seed);
  const params: Tensor[] = [];
  const byName = new Map<string, Tensor>();
  layers.forEach((l, li) => {
    for (let i = 0; i < (l.skipDraws ?? 0); i++) rng.normal();
    l.params.forEach((p, pi) => {
      const offset = plan.offsets[li][pi];
      const n = p.shape.reduce((a, b) => a * b, 1);
      if (p.shard && p.init === 'normal') {
        const full = new Float32Array(p.shard.fullShape.reduce((a, b) => a * b, 1));
        for (let i = 0; i < full.length; i++) full[i] = rng.normal() * (p.std ?? 0.02);
        for (let i = 0; i < n; i++) host[offset + i] = full[p.shard.index(i)];
      } else
        for (let i = 0; i < n; i++)
          host[offset + i] = p.init === 'zeros' ? 0 : p.init === 'ones' ? 1 : rng.normal() * (p.std ?? 0.02);
      const t = new Tensor(p.shape, paramBuf, offset * 4, false);
      const grad = new Tensor(p.shape, gradBuf, offset * 4, false);
      t.requiresGrad = true;
      const name = `${l.name}.${p.name}`;
      t.param = { name, layerIndex: li, offset, grad };
      params.push(t);
      byName.set(name, t);
    });
  });
  ctx.device.queue.writeBuffer(paramBuf.gpu, 0, host);
  return {
    paramBuffer: paramBuf.gpu,
    gradBuffer: gradBuf.gpu,
    flatCount: plan.flatCount,
    modelParamCount: plan.modelParamCount,
    layers: plan.layers,
    params,
    byName,
  };
}
