/**
 * Pipeline parallelism for gpt-mini ('pp', 'pp+ddp'): worldSize = dp × pp, pipeline
 * parallel the outermost dimension (comm/layout.ts), so stage s of pipeline g is rank
 * g + dp·s. Stage s holds layers [s·L/P, (s+1)·L/P) (the embedding on the first stage,
 * the head on the last). A step runs every micro-batch forward through the stages (the
 * activations go to the next stage by send/recv on the pp group), then every micro-batch
 * backward in reverse order (the input gradients go back the same way), the parameters'
 * gradients accumulating; then each stage averages its gradients over its dp group.
 * With strategyOptions.schedule '1f1b' (PipeDream-Flush, Megatron's non-interleaved
 * schedule) stage s runs min(P−s−1, M) warm-up forwards, then alternates one forward and
 * one backward, then the cool-down backwards: at most P−s micro-batches hold activations
 * at once instead of M. In the steady phase the output sent forward and the gradient
 * received back (and the gradient sent back and the next input received) go as one
 * sendRecv, as Megatron pairs them, so neighbouring stages cannot block each other.
 * The p2p transfers and the dp all-reduce go on the groups' own trace tracks.
 */
import type { RunConfig } from '../config';
import type { Communicator } from '../comm';
import { allReduceGpuBuffer } from '../comm/gpuStaging';
import type { PipelineStage } from '../engine';
import { Ddp } from './ddp';
import { layoutGroupsOf, type LayoutGroups } from './layoutGroups';
import { parseStrategyIds, resolveOptions } from './options';
import type { StrategyContext } from './types';

/** The layout's groups of `comm`'s rank, opened once (every rank opens its own at start-up). */
function groupsFor(config: RunConfig, comm: Communicator): LayoutGroups {
  return layoutGroupsOf(comm, config.worldSize, { pp: resolveOptions(config).pipelineParallelSize });
}

/** The stage of `comm`'s rank when the (validated) config runs 'pp', else undefined. Opens the rank's groups. */
export function pipelineStageFor(config: RunConfig, comm: Communicator): PipelineStage | undefined {
  if (!parseStrategyIds(config.strategy).includes('pp')) return undefined;
  const { layout, groups } = groupsFor(config, comm);
  return {
    stages: layout.pp,
    stage: groups.pp.rank,
    microBatches: resolveOptions(config).microBatches,
    dataRank: groups.dp.rank,
  };
}

export class PipelineParallel extends Ddp {
  override readonly id: string;
  private readonly groups: LayoutGroups;
  private readonly microBatches: number;
  private readonly schedule: 'gpipe' | '1f1b';
  private stepLoss = 0;

  constructor(ctx: StrategyContext, config: RunConfig) {
    super(ctx);
    this.id = config.strategy;
    this.groups = groupsFor(config, ctx.comm);
    this.microBatches = resolveOptions(config).microBatches;
    this.schedule = resolveOptions(config).schedule;
  }

  private get pp(): Communicator {
    return this.groups.groups.pp;
  }

  private get isFirst(): boolean {
    return this.pp.rank === 0;
  }

  private get isLast(): boolean {
    return this.pp.rank === this.pp.worldSize - 1;
  }

  /** 1F1B's warm-up forwards on this stage: as many as there are stages after it (at most M). */
  private get warmUp(): number {
    return this.schedule === '1f1b'
      ? Math.min(this.pp.worldSize - this.pp.rank - 1, this.microBatches)
      : this.microBatches;
  }

  /**
   * GPipe's forward: every micro-batch through this stage, activations from the previous
   * stage and to the next. 1F1B: only the warm-up forwards.
   */
  async forward(): Promise<void> {
    const { trainer } = this.ctx;
    const pp = this.pp;
    let loss = 0;
    for (let m = 0; m < this.warmUp; m++) {
      let input: Float32Array | undefined;
      if (!this.isFirst) {
        input = new Float32Array(this.activationSize());
        await pp.recv(input, pp.rank - 1).wait();
      }
      const out = await trainer.pipelineForward(m, input);
      if (this.isLast) loss += out[0];
      else await pp.send(out, pp.rank + 1).wait();
    }
    this.stepLoss = loss;
  }

