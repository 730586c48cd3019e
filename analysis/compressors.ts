/**
 * Gradient compressors the what-if replay and the advisor know: how much volume each
 * sends, what encoding costs, what memory it adds, and what its paper found.
 * Figures: docs/references.md (fp16 cast; 1-bit Adam arXiv 2102.02888; DGC arXiv 1712.01887;
 * PowerSGD arXiv 1905.13727; error feedback, Karimireddy et al. ICML 2019).
 */
import { hasStrategy } from '../trace/strategyIds';

export type CompressorName = 'fp16' | 'bf16' | 'int8-ef' | 'topk-dgc' | 'powersgd' | 'onebit-adam';

export interface Compressor {
  name: CompressorName;
  title: string;
  /** The same in PyTorch terms (for imported traces). */
  pytorchTitle: string;
  /**
   * Bytes sent per byte of the fp32 dense all-reduce it replaces, for n ranks. Top-k is
   * all-gathered (values + indices of density·M elements from every rank), so it grows with n.
   */
  volumeRatio: (n: number) => number;
  /** Encode + decode throughput on a CUDA GPU, GB/s of uncompressed gradient. */
  encodeGBpsGpu: number;
  /**
   * The same for CommLens, whose codecs run on the host in JavaScript, per CPU core: the
   * runtime's own codecs (runtime/strategies) measured inside real training runs (mlp-small,
   * 4 ranks on a 2-core machine, 12 steps; Σ encode + decode spans per rank and step, times
   * the 0.5 core each rank had), 2026-11-23. Ranks that share fewer cores get less. Only
   * for traces without the host probe's measurement (imported traces, older CommLens runs).
   */
  encodeGBpsCpu: number;
  /**
   * How CommLens' own strategy sends one bucket of G gradient bytes over n ranks: its
   * collectives in order, each with its buffer S as a fraction of G (nccl-tests' S). Used
   * to replay CommLens runs as the strategy will run; imported PyTorch traces keep their
   * buckets and scale each collective instead (DDP comm hooks compress per bucket).
   */
  exchange: (n: number) => { op: string; fraction: number }[];
  /** Extra bytes per parameter (error-feedback residual, momentum copies). */
  extraBytesPerParam: number;
  lossy: boolean;
  risk: string;
  source: string;
  pytorchHint: string;
}

/** Top-k density used by Deep Gradient Compression (0.1 %). */
export const DGC_DENSITY = 0.001;
/** PowerSGD's volume relative to dense when the layer shapes are unknown (≈ rank-4 approximations of typical layers). */
export const POWERSGD_RATIO = 1 / 32;

/** CommLens' compressed all-reduce (runtime/strategies/compressedAllReduce.ts): everyone's encoded shards all-to-all, the re-encoded average all-gathered. */
const viaAllToAll = (ratio: number) => [
  { op: 'allToAll', fraction: ratio },
  { op: 'allGather', fraction: ratio },
];
const INT8_RATIO = 0.25 + 1 / 256;
const SIGN_RATIO = 1 / 32 + 1 / 1024;

