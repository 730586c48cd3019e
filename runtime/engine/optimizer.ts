/**
 * Optimizers that update the flat parameter buffer on the GPU from the flat gradient
 * buffer: SGD with momentum, Adam, AdamW (decoupled weight decay).
 *
 * Every step first reduces Σg² over the gradients (one pass); the update kernel then
 *  - unscales by 1/lossScale (static loss scaling for f16 training),
 *  - clips to clipGradNorm by the global norm (when set),
 *  - skips the whole update when the norm is not finite, so no NaN or Inf ever reaches
 *    the parameters (an f16 overflow under loss scaling shows up exactly like that).
 */
import { GpuContext, grid1d } from './context';
import { encodeReduce } from './ops/reduce';
import { INDEX_1D } from './ops/graph';
import type { PooledBuffer } from './pool';

export interface OptimizerConfig {
  kind: 'sgd' | 'adam' | 'adamw';
  lr: number;
  momentum?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  clipGradNorm?: number;
  lossScale?: number;
}

const UNIFORM = `struct U { n: u32, step: u32, lr: f32, b1: f32, b2: f32, eps: f32, wd: f32, bc1: f32, bc2: f32, momentum: f32, invScale: f32, clip: f32 }
@group(0) @binding(0) var<uniform> u: U;`;

const GRAD_SCALE = `fn grad_scale() -> f32 {
  let norm2 = NORM[0];
  if ((bitcast<u32>(norm2) & 0x7f800000u) == 0x7f800000u) { return 0.0; }
  var s = u.invScale;
  if (u.clip > 0.0) {
    let norm = sqrt(norm2) * u.invScale;
    s = s * min(1.0, u.clip / (norm + 1e-6));
  }
  return s;
}`;

const SKIP = `  let gs = grad_scale();
  if (gs == 0.0) { return; }`;

const SGD_WGSL = `${UNIFORM}
@group(0) @binding(1) var<storage, read_write> P: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read_write> M: array<f32>;
@group(0) @binding(4) var<storage, read> NORM: array<f32>;
${GRAD_SCALE}
${INDEX_1D}
  if (i >= u.n) { return; }
${SKIP}
  let g = G[i] * gs + u.wd * P[i];
  let m = u.momentum * M[i] + g;
  M[i] = m;
  P[i] = P[i] - u.lr * m;
}`;

const ADAM_WGSL = (decoupled: boolean) => `${UNIFORM}
@group(0) @binding(1) var<storage, read_write> P: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read_write> M: array<f32>;
@group(0) @binding(4) var<storage, read_write> V: array<f32>;
@group(0) @binding(5) var<storage, read> NORM: array<f32>;
${GRAD_SCALE}
${INDEX_1D}
  if (i >= u.n) { return; }
${SKIP}
  var p = P[i];
  var g = G[i] * gs;
  ${decoupled ? 'p = p - u.lr * u.wd * p;' : 'g = g + u.wd * p;'}
  let m = u.b1 * M[i] + (1.0 - u.b1) * g;
  let v = u.b2 * V[i] + (1.0 - u.b2) * g * g;
  M[i] = m;
  V[i] = v;
  P[i] = p - u.lr * (m / u.bc1) / (sqrt(v / u.bc2) + u.eps);
}`;

export class Optimizer {
  private step = 0;
  private readonly uniform: GPUBuffer;
  private m!: PooledBuffer;
  private v: PooledBuffer | undefined;
  private readonly norm: PooledBuffer;
  private allocated = false;

  constructor(
    private readonly ctx: GpuContext,
    readonly cfg: OptimizerConfig,
    private readonly count: number,
  ) {
    this.uniform = ctx.device.createBuffer({ size: 48, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.norm = ctx.ownedBuffer(16, undefined, 'optimizer.gradNorm2');
  }

  /**
   * The state is allocated at the first step, so a strategy that updates the parameters
   * itself (ZeRO's sharded optimizer, 1-bit Adam) never holds a full-size copy.
   */
  private allocate(): void {
    if (this.allocated) return;
    this.allocated = true;
    const bytes = Math.max(16, this.count * 4);
    // New buffers are zero-initialised by WebGPU, as the state must start.
    this.m = this.ctx.ownedBuffer(bytes, undefined, 'optimizer.m');
    this.v = this.cfg.kind === 'sgd' ? undefined : this.ctx.ownedBuffer(bytes, undefined, 'optimizer.v');
  }

  /** Bytes of optimizer state held (0 until the first step). */
  get stateBytes(): number {
    return this.allocated ? this.m.size + (this.v?.size ?? 0) : 0;
  }

  /** Encodes one update of params from grads (both flat buffers of `count` f32). */
  encode(params: GPUBuffer, grads: GPUBuffer): void {
    const { ctx, cfg, count } = this;
    this.allocate();
    this.step++;
    const b1 = cfg.beta1 ?? 0.9;
    const b2 = cfg.beta2 ?? 0.999;
    const words = new ArrayBuffer(48);
    const u32 = new Uint32Array(words);
    const f32 = new Float32Array(words);
    u32[0] = count;
    u32[1] = this.step;
    f32[2] = cfg.lr;
    f32[3] = b1;
    f32[4] = b2;
    f32[5] = cfg.eps ?? 1e-8;
    f32[6] = cfg.weightDecay ?? (cfg.kind === 'adamw' ? 0.01 : 0);
    f32[7] = 1 - Math.pow(b1, this.step);
    f32[8] = 1 - Math.pow(b2, this.step);
    f32[9] = cfg.momentum ?? 0.9;
    f32[10] = 1 / (cfg.lossScale ?? 1);
    f32[11] = cfg.clipGradNorm ?? 0;
    ctx.device.queue.writeBuffer(this.uniform, 0, words);
    const gb: GPUBufferBinding = { buffer: grads, offset: 0, size: count * 4 };
    encodeReduce(ctx, gb, count, { buffer: this.norm.gpu, offset: 0, size: 4 }, { square: true, label: 'grad_norm2' });
    const state: GPUBufferBinding[] = [{ buffer: this.m.gpu, offset: 0, size: count * 4 }];
    if (this.v) state.push({ buffer: this.v.gpu, offset: 0, size: count * 4 });
    const code = cfg.kind === 'sgd' ? SGD_WGSL : ADAM_WGSL(cfg.kind === 'adamw');
    ctx.dispatch({
      name: `${cfg.kind} ${count} params opt`,
      pipeline: ctx.pipeline(`opt:${cfg.kind}`, code),
      buffers: [
        { buffer: params, offset: 0, size: count * 4 },
        gb,
        ...state,
        { buffer: this.norm.gpu, offset: 0, size: 4 },
      ],
      uniformBuffer: this.uniform,
      workgroups: grid1d(Math.ceil(count / 256)),
      flops: count * (cfg.kind === 'sgd' ? 4 : 12),
      bytes: count * 4 * (cfg.kind === 'sgd' ? 5 : 7),
    });
  }

  destroy(): void {
    this.uniform.destroy();
    if (this.allocated) {
      this.m.gpu.destroy();
      this.v?.gpu.destroy();
    }
    this.norm.gpu.destroy();
  }
}
