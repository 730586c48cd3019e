/**
 * Model configuration and its validation. Every setting that cannot work is rejected
 * before any GPU work, with a message naming the setting and what would be allowed.
 */
import { mlpFlopsPerStep } from './models/mlp';
import { expertCapacity } from './ops/moeRouting';

export type GptTask = 'copy' | 'reverse' | 'modadd';

export interface ModelConfig {
  kind: 'mlp' | 'gpt-mini';
  // mlp
  inputDim?: number;
  hiddenDims?: number[];
  classes?: number;
  // gpt-mini
  layers?: number;
  heads?: number;
  dModel?: number;
  seqLen?: number;
  /** Positional table size; seqLen may not exceed it (default: seqLen). */
  maxSeqLen?: number;
  vocab?: number;
  task?: GptTask;
  /** gpt-mini as a mixture of experts: every block's MLP becomes this many experts behind a router. */
  experts?: number;
  /** Experts each token is sent to (default 2, at most experts). */
  topK?: number;
  /** Slots per expert per rank, as a multiple of its even share of the rank's tokens (default 1.25). */
  capacityFactor?: number;
  batchSize: number;
  dtype?: 'f32' | 'f16';
}

/** Defaults filled in, so the rest of the engine reads concrete numbers. */
export interface ResolvedMlp {
  kind: 'mlp';
  inputDim: number;
  hiddenDims: number[];
  classes: number;
  batchSize: number;
  dtype: 'f32' | 'f16';
}
export interface ResolvedGpt {
  kind: 'gpt-mini';
  layers: number;
  heads: number;
  dModel: number;
  seqLen: number;
  maxSeqLen: number;
  vocab: number;
  task: GptTask;
  batchSize: number;
  dtype: 'f32' | 'f16';
  /** Mixture of experts (absent: dense MLPs). */
  moe?: MoeConfig;
}
export interface MoeConfig {
  experts: number;
  topK: number;
  capacityFactor: number;
}
export type ResolvedModel = ResolvedMlp | ResolvedGpt;

/** Head dimension and sequence length the attention kernels hold in registers. */
export const MAX_HEAD_DIM = 128;
export const MAX_ATTENTION_SEQ = 1024;

export function resolveModelConfig(cfg: ModelConfig): ResolvedModel {
  if (cfg.kind === 'mlp') {
    return {
      kind: 'mlp',
      inputDim: cfg.inputDim ?? 32,
      hiddenDims: cfg.hiddenDims ?? [64],
      classes: cfg.classes ?? 8,
      batchSize: cfg.batchSize,
      dtype: cfg.dtype ?? 'f32',
    };
  }
  const seqLen = cfg.seqLen ?? 16;
  return {
    kind: 'gpt-mini',
    layers: cfg.layers ?? 2,
    heads: cfg.heads ?? 2,
    dModel: cfg.dModel ?? 32,
    seqLen,
    maxSeqLen: cfg.maxSeqLen ?? seqLen,
    vocab: cfg.vocab ?? 16,
    task: cfg.task ?? 'copy',
    batchSize: cfg.batchSize,
    dtype: cfg.dtype ?? 'f32',
    ...(cfg.experts !== undefined
      ? {
          moe: {
            experts: cfg.experts,
            topK: cfg.topK ?? Math.min(2, cfg.experts),
            capacityFactor: cfg.capacityFactor ?? 1.25,
          },
        }
      : {}),
  };
}

const isPosInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;

