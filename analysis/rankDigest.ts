/**
 * A rank digested where it was read (issue #22: reduce, then merge). In the scan worker that
 * reduced it (analysis/rankDigestWorker.ts), a rank's view is built from all its GPU ops and
 * every per-rank part of the analysis is computed there from them: its metrics (per step and
 * over the window), FLOPs, memory, exposed communication per group and step, a pipeline
 * stage's compute per step, the compute before each collective, the compress hook's casts,
 * and which names the job settings look for. Then the rank is pruned to what the cross-rank
 * parts read: its communication ops (every step), its ops outside steps, every op of its last
 * `keptSteps` analysed steps (the critical path and the replay read those), its step markers,
 * collectives and staging copies. Only that crosses to the main thread, which merges the ranks
 * and runs the analysis over views made from the digests (`materializeView`), so the main
 * thread holds a few steps of each rank, not the job.
 *
 * The figures are those of the whole ranks (analysis/index.ts reads the digest wherever it
 * would read all the ops: RankView.partial). A step the pruned view does not hold throws
 * PartialViewError; the caller then analyses the job from whole ranks
 * (analysis/kinetoJobAnalysis.ts).
 */
import type { Slice, TraceModel } from '../trace/model';
import type { MergePlace } from '../trace/kinetoMerge';
import type { ReducedRank } from '../trace/kinetoScanService';
import { computeBeforeComm } from './collectives';
import { isMemoryCounter, rankFlopsBase, rankMemory } from './computeStats';
import { rankGroupSteps } from './groupExposure';
import { castsBeforeAllReduces, castWindowsOf, nameSignsOf } from './jobSettings';
import { pipelineGroups, rankPipelineSteps } from './pipelineBubble';
import { rankMetrics } from './rankMetrics';
import type { CastCount, RankDigest, StageCompute } from './rankFigures';

export type { RankDigest } from './rankFigures';
import { buildRankViews, type GpuOp, type KernelClass, type RankView, type StepWindow } from './rankView';

export interface DigestOptions {
  includeLastStep: boolean;
  /** Analysed steps (the last that have ops) whose every op is kept. */
  keptSteps: number;
}

const CLASSES: readonly KernelClass[] = ['computation', 'communication', 'memory'];

/**
 * The shape of WireDigest. A digest travels in rank summaries (`commlens reduce`, made perhaps by
 * another CommLens): raise this whenever WireDigest or what it carries changes, so that a summary
 * of another shape is refused by name instead of misread.
 */
export const DIGEST_FORMAT = 1;

/** A digest as it leaves the worker: in the pruned one-rank model's terms (its slice indexes, tracks and times). */
export interface WireDigest extends Omit<RankDigest, 'exposedByStep'> {
  /** DIGEST_FORMAT of the CommLens that made it. */
  format: number;
  pid: number;
  rank: number;
  notes: string[];
  hasLaunchTimes: boolean;
  cpuTimeline: boolean;
  steps: { step: number; startNs: number; endNs: number; index: number }[];
  /** Indexes into `steps` of the analysed steps. */
  analysed: number[];
  /** The kept ops, sorted by start as in the view; NaN: undefined. */
  ops: {
    index: Int32Array;
    track: Int32Array;
    startNs: Float64Array;
    durNs: Float64Array;
    launchNs: Float64Array;
    step: Float64Array;
    cls: Uint8Array;
    computeBeforeNs: Float64Array;
  };
  opCount: number;
  stepsWithOps: number[];
  fullSteps: number[];
  keptStepCount: number;
}

/**
 * Digests a one-rank reduced model (trace/kinetoRank.ts): the pruned model, the indexes of the
 * slices it keeps (ascending, into `model.slices`) and the digest; undefined when the model is
 * not one rank (no process, or several), which is then analysed whole.
 */
