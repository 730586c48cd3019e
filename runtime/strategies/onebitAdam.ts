/**
 * 1-bit Adam (Tang et al., arXiv 2102.02888). Adam's variance becomes stable early, so:
 * - warm-up: full-precision Adam on all-reduced gradients. The paper freezes the variance
 *   once it has become stable (in its runs after 15-25% of training). By default this
 *   strategy measures it (trace/onebitWarmup.ts): after each warm-up step, the relative
 *   change of the bias-corrected variance ‖v̂_t − v̂_{t−1}‖/‖v̂_t‖, all-reduced with max so
 *   every rank freezes at the same step; the variance freezes once that change is ≤ 0.25,
 *   after at least max(3, 15% of the steps) and at most half the run's steps. A fixed
 *   `onebitWarmupSteps` overrides the rule. The step it froze at, and why, is in the run's
 *   notes (summary.json `strategyNotes`, printed by `commlens profile`).
 *   A fixed 20% of the run was the rule before; on a 12-step mlp-small run that is 2 steps,
 *   and it diverged (loss 2.89 → 14.08): after 2 steps v̂ is the g² of 2 batches, thousands
 *   of entries' later gradients exceeded their frozen √v̂ (by up to 10³-10⁴×), their
 *   momentum filled the sign compressor's chunks, every entry of those chunks moved, and
 *   the loop grew.
 * - then the variance is frozen and the ranks exchange the momentum instead of the
 *   gradient (Algorithm 1): each rank folds its local gradient into the shared momentum
 *   (m = β1·m + (1−β1)·g), and the momenta are averaged by the compressed all-reduce:
 *   each worker adds its error, sends one sign bit per value plus one scale per chunk
 *   (‖x‖₂/√n), each shard owner averages its shard, adds its own error, re-compresses it
 *   and the shards are all-gathered (error feedback on the workers and on the servers).
 *   The update uses the averaged momentum and the frozen variance. 32× less than f32 on
 *   the wire in that phase, less the scales.
 *
 * Two things this implementation does beyond the paper's pseudocode, both because the
 * sign compressor has no zero and its error is of the size of the chunk's typical value:
 * - The momentum is exchanged divided by the frozen denominator, u = m/(√v̂ + ε), and
 *   multiplied back after. The frozen denominator is the same on every rank, so without
 *   compression this is exactly the paper's exchange; with it, the compression error
 *   lands in the update's own units (bounded by the chunk's typical update) instead of
 *   being divided by √v̂. Compressing m itself diverged on mlp-small: the ReLU layers
 *   leave entries whose gradient was zero or tiny through the warm-up (√v̂ from 1e-6
 *   down to 1e-11, ~1% of the entries), the compressor gives each of them ±(the chunk's
 *   typical momentum), and dividing that by their √v̂ moved those weights by 10²-10⁵
 *   at the first compressed step; the loss rose and was NaN a few steps later.
 * - Entries whose variance is exactly zero when it freezes (no gradient on any rank in
 *   the whole warm-up: dead ReLU units) keep a zero momentum and are not updated, as
 *   DeepSpeed's 1-bit Adam does with its momentum mask: the frozen variance knows
 *   nothing of their scale, so any update would be lr·g/ε.
 * The optimizer runs on the host on a master copy of the parameters.
 */
import type { RunConfig } from '../config';
import { SignCodec } from './codecs';
import { compressedAllReduce, newErrorFeedback, type ErrorFeedbackState } from './compressedAllReduce';
import { Scratch } from './scratch';
import { strategyEnv, type StrategyEnv } from './env';
import { HostOptimizer, gradScale, sumSquares } from './hostOptimizer';
import { nowNs } from './hooks';
import { freezeNote, freezesNow, onebitWarmupBounds, VARIANCE_STABLE_CHANGE } from '../../trace/onebitWarmup';
import type { MemoryBytes, StepCounter, Strategy, StrategyContext } from './types';

/**
 * The compressed phase's first host loop: u = m / (√v̂ + ε) with m folded in from this rank's
 * gradient (m = β1·m + (1−β1)·g, g unscaled and with Adam's L2 weight decay); 0 where the
 * variance froze at 0 (inv = 0). Exported for the host probe, which times it.
 */
export function foldMomentum(
  u: Float32Array,
  m: Float32Array,
  g: Float32Array,
  p: Float32Array,
  inv: Float32Array,
  o: { beta1: number; lossScale: number; weightDecay: number },
): void {
  const b1 = o.beta1,
    scale = 1 / o.lossScale,
    wd = o.weightDecay;
  for (let i = 0; i < m.length; i++) {
    const gi = g[i] * scale + wd * p[i];
    u[i] = (b1 * m[i] + (1 - b1) * gi) * inv[i];
  }
}

