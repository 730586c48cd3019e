/**
 * Top-k sparsification after Deep Gradient Compression (Lin et al., arXiv 1712.01887):
 * - local gradient accumulation: what is not sent stays in an accumulator and is sent
 *   once it grows large enough;
 * - momentum correction: the accumulator integrates a local velocity (u = m·u + g) rather
 *   than the raw gradient, and the velocity of sent entries is cleared (momentum factor
 *   masking) so that stale momentum does not push them again;
 * - optional local gradient clipping before accumulation;
 * - sparsity warm-up: the density falls geometrically from 25% to its target over the
 *   first `warmupSteps` steps.
 * The k selected (index, value) pairs of every rank travel in one all-gather.
 */
import type { Bucket } from './buckets';
import { topKIndices } from './codecs';
import { nowNs, type GradientHook, type HookEnv } from './hooks';
import { ScratchByKey } from './scratch';

export interface TopKOptions {
  density: number;
  momentum: number;
  warmupSteps: number;
  clipNorm?: number;
}

interface State {
  velocity: Float32Array;
  accumulated: Float32Array;
}

/** Density at `step`: 0.25 → target, geometric over the warm-up, then the target. */
export function dgcDensity(step: number, target: number, warmupSteps: number): number {
  if (step >= warmupSteps || target >= 0.25) return target;
  return 0.25 * (target / 0.25) ** (step / warmupSteps);
}

export class TopKDgcHook implements GradientHook {
  readonly id = 'topk-dgc';
  private readonly state = new Map<number, State>();
  private readonly scratch = new ScratchByKey();
  constructor(
    private readonly env: HookEnv,
    private readonly opts: TopKOptions,
  ) {}

  async exchange(bucket: Bucket, grads: Float32Array, step: number): Promise<void> {
    const { coll } = this.env;
    const n = grads.length;
    let st = this.state.get(bucket.index);
    if (!st) this.state.set(bucket.index, (st = { velocity: new Float32Array(n), accumulated: new Float32Array(n) }));
    let t = nowNs();
    if (this.opts.clipNorm !== undefined) {
      // DGC clips each worker's gradient at clipNorm / sqrt(worldSize), so the sum of N
      // clipped gradients respects the global threshold.
      let sq = 0;
      for (let i = 0; i < n; i++) sq += grads[i] * grads[i];
      const limit = this.opts.clipNorm / Math.sqrt(coll.worldSize);
      const norm = Math.sqrt(sq);
      if (norm > limit) for (let i = 0; i < n; i++) grads[i] *= limit / norm;
    }
    const m = this.opts.momentum;
    const { velocity: u, accumulated: v } = st;
    for (let i = 0; i < n; i++) {
      if (m > 0) {
        u[i] = m * u[i] + grads[i];
        v[i] += u[i];
      } else v[i] += grads[i];
    }
    const density = dgcDensity(step, this.opts.density, this.opts.warmupSteps);
    const k = Math.max(1, Math.min(n, Math.ceil(density * n)));
    const idx = topKIndices(v, k, this.scratch.of(bucket.index));
    const block = new Uint8Array(k * 8);
    const idxOut = new Uint32Array(block.buffer, 0, k);
    const valOut = new Float32Array(block.buffer, k * 4, k);
    for (let j = 0; j < k; j++) {
      const i = idx[j];
      idxOut[j] = i;
      valOut[j] = v[i];
      v[i] = 0;
      u[i] = 0;
    }
    this.env.span('encode top-k', t, nowNs(), { bucket: bucket.index, k, density });
    const all = await coll.allGatherBytes(block);
    t = nowNs();
    grads.fill(0);
    for (let r = 0; r < coll.worldSize; r++) {
      const base = all.byteOffset + r * k * 8;
      const ri = new Uint32Array(all.buffer, base, k);
      const rv = new Float32Array(all.buffer, base + k * 4, k);
      for (let j = 0; j < k; j++) grads[ri[j]] += rv[j];
    }
    for (let i = 0; i < n; i++) grads[i] /= coll.worldSize;
    this.env.span('decode top-k', t, nowNs(), { bucket: bucket.index });
  }

  stateBytes(): number {
    let b = 0;
    for (const s of this.state.values()) b += s.velocity.byteLength + s.accumulated.byteLength;
    return b;
  }
}
