/**
 * ZeRO (Rajbhandari et al., arXiv 1910.02054) over the trainer's flat buffers.
 *
 * The model is cut into units (contiguous ranges of whole layers) and every unit is split
 * evenly over the ranks, so rank r owns the r-th piece of each unit (as FSDP shards each
 * flat parameter). Each rank keeps, for its pieces only, an f32 master copy of the
 * parameters and the optimizer state (K = 12 bytes per parameter for Adam), and runs the
 * run's optimizer on them on the host.
 * - zero1: one unit; after backward, one reduce-scatter of all gradients, the shard
 *   update, one all-gather of the updated parameters (2Ψ on the wire, as DDP).
 * - zero2: units are gradient buckets reduce-scattered during backward as soon as they
 *   fill (PyTorch's bucket defaults), so a rank keeps only its gradient shard.
 * - zero3: one unit per layer; parameters not owned are dropped (zeroed) outside the
 *   compute that needs them, all-gathered layer by layer before forward and again before
 *   backward (with the next layer's gather in flight while one is written), gradients
 *   reduce-scattered per layer during backward: 3Ψ on the wire (1.5× DDP).
 */
import type { RunConfig } from '../config';
import { planBuckets, type Bucket } from './buckets';
import { strategyEnv, type StrategyEnv } from './env';
import { HostOptimizer, gradScale, sumSquares } from './hostOptimizer';
import { nowNs } from './hooks';
import type { MemoryBytes, Strategy, StrategyContext } from './types';

export type ZeroStage = 1 | 2 | 3;

interface Unit {
  bucket: Bucket;
  /** Elements per rank piece (the last piece is padded). */
  pieceLength: number;
  /** Where this rank's piece starts in the flat buffer, and how many real elements it has. */
  pieceOffset: number;
  pieceCount: number;
  /** Offset of this unit's piece in the host shard arrays. */
  shardOffset: number;
}

export interface ZeroOptions {
  stage: ZeroStage;
  capBytes: number;
  firstCapBytes: number;
  prefetch: boolean;
}

export class ZeroStrategy implements Strategy {
  readonly id: string;
  private readonly env: StrategyEnv;
  private readonly units: Unit[];
  private readonly unitOfLayer: number[] = [];
  private readonly paramShard: Float32Array;
  private readonly gradShard: Float32Array;
  private readonly optimizer: HostOptimizer;
  private initialised = false;
  private readonly n: number;
  private readonly rank: number;

  constructor(
    private readonly ctx: StrategyContext,
    private readonly config: RunConfig,
    private readonly opts: ZeroOptions,
  ) {
    this.id = `zero${opts.stage}`;
    this.env = strategyEnv(ctx);
    this.n = this.env.coll.worldSize;
    this.rank = this.env.coll.rank;
    const layers = ctx.trainer.layers;
    let buckets: Bucket[];
    if (opts.stage === 1) buckets = planBuckets(layers, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY);
    else if (opts.stage === 2) buckets = planBuckets(layers, opts.capBytes, opts.firstCapBytes);
    else buckets = layers.map((l, i) => ({ index: i, offset: l.paramOffset, length: l.paramCount, layers: [i] }));
    let shardOffset = 0;
    this.units = buckets.map((b) => {
      const pieceLength = Math.ceil(b.length / this.n);
      const lo = Math.min(b.length, this.rank * pieceLength);
      const hi = Math.min(b.length, lo + pieceLength);
      const u: Unit = { bucket: b, pieceLength, pieceOffset: b.offset + lo, pieceCount: hi - lo, shardOffset };
      shardOffset += pieceLength;
      return u;
    });
    this.units.forEach((u, i) => u.bucket.layers.forEach((l) => (this.unitOfLayer[l] = i)));
    this.paramShard = new Float32Array(shardOffset);
    this.gradShard = new Float32Array(shardOffset);
    this.optimizer = new HostOptimizer(config.optimizer, shardOffset);
  }

  private async init(): Promise<void> {
    if (this.initialised) return;
    this.initialised = true;
    // Every rank starts from the same parameters (same seed): take this rank's pieces.
    const { trainer } = this.ctx;
    for (const u of this.units) {
      if (u.pieceCount === 0) continue;
      const piece = await this.env.staging.read(
        trainer.paramBuffer,
        u.pieceOffset,
        u.pieceCount,
        'D2H parameter shard',
      );
      this.paramShard.set(piece, u.shardOffset);
    }
    if (this.opts.stage === 3) this.dropUnowned();
  }

  /** Zeroes every parameter this rank does not own (ZeRO-3 keeps only its shard). */
  private dropUnowned(): void {
    const { trainer } = this.ctx;
    for (const u of this.units) {
      const b = u.bucket;
      this.env.staging.clear(trainer.paramBuffer, b.offset, u.pieceOffset - b.offset);
      const end = u.pieceOffset + u.pieceCount;
      this.env.staging.clear(trainer.paramBuffer, end, b.offset + b.length - end);
    }
  }

