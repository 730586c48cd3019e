/**
 * The compute side of the runtime: a WebGPU training engine whose every kernel is a
 * named, GPU-timestamped span. Public surface for the rest of runtime/.
 */
export type { ModelConfig, GptTask } from './config';
export { validateModelConfig, resolveModelConfig, modelFlopsPerStep } from './config';
export type { OptimizerConfig } from './optimizer';
export type { LayerInfo } from './params';
export type { KernelSpan, SpanPhase } from './spans';
export type { Trainer, TrainerOptions, ParamTensorInfo } from './trainer';
export { createTrainer, validateOptimizerConfig } from './trainer';
export { achievedFlopsPerSec, modelFlopsUtilization } from './flops';
export { opClass } from './opClass';
export type { SequenceParallel } from './ops/exchange';
export type { ContextParallel } from './ops/ringAttention';
export type { TensorParallel } from './ops/tensorParallel';
export { assembleTensorParallel, assembleExpertParallel } from './models/gpt';
export type { ExpertParallel, ExpertLoad } from './ops/moe';
export type { PipelineStage } from './models/gpt';
