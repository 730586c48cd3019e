/**
 * Ring attention (context parallelism) for gpt-mini, combined with data parallelism like
 * Ulysses: worldSize = dp × cp; ranks [g·cp, (g+1)·cp) form context-parallel group g (the
 * layout's cp group, comm/layout.ts), which trains on data-parallel rank g's batch, each
 * member holding sequence shard (rank mod cp) with all heads. Inside every attention the
 * key/value blocks (and in backward their dK/dV) go round the group's ring by p2p
 * sendRecv on the cp group's track (engine/ops/ringAttention.ts); parameters are
 * replicated, so gradients are averaged over all ranks like Ulysses' (sequenceShards.ts).
 */
import type { RunConfig } from '../config';
import type { Communicator } from '../comm';
import type { ContextParallel } from '../engine';
import { layoutGroupsOf, type LayoutGroups } from './layoutGroups';
import { parseStrategyIds, resolveOptions } from './options';
import { SequenceShardedDdp } from './sequenceShards';
import type { StrategyContext } from './types';

/** The layout's groups of `comm`'s rank (cp = contextParallelSize, dp the rest), opened once. */
function groupsFor(config: RunConfig, comm: Communicator): LayoutGroups {
  return layoutGroupsOf(comm, config.worldSize, { cp: resolveOptions(config).contextParallelSize });
}

/**
 * What the trainer of `comm`'s rank needs when the (validated) config runs 'ring', else
 * undefined. Opens the rank's process groups (every rank calls this at start-up).
 */
export function contextParallelFor(config: RunConfig, comm: Communicator): ContextParallel | undefined {
  if (!parseStrategyIds(config.strategy).includes('ring')) return undefined;
  const { layout, groups } = groupsFor(config, comm);
  const cp = groups.cp;
  const next = (cp.rank + 1) % cp.worldSize;
  const prev = (cp.rank - 1 + cp.worldSize) % cp.worldSize;
  return {
    size: layout.cp,
    index: cp.rank,
    dataRank: groups.dp.rank,
    shift(send: Float32Array, recv: Float32Array, what: string): Promise<void> {
      // Issued now (the comm queue runs it in the background); the caller awaits it after its compute.
      return cp.sendRecv(send, next, recv, prev, { label: what }).wait();
    },
  };
}

/** Ring attention: DDP's gradient exchange around a forward and a backward that pass key/value blocks round the cp ring. */
export class RingAttention extends SequenceShardedDdp {
  constructor(ctx: StrategyContext, config: RunConfig) {
    super(ctx, config.strategy, groupsFor(config, ctx.comm).groups.cp);
  }
}
