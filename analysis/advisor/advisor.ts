/**
 * The advisor: rules over the metrics and the what-if replay that produce ranked
 * suggestions. Every suggestion carries its evidence (metric values and the spans that
 * show it), the replay's predicted effect, the risk, its source and the exact config
 * change a verifier can re-run (`configChange`, a partial CommLens run config; for
 * imported PyTorch traces, `pytorchHint` says the same in PyTorch terms).
 */
import type { CollectiveMetrics } from '../collectives';
import { COMPRESSORS, type CompressorName } from '../compressors';
import type { RankMetrics } from '../rankMetrics';
import type { StragglerReport } from '../stragglers';
import { whatIfOn, type ReplayContext, type WhatIfChange, type WhatIfResult } from '../replay/whatIf';
import { bucketingChange, compressionChange, exchangesGradients, localUpdatesChange, PYTORCH_CHANGE, sequenceParallelChange, zeroChange } from './configChange';
import { DGC_DENSITY, POWERSGD_RATIO } from '../compressors';
import type { RunInfo } from '../runInfo';
import { groupDigits } from '../../trace/format';
import { HOST_BOUND, IMBALANCE, LOCAL_UPDATES, OVERLAP, RISK_WEIGHT, SEQUENCE_PARALLEL, SLOW_LINK, STRAGGLER, STREAMING, ZERO } from './catalogue';

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
  /** Ranking score: predicted relative saving × risk weight (+ memory relief for sharding). */
  score: number;
}

export interface AdvisorInput {
  ctx?: ReplayContext;
  ranks: RankMetrics[];
  collectives: CollectiveMetrics;
  stragglers: StragglerReport;
  linkPeakGBps?: number;
  pytorch: boolean;
}

const MiB = 1024 * 1024;
const fmtMs = (ns: number) => `${(ns / 1e6).toFixed(ns < 1e7 ? 2 : 1)} ms`;
const fmtBytes = (b: number) => (b >= 1 << 30 ? `${(b / (1 << 30)).toFixed(1)} GiB` : b >= MiB ? `${(b / MiB).toFixed(0)} MiB` : `${(b / 1024).toFixed(0)} KiB`);
const fmtPct = (x: number) => `${x >= 0 ? '−' : '+'}${Math.abs(x).toFixed(0)} %`;

function predictedOf(r: WhatIfResult): Suggestion['predicted'] {
  return {
    stepTimeNs: r.predicted.stepTimeNs, exposedCommNs: r.predicted.exposedCommNs, peakMemoryBytes: r.predicted.peakMemoryBytes,
    bytesPerStep: r.predicted.bytesPerStep, baselineStepTimeNs: r.baseline.stepTimeNs, baselineExposedCommNs: r.baseline.exposedCommNs,
    baselinePeakMemoryBytes: r.baseline.peakMemoryBytes, baselineBytesPerStep: r.baseline.bytesPerStep,
    speedup: r.predicted.stepTimeNs > 0 ? r.baseline.stepTimeNs / r.predicted.stepTimeNs : 1,
    calibrationErrorPct: r.replay.calibrationErrorPct,
  };
}

const saving = (r: WhatIfResult) => (r.baseline.stepTimeNs > 0 ? 1 - r.predicted.stepTimeNs / r.baseline.stepTimeNs : 0);
const effect = (r: WhatIfResult) => `step ${fmtMs(r.baseline.stepTimeNs)} → ${fmtMs(r.predicted.stepTimeNs)} (${fmtPct(100 * saving(r))})`;

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

