/**
 * The advisor: a list of rules over the metrics and the what-if replay; each rule is a
 * function with its definition in its doc comment, returning zero or more suggestions.
 * `advise` runs them all and ranks what they found. Every suggestion carries its evidence (metric values and the spans that
 * show it), the replay's predicted effect, the risk, its source and the exact config
 * change a verifier can re-run (`configChange`, a partial CommLens run config; for
 * imported PyTorch traces, `pytorchHint` says the same in PyTorch terms).
 */
import type { CollectiveMetrics } from '../collectives';
import { theoreticalBubbleFraction } from '../pipelineBubble';
import { COMPRESSORS, type CompressorName } from '../compressors';
import type { RankMetrics } from '../rankMetrics';
import type { StragglerReport } from '../stragglers';
import {
  layoutComponents,
  replayedComponents,
  whatIfOn,
  type PredictedComponents,
  type ReplayContext,
  type WhatIfChange,
  type WhatIfResult,
} from '../replay/whatIf';
import {
  bucketingChange,
  compressionChange,
  exchangesGradients,
  localUpdatesChange,
  PYTORCH_CHANGE,
  PYTORCH_APPLY,
  sequenceParallelChange,
  zeroChange,
} from './configChange';
import { parseStrategyIds } from '../../trace/strategyIds';
import { DGC_DENSITY, POWERSGD_RATIO } from '../compressors';
import type { JobSettings } from '../jobSettings';
import { currentHookCode, currentSharding, pytorchChange, wireBytesPerElement } from './current';
import type { RunInfo } from '../runInfo';
import {
  candidateLayouts,
  collectivesOf,
  CONTEXT_PARALLEL,
  jobDimsOf,
  layoutConfigChange,
  layoutOfRun,
  pipelineBubbleNs,
  predictLayout,
  submitsPerStep,
  sameLayout,
  type LayoutPrediction,
} from '../replay/layouts';
import { baselineBytesPerStep, commlensSteps, measuredRunOf, onebitWarmupNote } from '../replay/whatIf';
import { applyConfigChange, verificationConfig, type VerifiableConfig } from '../verify';
import type { TorchApply } from '../../trace/torchJob';
import { formatBytes, formatDurationNs, formatSignedPct, groupDigits } from '../../trace/format';
import {
  HOST_BOUND,
  IMBALANCE,
  LAYOUT,
  LOCAL_UPDATES,
  OVERLAP,
  RISK_WEIGHT,
  SEQUENCE_PARALLEL,
  SLOW_LINK,
  STRAGGLER,
  STREAMING,
  ZERO,
} from './catalogue';

export interface Suggestion {
  id: string;
  title: string;
  kind: string;
  evidence: { metrics: Record<string, number>; sliceIndexes: number[]; text: string };
  predicted: {
    stepTimeNs: number;
    exposedCommNs: number;
    peakMemoryBytes?: number;
    bytesPerStep?: number;
    baselineStepTimeNs: number;
    baselineExposedCommNs: number;
    baselinePeakMemoryBytes?: number;
    baselineBytesPerStep?: number;
    /** baseline / predicted step time. */
    speedup: number;
    /** The replay's error on the unchanged step, in percent of the measured step. */
    calibrationErrorPct?: number;
    /** Per component of the step, replayed without and with the change (replay/whatIf.ts): where a miss came from. */
    components?: PredictedComponents;
    /**
     * How the change was priced beyond the measured run, in words (WhatIfResult.changeNotes):
     * where a codec's or the outer step's speed came from, the ranks' drift between syncs, a
     * phase left out. Absent when there is nothing to say.
     */
    notes?: string[];
    /** A layout suggestion: the layout model's components for the run's layout and the new one (replay/layouts.ts). */
    layout?: {
      name: string;
      baselineName: string;
      model: LayoutPrediction['model'];
      memory: LayoutPrediction['memory'];
      baselineModel: LayoutPrediction['model'];
      baselineMemory: LayoutPrediction['memory'];
    };
  };
  risk: string;
  source: string;
  /** Partial run config to re-run with (empty when the suggestion is a diagnosis). */
  configChange: Record<string, unknown>;
  /** The change the replay predicted with. */
  whatIf?: WhatIfChange;
  /** True when re-running with configChange can verify the prediction. */
  verifiable: boolean;
  pytorchHint?: string;
  /**
   * Imported PyTorch traces: the change as COMMLENS_APPLY (trace/torchJob.ts), when the commlens_torch
   * helper can apply it, so that re-running the job's command verifies the prediction.
   */
  torchApply?: TorchApply;
  /**
   * True when the change alters the optimisation itself (local updates, 1-bit Adam, top-k,
   * PowerSGD): convergence must be checked, and it ranks below an exact change of equal gain.
   */
  changesAlgorithm: boolean;
  /** Predicted step-time gain: 1 − predicted / baseline step time (negative: slower). */
  stepTimeGain: number;
  /**
   * Ranking score: the predicted step-time gain, times the risk weight for changes that alter
   * the algorithm (so they rank below an exact change of equal gain). Diagnoses: the share of
   * the step their cause costs.
   */
  score: number;
}

/** The advisor's two lists: config changes ranked by predicted gain, and diagnoses (no config change) apart. */
export interface Advice {
  suggestions: Suggestion[];
  diagnoses: Suggestion[];
  /** Changes left out because the runtime's config check (AdvisorInput.checkRunConfig) refuses them, with its problems. */
  refused?: { id: string; problems: string[] }[];
  /** Why the changes were not checked: the runtime refuses the run's own config (an older run). */
  uncheckedBecause?: string[];
}

/**
 * The smallest effect worth suggesting a change for: a step-time gain of at least
 * `minStepGain`, or a peak-memory saving of at least `minMemoryShare` and `minMemoryBytes`
 * (with the step at most `maxMemorySlowdown` slower).
 */
export const WORTHWHILE = {
  minStepGain: 0.03,
  minMemoryShare: 0.15,
  minMemoryBytes: 64 * 1024 * 1024,
  maxMemorySlowdown: 0.25,
  text: 'a change is suggested only when the replay predicts at least 3 % less step time, or at least 15 % and 64 MiB less peak memory per rank with the step at most 25 % slower',
} as const;

/** Compression methods that change the optimisation (not just the precision of the sum). */
export const ALGORITHM_CHANGING: readonly CompressorName[] = ['onebit-adam', 'topk-dgc', 'powersgd'];

export interface AdvisorInput {
  ctx?: ReplayContext;
  ranks: RankMetrics[];
  collectives: CollectiveMetrics;
  stragglers: StragglerReport;
  linkPeakGBps?: number;
  pytorch: boolean;
  /** The imported job's current settings (jobSettings.ts): the advice starts from them. */
  settings?: JobSettings;
  /**
   * The runtime's check of a whole run config (runtime/config.ts validateConfig with the
   * strategies' validation, passed in by the CLI): the problems, [] when it would run. Layout
   * suggestions are made only for configs it accepts, so without it there are none.
   */
  checkRunConfig?: (config: Record<string, unknown>) => string[];
}

