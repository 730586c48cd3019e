/**
 * What the strategies whose ranks each hold a token shard of their group's sequences share
 * (Ulysses, ring attention): parameters are replicated, so after backward every gradient
 * is averaged over all ranks like DDP's (the engine scales each rank's loss by the group
 * size, which turns that average into the group sum averaged over the data-parallel ranks),
 * and each rank reports its group's loss.
 */
import type { Communicator } from '../comm';
import { allReduceGpuBuffer } from '../comm/gpuStaging';
import { Ddp } from './ddp';
import type { StrategyContext } from './types';

export class SequenceShardedDdp extends Ddp {
  constructor(
    ctx: StrategyContext,
    override readonly id: string,
    /** The group sharing each sequence. */
    private readonly group: Communicator,
  ) {
    super(ctx);
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
