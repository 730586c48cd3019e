/**
 * The advisor's catalogue beyond compression (compressors.ts): overlap and bucketing,
 * local updates, sharding, sequence parallelism, stragglers, imbalance, a slow link and
 * a host-bound GPU. Each entry: what it is called in CommLens and in PyTorch, the exact
 * config change, the risk, and the system or paper it comes from (docs/references.md).
 */
import type { CompressorName } from '../compressors';

export interface CatalogueEntry {
  kind: string;
  risk: string;
  source: string;
}

export const OVERLAP: CatalogueEntry = {
  kind: 'overlap',
  risk: 'None for convergence (the same gradients are summed). Smaller buckets add per-message latency; larger ones start communicating later.',
  source:
    'PyTorch DistributedDataParallel gradient bucketing (25 MiB default cap, first bucket 1 MiB, buckets launched as soon as their gradients are ready)',
};

export const LOCAL_UPDATES: CatalogueEntry = {
  kind: 'local-updates',
  risk: 'Changes the optimization: ranks drift apart for H inner steps and are pulled together by an outer Nesterov step on the parameter deltas. DiLoCo reports similar quality with far less communication; tune H and the outer learning rate, and compare loss curves.',
  source:
    'DiLoCo (H inner AdamW steps, outer Nesterov on parameter deltas); CO2 (local updates with asynchronous communication, staleness gap penalty)',
};

export const STREAMING: CatalogueEntry = {
  kind: 'local-updates',
  risk: 'As DiLoCo, plus fragments are synchronized with a delay of up to H steps. Streaming DiLoCo reports two orders of magnitude less peak bandwidth at similar quality.',
  source: 'Streaming DiLoCo (fragment-wise synchronization overlapped with the next inner steps, quantized)',
};

export const ZERO: Record<1 | 2 | 3, CatalogueEntry & { pytorch: string; deepspeed: string }> = {
  1: {
    kind: 'sharding',
    risk: 'None for convergence. Adds an all-gather of the updated parameters after the optimizer.',
    source:
      'ZeRO stage 1, Rajbhandari et al., arXiv 1910.02054 (optimizer states partitioned: 4Ψ + KΨ/N bytes per rank)',
    pytorch: 'torch.distributed.optim.ZeroRedundancyOptimizer(params, optimizer_class=torch.optim.AdamW)',
    deepspeed: '"zero_optimization": {"stage": 1}',
  },
  2: {
    kind: 'sharding',
    risk: 'None for convergence. Gradients are reduce-scattered and the updated parameters all-gathered: two collectives over the whole buffer where DDP runs one all-reduce, so bytes per step (the sum of buffer sizes) double, while the bytes each rank puts on the wire stay those of one all-reduce, 2(n−1)/n of the buffer.',
    source:
      'ZeRO stage 2, Rajbhandari et al., arXiv 1910.02054 (gradients and optimizer states partitioned: 2Ψ + 14Ψ/N)',
    pytorch: 'FullyShardedDataParallel(model, sharding_strategy=ShardingStrategy.SHARD_GRAD_OP)',
    deepspeed: '"zero_optimization": {"stage": 2}',
  },
  3: {
    kind: 'sharding',
    risk: "None for convergence, but 1.5× DDP's communication volume (parameters all-gathered in forward and backward): worth it when the model does not fit otherwise.",
    source:
      'ZeRO stage 3, Rajbhandari et al., arXiv 1910.02054 (everything partitioned: 16Ψ/N); ZeRO trains 100B+ parameters on 400 GPUs',
    pytorch: 'FullyShardedDataParallel(model, sharding_strategy=ShardingStrategy.FULL_SHARD)',
    deepspeed: '"zero_optimization": {"stage": 3}',
  },
};

export const SEQUENCE_PARALLEL: CatalogueEntry = {
  kind: 'sequence-parallel',
  risk: 'None for convergence; needs attention heads divisible by the degree. Adds all-to-alls of Q, K, V and the output per layer (4·N·h/P per link).',
  source: 'DeepSpeed-Ulysses (2.5× faster at 4× longer sequences than the prior state of the art)',
};

export const STRAGGLER: CatalogueEntry = {
  kind: 'straggler',
  risk: 'None: a diagnosis. Look for a slower device, thermal throttling, a noisy neighbour, or more data on that rank.',
  source:
    'MegaScale (in-depth straggler diagnosis at 12,288 GPUs); PyTorch profiler distributed view (transfer = min duration across ranks, wait = excess)',
};

export const IMBALANCE: CatalogueEntry = {
  kind: 'imbalance',
  risk: 'None: a diagnosis. Uneven batches (variable sequence lengths, uneven sharding of data or embeddings) make every rank wait for the busiest.',
  source: 'ByteScale (dynamic balancing of data and context parallelism, up to 7.89×)',
};

export const SLOW_LINK: CatalogueEntry = {
  kind: 'link',
  risk: 'None: a diagnosis of the interconnect. Check the topology (PCIe vs NVLink, the NIC per GPU), NCCL_ALGO / NCCL_PROTO, and that no other traffic shares the link.',
  source: "nccl-tests bus bandwidth (busbw = algbw × 2(n−1)/n for all-reduce), compared to the link's specification",
};

export const HOST_BOUND: CatalogueEntry = {
  kind: 'host-bound',
  risk: 'None for convergence. CUDA graphs need static shapes; a larger batch changes the optimization.',
  source:
    "Holistic Trace Analysis idle-time breakdown (host wait: the kernel's launch started after the previous kernel ended)",
};

/** Risk weight of a method in the score: lossless 1, well-established lossy casts 0.95, the rest lower. */
export const RISK_WEIGHT: Record<
  CompressorName | 'overlap' | 'sharding' | 'local-updates' | 'sequence-parallel',
  number
> = {
  fp16: 0.95,
  bf16: 0.95,
  'int8-ef': 0.8,
  powersgd: 0.75,
  'onebit-adam': 0.7,
  'topk-dgc': 0.5,
  overlap: 1,
  sharding: 1,
  'local-updates': 0.6,
  'sequence-parallel': 0.9,
};

export const LAYOUT: CatalogueEntry = {
  kind: 'layout',
  risk: 'None for convergence: the same model and the same global batch (the batch per data-parallel replica changes with the number of replicas). Model parallelism puts communication on the critical path of every layer (TP) or idles stages in the bubble (PP); the prediction states each.',
  source:
    'Megatron-LM tensor parallelism (Shoeybi et al. 2019), its sequence parallelism and activation count (Korthikanti et al. 2022), GPipe and 1F1B / PipeDream-Flush pipelines (bubble (p−1)/(m+p−1), Narayanan et al. 2021), DeepSpeed-Ulysses, GShard expert parallelism with overlapped all-to-alls (Comet)',
};