const MiB = 1024 * 1024;
const fmtMs = formatDurationNs;
const fmtBytes = formatBytes;
/** A saving of `x` % as the change it is (trace/format.ts): a 46.1 % saving is `−46.1 %`. */
const fmtPct = (x: number) => formatSignedPct(-x);

function predictedOf(r: WhatIfResult): Suggestion['predicted'] {
  return {
    stepTimeNs: r.predicted.stepTimeNs,
    exposedCommNs: r.predicted.exposedCommNs,
    peakMemoryBytes: r.predicted.peakMemoryBytes,
    bytesPerStep: r.predicted.bytesPerStep,
    baselineStepTimeNs: r.baseline.stepTimeNs,
    baselineExposedCommNs: r.baseline.exposedCommNs,
    baselinePeakMemoryBytes: r.baseline.peakMemoryBytes,
    baselineBytesPerStep: r.baseline.bytesPerStep,
    speedup: r.predicted.stepTimeNs > 0 ? r.baseline.stepTimeNs / r.predicted.stepTimeNs : 1,
    calibrationErrorPct: r.replay.calibrationErrorPct,
    components: r.predicted.components,
    ...(r.changeNotes.length > 0 ? { notes: [...r.changeNotes] } : {}),
  };
}

const saving = (r: WhatIfResult) =>
  r.baseline.stepTimeNs > 0 ? 1 - r.predicted.stepTimeNs / r.baseline.stepTimeNs : 0;
const effect = (r: WhatIfResult) =>
  `step ${fmtMs(r.baseline.stepTimeNs)} → ${fmtMs(r.predicted.stepTimeNs)} (${fmtPct(100 * saving(r))})`;

/**
 * Bytes sent per dense byte by a compressor as the re-run would configure it: top-k at the
 * runtime's default density (1 %) for CommLens runs and DGC's 0.1 % for PyTorch jobs;
 * PowerSGD at rank 1 (PyTorch's and CommLens' default) over the model's matrices when the
 * config describes them (1-D parameters go uncompressed), else ≈ 1/32.
 */
function volumeRatioFor(name: CompressorName, info: RunInfo, pytorch: boolean, n: number): number | undefined {
  if (name === 'topk-dgc') return Math.min(2, (pytorch ? DGC_DENSITY : 0.01) * Math.max(2, n));
  if (name === 'powersgd') {
    if (!info.matrices || info.matrices.length === 0) return POWERSGD_RATIO;
    const r = 1;
    const sent = info.matrices.reduce((t, [a, b]) => t + r * (a + b), 0) + (info.vectorParams ?? 0);
    const dense = info.matrices.reduce((t, [a, b]) => t + a * b, 0) + (info.vectorParams ?? 0);
    return dense > 0 ? sent / dense : POWERSGD_RATIO;
  }
  return undefined;
}

/** What every rule reads: the advisor's input and the figures several rules share. */
interface RuleContext {
  input: AdvisorInput;
  pytorch: boolean;
  /** The measured step the replay starts from (0 without a replay). */
  baseStep: number;
  /** Exposed communication / step time of the measured step. */
  exposedShare: number;
  /** Mean over ranks of the comm–compute overlap, in percent. */
  meanOverlap: number;
  /** The run's strategy ids (what it already does), empty when unknown (imported traces). */
  strategyIds: string[];
  /** Slices of the gradient collectives, for the evidence. */
  commEvidence: number[];
  /** The replay context when the run has gradient communication this advice can change, else undefined. */
  gradientCtx?: ReplayContext;
  commMetrics(): Record<string, number>;
}

type Rule = (c: RuleContext) => Suggestion[];

/** A PyTorch hint that replaces the comm hook, from the imported job's current hook. */
function withCurrentHook(c: RuleContext, to: string): string {
  return c.pytorch && c.input.settings ? pytorchChange(currentHookCode(c.input.settings), to) : to;
}

function ruleContext(input: AdvisorInput): RuleContext {
  const { ctx, pytorch } = input;
  const meanOverlap =
    input.ranks.length > 0 ? input.ranks.reduce((t, r) => t + r.overlap.overlapPct, 0) / input.ranks.length : 0;
  const hasGradComm = !!ctx && ctx.graph.collectives.some((c) => c.gradient);
  const baseStep = ctx?.measuredStepNs ?? 0;
  const exposedShare = ctx && baseStep > 0 ? ctx.measuredExposedCommNs / baseStep : 0;
  const gradientCtx =
    ctx && hasGradComm && exposedShare >= 0.05 && (pytorch || exchangesGradients(ctx.info)) ? ctx : undefined;
  return {
    input,
    pytorch,
    strategyIds: ctx?.info.strategy ? parseStrategyIds(ctx.info.strategy) : [],
    baseStep,
    exposedShare,
    meanOverlap,
    gradientCtx,
    commEvidence: ctx
      ? ctx.graph.collectives
          .filter((c) => c.gradient)
          .flatMap((c) => c.sliceIndexes)
          .slice(0, 64)
      : [],
    commMetrics: () => ({
      stepTimeNs: baseStep,
      exposedCommNs: ctx?.measuredExposedCommNs ?? 0,
      exposedCommPct: 100 * exposedShare,
      overlapPct: meanOverlap,
    }),
  };
}

/**
 * Compression: when at least 5 % of the step is exposed gradient communication, each
 * compressor of the catalogue (compressors.ts) is replayed at the volume the re-run would
 * send; one that saves at least 2 % of the step is suggested, scored by its saving times
 * its risk weight. 1-bit Adam needs Adam, so not for SGD runs.
 */
