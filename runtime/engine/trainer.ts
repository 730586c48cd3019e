/**
 * The trainer: one model, its flat parameters and gradients, an optimizer, and the
 * encode/submit rhythm a data-parallel step needs (forward; backward with a callback per
 * finished layer so gradient buckets can start communicating; optimizer step on
 * gradients the caller may have all-reduced meanwhile).
 */
import { GpuContext } from './context';
import { ModelConfig, ResolvedModel, resolveModelConfig, validateModelConfig } from './config';
import { MlpModel } from './models/mlp';
import type { SequenceParallel } from './ops/exchange';
import type { ContextParallel } from './ops/ringAttention';
import type { TensorParallel } from './ops/tensorParallel';
import type { ExpertLoad, ExpertParallel } from './ops/moe';
import { GptModel, type PipelineStage } from './models/gpt';
import { HostStaging } from './ops/exchange';
import type { TrainableModel } from './models/model';
import { Optimizer, OptimizerConfig } from './optimizer';
import { LayerInfo, ParamStore, createParams } from './params';
import type { KernelSpan } from './spans';
import { Tape } from './tape';
import { Tensor } from './tensor';

export interface TrainerOptions {
  model: ModelConfig;
  optimizer: OptimizerConfig;
  seed: number;
  rank: number;
  worldSize: number;
  /** false skips every timestamp query (no spans, no calibration). */
  timing: boolean;
  /**
   * Sequence parallelism (gpt-mini only): this rank's shard of its group's sequences and
   * the group's all-to-all. Steps then run `forwardAsync` / `backwardAsync`.
   */
  sequenceParallel?: SequenceParallel;
  /**
   * Context parallelism (ring attention, gpt-mini only): this rank's shard of its group's
   * sequences and the group's ring exchange. Steps then run `forwardAsync` / `backwardAsync`.
   */
  contextParallel?: ContextParallel;
  /**
   * Tensor parallelism (Megatron-LM, gpt-mini only): this rank's shard index, the batch
   * its group trains, and the group's all-reduce. Steps then run `forwardAsync` /
   * `backwardAsync`; the flat buffers hold this rank's shards.
   */
  tensorParallel?: TensorParallel;
  /**
   * Pipeline parallelism (GPipe, gpt-mini only): this rank's stage. Steps then run
   * `pipelineForward` for each micro-batch, `pipelineZeroGrads`, `pipelineBackward` for
   * each micro-batch in reverse; the flat buffers hold the stage's layers only.
   */
  pipeline?: PipelineStage;
  /**
   * Expert parallelism (gpt-mini with model.experts): this rank's share of every block's
   * experts and the group's all-to-all. Without it a mixture of experts runs all its
   * experts on this rank. Steps run `forwardAsync` / `backwardAsync` either way.
   */
  expertParallel?: ExpertParallel;
}

export interface ParamTensorInfo {
  name: string;
  layerIndex: number;
  offset: number;
  shape: readonly number[];
}

export interface Trainer {
  readonly paramCount: number;
  /** Parameters of the model without the flat buffers' alignment padding. */
  readonly modelParamCount: number;
  readonly layers: LayerInfo[];
  /** Every parameter tensor: its layer, its first element in the flat buffers, its shape (PowerSGD compresses matrices). */
  readonly paramTensors: ParamTensorInfo[];
  readonly paramBuffer: GPUBuffer;
  readonly gradBuffer: GPUBuffer;
  readonly flopsPerStep: number;
  readonly model: ResolvedModel;
  nextBatch(step: number): void;
  forward(): void;
  backward(onLayerGradsReady?: (layerIndex: number) => void): void;
  /** forward / backward that pause at the sequence-parallel all-to-alls (see TrainerOptions.sequenceParallel). */
  forwardAsync(): Promise<void>;
  backwardAsync(onLayerGradsReady?: (layerIndex: number) => void): Promise<void>;
  /** A mixture of experts: each block's routing in the last forward (tokens per expert, dropped); [] otherwise. */
  expertLoad(): ExpertLoad[];
  optimizerStep(): void;
  loss(): Promise<number>;
  /**
   * Pipeline stage: forward of micro-batch `m` from `input` (the previous stage's output;
   * none on the first stage). Resolves with this stage's output activations, or on the
   * last stage with the micro-batch's loss (one value).
   */
  pipelineForward(m: number, input?: Float32Array): Promise<Float32Array>;
  /** Pipeline stage: zeroes the gradients before a step's micro-batch backwards accumulate into them. */
  pipelineZeroGrads(): void;
  /**
   * Pipeline stage: backward of micro-batch `m` from the gradient of its output (none on
   * the last stage); parameters' gradients accumulate. Resolves with the gradient of its
   * input (empty on the first stage).
   */
  pipelineBackward(m: number, gradOut?: Float32Array): Promise<Float32Array>;
  drainSpans(): Promise<KernelSpan[]>;
  readonly calibrationErrorNs: number;
  /** Re-measures the GPU→host clock offset (long runs may drift). */
  recalibrate(): Promise<number>;
  poolStats(): { hits: number; misses: number; bytes: number };
  memoryBytes(): { parameters: number; gradients: number; optimizerState: number; activations: number };
  destroy(): void;
}

