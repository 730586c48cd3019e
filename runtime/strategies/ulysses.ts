/**
 * DeepSpeed-Ulysses sequence parallelism for gpt-mini, combined with data parallelism:
 * worldSize = dp × sp; ranks [g·sp, (g+1)·sp) form sequence-parallel group g, which trains
 * on data-parallel rank g's batch, each member holding sequence shard (rank mod sp). Inside
 * forward and backward the engine exchanges Q, K, V and the attention output over the
 * group (all-to-all, see engine/ops/exchange.ts); parameters are replicated, so after
 * backward every gradient is averaged over all ranks like DDP's (the engine scales each
 * rank's loss by sp, which turns that average into the group sum averaged over dp).
 */
import type { RunConfig } from '../config';
import type { Communicator } from '../comm';
import { allReduceGpuBuffer } from '../comm/gpuStaging';
import { groupOf, resolveLayout } from '../comm/layout';
import type { SequenceParallel } from '../engine';
import { Ddp } from './ddp';
import { parseStrategyIds, resolveOptions } from './options';
import type { StrategyContext } from './types';

/** The sequence-parallel layout of `rank`: group size, shard index, data-parallel index, group ranks. */
export function ulyssesLayout(sp: number, rank: number): { index: number; dataRank: number; groupRanks: number[] } {
  const dataRank = Math.floor(rank / sp);
  return { index: rank % sp, dataRank, groupRanks: Array.from({ length: sp }, (_, i) => dataRank * sp + i) };
}

const groups = new WeakMap<Communicator, Communicator>();

/**
 * The sequence-parallel group of `comm`'s rank, opened once (every member opens it at
 * start-up): the cp group of the layout cp = sp × dp (comm/layout.ts), named for its
 * trace track ("cp group 0 (ranks 0,1)"); the same ranks as ulyssesLayout's.
 */
function sequenceGroup(comm: Communicator, sp: number): Communicator {
  let g = groups.get(comm);
  if (!g) {
    const info = groupOf(resolveLayout(comm.worldSize, { cp: sp }), 'cp', comm.rank);
    g = comm.newGroup(info.ranks, { name: info.name });
    groups.set(comm, g);
  }
  return g;
}

/**
 * What the trainer of `comm`'s rank needs when the (validated) config runs 'ulysses', else
 * undefined. Opens the rank's sequence-parallel group (every member calls this at start-up).
 */
export function sequenceParallelFor(config: RunConfig, comm: Communicator): SequenceParallel | undefined {
  if (!parseStrategyIds(config.strategy).includes('ulysses')) return undefined;
  const size = resolveOptions(config).sequenceParallelSize;
  const { index, dataRank } = ulyssesLayout(size, comm.rank);
  const group = sequenceGroup(comm, size);
  return {
    size,
    index,
    dataRank,
    async allToAll(send: Float32Array): Promise<Float32Array> {
      const recv = new Float32Array(send.length);
      if (size === 1) {
        recv.set(send);
        return recv;
      }
      await group.allToAll(send, recv).wait();
      return recv;
    },
  };
}

/**
 * Ulysses: DDP's gradient exchange (parameters are replicated) around a forward and a
 * backward that exchange sequence and head shards inside every attention.
 */
export class Ulysses extends Ddp {
  override readonly id: string;
  private readonly group: Communicator;

  constructor(ctx: StrategyContext, config: RunConfig) {
    super(ctx);
    this.id = config.strategy;
    this.group = sequenceGroup(ctx.comm, resolveOptions(config).sequenceParallelSize);
  }

  /**
   * The loss of the group's sequences: each rank's loss covers its own tokens (weighted as
   * in the full batch), so the group's sum is what one rank with whole sequences reports.
   */
  async loss(): Promise<number> {
    const mine = await this.ctx.trainer.loss();
    if (this.group.worldSize === 1) return mine;
    const v = new Float32Array([mine]);
    await this.group.allReduce(v, { op: 'sum' }).wait();
    return v[0];
  }

  async forward(): Promise<void> {
    await this.ctx.trainer.forwardAsync();
  }

  override async backwardAndExchange(): Promise<void> {
    const { trainer, comm, device } = this.ctx;
    await trainer.backwardAsync();
    if (comm.worldSize > 1)
      await allReduceGpuBuffer(comm, device, trainer.gradBuffer, 0, trainer.paramCount * 4, { op: 'avg' });
  }
}