function compressionRule(c: RuleContext): Suggestion[] {
  const ctx = c.gradientCtx;
  if (!ctx) return [];
  const out: Suggestion[] = [];
  const s = c.pytorch ? c.input.settings : undefined;
  // The imported job's wire: a ratio is per byte of fp32 all-reduce, so on a 16-bit wire it doubles.
  const wireBytes = s ? wireBytesPerElement(s) : undefined;
  const hook = s?.commHook.value ?? undefined;
  for (const name of Object.keys(COMPRESSORS) as CompressorName[]) {
    const comp = COMPRESSORS[name];
    if (name === 'onebit-adam' && !c.pytorch && ctx.info.optimizerKind === 'sgd') continue;
    // Never what the run already does: the same method, or a second cast to half precision.
    if (c.strategyIds.includes(name)) continue;
    if ((name === 'fp16' || name === 'bf16') && (c.strategyIds.includes('fp16') || c.strategyIds.includes('bf16')))
      continue;
    // The same for an imported job: its collectives already carry 16 bits (a compress hook, or 16-bit gradients), or it runs PowerSGD.
    if ((name === 'fp16' || name === 'bf16') && wireBytes !== undefined && wireBytes <= 2) continue;
    if (name === 'powersgd' && hook === 'powerSGD_hook') continue;
    // PyTorch's bf16 compress hook needs NCCL (later than 2.9.6, its docs say); gloo refuses bf16
    // all-reduces ("Invalid scalar type" on PyTorch 1.13), so a gloo job is not told to use it.
    if (name === 'bf16' && s?.backend?.value === 'gloo') continue;
    let volumeRatio = volumeRatioFor(name, ctx.info, c.pytorch, ctx.worldSize);
    if (wireBytes !== undefined && wireBytes !== 4) {
      volumeRatio = ((volumeRatio ?? comp.volumeRatio(ctx.worldSize)) * 4) / wireBytes;
      if (volumeRatio >= 1) continue;
    }
    const change: WhatIfChange = { compression: { method: name, volumeRatio } };
    const r = whatIfOn(ctx, change);
    if (saving(r) < WORTHWHILE.minStepGain) continue;
    const algo = ALGORITHM_CHANGING.includes(name);
    const from = s ? currentHookCode(s) : undefined;
    out.push({
      id: `compression-${name}`,
      kind: 'compression',
      changesAlgorithm: algo,
      stepTimeGain: saving(r),
      title: `${c.pytorch ? comp.pytorchTitle : comp.title}${from ? ` (now: ${from})` : ''}: ${effect(r)}`,
      evidence: {
        metrics: { ...c.commMetrics(), bytesPerStep: r.baseline.bytesPerStep },
        sliceIndexes: c.commEvidence,
        text: `${(100 * c.exposedShare).toFixed(1)} % of the step is communication not hidden under compute${s && wireBytes !== undefined && wireBytes !== 4 ? `; the all-reduces already carry ${s.collectiveDtype.text}, so the prediction starts from that volume` : ''}`,
      },
      predicted: predictedOf(r),
      // A CommLens run is told when its 1-bit Adam will freeze (trace/onebitWarmup.ts).
      risk: name === 'onebit-adam' && !c.pytorch ? `${comp.risk} ${onebitWarmupNote(commlensSteps(ctx))}.` : comp.risk,
      source: comp.source,
      whatIf: change,
      verifiable: !c.pytorch,
      configChange: c.pytorch ? PYTORCH_CHANGE.compression(name) : compressionChange(ctx.info, name),
      pytorchHint: s ? pytorchChange(from ?? 'no comm hook', comp.pytorchHint) : comp.pytorchHint,
      ...(c.pytorch && PYTORCH_APPLY.compression(name) ? { torchApply: PYTORCH_APPLY.compression(name) } : {}),
      score: saving(r) * (algo ? RISK_WEIGHT[name] : 1),
    });
  }
  return out;
}

/**
 * Overlap: gradients all-reduced during backward in buckets; the caps 1, 5, 25 and
 * 100 MiB are replayed and the fastest is suggested when it saves at least 2 % and
 * differs from the run's current cap.
 */
function overlapRule(c: RuleContext): Suggestion[] {
  const ctx = c.gradientCtx;
  if (!ctx) return [];
  const s = c.pytorch ? c.input.settings : undefined;
  // FSDP and ZeRO shard instead of bucketing: bucket_cap_mb does not apply.
  if (s && s.dataParallel.value !== null && s.dataParallel.value !== 'ddp' && s.dataParallel.value !== 'zero1')
    return [];
  const current = s ? (s.bucketCapMb.value ?? undefined) : ctx.info.bucketCapMb;
  // A PyTorch job's own cap, when read: each cap is priced against the job rebucketed at it
  // (WhatIfChange.bucketing.currentCapMb; DDP launches its buckets during backward).
  const from = s && current !== undefined ? { currentCapMb: current } : {};
  let best: { cap: number; r: WhatIfResult } | undefined;
  for (const cap of [1, 5, 25, 100]) {
    const r = whatIfOn(ctx, { bucketing: { bucketCapMb: cap, overlap: true, ...from } });
    if (!best || r.predicted.stepTimeNs < best.r.predicted.stepTimeNs) best = { cap, r };
  }
  if (
    !best ||
    saving(best.r) < WORTHWHILE.minStepGain ||
    (best.cap === current && (s !== undefined || c.strategyIds.includes('ddp-bucketed')))
  )
    return [];
  const change: WhatIfChange = { bucketing: { bucketCapMb: best.cap, overlap: true, ...from } };
  const now = s ? (current !== undefined ? `bucket_cap_mb=${current}` : 'bucket_cap_mb unknown') : undefined;
  return [
    {
      id: `overlap-bucket-${best.cap}mb`,
      kind: OVERLAP.kind,
      changesAlgorithm: false,
      stepTimeGain: saving(best.r),
      title: c.pytorch
        ? `DDP ${now ? `${now} → ` : ''}bucket_cap_mb=${best.cap} with gradients all-reduced during backward: ${effect(best.r)}`
        : `Overlap the gradient all-reduce with backward in ${best.cap} MiB buckets: ${effect(best.r)}`,
      evidence: {
        metrics: { ...c.commMetrics(), gradientCollectives: ctx.graph.collectives.filter((g) => g.gradient).length },
        sliceIndexes: c.commEvidence,
        text: `communication overlaps compute only ${c.meanOverlap.toFixed(1)} % of its time${s?.buckets.value ? `; now ${s.buckets.text}` : ''}`,
      },
      predicted: predictedOf(best.r),
      risk: OVERLAP.risk,
      source: OVERLAP.source,
      whatIf: change,
      configChange: c.pytorch ? PYTORCH_CHANGE.bucketing(best.cap) : bucketingChange(ctx.info, best.cap),
      verifiable: !c.pytorch,
      pytorchHint: s
        ? pytorchChange(
            current !== undefined
              ? `DistributedDataParallel(model, bucket_cap_mb=${current})`
              : `DistributedDataParallel(model) with bucket_cap_mb unknown (${s.buckets.value ? s.buckets.text : "the buckets' sizes are not in the trace"})`,
            `DistributedDataParallel(model, bucket_cap_mb=${best.cap})`,
          )
        : `DistributedDataParallel(model, bucket_cap_mb=${best.cap})`,
      ...(c.pytorch ? { torchApply: PYTORCH_APPLY.bucketing(best.cap) } : {}),
      score: saving(best.r),
    },
  ];
}

/**
 * Local updates (DiLoCo, Streaming DiLoCo): when at least 15 % of the step is exposed
 * communication, H = 4, 8 and 16 inner steps are replayed (a larger H only when it saves 3 %
 * more); suggested when the period's mean step saves at least 5 %.
 */