export const COMPRESSORS: Record<CompressorName, Compressor> = {
  fp16: {
    name: 'fp16',
    title: 'Send gradients in fp16',
    pytorchTitle: 'Register DDP comm hook fp16_compress_hook',
    volumeRatio: () => 0.5,
    encodeGBpsGpu: 400,
    encodeGBpsCpu: 0.082,
    exchange: () => [{ op: 'allReduce', fraction: 0.5 }],
    extraBytesPerParam: 0,
    lossy: true,
    risk: 'Low: gradients lose mantissa bits and may underflow; loss scaling (as in mixed-precision training) keeps small gradients. Widely used without accuracy loss.',
    source: 'PyTorch DDP communication hook fp16_compress_hook',
    pytorchHint:
      'ddp_model.register_comm_hook(None, torch.distributed.algorithms.ddp_comm_hooks.default_hooks.fp16_compress_hook)',
  },
  bf16: {
    name: 'bf16',
    title: 'Send gradients in bf16',
    pytorchTitle: 'Register DDP comm hook bf16_compress_hook',
    volumeRatio: () => 0.5,
    encodeGBpsGpu: 400,
    encodeGBpsCpu: 0.13,
    exchange: () => viaAllToAll(0.5),
    extraBytesPerParam: 0,
    lossy: true,
    risk: "Low: bf16 keeps fp32's range (no underflow) with fewer mantissa bits; standard in large-model training.",
    source: 'PyTorch DDP communication hook bf16_compress_hook',
    pytorchHint:
      'ddp_model.register_comm_hook(None, torch.distributed.algorithms.ddp_comm_hooks.default_hooks.bf16_compress_hook)',
  },
  'int8-ef': {
    name: 'int8-ef',
    title: 'Quantize gradients to int8 with error feedback',
    pytorchTitle: 'int8 gradient comm hook with error feedback',
    volumeRatio: () => INT8_RATIO,
    encodeGBpsGpu: 200,
    encodeGBpsCpu: 0.07,
    exchange: () => viaAllToAll(INT8_RATIO),
    extraBytesPerParam: 4,
    lossy: true,
    risk: 'Medium: biased quantization; error feedback (the residual added back next step) makes biased compressors converge like SGD (Karimireddy et al., ICML 2019). Watch the loss curve for the first epochs.',
    source: 'QSGD-style int8 quantization with error feedback (Karimireddy et al., ICML 2019)',
    pytorchHint:
      'a custom DDP comm hook that quantizes to int8 with a per-bucket scale and keeps an error-feedback residual (or DeepSpeed compressed communication)',
  },
  'topk-dgc': {
    name: 'topk-dgc',
    title: 'Top-k sparsification (Deep Gradient Compression)',
    pytorchTitle: 'Top-k (DGC) gradient comm hook',
    volumeRatio: (n) => Math.min(2, DGC_DENSITY * Math.max(2, n)),
    encodeGBpsGpu: 20,
    encodeGBpsCpu: 0.11,
    exchange: (n) => [{ op: 'allGather', fraction: 2 * DGC_DENSITY * Math.max(2, n) }],
    extraBytesPerParam: 8,
    lossy: true,
    risk: 'High without its safeguards: DGC needs momentum correction, local gradient accumulation, gradient clipping and a sparsity warm-up; with them the paper reports 270×–600× compression without accuracy loss.',
    source: 'Deep Gradient Compression, Lin et al., arXiv 1712.01887',
    pytorchHint:
      'no built-in DDP hook; use a DGC implementation as a comm hook (top-k 0.1 % with momentum correction and warm-up)',
  },
  powersgd: {
    name: 'powersgd',
    title: 'Low-rank gradients (PowerSGD)',
    pytorchTitle: 'Register DDP comm hook powerSGD_hook',
    volumeRatio: () => POWERSGD_RATIO,
    encodeGBpsGpu: 40,
    encodeGBpsCpu: 0.15,
    exchange: () => [
      { op: 'allReduce', fraction: POWERSGD_RATIO / 2 },
      { op: 'allReduce', fraction: POWERSGD_RATIO / 2 },
    ],
    extraBytesPerParam: 4,
    lossy: true,
    risk: 'Medium: rank-r approximation with error feedback and warm start; the paper matches SGD accuracy on image and language models at rank 1–4. Start with a few full-precision iterations (start_powerSGD_iter).',
    source: 'PowerSGD, Vogels et al., arXiv 1905.13727; PyTorch powerSGD_hook',
    pytorchHint:
      'state = powerSGD_hook.PowerSGDState(process_group=None, matrix_approximation_rank=4, start_powerSGD_iter=1000); ddp_model.register_comm_hook(state, powerSGD_hook.powerSGD_hook)',
  },
  'onebit-adam': {
    name: 'onebit-adam',
    title: '1-bit Adam (sign + scale after a warm-up)',
    pytorchTitle: 'DeepSpeed 1-bit Adam (OneBitAdam)',
    volumeRatio: () => SIGN_RATIO,
    encodeGBpsGpu: 200,
    encodeGBpsCpu: 0.08,
    exchange: () => viaAllToAll(SIGN_RATIO),
    extraBytesPerParam: 4,
    lossy: true,
    risk: 'Medium: needs a full-precision Adam warm-up (≈15–25 % of steps) that freezes the variance; the compressed phase sends signs with error compensation. The paper reports up to 5× less volume overall and up to 3.3× throughput on BERT-Large over 256 GPUs at the same convergence.',
    source: '1-bit Adam, Tang et al., arXiv 2102.02888 (DeepSpeed)',
    pytorchHint:
      'DeepSpeed config: "optimizer": {"type": "OneBitAdam", "params": {"freeze_step": <warm-up steps>, "comm_backend_name": "nccl"}}',
  },
};

/**
 * True when compressing a CommLens run with `method` keeps its gradient buckets: a
 * `ddp-bucketed` run gets `ddp-bucketed+<hook>` (one compressed exchange per bucket);
 * 1-bit Adam is a strategy of its own with one exchange.
 */
export function compressionKeepsBuckets(strategy: string | undefined, method: string): boolean {
  return method !== 'onebit-adam' && hasStrategy(strategy, 'ddp-bucketed');
}

/**
 * Encode + decode ns for `bytes` of gradient: the method's throughput on the trace's kind of
 * device; on the host, per core, scaled by the cores each rank has (at most one). The host
 * figure is `measuredPerCore` (GB/s per core, from the host probe CommLens runs at the start
 * of every run, runtime/hostProbe.ts) when the trace has it, else the constant.
 */
export function encodeDecodeNs(
  c: Compressor,
  bytes: number,
  onGpu: boolean,
  coresPerRank = 1,
  measuredPerCore?: number,
): number {
  // A rank gets at most one core; the floor keeps a nonsense core count from pricing codecs at infinity.
  const perCore = measuredPerCore !== undefined && measuredPerCore > 0 ? measuredPerCore : c.encodeGBpsCpu;
  const gbps = onGpu ? c.encodeGBpsGpu : perCore * Math.min(1, Math.max(0.05, coresPerRank));
  return bytes / gbps;
}