/**
 * The compressed phase's second host loop: AdamW's decoupled decay, then the update by the
 * averaged u and the frozen variance, and m recovered from u. Exported for the host probe.
 */
export function frozenVarianceUpdate(
  p: Float32Array,
  m: Float32Array,
  u: Float32Array,
  inv: Float32Array,
  o: { lr: number; decoupledWeightDecay: number; bc1: number },
): void {
  const { lr, decoupledWeightDecay: wd, bc1 } = o;
  for (let i = 0; i < p.length; i++) {
    if (wd !== 0) p[i] -= lr * wd * p[i];
    if (inv[i] === 0) continue;
    m[i] = u[i] / inv[i];
    p[i] -= (lr * u[i]) / bc1;
  }
}

/**
 * How much the Adam step about to run on `grads` moves the bias-corrected variance:
 * ‖v̂_t − v̂_{t−1}‖₂ / ‖v̂_t‖₂ (trace/onebitWarmup.ts), from v before the step and the gradient
 * as HostOptimizer.step uses it (times gradScale, plus Adam's L2 decay `l2`·p), so without a
 * copy of v. 1 before the first step (no variance yet), on a skipped step (gradScale 0) and
 * when the variance is all zero.
 */
export function varianceChangeOfStep(
  v: Float32Array,
  grads: Float32Array,
  params: Float32Array,
  o: { gradScale: number; l2: number; beta2: number; stepsDone: number },
): number {
  const { gradScale: scale, l2, beta2: b2 } = o;
  const bcPrev = 1 - b2 ** o.stepsDone;
  const bc = 1 - b2 ** (o.stepsDone + 1);
  if (!(bcPrev > 0) || scale === 0) return 1;
  let diff = 0,
    norm = 0;
  for (let i = 0; i < v.length; i++) {
    const g = grads[i] * scale + l2 * params[i];
    const a = v[i] / bcPrev;
    const b = (b2 * v[i] + (1 - b2) * g * g) / bc;
    diff += (b - a) * (b - a);
    norm += b * b;
  }
  return norm > 0 ? Math.sqrt(diff / norm) : 1;
}

export class OnebitAdam implements Strategy {
  readonly id = 'onebit-adam';
  private readonly env: StrategyEnv;
  private readonly adam: HostOptimizer;
  private readonly codec: SignCodec;
  private params: Float32Array | undefined;
  private grads: Float32Array | undefined;
  private ef: ErrorFeedbackState | undefined;
  /** Bias correction of the variance when it froze. */
  private frozenBc2 = 1;
  /** 1/(√v̂ + ε) of the frozen variance, 0 where it froze at exactly 0. */
  private invDenom: Float32Array | undefined;
  /** The exchanged momentum, u = m·invDenom. */
  private u: Float32Array | undefined;
  /** True once the variance is frozen (the compressed phase). */
  private frozen = false;
  /** One value for the all-reduce of the variance's change. */
  private readonly change = new Float32Array(1);
  /** The compressed all-reduce's host buffers, kept from step to step. */
  private readonly scratch = new Scratch();
  private readonly bounds: { min: number; max: number };
  /** The variance's change this warm-up step measured, for its counter track (adaptive warm-up only). */
  private measuredChange: number | undefined;
  /** Why and when the variance froze, for the run's notes. */
  private freezeNote: string | undefined;

  constructor(
    private readonly ctx: StrategyContext,
    private readonly config: RunConfig,
    /** A fixed warm-up (strategyOptions.onebitWarmupSteps), or undefined for the adaptive rule. */
    private readonly warmupSteps: number | undefined,
    chunkSize: number,
  ) {
    this.bounds = onebitWarmupBounds(config.steps);
    this.env = strategyEnv(ctx);
    this.adam = new HostOptimizer(config.optimizer, ctx.trainer.paramCount);
    this.codec = new SignCodec(chunkSize);
  }

  async backwardAndExchange(): Promise<void> {
    const { trainer } = this.ctx;
    if (!this.params)
      this.params = await this.env.staging.read(trainer.paramBuffer, 0, trainer.paramCount, 'D2H master parameters');
    trainer.backward();
    this.grads = await this.env.staging.read(trainer.gradBuffer, 0, trainer.paramCount, 'D2H gradients');
    if (!this.frozen) await this.env.coll.allReduceF32(this.grads, 'avg');
  }

