/**
 * The config changes suggestions carry. For CommLens runs: a partial run config in the
 * runtime's own schema (`strategy` ids joined with '+', options in `strategyOptions`),
 * composed with the run's current strategy so a re-run changes only what the suggestion
 * says. For imported PyTorch traces: the same change in PyTorch / DeepSpeed terms.
 */
import type { ArgValue } from '../../trace/model';
import type { RunInfo } from '../runInfo';
import { compressionKeepsBuckets } from '../compressors';
import { HOOK_IDS, parseStrategyIds } from '../../trace/strategyIds';
import type { TorchApply } from '../../trace/torchJob';

const HOOKS: readonly string[] = HOOK_IDS;
const BUCKET_OPTIONS = ['bucketCapMb', 'firstBucketCapMb'];

function ids(info: RunInfo): string[] {
  return parseStrategyIds(info.strategy);
}

function pickOptions(info: RunInfo, keys: string[]): Record<string, ArgValue> {
  const out: Record<string, ArgValue> = {};
  for (const k of keys) if (info.strategyOptions?.[k] !== undefined) out[k] = info.strategyOptions[k];
  return out;
}

/** True when the run exchanges gradients by (bucketed) all-reduce, the schedule compression and bucketing change. */
export function exchangesGradients(info: RunInfo): boolean {
  return ids(info).every((s) => s === 'ddp' || s === 'ddp-bucketed' || HOOKS.includes(s));
}

/** A gradient compression hook on the current exchange: `ddp-bucketed+fp16` keeps the buckets, plain runs get `fp16`. */
export function compressionChange(
  info: RunInfo,
  hook: string,
  options: Record<string, ArgValue> = {},
): Record<string, unknown> {
  if (hook === 'onebit-adam')
    return { strategy: 'onebit-adam', ...(Object.keys(options).length ? { strategyOptions: options } : {}) };
  const bucketed = compressionKeepsBuckets(info.strategy, hook);
  const strategyOptions = { ...(bucketed ? pickOptions(info, BUCKET_OPTIONS) : {}), ...options };
  return {
    strategy: bucketed ? `ddp-bucketed+${hook}` : hook,
    ...(Object.keys(strategyOptions).length ? { strategyOptions } : {}),
  };
}

/** Bucketed, overlapped all-reduce with a cap, keeping the run's compression hook if it has one. */
export function bucketingChange(info: RunInfo, capMb: number): Record<string, unknown> {
  const hook = ids(info).find((s) => HOOKS.includes(s));
  return { strategy: hook ? `ddp-bucketed+${hook}` : 'ddp-bucketed', strategyOptions: { bucketCapMb: capMb } };
}

/** A ZeRO stage: the `zeroN` strategy alone (it runs its own bucketed gradient exchange). */
export function zeroChange(stage: 1 | 2 | 3): Record<string, unknown> {
  return { strategy: `zero${stage}` };
}

/** DiLoCo (or its streaming variant) with H inner steps between synchronizations. */
export function localUpdatesChange(streaming: boolean, H: number): Record<string, unknown> {
  return { strategy: streaming ? 'streaming-diloco' : 'diloco', strategyOptions: { localSteps: H } };
}

/** Ulysses sequence parallelism over `degree` ranks (gpt-mini only; the degree must divide heads, seqLen and worldSize). */
export function sequenceParallelChange(degree: number): Record<string, unknown> {
  return { strategy: 'ulysses', strategyOptions: { sequenceParallelSize: degree } };
}

/** The same changes for a PyTorch job (what to put in the training script or DeepSpeed config). */
export const PYTORCH_CHANGE = {
  compression: (hook: string): Record<string, unknown> =>
    hook === 'onebit-adam'
      ? { deepspeed: { optimizer: { type: 'OneBitAdam' } } }
      : {
          ddp: {
            comm_hook:
              hook === 'fp16'
                ? 'fp16_compress_hook'
                : hook === 'bf16'
                  ? 'bf16_compress_hook'
                  : hook === 'powersgd'
                    ? 'powerSGD_hook'
                    : hook,
          },
        },
  bucketing: (capMb: number): Record<string, unknown> => ({ ddp: { bucket_cap_mb: capMb } }),
  zero: (stage: 1 | 2 | 3): Record<string, unknown> => ({
    ...(stage === 1
      ? { optimizer: { wrapper: 'torch.distributed.optim.ZeroRedundancyOptimizer' } }
      : { fsdp: { sharding_strategy: stage === 3 ? 'FULL_SHARD' : 'SHARD_GRAD_OP' } }),
    deepspeed: { zero_optimization: { stage } },
  }),
  localUpdates: (H: number): Record<string, unknown> => ({ ddp: { comm_hook: 'post_localSGD_hook', period: H } }),
  sequenceParallel: (degree: number): Record<string, unknown> => ({ deepspeed: { sequence_parallel_size: degree } }),
};

/**
 * The same change as commlens_torch applies it on a re-run of the job (COMMLENS_APPLY,
 * trace/torchJob.ts), for the changes it can make: DDP's bucket cap and the fp16, bf16 and
 * PowerSGD comm hooks (PowerSGD at rank 1, the rank the prediction assumes). Undefined for
 * the rest (ZeRO, local updates, sequence parallelism, other compressors).
 */
export const PYTORCH_APPLY = {
  compression: (hook: string): TorchApply | undefined =>
    hook === 'fp16' || hook === 'bf16'
      ? { comm_hook: hook }
      : hook === 'powersgd'
        ? { comm_hook: 'powersgd', powersgd_rank: 1 }
        : undefined,
  bucketing: (capMb: number): TorchApply => ({ bucket_cap_mb: capMb }),
};
