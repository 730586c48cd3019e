/**
 * What-if replay: predicted step time, exposed communication, bytes per step and peak
 * memory per rank under a change of compression, bucketing/overlap, ZeRO stage, link,
 * world size, local updates or sequence parallelism.
 *
 * Step times are predicted by the delta method: measured step + (replay with the change −
 * replay without it), so whatever the replay misses about the baseline cancels out; the
 * replay's own error on the baseline is reported as calibrationErrorPct.
 */
import type { Slice, TraceModel } from '../../trace/model';
import { measuredSharingFactor, PRICE_SHARING, sharedTimeFactor, sharingSpeedupOf } from './sharing';
import { collectiveMetrics, type CollectiveInstance } from '../collectives';
import { COMPRESSORS, compressionKeepsBuckets, encodeDecodeNs, type CompressorName } from '../compressors';
import { representativeStep } from '../criticalPath';
import { memoryPerRank } from '../computeStats';
import { commCompOverlap, stepExposedCommNs, unionsOfStep } from '../breakdown';
import { buildRankViews, opsOfStep, stepHasOps, type RankView } from '../rankView';
import { runInfoOf, type LinkProfile, type RunInfo } from '../runInfo';
import { collectiveCostNs, fitLink, type Topology } from './costModel';
import {
  chainReplay,
  COMPONENT_NAMES,
  sharingOfStep,
  simulate,
  type ChainedReplay,
  type Replay,
  type StepComponents,
} from './simulate';
import { buildStepGraph, type Segment, type StepGraph } from './stepGraph';
import {
  addBlockingCollective,
  changeLinkAndWorld,
  changeTopology,
  cloneGraph,
  compressAsExchange,
  compressGradients,
  copyNs,
  dropGradientCollectives,
  measuredEfficiency,
  addedCostNs,
  tunerRuns,
  optimizerOnHost,
  rebucket,
  scaleSegments,
  type StagingModel,
} from './transforms';
import { modelStatesBytes, type Precision } from './memoryModel';
import { CONTEXT_PARALLEL, layoutOfRun, type DispatchCosts, type LayoutStep, type MeasuredRun } from './layouts';
import { formatDurationNs, groupDigits } from '../../trace/format';
import { fitLatencyAndSpeed, mean, median } from '../../trace/stats';
import { lengthOf, unionOf } from '../intervals';
import {
  driftLagNs,
  expectedMaxOfNormals,
  fragmentHostWork,
  planFragments,
  streamingPeriod,
  type OuterStepCosts,
  type RankDrift,
} from './streaming';
import { onebitWarmupBounds, VARIANCE_STABLE_CHANGE } from '../../trace/onebitWarmup';
import { hostShareUnderLoad, otherLoadOf, otherLoadText, quietShareUnderLoad, type OtherLoad } from './load';

export interface WhatIfChange {
  /** Gradient compression; volumeRatio / encodeGBps override the method's defaults. */
  compression?: { method: CompressorName; volumeRatio?: number; encodeGBps?: number };
  /**
   * Gradient buckets of bucketCapMb MiB, launched during backward when overlap (default true).
   * With `currentCapMb` (the run's own cap, when known) the change is priced against the run
   * rebucketed at that cap, as a run overlapping its buckets does, instead of against the
   * measured graph: whatever the rebucketing model adds or misses on this trace then counts on
   * both sides. (On the HTA-sampled pair the model's replay of the run's own 25 MiB read +31 %:
   * it couples the ranks at every bucket where their unmatched all-reduces had run apart.)
   */
  bucketing?: { bucketCapMb: number; overlap?: boolean; firstBucketCapMb?: number; currentCapMb?: number };
  zeroStage?: 0 | 1 | 2 | 3;
  link?: LinkProfile;
  /** Nodes of ranksPerNode ranks with an intra- and an inter-node link (hierarchical collectives). */
  topology?: Topology;
  /** Weak scaling: the same per-rank work on this many ranks. */
  worldSize?: number;
  /**
   * Synchronize every H steps (DiLoCo); streaming cuts the parameters into `fragments`
   * (default 2) synchronised at staggered steps, each overlapping the next `overlapSteps`
   * (default 1) inner steps (streaming.ts), as the `streaming-diloco` strategy's defaults.
   */
  localSteps?: { H: number; streaming?: boolean; fragments?: number; overlapSteps?: number };
  /** Ulysses sequence parallelism over `degree` ranks (needs seqLen, hidden, layers in the run config). */
  sequenceParallel?: { degree: number };
}

export interface WhatIfNumbers {
  stepTimeNs: number;
  exposedCommNs: number;
  bytesPerStep: number;
  peakMemoryBytes?: number;
}

/** One component of the step (simulate.ts StepComponents) in the replay without and with the change. */
export interface ComponentPrediction {
  baselineNs: number;
  predictedNs: number;
}

/**
 * Where the prediction comes from: each component of the step, mean over ranks, median
 * over the replayed steps, replayed without and with the change (for local updates the
 * average over a period of H steps). The step time moves by the change of the critical
 * path through them, not by their sum.
 */
export type PredictedComponents = Record<keyof StepComponents, ComponentPrediction>;

export interface WhatIfResult {
  change: WhatIfChange;
  step?: number;
  baseline: WhatIfNumbers;
  predicted: WhatIfNumbers & {
    perRank: { rank: number; stepTimeNs: number; exposedCommNs: number; peakMemoryBytes?: number }[];
    components: PredictedComponents;
  };
  replay: { baselineNs: number; changedNs: number; calibrationErrorPct: number };
  /** The replay context's notes (what the whole trace lacked or was estimated from), then changeNotes. */
  notes: string[];
  /**
   * What pricing this change took beyond the measured run, in words: where its codec, host-work
   * and copy speeds came from, the ranks' drift between local-update syncs, a phase the
   * prediction leaves out (1-bit Adam's warm-up), what could not be replayed. The advisor shows
   * them with the suggestion (Suggestion.predicted.notes).
   */
  changeNotes: string[];
}

/** Everything the replay needs, computed once per trace and reused for many changes. */
export interface ReplayContext {
  model: TraceModel;
  info: RunInfo;
  views: RankView[];
  instances: CollectiveInstance[];
  /** The representative step's graph (the last replayed step) and its replay. */
  graph: StepGraph;
  baseReplay: Replay;
  /** Every replayed step (the last few analysed steps all ranks share, warm-up left out) and their replays. */
  graphs: StepGraph[];
  baseReplays: Replay[];
  /** The link the measured transfers ran on (the run's profile, else fitted from the trace). */
  link: LinkProfile;
  /** How staging copies are priced when a change moves other bytes (undefined: the trace has none). */
  staging?: StagingModel;
  worldSize: number;
  /** Ranks of one data-parallel group, over which ZeRO shards (the world unless the job is model parallel too). */
  dataParallelSize: number;
  onGpu: boolean;
  /** The load other programs put on the machine beside the measured run (load.ts), on a software GPU. */
  load?: OtherLoad;
  paramCount?: number;
  precision: Precision;
  /**
   * The measured step time predictions start from: the run's step time (analysis/runFigures.ts,
   * steady-state steps only) when the analysis passes it; else the median over the analysed
   * steps (after the first, when there are more) of the step markers' duration, the longest
   * rank's; without step markers, the representative step's GPU span.
   */
  measuredStepNs: number;
  /** Exposed communication per step: mean over ranks, median over the same steps. */
  measuredExposedCommNs: number;
  measuredPeakBytesByRank: Map<number, number>;
  notes: string[];
}