/** Produces the ranked suggestions. Rules that lack the data they need are skipped. */
export function advise(input: AdvisorInput): Suggestion[] {
  const out: Suggestion[] = [];
  const { ctx, pytorch } = input;
  const commEvidence = ctx ? ctx.graph.collectives.filter((c) => c.gradient).flatMap((c) => c.sliceIndexes).slice(0, 64) : [];
  const meanOverlap = input.ranks.length > 0 ? input.ranks.reduce((t, r) => t + r.overlap.overlapPct, 0) / input.ranks.length : 0;
  const hasGradComm = !!ctx && ctx.graph.collectives.some((c) => c.gradient);
  const baseStep = ctx?.measuredStepNs ?? 0;
  const exposedShare = ctx && baseStep > 0 ? ctx.measuredExposedCommNs / baseStep : 0;
  const commMetrics = (): Record<string, number> => ({
    stepTimeNs: baseStep, exposedCommNs: ctx?.measuredExposedCommNs ?? 0, exposedCommPct: 100 * exposedShare, overlapPct: meanOverlap,
  });

  if (ctx && hasGradComm && exposedShare >= 0.05 && (pytorch || exchangesGradients(ctx.info))) {
    // Compression.
    for (const name of Object.keys(COMPRESSORS) as CompressorName[]) {
      const c = COMPRESSORS[name];
      if (name === 'onebit-adam' && !pytorch && ctx.info.optimizerKind === 'sgd') continue;
      const change: WhatIfChange = { compression: { method: name, volumeRatio: volumeRatioFor(name, ctx.info, pytorch, ctx.worldSize) } };
      const r = whatIfOn(ctx, change);
      if (saving(r) < 0.02) continue;
      out.push({
        id: `compression-${name}`, kind: 'compression',
        title: `${pytorch ? c.pytorchTitle : c.title}: ${effect(r)}`,
        evidence: { metrics: { ...commMetrics(), bytesPerStep: r.baseline.bytesPerStep }, sliceIndexes: commEvidence, text: `${(100 * exposedShare).toFixed(1)} % of the step is communication not hidden under compute` },
        predicted: predictedOf(r), risk: c.risk, source: c.source, whatIf: change, verifiable: !pytorch,
        configChange: pytorch ? PYTORCH_CHANGE.compression(name) : compressionChange(ctx.info, name),
        pytorchHint: c.pytorchHint, score: saving(r) * RISK_WEIGHT[name],
      });
    }
    // Overlap: the best bucket cap with gradients launched during backward.
    const current = ctx.info.bucketCapMb;
    let best: { cap: number; r: WhatIfResult } | undefined;
    for (const cap of [1, 5, 25, 100]) {
      const r = whatIfOn(ctx, { bucketing: { bucketCapMb: cap, overlap: true } });
      if (!best || r.predicted.stepTimeNs < best.r.predicted.stepTimeNs) best = { cap, r };
    }
    if (best && saving(best.r) >= 0.02 && best.cap !== current) {
      const change: WhatIfChange = { bucketing: { bucketCapMb: best.cap, overlap: true } };
      out.push({
        id: `overlap-bucket-${best.cap}mb`, kind: OVERLAP.kind,
        title: pytorch ? `DDP bucket_cap_mb=${best.cap} with gradients all-reduced during backward: ${effect(best.r)}` : `Overlap the gradient all-reduce with backward in ${best.cap} MiB buckets: ${effect(best.r)}`,
        evidence: { metrics: { ...commMetrics(), gradientCollectives: ctx.graph.collectives.filter((c) => c.gradient).length }, sliceIndexes: commEvidence, text: `communication overlaps compute only ${meanOverlap.toFixed(1)} % of its time` },
        predicted: predictedOf(best.r), risk: OVERLAP.risk, source: OVERLAP.source, whatIf: change,
        configChange: pytorch ? PYTORCH_CHANGE.bucketing(best.cap) : bucketingChange(ctx.info, best.cap),
        verifiable: !pytorch, pytorchHint: `DistributedDataParallel(model, bucket_cap_mb=${best.cap})`, score: saving(best.r) * RISK_WEIGHT.overlap,
      });
    }
    // Local updates.
    if (exposedShare >= 0.15) {
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
          id: `${strategy}-h${bestH.H}`, kind: entry.kind,
          title: `${streaming ? 'Streaming DiLoCo' : 'DiLoCo'}: synchronize every ${bestH.H} steps${streaming ? ', overlapped with the next inner steps' : ''}: ${effect(bestH.r)}`,
          evidence: { metrics: commMetrics(), sliceIndexes: commEvidence, text: `communication exposes ${(100 * exposedShare).toFixed(1)} % of every step` },
          predicted: predictedOf(bestH.r), risk: entry.risk, source: entry.source, whatIf: { localSteps: { H: bestH.H, streaming } },
          configChange: pytorch ? PYTORCH_CHANGE.localUpdates(bestH.H) : localUpdatesChange(streaming, bestH.H),
          verifiable: !pytorch, pytorchHint: `post-local SGD: register_comm_hook(PostLocalSGDState(process_group=None, subgroup=None, start_localSGD_iter=warmup), post_localSGD_hook) with PeriodicModelAverager(period=${bestH.H}); or a DiLoCo implementation`,
          score: saving(bestH.r) * RISK_WEIGHT['local-updates'],
        });
      }
    }
  }

  // Sharding: memory relief at (nearly) the same step time.
  if (ctx && ctx.paramCount) {
    for (const stage of [1, 2, 3] as const) {
      const r = whatIfOn(ctx, { zeroStage: stage });
      const b = r.baseline.peakMemoryBytes, p = r.predicted.peakMemoryBytes;
      if (b === undefined || p === undefined || b <= 0) continue;
      const memSaving = 1 - p / b;
      const slowdown = -saving(r);
      if (memSaving < 0.15 || slowdown > 0.25) continue;
      // Memory relief counts for much only when memory is known to be tight.
      const memoryWeight = ctx.info.deviceMemoryBytes ? 0.5 * Math.min(1, b / ctx.info.deviceMemoryBytes) : 0.1;
      const z = ZERO[stage];
      out.push({
        id: `zero${stage}`, kind: z.kind,
        title: pytorch
          ? `Shard with ${stage === 1 ? 'ZeroRedundancyOptimizer' : stage === 2 ? 'FSDP SHARD_GRAD_OP' : 'FSDP FULL_SHARD'} / DeepSpeed ZeRO-${stage}: memory ${fmtBytes(b)} → ${fmtBytes(p)} per rank, ${effect(r)}`
          : `ZeRO stage ${stage}: memory ${fmtBytes(b)} → ${fmtBytes(p)} per rank, ${effect(r)}`,
        evidence: { metrics: { peakMemoryBytes: b, paramCount: ctx.paramCount, worldSize: ctx.worldSize }, sliceIndexes: [], text: `every rank holds all ${groupDigits(Math.round(ctx.paramCount))} parameters, their gradients and optimizer states` },
        predicted: predictedOf(r), risk: z.risk, source: z.source, whatIf: { zeroStage: stage },
        configChange: pytorch ? PYTORCH_CHANGE.zero(stage) : zeroChange(stage),
        verifiable: !pytorch, pytorchHint: `${z.pytorch}; DeepSpeed: ${z.deepspeed}`,
        score: memSaving * memoryWeight - Math.max(0, slowdown) + Math.max(0, saving(r)),
      });
    }
    const { seqLen, hidden, layers, heads } = ctx.info;
    // Ulysses shards heads and the sequence over the degree, which must divide the world size.
    const degree = [8, 4, 2].find((p) => p <= ctx.worldSize && ctx.worldSize % p === 0 && (!heads || heads % p === 0) && (!seqLen || seqLen % p === 0));
    if (seqLen && hidden && layers && degree && seqLen >= 4096) {
      const r = whatIfOn(ctx, { sequenceParallel: { degree } });
      if (r.predicted.peakMemoryBytes !== undefined && r.baseline.peakMemoryBytes !== undefined && r.predicted.peakMemoryBytes < r.baseline.peakMemoryBytes * 0.85) {
        out.push({
          id: `sequence-parallel-${degree}`, kind: SEQUENCE_PARALLEL.kind,
          title: `Split the ${seqLen}-token sequences over ${degree} ranks (Ulysses sequence parallelism)`,
          evidence: { metrics: { seqLen, hidden, layers, peakMemoryBytes: r.baseline.peakMemoryBytes }, sliceIndexes: [], text: 'activations of long sequences dominate memory' },
          predicted: predictedOf(r), risk: SEQUENCE_PARALLEL.risk, source: SEQUENCE_PARALLEL.source, whatIf: { sequenceParallel: { degree } },
          configChange: pytorch ? PYTORCH_CHANGE.sequenceParallel(degree) : sequenceParallelChange(degree),
          verifiable: !pytorch, pytorchHint: 'DeepSpeed-Ulysses DistributedAttention (deepspeed.sequence.layer), or PyTorch context parallel', score: 0.1 * RISK_WEIGHT['sequence-parallel'],
        });
      }
    }
  }

  out.push(...diagnoses(input, baseStep));
  // A change predicted to cost more than it gives is not a suggestion.
  const kept = out.filter((x) => x.score > 0);
  kept.sort((a, b) => b.score - a.score);
  return kept;
}