export function digestRank(
  model: TraceModel,
  opts: DigestOptions,
  launches?: ReducedRank['launches'],
): { model: TraceModel; kept: Int32Array; digest: WireDigest } | undefined {
  const views = buildRankViews(model, { includeLastStep: opts.includeLastStep, launches });
  if (views.length !== 1 || model.processes.length !== 1) return undefined;
  const v = views[0];
  const metrics = rankMetrics(model, v);
  const flops = rankFlopsBase(model, v);
  const memory = rankMemory(model, v);
  const groupSteps = rankGroupSteps(model, v);
  const pipelineSteps =
    pipelineGroups(model).length > 0 ? rankPipelineSteps(model, v) : new Map<number, StageCompute>();
  const casts = new Map<number | undefined, CastCount>();
  if (hasCollectiveSlice(model.slices)) {
    const windows = castWindowsOf(v);
    const counts = castsBeforeAllReduces(model, v.pid, windows);
    windows.forEach((w, i) => casts.set(w.step, counts[i]));
  }
  const names = nameSignsOf(model, launches?.names);
  const before = computeBeforeComm(v);

  // Which steps keep every op: the last keptSteps analysed steps that have ops.
  const stepsWithOps = stepsOfOps(v.ops);
  const analysedWithOps = [...new Set(v.analysedSteps.map((s) => s.step))]
    .filter((n) => stepsWithOps.has(n))
    .sort((a, b) => a - b);
  const fullSteps = new Set(analysedWithOps.slice(-Math.max(1, opts.keptSteps)));
  // Steps of ops that are not analysed steps (overlapping markers) are kept whole too.
  const analysed = new Set(analysedWithOps);
  for (const n of stepsWithOps) if (!analysed.has(n)) fullSteps.add(n);

  // The slices kept: those of the kept ops, step markers, collectives and staging copies.
  const keep = new Uint8Array(model.slices.length);
  const keptOps = keepOps(v.ops, fullSteps, keep);
  keepMarkers(model.slices, keep);
  const { kept, newIndex, slices } = keptSlices(model.slices, keep);
  const pruned: TraceModel = {
    meta: model.meta,
    processes: model.processes,
    tracks: model.tracks,
    slices,
    // Memory counters are digested (memory); the rest (a run's bytes per step) is read as it is.
    counters: model.counters.filter((c) => {
      const t = model.tracks[c.track];
      return !(t && isMemoryCounter(t.unit, t.name));
    }),
    flows: [],
    warnings: model.warnings,
  };
  const ops = opsTable(v.ops, keptOps, newIndex, before);
  const stepIndex = new Map<StepWindow, number>(v.steps.map((s, i) => [s, i]));
  renumberSteps(metrics.steps, newIndex);
  const digest: WireDigest = {
    format: DIGEST_FORMAT,
    pid: v.pid,
    rank: v.rank,
    notes: v.notes,
    hasLaunchTimes: v.hasLaunchTimes,
    cpuTimeline: v.cpuTimeline === true,
    steps: v.steps.map((s) => ({ step: s.step, startNs: s.startNs, endNs: s.endNs, index: newIndex[s.index] })),
    analysed: v.analysedSteps.map((s) => stepIndex.get(s)!),
    ops,
    opCount: v.ops.length,
    stepsWithOps: [...stepsWithOps],
    fullSteps: [...fullSteps],
    keptStepCount: Math.max(1, opts.keptSteps),
    metrics,
    ...(flops ? { flops } : {}),
    ...(memory ? { memory } : {}),
    groupSteps,
    pipelineSteps,
    casts,
    names,
  };
  return { model: pruned, kept, digest };
}

// digestRank's loops, each a function of its own: V8 compiles a loop that runs long by on-stack
// replacement of the function it is in, and a long function whose loops are entered one after
// the other was compiled again for each (a 20 MB rank's digestRank took 50–180 ms per compile).

function hasCollectiveSlice(slices: readonly Slice[]): boolean {
  for (let i = 0; i < slices.length; i++) if (slices[i].category === 'collective') return true;
  return false;
}

function stepsOfOps(ops: readonly GpuOp[]): Set<number> {
  const steps = new Set<number>();
  for (let k = 0; k < ops.length; k++) {
    const st = ops[k].step;
    if (st !== undefined) steps.add(st);
  }
  return steps;
}

/** The ops kept (their positions in `ops`): communication, ops of no step and ops of the full steps; marks their slices in `keep`. */
function keepOps(ops: readonly GpuOp[], fullSteps: ReadonlySet<number>, keep: Uint8Array): number[] {
  const kept: number[] = [];
  for (let k = 0; k < ops.length; k++) {
    const op = ops[k];
    if (op.cls === 'communication' || op.step === undefined || fullSteps.has(op.step)) {
      kept.push(k);
      keep[op.index] = 1;
    }
  }
  return kept;
}

/** Marks the step markers, collectives and staging copies in `keep`. */
function keepMarkers(slices: readonly Slice[], keep: Uint8Array): void {
  for (let i = 0; i < slices.length; i++) {
    const c = slices[i].category;
    if (c === 'step' || c === 'collective' || c === 'staging') keep[i] = 1;
  }
}

/** The slices marked in `keep`, their old indexes, and each old index's new one (−1: dropped). */
function keptSlices(
  all: readonly Slice[],
  keep: Uint8Array,
): { kept: Int32Array; newIndex: Int32Array; slices: Slice[] } {
  let n = 0;
  for (let i = 0; i < keep.length; i++) n += keep[i];
  const kept = new Int32Array(n);
  const newIndex = new Int32Array(all.length).fill(-1);
  const slices: Slice[] = new Array(n);
  for (let i = 0, j = 0; i < keep.length; i++)
    if (keep[i]) {
      kept[j] = i;
      newIndex[i] = j;
      slices[j++] = all[i];
    }
  return { kept, newIndex, slices };
}

