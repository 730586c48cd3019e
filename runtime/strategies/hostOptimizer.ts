/**
 * The run's optimizer (config.optimizer) on a host-resident range of parameters: what a
 * ZeRO rank runs on its shard, and what 1-bit Adam runs in its warm-up. Formulas follow
 * PyTorch's SGD / Adam / AdamW, as the engine's optimizer does, so that a sharded run
 * reproduces the unsharded one up to floating-point rounding.
 */
import type { OptimizerSettings } from '../config';

export class HostOptimizer {
  readonly m: Float32Array;
  readonly v: Float32Array | undefined;
  private t = 0;

  constructor(
    readonly settings: OptimizerSettings,
    readonly length: number,
  ) {
    this.m = new Float32Array(length);
    this.v = settings.kind === 'sgd' ? undefined : new Float32Array(length);
  }

  /** Bytes of optimizer state held. */
  get stateBytes(): number {
    return this.m.byteLength + (this.v?.byteLength ?? 0);
  }

  /** Steps taken so far. */
  get steps(): number {
    return this.t;
  }

  /**
   * One update of `params` from `grads` (same length). `gradScale` multiplies the
   * gradients first (see `gradScale`: the caller computes it from the global norm, as it
   * sees all shards); 0 skips the update, as the engine does for a non-finite norm.
   */
  step(params: Float32Array, grads: Float32Array, gradScale = 1): void {
    const s = this.settings;
    this.t++;
    if (gradScale === 0) return;
    const lr = s.lr;
    // The engine's defaults: AdamW decays by 0.01 and SGD uses momentum 0.9 unless told otherwise.
    const wd = s.weightDecay ?? (s.kind === 'adamw' ? 0.01 : 0);
    if (s.kind === 'sgd') {
      const mu = s.momentum ?? 0.9;
      for (let i = 0; i < params.length; i++) {
        const g = grads[i] * gradScale + wd * params[i];
        const m = mu * this.m[i] + g;
        this.m[i] = m;
        params[i] -= lr * m;
      }
      return;
    }
    const b1 = s.beta1 ?? 0.9;
    const b2 = s.beta2 ?? 0.999;
    const eps = s.eps ?? 1e-8;
    const bc1 = 1 - b1 ** this.t;
    const bc2 = 1 - b2 ** this.t;
    const v = this.v!;
    for (let i = 0; i < params.length; i++) {
      let g = grads[i] * gradScale;
      if (s.kind === 'adamw') params[i] -= lr * wd * params[i];
      else g += wd * params[i];
      this.m[i] = b1 * this.m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      params[i] -= (lr * (this.m[i] / bc1)) / (Math.sqrt(v[i] / bc2) + eps);
    }
  }
}

/**
 * The factor the engine's optimizer applies to gradients, from Σg² over all of them:
 * 1/lossScale, times min(1, clip / (‖g‖/lossScale + 1e-6)) when clipping; 0 (skip the
 * step) when the norm is not finite.
 */
export function gradScale(settings: OptimizerSettings, sumSquares: number): number {
  if (!Number.isFinite(sumSquares)) return 0;
  const inv = 1 / (settings.lossScale ?? 1);
  if (!settings.clipGradNorm) return inv;
  const norm = Math.sqrt(sumSquares) * inv;
  return inv * Math.min(1, settings.clipGradNorm / (norm + 1e-6));
}

/** Σx² of a range (f32 inputs, f64 sum). */
export function sumSquares(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return s;
}
