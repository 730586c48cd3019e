/**
 * Data parallelism with the gradient exchange cut into buckets (`ddp-bucketed`) and/or a
 * communication hook (`fp16`, `bf16`, `int8-ef`, `topk-dgc`, `powersgd`).
 *
 * With buckets, backward reports each layer as soon as its last gradient kernel is
 * queued; the bucket's device-to-host copy is queued right there, behind that layer's
 * kernels and ahead of the rest of backward, so it overlaps the remaining backward work.
 * Buckets are exchanged one after another in the order they fill (the same on every
 * rank, so collectives match), and the optimizer waits for all of them.
 */
import type { RunConfig } from '../config';
import { planBuckets, singleBucket, type Bucket } from './buckets';
import { strategyEnv, type StrategyEnv } from './env';
import { ScratchByKey } from './scratch';
import type { GradientHook } from './hooks';
import type { MemoryBytes, Strategy, StrategyContext } from './types';

export interface BucketedOptions {
  bucketed: boolean;
  capBytes: number;
  firstCapBytes: number;
  /** Undefined: plain f32 all-reduce (average). */
  makeHook?: (env: StrategyEnv) => GradientHook;
}

export class BucketedExchange implements Strategy {
  readonly buckets: Bucket[];
  private readonly env: StrategyEnv;
  readonly hook: GradientHook | undefined;
  private readonly bucketOfLayer: number[] = [];
  /** Each bucket's gradients on the host, read into every step (Staging.read's `into`). */
  private readonly hostBuckets = new ScratchByKey();

  constructor(
    readonly id: string,
    private readonly ctx: StrategyContext,
    private readonly opts: BucketedOptions,
    _config: RunConfig,
  ) {
    const layers = ctx.trainer.layers;
    this.buckets = opts.bucketed ? planBuckets(layers, opts.capBytes, opts.firstCapBytes) : singleBucket(layers);
    for (const b of this.buckets) for (const l of b.layers) this.bucketOfLayer[l] = b.index;
    this.env = strategyEnv(ctx);
    this.hook = opts.makeHook?.(this.env);
  }

  private async exchange(bucket: Bucket, data: Promise<Float32Array>, step: number): Promise<void> {
    const grads = await data;
    if (this.env.coll.worldSize > 1 || this.hook) {
      if (this.hook) await this.hook.exchange(bucket, grads, step);
      else await this.env.coll.allReduceF32(grads, 'avg');
    }
    this.env.staging.write(this.ctx.trainer.gradBuffer, bucket.offset, grads, `H2D bucket ${bucket.index}`);
  }

  async backwardAndExchange(step: number): Promise<void> {
    const { trainer } = this.ctx;
    let chain: Promise<void> = Promise.resolve();
    const launch = (b: Bucket): void => {
      // Queue the copy now (behind this bucket's last kernel); exchange in bucket order.
      // Each bucket's host copy is kept for the next step (its exchange is over before the step ends).
      const host = this.hostBuckets.of(b.index).f32('gradients', b.length);
      const data = this.env.staging.read(trainer.gradBuffer, b.offset, b.length, `D2H bucket ${b.index}`, host);
      data.catch(() => undefined); // awaited in the chain; avoid an unhandled rejection meanwhile
      chain = chain.then(() => this.exchange(b, data, step));
    };
    if (this.opts.bucketed) {
      const remaining = this.buckets.map((b) => b.layers.length);
      trainer.backward((layer) => {
        const b = this.bucketOfLayer[layer];
        if (b !== undefined && --remaining[b] === 0) launch(this.buckets[b]);
      });
      // Layers the engine did not report (none expected) still get exchanged.
      this.buckets.forEach((b, i) => {
        if (remaining[i] > 0) {
          remaining[i] = 0;
          launch(b);
        }
      });
    } else {
      trainer.backward();
      launch(this.buckets[0]);
    }
    await chain;
  }

  async optimizerStep(): Promise<void> {
    this.ctx.trainer.optimizerStep();
  }

  commBufferBytes(): number {
    return this.env.staging.bytes + (this.hook?.stateBytes() ?? 0);
  }

  async readParameters(): Promise<Float32Array> {
    return this.env.staging.read(
      this.ctx.trainer.paramBuffer,
      0,
      this.ctx.trainer.paramCount,
      'D2H parameters (debug)',
    );
  }

  memory(engine: MemoryBytes): MemoryBytes {
    return { ...engine, communication: this.commBufferBytes() };
  }

  destroy(): void {
    this.env.staging.destroy();
  }
}
