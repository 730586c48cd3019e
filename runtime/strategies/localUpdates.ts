/**
 * Local updates: every rank trains on its own with the run's optimizer (the inner
 * optimizer: AdamW in DiLoCo) and the ranks synchronise parameters only every H steps.
 * - localsgd: average the parameters every H steps.
 * - diloco (Douillard et al., arXiv 2311.08105): every H steps, average the outer
 *   gradient Δ = θ_global − θ_local and take an outer Nesterov step on θ_global
 *   (b = μ·b + Δ; θ_global −= η·(Δ + μ·b)); every rank continues from θ_global.
 * - streaming-diloco (arXiv 2501.18512): the same per fragment (contiguous groups of
 *   layers), fragments synchronised in turn at staggered steps; each sync's all-reduce
 *   runs while the next `overlapSteps` inner steps train, and its result is merged into
 *   the fragment that has moved on meanwhile (θ = α·θ_local + (1−α)·θ_global). The deltas
 *   may travel in fp16 or int8.
 * On the wire: one parameter-sized all-reduce per H steps (1/H of DDP's volume).
 */
import type { RunConfig } from '../config';
import { fragmentShift, planFragments } from '../../trace/streamingSchedule';
import { Int8Codec } from './codecs';
import { compressedAllReduce } from './compressedAllReduce';
import { ScratchByKey } from './scratch';
import { strategyEnv, type StrategyEnv } from './env';
import { decodeF16, encodeF16 } from '../comm/halfFloat';
import { nowNs } from './hooks';
import type { ResolvedOptions } from './options';
import type { MemoryBytes, Strategy, StrategyContext } from './types';

export type LocalMethod = 'localsgd' | 'diloco' | 'streaming-diloco';

/*
 * The host arithmetic of an outer step, one loop each: the host probe (runtime/hostProbe.ts)
 * times these very loops, so the replay prices the outer step from this machine's speed.
 */

/** The outer gradient: out = global − local. */
export function outerGradient(global: Float32Array, local: Float32Array, out: Float32Array): void {
  for (let i = 0; i < out.length; i++) out[i] = global[i] - local[i];
}

/** The outer Nesterov step on the global copy g with momentum b: b = μ·b + Δ; g −= η·(Δ + μ·b). */
export function nesterovStep(g: Float32Array, b: Float32Array, delta: Float32Array, mu: number, lr: number): void {
  for (let i = 0; i < g.length; i++) {
    b[i] = mu * b[i] + delta[i];
    g[i] -= lr * (delta[i] + mu * b[i]);
  }
}

/** Merges the global copy into parameters that moved on: local = α·local + (1−α)·global. */
export function mixInto(local: Float32Array, global: Float32Array, a: number): void {
  for (let i = 0; i < local.length; i++) local[i] = a * local[i] + (1 - a) * global[i];
}

interface Fragment {
  index: number;
  offset: number;
  length: number;
  /** Steps s with (s + 1 − shift) % H == 0 start this fragment's sync. */
  shift: number;
  global?: Float32Array;
  momentum?: Float32Array;
  pending?: { applyAtStep: number; delta: Promise<Float32Array> };
}

export class LocalUpdates implements Strategy {
  private readonly env: StrategyEnv;
  private readonly fragments: Fragment[];
  private readonly H: number;

  constructor(
    readonly id: LocalMethod,
    private readonly ctx: StrategyContext,
    private readonly config: RunConfig,
    private readonly o: ResolvedOptions,
  ) {
    this.env = strategyEnv(ctx);
    this.H = o.localSteps;
    const { trainer } = ctx;
    if (id === 'streaming-diloco') {
      if (o.fragments > trainer.layers.length) {
        throw new Error(
          `strategyOptions.fragments: ${o.fragments} fragments need at least as many layers, but the model has ${trainer.layers.length}; use fragments ≤ ${trainer.layers.length}`,
        );
      }
      this.fragments = planFragments(trainer.layers, o.fragments).map((f, i) => ({
        index: i,
        ...f,
        shift: fragmentShift(i, o.fragments, this.H),
      }));
    } else {
      this.fragments = [{ index: 0, offset: 0, length: trainer.paramCount, shift: 0 }];
    }
  }

  async backwardAndExchange(): Promise<void> {
    this.ctx.trainer.backward();
  }