/** Builds the replay context of a trace (views, collectives, the step graph, the baseline replay). */
export function prepareReplay(
  model: TraceModel,
  opts: {
    includeLastStep?: boolean;
    views?: RankView[];
    instances?: CollectiveInstance[];
    figures?: BaselineFigures;
    /** The parameter count when the caller knows it (an imported job's, from its gradient elements: jobSettings.ts). */
    paramCount?: number;
    /** An imported job's model-parallel process groups (jobSettings.ts): their all-reduces are not gradients. */
    modelParallelGroups?: ReadonlySet<string>;
    /** Ranks of one data-parallel group (an imported job's layout, jobSettings.ts), over which ZeRO shards; default the world. */
    dataParallelSize?: number;
    /** The cores other programs used while the run was measured (analysis/otherPrograms.ts), for the load model (load.ts). */
    otherProgramsCores?: number;
    /** The same while rank 0 waited on its collectives (the split counter). */
    otherWhileWaitingCores?: number;
  } = {},
): ReplayContext {
  const notes: string[] = [];
  const info = runInfoOf(model);
  const views = opts.views ?? buildRankViews(model, { includeLastStep: opts.includeLastStep });
  const instances = opts.instances ?? collectiveMetrics(model, views).instances;
  const graphs = replaySteps(views, opts.figures?.warmupSteps).map((step) =>
    buildStepGraph(model, views, instances, step, { modelParallelGroups: opts.modelParallelGroups }),
  );
  const graph = graphs[graphs.length - 1];
  notes.push(...graph.notes);
  const baseReplays = graphs.map((g) => simulate(g));
  const baseReplay = baseReplays[baseReplays.length - 1];
  if (baseReplay.stalled) notes.push(baseReplay.stalled);
  const worldSize = info.worldSize ?? Math.max(views.length, ...instances.map((i) => i.groupSize));
  // A CommLens run's link is the runtime's emulation: a wire per ordered pair of ranks.
  let link = info.link && model.meta.format === 'commlens' ? { ...info.link, pairWires: true } : info.link;
  if (!link) {
    link = fitLink(
      instances
        .filter((i) => i.bytes !== undefined)
        .map((i) => ({ op: i.op, bytes: i.bytes as number, n: i.groupSize, transferNs: i.transferNs })),
    );
    if (link)
      notes.push(
        `no link profile in the trace: bandwidth fitted from the measured collectives (${link.bytesPerNs.toFixed(2)} GB/s bus, α = ${link.alphaNs / 1000} µs)`,
      );
    else {
      link = { name: 'assumed', alphaNs: 5_000, bytesPerNs: 25 };
      notes.push('no link profile and no collective sizes: assuming 25 GB/s and α = 5 µs');
    }
  }
  const staging = stagingModelOf(model, info);
  if (staging)
    notes.push(
      `staging copies priced from ${staging.source}: device-to-host ${formatDurationNs(staging.d2h.latencyNs)} + ${staging.d2h.bytesPerNs.toFixed(2)} GB/s, host-to-device ${formatDurationNs(staging.h2d.latencyNs)} + ${staging.h2d.bytesPerNs.toFixed(2)} GB/s (scaled by measured / modelled time of the copies in the trace)`,
    );
  const gradBytes = bytesOf(graph, true);
  const paramCount =
    info.paramCount ?? opts.paramCount ?? (gradBytes > 0 ? gradBytes / (info.gradBytesPerElement ?? 4) : undefined);
  if (!info.paramCount && !opts.paramCount && paramCount)
    notes.push(`parameter count estimated from the gradient bytes per step: ${groupDigits(Math.round(paramCount))}`);
  const fallback = measuredPerStep(views, graph);
  // The run's own figures (analysis/runFigures.ts) are the baseline every surface shows.
  const measured = {
    stepNs: opts.figures?.stepTimeNs ?? fallback.stepNs,
    exposedNs: opts.figures?.exposedCommNs ?? fallback.exposedNs,
  };
  const mem = memoryPerRank(model, views);
  const onGpu = model.meta.format === 'kineto';
  const load = otherLoadOf({
    hostCores: info.hostCores,
    idleOtherCores: info.hostProbe?.idleOtherCores,
    otherProgramsCores: opts.otherProgramsCores,
    otherWhileWaitingCores: opts.otherWhileWaitingCores,
    sharingSpeedup: info.hostProbe?.sharingSpeedup,
    onGpu,
  });
  if (load && 'missing' in load)
    notes.push(
      `other programs were busy while the run was measured, but its host loops are priced at the host probe's share of a core alone: ${load.missing}`,
    );
  return {
    model,
    info,
    views,
    instances,
    graph,
    baseReplay,
    graphs,
    baseReplays,
    link,
    staging,
    worldSize,
    dataParallelSize: opts.dataParallelSize ?? worldSize,
    notes,
    paramCount,
    onGpu,
    ...(load && !('missing' in load) ? { load } : {}),
    precision: model.meta.format === 'commlens' ? 'fp32' : 'mixed',
    measuredStepNs: measured.stepNs,
    measuredExposedCommNs: measured.exposedNs,
    measuredPeakBytesByRank: new Map(mem.map((m) => [m.rank, m.peakBytes])),
  };
}

/**
 * The staging model: the host probe's figures when the run recorded them, else a fit of
 * latency + bytes / speed to the staging copies in the trace (each direction), else none
 * (imported traces stage nothing on the host).
 */
function stagingModelOf(model: TraceModel, info: RunInfo): StagingModel | undefined {
  const p = info.hostProbe;
  if (p?.d2h && p.h2d) return { d2h: p.d2h, h2d: p.h2d, source: 'the host probe at the start of the run' };
  const samples = { d2h: [] as { bytes: number; ns: number }[], h2d: [] as { bytes: number; ns: number }[] };
  for (const sl of model.slices) {
    if (sl.category !== 'staging' || typeof sl.args?.bytes !== 'number' || sl.args.bytes <= 0) continue;
    const dir =
      sl.args.direction === 'h2d' || /h2d/i.test(sl.name)
        ? 'h2d'
        : sl.args.direction === 'd2h' || /d2h/i.test(sl.name)
          ? 'd2h'
          : undefined;
    if (dir) samples[dir].push({ bytes: sl.args.bytes, ns: sl.durNs });
  }
  if (samples.d2h.length === 0) return undefined;
  return {
    d2h: fitLatencyAndSpeed(samples.d2h),
    h2d: samples.h2d.length > 0 ? fitLatencyAndSpeed(samples.h2d) : fitLatencyAndSpeed(samples.d2h),
    source: `a fit to the trace's ${samples.d2h.length + samples.h2d.length} staging copies (no host probe in the trace)`,
  };
}

/**
 * Bytes per step of one rank: Σ buffer bytes (nccl-tests' S) over the collectives it takes
 * part in — what CommLens' `bytes sent per step` counter and summary count, so predicted and
 * measured compare directly — the largest over ranks. `gradientOnly` counts only gradient
 * reductions.
 */
/** The bytes per step of the replayed run (collective buffers, the busiest rank's): the baseline every prediction's bytes compare with. */
export function baselineBytesPerStep(ctx: ReplayContext): number {
  return bytesOf(ctx.graph);
}

/** The most bytes one rank's collectives move in the step (of its gradient collectives only, when asked). */
function bytesOf(g: StepGraph, gradientOnly = false): number {
  const at = new Map(g.ranks.map((r, i) => [r, i]));
  // Summed rank by rank in the collectives' order; walking each collective's participants,
  // not every rank against every collective (1,024 ranks × their collectives).
  const total = new Float64Array(g.ranks.length);
  for (const c of g.collectives) {
    if (gradientOnly && !c.gradient) continue;
    const bytes = c.bytes ?? 0;
    for (const r of c.triggers.keys()) {
      const i = at.get(r);
      if (i !== undefined) total[i] += bytes;
    }
  }
  let best = 0;
  for (let i = 0; i < total.length; i++) best = Math.max(best, total[i]);
  return best;
}

function dropped(g: StepGraph): StepGraph {
  const c = cloneGraph(g);
  dropGradientCollectives(c);
  return c;
}

/** The run's figures the replay starts from (analysis/runFigures.ts), when the analysis has them. */
export interface BaselineFigures {
  warmupSteps: number[];
  stepTimeNs?: number;
  exposedCommNs?: number;
}

/** The most steps the replay replays (the last steady steps all ranks share). */
export const REPLAY_STEPS = 5;

/**
 * The steps to replay: up to the last REPLAY_STEPS analysed steps every rank has ops in (fewer
 * when digested ranks kept fewer), the warm-up steps left out (without a warm-up set: the
 * first, when there are three or more); else the representative step.
 */
function replaySteps(views: RankView[], warmupSteps?: number[]): (number | undefined)[] {
  let common: number[] | undefined;
  for (const v of views) {
    const mine = v.analysedSteps.map((s) => s.step).filter((n) => stepHasOps(v, n));
    common = common ? common.filter((n) => mine.includes(n)) : mine;
  }
  const steps = [...new Set(common ?? [])].sort((a, b) => a - b);
  const steady = warmupSteps
    ? steps.filter((n) => !warmupSteps.includes(n))
    : steps.length >= 3
      ? steps.slice(1)
      : steps;
  const usable = steady.length > 0 ? steady : steps;
  // Ranks digested where they were read keep the ops of their last few steps only (analysis/rankDigest.ts).
  let count = REPLAY_STEPS;
  for (const v of views) if (v.partial) count = Math.min(count, v.partial.keptStepCount);
  return usable.length > 0 ? usable.slice(-count) : [representativeStep(views)];
}

/** The baseline figures, computed the way a re-run of the job will be measured (see ReplayContext). */
function measuredPerStep(views: RankView[], graph: StepGraph): { stepNs: number; exposedNs: number } {
  const steps = new Map<number, { durs: number[]; exposed: number[] }>();
  for (const v of views) {
    for (const st of v.analysedSteps) {
      const e = steps.get(st.step) ?? { durs: [], exposed: [] };
      e.durs.push(st.endNs - st.startNs);
      e.exposed.push(stepExposedCommNs(v, st.step));
      steps.set(st.step, e);
    }
  }
  const ordered = [...steps.keys()].sort((a, b) => a - b);
  const usable = ordered.length > 1 ? ordered.slice(1) : ordered;
  if (usable.length === 0) {
    const exposed = views.map((v) => commCompOverlap(unionsOfStep(v, graph.step)).exposedCommNs);
    return {
      stepNs: graph.measuredStepNs,
      exposedNs: exposed.length > 0 ? exposed.reduce((a, b) => a + b, 0) / exposed.length : 0,
    };
  }
  return {
    stepNs: median(usable.map((k) => Math.max(...steps.get(k)!.durs))),
    exposedNs: median(
      usable.map((k) => steps.get(k)!.exposed.reduce((a, b) => a + b, 0) / steps.get(k)!.exposed.length),
    ),
  };
}

interface OneReplay {
  changed: Replay;
  /** The changed step's graph (for chainReplay). */
  graph: StepGraph;
  /** The changed step's components (for local updates, the mean over a period). */
  components: StepComponents;
  stepDelta: number;
  exposedDelta: number;
  bytesPerStep: number;
  extraBytesPerParam: number;
  activationFactor: number;
}