/** The largest buffers a training step needs, in bytes, by what they hold. */
export function largestBuffers(r: ResolvedModel): { what: string; bytes: number }[] {
  if (r.kind === 'mlp') {
    const dims = [r.inputDim, ...r.hiddenDims, r.classes];
    let params = 0;
    for (let i = 0; i + 1 < dims.length; i++) params += dims[i] * dims[i + 1] + dims[i + 1];
    return [
      { what: 'flat parameter buffer', bytes: params * 4 },
      { what: 'widest activation (batchSize × widest layer)', bytes: r.batchSize * Math.max(...dims) * 4 },
    ];
  }
  const { batchSize: B, seqLen: T, dModel: D, heads: H, vocab: V, layers: L, maxSeqLen } = r;
  const perLayer = r.moe
    ? 4 * D * D + 8 * D + D * r.moe.experts + r.moe.experts + r.moe.experts * 8 * D * D
    : 12 * D * D + 13 * D;
  const params = V * D + maxSeqLen * D + L * perLayer + 2 * D + D * V + V;
  const moe = r.moe
    ? [
        {
          what: 'MoE expert hidden activation (experts × capacity × 4·dModel)',
          bytes: r.moe.experts * expertCapacity(B * T, r.moe.experts, r.moe.topK, r.moe.capacityFactor) * 4 * D * 4,
        },
      ]
    : [];
  return [
    ...moe,
    { what: 'flat parameter buffer', bytes: params * 4 },
    { what: 'logits (batchSize × seqLen × vocab)', bytes: B * T * V * 4 },
    { what: 'attention probabilities (batchSize × heads × seqLen²)', bytes: B * H * T * T * 4 },
    { what: 'MLP hidden activation (batchSize × seqLen × 4·dModel)', bytes: B * T * 4 * D * 4 },
  ];
}

/**
 * Returns [] when `cfg` can run, else one message per problem, each naming the setting
 * and the allowed values or the limit it breaks.
 */
export function validateModelConfig(
  cfg: ModelConfig,
  limits?: GPUSupportedLimits,
  features?: ReadonlySet<string>,
): string[] {
  const errs: string[] = [];
  if (!cfg || (cfg.kind !== 'mlp' && cfg.kind !== 'gpt-mini'))
    return [`model.kind is ${JSON.stringify(cfg?.kind)}; allowed: 'mlp' or 'gpt-mini'`];
  if (!isPosInt(cfg.batchSize))
    errs.push(`model.batchSize is ${JSON.stringify(cfg.batchSize)}; it must be a positive integer`);
  if (cfg.dtype !== undefined && cfg.dtype !== 'f32' && cfg.dtype !== 'f16')
    errs.push(`model.dtype is ${JSON.stringify(cfg.dtype)}; allowed: 'f32' or 'f16'`);
  if (cfg.dtype === 'f16' && features && !features.has('shader-f16'))
    errs.push(`model.dtype is 'f16' but the adapter lacks the 'shader-f16' feature; use 'f32'`);
  errs.push(...validateMoeSettings(cfg));
  const r = resolveModelConfig(cfg);
  if (r.kind === 'mlp') {
    if (!isPosInt(r.inputDim))
      errs.push(`model.inputDim is ${JSON.stringify(cfg.inputDim)}; it must be a positive integer`);
    if (!Array.isArray(r.hiddenDims) || !r.hiddenDims.every(isPosInt))
      errs.push(`model.hiddenDims is ${JSON.stringify(cfg.hiddenDims)}; it must be an array of positive integers`);
    if (!isPosInt(r.classes) || r.classes < 2)
      errs.push(`model.classes is ${JSON.stringify(cfg.classes)}; it must be an integer ≥ 2`);
  } else {
    for (const k of ['layers', 'heads', 'dModel', 'seqLen', 'maxSeqLen', 'vocab'] as const) {
      if (!isPosInt(r[k])) errs.push(`model.${k} is ${JSON.stringify(cfg[k])}; it must be a positive integer`);
    }
    if (!['copy', 'reverse', 'modadd'].includes(r.task))
      errs.push(`model.task is ${JSON.stringify(cfg.task)}; allowed: 'copy', 'reverse', 'modadd'`);
    if (errs.length === 0) {
      if (r.dModel % r.heads !== 0)
        errs.push(
          `model.heads (${r.heads}) must divide model.dModel (${r.dModel}); divisors of ${r.dModel}: ${divisors(r.dModel).join(', ')}`,
        );
      else if (r.dModel / r.heads > MAX_HEAD_DIM)
        errs.push(
          `model.dModel / model.heads = ${r.dModel / r.heads} exceeds the maximum head dimension ${MAX_HEAD_DIM}; use more heads`,
        );
      if (r.seqLen > r.maxSeqLen)
        errs.push(
          `model.seqLen (${r.seqLen}) exceeds model.maxSeqLen (${r.maxSeqLen}), the configured maximum sequence length`,
        );
      if (r.seqLen > MAX_ATTENTION_SEQ)
        errs.push(
          `model.seqLen (${r.seqLen}) exceeds ${MAX_ATTENTION_SEQ}, the longest sequence the attention kernels support`,
        );
      const minSeq = r.task === 'modadd' ? 4 : 3;
      if (r.seqLen < minSeq)
        errs.push(`model.seqLen (${r.seqLen}) is too short for task '${r.task}'; it needs at least ${minSeq}`);
      if (r.vocab < 3) errs.push(`model.vocab (${r.vocab}) is too small for task '${r.task}'; it needs at least 3`);
    }
  }
  if (errs.length === 0 && limits) {
    const maxBinding = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
    for (const b of largestBuffers(r)) {
      if (b.bytes > maxBinding)
        errs.push(
          `model too large for the adapter: the ${b.what} needs ${b.bytes} bytes, over the adapter's maxStorageBufferBindingSize/maxBufferSize limit of ${maxBinding} bytes; reduce model.batchSize or the model size`,
        );
    }
  }
  return errs;
}