  /** All-gathers the parameters of `units` in order, with the next gather in flight while one is written. */
  private async gatherParams(order: Unit[], label: string): Promise<void> {
    const { trainer } = this.ctx;
    const start = (u: Unit): Promise<Float32Array> =>
      this.env.coll.allGatherF32(this.paramShard.subarray(u.shardOffset, u.shardOffset + u.pieceLength));
    if (!this.opts.prefetch || this.opts.stage !== 3) {
      for (const u of order)
        this.env.staging.write(
          trainer.paramBuffer,
          u.bucket.offset,
          (await start(u)).subarray(0, u.bucket.length),
          `H2D ${label} ${u.bucket.index}`,
        );
      return;
    }
    let next = order.length ? start(order[0]) : undefined;
    for (let i = 0; i < order.length; i++) {
      const current = next!;
      next = i + 1 < order.length ? start(order[i + 1]) : undefined;
      const full = await current;
      this.env.staging.write(
        trainer.paramBuffer,
        order[i].bucket.offset,
        full.subarray(0, order[i].bucket.length),
        `H2D ${label} ${order[i].bucket.index}`,
      );
    }
    // `next` is always consumed above; nothing is left in flight.
  }

  async beforeForward(): Promise<void> {
    await this.init();
    if (this.opts.stage === 3) await this.gatherParams(this.units, 'gather (forward) layer');
  }

  private async reduceScatter(u: Unit, data: Promise<Float32Array>): Promise<void> {
    const grads = await data;
    const padded = new Float32Array(u.pieceLength * this.n);
    padded.set(grads);
    const mine = await this.env.coll.reduceScatterF32(padded, 'avg');
    this.gradShard.set(mine, u.shardOffset);
  }

  async backwardAndExchange(): Promise<void> {
    await this.init();
    const { trainer } = this.ctx;
    if (this.opts.stage === 3) {
      this.dropUnowned();
      await this.gatherParams([...this.units].reverse(), 'gather (backward) layer');
    }
    let chain: Promise<void> = Promise.resolve();
    const launch = (u: Unit): void => {
      const data = this.env.staging.read(
        trainer.gradBuffer,
        u.bucket.offset,
        u.bucket.length,
        `D2H grads ${u.bucket.index}`,
      );
      data.catch(() => undefined);
      chain = chain.then(() => this.reduceScatter(u, data));
    };
    if (this.opts.stage === 1) {
      trainer.backward();
      launch(this.units[0]);
    } else {
      const remaining = this.units.map((u) => u.bucket.layers.length);
      trainer.backward((layer) => {
        const i = this.unitOfLayer[layer];
        if (i !== undefined && --remaining[i] === 0) launch(this.units[i]);
      });
      this.units.forEach((u, i) => remaining[i] > 0 && launch(u));
    }
    await chain;
    if (this.opts.stage === 3) this.dropUnowned();
  }

  async optimizerStep(): Promise<void> {
    const t0 = nowNs();
    let sq = sumSquares(this.gradShard);
    if (this.config.optimizer.clipGradNorm) {
      // Clipping needs the global norm: sum the shards' squares over the ranks.
      const s = new Float32Array([sq]);
      await this.env.coll.allReduceF32(s, 'sum');
      sq = s[0];
    }
    const t1 = nowNs();
    this.optimizer.step(this.paramShard, this.gradShard, gradScale(this.config.optimizer, sq));
    this.env.span(`${this.config.optimizer.kind} on shard (host)`, t1, nowNs(), {
      params: this.paramShard.length,
      since: t0,
    });
    // ZeRO-3: the updated shard reaches the GPU with the next forward's gather.
    if (this.opts.stage !== 3) await this.gatherParams(this.units, 'gather updated unit');
  }

  async readParameters(): Promise<Float32Array> {
    const { trainer } = this.ctx;
    if (this.opts.stage === 3) {
      const out = new Float32Array(trainer.paramCount);
      for (const u of this.units) {
        const full = await this.env.coll.allGatherF32(
          this.paramShard.subarray(u.shardOffset, u.shardOffset + u.pieceLength),
        );
        out.set(full.subarray(0, u.bucket.length), u.bucket.offset);
      }
      return out;
    }
    return this.env.staging.read(trainer.paramBuffer, 0, trainer.paramCount, 'D2H parameters (debug)');
  }

  commBufferBytes(): number {
    return this.env.staging.bytes;
  }

  /**
   * Model states as ZeRO keeps them between steps (the counters are sampled at the end of
   * a step): ZeRO-2/3 keep only their gradient shard, ZeRO-3 only its parameter shard.
   * The engine's flat buffers stay allocated at full size (its own overhead), and its
   * optimizer state is never allocated because its optimizer never runs here.
   */
  memory(engine: MemoryBytes): MemoryBytes {
    const shardBytes = this.paramShard.byteLength;
    // ZeRO-1/2 compute on the GPU's full f32 parameters, so the shard's master copy is an
    // extra one (counted with the optimizer state, the K of the paper); in ZeRO-3 it is the
    // only copy of the parameters that persists, so it counts as the parameters.
    return {
      parameters: this.opts.stage === 3 ? shardBytes : engine.parameters,
      gradients: this.opts.stage === 1 ? engine.gradients : this.gradShard.byteLength,
      optimizerState: engine.optimizerState + this.optimizer.stateBytes + (this.opts.stage === 3 ? 0 : shardBytes),
      activations: engine.activations,
      communication: this.commBufferBytes(),
    };
  }

  destroy(): void {
    this.env.staging.destroy();
  }
}
