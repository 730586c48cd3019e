/**
 * Strategy ids, how they combine, their options (config.strategyOptions) with defaults,
 * and the checks that refuse a combination that cannot work before any GPU work, with a
 * message naming the conflict and a working alternative.
 */
import type { ModelSettings, RunConfig } from '../config';
import { DEFAULT_BUCKET_CAP_MB, DEFAULT_FIRST_BUCKET_CAP_MB } from './buckets';
import {
  STRATEGY_IDS,
  HOOK_IDS,
  SHARD_IDS,
  LOCAL_IDS,
  DEFAULT_LOCAL_STEPS,
  parseStrategyIds as parseIds,
  type StrategyId,
} from '../../trace/strategyIds';
import { validateLayout } from '../comm/layout';
import { expertCapacity } from '../engine/ops/moeRouting';

export { STRATEGY_IDS, HOOK_IDS, SHARD_IDS, LOCAL_IDS };
export type { StrategyId };

/** Every option: the strategies that read it, its check, its default. */
interface OptionSpec {
  owners: readonly StrategyId[];
  kind: 'number' | 'int' | 'bool' | 'enum';
  min?: number;
  max?: number;
  values?: readonly string[];
  help: string;
}

export const OPTION_SPECS: Record<string, OptionSpec> = {
  bucketCapMb: {
    owners: ['ddp-bucketed', 'zero2'],
    kind: 'number',
    min: 1e-4,
    max: 4096,
    help: `bucket cap in MiB (default ${DEFAULT_BUCKET_CAP_MB}, as PyTorch DDP)`,
  },
  firstBucketCapMb: {
    owners: ['ddp-bucketed', 'zero2'],
    kind: 'number',
    min: 1e-4,
    max: 4096,
    help: `cap of the first bucket in MiB (default ${DEFAULT_FIRST_BUCKET_CAP_MB})`,
  },
  int8ChunkSize: {
    owners: ['int8-ef', 'streaming-diloco'],
    kind: 'int',
    min: 8,
    max: 1 << 20,
    help: 'values per int8 scale (default 256)',
  },
  density: {
    owners: ['topk-dgc'],
    kind: 'number',
    min: 1e-6,
    max: 1,
    help: 'fraction of gradient entries sent per step after warm-up (default 0.01)',
  },
  dgcMomentum: {
    owners: ['topk-dgc'],
    kind: 'number',
    min: 0,
    max: 0.999,
    help: 'momentum of DGC momentum correction (default 0.9 with plain SGD, 0 with Adam/AdamW)',
  },
  dgcWarmupSteps: {
    owners: ['topk-dgc'],
    kind: 'int',
    min: 0,
    max: 1e6,
    help: 'steps of sparsity warm-up from 25% density (default 4)',
  },
  dgcClipNorm: {
    owners: ['topk-dgc'],
    kind: 'number',
    min: 1e-9,
    max: 1e9,
    help: 'local gradient clipping threshold (default none)',
  },
  powerSgdRank: {
    owners: ['powersgd'],
    kind: 'int',
    min: 1,
    max: 256,
    help: 'rank r of the approximation (default 1, as PyTorch)',
  },
  // With Adam, the first steps move every entry by ~lr whatever its gradient's size (the
  // variance is still g² of a batch or two), so a rank-r approximation moves all weights
  // by lr in its own pattern: on mlp-small, rank 1 from step 0 took the loss from 2.89 to
  // 3.56 and stayed near 1.6 after 8 steps (DDP: 1e-4). PyTorch's start_powerSGD_iter is
  // the remedy; the default is the share of the run the 1-bit Adam paper reports (20%).
  powerSgdStartStep: {
    owners: ['powersgd'],
    kind: 'int',
    min: 0,
    max: 1e6,
    help: 'steps of plain all-reduce before compressing (default: with Adam/AdamW, 20% of the steps, at least 2, the share after which the 1-bit Adam paper found the variance stable; with SGD 0)',
  },
  // Without it the variance freezes once stable (trace/onebitWarmup.ts). A fixed count: one
  // step of variance is g² of a single batch, too little to freeze, so at least 2 steps.
  // (Entries still at zero variance when it freezes are left alone: onebitAdam.ts.)
  onebitWarmupSteps: {
    owners: ['onebit-adam'],
    kind: 'int',
    min: 2,
    max: 1e6,
    help: 'full-precision Adam steps before the variance freezes (default: freeze once the relative change of the variance over a step is ≤ 0.25, after at least max(3, 15% of the steps) and at most half the steps)',
  },
  onebitChunkSize: {
    owners: ['onebit-adam'],
    kind: 'int',
    min: 8,
    max: 1 << 24,
    help: 'values per sign scale (default 2048)',
  },
  zero3Prefetch: {
    owners: ['zero3'],
    kind: 'bool',
    help: 'gather the next layer while the current one is being written (default true)',
  },
  localSteps: {
    owners: ['localsgd', 'diloco', 'streaming-diloco'],
    kind: 'int',
    min: 1,
    max: 1e6,
    help: 'H, inner steps between synchronisations (default 4)',
  },
  outerLr: {
    owners: ['diloco', 'streaming-diloco'],
    kind: 'number',
    min: 1e-6,
    max: 10,
    help: 'outer Nesterov learning rate (default 0.7)',
  },
  outerMomentum: {
    owners: ['diloco', 'streaming-diloco'],
    kind: 'number',
    min: 0,
    max: 0.999,
    help: 'outer Nesterov momentum (default 0.9)',
  },
  fragments: {
    owners: ['streaming-diloco'],
    kind: 'int',
    min: 1,
    max: 1024,
    help: 'parameter fragments synchronised in turn (default 2)',
  },
  overlapSteps: {
    owners: ['streaming-diloco'],
    kind: 'int',
    min: 0,
    max: 1e6,
    help: 'inner steps a fragment sync overlaps before it is applied (default 1)',
  },
  mixing: {
    owners: ['streaming-diloco'],
    kind: 'number',
    min: 0,
    max: 1,
    help: 'weight of the local fragment when merging the synced one (default 0.5)',
  },
  quantize: {
    owners: ['streaming-diloco'],
    kind: 'enum',
    values: ['none', 'fp16', 'int8'],
    help: 'encoding of the fragment deltas on the wire (default none)',
  },
  sequenceParallelSize: {
    owners: ['ulysses'],
    kind: 'int',
    min: 1,
    max: 16,
    help: 'ranks sharing one sequence (default worldSize)',
  },
  contextParallelSize: {
    owners: ['ring'],
    kind: 'int',
    min: 1,
    max: 16,
    help: 'ranks sharing one sequence in a ring (ring attention; must divide worldSize and model.seqLen; default worldSize)',
  },
  tensorParallelSize: {
    owners: ['tp'],
    kind: 'int',
    min: 1,
    max: 16,
    help: 'ranks sharing each layer (Megatron tensor parallelism; default worldSize)',
  },
  pipelineParallelSize: {
    owners: ['pp'],
    kind: 'int',
    min: 1,
    max: 16,
    help: 'pipeline stages (GPipe; default worldSize)',
  },
  microBatches: {
    owners: ['pp'],
    kind: 'int',
    min: 1,
    max: 1024,
    help: 'micro-batches per step; must divide model.batchSize (default: the number of stages)',
  },
  schedule: {
    owners: ['pp'],
    kind: 'enum',
    values: ['gpipe', '1f1b'],
    help: "pipeline schedule: 'gpipe' (every forward, then every backward) or '1f1b' (warm-up forwards, one forward one backward, cool-down backwards: at most `stages` micro-batches in flight; needs microBatches ≥ stages) (default gpipe)",
  },
  expertParallelSize: {
    owners: ['ep'],
    kind: 'int',
    min: 1,
    max: 16,
    help: 'ranks sharing the experts of each MoE block (must divide model.experts and worldSize; default worldSize)',
  },
  overlapChunks: {
    owners: ['ep'],
    kind: 'int',
    min: 1,
    max: 1024,
    help: "chunks each expert all-to-all is cut into, pipelined with the experts' compute (Comet-style overlap; default 1: no overlap)",
  },
  sequenceParallel: {
    owners: ['tp'],
    kind: 'bool',
    help: "Megatron's sequence parallelism inside each tp group: layer norms on token shards, all-gather / reduce-scatter instead of all-reduce (default false)",
  },
};

