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
import { groupOf, resolveLayout } from '../comm/layout';
import type { SequenceParallel } from '../engine';
import { parseStrategyIds, resolveOptions } from './options';
import { SequenceShardedDdp } from './sequenceShards';
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
export class Ulysses extends SequenceShardedDdp {
  constructor(ctx: StrategyContext, config: RunConfig) {
    super(ctx, config.strategy, sequenceGroup(ctx.comm, resolveOptions(config).sequenceParallelSize));
  }
}
