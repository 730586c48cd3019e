/** The DDP baseline, and the base of strategies that exchange gradients the same way. */
import { allReduceGpuBuffer } from '../comm/gpuStaging';
import { strategyEnv, type StrategyEnv } from './env';
import type { Strategy, StrategyContext } from './types';

/** DDP baseline: one all-reduce (average) of every gradient after backward (comm's chunked GPU staging). */
export class Ddp implements Strategy {
  readonly id: string = 'ddp';
  protected readonly env: StrategyEnv;
  constructor(protected readonly ctx: StrategyContext) {
    this.env = strategyEnv(ctx);
  }
  async backwardAndExchange(): Promise<void> {
    const { trainer, comm, device } = this.ctx;
    trainer.backward();
    if (comm.worldSize > 1)
      await allReduceGpuBuffer(comm, device, trainer.gradBuffer, 0, trainer.paramCount * 4, { op: 'avg' });
  }
  async optimizerStep(): Promise<void> {
    this.ctx.trainer.optimizerStep();
  }
  commBufferBytes(): number {
    // comm's staging pool: up to 3 chunks of at most 4 MiB.
    return this.ctx.comm.worldSize > 1 ? Math.min(this.ctx.trainer.paramCount * 4, 3 * (4 << 20)) : 0;
  }
  async readParameters(): Promise<Float32Array> {
    return this.env.staging.read(
      this.ctx.trainer.paramBuffer,
      0,
      this.ctx.trainer.paramCount,
      'D2H parameters (debug)',
    );
  }
  destroy(): void {
    this.env.staging.destroy();
  }
}
