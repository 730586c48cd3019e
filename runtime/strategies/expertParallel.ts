/**
 * Expert parallelism for the mixture-of-experts gpt-mini ('ep', 'ep+ddp'): worldSize =
 * ep × dp (comm/layout.ts, { ep }); the ranks of an ep group each hold E/ep experts of
 * every block and exchange tokens with each other by all-to-all (engine/ops/moe.ts:
 * dispatch and combine, forward and backward, on the "ep group …" track); every rank
 * trains on its own batch. `strategyOptions.overlapChunks` K > 1 pipelines K chunks of
 * each all-to-all with the experts' compute (the overlapped variant).
 *
 * Gradients (host-staged): the replicated parameters' (attention, router, norms,
 * embedding, head) are averaged over all ranks, as data parallelism does. An expert's
 * gradient already sums the contributions of every rank of its ep group (their tokens
 * came to it), so it is averaged over its dp group (the ranks holding the same experts)
 * and divided by ep: the same average over all ranks' tokens as one rank holding every
 * expert would get under DDP.
 */
import type { RunConfig } from '../config';
import type { Communicator } from '../comm';
import { assembleExpertParallel, resolveModelConfig, type ExpertParallel } from '../engine';
import { Ddp } from './ddp';
import { layoutGroupsOf, type LayoutGroups } from './layoutGroups';
import { parseStrategyIds, resolveOptions } from './options';
import type { StrategyContext, StepCounter } from './types';

/** The expert weights (engine/models/gpt.ts): sharded over the ep group. */
const EXPERT = /\.moe\.experts\./;

/** The layout's groups of `comm`'s rank, opened once (every rank opens its own at start-up). */
function groupsFor(config: RunConfig, comm: Communicator): LayoutGroups {
  return layoutGroupsOf(comm, config.worldSize, { ep: resolveOptions(config).expertParallelSize });
}

/**
 * What the trainer of `comm`'s rank needs when the (validated) config runs 'ep', else
 * undefined. Opens the rank's process groups (every rank calls this at start-up).
 */
export function expertParallelFor(config: RunConfig, comm: Communicator): ExpertParallel | undefined {
  if (!parseStrategyIds(config.strategy).includes('ep')) return undefined;
  const { layout, groups } = groupsFor(config, comm);
  const ep = groups.ep;
  return {
    size: layout.ep,
    index: ep.rank,
    chunks: resolveOptions(config).overlapChunks,
    // Not async: the all-to-all is issued at the call, so several can be in flight.
    allToAll(send: Float32Array, what: string): Promise<Float32Array> {
      const recv = new Float32Array(send.length);
      if (ep.worldSize === 1) {
        recv.set(send);
        return Promise.resolve(recv);
      }
      return ep
        .allToAll(send, recv, { label: what })
        .wait()
        .then(() => recv);
    },
  };
}

export class ExpertParallelStrategy extends Ddp {
  override readonly id: string;
  private readonly groups: LayoutGroups;

  constructor(
    ctx: StrategyContext,
    private readonly config: RunConfig,
  ) {
    super(ctx);
    this.id = config.strategy;
    this.groups = groupsFor(config, ctx.comm);
  }

  async forward(): Promise<void> {
    await this.ctx.trainer.forwardAsync();
  }

  override async backwardAndExchange(): Promise<void> {
    const { trainer, comm } = this.ctx;
    await trainer.backwardAsync();
    if (comm.worldSize === 1) return;
    const { ep, dp } = this.groups.layout;
    const ranges = (expert: boolean) =>
      trainer.paramTensors
        .filter((p) => EXPERT.test(p.name) === expert)
        .map((p) => [p.offset, p.shape.reduce((a, b) => a * b, 1)] as const);
    const grads = await this.env.staging.read(trainer.gradBuffer, 0, trainer.paramCount, 'D2H gradients');
    const exchange = async (rs: (readonly [number, number])[], group: Communicator, scale: number) => {
      const packed = new Float32Array(rs.reduce((a, [, n]) => a + n, 0));
      let o = 0;
      for (const [off, n] of rs) {
        packed.set(grads.subarray(off, off + n), o);
        o += n;
      }
      if (group.worldSize > 1) await group.allReduce(packed, { op: 'avg' }).wait();
      o = 0;
      for (const [off, n] of rs) {
        const src = packed.subarray(o, o + n);
        if (scale !== 1) for (let i = 0; i < n; i++) grads[off + i] = src[i] * scale;
        else grads.set(src, off);
        o += n;
      }
    };
    await exchange(ranges(false), comm, 1);
    if (dp > 1 || ep > 1) await exchange(ranges(true), this.groups.groups.dp, 1 / ep);
    this.env.staging.write(trainer.gradBuffer, 0, grads, 'H2D gradients');
  }

  /** Tokens each block's router sent to each expert this step (before capacity), and those dropped. */
  counters(): StepCounter[] {
    const out: StepCounter[] = [];
    let dropped = 0;
    for (const b of this.ctx.trainer.expertLoad()) {
      b.routed.forEach((v, e) => out.push({ name: `tokens to expert ${e} (${b.layer})`, unit: 'tokens', value: v }));
      dropped += b.dropped;
    }
    out.push({ name: 'tokens dropped over expert capacity', unit: 'tokens', value: dropped });
    return out;
  }

  /** The host-staged gradient exchange's readback buffer. */
  override commBufferBytes(): number {
    return this.env.staging.bytes;
  }

  /** The whole model in the single-rank layout: the ep group gathers its experts (every member takes part). */
  override async readParameters(): Promise<Float32Array> {
    const mine = await super.readParameters();
    const ep = this.groups.groups.ep;
    if (ep.worldSize === 1) return mine;
    const all = new Float32Array(mine.length * ep.worldSize);
    await ep.allGather(mine, all).wait();
    const shards = Array.from({ length: ep.worldSize }, (_, i) => all.subarray(i * mine.length, (i + 1) * mine.length));
    const align = Math.max(1, this.ctx.device.limits.minStorageBufferOffsetAlignment / 4);
    return assembleExpertParallel(
      resolveModelConfig(this.config.model) as Parameters<typeof assembleExpertParallel>[0],
      align,
      shards,
    );
  }
}