export interface ResolvedOptions {
  bucketCapMb: number;
  firstBucketCapMb: number;
  int8ChunkSize: number;
  density: number;
  dgcMomentum: number;
  dgcWarmupSteps: number;
  dgcClipNorm?: number;
  powerSgdRank: number;
  powerSgdStartStep: number;
  /** A fixed 1-bit Adam warm-up; undefined: the adaptive rule (trace/onebitWarmup.ts). */
  onebitWarmupSteps?: number;
  onebitChunkSize: number;
  zero3Prefetch: boolean;
  localSteps: number;
  outerLr: number;
  outerMomentum: number;
  fragments: number;
  overlapSteps: number;
  mixing: number;
  quantize: 'none' | 'fp16' | 'int8';
  sequenceParallelSize: number;
  contextParallelSize: number;
  tensorParallelSize: number;
  sequenceParallel: boolean;
  pipelineParallelSize: number;
  microBatches: number;
  schedule: 'gpipe' | '1f1b';
  expertParallelSize: number;
  overlapChunks: number;
}

/** The ids of a validated `strategy` string (trace/strategyIds.ts holds the one parser). */
export function parseStrategyIds(strategy: string): StrategyId[] {
  return parseIds(strategy) as StrategyId[];
}

/** Options with defaults filled in (assumes validateStrategyConfig passed). */
export function resolveOptions(config: RunConfig): ResolvedOptions {
  const o = (config.strategyOptions ?? {}) as Partial<ResolvedOptions>;
  const sgdMomentum = config.optimizer.kind === 'sgd' ? (config.optimizer.momentum ?? 0) : 0;
  // PowerSGD under Adam: plain all-reduce for the share of the run after which the 1-bit Adam
  // paper found Adam's variance stable (15-25%): 20% of the run, never fewer than 2 steps.
  const adamWarmup = Math.max(2, Math.round(config.steps * 0.2));
  return {
    bucketCapMb: o.bucketCapMb ?? DEFAULT_BUCKET_CAP_MB,
    firstBucketCapMb: o.firstBucketCapMb ?? DEFAULT_FIRST_BUCKET_CAP_MB,
    int8ChunkSize: o.int8ChunkSize ?? 256,
    density: o.density ?? 0.01,
    dgcMomentum: o.dgcMomentum ?? (config.optimizer.kind === 'sgd' && sgdMomentum === 0 ? 0.9 : 0),
    dgcWarmupSteps: o.dgcWarmupSteps ?? 4,
    dgcClipNorm: o.dgcClipNorm,
    powerSgdRank: o.powerSgdRank ?? 1,
    powerSgdStartStep:
      o.powerSgdStartStep ??
      (config.optimizer.kind === 'sgd' ? 0 : Math.min(adamWarmup, Math.max(0, config.steps - 1))),
    onebitWarmupSteps: o.onebitWarmupSteps,
    onebitChunkSize: o.onebitChunkSize ?? 2048,
    zero3Prefetch: o.zero3Prefetch ?? true,
    localSteps: o.localSteps ?? DEFAULT_LOCAL_STEPS,
    outerLr: o.outerLr ?? 0.7,
    outerMomentum: o.outerMomentum ?? 0.9,
    fragments: o.fragments ?? 2,
    overlapSteps: o.overlapSteps ?? 1,
    mixing: o.mixing ?? 0.5,
    quantize: o.quantize ?? 'none',
    sequenceParallelSize: o.sequenceParallelSize ?? config.worldSize,
    contextParallelSize: o.contextParallelSize ?? config.worldSize,
    tensorParallelSize: o.tensorParallelSize ?? config.worldSize,
    sequenceParallel: o.sequenceParallel ?? false,
    pipelineParallelSize: o.pipelineParallelSize ?? config.worldSize,
    microBatches: o.microBatches ?? o.pipelineParallelSize ?? config.worldSize,
    schedule: o.schedule ?? 'gpipe',
    expertParallelSize: o.expertParallelSize ?? config.worldSize,
    overlapChunks: o.overlapChunks ?? 1,
  };
}