function localUpdatesRule(c: RuleContext): Suggestion[] {
  const ctx = c.gradientCtx;
  if (!ctx || c.exposedShare < 0.15) return [];
  // A run that already updates locally is not told to.
  if (c.strategyIds.includes('diloco') || c.strategyIds.includes('streaming-diloco')) return [];
  const out: Suggestion[] = [];
  for (const streaming of [false, true]) {
    let bestH: { H: number; r: WhatIfResult } | undefined;
    for (const H of [4, 8, 16]) {
      const r = whatIfOn(ctx, { localSteps: { H, streaming } });
      if (!bestH || r.predicted.stepTimeNs < bestH.r.predicted.stepTimeNs * 0.97) bestH = { H, r };
    }
    if (!bestH || saving(bestH.r) < 0.05) continue;
    const entry = streaming ? STREAMING : LOCAL_UPDATES;
    const strategy = streaming ? 'streaming-diloco' : 'diloco';
    out.push({
      id: `${strategy}-h${bestH.H}`,
      kind: entry.kind,
      changesAlgorithm: true,
      stepTimeGain: saving(bestH.r),
      title: `${streaming ? 'Streaming DiLoCo' : 'DiLoCo'}: synchronize every ${bestH.H} steps${streaming ? ', overlapped with the next inner steps' : ''}: ${effect(bestH.r)}`,
      evidence: {
        metrics: c.commMetrics(),
        sliceIndexes: c.commEvidence,
        text: `communication exposes ${(100 * c.exposedShare).toFixed(1)} % of every step`,
      },
      predicted: predictedOf(bestH.r),
      risk: entry.risk,
      source: entry.source,
      whatIf: { localSteps: { H: bestH.H, streaming } },
      configChange: c.pytorch ? PYTORCH_CHANGE.localUpdates(bestH.H) : localUpdatesChange(streaming, bestH.H),
      verifiable: !c.pytorch,
      pytorchHint: withCurrentHook(
        c,
        `post-local SGD: register_comm_hook(PostLocalSGDState(process_group=None, subgroup=None, start_localSGD_iter=warmup), post_localSGD_hook) with PeriodicModelAverager(period=${bestH.H}); or a DiLoCo implementation`,
      ),
      score: saving(bestH.r) * RISK_WEIGHT['local-updates'],
    });
  }
  return out;
}

/**
 * Sharding (ZeRO 1–3): each stage above the run's own is replayed; worthwhile when it cuts
 * peak memory per rank by at least 15 % and 64 MiB with the step at most 25 % slower, or
 * saves at least 3 % of the step (WORTHWHILE). Scored by its step-time gain, plus (for a
 * worthwhile memory cut) a small term for the memory relief weighted by how tight memory
 * is (half the peak's share of the device's memory; 0.1 when unknown). Only the best stage
 * is suggested; at equal score the lowest.
 */
function shardingRule(c: RuleContext): Suggestion[] {
  const ctx = c.input.ctx;
  if (!ctx || !ctx.paramCount || runsOnlyItsOwnStrategy(c)) return [];
  const out: Suggestion[] = [];
  // The run's current stage (an imported job's: read from its collectives): only a higher one is suggested.
  const s = c.pytorch ? c.input.settings : undefined;
  // An imported model-parallel job (TP, PP, …): ZeRO shards over its data-parallel group.
  const layout = s?.layout?.value ? s.layout : undefined;
  const current = Math.max(
    0,
    s ? currentSharding(s).stage : 0,
    ...c.strategyIds
      .map((id) => /^zero([123])$/.exec(id))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1])),
  );
  for (const stage of [1, 2, 3] as const) {
    if (stage <= current) continue;
    const r = whatIfOn(ctx, { zeroStage: stage });
    const b = r.baseline.peakMemoryBytes,
      p = r.predicted.peakMemoryBytes;
    if (b === undefined || p === undefined || b <= 0) continue;
    const memSaving = 1 - p / b;
    const slowdown = -saving(r);
    const memoryWorthwhile =
      memSaving >= WORTHWHILE.minMemoryShare &&
      b - p >= WORTHWHILE.minMemoryBytes &&
      slowdown <= WORTHWHILE.maxMemorySlowdown;
    if (!memoryWorthwhile && saving(r) < WORTHWHILE.minStepGain) continue;
    const memoryWeight = ctx.info.deviceMemoryBytes ? 0.5 * Math.min(1, b / ctx.info.deviceMemoryBytes) : 0.1;
    const z = ZERO[stage];
    out.push({
      id: `zero${stage}`,
      kind: z.kind,
      changesAlgorithm: false,
      stepTimeGain: saving(r),
      title:
        c.pytorch && layout
          ? `${layout.text}: shard over the ${ctx.dataParallelSize} data-parallel ranks with DeepSpeed ZeRO-${stage}${stage === 1 ? ' (Megatron: --use-distributed-optimizer)' : ''}: memory ${fmtBytes(b)} → ${fmtBytes(p)} per rank, ${effect(r)}`
          : c.pytorch
            ? `${s ? `${currentSharding(s).short} → ` : ''}Shard with ${stage === 1 ? 'ZeroRedundancyOptimizer' : stage === 2 ? 'FSDP SHARD_GRAD_OP' : 'FSDP FULL_SHARD'} / DeepSpeed ZeRO-${stage}: memory ${fmtBytes(b)} → ${fmtBytes(p)} per rank, ${effect(r)}`
            : `ZeRO stage ${stage}: memory ${fmtBytes(b)} → ${fmtBytes(p)} per rank, ${effect(r)}`,
      evidence: {
        metrics: {
          peakMemoryBytes: b,
          paramCount: ctx.paramCount,
          worldSize: ctx.worldSize,
          dataParallelSize: ctx.dataParallelSize,
        },
        sliceIndexes: [],
        text: layout
          ? `each rank holds its model-parallel shard's ${groupDigits(Math.round(ctx.paramCount))} parameters, their gradients and optimizer states, the same on all ${ctx.dataParallelSize} ranks of its data-parallel group`
          : `every rank holds all ${groupDigits(Math.round(ctx.paramCount))} parameters, their gradients and optimizer states`,
      },
      predicted: predictedOf(r),
      risk: z.risk,
      source: z.source,
      whatIf: { zeroStage: stage },
      configChange: c.pytorch ? PYTORCH_CHANGE.zero(stage) : zeroChange(stage),
      verifiable: !c.pytorch,
      pytorchHint: layout?.value
        ? pytorchChange(
            `${layout.value.flags}, ${currentSharding(s!).short}`,
            `DeepSpeed: ${z.deepspeed}${stage === 1 ? '; Megatron-LM: --use-distributed-optimizer' : ''} (the optimizer states sharded over the ${ctx.dataParallelSize} data-parallel ranks)`,
          )
        : s
          ? pytorchChange(currentSharding(s).code, `${z.pytorch}; DeepSpeed: ${z.deepspeed}`)
          : `${z.pytorch}; DeepSpeed: ${z.deepspeed}`,
      // Ranked by step time like every change; a memory-only win sorts after the time wins, by its memory relief.
      score: saving(r) + (memoryWorthwhile ? memSaving * memoryWeight * 1e-3 : 0),
    });
  }
  // One stage, not three: the best score; at equal score the lowest stage (the least change).
  // The stages are tried in increasing order and the sort is stable.
  return out.sort((a, b) => b.score - a.score).slice(0, 1);
}

