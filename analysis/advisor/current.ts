/**
 * An imported job's current settings (analysis/jobSettings.ts) in the terms a suggestion
 * changes them: the comm hook and sharding as the code that sets them, the bytes per
 * element its gradient collectives carry, and the "current → new" text of a change.
 */
import { dtypeSize, type JobSettings } from '../jobSettings';

/** A change from the current setting to the new one, as the extension and the report show it. */
export function pytorchChange(from: string, to: string): string {
  return `now: ${from} → change to: ${to}`;
}

/** Bytes per element on the wire of the gradient collectives (2 for a compress hook's 16 bits), when known. */
export function wireBytesPerElement(s: JobSettings): number | undefined {
  return dtypeSize(s.collectiveDtype.value);
}

/** The job's comm hook as the code that registers it (or says there is none, or that it is unknown). */
export function currentHookCode(s: JobSettings): string {
  switch (s.commHook.value) {
    case 'fp16_compress_hook':
    case 'bf16_compress_hook':
      return `ddp_model.register_comm_hook(None, ${s.commHook.value})`;
    case '16-bit compress':
      return 'ddp_model.register_comm_hook(None, fp16_compress_hook or bf16_compress_hook)';
    case 'powerSGD_hook':
      return 'ddp_model.register_comm_hook(PowerSGDState(...), powerSGD_hook)';
    case 'none': {
      const fsdp = s.dataParallel.value === 'fsdp-full-shard' || s.dataParallel.value === 'fsdp-shard-grad-op';
      return `no comm hook (${fsdp ? "FSDP's reduce-scatter" : "DDP's default all-reduce"}${s.collectiveDtype.value ? ` in ${s.collectiveDtype.text}` : ''})`;
    }
    default:
      return `comm hook unknown (${s.commHook.evidence})`;
  }
}

/** The job's ZeRO stage (0: plain DDP or unknown) and how it is written. */
export function currentSharding(s: JobSettings): { stage: 0 | 1 | 2 | 3; code: string; short: string } {
  switch (s.dataParallel.value) {
    case 'zero1':
      return {
        stage: 1,
        code: 'ZeroRedundancyOptimizer (ZeRO-1)',
        short: 'ZeroRedundancyOptimizer',
      };
    case 'fsdp-shard-grad-op':
      return {
        stage: 2,
        code: 'FullyShardedDataParallel(model, sharding_strategy=ShardingStrategy.SHARD_GRAD_OP)',
        short: 'FSDP SHARD_GRAD_OP',
      };
    case 'fsdp-full-shard':
      return {
        stage: 3,
        code: 'FullyShardedDataParallel(model, sharding_strategy=ShardingStrategy.FULL_SHARD)',
        short: 'FSDP FULL_SHARD',
      };
    case 'ddp':
      return { stage: 0, code: 'DistributedDataParallel(model)', short: 'DDP' };
    default:
      return {
        stage: 0,
        code: `data parallelism: ${s.dataParallel.text}`,
        short: s.dataParallel.value === null ? 'data parallelism unknown' : s.dataParallel.text,
      };
  }
}