function createModel(
  r: ResolvedModel,
  seed: number,
  sp?: SequenceParallel,
  tp?: TensorParallel,
  pp?: PipelineStage,
  ep?: ExpertParallel,
  cp?: ContextParallel,
): TrainableModel {
  if ((sp || cp) && r.kind === 'mlp')
    throw new Error(`${sp ? 'sequence' : 'context'} parallelism needs model.kind "gpt-mini" (the MLP has no sequence)`);
  if (tp && r.kind === 'mlp')
    throw new Error(
      'tensor parallelism needs model.kind "gpt-mini" (its attention heads and MLP are what get split); use data parallelism for the MLP',
    );
  if (pp && r.kind === 'mlp')
    throw new Error(
      'pipeline parallelism needs model.kind "gpt-mini" (its layers are what get split into stages); use data parallelism for the MLP',
    );
  if (ep && (r.kind === 'mlp' || !r.moe))
    throw new Error('expert parallelism needs model.kind "gpt-mini" with model.experts (a mixture of experts)');
  return r.kind === 'mlp' ? new MlpModel(r, seed) : new GptModel(r, seed, sp, tp, pp, ep, cp);
}

/** One micro-batch in flight through a pipeline stage: its tape, input and output. */
interface MicroBatch {
  tape: Tape;
  input?: Tensor;
  output: Tensor;
}

class TrainerImpl implements Trainer {
  readonly paramCount: number;
  readonly modelParamCount: number;
  readonly layers: LayerInfo[];
  readonly paramTensors: ParamTensorInfo[];
  readonly paramBuffer: GPUBuffer;
  readonly gradBuffer: GPUBuffer;
  readonly flopsPerStep: number;
  private readonly tape: Tape;
  private readonly lossSeed: Tensor;
  private readonly lossKeep: GPUBuffer;
  private readonly lossReadback: GPUBuffer;
  private lossTensor: Tensor | undefined;
  private readChain: Promise<unknown> = Promise.resolve();
  private destroyed = false;

  constructor(
    private readonly ctx: GpuContext,
    readonly model: ResolvedModel,
    private readonly net: TrainableModel,
    private readonly store: ParamStore,
    private readonly optimizer: Optimizer,
    private readonly opts: TrainerOptions,
  ) {
    this.paramCount = store.flatCount;
    this.modelParamCount = store.modelParamCount;
    this.layers = store.layers;
    this.paramTensors = store.params.map((t) => ({
      name: t.param!.name,
      layerIndex: t.param!.layerIndex,
      offset: t.param!.offset,
      shape: [...t.shape],
    }));
    this.paramBuffer = store.paramBuffer;
    this.gradBuffer = store.gradBuffer;
    this.flopsPerStep = net.flopsPerStep;
    this.tape = new Tape(ctx);
    const seedBuf = ctx.ownedBuffer(16, undefined, 'loss.seed');
    // A sequence- or context-parallel rank's loss is its share of the group's; gradients are
    // then averaged over every rank, so ×P makes them the group's sum (the data-parallel average).
    const shards = opts.sequenceParallel?.size ?? opts.contextParallel?.size ?? 1;
    ctx.device.queue.writeBuffer(seedBuf.gpu, 0, new Float32Array([(opts.optimizer.lossScale ?? 1) * shards]));
    this.lossSeed = new Tensor([1], seedBuf, 0, false);
    this.lossKeep = ctx.device.createBuffer({
      size: 16,
      usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      label: 'loss.keep',
    });
    this.lossReadback = ctx.device.createBuffer({
      size: 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      label: 'loss.readback',
    });
  }