/** Applies a change to one step graph and replays it against that step's baseline replay. */
function replayOne(
  ctx: ReplayContext,
  graph: StepGraph,
  baseReplay: Replay,
  change: WhatIfChange,
  notes: string[],
): OneReplay {
  const g = cloneGraph(graph);
  const n = change.worldSize ?? ctx.worldSize;
  // Another link profile on the same runtime keeps its wiring (a wire per pair for a CommLens run).
  const link = change.link ? { ...change.link, pairWires: ctx.link.pairWires } : ctx.link;
  if (change.link || change.worldSize) changeLinkAndWorld(g, ctx.link, link, ctx.worldSize, n);
  if (change.topology) {
    // Its links on the same runtime, as `link` above (a CommLens run's links keep its wiring).
    const wired = (l: LinkProfile): LinkProfile => ({ ...l, pairWires: ctx.link.pairWires });
    const topology = {
      ...change.topology,
      intraLink: wired(change.topology.intraLink),
      interLink: wired(change.topology.interLink),
    };
    const unknown = changeTopology(g, link, topology);
    if (unknown > 0) notes.push(`${unknown} collective(s) without sizes keep their measured time on the new topology`);
  }
  const stage = change.zeroStage ?? 0;
  if (change.bucketing) {
    const r = rebucket(
      g,
      link,
      change.bucketing.bucketCapMb * 1024 * 1024,
      change.bucketing.overlap ?? true,
      (change.bucketing.firstBucketCapMb ?? 1) * 1024 * 1024,
      'allReduce',
      ctx.staging,
      // CommLens buckets whole layers of its engine: the run config's layer sizes.
      ctx.model.meta.format === 'commlens'
        ? ctx.info.layerParams?.map((k) => k * (ctx.info.gradBytesPerElement ?? 4))
        : undefined,
    );
    if (r.buckets === 0) notes.push('no gradient collectives with known sizes: bucketing cannot be replayed');
  }
  let extraBytesPerParam = 0;
  if (change.compression) {
    const c = COMPRESSORS[change.compression.method];
    const ratio =
      change.compression.volumeRatio !== undefined ? () => change.compression!.volumeRatio as number : c.volumeRatio;
    const gbps = change.compression.encodeGBps;
    const host = codecCoreShare(ctx);
    const coresPerRank = host.cores;
    const probed = ctx.onGpu ? undefined : ctx.info.hostProbe?.codecBytesPerNs[c.name];
    const encode = (bytes: number) => (gbps ? bytes / gbps : encodeDecodeNs(c, bytes, ctx.onGpu, coresPerRank, probed));
    notes.push(
      gbps
        ? `codec cost: ${gbps} GB/s as given`
        : `${codecSourceNote(c.name, ctx.onGpu, probed, c.encodeGBpsCpu, c.encodeGBpsGpu, ctx.info.hostProbe !== undefined)}${ctx.onGpu ? '' : `, at ${host.text}`}`,
    );
    // A CommLens run re-runs with CommLens' own strategy: replay the exchange it will send
    // (a volume ratio given scales each of its collectives).
    const scale =
      change.compression.volumeRatio !== undefined
        ? change.compression.volumeRatio / Math.max(1e-12, c.volumeRatio(n))
        : 1;
    const exchange = c.exchange(n).map((e) => ({ op: e.op, fraction: e.fraction * scale }));
    const asStrategy =
      ctx.model.meta.format === 'commlens' &&
      compressAsExchange(g, link, exchange, encode, compressionKeepsBuckets(ctx.info.strategy, c.name), ctx.staging);
    if (!asStrategy) {
      const unknown = compressGradients(g, link, ratio, encode);
      if (unknown > 0)
        notes.push(
          `${unknown} gradient collective(s) without sizes: scaled by the volume ratio only, without encode cost`,
        );
    }
    extraBytesPerParam += c.extraBytesPerParam;
    if (c.name === 'onebit-adam') {
      notes.push(onebitWarmupNote(commlensSteps(ctx)));
      // Its host loops keep the ranks' share of the cores (hostCoreShare): priced beside the
      // kernels as the codec is, the kept runs of six bench:advisor passes read worse
      // (docs/benchmarks.md, 2026-12-06).
      if (asStrategy) onebitAdamOnHost(ctx, g, hostCoreShare(ctx).cores, notes);
    }
    if (
      c.name === 'powersgd' &&
      ctx.model.meta.format === 'commlens' &&
      (ctx.info.optimizerKind === 'adam' || ctx.info.optimizerKind === 'adamw')
    )
      notes.push(
        'CommLens PowerSGD with Adam all-reduces in full precision for its first steps (powerSgdStartStep); the prediction is for the compressed phase',
      );
  }
  if (stage !== 0) applyZero(g, stage, zeroGroupSize(ctx, change));
  const sp = change.sequenceParallel;
  let activationFactor = 1;
  if (sp && sp.degree > 1) {
    const { seqLen, hidden, layers } = ctx.info;
    if (!seqLen || !hidden || !layers)
      notes.push('sequence parallelism needs seqLen, hidden and layers in the run config: not replayed');
    else {
      // Ulysses (layouts.ts CONTEXT_PARALLEL): per layer, all-to-all of Q, K, V before attention and of the output after, forward and backward.
      const perLayer = CONTEXT_PARALLEL.ulysses.perLayer(hidden, 4, (ctx.info.batchSize ?? 1) * seqLen, sp.degree);
      const bytes = layers * perLayer.reduce((t, c) => t + c.count * c.bytes, 0);
      const dur = layers * perLayer.reduce((t, c) => t + c.count * collectiveCostNs(c.op, c.bytes, sp.degree, link), 0);
      addBlockingCollective(g, 'allToAll', bytes / 2, dur / 2, (segs) =>
        Math.max(
          0,
          segs.findIndex((s) => s.kind === 'forward'),
        ),
      );
      addBlockingCollective(g, 'allToAll', bytes / 2, dur / 2, (segs) =>
        Math.max(
          0,
          segs.findIndex((s) => s.kind === 'backward'),
        ),
      );
      activationFactor = 1 / sp.degree;
    }
  }
  let changed = simulate(g);
  if (changed.stalled) notes.push(changed.stalled);
  let components = changed.components;
  let bytesPerStep = bytesOf(g);
  let exposedDelta = changed.exposedCommNs - baseReplay.exposedCommNs;
  let stepDelta = changed.stepTimeNs - baseReplay.stepTimeNs;
  if (change.localSteps && change.localSteps.H > 1) {
    const H = change.localSteps.H;
    const local = cloneGraph(g);
    dropGradientCollectives(local);
    const free = freeRunningSteps(ctx, local, notes);
    const localReplay = free.replay;
    const grads = g.collectives.filter((c) => c.gradient);
    const gradNs = grads.reduce((t, c) => t + c.durNs + (c.extraNs ?? 0), 0);
    const gradBytes = bytesOf(g, true);
    const streaming = change.localSteps.streaming === true;
    // Each fragment's sync costs its share of the whole model's (the same link, a smaller
    // all-reduce); DiLoCo is one fragment, waited for where it starts.
    const shares = streaming
      ? fragmentShares(ctx.info.layerParams, change.localSteps.fragments ?? 2)
      : { values: [1], estimated: false };
    if (shares.estimated)
      notes.push(
        `no layer sizes in the run config: Streaming DiLoCo's ${shares.values.length} fragments replayed as equal shares of the model`,
      );
    const overlapSteps = streaming ? (change.localSteps.overlapSteps ?? 1) : 0;
    // One all-reduce per fragment, priced by the α–β model (a CommLens run: for the tuner's
    // algorithm) at the gradient collectives' measured efficiency; without sizes, its share of their measured time.
    const sized = gradBytes > 0 && grads.every((c) => c.bytes !== undefined && c.bytes > 0);
    const tuned = tunerRuns(g);
    const efficiency = sized ? measuredEfficiency(grads, link, tuned) : 1;
    const wireOf = (share: number): number =>
      sized ? efficiency * addedCostNs(tuned, 'allReduce', share * gradBytes, n, link) : share * gradNs;
    // The outer step's host work, for CommLens' own strategy (an imported job runs its own).
    const paramBytes = ctx.paramCount !== undefined ? ctx.paramCount * 4 : gradBytes;
    const host = ctx.model.meta.format === 'commlens' && paramBytes > 0 ? outerStepCosts(ctx, g, notes) : undefined;
    const work = shares.values.map((x) =>
      host
        ? fragmentHostWork(x * paramBytes, host, overlapSteps > 0)
        : { startNs: 0, applyNs: 0, copiesNs: 0, loopsNs: 0 },
    );
    const syncs = shares.values.map((x, f) => ({
      startNs: work[f].startNs,
      wireNs: wireOf(x),
      applyNs: work[f].applyNs,
    }));
    if (host) {
      const copies = work.reduce((t, w) => t + w.copiesNs, 0);
      const loops = work.reduce((t, w) => t + w.loopsNs, 0);
      notes.push(
        `outer step host work per period of ${H} steps: ${formatDurationNs(copies)} of copies between GPU and host and ${formatDurationNs(loops)} of outer-step loops over ${groupDigits(Math.round(paramBytes / 4))} parameters, blocking the steps that start and merge each sync`,
      );
    }
    const spread = stepTimeSpread(ctx);
    const drift: RankDrift | undefined = spread !== undefined ? { stepSigmaNs: spread, ranks: n } : undefined;
    if (drift && drift.stepSigmaNs > 0) {
      const between = Math.max(1, Math.round(H / shares.values.length));
      notes.push(
        `the ranks drift apart between syncs: a rank's step varies by ${formatDurationNs(drift.stepSigmaNs)} from step to step (standard deviation over the replayed steps, beside the other ranks'), so at a sync ${between} step(s) after the one before, the last of ${n} ranks arrives ${formatDurationNs(driftLagNs(drift, between))} after the average rank, and the sync waits for it`,
      );
    }
    const period = streamingPeriod(free.stepNs, syncs, H, overlapSteps, drift);
    const avgStep = period.meanStepNs;
    const avgExposed = localReplay.exposedCommNs + period.meanExposedNs;
    components = {
      ...localReplay.components,
      computeNs: localReplay.components.computeNs + work.reduce((t, w) => t + w.loopsNs, 0) / H,
      stagingNs: localReplay.components.stagingNs + work.reduce((t, w) => t + w.copiesNs, 0) / H,
      wireNs: localReplay.components.wireNs + syncs.reduce((t, x) => t + x.wireNs, 0) / H,
      exposedCommNs: avgExposed,
    };
    // The period's steps are a rank's own (freeRunningSteps) and the run measures a step as the
    // time between the last rank's ends of two steps, which for free-running ranks is a rank's
    // whole step window: its own kernels and gaps plus the time in its window outside its GPU
    // work. Against the baseline's measured step directly: the replayed baseline's span from
    // the earliest rank's start holds the ranks' skew, which the measured figure may not (on a
    // 2-rank gpt-mini run 695 ms replayed where the run measured 608 ms a step).
    stepDelta = avgStep + outsideOpsNs(ctx) - ctx.measuredStepNs;
    exposedDelta = avgExposed - baseReplay.exposedCommNs;
    const gradWire = bytesPerStep - bytesOf(dropped(g));
    bytesPerStep = bytesPerStep - gradWire + gradWire / H;
    extraBytesPerParam += 8; // outer (global) parameters and the outer Nesterov momentum, fp32
    changed = { ...changed, stepTimeNs: avgStep };
  }
  return { changed, graph: g, components, stepDelta, exposedDelta, bytesPerStep, extraBytesPerParam, activationFactor };
}

