/**
 * A step's dependency graph across ranks, built from the trace, for the what-if replay.
 *
 * Per rank, the compute lane is its computation and memory kernels (staging copies belong
 * to communication) in time order, kernels that run at the same time merged into one
 * segment; segments run in
 * order, each after a fixed gap (host or launch time, kept as measured). A gap that ends
 * after a collective finished on that rank is explained by waiting for it: the segment
 * then depends on that collective (plus the measured delay after its end, e.g. a H2D
 * copy) instead of on the gap. Every collective joins its participants: it is ready on a
 * rank when its trigger (the last segment that ended before the rank began the collective,
 * or before the device-to-host copy staging its input had its data — for a bucket
 * all-reduce, its last gradient) has finished plus the measured launch delay, and
 * it runs on its communication lane (the stream it ran on: collectives of one stream run
 * one after another, different streams concurrently), in trace order, for its completion
 * time (last participant's start to last participant's end). The staging copies inside a
 * launch delay (device-to-host, before the collective) and inside a post delay
 * (host-to-device, after it) are recorded with their bytes, so a change that stages other
 * bytes can reprice them (transforms.ts restageTrigger / restagePost). Each rank's step starts at its measured offset
 * from the earliest rank's start. The optimizer is the compute after the last
 * gradient collective's trigger that depends on gradient collectives.
 */
import type { TraceModel } from '../../trace/model';
import type { CollectiveInstance } from '../collectives';
import { opsOfStep, type RankView } from '../rankView';
import { exitModeOfAlgorithm } from './costModel';

export type SegmentKind = 'forward' | 'backward' | 'optimizer' | 'other';

export interface Segment {
  durNs: number;
  /** Fixed delay between the previous segment's end (or the step start) and this one. */
  gapNs: number;
  /** Collectives (ids) that must have finished before this segment starts. */
  waitsOn: number[];
  /** Delay after the latest waited-on collective ends (a copy back, a decode). */
  postDelayNs: number;
  /** Host-to-device staging copies inside postDelayNs: their bytes and the time they took there. */
  postStagedBytes?: number;
  postStagedNs?: number;
  /** The run's own codec spans inside postDelayNs (a decode after the exchange; CommLens traces): their time there. */
  postCodecNs?: number;
  kind: SegmentKind;
  /** Measured start relative to the rank's step start. */
  measuredStartNs: number;
  sliceIndexes: number[];
}

export interface Trigger {
  /** Index of the segment after which the collective is ready on this rank (−1 = step start). */
  afterSegment: number;
  /** Fraction of that segment that must be done (1 = all of it); < 1 only for synthetic buckets. */
  fraction: number;
  delayNs: number;
  /** Device-to-host staging copies inside delayNs (what the collective waited for after its trigger): bytes and time. */
  stagedBytes?: number;
  stagedNs?: number;
  /** The run's own codec spans inside delayNs (an encode before the collective; CommLens traces): their time there. */
  codecNs?: number;
}

export interface CollectiveNode {
  id: number;
  op: string;
  bytes?: number;
  groupSize: number;
  durNs: number;
  /** A gradient reduction (all-reduce / reduce-scatter of the backward pass). */
  gradient: boolean;
  triggers: Map<number, Trigger>;
  sliceIndexes: number[];
  /** Extra time on the collective's own path (a compressor's encode + decode). */
  extraNs?: number;
  /** The communication lane (stream) it runs on. */
  lane: string;
  /** How its participants leave it where each leaves on its own (StepGraph.exits; costModel.ts exitModeOfAlgorithm); undefined: by its op (simulate.ts). */
  exit?: 'ring' | 'all';
  /** The algorithm that ran it, where the trace names one (a CommLens trace's `algorithm`), or that the tuner takes for one a change adds. */
  algorithm?: string;
}

export interface StepGraph {
  step?: number;
  ranks: number[];
  lanes: Map<number, Segment[]>;
  /** In communication-lane order. */
  collectives: CollectiveNode[];
  /** Per rank, measured end of the step relative to its start. */
  measuredStepNsByRank: Map<number, number>;
  /** Per rank, when its step started relative to the earliest rank's start (the ranks' skew). */
  startOffsetNs: Map<number, number>;
  /** Measured step across ranks: last end − earliest start. */
  measuredStepNs: number;
  /**
   * How the participants of a collective leave it. 'own': each when the data it needs has
   * crossed the wire, as on CommLens' emulated links (runtime/comm/channel.ts: a chunk is
   * readable at its sender's send time plus the wire's), so a rank that arrived last finds
   * the others' data waiting and leaves first, and the ranks start their next step apart.
   * Absent: all together (NCCL: the kernels end when the slowest peer's data is in).
   */
  exits?: 'own';
  notes: string[];
}