  get calibrationErrorNs(): number {
    return this.ctx.spans?.calibration.errorNs ?? 0;
  }

  async recalibrate(): Promise<number> {
    if (!this.ctx.spans) return 0;
    return (await this.ctx.guard(this.ctx.spans.calibrate())).errorNs;
  }

  private live(): void {
    if (this.destroyed) throw new Error('trainer used after destroy()');
    this.ctx.check();
  }

  nextBatch(step: number): void {
    this.live();
    this.net.writeBatch(this.opts.seed, this.opts.rank, step);
  }

  forward(): void {
    this.beginForward();
    this.endForward(this.net.forward({ ctx: this.ctx, tape: this.tape }));
  }

  async forwardAsync(): Promise<void> {
    if (!this.net.forwardAsync) return this.forward();
    this.beginForward();
    this.endForward(await this.net.forwardAsync({ ctx: this.ctx, tape: this.tape }));
  }

  private beginForward(): void {
    this.live();
    this.tape.clear(this.store.params);
    this.ctx.phase = 'forward';
  }

  private endForward(loss: Tensor): void {
    const ctx = this.ctx;
    this.lossTensor = loss;
    ctx.commandEncoder().copyBufferToBuffer(this.lossTensor.buf.gpu, this.lossTensor.offsetBytes, this.lossKeep, 0, 4);
    ctx.submit();
    ctx.phase = 'other';
    ctx.scope = '';
  }

  backward(onLayerGradsReady?: (layerIndex: number) => void): void {
    const b = this.beginBackward(onLayerGradsReady);
    b.end(this.tape.backward(b.loss, this.lossSeed, b.onParamDone));
  }

  async backwardAsync(onLayerGradsReady?: (layerIndex: number) => void): Promise<void> {
    const b = this.beginBackward(onLayerGradsReady);
    b.end(await this.tape.backwardAsync(b.loss, this.lossSeed, b.onParamDone));
  }

  private beginBackward(onLayerGradsReady?: (layerIndex: number) => void): {
    loss: Tensor;
    onParamDone: (p: Tensor) => void;
    end: (leftovers: Map<Tensor, Tensor>) => void;
  } {
    this.live();
    if (!this.lossTensor) throw new Error('backward() needs a forward() first');
    const ctx = this.ctx;
    const pending = this.layers.map(() => 0);
    for (const p of this.store.params) pending[p.param!.layerIndex]++;
    const done = this.layers.map(() => false);
    const finish = (li: number) => {
      done[li] = true;
      ctx.submit();
      onLayerGradsReady?.(li);
    };
    const onParamDone = (p: Tensor): void => {
      const li = p.param!.layerIndex;
      if (--pending[li] === 0) finish(li);
    };
    const end = (leftovers: Map<Tensor, Tensor>): void => {
      for (const g of leftovers.values()) ctx.release(g);
      // Parameters the loss does not depend on get a zero gradient, not last step's.
      for (const p of this.store.params) {
        if (p.gradUses === 0) {
          ctx.commandEncoder().clearBuffer(this.gradBuffer, p.param!.offset * 4, p.param!.grad.byteLength);
          const li = p.param!.layerIndex;
          if (--pending[li] === 0 && !done[li]) finish(li);
        }
      }
      ctx.submit();
      this.tape.clear(this.store.params);
      this.lossTensor = undefined;
      ctx.phase = 'other';
      ctx.scope = '';
    };
    return { loss: this.lossTensor, onParamDone, end };
  }

  private readonly inFlight = new Map<number, MicroBatch>();
  private stageStaging: HostStaging | undefined;

  private stage(): { net: GptModel; staging: HostStaging } {
    if (!(this.net instanceof GptModel) || !this.net.pp)
      throw new Error('pipeline steps need a trainer created with `pipeline`');
    this.stageStaging ??= new HostStaging(this.ctx);
    return { net: this.net, staging: this.stageStaging };
  }