/** Suggestions that are diagnoses (no config to re-run): stragglers, imbalance, a slow link, a host-bound GPU. */
function diagnoses(input: AdvisorInput, baseStep: number): Suggestion[] {
  const out: Suggestion[] = [];
  const steps = Math.max(1, ...input.ranks.map((r) => r.steps.length));
  const flat = (stepNs: number, exposed: number): Suggestion['predicted'] => ({
    stepTimeNs: stepNs, exposedCommNs: exposed, baselineStepTimeNs: baseStep, baselineExposedCommNs: exposed, speedup: stepNs > 0 ? baseStep / stepNs : 1,
  });
  const exposedNow = input.ctx?.measuredExposedCommNs ?? 0;
  for (const rank of input.stragglers.stragglers) {
    const s = input.stragglers.ranks.find((x) => x.rank === rank)!;
    const perStepCost = (s.meanLatenessNs * s.lastArrivals) / steps;
    const predicted = Math.max(0, baseStep - perStepCost);
    out.push({
      id: `straggler-rank-${rank}`, kind: STRAGGLER.kind,
      title: `Rank ${rank} is a straggler: it arrives last at ${s.lastArrivals} of ${s.collectives} collectives and costs the others ${fmtMs(s.costToOthersNs / steps)} per step`,
      evidence: {
        metrics: { rank, lastArrivals: s.lastArrivals, collectives: s.collectives, costToOthersNs: s.costToOthersNs, meanLatenessNs: s.meanLatenessNs, meanComputeExcessNs: s.meanComputeExcessNs, computeNs: s.computeNs },
        sliceIndexes: s.evidenceSlices,
        text: `the other ranks wait inside these collectives for this rank${s.meanComputeExcessNs > 0.5 * s.meanLatenessNs ? `, whose compute before each of them takes ${fmtMs(s.meanComputeExcessNs)} longer than theirs` : ''}`,
      },
      predicted: flat(predicted, Math.max(0, exposedNow - perStepCost)), risk: STRAGGLER.risk, source: STRAGGLER.source, configChange: {}, verifiable: false,
      pytorchHint: 'compare this rank\'s GPU kernels with the others (torch.cuda clocks, nvidia-smi -q -d PERFORMANCE) and its data loader time', score: baseStep > 0 ? (0.8 * perStepCost) / baseStep : 0,
    });
  }
  if (input.stragglers.computeImbalance > 1.1 && input.ranks.length >= 2) {
    const computes = input.ranks.map((r) => r.temporal.computeNs);
    const mean = computes.reduce((a, b) => a + b, 0) / computes.length;
    const excess = (Math.max(...computes) - mean) / steps;
    out.push({
      id: 'imbalance', kind: IMBALANCE.kind,
      title: `Compute is imbalanced across ranks: the busiest computes ${((input.stragglers.computeImbalance - 1) * 100).toFixed(0)} % more than the mean`,
      evidence: { metrics: { computeImbalance: input.stragglers.computeImbalance, ...Object.fromEntries(input.ranks.map((r) => [`computeNsRank${r.rank}`, r.temporal.computeNs])) }, sliceIndexes: [], text: 'computation time per rank over the analysed steps' },
      predicted: flat(Math.max(0, baseStep - excess), exposedNow), risk: IMBALANCE.risk, source: IMBALANCE.source, configChange: {}, verifiable: false,
      pytorchHint: 'balance samples (or tokens) per rank, e.g. a length-grouped DistributedSampler', score: baseStep > 0 ? (0.5 * excess) / baseStep : 0,
    });
  }
  const peak = input.linkPeakGBps ?? input.ctx?.info.link?.bytesPerNs;
  if (peak && peak > 0) {
    const big = input.collectives.instances.filter((i) => (i.bytes ?? 0) >= MiB && i.busbwGBps !== undefined);
    if (big.length > 0) {
      const busbw = big.reduce((t, i) => t + (i.busbwGBps as number) * i.transferNs, 0) / big.reduce((t, i) => t + i.transferNs, 0);
      if (busbw < 0.5 * peak && input.ctx) {
        const target = 0.8 * peak;
        const r = whatIfOn(input.ctx, { link: { ...input.ctx.link, bytesPerNs: input.ctx.link.bytesPerNs * (target / busbw) } });
        out.push({
          id: 'slow-link', kind: SLOW_LINK.kind,
          title: `Collectives reach ${busbw.toFixed(2)} GB/s bus bandwidth, ${((100 * busbw) / peak).toFixed(0)} % of the link's ${peak.toFixed(1)} GB/s: at 80 % of peak, ${effect(r)}`,
          evidence: { metrics: { busbwGBps: busbw, linkPeakGBps: peak, collectives: big.length }, sliceIndexes: big.flatMap((i) => i.participants.map((p) => p.sliceIndex)).slice(0, 64), text: 'collectives of 1 MiB or more, weighted by transfer time' },
          predicted: predictedOf(r), risk: SLOW_LINK.risk, source: SLOW_LINK.source, configChange: {}, whatIf: r.change, verifiable: false,
          pytorchHint: 'run nccl-tests all_reduce_perf on the same nodes; check NCCL_DEBUG=INFO for the transport (NET/IB vs NET/Socket, P2P/NVLink vs SHM)', score: 0.5 * saving(r),
        });
      }
    }
  }
  for (const r of input.ranks) {
    const span = r.temporal.spanNs;
    const host = r.idleByStream.reduce((t, s) => t + s.hostWaitNs, 0) / Math.max(1, r.idleByStream.length);
    if (span > 0 && host / span > 0.3) {
      out.push({
        id: `host-bound-rank-${r.rank}`, kind: HOST_BOUND.kind,
        title: `Rank ${r.rank}'s GPU waits on the CPU: host wait is ${((100 * host) / span).toFixed(0)} % of the kernel span per stream`,
        evidence: { metrics: { hostWaitNs: host, spanNs: span }, sliceIndexes: [], text: 'idle gaps where the next kernel was launched only after the previous one had finished' },
        predicted: flat(baseStep, exposedNow), risk: HOST_BOUND.risk, source: HOST_BOUND.source, configChange: {}, verifiable: false,
        pytorchHint: 'capture the step with CUDA graphs (torch.compile(mode="reduce-overhead")), fuse small ops, or raise the batch size', score: 0.05 * (host / span),
      });
      break;
    }
  }
  return out;
}