/** CommLens' model-parallel strategies: expert, tensor, pipeline and each context-parallel method. */
const MODEL_PARALLEL_STRATEGIES: readonly string[] = [
  'ep',
  'tp',
  'pp',
  ...Object.values(CONTEXT_PARALLEL).map((m) => m.strategy),
];

/**
 * A CommLens model-parallel run ('ep', 'tp', 'pp', a context-parallel one such as 'ulysses'): a mixture-of-experts model runs
 * under expert parallelism only (a change of strategy would be refused when re-run), and
 * ZeRO or Ulysses in place of TP, PP or Ulysses would change the layout and the batch per
 * replica without saying so: the layout rule compares layouts of the same job.
 */
function runsOnlyItsOwnStrategy(c: RuleContext): boolean {
  return !c.pytorch && MODEL_PARALLEL_STRATEGIES.some((id) => c.strategyIds.includes(id));
}

/**
 * Sequence parallelism (Ulysses): for sequences of 4,096 tokens or more, the largest degree
 * of 8, 4, 2 that divides the world size, the heads and the sequence is replayed; suggested
 * when it cuts peak memory per rank by at least 15 %.
 */
function sequenceParallelRule(c: RuleContext): Suggestion[] {
  const ctx = c.input.ctx;
  if (!ctx || !ctx.paramCount || runsOnlyItsOwnStrategy(c)) return [];
  const { seqLen, hidden, layers, heads } = ctx.info;
  const degree = [8, 4, 2].find(
    (p) =>
      p <= ctx.worldSize && ctx.worldSize % p === 0 && (!heads || heads % p === 0) && (!seqLen || seqLen % p === 0),
  );
  if (!seqLen || !hidden || !layers || !degree || seqLen < 4096) return [];
  const r = whatIfOn(ctx, { sequenceParallel: { degree } });
  if (r.predicted.peakMemoryBytes === undefined || r.baseline.peakMemoryBytes === undefined) return [];
  const freed = r.baseline.peakMemoryBytes - r.predicted.peakMemoryBytes;
  if (freed < WORTHWHILE.minMemoryShare * r.baseline.peakMemoryBytes || freed < WORTHWHILE.minMemoryBytes) return [];
  return [
    {
      id: `sequence-parallel-${degree}`,
      kind: SEQUENCE_PARALLEL.kind,
      changesAlgorithm: false,
      stepTimeGain: saving(r),
      title: `Split the ${seqLen}-token sequences over ${degree} ranks (Ulysses sequence parallelism)`,
      evidence: {
        metrics: { seqLen, hidden, layers, peakMemoryBytes: r.baseline.peakMemoryBytes },
        sliceIndexes: [],
        text: 'activations of long sequences dominate memory',
      },
      predicted: predictedOf(r),
      risk: SEQUENCE_PARALLEL.risk,
      source: SEQUENCE_PARALLEL.source,
      whatIf: { sequenceParallel: { degree } },
      configChange: c.pytorch ? PYTORCH_CHANGE.sequenceParallel(degree) : sequenceParallelChange(degree),
      verifiable: !c.pytorch,
      pytorchHint: 'DeepSpeed-Ulysses DistributedAttention (deepspeed.sequence.layer), or PyTorch context parallel',
      score: saving(r) + 1e-4,
    },
  ];
}

/** At most this many layouts are suggested (the best first): the rest are variations of them. */
const MAX_LAYOUTS = 3;

/**
 * Parallel layouts (replay/layouts.ts): for a CommLens gpt-mini run on one layout (DDP,
 * TP, PP, Ulysses or EP, each with DP), every other layout of the same job on the same
 * ranks (the same global batch) that the runtime's own config check accepts is predicted;
 * those that reach the worthwhile effect are suggested: the best of each kind (DP, TP, PP,
 * CP, EP), at most MAX_LAYOUTS, each with the config change that runs it. Never the layout
 * the run already has.
 */