  async pipelineForward(m: number, input?: Float32Array): Promise<Float32Array> {
    this.live();
    const { net, staging } = this.stage();
    const ctx = this.ctx;
    if (this.inFlight.has(m)) throw new Error(`pipeline: micro-batch ${m} is already in flight`);
    const tape = new Tape(ctx);
    let x: Tensor | undefined;
    if (input) {
      x = ctx.tensor(net.stageActivationShape());
      if (x.size !== input.length)
        throw new Error(`pipeline: micro-batch ${m}'s input has ${input.length} values, expected ${x.size}`);
      ctx.device.queue.writeBuffer(x.buf.gpu, x.offsetBytes, input);
      x.requiresGrad = true;
    }
    ctx.phase = 'forward';
    const output = net.forwardStage({ ctx, tape }, m, x);
    this.inFlight.set(m, { tape, input: x, output });
    const out = await staging.read(output);
    ctx.phase = 'other';
    ctx.scope = '';
    return out;
  }

  pipelineZeroGrads(): void {
    this.live();
    this.ctx.commandEncoder().clearBuffer(this.gradBuffer, 0, this.paramCount * 4);
    this.ctx.submit();
  }

  async pipelineBackward(m: number, gradOut?: Float32Array): Promise<Float32Array> {
    this.live();
    const { staging } = this.stage();
    const ctx = this.ctx;
    const mb = this.inFlight.get(m);
    if (!mb) throw new Error(`pipeline: micro-batch ${m} has no forward in flight`);
    this.inFlight.delete(m);
    let seed = this.lossSeed;
    if (gradOut) {
      seed = ctx.tensor(mb.output.shape);
      if (seed.size !== gradOut.length)
        throw new Error(
          `pipeline: micro-batch ${m}'s output gradient has ${gradOut.length} values, expected ${seed.size}`,
        );
      ctx.device.queue.writeBuffer(seed.buf.gpu, seed.offsetBytes, gradOut);
    }
    const leftovers = await mb.tape.backwardAsync(mb.output, seed, () => undefined, 'backward', true);
    let gradIn: Float32Array = new Float32Array(0);
    if (mb.input) {
      const g = leftovers.get(mb.input);
      if (!g) throw new Error(`pipeline: micro-batch ${m}: no gradient reached this stage's input`);
      gradIn = await staging.read(g);
    }
    ctx.submit();
    const left = new Set(leftovers.values());
    for (const g of left) ctx.release(g);
    if (seed !== this.lossSeed && !left.has(seed)) ctx.release(seed);
    // The micro-batch's activations go back to the pool; parameters' use counts restart once none is in flight.
    mb.tape.clear(this.inFlight.size === 0 ? this.store.params : []);
    if (mb.input) ctx.release(mb.input);
    ctx.phase = 'other';
    ctx.scope = '';
    return gradIn;
  }

  expertLoad(): ExpertLoad[] {
    return this.net instanceof GptModel ? this.net.expertLoad : [];
  }

  optimizerStep(): void {
    this.live();
    const ctx = this.ctx;
    ctx.phase = 'optimizer';
    ctx.scope = '';
    this.optimizer.encode(this.paramBuffer, this.gradBuffer);
    ctx.submit();
    ctx.phase = 'other';
  }

  loss(): Promise<number> {
    this.live();
    const read = async (): Promise<number> => {
      const enc = this.ctx.device.createCommandEncoder();
      enc.copyBufferToBuffer(this.lossKeep, 0, this.lossReadback, 0, 4);
      this.ctx.device.queue.submit([enc.finish()]);
      await this.ctx.guard(this.lossReadback.mapAsync(GPUMapMode.READ, 0, 4));
      const v = new Float32Array(this.lossReadback.getMappedRange(0, 4).slice(0))[0];
      this.lossReadback.unmap();
      return v;
    };
    const p = this.readChain.then(read, read);
    this.readChain = p.catch(() => undefined);
    return p;
  }

  async drainSpans(): Promise<KernelSpan[]> {
    this.live();
    if (!this.ctx.spans) return [];
    return this.ctx.guard(this.ctx.spans.drain());
  }