  private async average(delta: Float32Array, fragment: number): Promise<Float32Array> {
    const { coll } = this.env;
    if (this.o.quantize === 'fp16') {
      const n = coll.worldSize;
      for (let i = 0; i < delta.length; i++) delta[i] /= n;
      const t = nowNs();
      const bits = encodeF16(delta);
      this.env.span('encode fp16 delta', t, nowNs());
      await coll.allReduceF16(bits, 'sum');
      return decodeF16(bits, delta);
    }
    if (this.o.quantize === 'int8') {
      const codec = new Int8Codec(this.o.int8ChunkSize);
      await compressedAllReduce(coll, delta, codec, undefined, this.env.span, this.scratch.of(fragment));
      return delta;
    }
    await coll.allReduceF32(delta, 'avg');
    return delta;
  }

  /** Outer Nesterov step on the fragment's global copy from the averaged outer gradient. */
  private outerStep(f: Fragment, delta: Float32Array): void {
    const t = nowNs();
    const g = f.global!;
    nesterovStep(g, f.momentum!, delta, this.o.outerMomentum, this.o.outerLr);
    this.env.span(`outer Nesterov (fragment ${f.index})`, t, nowNs(), { params: g.length });
  }

  async optimizerStep(step: number): Promise<void> {
    const { trainer } = this.ctx;
    trainer.optimizerStep();
    for (const f of this.fragments) {
      // A sync still in flight at the last step lands now: no rank may leave a collective behind.
      if (f.pending && (step >= f.pending.applyAtStep || step === this.config.steps - 1)) {
        const delta = await f.pending.delta;
        f.pending = undefined;
        this.outerStep(f, delta);
        const local = await this.env.staging.read(trainer.paramBuffer, f.offset, f.length, `D2H fragment ${f.index}`);
        const a = this.o.overlapSteps > 0 ? this.o.mixing : 0;
        mixInto(local, f.global!, a);
        this.env.staging.write(trainer.paramBuffer, f.offset, local, `H2D fragment ${f.index}`);
      }
      if ((step + 1 - f.shift) % this.H !== 0 || step + 1 - f.shift <= 0) continue;
      const local = await this.env.staging.read(trainer.paramBuffer, f.offset, f.length, `D2H fragment ${f.index}`);
      if (this.id === 'localsgd') {
        await this.env.coll.allReduceF32(local, 'avg');
        this.env.staging.write(trainer.paramBuffer, f.offset, local, 'H2D averaged parameters');
        continue;
      }
      if (!f.global) {
        // θ_global starts where every rank started: the shared initial parameters. Each
        // rank's H-th step parameters differ, but the initial ones are equal, so the
        // outer gradient is formed against them; read them lazily at the first sync.
        f.global = this.initial!.subarray(f.offset, f.offset + f.length).slice();
        f.momentum = new Float32Array(f.length);
        if (this.fragments.every((x) => x.global)) this.initial = undefined;
      }
      const delta = new Float32Array(f.length);
      outerGradient(f.global, local, delta);
      const averaged = this.average(delta, f.index);
      averaged.catch(() => undefined);
      if (this.id === 'streaming-diloco' && this.o.overlapSteps > 0 && step < this.config.steps - 1) {
        f.pending = { applyAtStep: step + this.o.overlapSteps, delta: averaged };
        continue;
      }
      this.outerStep(f, await averaged);
      this.env.staging.write(trainer.paramBuffer, f.offset, f.global, `H2D fragment ${f.index}`);
    }
  }

  private initial: Float32Array | undefined;
  /** The compressed all-reduce's host buffers, per fragment (fragments' syncs may overlap). */
  private readonly scratch = new ScratchByKey();

  /** Records the starting parameters (the first global copy) before the first step. */
  async beforeForward(step: number): Promise<void> {
    if (step === 0 && this.id !== 'localsgd' && !this.initial) {
      this.initial = await this.env.staging.read(
        this.ctx.trainer.paramBuffer,
        0,
        this.ctx.trainer.paramCount,
        'D2H initial parameters',
      );
    }
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
    return this.env.staging.bytes;
  }

  memory(engine: MemoryBytes): MemoryBytes {
    // DiLoCo keeps the global parameters and the outer momentum per fragment (host).
    let outer = 0;
    for (const f of this.fragments) outer += (f.global?.byteLength ?? 0) + (f.momentum?.byteLength ?? 0);
    if (this.initial) outer += this.initial.byteLength;
    return { ...engine, optimizerState: engine.optimizerState + outer, communication: this.commBufferBytes() };
  }

  destroy(): void {
    this.env.staging.destroy();
  }
}