  /** [B/M, T, dModel] floats between stages. */
  private activationSize(): number {
    const m = this.ctx.trainer.model;
    if (m.kind !== 'gpt-mini') throw new Error('pipeline parallelism runs gpt-mini only');
    return (m.batchSize / this.microBatches) * m.seqLen * m.dModel;
  }

  /**
   * GPipe's backward: micro-batches in reverse, output gradients from the next stage, input
   * gradients to the previous. 1F1B: the steady and cool-down phases. Then the dp all-reduce.
   */
  override async backwardAndExchange(): Promise<void> {
    const { trainer, device } = this.ctx;
    trainer.pipelineZeroGrads();
    if (this.schedule === '1f1b') await this.oneForwardOneBackward();
    else for (let m = this.microBatches - 1; m >= 0; m--) await this.backwardOne(m);
    const dp = this.groups.groups.dp;
    if (dp.worldSize > 1)
      await allReduceGpuBuffer(dp, device, trainer.gradBuffer, 0, trainer.paramCount * 4, { op: 'avg' });
  }

  /** One micro-batch backward: its output gradient from the next stage, its input gradient to the previous. */
  private async backwardOne(m: number): Promise<void> {
    const pp = this.pp;
    let gradOut: Float32Array | undefined;
    if (!this.isLast) {
      gradOut = new Float32Array(this.activationSize());
      await pp.recv(gradOut, pp.rank + 1).wait();
    }
    const gradIn = await this.ctx.trainer.pipelineBackward(m, gradOut);
    if (!this.isFirst) await pp.send(gradIn, pp.rank - 1).wait();
  }

  /**
   * 1F1B after the warm-up forwards: steady pairs (forward micro-batch w+i, backward i),
   * then the cool-down backwards. Each steady forward's output leaves with the matching
   * gradient's arrival in one sendRecv to the next stage, and each steady backward's input
   * gradient with the next input's arrival in one sendRecv to the previous stage.
   */
  private async oneForwardOneBackward(): Promise<void> {
    const { trainer } = this.ctx;
    const pp = this.pp;
    const M = this.microBatches;
    const warm = this.warmUp;
    const steady = M - warm;
    const size = this.activationSize();
    let input: Float32Array | undefined;
    if (steady > 0 && !this.isFirst) {
      input = new Float32Array(size);
      await pp.recv(input, pp.rank - 1).wait();
    }
    for (let i = 0; i < steady; i++) {
      const out = await trainer.pipelineForward(warm + i, input);
      let gradOut: Float32Array | undefined;
      if (this.isLast) this.stepLoss += out[0];
      else {
        gradOut = new Float32Array(size);
        await pp.sendRecv(out, pp.rank + 1, gradOut, pp.rank + 1).wait();
      }
      const gradIn = await trainer.pipelineBackward(i, gradOut);
      input = undefined;
      if (this.isFirst) continue;
      if (i === steady - 1) await pp.send(gradIn, pp.rank - 1).wait();
      else {
        input = new Float32Array(size);
        await pp.sendRecv(gradIn, pp.rank - 1, input, pp.rank - 1).wait();
      }
    }
    for (let m = steady; m < M; m++) await this.backwardOne(m);
  }

  /** The step's loss (the micro-batches' sum on the last stage), given to every stage. */
  async loss(): Promise<number> {
    const v = new Float32Array([this.isLast ? this.stepLoss : 0]);
    if (this.pp.worldSize > 1) await this.pp.broadcast(v, { root: this.pp.worldSize - 1 }).wait();
    return v[0];
  }

  override commBufferBytes(): number {
    return (
      (this.groups.groups.dp.worldSize > 1 ? Math.min(this.ctx.trainer.paramCount * 4, 3 * (4 << 20)) : 0) +
      2 * this.activationSize() * 4
    );
  }

  /**
   * The whole model in the single-rank layout: the stages' flat buffers concatenated in
   * stage order (each holds whole layers, so the offsets line up); every stage takes part.
   */
  override async readParameters(): Promise<Float32Array> {
    const mine = await super.readParameters();
    const pp = this.pp;
    const counts = new Float32Array(pp.worldSize);
    counts[pp.rank] = mine.length;
    await pp.allReduce(counts, { op: 'sum' }).wait();
    const all = new Float32Array(counts.reduce((a, b) => a + b, 0));
    await pp.allGather(mine, all, { counts: Array.from(counts) }).wait();
    return all;
  }
}