/** The divisors of n (n ≥ 1), ascending; [] otherwise. */
function divisorsOf(n: number): number[] {
  if (!Number.isSafeInteger(n) || n < 1) return [];
  const low: number[] = [];
  const high: number[] = [];
  for (let d = 1; d * d <= n; d++)
    if (n % d === 0) {
      low.push(d);
      if (d * d !== n) high.unshift(n / d);
    }
  return [...low, ...high];
}

/** Parameter count implied by the model settings (the engine's layout: weights and biases; GPT with tied-free head). */
export function estimateParamCount(m: ModelSettings): number {
  if (m.kind === 'mlp') {
    const dims = [m.inputDim ?? 0, ...(m.hiddenDims ?? []), m.classes ?? 0];
    let n = 0;
    for (let i = 0; i + 1 < dims.length; i++) n += dims[i] * dims[i + 1] + dims[i + 1];
    return n;
  }
  const d = m.dModel ?? 0;
  const perLayer = 4 * d * d + 4 * d + 8 * d * d + 5 * d + 4 * d;
  return (
    (m.vocab ?? 0) * d + (m.seqLen ?? 0) * d + (m.layers ?? 0) * perLayer + 2 * d + d * (m.vocab ?? 0) + (m.vocab ?? 0)
  );
}

function checkOption(key: string, v: unknown, spec: OptionSpec): string | undefined {
  const got = JSON.stringify(v);
  if (spec.kind === 'bool')
    return typeof v === 'boolean' ? undefined : `strategyOptions.${key}: got ${got}, expected true or false`;
  if (spec.kind === 'enum')
    return spec.values!.includes(v as string)
      ? undefined
      : `strategyOptions.${key}: got ${got}, expected one of ${spec.values!.map((x) => `"${x}"`).join(', ')}`;
  const ok =
    typeof v === 'number' &&
    Number.isFinite(v) &&
    v >= spec.min! &&
    v <= spec.max! &&
    (spec.kind === 'number' || Number.isInteger(v));
  return ok
    ? undefined
    : `strategyOptions.${key}: got ${got}, expected ${spec.kind === 'int' ? 'an integer' : 'a number'} from ${spec.min} to ${spec.max} (${spec.help})`;
}