/** The mixture-of-experts settings (model.experts, model.topK, model.capacityFactor). */
function validateMoeSettings(cfg: ModelConfig): string[] {
  const errs: string[] = [];
  const { experts, topK, capacityFactor } = cfg;
  if (experts === undefined) {
    for (const k of ['topK', 'capacityFactor'] as const)
      if (cfg[k] !== undefined)
        errs.push(
          `model.${k} is set but model.experts is not; set model.experts (e.g. 4) to make gpt-mini a mixture of experts, or remove model.${k}`,
        );
    return errs;
  }
  if (cfg.kind !== 'gpt-mini')
    return [`model.experts needs model.kind 'gpt-mini' (its MLPs become experts); got '${cfg.kind}'`];
  if (!isPosInt(experts) || experts > 256)
    return [`model.experts is ${JSON.stringify(experts)}; it must be an integer from 1 to 256`];
  if (topK !== undefined && (!isPosInt(topK) || topK > experts))
    errs.push(`model.topK is ${JSON.stringify(topK)}; it must be an integer from 1 to model.experts (${experts})`);
  if (
    capacityFactor !== undefined &&
    !(typeof capacityFactor === 'number' && capacityFactor > 0 && Number.isFinite(capacityFactor))
  )
    errs.push(
      `model.capacityFactor is ${JSON.stringify(capacityFactor)}; it must be a number > 0 (each expert takes up to capacityFactor × its even share of a rank's tokens, e.g. 1.25)`,
    );
  if (cfg.dtype === 'f16')
    errs.push(`model.dtype 'f16' does not run with model.experts (the experts compute in f32); use 'f32'`);
  return errs;
}

function divisors(n: number): number[] {
  const out: number[] = [];
  for (let i = 1; i <= n && out.length < 12; i++) if (n % i === 0) out.push(i);
  return out;
}

/** Analytic FLOPs per training step of a resolved model. */
export function modelFlopsPerStep(r: ResolvedModel): number {
  if (r.kind === 'mlp') return mlpFlopsPerStep(r);
  return gptFlopsPerStep(r);
}

/**
 * Forward FLOPs of one MoE block on one rank: the router, and the experts over every slot
 * they run (E·C rows of 2 products D×4D whatever the expert-parallel size: each of P
 * ranks runs E/P experts on the P·C slots it receives), empty slots included.
 */
export function moeFlopsFwdPerLayer(tokens: number, D: number, moe: MoeConfig): number {
  const C = expertCapacity(tokens, moe.experts, moe.topK, moe.capacityFactor);
  return 2 * tokens * D * moe.experts + 2 * moe.experts * C * 8 * D * D;
}

/**
 * Matmul FLOPs ×3 (forward, and backward's two products) plus attention's QKᵀ and PV
 * (counted over the causal half the kernels compute).
 */
export function gptFlopsPerStep(r: Omit<ResolvedGpt, 'kind' | 'task' | 'dtype' | 'maxSeqLen'>): number {
  const { batchSize: B, seqLen: T, dModel: D, layers: L, vocab: V } = r;
  const tokens = B * T;
  const mlpFwd = r.moe ? moeFlopsFwdPerLayer(tokens, D, r.moe) : 2 * tokens * 8 * D * D;
  const matmulFwd = 2 * tokens * (L * (3 * D * D + D * D) + D * V) + L * mlpFwd;
  const causalPairs = (T * (T + 1)) / 2;
  const attnFwd = L * B * 2 * 2 * causalPairs * D;
  return 3 * (matmulFwd + attnFwd);
}