function opsTable(
  all: readonly GpuOp[],
  keptOps: readonly number[],
  newIndex: Int32Array,
  before: ArrayLike<number>,
): WireDigest['ops'] {
  const m = keptOps.length;
  const ops: WireDigest['ops'] = {
    index: new Int32Array(m),
    track: new Int32Array(m),
    startNs: new Float64Array(m),
    durNs: new Float64Array(m),
    launchNs: new Float64Array(m),
    step: new Float64Array(m),
    cls: new Uint8Array(m),
    computeBeforeNs: new Float64Array(m),
  };
  for (let j = 0; j < m; j++) {
    const k = keptOps[j];
    const op = all[k];
    ops.index[j] = newIndex[op.index];
    ops.track[j] = op.track;
    ops.startNs[j] = op.startNs;
    ops.durNs[j] = op.endNs - op.startNs;
    ops.launchNs[j] = op.launchNs ?? NaN;
    ops.step[j] = op.step ?? NaN;
    ops.cls[j] = CLASSES.indexOf(op.cls);
    ops.computeBeforeNs[j] = before[k];
  }
  return ops;
}

function renumberSteps(steps: readonly { sliceIndex: number }[], newIndex: Int32Array): void {
  for (let i = 0; i < steps.length; i++) steps[i].sliceIndex = newIndex[steps[i].sliceIndex];
}

/**
 * The view of a digested rank in the merged model's terms (`place`: where the merge put its
 * slices and tracks, how far it shifted its times, its pid). Consumes the digest.
 */
export function materializeView(d: WireDigest, place: MergePlace): RankView {
  const { sliceBase, trackBase, shiftNs } = place;
  const pid = place.pidOf.get(d.pid) ?? d.pid;
  const steps: StepWindow[] = d.steps.map((s) => ({
    step: s.step,
    startNs: s.startNs + shiftNs,
    endNs: s.endNs + shiftNs,
    index: s.index + sliceBase,
  }));
  const o = d.ops;
  const ops: GpuOp[] = new Array(o.index.length);
  for (let j = 0; j < ops.length; j++) {
    const startNs = o.startNs[j] + shiftNs;
    const op: GpuOp = {
      index: o.index[j] + sliceBase,
      track: o.track[j] + trackBase,
      startNs,
      endNs: startNs + o.durNs[j],
      cls: CLASSES[o.cls[j]],
    };
    if (!Number.isNaN(o.launchNs[j])) op.launchNs = o.launchNs[j] + shiftNs;
    if (!Number.isNaN(o.step[j])) op.step = o.step[j];
    if (!Number.isNaN(o.computeBeforeNs[j])) op.computeBeforeNs = o.computeBeforeNs[j];
    ops[j] = op;
  }
  const metrics = d.metrics;
  metrics.pid = pid;
  for (const st of metrics.steps) {
    st.startNs += shiftNs;
    st.sliceIndex += sliceBase;
  }
  for (const s of metrics.idleByStream) s.track += trackBase;
  const pipelineSteps = new Map<number, StageCompute>();
  for (const [step, c] of d.pipelineSteps)
    pipelineSteps.set(step, { startNs: c.startNs + shiftNs, endNs: c.endNs + shiftNs, computeNs: c.computeNs });
  const digest: RankDigest = {
    metrics,
    ...(d.flops ? { flops: d.flops } : {}),
    ...(d.memory ? { memory: d.memory } : {}),
    groupSteps: d.groupSteps,
    pipelineSteps,
    casts: d.casts,
    names: d.names,
    exposedByStep: new Map(metrics.steps.map((s) => [s.step, s.overlap.exposedCommNs])),
  };
  return {
    pid,
    rank: d.rank,
    allOps: ops,
    ops,
    steps,
    analysedSteps: d.analysed.map((i) => steps[i]),
    hasLaunchTimes: d.hasLaunchTimes,
    notes: d.notes,
    ...(d.cpuTimeline ? { cpuTimeline: true } : {}),
    partial: {
      fullSteps: new Set(d.fullSteps),
      stepsWithOps: new Set(d.stepsWithOps),
      keptStepCount: d.keptStepCount,
      opCount: d.opCount,
      digest,
    },
  };
}

/**
 * The scan workers' RankTransform (trace/kinetoScanService.ts): the reduced rank pruned, its
 * slices' origins kept in step, with its digest; as it is when it cannot be digested.
 */
export function digestReducedRank(options: unknown, r: ReducedRank): ReducedRank & { digest?: WireDigest } {
  const d = digestRank(r.model, options as DigestOptions, r.launches);
  if (!d) {
    if (r.launches)
      throw new Error(
        `rankDigest: ${r.model.meta.info?.fileName ?? 'a rank'} reduced with a launch table is not one rank`,
      );
    return r;
  }
  const sliceOrigin = new Int32Array(d.kept.length);
  for (let j = 0; j < d.kept.length; j++) sliceOrigin[j] = r.sliceOrigin[d.kept[j]];
  const { launches: _read, ...rest } = r;
  return { ...rest, model: d.model, sliceOrigin, digest: d.digest };
}