  async optimizerStep(step: number): Promise<void> {
    const { trainer } = this.ctx;
    const g = this.grads!;
    const p = this.params!;
    const s = this.config.optimizer;
    if (!this.frozen) {
      const t = nowNs();
      const adaptive = this.warmupSteps === undefined;
      const b2 = s.beta2 ?? 0.999;
      const scale = gradScale(s, sumSquares(g));
      if (adaptive)
        this.change[0] = varianceChangeOfStep(this.adam.v!, g, p, {
          gradScale: scale,
          l2: s.kind === 'adam' ? (s.weightDecay ?? 0) : 0,
          beta2: b2,
          stepsDone: this.adam.steps,
        });
      this.adam.step(p, g, scale);
      this.env.span('adam (host, warm-up)', t, nowNs());
      const done = this.adam.steps;
      if (adaptive) {
        // The same figure on every rank (the gradients were all-reduced), made certain by a max.
        await this.env.coll.allReduceF32(this.change, 'max');
        this.measuredChange = this.change[0];
        this.frozen = freezesNow(done, this.change[0], this.bounds);
        if (this.frozen)
          this.freezeNote = `${freezeNote(step)} (${done} full-precision step${done === 1 ? '' : 's'}): ${
            done >= this.bounds.max && this.change[0] > VARIANCE_STABLE_CHANGE
              ? `its relative change over the last step was ${this.change[0].toFixed(3)}, above ${VARIANCE_STABLE_CHANGE}, but the warm-up may take at most half of the run's ${this.config.steps} steps`
              : `its relative change over the last step was ${this.change[0].toFixed(3)} ≤ ${VARIANCE_STABLE_CHANGE} (stable) after at least ${this.bounds.min} steps`
          }`;
      } else {
        this.frozen = done >= this.warmupSteps!;
        if (this.frozen)
          this.freezeNote = `${freezeNote(step)} (${done} full-precision steps, as strategyOptions.onebitWarmupSteps asks)`;
      }
      if (this.frozen) this.frozenBc2 = 1 - b2 ** done;
    } else {
      const b1 = s.beta1 ?? 0.9;
      const wd = s.weightDecay ?? (s.kind === 'adamw' ? 0.01 : 0);
      const m = this.adam.m;
      const inv = (this.invDenom ??= this.frozenInverseDenominator());
      let t = nowNs();
      const u = (this.u ??= new Float32Array(m.length));
      foldMomentum(u, m, g, p, inv, {
        beta1: b1,
        lossScale: s.lossScale ?? 1,
        weightDecay: s.kind === 'adam' ? wd : 0,
      });
      this.env.span('momentum (host)', t, nowNs());
      this.ef ??= newErrorFeedback(m.length, this.env.coll.worldSize);
      await compressedAllReduce(this.env.coll, u, this.codec, this.ef, this.env.span, this.scratch);
      t = nowNs();
      frozenVarianceUpdate(p, m, u, inv, {
        lr: s.lr,
        decoupledWeightDecay: s.kind === 'adamw' ? wd : 0,
        bc1: 1 - b1 ** (step + 1),
      });
      this.env.span('adam update, frozen variance (host)', t, nowNs());
    }
    this.env.staging.write(trainer.paramBuffer, 0, p, 'H2D parameters');
  }

  private frozenInverseDenominator(): Float32Array {
    const v = this.adam.v!;
    const eps = this.config.optimizer.eps ?? 1e-8;
    const inv = new Float32Array(v.length);
    for (let i = 0; i < v.length; i++) inv[i] = v[i] === 0 ? 0 : 1 / (Math.sqrt(v[i] / this.frozenBc2) + eps);
    // The momentum of an entry that never had a gradient is 0 and stays so.
    for (let i = 0; i < v.length; i++) if (inv[i] === 0) this.adam.m[i] = 0;
    return inv;
  }

  /** The variance's relative change over each warm-up step: the track ends at the step it froze. */
  counters(): StepCounter[] {
    const value = this.measuredChange;
    this.measuredChange = undefined;
    return value === undefined ? [] : [{ name: '1-bit Adam: variance change per step', unit: '1', value }];
  }

  notes(): string[] {
    return this.freezeNote ? [this.freezeNote] : [];
  }

  async readParameters(): Promise<Float32Array> {
    return this.env.staging.read(
      this.ctx.trainer.paramBuffer,
      0,
      this.ctx.trainer.paramCount,
      'D2H parameters (debug)',
    );
  }

  commBufferBytes(): number {
    return (
      this.env.staging.bytes +
      (this.ef?.worker?.byteLength ?? 0) +
      (this.ef?.server?.byteLength ?? 0) +
      (this.u?.byteLength ?? 0)
    );
  }

  memory(engine: MemoryBytes): MemoryBytes {
    return {
      ...engine,
      optimizerState: engine.optimizerState + this.adam.stateBytes + (this.params?.byteLength ?? 0),
      communication: this.commBufferBytes(),
    };
  }

  destroy(): void {
    this.env.staging.destroy();
  }
}
