/**
 * Megatron-LM tensor parallelism for gpt-mini ('tp'), combined with data parallelism
 * ('tp+ddp'): worldSize = tp × dp, tensor parallel varying fastest (comm/layout.ts), so
 * ranks [g·tp, (g+1)·tp) form tp group g, which trains on data-parallel rank g's batch,
 * each member holding shard (rank mod tp) of every block (engine/ops/tensorParallel.ts:
 * f and g around the column- and row-parallel linears, two all-reduces per layer forward
 * and two backward, on the tp group). After backward each rank's gradients are averaged
 * over its dp group (the ranks holding the same shard). Every collective goes on its
 * group's own trace track ("tp group 0 (ranks 0,1)", "dp group 1 (ranks 1,3)").
 * `strategyOptions.sequenceParallel`: Megatron's sequence parallelism (all-gather and
 * reduce-scatter over token shards instead of the all-reduces; the replicated parameters'
 * gradients summed over the tp group).
 */
import type { RunConfig } from '../config';
import type { Communicator } from '../comm';
import { allReduceGpuBuffer } from '../comm/gpuStaging';
import { assembleTensorParallel, type TensorParallel } from '../engine';
import { resolveModelConfig } from '../engine';
import { Ddp } from './ddp';
import { layoutGroupsOf, type LayoutGroups } from './layoutGroups';
import { parseStrategyIds, resolveOptions } from './options';
import type { StrategyContext } from './types';

/** The parameters a tensor-parallel rank holds a shard of (engine/models/gpt.ts gptLayerSpecs). */
const SHARDED = /\.(attn\.qkv|mlp\.fc1)\.[wb]$|\.(attn\.proj|mlp\.fc2)\.w$/;

/** The layout's groups of `comm`'s rank, opened once (every rank opens its own at start-up). */
function groupsFor(config: RunConfig, comm: Communicator): LayoutGroups {
  return layoutGroupsOf(comm, config.worldSize, { tp: resolveOptions(config).tensorParallelSize });
}

/**
 * What the trainer of `comm`'s rank needs when the (validated) config runs 'tp', else
 * undefined. Opens the rank's process groups.
 */
export function tensorParallelFor(config: RunConfig, comm: Communicator): TensorParallel | undefined {
  if (!parseStrategyIds(config.strategy).includes('tp')) return undefined;
  const { layout, groups } = groupsFor(config, comm);
  const tp = groups.tp;
  return {
    size: layout.tp,
    index: tp.rank,
    dataRank: groups.dp.rank + layout.dp * groups.pp.rank,
    sequenceParallel: resolveOptions(config).sequenceParallel,
    async allReduce(data: Float32Array): Promise<void> {
      await tp.allReduce(data, { op: 'sum' }).wait();
    },
    async allGather(send: Float32Array): Promise<Float32Array> {
      const out = new Float32Array(send.length * tp.worldSize);
      await tp.allGather(send, out).wait();
      return out;
    },
    async reduceScatter(send: Float32Array): Promise<Float32Array> {
      const out = new Float32Array(send.length / tp.worldSize);
      await tp.reduceScatter(send, out, { op: 'sum' }).wait();
      return out;
    },
  };
}

/** Tensor parallelism: gradients averaged over the data-parallel group only. */
export class TensorParallelStrategy extends Ddp {
  override readonly id: string;
  private readonly groups: LayoutGroups;

  private readonly sequenceParallel: boolean;

  constructor(
    ctx: StrategyContext,
    private readonly config: RunConfig,
  ) {
    super(ctx);
    this.id = config.strategy;
    this.groups = groupsFor(config, ctx.comm);
    this.sequenceParallel = resolveOptions(config).sequenceParallel;
  }

  async forward(): Promise<void> {
    await this.ctx.trainer.forwardAsync();
  }

  /** With sequence parallelism each rank's loss covers its tokens: the group's sum is the whole loss. */
  async loss(): Promise<number> {
    const mine = await this.ctx.trainer.loss();
    const tp = this.groups.groups.tp;
    if (!this.sequenceParallel || tp.worldSize === 1) return mine;
    const v = new Float32Array([mine]);
    await tp.allReduce(v, { op: 'sum' }).wait();
    return v[0];
  }

  override async backwardAndExchange(): Promise<void> {
    const { trainer, device } = this.ctx;
    await trainer.backwardAsync();
    if (this.sequenceParallel && this.groups.groups.tp.worldSize > 1) await this.sumReplicatedGradients();
    const dp = this.groups.groups.dp;
    if (dp.worldSize > 1)
      await allReduceGpuBuffer(dp, device, trainer.gradBuffer, 0, trainer.paramCount * 4, { op: 'avg' });
  }

  /**
   * Sequence parallelism: the replicated parameters (embedding, layer norms, the
   * row-parallel biases, the head) saw only this rank's tokens; their gradients are summed
   * over the tp group (Megatron all-reduces the layer norms' the same way). Host-staged.
   */
  private async sumReplicatedGradients(): Promise<void> {
    const { trainer } = this.ctx;
    const ranges = trainer.paramTensors
      .filter((p) => !SHARDED.test(p.name))
      .map((p) => [p.offset, p.shape.reduce((a, b) => a * b, 1)] as const);
    const grads = await this.env.staging.read(trainer.gradBuffer, 0, trainer.paramCount, 'D2H replicated gradients');
    const packed = new Float32Array(ranges.reduce((a, [, n]) => a + n, 0));
    let o = 0;
    for (const [off, n] of ranges) {
      packed.set(grads.subarray(off, off + n), o);
      o += n;
    }
    await this.groups.groups.tp.allReduce(packed, { op: 'sum' }).wait();
    o = 0;
    for (const [off, n] of ranges) {
      grads.set(packed.subarray(o, o + n), off);
      o += n;
    }
    this.env.staging.write(trainer.gradBuffer, 0, grads, 'H2D replicated gradients');
  }

  override commBufferBytes(): number {
    return this.groups.groups.dp.worldSize > 1 ? Math.min(this.ctx.trainer.paramCount * 4, 3 * (4 << 20)) : 0;
  }

  /**
   * The whole model in the single-rank layout: the tp group gathers its shards (every
   * member takes part) and reassembles them (for tests and debugging).
   */
  override async readParameters(): Promise<Float32Array> {
    const mine = await super.readParameters();
    const tp = this.groups.groups.tp;
    const all = new Float32Array(mine.length * tp.worldSize);
    await tp.allGather(mine, all).wait();
    const shards = Array.from({ length: tp.worldSize }, (_, i) => all.subarray(i * mine.length, (i + 1) * mine.length));
    const align = Math.max(1, this.ctx.device.limits.minStorageBufferOffsetAlignment / 4);
    return assembleTensorParallel(
      resolveModelConfig(this.config.model) as Parameters<typeof assembleTensorParallel>[0],
      align,
      shards,
    );
  }
}
