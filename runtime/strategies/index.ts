/**
 * Strategies: how a rank exchanges gradients and updates its parameters. Each strategy
 * has a stable id used in configs, traces, summaries and benchmarks; combinations are
 * joined with '+' (e.g. `ddp-bucketed+int8-ef`).
 */
import type { RunConfig } from '../config';
import { MIB } from './buckets';
import { BucketedExchange } from './bucketedExchange';
import { Bf16Hook, Fp16Hook, Int8EfHook, type GradientHook } from './hooks';
import { LocalUpdates } from './localUpdates';
import { OnebitAdam } from './onebitAdam';
import {
  HOOK_IDS,
  LOCAL_IDS,
  STRATEGY_IDS,
  parseStrategyIds,
  resolveOptions,
  validateStrategyConfig,
  type StrategyId,
} from './options';
import { PowerSgdHook } from './powerSgd';
import { matrixPlanner } from './matrices';
import { TopKDgcHook } from './topkDgc';
import type { MemoryBytes, Strategy, StrategyContext, StepCounter } from './types';
import type { StrategyEnv } from './env';
import { ZeroStrategy } from './zero';
import { Ulysses, sequenceParallelFor } from './ulysses';
import { RingAttention, contextParallelFor } from './ringAttention';
import { TensorParallelStrategy, tensorParallelFor } from './tensorParallel';
import { PipelineParallel, pipelineStageFor } from './pipelineParallel';
import { ExpertParallelStrategy, expertParallelFor } from './expertParallel';
import { Ddp } from './ddp';

export {
  STRATEGY_IDS,
  validateStrategyConfig,
  parseStrategyIds,
  sequenceParallelFor,
  contextParallelFor,
  tensorParallelFor,
  pipelineStageFor,
  expertParallelFor,
};
export type { Strategy, StrategyContext, MemoryBytes, StrategyId, StepCounter };

function makeHook(
  id: StrategyId,
  config: RunConfig,
  ctx: StrategyContext,
): ((env: StrategyEnv) => GradientHook) | undefined {
  const o = resolveOptions(config);
  switch (id) {
    case 'fp16':
      return (env) => new Fp16Hook(env);
    case 'bf16':
      return (env) => new Bf16Hook(env);
    case 'int8-ef':
      return (env) => new Int8EfHook(env, o.int8ChunkSize);
    case 'topk-dgc':
      return (env) =>
        new TopKDgcHook(env, {
          density: o.density,
          momentum: o.dgcMomentum,
          warmupSteps: o.dgcWarmupSteps,
          clipNorm: o.dgcClipNorm,
        });
    case 'powersgd':
      return (env) =>
        new PowerSgdHook(env, o.powerSgdRank, matrixPlanner(ctx.trainer), o.powerSgdStartStep, config.seed);
    default:
      return undefined;
  }
}

/** Builds the strategy a (validated) config names, for one rank. */
export function createStrategy(config: RunConfig, ctx: StrategyContext): Strategy {
  const problems = validateStrategyConfig(config);
  if (problems.length) throw new Error(problems.join('\n'));
  const ids = parseStrategyIds(config.strategy);
  const o = resolveOptions(config);
  const has = (s: StrategyId): boolean => ids.includes(s);
  const id = config.strategy;
  if (has('zero1') || has('zero2') || has('zero3')) {
    const stage = has('zero3') ? 3 : has('zero2') ? 2 : 1;
    return new ZeroStrategy(ctx, config, {
      stage,
      capBytes: o.bucketCapMb * MIB,
      firstCapBytes: o.firstBucketCapMb * MIB,
      prefetch: o.zero3Prefetch,
    });
  }
  if (has('ulysses')) return new Ulysses(ctx, config);
  if (has('ring')) return new RingAttention(ctx, config);
  if (has('tp')) return new TensorParallelStrategy(ctx, config);
  if (has('pp')) return new PipelineParallel(ctx, config);
  if (has('ep')) return new ExpertParallelStrategy(ctx, config);
  const local = ids.find((s) => LOCAL_IDS.includes(s));
  if (local) return new LocalUpdates(local as 'localsgd' | 'diloco' | 'streaming-diloco', ctx, config, o);
  if (has('onebit-adam')) return new OnebitAdam(ctx, config, o.onebitWarmupSteps, o.onebitChunkSize);
  const hookId = ids.find((s) => HOOK_IDS.includes(s));
  if (!has('ddp-bucketed') && !hookId) return new Ddp(ctx);
  return new BucketedExchange(
    id,
    ctx,
    {
      bucketed: has('ddp-bucketed'),
      capBytes: o.bucketCapMb * MIB,
      firstCapBytes: o.firstBucketCapMb * MIB,
      makeHook: hookId ? makeHook(hookId, config, ctx) : undefined,
    },
    config,
  );
}

/** The memory counters of a rank under `strategy`, from the engine's own. */
export function strategyMemory(strategy: Strategy, engine: Omit<MemoryBytes, 'communication'>): MemoryBytes {
  const full = { ...engine, communication: strategy.commBufferBytes() };
  return strategy.memory ? strategy.memory(full) : full;
}