  poolStats(): { hits: number; misses: number; bytes: number } {
    const p = this.ctx.pool;
    return { hits: p.hits, misses: p.misses, bytes: p.bytes };
  }

  memoryBytes(): { parameters: number; gradients: number; optimizerState: number; activations: number } {
    return {
      parameters: this.paramCount * 4,
      gradients: this.paramCount * 4,
      optimizerState: this.optimizer.stateBytes,
      activations: this.ctx.pool.bytes + this.net.inputBytes(),
    };
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.tape.clear(this.store.params);
    for (const mb of this.inFlight.values()) mb.tape.clear([]);
    this.stageStaging?.destroy();
    this.net.destroy();
    this.optimizer.destroy();
    this.lossSeed.buf.gpu.destroy();
    this.lossKeep.destroy();
    this.lossReadback.destroy();
    this.paramBuffer.destroy();
    this.gradBuffer.destroy();
    this.ctx.destroy();
  }
}

/**
 * Validates the configuration (throwing one Error that lists every problem, before any
 * GPU work), builds the model and, with timing on, calibrates the GPU clock.
 */
export async function createTrainer(device: GPUDevice, opts: TrainerOptions): Promise<Trainer> {
  const errs = validateModelConfig(opts.model, device.limits, device.features as ReadonlySet<string>);
  errs.push(...validateOptimizerConfig(opts.optimizer));
  if (
    !Number.isInteger(opts.rank) ||
    !Number.isInteger(opts.worldSize) ||
    opts.worldSize < 1 ||
    opts.rank < 0 ||
    opts.rank >= opts.worldSize
  ) {
    errs.push(`rank ${opts.rank} / worldSize ${opts.worldSize}: need integers with 0 ≤ rank < worldSize`);
  }
  if (errs.length) throw new Error(`invalid training configuration: ${errs.join('; ')}`);
  const resolved = resolveModelConfig(opts.model);
  const ctx = new GpuContext(device, { timing: opts.timing });
  ctx.mixedF16 = resolved.dtype === 'f16';
  const net = createModel(
    resolved,
    opts.seed,
    opts.sequenceParallel,
    opts.tensorParallel,
    opts.pipeline,
    opts.expertParallel,
    opts.contextParallel,
  );
  const store = createParams(ctx, net.layerSpecs, opts.seed);
  net.bind(ctx, store);
  const optimizer = new Optimizer(ctx, opts.optimizer, store.flatCount);
  const trainer = new TrainerImpl(ctx, resolved, net, store, optimizer, opts);
  if (ctx.spans) await ctx.guard(ctx.spans.calibrate());
  await ctx.guard(device.queue.onSubmittedWorkDone());
  return trainer;
}

export function validateOptimizerConfig(o: OptimizerConfig): string[] {
  const errs: string[] = [];
  if (!o || !['sgd', 'adam', 'adamw'].includes(o.kind))
    return [`optimizer.kind is ${JSON.stringify(o?.kind)}; allowed: 'sgd', 'adam', 'adamw'`];
  if (!(o.lr > 0) || !Number.isFinite(o.lr)) errs.push(`optimizer.lr is ${o.lr}; it must be a positive number`);
  const unit = (k: 'momentum' | 'beta1' | 'beta2') => {
    const v = o[k];
    if (v !== undefined && !(v >= 0 && v < 1)) errs.push(`optimizer.${k} is ${v}; it must be in [0, 1)`);
  };
  unit('momentum');
  unit('beta1');
  unit('beta2');
  if (o.eps !== undefined && !(o.eps > 0)) errs.push(`optimizer.eps is ${o.eps}; it must be > 0`);
  if (o.weightDecay !== undefined && !(o.weightDecay >= 0))
    errs.push(`optimizer.weightDecay is ${o.weightDecay}; it must be ≥ 0`);
  if (o.clipGradNorm !== undefined && !(o.clipGradNorm > 0))
    errs.push(`optimizer.clipGradNorm is ${o.clipGradNorm}; it must be > 0`);
  if (o.lossScale !== undefined && !(o.lossScale > 0 && Number.isFinite(o.lossScale)))
    errs.push(`optimizer.lossScale is ${o.lossScale}; it must be a positive finite number`);
  return errs;
}