/** Checks strategy ids and strategyOptions together; returns messages naming each conflict and a working alternative. */
export function validateStrategyConfig(config: RunConfig): string[] {
  const problems: string[] = [];
  if (typeof config.strategy !== 'string')
    return [`strategy: got ${JSON.stringify(config.strategy)}, expected one of ${STRATEGY_IDS.join(', ')}`];
  const ids = parseStrategyIds(config.strategy);
  const unknown = ids.filter((s) => !(STRATEGY_IDS as readonly string[]).includes(s));
  if (unknown.length)
    return [
      `strategy: unknown id ${unknown.map((u) => `'${u}'`).join(', ')}; expected ${STRATEGY_IDS.join(', ')} (combine with '+')`,
    ];
  const dup = ids.find((s, i) => ids.indexOf(s) !== i);
  if (dup) problems.push(`strategy: '${dup}' appears twice in '${config.strategy}'`);
  const has = (s: StrategyId): boolean => ids.includes(s);
  const pick = (group: readonly StrategyId[]): StrategyId[] => ids.filter((s) => group.includes(s));
  const hooks = pick(HOOK_IDS);
  const shards = pick(SHARD_IDS);
  const locals = pick(LOCAL_IDS);
  if (hooks.length > 1)
    problems.push(
      `strategy: '${hooks.join("' and '")}' are both communication hooks and only one can compress a bucket; keep one, e.g. 'ddp-bucketed+${hooks[0]}'`,
    );
  if (shards.length > 1)
    problems.push(
      `strategy: '${shards.join("' and '")}' are stages of one method; keep the highest, '${shards[shards.length - 1]}'`,
    );
  if (locals.length > 1)
    problems.push(
      `strategy: '${locals.join("' and '")}' are alternative local-update methods; keep one, e.g. '${locals[locals.length - 1]}'`,
    );
  for (const z of shards) {
    for (const h of hooks) {
      if (z === 'zero3' && ['int8-ef', 'topk-dgc', 'powersgd'].includes(h)) {
        problems.push(
          `strategy: 'zero3+${h}' cannot work: ${h} needs each rank's full gradient (error feedback / low-rank factors over whole tensors), but ZeRO-3 reduce-scatters gradients so each rank only ever holds its shard; use 'zero2' for memory savings, or 'ddp-bucketed+${h}' for less traffic`,
        );
      } else {
        problems.push(
          `strategy: '${z}+${h}' is not supported: the ZeRO stages exchange f32 gradients by reduce-scatter; use '${z}' alone to cut memory, or 'ddp-bucketed+${h}' to cut traffic`,
        );
      }
    }
    if (has('ddp-bucketed'))
      problems.push(
        `strategy: '${z}+ddp-bucketed': ZeRO runs its own gradient exchange; ${z === 'zero1' ? "'zero2' reduce-scatters gradients in buckets during backward" : `use '${z}' alone (it buckets by itself)`}`,
      );
  }
  for (const l of locals) {
    for (const h of hooks)
      problems.push(
        `strategy: '${l}+${h}': local updates exchange parameter deltas every H steps, not gradients, so a gradient hook has nothing to compress; use '${l}' alone${l === 'streaming-diloco' ? ' with strategyOptions.quantize "fp16" or "int8"' : ", or 'streaming-diloco' with strategyOptions.quantize"}`,
      );
    for (const z of shards)
      problems.push(
        `strategy: '${l}+${z}' is not supported: local updates keep a full replica per rank; use '${l}' alone, or '${z}' alone`,
      );
    if (has('ddp-bucketed'))
      problems.push(
        `strategy: '${l}+ddp-bucketed': local updates do not exchange gradients during backward; use '${l}' alone`,
      );
  }
  if (has('onebit-adam')) {
    const others = ids.filter((s) => s !== 'onebit-adam' && s !== 'ddp');
    if (others.length)
      problems.push(
        `strategy: 'onebit-adam' is its own optimizer and gradient exchange and cannot combine with '${others.join("', '")}'; use 'onebit-adam' alone`,
      );
    if (config.optimizer.clipGradNorm !== undefined)
      problems.push(
        `strategy: 'onebit-adam' exchanges compressed momentum after its warm-up, so no rank ever sees the global gradient norm that optimizer.clipGradNorm needs; remove optimizer.clipGradNorm, or use 'int8-ef' (gradients stay whole after decoding)`,
      );
    if (config.optimizer.kind === 'sgd')
      problems.push(
        `strategy: 'onebit-adam' is a variant of Adam but optimizer.kind is "sgd"; set optimizer.kind to "adam" or "adamw", or use 'topk-dgc' / 'int8-ef' for compressed SGD`,
      );
  }
  if (has('topk-dgc') && config.optimizer.kind === 'sgd' && (config.optimizer.momentum ?? 0) > 0) {
    problems.push(
      `strategy: 'topk-dgc' with optimizer.momentum ${config.optimizer.momentum} would apply momentum twice (DGC's momentum correction moves it into the hook); set optimizer.momentum to 0 and strategyOptions.dgcMomentum to ${config.optimizer.momentum}`,
    );
  }
  if (has('ring') && has('ulysses'))
    problems.push(
      `strategy: 'ring' and 'ulysses' are two ways to split attention over the sequence (ring passes key/value blocks round the ranks, Ulysses exchanges heads by all-to-all) and one run uses one; keep 'ring' (with strategyOptions.contextParallelSize) or 'ulysses' (with strategyOptions.sequenceParallelSize)`,
    );
  if (has('ring')) {
    const others = ids.filter((s) => s !== 'ring' && s !== 'ulysses' && s !== 'ddp');
    if (others.length)
      problems.push(`strategy: 'ring' combines with data parallelism ('ddp') only; drop '${others.join("', '")}'`);
    const m = config.model;
    const cp = (config.strategyOptions?.contextParallelSize as number | undefined) ?? config.worldSize;
    if (m.kind !== 'gpt-mini')
      problems.push(
        `strategy: 'ring' (ring attention) splits attention over the sequence and needs model.kind "gpt-mini" (got "${m.kind}"); use 'ddp' for the MLP`,
      );
    else if (Number.isInteger(cp) && cp > 0) {
      const setting = (d: string) => (d === 'cp' ? 'strategyOptions.contextParallelSize' : d);
      problems.push(
        ...validateLayout(
          config.worldSize,
          { cp },
          [{ setting: 'model.seqLen', value: m.seqLen ?? 0, dim: 'cp' }],
          setting,
        ),
      );
    }
  }
  if (has('ulysses')) {
    const others = ids.filter((s) => s !== 'ulysses' && s !== 'ring' && s !== 'ddp');
    if (others.length)
      problems.push(`strategy: 'ulysses' combines with data parallelism ('ddp') only; drop '${others.join("', '")}'`);
    const m = config.model;
    const sp = (config.strategyOptions?.sequenceParallelSize as number | undefined) ?? config.worldSize;
    if (m.kind !== 'gpt-mini')
      problems.push(
        `strategy: 'ulysses' splits attention over the sequence and needs model.kind "gpt-mini" (got "${m.kind}"); use 'ddp' for the MLP`,
      );
    else if (Number.isInteger(sp) && sp > 0) {
      if ((m.heads ?? 0) % sp !== 0)
        problems.push(
          `strategy: 'ulysses' shards attention heads over the ${sp} sequence-parallel ranks, but model.heads ${m.heads} is not divisible by ${sp}; set strategyOptions.sequenceParallelSize to a divisor of ${m.heads} that divides worldSize (e.g. ${largestCommonDivisor(m.heads ?? 1, config.worldSize)}), or model.heads to a multiple of ${sp}`,
        );
      if ((m.seqLen ?? 0) % sp !== 0)
        problems.push(
          `strategy: 'ulysses' splits the sequence over ${sp} ranks, but model.seqLen ${m.seqLen} is not divisible by ${sp}; set model.seqLen to a multiple of ${sp}`,
        );
    }
    if (Number.isInteger(sp) && sp > 0 && config.worldSize % sp !== 0)
      problems.push(
        `strategyOptions.sequenceParallelSize: ${sp} does not divide worldSize ${config.worldSize}; data-parallel groups need worldSize = sequenceParallelSize × dataParallelSize (e.g. sequenceParallelSize ${largestCommonDivisor(config.worldSize, m.heads ?? 1)})`,
      );
  }
  if (has('tp')) {
    const others = ids.filter((s) => s !== 'tp' && s !== 'ddp');
    if (others.length)
      problems.push(`strategy: 'tp' combines with data parallelism ('ddp') only; drop '${others.join("', '")}'`);
    const m = config.model;
    const tp = (config.strategyOptions?.tensorParallelSize as number | undefined) ?? config.worldSize;
    if (m.kind !== 'gpt-mini')
      problems.push(
        `strategy: 'tp' (tensor parallelism) splits attention heads and the MLP across ranks and runs only model.kind "gpt-mini" (got "${m.kind}"); use 'ddp' for the MLP`,
      );
    else if (Number.isInteger(tp) && tp > 0) {
      const setting = (d: string) => (d === 'tp' ? 'strategyOptions.tensorParallelSize' : d);
      const constraints = [{ setting: 'model.heads', value: m.heads ?? 0, dim: 'tp' as const }];
      if (config.strategyOptions?.sequenceParallel === true)
        constraints.push({
          setting: 'model.seqLen (strategyOptions.sequenceParallel)',
          value: m.seqLen ?? 0,
          dim: 'tp',
        });
      problems.push(...validateLayout(config.worldSize, { tp }, constraints, setting));
    }
  }
  if (has('pp')) {
    const others = ids.filter((s) => s !== 'pp' && s !== 'ddp');
    if (others.length)
      problems.push(`strategy: 'pp' combines with data parallelism ('ddp') only; drop '${others.join("', '")}'`);
    const m = config.model;
    const pp = (config.strategyOptions?.pipelineParallelSize as number | undefined) ?? config.worldSize;
    const mb = (config.strategyOptions?.microBatches as number | undefined) ?? pp;
    if (m.kind !== 'gpt-mini')
      problems.push(
        `strategy: 'pp' (pipeline parallelism) splits the layers into stages and runs only model.kind "gpt-mini" (got "${m.kind}"); use 'ddp' for the MLP`,
      );
    else if (Number.isInteger(pp) && pp > 0) {
      const setting = (d: string) => (d === 'pp' ? 'strategyOptions.pipelineParallelSize' : d);
      problems.push(
        ...validateLayout(
          config.worldSize,
          { pp },
          [{ setting: 'model.layers', value: m.layers ?? 0, dim: 'pp' }],
          setting,
        ),
      );
      if (Number.isInteger(mb) && mb > 0 && (m.batchSize ?? 0) % mb !== 0)
        problems.push(
          `strategyOptions.microBatches: ${mb} micro-batches do not divide model.batchSize ${m.batchSize}; use a divisor of ${m.batchSize}: ${divisorsOf(m.batchSize ?? 0).join(', ')}`,
        );
      if (config.strategyOptions?.schedule === '1f1b' && Number.isInteger(mb) && Number.isInteger(pp) && mb < pp) {
        // With fewer micro-batches than stages 1F1B never reaches its steady phase: it is GPipe.
        const b = m.batchSize ?? 0;
        const fits = divisorsOf(b).filter((d) => d >= pp);
        problems.push(
          `strategyOptions.schedule '1f1b': ${mb} micro-batches are fewer than the ${pp} pipeline stages (no one-forward-one-backward phase); ${fits.length ? `use strategyOptions.microBatches ${fits.join(', ')} (divisors of model.batchSize ${b}, at least ${pp})` : `raise model.batchSize to a multiple of ${pp} or use schedule 'gpipe'`}`,
        );
      }
    }
  }
  problems.push(...validateExpertParallel(config, has('ep')));
  // Options: each must belong to a strategy in use, and be well formed.
  const opts = config.strategyOptions ?? {};
  for (const [key, v] of Object.entries(opts)) {
    // Own keys only: 'toString' or '__proto__' in a config is an unknown option, not Object's.
    const spec = Object.hasOwn(OPTION_SPECS, key) ? OPTION_SPECS[key] : undefined;
    if (!spec) {
      const forIds = Object.entries(OPTION_SPECS)
        .filter(([, s]) => s.owners.some(has))
        .map(([k]) => k);
      problems.push(
        `strategyOptions.${key}: unknown option; ${forIds.length ? `'${config.strategy}' takes ${forIds.join(', ')}` : `'${config.strategy}' takes no options`}`,
      );
      continue;
    }
    if (!spec.owners.some(has)) {
      problems.push(
        `strategyOptions.${key}: only used by ${spec.owners.map((s) => `'${s}'`).join(', ')}, not by '${config.strategy}'; remove it or add one of those strategies`,
      );
      continue;
    }
    const p = checkOption(key, v, spec);
    if (p) problems.push(p);
  }
  if (problems.length) return problems;
  const r = resolveOptions(config);
  if ((has('ddp-bucketed') || has('zero2')) && opts.bucketCapMb !== undefined) {
    const modelMb = (estimateParamCount(config.model) * 4) / (1024 * 1024);
    if (r.bucketCapMb >= modelMb) {
      problems.push(
        `strategyOptions.bucketCapMb: a ${r.bucketCapMb} MiB bucket is larger than the whole model (${modelMb.toFixed(3)} MiB of f32 gradients), so there would be one bucket and nothing to overlap; pick bucketCapMb below ${modelMb.toFixed(3)} (e.g. ${(modelMb / 4).toPrecision(2)}), or use strategy 'ddp'`,
      );
    }
    if (r.firstBucketCapMb > r.bucketCapMb)
      problems.push(
        `strategyOptions.firstBucketCapMb: ${r.firstBucketCapMb} MiB exceeds bucketCapMb ${r.bucketCapMb} MiB; the first bucket is meant to be the small one (e.g. firstBucketCapMb ${(r.bucketCapMb / 4).toPrecision(2)})`,
      );
  }
  if (locals.length && r.localSteps > config.steps)
    problems.push(
      `strategyOptions.localSteps: ${r.localSteps} inner steps exceed the run's ${config.steps} steps, so no synchronisation would ever happen; set localSteps to at most ${config.steps} (e.g. ${Math.max(1, Math.floor(config.steps / 4))})`,
    );
  if (has('streaming-diloco') && r.overlapSteps >= r.localSteps)
    problems.push(
      `strategyOptions.overlapSteps: ${r.overlapSteps} must be smaller than localSteps ${r.localSteps} (a fragment's sync must land before its next one starts); e.g. overlapSteps 1`,
    );
  if (has('streaming-diloco') && r.fragments > r.localSteps)
    problems.push(
      `strategyOptions.fragments: ${r.fragments} fragments cannot each get a sync slot in ${r.localSteps} local steps; use fragments ≤ localSteps (e.g. ${Math.min(2, r.localSteps)})`,
    );
  if (has('onebit-adam') && (config.steps <= 2 || (r.onebitWarmupSteps ?? 0) >= config.steps)) {
    problems.push(
      config.steps <= 2
        ? `steps: 'onebit-adam' needs at least 2 full-precision warm-up steps and then compressed ones, so a run of ${config.steps} step(s) is too short; use steps ≥ 3`
        : `strategyOptions.onebitWarmupSteps: ${r.onebitWarmupSteps ?? 0} warm-up steps leave no compressed step in a ${config.steps}-step run; set it below ${config.steps} (e.g. ${Math.max(2, Math.floor(config.steps / 5))})`,
    );
  }
  return problems;
}

