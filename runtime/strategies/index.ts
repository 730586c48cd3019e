/**
 * Strategies: how a rank exchanges gradients and updates its parameters. Each strategy
 * has a stable id used in configs, traces, summaries and benchmarks.
 */
import type { RunConfig } from '../config';
import type { Trainer } from '../engine';
import type { Communicator } from '../comm';
import { allReduceGpuBuffer } from '../comm/gpuStaging';

export interface StrategyContext {
  comm: Communicator;
  device: GPUDevice;
  trainer: Trainer;
}

export interface Strategy {
  readonly id: string;
  /** Runs backward and the gradient exchange; resolves when gradients are ready for the optimizer. */
  backwardAndExchange(step: number): Promise<void>;
  optimizerStep(step: number): Promise<void>;
  /** Bytes held in communication buffers on this rank (for the memory counters). */
  commBufferBytes(): number;
}

export const STRATEGY_IDS = ['ddp'] as const;

/** DDP baseline: one all-reduce (average) of every gradient after backward. */
class Ddp implements Strategy {
  readonly id = 'ddp';
  constructor(private readonly ctx: StrategyContext) {}
  async backwardAndExchange(): Promise<void> {
    const { trainer, comm, device } = this.ctx;
    trainer.backward();
    if (comm.worldSize > 1) await allReduceGpuBuffer(comm, device, trainer.gradBuffer, 0, trainer.paramCount * 4, { op: 'avg' });
  }
  async optimizerStep(): Promise<void> {
    this.ctx.trainer.optimizerStep();
  }
  commBufferBytes(): number {
    return this.ctx.comm.worldSize > 1 ? this.ctx.trainer.paramCount * 4 : 0;
  }
}

/** Checks strategy ids and strategyOptions together; returns messages naming each conflict and a working alternative. */
export function validateStrategyConfig(config: RunConfig): string[] {
  const problems: string[] = [];
  if (config.strategyOptions && Object.keys(config.strategyOptions).length > 0 && config.strategy === 'ddp') {
    problems.push(`strategyOptions: the 'ddp' strategy takes no options (got ${Object.keys(config.strategyOptions).join(', ')})`);
  }
  return problems;
}

export function createStrategy(config: RunConfig, ctx: StrategyContext): Strategy {
  switch (config.strategy) {
    case 'ddp':
      return new Ddp(ctx);
    default:
      throw new Error(`strategy '${config.strategy}' is not implemented; available: ${STRATEGY_IDS.join(', ')}`);
  }
}