const BACKWARD_NAME = /bwd|backward|grad/i;

/** CommLens' model-parallel process groups (runtime/comm/layout.ts names them "tp group 0 (ranks 0,1)"). */
const MODEL_PARALLEL_GROUP = /^(tp|pp|cp|ep) group \d+ \(ranks /;

export interface StepGraphOptions {
  /**
   * Process groups whose collectives move activations, not gradients (an imported job's
   * tensor-, pipeline-, context- or expert-parallel groups, as analysis/jobSettings.ts
   * recognises them); CommLens' own are known by name.
   */
  modelParallelGroups?: ReadonlySet<string>;
}

/**
 * True when a collective of `group` is model-parallel traffic: a gradient reduction is an
 * all-reduce or reduce-scatter of any other group (TP's all-reduces are activations).
 */
function isModelParallelGroup(group: string, opts: StepGraphOptions): boolean {
  return MODEL_PARALLEL_GROUP.test(group) || (opts.modelParallelGroups?.has(group) ?? false);
}

/**
 * A CommLens gradient codec's host span: `encode …` / `decode …` (runtime/strategies: the hooks,
 * top-k, PowerSGD, 1-bit Adam, the compressed all-reduce), which CommLens records on the rank's
 * host track. The probe's meter of the codecs (runtime/hostProbe.ts) counts the same names.
 */
export const CODEC_SPAN_NAME = /^(encode|decode) /;

const codecSpansByModel = new WeakMap<TraceModel, Map<number, { startNs: number; endNs: number }[]>>();

/** Per process (rank), its codec spans by start; only CommLens traces have them (empty otherwise). */
function codecSpansOf(model: TraceModel): Map<number, { startNs: number; endNs: number }[]> {
  let m = codecSpansByModel.get(model);
  if (m) return m;
  m = new Map();
  if (model.meta.format === 'commlens')
    for (const sl of model.slices) {
      if (sl.category !== 'host' || !CODEC_SPAN_NAME.test(sl.name)) continue;
      const pid = model.tracks[sl.track]?.pid;
      if (pid === undefined) continue;
      let list = m.get(pid);
      if (!list) m.set(pid, (list = []));
      list.push({ startNs: sl.startNs, endNs: sl.startNs + sl.durNs });
    }
  for (const list of m.values()) list.sort((a, b) => a.startNs - b.startNs);
  codecSpansByModel.set(model, m);
  return m;
}

/** The time of `spans` (sorted by start, not overlapping: one host thread's) inside [from, to]. */
export function timeInside(spans: readonly { startNs: number; endNs: number }[], from: number, to: number): number {
  let ns = 0;
  for (const sp of spans) {
    if (sp.startNs >= to) break;
    const a = Math.max(from, sp.startNs),
      b = Math.min(to, sp.endNs);
    if (b > a) ns += b - a;
  }
  return ns;
}

/** Builds the step graph of `step` (undefined = the whole analysed window). */
export function buildStepGraph(
  model: TraceModel,
  views: RankView[],
  instances: CollectiveInstance[],
  step: number | undefined,
  opts: StepGraphOptions = {},
): StepGraph {
  const notes: string[] = [];
  const lanes = new Map<number, Segment[]>();
  const measuredStepNsByRank = new Map<number, number>();
  const starts = new Map<number, number>();
  const ends = new Map<number, number>();
  const inThisStep = new Set<number>();
  for (const v of views) for (const o of opsOfStep(v, step)) if (o.cls === 'communication') inThisStep.add(o.index);
  const stepInstances = instances.filter((inst) => inst.participants.some((p) => inThisStep.has(p.sliceIndex)));
  const backwardName = new Map<string, boolean>();
  const isBackwardName = (name: string) => {
    let b = backwardName.get(name);
    if (b === undefined) {
      b = BACKWARD_NAME.test(name);
      backwardName.set(name, b);
    }
    return b;
  };
  const collectives: CollectiveNode[] = stepInstances.map((inst, id) => ({
    id,
    op: inst.op,
    bytes: inst.bytes,
    groupSize: inst.groupSize,
    durNs: inst.completionNs,
    gradient: (inst.op === 'allReduce' || inst.op === 'reduceScatter') && !isModelParallelGroup(inst.group, opts),
    triggers: new Map(),
    sliceIndexes: inst.participants.map((p) => p.sliceIndex),
    exit: exitModeOfAlgorithm(model.slices[inst.participants[0].sliceIndex].args?.algorithm),
    ...algorithmOf(model.slices[inst.participants[0].sliceIndex].args?.algorithm),
    lane: String(
      model.tracks[model.slices[inst.participants[0].sliceIndex].track].sourceId ??
        model.tracks[model.slices[inst.participants[0].sliceIndex].track].name,
    ),
  }));
  const idOfSlice = new Map<number, number>();
  stepInstances.forEach((inst, id) => inst.participants.forEach((p) => idOfSlice.set(p.sliceIndex, id)));

  const codecSpans = codecSpansOf(model);
  for (const v of views) {
    const ops = opsOfStep(v, step);
    if (ops.length === 0) continue;
    const codec = codecSpans.get(v.pid) ?? [];
    const computeOps = ops.filter((o) => o.cls !== 'communication' && model.slices[o.index].category !== 'staging');
    const commOps = ops.filter((o) => o.cls === 'communication' && idOfSlice.has(o.index));
    // Device-to-host copies that stage a collective's input (CommLens' staging track).
    const d2h = ops.filter((o) => {
      const sl = model.slices[o.index];
      return sl.category === 'staging' && (sl.args?.direction === 'd2h' || /d2h/i.test(sl.name));
    });
    const h2d = ops.filter((o) => {
      const sl = model.slices[o.index];
      return sl.category === 'staging' && (sl.args?.direction === 'h2d' || /h2d/i.test(sl.name));
    });
    let t0 = Infinity,
      tEnd = -Infinity;
    for (let k = 0; k < ops.length; k++) {
      if (ops[k].startNs < t0) t0 = ops[k].startNs;
      if (ops[k].endNs > tEnd) tEnd = ops[k].endNs;
    }
    // Segments: kernels in order, merging only those that run at the same time (several
    // streams); back-to-back kernels stay separate so a collective can trigger between them.
    const union = { starts: [] as number[], ends: [] as number[] };
    const segSlices: number[][] = [];
    const byStart = [...computeOps].sort((a, b) => a.startNs - b.startNs);
    for (let k = 0; k < byStart.length; k++) {
      const o = byStart[k];
      const last = union.ends.length - 1;
      if (last >= 0 && o.startNs < union.ends[last]) {
        if (o.endNs > union.ends[last]) union.ends[last] = o.endNs;
        segSlices[last].push(o.index);
      } else {
        union.starts.push(o.startNs);
        union.ends.push(o.endNs);
        segSlices.push([o.index]);
      }
    }
    const colls = commOps
      .map((o) => ({ id: idOfSlice.get(o.index) as number, start: o.startNs, end: o.endNs }))
      .sort((a, b) => a.start - b.start);
    const waits = segmentWaits(union.starts, union.ends, colls, t0);
    const segs: Segment[] = [];
    let explicitPhases = false;
    let prevEnd = t0;
    // Index loops and no closures below: this runs once per segment (hundreds per rank on a
    // Kineto step), mostly before V8 has optimised it.
    for (let s = 0; s < union.starts.length; s++) {
      const start = union.starts[s],
        end = union.ends[s];
      // Collectives that finished inside this gap explain it.
      const waitsOn = waits.ids[s];
      const lastWaitEnd = waits.lastEnd[s];
      // CommLens kernels say their phase; otherwise names like `…_backward_…` hint at it.
      let fwd = false,
        bwd = false,
        opt = false,
        bwdName = false;
      const inSegment = segSlices[s];
      for (let k = 0; k < inSegment.length; k++) {
        const sl = model.slices[inSegment[k]];
        const ph = sl.args?.phase;
        if (ph === 'backward') bwd = true;
        else if (ph === 'optimizer') opt = true;
        else if (ph === 'forward') fwd = true;
        else if (!bwdName && isBackwardName(sl.name)) bwdName = true;
      }
      const kind: SegmentKind = bwd ? 'backward' : opt ? 'optimizer' : fwd ? 'forward' : bwdName ? 'backward' : 'other';
      if (fwd || bwd || opt) explicitPhases = true;
      const post = waitsOn.length > 0 ? copiesIn(model, h2d, lastWaitEnd, start) : undefined;
      const postCodecNs = waitsOn.length > 0 && codec.length > 0 ? timeInside(codec, lastWaitEnd, start) : 0;
      segs.push({
        durNs: end - start,
        gapNs: waitsOn.length > 0 ? 0 : start - prevEnd,
        waitsOn,
        postDelayNs: waitsOn.length > 0 ? start - lastWaitEnd : 0,
        ...(post && post.bytes > 0 ? { postStagedBytes: post.bytes, postStagedNs: post.ns } : {}),
        ...(postCodecNs > 0 ? { postCodecNs } : {}),
        kind,
        measuredStartNs: start - t0,
        sliceIndexes: segSlices[s],
      });
      prevEnd = end;
    }
    let prevCollEnd = t0;
    // Segment ends only grow, so the last segment ending by c.start is found by binary search.
    const lastEndingBy = (t: number) => {
      let lo = 0,
        hi = union.ends.length - 1,
        ans = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (union.ends[mid] <= t) {
          ans = mid;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      return ans;
    };
    let prevCollStart = t0;
    for (const c of colls) {
      // The collective's input was ready when the first of its staging copies (those started
      // since the previous collective) had its data: the copy's end, since the span runs from
      // the host's request to the data being readable and a GPU queue runs the copy after
      // every kernel submitted before it. Without a copy, when the collective began.
      let anchor = c.start;
      for (const o of d2h) if (o.startNs >= prevCollStart && o.startNs <= c.start && o.endNs < anchor) anchor = o.endNs;
      prevCollStart = c.start;
      const trig = lastEndingBy(anchor);
      const trigEnd = trig >= 0 ? union.ends[trig] : t0;
      const from = Math.max(trigEnd, prevCollEnd);
      const staged = copiesIn(model, d2h, from, c.start);
      const codecNs = codec.length > 0 ? timeInside(codec, from, c.start) : 0;
      collectives[c.id].triggers.set(v.rank, {
        afterSegment: trig,
        fraction: 1,
        delayNs: Math.max(0, c.start - from),
        ...(staged.bytes > 0 ? { stagedBytes: staged.bytes, stagedNs: staged.ns } : {}),
        ...(codecNs > 0 ? { codecNs } : {}),
      });
      prevCollEnd = Math.max(prevCollEnd, c.end);
    }
    if (!explicitPhases) labelPhases(segs, collectives, v.rank);
    lanes.set(v.rank, coarsen(segs, collectives, v.rank));
    measuredStepNsByRank.set(v.rank, tEnd - t0);
    starts.set(v.rank, t0);
    ends.set(v.rank, tEnd);
  }
  const first = Math.min(...starts.values());
  const startOffsetNs = new Map([...starts].map(([r, t]) => [r, t - first]));
  const measuredStepNs = starts.size > 0 ? Math.max(...ends.values()) - first : 0;
  if (collectives.length === 0) notes.push('no collectives in the step: the replay has no communication to change');
  const ranks = [...lanes.keys()].sort((a, b) => a - b);
  return {
    step,
    ranks,
    lanes,
    collectives,
    measuredStepNsByRank,
    startOffsetNs,
    measuredStepNs,
    ...(model.meta.format === 'commlens' ? { exits: 'own' as const } : {}),
    notes,
  };
}

/**
 * Which collectives each segment waited on: those that ended in the gap before it, after the
 * previous segment's end (from `t0` for the first) and by its start, as their ids in the order of
 * `colls` (by start); and the last such end (−Infinity: none). Segments are in time order, their
 * starts and ends non-decreasing (a rank's compute unions), so one pass over the collectives by
 * end answers every segment: a collective passed over ended by an earlier segment's start.
 */
export function segmentWaits(
  starts: readonly number[],
  ends: readonly number[],
  colls: readonly { id: number; end: number }[],
  t0: number,
): { ids: number[][]; lastEnd: number[] } {
  const byEnd = colls.map((_, k) => k).sort((a, b) => colls[a].end - colls[b].end || a - b);
  const ids: number[][] = [];
  const lastEnd: number[] = [];
  let next = 0;
  let prevEnd = t0;
  for (let s = 0; s < starts.length; s++) {
    const waiting: number[] = [];
    let last = -Infinity;
    while (next < byEnd.length && colls[byEnd[next]].end <= starts[s]) {
      const k = byEnd[next++];
      if (colls[k].end > prevEnd) {
        waiting.push(k);
        if (colls[k].end > last) last = colls[k].end;
      }
    }
    if (waiting.length > 1) waiting.sort((a, b) => a - b);
    ids.push(waiting.map((k) => colls[k].id));
    lastEnd.push(last);
    prevEnd = ends[s];
  }
  return { ids, lastEnd };
}

/**
 * The staging copies that finished inside (from, to]: their bytes (a copy counts whole:
 * the part of its span before `from` was waiting for the GPU work queued ahead of it) and
 * the time they cover inside the window (union, clipped to it).
 */
function copiesIn(
  model: TraceModel,
  copies: { index: number; startNs: number; endNs: number }[],
  from: number,
  to: number,
): { bytes: number; ns: number } {
  let bytes = 0;
  const iv: [number, number][] = [];
  for (const o of copies) {
    if (o.endNs <= from || o.endNs > to) continue;
    const b = model.slices[o.index].args?.bytes;
    if (typeof b !== 'number' || b <= 0) continue;
    bytes += b;
    iv.push([Math.max(from, o.startNs), o.endNs]);
  }
  iv.sort((a, b) => a[0] - b[0]);
  let ns = 0,
    curS = -Infinity,
    curE = -Infinity;
  for (const [a, b] of iv) {
    if (a > curE) {
      if (curE > curS) ns += curE - curS;
      curS = a;
      curE = b;
    } else if (b > curE) curE = b;
  }
  if (curE > curS) ns += curE - curS;
  return { bytes, ns };
}

/**
 * Labels segments forward / backward / optimizer when the kernels do not say their phase.
 * Backward: named like backward kernels,
 * else (no names to go by) the last two thirds, by time, of the compute up to the last
 * gradient collective's trigger (backward ≈ 2× forward). Optimizer: segments after that
 * trigger that wait on a gradient collective, and those after them.
 */
function labelPhases(segs: Segment[], collectives: CollectiveNode[], rank: number): void {
  let lastGradTrigger = -1;
  for (const c of collectives) {
    if (!c.gradient) continue;
    const t = c.triggers.get(rank);
    if (t && t.afterSegment > lastGradTrigger) lastGradTrigger = t.afterSegment;
  }
  const firstBwd = segs.findIndex((s) => s.kind === 'backward');
  if (firstBwd < 0 && lastGradTrigger >= 0) {
    const total = segs.slice(0, lastGradTrigger + 1).reduce((t, s) => t + s.durNs, 0);
    let acc = 0;
    for (let i = 0; i <= lastGradTrigger; i++) {
      segs[i].kind = acc >= total / 3 ? 'backward' : 'forward';
      acc += segs[i].durNs;
    }
  } else if (firstBwd >= 0) {
    for (let i = 0; i < firstBwd; i++) segs[i].kind = 'forward';
    for (let i = firstBwd; i <= lastGradTrigger; i++) segs[i].kind = 'backward';
  }
  let afterGradWait = false;
  for (let i = lastGradTrigger + 1; i < segs.length; i++) {
    if (segs[i].waitsOn.some((id) => collectives[id]?.gradient)) afterGradWait = true;
    if (afterGradWait) segs[i].kind = 'optimizer';
  }
}

/**
 * Merges runs of segments that nothing else interacts with: a run ends at a change of
 * kind, before a segment that waits on a collective, and after a segment that triggers
 * one. A run replays exactly like one segment as long as its internal gaps
 * are kept inside its duration, so the replay's results do not change while it gets
 * orders of magnitude fewer segments to schedule (a Kineto step has thousands of kernels).
 */
function coarsen(segs: Segment[], collectives: CollectiveNode[], rank: number): Segment[] {
  const isTrigger = new Set<number>();
  for (const c of collectives) {
    const t = c.triggers.get(rank);
    if (t) isTrigger.add(t.afterSegment);
  }
  const out: Segment[] = [];
  const newIndex = new Int32Array(segs.length);
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i];
    const last = out[out.length - 1];
    const mergeable = last !== undefined && last.kind === s.kind && s.waitsOn.length === 0 && !isTrigger.has(i - 1);
    if (mergeable) {
      last.durNs += s.gapNs + s.durNs;
      for (const k of s.sliceIndexes) last.sliceIndexes.push(k);
    } else {
      out.push({ ...s, waitsOn: [...s.waitsOn], sliceIndexes: [...s.sliceIndexes] });
    }
    newIndex[i] = out.length - 1;
  }
  for (const c of collectives) {
    const t = c.triggers.get(rank);
    if (t && t.afterSegment >= 0) t.afterSegment = newIndex[t.afterSegment];
  }
  return out;
}

/** The `algorithm` a trace names for a collective, as CollectiveNode carries it (none when not a non-empty string). */
function algorithmOf(a: unknown): { algorithm?: string } {
  return typeof a === 'string' && a !== '' ? { algorithm: a } : {};
}