/**
 * A mixture-of-experts model runs under 'ep' (and 'ep' needs one): experts divisible by
 * the expert-parallel size, which divides worldSize; overlapChunks at most the slots per
 * expert. Settings of the model itself (topK, capacityFactor) are the engine's checks.
 */
function validateExpertParallel(config: RunConfig, hasEp: boolean): string[] {
  const problems: string[] = [];
  const m = config.model;
  const experts = m.kind === 'gpt-mini' ? m.experts : undefined;
  if (!hasEp) {
    if (experts !== undefined)
      problems.push(
        `model.experts: a mixture-of-experts gpt-mini runs with strategy 'ep' (expert parallel; strategyOptions.expertParallelSize 1 keeps every expert on each rank, i.e. data parallelism), not '${config.strategy}'`,
      );
    return problems;
  }
  const ids = parseStrategyIds(config.strategy);
  const others = ids.filter((s) => s !== 'ep' && s !== 'ddp');
  if (others.length)
    problems.push(`strategy: 'ep' combines with data parallelism ('ddp') only; drop '${others.join("', '")}'`);
  if (m.kind !== 'gpt-mini' || experts === undefined) {
    problems.push(
      `strategy: 'ep' (expert parallelism) spreads the experts of a mixture-of-experts gpt-mini over ranks; set model.kind "gpt-mini" and model.experts (e.g. 4, with model.topK 2 and model.capacityFactor 1.25)${m.kind === 'gpt-mini' ? '' : ` (got model.kind "${m.kind}")`}`,
    );
    return problems;
  }
  const ep = (config.strategyOptions?.expertParallelSize as number | undefined) ?? config.worldSize;
  if (!Number.isInteger(ep) || ep < 1 || !Number.isInteger(experts) || experts < 1) return problems;
  const setting = (d: string) => (d === 'ep' ? 'strategyOptions.expertParallelSize' : d);
  problems.push(
    ...validateLayout(config.worldSize, { ep }, [{ setting: 'model.experts', value: experts, dim: 'ep' }], setting),
  );
  const chunks = config.strategyOptions?.overlapChunks;
  const topK = m.topK ?? Math.min(2, experts);
  const cf = m.capacityFactor ?? 1.25;
  const tokens = (m.batchSize ?? 0) * (m.seqLen ?? 16);
  if (typeof chunks === 'number' && Number.isInteger(chunks) && chunks > 1 && cf > 0 && tokens > 0 && topK >= 1) {
    const capacity = expertCapacity(tokens, experts, topK, cf);
    if (chunks > capacity)
      problems.push(
        `strategyOptions.overlapChunks: ${chunks} chunks of ${capacity} slots per expert (⌈capacityFactor ${cf} × ${tokens} tokens per rank × topK ${topK} / ${experts} experts⌉); use 1 to ${capacity}, or a larger model.capacityFactor or model.batchSize`,
      );
  }
  return problems;
}

function largestCommonDivisor(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}