function layoutRule(c: RuleContext): Suggestion[] {
  const ctx = c.input.ctx;
  const check = c.input.checkRunConfig;
  if (!ctx || c.pytorch || ctx.model.meta.format !== 'commlens' || !check || !ctx.info.runConfig) return [];
  const dims = jobDimsOf(ctx.info, ctx.precision);
  const current = layoutOfRun(ctx.info);
  if ('problem' in dims || 'problem' in current) return [];
  const measured = measuredRunOf(ctx);
  if (!(measured.stepTimeNs > 0) || !(measured.computeNs > 0)) return [];
  const base = ctx.info.runConfig as unknown as { steps: number; strategy: string };
  const out: Suggestion[] = [];
  // The run's own split, the "before" of every layout's components.
  const before = replayedComponents(ctx);
  for (const l of candidateLayouts(dims)) {
    if (sameLayout(l, current)) continue;
    const configChange = layoutConfigChange(dims, l);
    if (check(applyConfigChange(base, configChange) as unknown as Record<string, unknown>).length > 0) continue;
    const p = predictLayout(dims, current, l, measured, ctx.measuredExposedCommNs);
    const b = measured.peakMemoryBytes ?? p.baseline.memory.totalBytes;
    const gain = 1 - p.stepTimeNs / measured.stepTimeNs;
    const memSaving = b > 0 ? 1 - p.peakMemoryBytes / b : 0;
    const memoryWorthwhile =
      memSaving >= WORTHWHILE.minMemoryShare &&
      b - p.peakMemoryBytes >= WORTHWHILE.minMemoryBytes &&
      -gain <= WORTHWHILE.maxMemorySlowdown;
    if (gain < WORTHWHILE.minStepGain && !memoryWorthwhile) continue;
    const m = p.model;
    const groups = m.byGroup
      .map((g) => `${g.group} ${g.count}× ${g.op} of ${fmtBytes(g.bytes)}: ${fmtMs(g.exposedNs)} exposed`)
      .join('; ');
    const calibrationErrorPct =
      measured.stepTimeNs > 0 ? (100 * (p.baseline.model.stepTimeNs - measured.stepTimeNs)) / measured.stepTimeNs : 0;
    out.push({
      id: `layout-${layoutId(l)}`,
      kind: LAYOUT.kind,
      changesAlgorithm: false,
      stepTimeGain: gain,
      title: `${p.name}: predicted ${fmtMs(p.stepTimeNs)}/step (${fmtPct(100 * gain)}), peak memory ${fmtBytes(p.peakMemoryBytes)} per rank (now ${p.baseline.name}: ${fmtMs(measured.stepTimeNs)}, ${fmtBytes(b)})`,
      evidence: {
        metrics: {
          stepTimeNs: measured.stepTimeNs,
          computeNs: measured.computeNs,
          optimizerNs: measured.optimizerNs,
          exposedCommNs: ctx.measuredExposedCommNs,
          worldSize: dims.worldSize,
          globalBatch: dims.globalBatch,
        },
        sliceIndexes: [],
        text: `the same ${dims.globalBatch} sequences per step on ${dims.worldSize} ranks: compute ${fmtMs(m.computeNs)}${m.dispatchNs > 0 ? ` (${fmtMs(m.dispatchNs)} of it kernels' fixed time, ${fmtMs(measured.dispatch?.dispatchNs ?? 0)} a dispatch ${measured.dispatch?.dispatchSource === 'probe' ? "as the run's dispatch probe measured it" : "as the run's lightest kernels take"})` : ''}${m.submitNs > 0 && l.pp > 1 ? `, ${submitsPerStep(l)} submissions of ${fmtMs(measured.dispatch?.submitNs ?? 0)} (one per micro-batch forward and backward)` : ''}${m.bubbleNs > 0 ? `, pipeline bubble ${fmtMs(m.bubbleNs)} (${(100 * m.bubbleFraction).toFixed(1)} %)` : ''}${l.pp > 1 && measured.sharing ? `, the stages replayed at the rate of the ranks computing at each moment (the ranks share the machine's compute: a rank alone ran ${measured.sharing.speedup.toFixed(2)}× as fast as with all ${measured.sharing.worldSize} at once in the run's probe)` : ''}, optimizer ${fmtMs(m.optimizerNs)}, communication ${fmtMs(m.wireNs)} on the wire${groups ? ` (${groups})` : ''}; memory ${fmtBytes(p.memory.modelStatesBytes)} of model states + ${fmtBytes(p.memory.activationsBytes)} of activations (modelled)`,
      },
      predicted: {
        stepTimeNs: p.stepTimeNs,
        exposedCommNs: p.exposedCommNs,
        peakMemoryBytes: p.peakMemoryBytes,
        bytesPerStep: collectivesOf(dims, l).reduce((t, x) => t + x.count * x.bytes, 0),
        baselineStepTimeNs: measured.stepTimeNs,
        baselineExposedCommNs: ctx.measuredExposedCommNs,
        baselineBytesPerStep: baselineBytesPerStep(ctx),
        baselinePeakMemoryBytes: b,
        speedup: p.stepTimeNs > 0 ? measured.stepTimeNs / p.stepTimeNs : 1,
        calibrationErrorPct,
        components: layoutComponents(before, p.model),
        layout: {
          name: p.name,
          baselineName: p.baseline.name,
          model: p.model,
          memory: p.memory,
          baselineModel: p.baseline.model,
          baselineMemory: p.baseline.memory,
        },
      },
      risk: LAYOUT.risk,
      source: LAYOUT.source,
      configChange,
      verifiable: true,
      score: gain + (memoryWorthwhile ? memSaving * 1e-3 : 0),
    });
  }
  // The best of each kind of layout (DP, TP, PP, CP, EP), then the best MAX_LAYOUTS of those;
  // at equal score the one with less memory (1F1B before GPipe).
  out.sort((a, b) => b.score - a.score || (a.predicted.peakMemoryBytes ?? 0) - (b.predicted.peakMemoryBytes ?? 0));
  const kinds = new Set<string>();
  return out
    .filter((s) => {
      const kind = String(s.configChange.strategy);
      if (kinds.has(kind)) return false;
      kinds.add(kind);
      return true;
    })
    .slice(0, MAX_LAYOUTS);
}

/** A suggestion id for a layout: `layout-dp2-tp2`, `layout-dp2-pp2-1f1b-m4`, `layout-ep4-k2`. */
function layoutId(l: ReturnType<typeof candidateLayouts>[number]): string {
  const parts = [`dp${l.dp}`];
  if (l.tp > 1) parts.push(`tp${l.tp}${l.sequenceParallel ? '-sp' : ''}`);
  if (l.pp > 1) parts.push(`pp${l.pp}-${l.schedule}-m${l.microBatches}`);
  if (l.cp > 1) parts.push(`${l.cpMethod ?? 'ulysses'}${l.cp}`);
  if (l.ep > 1) parts.push(`ep${l.ep}${l.overlapChunks > 1 ? `-k${l.overlapChunks}` : ''}`);
  return parts.join('-');
}

/**
 * Pipeline micro-batches (an imported job whose process groups show a pipeline,
 * jobSettings.ts layout): the schedule's bubble is p−1 slots of one micro-batch's stage
 * time (replay/layouts.ts pipelineBubbleNs), so twice the micro-batches at the same global
 * batch halve the slot. m is read from the reference rank's point-to-point ops per step (a
 * first stage sends m activations and receives m gradients); the stage's compute per step is
 * measured (its forward and backward, replay/whatIf.ts measuredRunOf). The saving is at most
 * the step's idle time (what is neither compute, optimizer nor exposed communication).
 */
function pipelineMicroBatchRule(c: RuleContext): Suggestion[] {
  const ctx = c.input.ctx;
  const layout = c.input.settings?.layout;
  const pp = layout?.value?.groups.find((g) => g.role === 'pp');
  if (!c.pytorch || !ctx || !layout?.value || !pp || layout.value.pp <= 1 || c.baseStep <= 0) return [];
  const p = layout.value.pp;
  const m = Math.max(1, Math.round(pp.perStep / 2));
  const measured = measuredRunOf(ctx);
  const idle = Math.max(0, c.baseStep - measured.computeNs - measured.optimizerNs - ctx.measuredExposedCommNs);
  const now = pipelineBubbleNs(measured.computeNs / m, p);
  const next = pipelineBubbleNs(measured.computeNs / (2 * m), p);
  const saved = Math.min(now - next, idle);
  const stepNs = c.baseStep - saved;
  const gain = saved / c.baseStep;
  if (gain < WORTHWHILE.minStepGain) return [];
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  return [
    {
      id: `pipeline-micro-batches-${2 * m}`,
      kind: LAYOUT.kind,
      changesAlgorithm: false,
      stepTimeGain: gain,
      title: `${layout.text}: ${2 * m} micro-batches per step instead of ${m} (Megatron: halve --micro-batch-size at the same --global-batch-size): pipeline bubble ${pct(theoreticalBubbleFraction(p, m))} → ${pct(theoreticalBubbleFraction(p, 2 * m))}, step ${fmtMs(c.baseStep)} → ${fmtMs(stepNs)} (${fmtPct(100 * gain)})`,
      evidence: {
        metrics: {
          stages: p,
          microBatches: m,
          computeNs: measured.computeNs,
          bubbleNs: now,
          idleNs: idle,
          stepTimeNs: c.baseStep,
        },
        sliceIndexes: [],
        text: `${pp.perStep} point-to-point ops per step on pipeline group ${pp.name} (about ${m} micro-batches, ${layout.confidence === 'high' ? 'read' : 'estimated'} from the first stage's sends and receives); ${fmtMs(measured.computeNs)} of forward and backward compute per step, so the schedule's bubble is ${p - 1} slots of ${fmtMs(measured.computeNs / m)}; the step has ${fmtMs(idle)} that is neither compute nor exposed communication`,
      },
      predicted: {
        stepTimeNs: stepNs,
        exposedCommNs: ctx.measuredExposedCommNs,
        baselineStepTimeNs: c.baseStep,
        baselineExposedCommNs: ctx.measuredExposedCommNs,
        speedup: stepNs > 0 ? c.baseStep / stepNs : 1,
      },
      risk: `${LAYOUT.risk} Smaller micro-batches run smaller kernels: the prediction assumes the same compute rate. 1F1B (Megatron's default schedule) holds at most ${p} micro-batches' activations, so memory does not grow with m; GPipe's does.`,
      source: LAYOUT.source,
      configChange: { megatron: { num_micro_batches: 2 * m }, deepspeed: { gradient_accumulation_steps: 2 * m } },
      verifiable: false,
      pytorchHint: pytorchChange(
        `${layout.value.flags}, about ${m} micro-batches per step`,
        `${2 * m} micro-batches (num micro-batches = global-batch-size / (micro-batch-size × data-parallel-size): Megatron-LM --micro-batch-size halved at the same --global-batch-size; DeepSpeed pipeline: gradient_accumulation_steps ${2 * m} at half train_micro_batch_size_per_gpu)`,
      ),
      score: gain,
    },
  ];
}

/** A diagnosis predicts no config change: the step as it would be without the cause. */
function flatPrediction(c: RuleContext, stepNs: number, exposed: number): Suggestion['predicted'] {
  return {
    stepTimeNs: stepNs,
    exposedCommNs: exposed,
    baselineStepTimeNs: c.baseStep,
    baselineExposedCommNs: exposed,
    speedup: stepNs > 0 ? c.baseStep / stepNs : 1,
  };
}

function stepsAnalysed(c: RuleContext): number {
  return Math.max(1, ...c.input.ranks.map((r) => r.steps.length));
}

/**
 * Stragglers (diagnosis): every rank the straggler rule flags (stragglers.ts), with the
 * time its lateness costs per step; scored by 0.8 × that cost over the step.
 */
function stragglerRule(c: RuleContext): Suggestion[] {
  const steps = stepsAnalysed(c);
  const exposedNow = c.input.ctx?.measuredExposedCommNs ?? 0;
  return c.input.stragglers.stragglers.map((rank) => {
    const s = c.input.stragglers.ranks.find((x) => x.rank === rank)!;
    const perStepCost = (s.meanLatenessNs * s.lastArrivals) / steps;
    const predicted = Math.max(0, c.baseStep - perStepCost);
    return {
      id: `straggler-rank-${rank}`,
      kind: STRAGGLER.kind,
      changesAlgorithm: false,
      stepTimeGain: 0,
      title: `Rank ${rank} is a straggler: it arrives last at ${s.lastArrivals} of ${s.collectives} collectives and costs the others ${fmtMs(s.costToOthersNs / steps)} per step`,
      evidence: {
        metrics: {
          rank,
          lastArrivals: s.lastArrivals,
          collectives: s.collectives,
          costToOthersNs: s.costToOthersNs,
          meanLatenessNs: s.meanLatenessNs,
          meanComputeExcessNs: s.meanComputeExcessNs,
          computeNs: s.computeNs,
        },
        sliceIndexes: s.evidenceSlices,
        text: `the other ranks wait inside these collectives for this rank${s.meanComputeExcessNs > 0.5 * s.meanLatenessNs ? `, whose compute before each of them takes ${fmtMs(s.meanComputeExcessNs)} longer than theirs` : ''}`,
      },
      predicted: flatPrediction(c, predicted, Math.max(0, exposedNow - perStepCost)),
      risk: STRAGGLER.risk,
      source: STRAGGLER.source,
      configChange: {},
      verifiable: false,
      pytorchHint:
        "compare this rank's GPU kernels with the others (torch.cuda clocks, nvidia-smi -q -d PERFORMANCE) and its data loader time",
      score: c.baseStep > 0 ? (0.8 * perStepCost) / c.baseStep : 0,
    };
  });
}

/**
 * Compute imbalance (diagnosis): the busiest rank computes more than 10 % above the mean;
 * the excess per step is what balancing would save; scored by half of it over the step.
 */
function imbalanceRule(c: RuleContext): Suggestion[] {
  const { input } = c;
  if (!(input.stragglers.computeImbalance > 1.1 && input.ranks.length >= 2)) return [];
  const steps = stepsAnalysed(c);
  const computes = input.ranks.map((r) => r.temporal.computeNs);
  const mean = computes.reduce((a, b) => a + b, 0) / computes.length;
  const excess = (Math.max(...computes) - mean) / steps;
  return [
    {
      id: 'imbalance',
      kind: IMBALANCE.kind,
      changesAlgorithm: false,
      stepTimeGain: 0,
      title: `Compute is imbalanced across ranks: the busiest computes ${((input.stragglers.computeImbalance - 1) * 100).toFixed(0)} % more than the mean`,
      evidence: {
        metrics: {
          computeImbalance: input.stragglers.computeImbalance,
          ...Object.fromEntries(input.ranks.map((r) => [`computeNsRank${r.rank}`, r.temporal.computeNs])),
        },
        sliceIndexes: [],
        text: 'computation time per rank over the analysed steps',
      },
      predicted: flatPrediction(c, Math.max(0, c.baseStep - excess), input.ctx?.measuredExposedCommNs ?? 0),
      risk: IMBALANCE.risk,
      source: IMBALANCE.source,
      configChange: {},
      verifiable: false,
      pytorchHint: 'balance samples (or tokens) per rank, e.g. a length-grouped DistributedSampler',
      score: c.baseStep > 0 ? (0.5 * excess) / c.baseStep : 0,
    },
  ];
}

/**
 * Slow link (diagnosis): collectives of 1 MiB or more reach, weighted by transfer time, less
 * than half the link's peak bus bandwidth; the step is replayed at 80 % of peak.
 */
function slowLinkRule(c: RuleContext): Suggestion[] {
  const { input } = c;
  const peak = input.linkPeakGBps ?? input.ctx?.info.link?.bytesPerNs;
  if (!peak || peak <= 0 || !input.ctx) return [];
  const big = input.collectives.instances.filter((i) => (i.bytes ?? 0) >= MiB && i.busbwGBps !== undefined);
  if (big.length === 0) return [];
  const busbw =
    big.reduce((t, i) => t + (i.busbwGBps as number) * i.transferNs, 0) / big.reduce((t, i) => t + i.transferNs, 0);
  if (busbw >= 0.5 * peak) return [];
  const target = 0.8 * peak;
  const r = whatIfOn(input.ctx, {
    link: { ...input.ctx.link, bytesPerNs: input.ctx.link.bytesPerNs * (target / busbw) },
  });
  return [
    {
      id: 'slow-link',
      kind: SLOW_LINK.kind,
      changesAlgorithm: false,
      stepTimeGain: 0,
      title: `Collectives reach ${busbw.toFixed(2)} GB/s bus bandwidth, ${((100 * busbw) / peak).toFixed(0)} % of the link's ${peak.toFixed(1)} GB/s: at 80 % of peak, ${effect(r)}`,
      evidence: {
        metrics: { busbwGBps: busbw, linkPeakGBps: peak, collectives: big.length },
        sliceIndexes: big.flatMap((i) => i.participants.map((p) => p.sliceIndex)).slice(0, 64),
        text: 'collectives of 1 MiB or more, weighted by transfer time',
      },
      predicted: predictedOf(r),
      risk: SLOW_LINK.risk,
      source: SLOW_LINK.source,
      configChange: {},
      whatIf: r.change,
      verifiable: false,
      pytorchHint:
        'run nccl-tests all_reduce_perf on the same nodes; check NCCL_DEBUG=INFO for the transport (NET/IB vs NET/Socket, P2P/NVLink vs SHM)',
      score: 0.5 * saving(r),
    },
  ];
}

/**
 * Host-bound GPU (diagnosis): the first rank whose host wait (HTA's idle category: the
 * next kernel launched only after the previous one finished), averaged over its streams,
 * exceeds 30 % of its kernel span.
 */
function hostBoundRule(c: RuleContext): Suggestion[] {
  for (const r of c.input.ranks) {
    const span = r.temporal.spanNs;
    const host = r.idleByStream.reduce((t, s) => t + s.hostWaitNs, 0) / Math.max(1, r.idleByStream.length);
    if (span > 0 && host / span > 0.3) {
      return [
        {
          id: `host-bound-rank-${r.rank}`,
          kind: HOST_BOUND.kind,
          changesAlgorithm: false,
          stepTimeGain: 0,
          title: `Rank ${r.rank}'s GPU waits on the CPU: host wait is ${((100 * host) / span).toFixed(0)} % of the kernel span per stream`,
          evidence: {
            metrics: { hostWaitNs: host, spanNs: span },
            sliceIndexes: [],
            text: 'idle gaps where the next kernel was launched only after the previous one had finished',
          },
          predicted: flatPrediction(c, c.baseStep, c.input.ctx?.measuredExposedCommNs ?? 0),
          risk: HOST_BOUND.risk,
          source: HOST_BOUND.source,
          configChange: {},
          verifiable: false,
          pytorchHint:
            'capture the step with CUDA graphs (torch.compile(mode="reduce-overhead")), fuse small ops, or raise the batch size',
          score: 0.05 * (host / span),
        },
      ];
    }
  }
  return [];
}

/** Every rule, in the order their findings are gathered (the ranking then orders them). */
export const RULES: readonly { id: string; rule: Rule }[] = [
  { id: 'compression', rule: compressionRule },
  { id: 'overlap', rule: overlapRule },
  { id: 'local-updates', rule: localUpdatesRule },
  { id: 'sharding', rule: shardingRule },
  { id: 'sequence-parallel', rule: sequenceParallelRule },
  { id: 'layout', rule: layoutRule },
  { id: 'pipeline-micro-batches', rule: pipelineMicroBatchRule },
  { id: 'straggler', rule: stragglerRule },
  { id: 'imbalance', rule: imbalanceRule },
  { id: 'slow-link', rule: slowLinkRule },
  { id: 'host-bound', rule: hostBoundRule },
];

/** Rules whose findings are diagnoses (no config change): listed apart from the suggestions. */
const DIAGNOSIS_RULES: readonly string[] = ['straggler', 'imbalance', 'slow-link', 'host-bound'];

/**
 * The advice: every rule's findings. Config changes (`suggestions`) are kept when they
 * reach the worthwhile effect (WORTHWHILE) and, for a CommLens run with the runtime's
 * config check given, when the runtime accepts the config verify would run (else `refused`),
 * and ranked by predicted step-time gain, an
 * algorithm-changing one discounted by its risk weight so that it ranks below an exact
 * change of equal gain; memory-only wins follow the time wins. Diagnoses are listed apart,
 * largest cost first. The step-time gain of each finding is its prediction's.
 */
export function advise(input: AdvisorInput): Advice {
  const c = ruleContext(input);
  const suggestions: Suggestion[] = [];
  const diagnoses: Suggestion[] = [];
  const refused: Advice['refused'] = [];
  // A CommLens run's changes as verify will run them, checked by the runtime when the caller passed its check.
  const runConfig = input.pytorch ? undefined : (input.ctx?.info.runConfig as unknown as VerifiableConfig | undefined);
  // A run whose own config the runtime no longer accepts (an older run): its changes are not checked (verify will say).
  const baseProblems =
    input.checkRunConfig && runConfig ? input.checkRunConfig(runConfig as unknown as Record<string, unknown>) : [];
  const check = baseProblems.length === 0 ? input.checkRunConfig : undefined;
  const base = runConfig;
  for (const r of RULES) {
    for (const x of r.rule(c)) {
      x.stepTimeGain =
        x.predicted.baselineStepTimeNs > 0 ? 1 - x.predicted.stepTimeNs / x.predicted.baselineStepTimeNs : 0;
      if (DIAGNOSIS_RULES.includes(r.id)) diagnoses.push(x);
      else if (check && base && Object.keys(x.configChange).length > 0) {
        const problems = check(verificationConfig(base, x.configChange).config as unknown as Record<string, unknown>);
        if (problems.length > 0) refused.push({ id: x.id, problems });
        else suggestions.push(x);
      } else suggestions.push(x);
    }
  }
  suggestions.sort((a, b) => b.score - a.score);
  diagnoses.sort((a, b) => b.score - a.score);
  return {
    suggestions,
    diagnoses,
    ...(refused.length > 0 ? { refused } : {}),
    ...(baseProblems.length > 0 ? { uncheckedBecause: baseProblems } : {}),
  };
}

/** The suggestions and diagnoses of an analysis (older analyses kept diagnoses among the suggestions). */
export function splitAdvice(a: { suggestions?: Suggestion[]; diagnoses?: Suggestion[] }): Advice {
  if (a.diagnoses) return { suggestions: a.suggestions ?? [], diagnoses: a.diagnoses };
  const all = a.suggestions ?? [];
  return {
    suggestions: all.filter((s) => Object.keys(s.configChange ?? {}).length > 0),
    diagnoses: all.filter((s) => Object.keys(s.configChange ?? {}).length === 0),
  };
}