/**
 * The time of a rank's step outside its GPU work: its step window (the step marker) less the
 * span of its ops in the step graph (first op's start to last op's end), mean over ranks and
 * replayed steps: the host's encoding before the first kernel and its wait for the last. 0
 * without step windows.
 */
export function outsideOpsNs(ctx: ReplayContext): number {
  const out: number[] = [];
  for (const g of ctx.graphs) {
    if (g.step === undefined) continue;
    for (const v of ctx.views) {
      const w = v.steps.find((x) => x.step === g.step);
      const span = g.measuredStepNsByRank.get(v.rank);
      if (w && span !== undefined) out.push(Math.max(0, w.endNs - w.startNs - span));
    }
  }
  return out.length > 0 ? mean(out) : 0;
}

/**
 * The steps of local updates between syncs, from a step graph without its gradient collectives:
 * no rank waits for another, so each runs its steps back to back at its own pace, and a step
 * is a rank's own (its last end − its start, the mean over ranks), not the span from the
 * earliest rank's start to the last rank's end (the ranks' skew and the slowest rank's step
 * would count at every step; ranks drifting apart is priced at each sync, streaming.ts).
 *
 * A rank that is steadily slower than the others (steadyRankExcessNs) falls behind at every
 * step, so its excess is added to each step.
 *
 * On ranks that share the machine's compute (sharing.ts: a software GPU), a free-running rank's
 * kernels also run beside the others' far more often than in the measured run, whose ranks met
 * at every gradient collective and computed apart part of the time: a kernel's time is scaled by
 * φ(k) / φ(measured) (the optimizer's by its own measured φ), k the ranks computing at once when
 * each computes a share b of its step independently of the others (k = 1 + (W − 1)·b, b = its
 * kernel time over its replayed step), solved by iteration since b depends on the scaled
 * kernels. The replayed step holds almost nothing but kernels, so b comes out near 1 and k near
 * W. Measured (2026-12-06, DiLoCo and Streaming DiLoCo runs each right after its DDP baseline):
 * on 2 gpt-mini ranks (measured φ 0.69) a kernel is scaled by 1.46 where the runs' GPU time per
 * step grew 1.39×, and the predictions read 267.1 and 295.2 ms against 267.5 and 291.3 measured
 * (28 and 25 % too fast before); on 4 mlp-small ranks (φ 0.78–0.89) by 1.12–1.27 where the GPU
 * time grew 1.06× and 1.14× in two pairs; ten pairs in all 0.1–15.2 % off, median 3.6 % (10.3 % before, every
 * one too fast). docs/benchmarks.md.
 */
export function freeRunningSteps(
  ctx: ReplayContext,
  local: StepGraph,
  notes: string[],
): { replay: Replay; stepNs: number; kernelFactor: number } {
  // A rank that is steadily slower falls behind at every step (the sync waits for it).
  const excess = steadyRankExcessNs(ctx);
  const result = (replay: Replay, kernelFactor: number) => {
    const own = mean(replay.perRank.map((p) => p.stepTimeNs));
    // Said when it moves the step by 1 % or more.
    if (excess * kernelFactor >= 0.01 * own)
      notes.push(
        `a rank is steadily ${formatDurationNs(excess * kernelFactor)} per step slower than the mean rank (beyond its steps' noise): between syncs it falls behind at every step, and each sync waits for it`,
      );
    return { replay, stepNs: own + excess * kernelFactor, kernelFactor };
  };
  let replay = simulate(local);
  const sharing = PRICE_SHARING ? sharingOf(ctx) : undefined;
  if (!sharing) return result(replay, 1);
  const optimizer = sharingOf(ctx, ['optimizer']);
  const W = sharing.worldSize;
  let factor = 1,
    optFactor = 1,
    k = 0;
  for (let it = 0; it < 20; it++) {
    const busy = mean(replay.perRank.map((p) => (p.stepTimeNs > 0 ? Math.min(1, p.computeNs / p.stepTimeNs) : 0)));
    k = 1 + (W - 1) * busy;
    const phi = sharedTimeFactor(k, W, sharing.speedup);
    const next = phi / sharing.measuredFactor;
    const nextOpt = optimizer ? phi / optimizer.measuredFactor : next;
    const done = Math.abs(next - factor) < 1e-4 && Math.abs(nextOpt - optFactor) < 1e-4;
    factor = next;
    optFactor = nextOpt;
    const scaled = cloneGraph(local);
    for (const segs of scaled.lanes.values())
      for (const seg of segs) seg.durNs *= seg.kind === 'optimizer' ? optFactor : factor;
    replay = simulate(scaled);
    if (done) break;
  }
  notes.push(
    `between syncs no rank waits for another, so the ranks' kernels run beside one another more than in the run: ${k.toFixed(2)} of ${W} ranks computing at once (φ ${(sharing.measuredFactor * factor).toFixed(2)} of all ${W} at once, where the run's kernels ran at ${sharing.measuredFactor.toFixed(2)}; a rank alone ${sharing.speedup.toFixed(2)}× faster, by the run's probe), so a kernel takes ${factor.toFixed(2)}× its measured time`,
  );
  return result(replay, factor);
}

/**
 * How much a rank's own step varies from step to step, apart from what every rank's step does
 * at once and from a rank being steadily slower (streaming.ts RankDrift): the residual of each
 * rank's compute, forward, backward, other and optimizer segments, per replayed step, after its
 * rank's mean and its step's mean are taken out (the two-way residual), as a standard deviation.
 * Undefined with fewer than 2 ranks or 3 replayed steps.
 */
export function stepTimeSpread(ctx: ReplayContext): number | undefined {
  return rankStepEffects(ctx)?.sigmaNs;
}

/**
 * How much longer the steadily slowest rank's step is than the mean rank's (its compute in the
 * replayed steps, as stepTimeSpread reads it): the largest rank mean less the mean of them, less
 * what the steps' noise alone would make of it (the largest of R rank means each off by
 * σ/√S: E[max of R normals]·σ/√S), at least 0. Between the syncs of local updates such a rank
 * falls behind at every step, and every sync waits for it. 0 with fewer than 2 ranks or 3
 * replayed steps.
 */
export function steadyRankExcessNs(ctx: ReplayContext): number {
  const e = rankStepEffects(ctx);
  if (!e) return 0;
  const avg = mean(e.rankMeanNs);
  const noise = (e.sigmaNs / Math.sqrt(e.steps)) * expectedMaxOfNormals(e.rankMeanNs.length);
  return Math.max(0, Math.max(...e.rankMeanNs) - avg - noise);
}

/** The two-way decomposition of the ranks' compute per replayed step (stepTimeSpread, steadyRankExcessNs). */
function rankStepEffects(ctx: ReplayContext): { sigmaNs: number; rankMeanNs: number[]; steps: number } | undefined {
  const kinds = new Set(['forward', 'backward', 'other', 'optimizer']);
  const ranks = [...ctx.graph.lanes.keys()];
  const S = ctx.graphs.length,
    R = ranks.length;
  if (R < 2 || S < 3) return undefined;
  const x: number[][] = ctx.graphs.map((g) =>
    ranks.map((r) => (g.lanes.get(r) ?? []).reduce((t, seg) => t + (kinds.has(seg.kind) ? seg.durNs : 0), 0)),
  );
  const stepMean = x.map((row) => row.reduce((a, b) => a + b, 0) / R);
  const rankMean = ranks.map((_, j) => x.reduce((t, row) => t + row[j], 0) / S);
  const all = stepMean.reduce((a, b) => a + b, 0) / S;
  let ss = 0;
  for (let i = 0; i < S; i++)
    for (let j = 0; j < R; j++) {
      const e = x[i][j] - stepMean[i] - rankMean[j] + all;
      ss += e * e;
    }
  return { sigmaNs: Math.sqrt(ss / ((R - 1) * (S - 1))), rankMeanNs: rankMean, steps: S };
}

/**
 * The prices of the outer step's host work on the machine the run was measured on: copies
 * by the staging model (scaled by measured / modelled time of the trace's own staging
 * copies, so what this machine's load added stays in), loops by the host probe's timing of
 * the strategy's own loops at the rank's share of the cores (the cores over the ranks, times
 * the share of a core the probe's thread got: other processes' load). A run recorded before the probe
 * timed them: twice the probe's fp16 encode + decode speed (one pass instead of two), else
 * 1 GB/s; each says so in the notes.
 */
function outerStepCosts(ctx: ReplayContext, g: StepGraph, notes: string[]): OuterStepCosts {
  const probe = ctx.info.hostProbe;
  // A rank's share of a core when every rank runs the loops at once (hostCoreShare); without the
  // probe's measure of it, the cores over the ranks times what the probe's thread got of one
  // (other processes' load at the start of the run), each at most 1.
  const host = hostCoreShare(ctx);
  const share = host.measured ? 1 : (probe?.cpuShare ?? 1);
  const coresPerRank = host.cores * Math.max(0.01, share);
  let speeds: { gradient: number; nesterov: number; mix: number };
  if (probe?.outerStepBytesPerNs) {
    speeds = probe.outerStepBytesPerNs;
    notes.push(
      `outer-step loops priced by the host probe at the start of the run: ${speeds.gradient.toFixed(2)}, ${speeds.nesterov.toFixed(2)} and ${speeds.mix.toFixed(2)} GB/s per core (outer gradient, Nesterov step, merge), at ${host.measured ? host.text : `${coresPerRank.toFixed(2)} core per rank`}${share < 1 ? ` (the probe's thread got ${(share * 100).toFixed(0)} % of a core: the machine was loaded)` : ''}`,
    );
  } else {
    const fp16 = probe?.codecBytesPerNs.fp16;
    const v = fp16 !== undefined ? 2 * fp16 : 1;
    speeds = { gradient: v, nesterov: v, mix: v };
    notes.push(
      fp16 !== undefined
        ? `outer-step loops estimated at twice the host probe's fp16 encode + decode speed, ${v.toFixed(2)} GB/s per core (the run's probe did not time them)`
        : 'outer-step loops estimated at 1 GB/s per core (the run has no host probe)',
    );
  }
  const st = ctx.staging;
  let d2hScale = 1,
    h2dScale = 1;
  if (st) {
    let measured = 0,
      modelled = 0;
    for (const c of g.collectives)
      for (const t of c.triggers.values())
        if (t.stagedBytes && t.stagedNs !== undefined) {
          measured += t.stagedNs;
          modelled += copyNs(st.d2h, t.stagedBytes);
        }
    if (measured > 0 && modelled > 0) d2hScale = measured / modelled;
    measured = modelled = 0;
    for (const segs of g.lanes.values())
      for (const s of segs)
        if (s.postStagedBytes && s.postStagedNs !== undefined) {
          measured += s.postStagedNs;
          modelled += copyNs(st.h2d, s.postStagedBytes);
        }
    if (measured > 0 && modelled > 0) h2dScale = measured / modelled;
  } else
    notes.push(
      "no staging model (no host probe, no staging copies in the trace): the outer step's copies are not priced",
    );
  return {
    d2hNs: (b) => (st ? d2hScale * copyNs(st.d2h, b) : 0),
    h2dNs: (b) => (st ? h2dScale * copyNs(st.h2d, b) : 0),
    gradientBytesPerNs: speeds.gradient * coresPerRank,
    nesterovBytesPerNs: speeds.nesterov * coresPerRank,
    mixBytesPerNs: speeds.mix * coresPerRank,
  };
}

/**
 * CommLens' 1-bit Adam runs its optimizer on the host in the compressed phase: the GPU's
 * optimizer kernels do not run, its two host loops over the parameters do, priced by the
 * host probe's timing of them at the rank's share of the cores (as the codecs). A run
 * recorded before the probe timed them keeps the GPU optimizer, and the notes say so.
 */
/** The steps of a CommLens run (a verify re-run has as many), else undefined. */
export function commlensSteps(ctx: ReplayContext): number | undefined {
  return ctx.model.meta.format === 'commlens' ? ctx.views[0]?.steps.length : undefined;
}

/**
 * 1-bit Adam's warm-up, which the replay cannot know in advance: CommLens's freezes the
 * variance once it is stable (trace/onebitWarmup.ts), within bounds known from the steps.
 */
export function onebitWarmupNote(steps: number | undefined): string {
  const head =
    '1-bit Adam compresses only after its full-precision warm-up; the prediction is for the compressed phase';
  if (steps === undefined || steps < 3) return head;
  const { min, max } = onebitWarmupBounds(steps);
  return `${head}. CommLens's 1-bit Adam freezes the variance once its relative change over a step is ≤ ${VARIANCE_STABLE_CHANGE}, so a ${steps}-step run like this one compresses from step ${min} at the earliest and step ${max} at the latest (the step is in the run's notes); verify measures the steps after it, in a run long enough to hold as many of them as the baseline has steady-state steps`;
}

function onebitAdamOnHost(ctx: ReplayContext, g: StepGraph, coresPerRank: number, notes: string[]): void {
  const speeds = ctx.info.hostProbe?.onebitAdamBytesPerNs;
  const bytes = ctx.paramCount !== undefined ? ctx.paramCount * 4 : 0;
  if (!speeds || bytes <= 0) {
    notes.push(
      "1-bit Adam's optimizer runs on the host in its compressed phase, but the run's host probe did not time its loops: the GPU optimizer is kept in its place",
    );
    return;
  }
  const cores = Math.min(1, Math.max(0.05, coresPerRank));
  const momentumNs = bytes / (speeds.momentum * cores);
  const updateNs = bytes / (speeds.update * cores);
  const removed = optimizerOnHost(g, momentumNs, updateNs);
  notes.push(
    `1-bit Adam's optimizer runs on the host in its compressed phase: the GPU optimizer (${formatDurationNs(removed)} per step) does not run; the host folds the gradient into the momentum before the exchange (${formatDurationNs(momentumNs)}) and updates the parameters after it (${formatDurationNs(updateNs)}), priced by the host probe at ${cores.toFixed(2)} core per rank`,
  );
}

/**
 * The share of a core a rank's host loops (codecs, DiLoCo's outer step, 1-bit Adam's host
 * optimizer) get when every rank runs them at once, as they do: the host probe's measure with
 * the run's world size of threads at once (runtime/hostShare.ts), else the machine's cores over
 * the ranks; beside other programs' load on a software GPU (ctx.load) at most an even share of
 * the cores among the ranks' threads and theirs (load.ts: the probe's measure is against a
 * thread alone, itself slowed by the load); between 0.05 and 1. `text` says which, for the notes.
 */
export function hostCoreShare(ctx: ReplayContext): { cores: number; measured: boolean; text: string } {
  const m = ctx.info.hostProbe?.hostShare;
  let share: { cores: number; measured: boolean; text: string };
  if (m && m.threads === ctx.worldSize) {
    const cores = Math.min(1, Math.max(0.05, m.share));
    share = {
      cores,
      measured: true,
      text: `${cores.toFixed(2)} core per rank (measured by the host probe with ${m.threads} threads at once)`,
    };
  } else {
    const cores = Math.min(1, Math.max(0.05, ctx.info.hostCores ? ctx.info.hostCores / ctx.worldSize : 1));
    share = {
      cores,
      measured: false,
      text: `${cores.toFixed(2)} core per rank (${ctx.info.hostCores ? `${ctx.info.hostCores} cores over ${ctx.worldSize} ranks` : 'no core count recorded'})`,
    };
  }
  // Beside other programs' load: an even share of the cores among the ranks' threads and theirs, when smaller (load.ts).
  const loaded = ctx.load ? Math.max(0.05, hostShareUnderLoad(ctx.load, ctx.worldSize)) : undefined;
  if (loaded === undefined || loaded >= share.cores) return share;
  return {
    cores: loaded,
    measured: true,
    text: `${loaded.toFixed(2)} core per rank (${otherLoadText(ctx.load!)}: an even share of the ${ctx.load!.cores} cores among them and the ${ctx.worldSize} ranks' threads; ${share.text.replace(' (', ', ').replace(/\)$/, '')})`,
  };
}

/**
 * The share of a core a rank's gradient codec gets: hostCoreShare (every rank's codec at once),
 * and on ranks that share the machine's compute (a software GPU: the dispatch probe's speed-up
 * of a rank alone, sharing.ts) at most 1 / that speed-up. A rank's codec starts when its own
 * backward ends, beside the other ranks' kernels on the same cores, and is slowed as much as a
 * rank's kernels are by the others'. The runs' codec took 1.3–2.9× its time at the probe's
 * speed alone on this project's 2-core machine with 2 and 4 ranks, where the cores over the
 * ranks say 1–2× (docs/benchmarks.md, 2026-12-06). Beside other programs' load (ctx.load) the
 * busy threads take their cores from the codec and the kernels both: 1 / s becomes
 * quietShareUnderLoad's (load.ts). Beside two busy threads the codec ran 0.86–1.87× (median
 * 1.39×) the time the replay gave it when it took 1 / s alone, in 12 compressed runs of a pass
 * timed with the fresh-isolate probe (docs/benchmarks.md, 2026-12-06, late night).
 */
export function codecCoreShare(ctx: ReplayContext): { cores: number; measured: boolean; text: string } {
  const host = hostCoreShare(ctx);
  const s = ctx.onGpu ? undefined : sharingSpeedupOf(ctx.info.hostProbe?.sharingSpeedup);
  if (s === undefined) return host;
  // Beside other programs' load as well: they take their cores from the codec and the kernels both (load.ts).
  const beside = ctx.load ? quietShareUnderLoad(ctx.load, 1 / s) : 1 / s;
  if (beside >= host.cores) return host;
  const cores = Math.max(0.05, beside);
  // The load once: named by the even share's text when that gives it.
  const load = !ctx.load
    ? ''
    : host.text.includes(otherLoadText(ctx.load))
      ? ", and beside other programs' load"
      : `, and beside other programs' load (${otherLoadText(ctx.load)})`;
  return {
    cores,
    measured: true,
    text: `${cores.toFixed(2)} core per rank (the codec runs beside the other ranks' kernels on the same cores, which made a rank's kernels ${s.toFixed(2)}× slower than alone, by the run's probe${load}; every rank's codec at once without the kernels: ${host.text.replace(' (', ', ').replace(/\)$/, '')})`,
  };
}

/** Says where the codec's speed came from. */
function codecSourceNote(
  name: string,
  onGpu: boolean,
  probed: number | undefined,
  cpuConstant: number,
  gpuConstant: number,
  hasProbe: boolean,
): string {
  if (onGpu)
    return `codec cost: ${name} on the GPU at ${gpuConstant} GB/s (published figures; the trace's own codecs were not measured)`;
  if (probed !== undefined)
    return `codec cost: ${name} encode + decode measured by the host probe at the start of the run, ${probed.toFixed(3)} GB/s per core`;
  return `codec cost: ${name} at CommLens' constant ${cpuConstant} GB/s per core (measured once on one machine; ${hasProbe ? "the run's host probe did not time this codec" : 'the trace has no host probe'})`;
}

/** Fragment sizes as shares of the model, cut from the layers as the strategy cuts them; equal shares when the layers are unknown. */
function fragmentShares(layerParams: number[] | undefined, count: number): { values: number[]; estimated: boolean } {
  if (!layerParams || layerParams.length < count)
    return { values: Array.from({ length: count }, () => 1 / count), estimated: true };
  let offset = 0;
  const layers = layerParams.map((n) => ({ paramOffset: (offset += n) - n, paramCount: n }));
  const total = offset;
  return { values: planFragments(layers, count).map((f) => f.length / total), estimated: false };
}

/** The run rebucketed at its own cap, per context and caps: the overlap rule prices several caps against the same one. */
const ownCapReplays = new WeakMap<ReplayContext, Map<string, OneReplay[]>>();

function rebucketedAtOwnCap(ctx: ReplayContext, capMb: number, firstCapMb: number | undefined): OneReplay[] {
  const key = `${capMb}/${firstCapMb}`;
  let byCap = ownCapReplays.get(ctx);
  if (!byCap) ownCapReplays.set(ctx, (byCap = new Map()));
  let r = byCap.get(key);
  if (!r) {
    const change = { bucketing: { bucketCapMb: capMb, overlap: true, firstBucketCapMb: firstCapMb } };
    r = ctx.graphs.map((g, i) => replayOne(ctx, g, ctx.baseReplays[i], change, []));
    byCap.set(key, r);
  }
  return r;
}

interface Chain {
  tails: Map<number, number>[];
  /** The run's own steps chained; undefined unless ranks leave collectives on their own. */
  base?: ChainedReplay;
  /** The φ the run's compute measured in the replayed steps (their kernels' measured times), when the ranks share the compute. */
  measuredSharingFactor?: number;
}

/**
 * How far the chained run's φ may be from its measured one for the chain's φ to price a change:
 * beyond it the chain does not stagger the ranks as the run did (on 4-rank mlp-small runs its
 * ring exits left them further apart, φ 0.59–0.81 against 0.86–0.91 measured).
 */
const SHARING_CHAIN_TOLERANCE = 0.05;

const chainCache = new WeakMap<ReplayContext, Chain>();
/** The chains of the run's own buckets rebucketed (rebucketedAtOwnCap's replays, cached there too), by those replays. */
const referenceChains = new WeakMap<readonly OneReplay[], ChainedReplay | undefined>();

/** The chain's options: the ranks' sharing of the compute where the run's probe measured it (a software GPU). */
function chainOpts(ctx: ReplayContext): { sharingSpeedup?: number } {
  const s = ctx.onGpu ? undefined : sharingSpeedupOf(ctx.info.hostProbe?.sharingSpeedup);
  return s !== undefined ? { sharingSpeedup: s } : {};
}

function chainOf(ctx: ReplayContext): Chain {
  let c = chainCache.get(ctx);
  if (!c) {
    const tails = interStepGapsNs(ctx.views, ctx.graphs);
    const opts = chainOpts(ctx);
    c = { tails, base: ctx.graph.exits === 'own' ? chainReplay(ctx.graphs, tails, opts) : undefined };
    if (opts.sharingSpeedup !== undefined) {
      let busy = 0,
        priced = 0;
      for (const g of ctx.graphs) {
        const s = sharingOfStep(
          g,
          (i, j) => (g.startOffsetNs.get(g.ranks[i]) ?? 0) + g.lanes.get(g.ranks[i])![j].measuredStartNs,
          opts.sharingSpeedup,
        );
        busy += s.busyNs;
        priced += s.pricedNs;
      }
      if (busy > 0) c.measuredSharingFactor = priced / busy;
    }
    chainCache.set(ctx, c);
  }
  return c;
}

/**
 * The run's own replayed steps chained (simulate.ts chainReplay), where ranks leave collectives
 * on their own (a CommLens run): the step time predictions move from, against the run's step
 * time its calibration. Undefined elsewhere.
 */
export function chainedBaselineNs(ctx: ReplayContext): number | undefined {
  return chainOf(ctx).base?.stepNs;
}

/**
 * Per replayed step, each rank's time between its last op of the step and its first of the next
 * (the training loop's host work between steps: chainReplay's tails), less the time between its
 * two step windows, which the run's step time leaves out (runFigures.ts stepWallTimes); a rank
 * whose next step is not in the trace takes its median over the other steps.
 */
function interStepGapsNs(views: readonly RankView[], graphs: readonly StepGraph[]): Map<number, number>[] {
  const gaps = graphs.map(() => new Map<number, number>());
  const spanOf = (v: RankView, step: number): { start: number; end: number } | undefined => {
    let ops;
    try {
      ops = opsOfStep(v, step);
    } catch {
      return undefined; // a step a partial view did not load whole
    }
    if (ops.length === 0) return undefined;
    let start = Infinity,
      end = -Infinity;
    for (const o of ops) {
      if (o.startNs < start) start = o.startNs;
      if (o.endNs > end) end = o.endNs;
    }
    return { start, end };
  };
  for (const v of views) {
    const own: number[] = [];
    graphs.forEach((g, k) => {
      if (g.step === undefined) return;
      const a = spanOf(v, g.step),
        b = spanOf(v, g.step + 1);
      if (!a || !b) return;
      const w = v.steps.find((x) => x.step === g.step),
        wNext = v.steps.find((x) => x.step === g.step! + 1);
      const between = w && wNext ? Math.max(0, wNext.startNs - w.endNs) : 0;
      const gap = Math.max(0, b.start - a.end - between);
      gaps[k].set(v.rank, gap);
      own.push(gap);
    });
    if (own.length > 0) {
      const m = median(own);
      for (const gm of gaps) if (!gm.has(v.rank)) gm.set(v.rank, m);
    }
  }
  return gaps;
}

/**
 * Where ranks leave collectives on their own (a CommLens run, StepGraph.exits), the change's move
 * of the step time: the replayed steps chained (simulate.ts chainReplay) with the change against
 * without it (or against the run's own buckets rebucketed, as `reference`). Where the ranks share
 * the machine's compute (a software GPU, sharing.ts), a change that has them compute at the same
 * moments more often than the run did makes each compute segment slower by the ratio of the
 * chains' φ (a chain that has them apart more often changes nothing: chainSharingScale), and the
 * changed steps are chained again at those times (where the chained run's φ is within
 * SHARING_CHAIN_TOLERANCE of its measured one): on a quiet
 * 2-core machine gpt-mini's compute per rank and step measured 211–258 ms at φ 0.73–0.82 beside
 * DDP's 400 ms waits and 251–349 ms at φ 0.94–0.96 in int8-ef re-runs. One correction, not a
 * fixed point: chained with the sharing priced at every step, the ranks of a 4-rank run drifted
 * apart step after step (each one ahead computing faster alone), φ falling to 0.6 where the run
 * measured 0.9. Undefined elsewhere, and for local updates, whose period model (streaming.ts)
 * prices the steps between syncs itself.
 */
function chainedStepDelta(
  ctx: ReplayContext,
  change: WhatIfChange,
  runs: readonly OneReplay[],
  reference: readonly OneReplay[] | undefined,
  notes: string[],
): number | undefined {
  if (ctx.graph.exits !== 'own' || (change.localSteps && change.localSteps.H > 1)) return undefined;
  const c = chainOf(ctx);
  const opts = chainOpts(ctx);
  let base = c.base;
  if (reference) {
    if (!referenceChains.has(reference))
      referenceChains.set(
        reference,
        chainReplay(
          reference.map((r) => r.graph),
          c.tails,
          opts,
        ),
      );
    base = referenceChains.get(reference);
  }
  const graphs = runs.map((r) => r.graph);
  const changed = chainReplay(graphs, c.tails, opts);
  if (!base || !changed) return undefined;
  let changedNs = changed.stepNs;
  if (
    c.base?.sharingFactor !== undefined &&
    c.measuredSharingFactor !== undefined &&
    Math.abs(c.base.sharingFactor - c.measuredSharingFactor) <= SHARING_CHAIN_TOLERANCE &&
    base.sharingFactor !== undefined &&
    changed.sharingFactor !== undefined &&
    base.sharingFactor > 0
  ) {
    const ratio = changed.sharingFactor / base.sharingFactor;
    const scale = chainSharingScale(changed.sharingFactor, base.sharingFactor);
    if (ratio <= 0.99)
      notes.push(
        `chained, the changed steps have the ranks computing beside one another less often than the run's own (φ ${changed.sharingFactor.toFixed(2)} against ${base.sharingFactor.toFixed(2)}; they share the machine's compute), but in re-runs such ranks did not fall apart: a kernel keeps its measured time`,
      );
    else if (scale - 1 >= 0.01)
      notes.push(
        `the ranks compute beside one another more often than in the run (they share the machine's compute: a rank alone ran ${opts.sharingSpeedup!.toFixed(2)}× as fast as all at once in the run's probe): φ ${changed.sharingFactor.toFixed(2)} in the changed steps chained against ${base.sharingFactor.toFixed(2)} in the run's own, so a kernel takes ${scale.toFixed(2)}× its measured time`,
      );
    if (Math.abs(scale - 1) > 1e-3) {
      const again = chainReplay(
        graphs.map((g) => scaleCompute(g, scale)),
        c.tails,
      );
      if (again) changedNs = again.stepNs;
    }
  }
  return changedNs - base.stepNs;
}

/**
 * The factor a change's kernels take from the chains' φ (chainedStepDelta): changed / base where
 * the changed steps chained have the ranks computing beside one another more often than the run's
 * own, else 1. The chain also lets ranks fall apart (each leaving a collective on its own, the one
 * ahead computing alone, faster), but the re-runs did not: in the kept runs of two bench:advisor
 * passes (2026-12-07), gpt-mini's bf16 and ZeRO-1 re-runs measured φ 0.940–0.985 against
 * 0.881–0.977 for the DDP baseline run just before each, higher in 17 of 18 pairs, where the chain
 * of most baselines had φ fall (a kernel priced at 0.91–0.94× its time). Priced only upward, the
 * every-baseline error of six conditions' kept runs read 0.1–0.5 points lower (none higher), gpt-mini
 * bf16's median prediction 1.5–3.4 points closer in each, and gpt-mini ZeRO-1, measured 0.971× and 0.998×
 * beside two busy threads, was no longer suggested (docs/benchmarks.md).
 */
export function chainSharingScale(changedFactor: number, baseFactor: number): number {
  return baseFactor > 0 && Number.isFinite(changedFactor) ? Math.max(1, changedFactor / baseFactor) : 1;
}

/** A copy of `g` with every compute segment `scale` times as long. */
function scaleCompute(g: StepGraph, scale: number): StepGraph {
  return {
    ...g,
    lanes: new Map([...g.lanes].map(([r, segs]) => [r, segs.map((s) => ({ ...s, durNs: s.durNs * scale }))])),
  };
}

/**
 * Applies a change to every replayed step and moves the measured baseline by the median of
 * the steps' replayed differences (one step's noise does not decide the prediction); on a
 * CommLens run, by the difference of the steps chained with and without it (chainedStepDelta).
 */
export function whatIfOn(ctx: ReplayContext, change: WhatIfChange): WhatIfResult {
  const notes: string[] = [];
  const runs = ctx.graphs.map((g, i) =>
    replayOne(ctx, g, ctx.baseReplays[i], change, i === ctx.graphs.length - 1 ? notes : []),
  );
  const rep = runs[runs.length - 1];
  const { changed, bytesPerStep, extraBytesPerParam, activationFactor } = rep;
  // The replays the change is measured against: the run's own buckets rebucketed (see
  // WhatIfChange.bucketing), or the measured graph's.
  const current = change.bucketing?.currentCapMb;
  const reference =
    current !== undefined ? rebucketedAtOwnCap(ctx, current, change.bucketing!.firstBucketCapMb) : undefined;
  const chained = chainedStepDelta(ctx, change, runs, reference, notes);
  const stepDelta = chained ?? median(runs.map((r, i) => r.stepDelta - (reference?.[i].stepDelta ?? 0)));
  const exposedDelta = median(runs.map((r, i) => r.exposedDelta - (reference?.[i].exposedDelta ?? 0)));
  if (reference) {
    const refReplay = reference[reference.length - 1].changed;
    const ref = refReplay.stepTimeNs;
    if (refReplay.stalled) notes.push(`the replay of the run's own buckets: ${refReplay.stalled}`);
    notes.push(
      `priced against the run rebucketed at its own bucket_cap_mb=${current} (replayed ${formatDurationNs(ref)} where the measured step replays ${formatDurationNs(ctx.baseReplay.stepTimeNs)}), so that what the rebucketing model adds or misses on this trace counts on both sides`,
    );
  }
  const stage = change.zeroStage ?? 0;
  const baseline: WhatIfNumbers = {
    stepTimeNs: ctx.measuredStepNs,
    exposedCommNs: ctx.measuredExposedCommNs,
    bytesPerStep: baselineBytesPerStep(ctx),
  };
  const memory = predictMemory(ctx, stage, zeroGroupSize(ctx, change), extraBytesPerParam, activationFactor);
  if (memory.base !== undefined) baseline.peakMemoryBytes = memory.base;
  // The replay's own error, against what predictions move: the run's step time from its chained steps (a CommLens run),
  // else the representative step's span from its replay.
  const chainedNs = chainedBaselineNs(ctx);
  const calibrationErrorPct =
    chainedNs !== undefined && ctx.measuredStepNs > 0
      ? (100 * (chainedNs - ctx.measuredStepNs)) / ctx.measuredStepNs
      : ctx.graph.measuredStepNs > 0
        ? (100 * (ctx.baseReplay.stepTimeNs - ctx.graph.measuredStepNs)) / ctx.graph.measuredStepNs
        : 0;
  const perRank = changed.perRank.map((p) => {
    const base = (reference?.[reference.length - 1].changed ?? ctx.baseReplay).perRank.find((b) => b.rank === p.rank);
    const measured =
      baseline.stepTimeNs -
      ctx.graph.measuredStepNs +
      (ctx.graph.measuredStepNsByRank.get(p.rank) ?? ctx.graph.measuredStepNs);
    return {
      rank: p.rank,
      stepTimeNs: Math.max(0, measured + (p.stepTimeNs - (base?.stepTimeNs ?? p.stepTimeNs))),
      exposedCommNs: p.exposedCommNs,
      peakMemoryBytes: memory.byRank.get(p.rank),
    };
  });
  return {
    change,
    step: ctx.graph.step,
    baseline,
    predicted: {
      stepTimeNs: Math.max(0, baseline.stepTimeNs + stepDelta),
      exposedCommNs: Math.max(0, baseline.exposedCommNs + exposedDelta),
      bytesPerStep,
      peakMemoryBytes: memory.predicted,
      perRank,
      components: componentsOf(
        reference ? reference.map((r) => r.components) : ctx.baseReplays.map((b) => b.components),
        runs.map((r) => r.components),
      ),
    },
    replay: { baselineNs: ctx.baseReplay.stepTimeNs, changedNs: changed.stepTimeNs, calibrationErrorPct },
    notes: [...ctx.notes, ...notes],
    changeNotes: notes,
  };
}

/** The ranks ZeRO shards over: the data-parallel group, scaled with the world when the change scales it. */
function zeroGroupSize(ctx: ReplayContext, change: WhatIfChange): number {
  return change.worldSize
    ? Math.max(1, (change.worldSize * ctx.dataParallelSize) / ctx.worldSize)
    : ctx.dataParallelSize;
}

/**
 * The run's own steps replayed unchanged, component by component (the median over the replayed
 * steps, as a prediction's baselineNs): a measured run decomposed as a prediction decomposes the
 * changed step, so that a re-run's analysis gives what its prediction is compared with
 * (analysis/verify.ts Measured.components).
 */
export function replayedComponents(ctx: ReplayContext): StepComponents {
  const out = {} as StepComponents;
  for (const k of COMPONENT_NAMES) out[k] = median(ctx.baseReplays.map((b) => b.components[k]));
  return out;
}

/**
 * A layout's predicted step (layouts.ts, the busiest rank) as the components every other
 * suggestion carries, so that a layout's re-run is read against it component by component
 * (analysis/predictionReport.ts componentRows): compute is its forward, backward and optimizer
 * kernels, wait its pipeline bubble (a stage waiting on the other stages, as a re-run's replay
 * holds it), host its submissions, wire and exposed its collectives; the layout model prices no
 * staging and no codec. Before: the run's own steps replayed unchanged (replayedComponents).
 */
export function layoutComponents(
  before: StepComponents,
  step: Pick<LayoutStep, 'computeNs' | 'optimizerNs' | 'submitNs' | 'bubbleNs' | 'wireNs' | 'exposedCommNs'>,
): PredictedComponents {
  const predicted: StepComponents = {
    computeNs: step.computeNs + step.optimizerNs,
    stagingNs: 0,
    wireNs: step.wireNs,
    codecNs: 0,
    waitNs: step.bubbleNs,
    hostNs: step.submitNs,
    exposedCommNs: step.exposedCommNs,
  };
  return componentsOf([before], [predicted]);
}

/** Each component, median over the replayed steps, without and with the change. */
function componentsOf(base: StepComponents[], changed: StepComponents[]): PredictedComponents {
  const out = {} as PredictedComponents;
  for (const k of COMPONENT_NAMES)
    out[k] = { baselineNs: median(base.map((b) => b[k])), predictedNs: median(changed.map((c) => c[k])) };
  return out;
}

/**
 * ZeRO on the graph: gradient all-reduces become reduce-scatters (half the ring cost), the
 * optimizer updates 1/N of the states; stages 1–2 all-gather the updated parameters after
 * the optimizer; stage 3 instead all-gathers parameters before the forward and the
 * backward compute (prefetched one chunk ahead): 1.5× DDP's volume.
 */
function applyZero(g: StepGraph, stage: 1 | 2 | 3, n: number): void {
  const grads = g.collectives.filter((c) => c.gradient);
  // Per rank (collectives not joined across ranks appear once per rank), the largest.
  let gradBytes = 0,
    gradNs = 0;
  for (const r of g.ranks) {
    const mine = grads.filter((c) => c.triggers.has(r));
    const b = mine.reduce((t, c) => t + (c.bytes ?? 0), 0);
    if (b >= gradBytes) {
      gradBytes = b;
      gradNs = mine.reduce((t, c) => t + c.durNs, 0);
    }
  }
  for (const c of grads) {
    if (c.op === 'allReduce') {
      c.op = 'reduceScatter';
      c.durNs /= 2;
    }
  }
  scaleSegments(g, 'optimizer', 1 / Math.max(1, n));
  const lastSeg = (segs: Segment[]) => segs.length - 1;
  if (stage < 3) {
    addBlockingCollective(g, 'allGather', gradBytes, gradNs / 2, lastSeg, false);
    return;
  }
  const chunks = 4;
  for (const kind of ['forward', 'backward'] as const) {
    for (let j = 0; j < chunks; j++) {
      addBlockingCollective(g, 'allGather', gradBytes / chunks, gradNs / 2 / chunks, (segs) => {
        const idx = segs
          .map((s, i) => ({ s, i }))
          .filter(({ s }) => s.kind === kind)
          .map(({ i }) => i);
        if (idx.length === 0) return -1;
        const at = Math.floor((j * idx.length) / chunks);
        return idx[at] - 1;
      });
    }
  }
}

function predictMemory(
  ctx: ReplayContext,
  stage: number,
  n: number,
  extraBytesPerParam: number,
  activationFactor: number,
): { base?: number; predicted?: number; byRank: Map<number, number> } {
  const byRank = new Map<number, number>();
  const psi = ctx.paramCount;
  if (psi === undefined) return { byRank };
  const states0 = modelStatesBytes(psi, 0, ctx.worldSize, ctx.precision);
  const statesNew = modelStatesBytes(psi, stage, n, ctx.precision);
  let base: number | undefined, predicted: number | undefined;
  for (const v of ctx.views) {
    const measured = ctx.measuredPeakBytesByRank.get(v.rank);
    const b = measured ?? states0;
    // Moved from the measured peak by the change in model states and activations, so that what
    // the estimate of the states misses stays in; never below the new states themselves.
    const activations = Math.max(0, b - states0);
    const p =
      Math.max(statesNew, b + (statesNew - states0) - activations * (1 - activationFactor)) + extraBytesPerParam * psi;
    byRank.set(v.rank, p);
    base = Math.max(base ?? 0, b);
    predicted = Math.max(predicted ?? 0, p);
  }
  return { base, predicted, byRank };
}

/**
 * What the layout model (layouts.ts) is calibrated on: the measured step and exposed
 * communication, the busiest rank's forward + backward compute and optimizer per step
 * (its segments in the step graph, median over the replayed steps), the highest measured
 * peak, the link, and measured / modelled time of the run's sized collectives.
 */
export function measuredRunOf(ctx: ReplayContext, opts: { priceSharing?: boolean } = {}): MeasuredRun {
  const per = (kinds: string[]) =>
    median(
      ctx.graphs.map((g) =>
        Math.max(
          0,
          ...[...g.lanes.values()].map((segs) =>
            segs.filter((x) => kinds.includes(x.kind)).reduce((t, x) => t + x.durNs, 0),
          ),
        ),
      ),
    );
  const sized = ctx.graph.collectives.filter((c) => c.bytes !== undefined && c.bytes > 0 && c.groupSize > 1);
  const peaks = [...ctx.measuredPeakBytesByRank.values()];
  const dispatch = dispatchCostsOf(ctx);
  const sharing = (opts.priceSharing ?? PRICE_SHARING) ? sharingOf(ctx) : undefined;
  return {
    stepTimeNs: ctx.measuredStepNs,
    computeNs: per(['forward', 'backward', 'other']),
    optimizerNs: per(['optimizer']),
    ...(peaks.length > 0 ? { peakMemoryBytes: Math.max(...peaks) } : {}),
    link: ctx.link,
    commEfficiency: sized.length > 0 ? measuredEfficiency(sized, ctx.link) : 1,
    ...(dispatch ? { dispatch } : {}),
    ...(sharing ? { sharing } : {}),
  };
}

/**
 * Whether the run's ranks share the machine's compute, and the φ its kernels ran at
 * (sharing.ts): the host probe's speed-up of a rank alone (runtime/dispatchProbe.ts), when it
 * shows sharing, and the mean φ over the kernels of the replayed steps' forward, backward and
 * other segments, from when each rank's kernels ran beside the others'. Undefined on one rank,
 * without the probe's figure, or below SHARING_MIN_SPEEDUP (the model then changes nothing).
 */
export function sharingOf(
  ctx: ReplayContext,
  kinds: readonly Segment['kind'][] = ['forward', 'backward', 'other'],
): MeasuredRun['sharing'] {
  const speedup = sharingSpeedupOf(ctx.info.hostProbe?.sharingSpeedup);
  const worldSize = ctx.info.worldSize ?? ctx.graph.lanes.size;
  if (speedup === undefined || worldSize < 2) return undefined;
  let busy = 0,
    priced = 0;
  for (const g of ctx.graphs) {
    const byRank: [number, number][][] = [];
    for (const segs of g.lanes.values()) {
      const intervals: [number, number][] = [];
      for (const seg of segs) {
        if (!kinds.includes(seg.kind)) continue;
        for (const i of seg.sliceIndexes) {
          const sl = ctx.model.slices[i];
          if (sl.category === 'kernel') intervals.push([sl.startNs, sl.startNs + sl.durNs]);
        }
      }
      byRank.push(intervals);
    }
    const kernelNs = byRank.flat().reduce((t, [a, b]) => t + (b - a), 0);
    busy += kernelNs;
    priced += kernelNs * measuredSharingFactor(byRank, worldSize, speedup);
  }
  return busy > 0 ? { speedup, worldSize, measuredFactor: priced / busy } : undefined;
}

/**
 * The host time of one submission, from the run's own steps: per rank and step, the step less the
 * time its kernels run and its host waits on collectives (what is left is the rank's host encoding,
 * uploading, submitting, reading back, and stalling: on a shared CPU a pass's host work now and then
 * takes tens of ms), over the step's host phases (the runtime's `data`, `forward (encode)`, `backward
 * + gradient exchange` and `optimizer` spans, each one submission; a PP run's forward and backward
 * phases hold one per micro-batch, m each); the mean over ranks and steps, so that the stalls count
 * as often as they happen. Measured on gpt-mini PP 2 runs, the last stage's host time per pass was
 * 4.9–11.5 ms where the median step-start gap was 2.0–8.5 ms (docs/benchmarks.md, round 3).
 * Undefined when no replayed step has host phases.
 */
export function hostTimePerSubmission(ctx: ReplayContext): number | undefined {
  const layout = layoutOfRun(ctx.info);
  const passesBeyondPhases = 'problem' in layout || layout.pp <= 1 ? 0 : 2 * (layout.microBatches - 1);
  const byPid = new Map<number, Slice[]>();
  const pidOfTrack = new Map(ctx.model.tracks.map((t) => [t.id, t.pid]));
  for (const sl of ctx.model.slices) {
    if (sl.category !== 'kernel' && sl.category !== 'wait' && sl.category !== 'host') continue;
    const pid = pidOfTrack.get(sl.track);
    if (pid === undefined) continue;
    let list = byPid.get(pid);
    if (!list) byPid.set(pid, (list = []));
    list.push(sl);
  }
  const perSubmission: number[] = [];
  for (const g of ctx.graphs) {
    for (const view of ctx.views) {
      const w = view.steps.find((x) => x.step === g.step);
      if (!w) continue;
      const busy: [number, number][] = [];
      let phases = 0;
      for (const sl of byPid.get(view.pid) ?? []) {
        if (sl.startNs < w.startNs || sl.startNs >= w.endNs) continue;
        if (sl.category === 'host') phases++;
        else busy.push([sl.startNs, Math.min(w.endNs, sl.startNs + sl.durNs)]);
      }
      if (phases === 0) continue;
      const hostNs = w.endNs - w.startNs - lengthOf(unionOf(busy));
      perSubmission.push(Math.max(0, hostNs) / (phases + passesBeyondPhases));
    }
  }
  return perSubmission.length > 0 ? mean(perSubmission) : undefined;
}

/** A CommLens kernel's transformer layer ("matmul 256x384x128 fwd layer0.attn.qkv"). */
const LAYER_OF_KERNEL = /\blayer(\d+)\./;

/**
 * The run's kernels' fixed time and counts (layouts.ts DispatchCosts), from the forward and
 * backward segments of the replayed steps: the time of one dispatch is what the run's dispatch
 * probe measured (runtime/dispatchProbe.ts: the engine's matmul and add, each timed at two sizes
 * on the ranks at once, t = a + b·work on mean times), which separates the fixed part from the
 * work; in runs recorded without it, the median duration of the lightest tenth of the kernels by
 * the FLOPs CommLens records on each (`args.flops`), which still includes their work (0.36–0.80
 * ms on gpt-mini baselines; docs/benchmarks.md compares the two on PP runs);
 * per step, the kernels of one layer (named `layerN.`; the rank's count over its layers), the
 * embedding's (named `embed`) and the rest (the head and loss), each the busiest rank's, median
 * over steps; a submission's host time is hostTimePerSubmission's (the run's host time per host
 * phase, stalls included); in traces without host phases, the gap from a rank's step marker to its
 * first kernel (the step's one submission: its input's upload, the encoding, the submit), median
 * over ranks and steps. Undefined without CommLens's FLOPs and layer names on the kernels.
 */
export function dispatchCostsOf(ctx: ReplayContext): DispatchCosts | undefined {
  const kernels: { flops: number; durNs: number }[] = [];
  const perLayer: number[] = [],
    embed: number[] = [],
    head: number[] = [],
    submits: number[] = [];
  for (const g of ctx.graphs) {
    let e = 0,
      h = 0;
    for (const [rank, segs] of g.lanes) {
      const window = ctx.views.find((v) => v.rank === rank)?.steps.find((w) => w.step === g.step);
      if (window && segs.length > 0 && segs[0].sliceIndexes.length > 0) {
        // A loop, not Math.min(...): a coarsened segment (a whole forward pass) may hold more
        // kernels than a call's arguments can.
        let first = Infinity;
        for (const i of segs[0].sliceIndexes) first = Math.min(first, ctx.model.slices[i].startNs);
        if (first >= window.startNs) submits.push(first - window.startNs);
      }
      let layerKernels = 0,
        embedKernels = 0,
        rest = 0;
      const layers = new Set<string>();
      for (const seg of segs) {
        if (seg.kind !== 'forward' && seg.kind !== 'backward') continue;
        for (const i of seg.sliceIndexes) {
          const sl = ctx.model.slices[i];
          if (sl.category !== 'kernel') continue;
          const flops = sl.args?.flops;
          if (typeof flops === 'number' && Number.isFinite(flops)) kernels.push({ flops, durNs: sl.durNs });
          const layer = LAYER_OF_KERNEL.exec(sl.name);
          if (layer) {
            layerKernels++;
            layers.add(layer[1]);
          } else if (/\bembed\b/.test(sl.name)) embedKernels++;
          else rest++;
        }
      }
      if (layers.size > 0) perLayer.push(layerKernels / layers.size);
      e = Math.max(e, embedKernels);
      h = Math.max(h, rest);
    }
    embed.push(e);
    head.push(h);
  }
  if (perLayer.length === 0 || kernels.length < 20) return undefined;
  const probed = ctx.info.hostProbe?.dispatchNs;
  kernels.sort((a, b) => a.flops - b.flops);
  const lightest = kernels.slice(0, Math.max(1, Math.floor(kernels.length / 10)));
  return {
    ...(probed !== undefined
      ? { dispatchNs: probed, dispatchSource: 'probe' as const }
      : { dispatchNs: median(lightest.map((k) => k.durNs)), dispatchSource: 'lightest kernels' as const }),
    perLayer: median(perLayer),
    embed: median(embed),
    head: median(head),
    submitNs: hostTimePerSubmission(ctx) ?? (submits.length > 0 ? Math.max(0, median(submits)) : 0),
  };
}

/** What-if on a model: builds the replay context and applies the change. */
export function whatIf(
  model: TraceModel,
  change: WhatIfChange,
  opts: { includeLastStep?: boolean } = {},
): WhatIfResult {
  return whatIfOn(prepareReplay(model, opts), change);
}
