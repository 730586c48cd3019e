/**
 * Changes applied to a step graph before replaying it. Each returns a new graph.
 */
import type { CollectiveNode, Segment, StepGraph, Trigger } from './stepGraph';
import type { CopyCost, LinkProfile } from '../runInfo';
import {
  algorithmCostNs,
  collectiveCostNs,
  exitModeOf,
  rescaleTransferNs,
  topologyCostNs,
  tunedAlgorithmOf,
  type Topology,
} from './costModel';
import { planBuckets } from '../../trace/gradientBuckets';

/** How the replay prices staging copies: device-to-host before a collective, host-to-device after it. */
export interface StagingModel {
  d2h: CopyCost;
  h2d: CopyCost;
  /** Where the figures came from, in words (for the notes). */
  source: string;
}

/** A copy of `bytes`: fixed latency + bytes / speed (nothing to copy costs nothing). */
export function copyNs(c: CopyCost, bytes: number): number {
  return bytes > 0 ? c.latencyNs + bytes / c.bytesPerNs : 0;
}

/**
 * Copy time for `bytes` given a measured copy of `measuredBytes` that took `measuredNs`: the
 * measurement × model(bytes) / model(measured), so what the model misses (other ranks'
 * copies and kernels sharing the machine) stays in proportion, while the fixed latency
 * does not shrink with the bytes.
 */
function scaledCopyNs(c: CopyCost, measuredBytes: number, measuredNs: number, bytes: number): number {
  const before = copyNs(c, measuredBytes);
  return before > 0 ? (measuredNs * copyNs(c, bytes)) / before : copyNs(c, bytes);
}

/**
 * The trigger of a collective whose device-to-host staging copy moves `bytes` instead of
 * what was measured: the host part of its launch delay (delay − measured copy time) stays,
 * the copy is rescaled. A trigger without a measured copy (nothing staged: imported GPU
 * traces) is left as it is.
 */
export function restageTrigger(t: Trigger, bytes: number, m: StagingModel): void {
  if (!t.stagedBytes || t.stagedNs === undefined) return;
  const ns = scaledCopyNs(m.d2h, t.stagedBytes, t.stagedNs, bytes);
  t.delayNs = Math.max(0, t.delayNs - t.stagedNs) + ns;
  t.stagedBytes = bytes;
  t.stagedNs = ns;
}

/** The same for the host-to-device copy after the collectives a segment waits on. */
export function restagePost(s: Segment, bytes: number, m: StagingModel): void {
  if (!s.postStagedBytes || s.postStagedNs === undefined) return;
  const ns = scaledCopyNs(m.h2d, s.postStagedBytes, s.postStagedNs, bytes);
  s.postDelayNs = Math.max(0, s.postDelayNs - s.postStagedNs) + ns;
  s.postStagedBytes = bytes;
  s.postStagedNs = ns;
}

/** Segments that wait on a gradient collective (the copy back of the gradients precedes them). */
function gradientWaiters(g: StepGraph): Segment[] {
  const out: Segment[] = [];
  for (const segs of g.lanes.values())
    for (const s of segs) if (s.waitsOn.some((id) => g.collectives[id]?.gradient)) out.push(s);
  return out;
}

/** Deep copy (segments, collectives, triggers) so transforms never touch the original. */
export function cloneGraph(g: StepGraph): StepGraph {
  const lanes = new Map<number, Segment[]>();
  for (const [r, segs] of g.lanes)
    lanes.set(
      r,
      segs.map((s) => ({ ...s, waitsOn: [...s.waitsOn] })),
    );
  const collectives = g.collectives.map((c) => ({
    ...c,
    triggers: new Map([...c.triggers].map(([r, t]) => [r, { ...t }])),
  }));
  return {
    ...g,
    lanes,
    collectives,
    measuredStepNsByRank: new Map(g.measuredStepNsByRank),
    startOffsetNs: new Map(g.startOffsetNs),
    notes: [...g.notes],
  };
}

/** Position of a collective in rank order (trigger segment + fraction, on its first rank), for ordering the comm lane. */
function positionOf(c: CollectiveNode): number {
  let best = Infinity;
  for (const t of c.triggers.values()) best = Math.min(best, t.afterSegment + (t.afterSegment < 0 ? 0 : t.fraction));
  return best;
}

/** Replaces the collective list (ordered by position), remapping segment waits from old ids to new ones. */
export function setCollectives(
  g: StepGraph,
  nodes: CollectiveNode[],
  waitRemap: (oldIds: number[], at: { rank: number; index: number }) => CollectiveNode[],
): void {
  const pos = nodes.map(positionOf);
  const order = nodes.map((_, i) => i).sort((a, b) => pos[a] - pos[b] || a - b);
  const newWaits: [Segment, CollectiveNode[]][] = [];
  for (const [rank, segs] of g.lanes)
    segs.forEach((s, index) => {
      if (s.waitsOn.length > 0) newWaits.push([s, waitRemap(s.waitsOn, { rank, index })]);
    });
  const ordered = order.map((i) => nodes[i]);
  ordered.forEach((c, id) => (c.id = id));
  for (const [s, list] of newWaits) s.waitsOn = list.length === 1 ? [list[0].id] : [...new Set(list.map((c) => c.id))];
  g.collectives = ordered;
}

/** Rescales every collective to a new link and/or world size (weak scaling: same per-rank work). */
export function changeLinkAndWorld(
  g: StepGraph,
  baseLink: LinkProfile,
  link: LinkProfile,
  fromWorld: number,
  toWorld: number,
): void {
  for (const c of g.collectives) {
    const isWorld = c.groupSize === fromWorld || c.groupSize <= 1;
    const n = isWorld ? toWorld : c.groupSize;
    c.durNs = rescaleTransferNs(
      c.durNs,
      c.op,
      { bytes: c.bytes, n: Math.max(2, c.groupSize), link: baseLink },
      { bytes: c.bytes, n, link },
    );
    if (isWorld) c.groupSize = toWorld;
  }
}

/**
 * Moves the collectives onto a two-level topology: measured × topologyCost / flat cost on
 * the link the trace ran on (sizes unknown: unchanged, with a count returned).
 */
export function changeTopology(g: StepGraph, baseLink: LinkProfile, topo: Topology): number {
  let unknown = 0;
  for (const c of g.collectives) {
    const n = Math.max(2, c.groupSize);
    if (c.bytes === undefined || c.bytes <= 0) {
      unknown++;
      continue;
    }
    const before = collectiveCostNs(c.op, c.bytes, n, baseLink);
    if (before > 0) c.durNs = (c.durNs * topologyCostNs(c.op, c.bytes, n, topo)) / before;
  }
  return unknown;
}

/** Compresses the gradient collectives: volume × ratio, plus encode/decode time on their path. */
export function compressGradients(
  g: StepGraph,
  link: LinkProfile,
  ratio: (n: number) => number,
  encodeNs: (bytes: number) => number,
): number {
  let unknownBytes = 0;
  for (const c of g.collectives) {
    if (!c.gradient) continue;
    const r = ratio(c.groupSize);
    if (c.bytes === undefined) {
      c.durNs *= r;
      unknownBytes++;
      continue;
    }
    c.durNs = rescaleTransferNs(
      c.durNs,
      c.op,
      { bytes: c.bytes, n: c.groupSize, link },
      { bytes: c.bytes * r, n: c.groupSize, link },
    );
    c.extraNs = (c.extraNs ?? 0) + encodeNs(c.bytes);
    c.bytes = c.bytes * r;
  }
  return unknownBytes;
}

/** Gradient bytes per step: the rank that takes part in the most (unjoined collectives appear once per rank). */
function gradientBytes(g: StepGraph, grads: CollectiveNode[]): number {
  let bytes = 0;
  for (const r of g.ranks)
    bytes = Math.max(
      bytes,
      grads.reduce((t, c) => t + (c.triggers.has(r) ? (c.bytes ?? 0) : 0), 0),
    );
  return bytes;
}

/**
 * Measured over α–β-modelled time of collectives: what the model misses, kept in proportion by
 * replacements. `byAlgorithm`: each modelled by the algorithm its trace names (algorithmCostNs),
 * for replacements priced the same way (the tuner's algorithm, tunedCostNs); else all by the ring
 * (the layout model's pricing).
 */
export function measuredEfficiency(colls: CollectiveNode[], link: LinkProfile, byAlgorithm = false): number {
  const modelled = colls.reduce(
    (t, c) =>
      t +
      (byAlgorithm
        ? algorithmCostNs(c.op, c.bytes ?? 0, c.groupSize, link, c.algorithm)
        : collectiveCostNs(c.op, c.bytes ?? 0, c.groupSize, link)),
    0,
  );
  const measured = colls.reduce((t, c) => t + c.durNs, 0);
  return modelled > 0 ? measured / modelled : 1;
}

/**
 * Puts `nodes` in the place of the gradient collectives `grads`. A segment that waited on a
 * gradient collective waits on each new node its own rank launches before it (triggered after
 * an earlier segment): after backward, on all of them; inside backward (a real trace's compute
 * stream waiting on an early bucket), on those launched so far. Waiting on one launched later,
 * or on another rank's, could close a cycle: on a sampled PyTorch job whose ranks' gradient
 * all-reduces did not match, every rebucketing stalled the replay that way.
 */
function replaceGradients(g: StepGraph, grads: CollectiveNode[], nodes: CollectiveNode[]): void {
  const others = g.collectives.filter((c) => !c.gradient);
  const gradIds = new Set(grads.map((c) => c.id));
  setCollectives(g, [...others, ...nodes], (old, at) => {
    const keep = old.map((id) => g.collectives[id]).filter((c) => c && !gradIds.has(c.id));
    if (!old.some((id) => gradIds.has(id))) return keep;
    const before = nodes.filter((c) => {
      const t = c.triggers.get(at.rank);
      return t !== undefined && t.afterSegment < at.index;
    });
    return [...keep, ...before];
  });
}

/**
 * Replaces the gradient collectives with compressed exchanges as CommLens' compression
 * strategies run them: one exchange of the whole gradient after backward, or with
 * `perBucket` one per gradient collective (a bucketed run keeps its buckets). An exchange
 * is the collectives of `exchange`, in order, each costed by the α–β model times the
 * measured efficiency of the gradient collectives replaced (measured / modelled), with the
 * encode + decode time on the first one's path; it is ready on each rank when the (first)
 * gradient collective it replaces was, after its trigger and launch delay. Whatever waited
 * on the gradients waits on all of it. Returns false (graph unchanged) when a gradient
 * collective has no size.
 */
export function compressAsExchange(
  g: StepGraph,
  link: LinkProfile,
  exchange: { op: string; fraction: number }[],
  encodeNs: (bytes: number) => number,
  perBucket = false,
  staging?: StagingModel,
): boolean {
  const grads = g.collectives.filter((c) => c.gradient);
  if (grads.length === 0 || grads.some((c) => c.bytes === undefined || c.bytes <= 0)) return false;
  const gradBytes = gradientBytes(g, grads);
  const n = Math.max(...grads.map((c) => c.groupSize));
  const tuned = tunerRuns(g);
  const efficiency = measuredEfficiency(grads, link, tuned);
  const exchangeOf = (bucketBytes: number, triggers: Map<number, Trigger>, lane: string): CollectiveNode[] =>
    exchange.map((e, i) => {
      const bytes = bucketBytes * e.fraction;
      return {
        id: -1,
        op: e.op,
        bytes,
        lane,
        groupSize: n,
        durNs: addedCostNs(tuned, e.op, bytes, n, link) * efficiency,
        exit: exitModeOf(e.op, bytes, n, link),
        ...(tuned ? tunedAlgorithm(e.op, bytes, n, link) : {}),
        gradient: true,
        triggers: new Map([...triggers].map(([r, t]) => [r, { ...t }])),
        sliceIndexes: [],
        extraNs: i === 0 ? encodeNs(bucketBytes) : undefined,
      };
    });
  let nodes: CollectiveNode[];
  if (perBucket) {
    nodes = grads.flatMap((c) => exchangeOf(c.bytes ?? 0, c.triggers, c.lane));
  } else {
    const triggers = new Map<number, Trigger>();
    for (const r of g.ranks) {
      const first = grads.find((c) => c.triggers.has(r));
      if (first) triggers.set(r, { ...first.triggers.get(r)! });
    }
    // One exchange of the whole gradient: the strategy stages all of it (f32, before
    // encoding) in one copy before the exchange and copies all of it back after, where the
    // measured run may have staged chunk by chunk.
    if (staging) {
      for (const t of triggers.values()) restageTrigger(t, gradBytes, staging);
      for (const s of gradientWaiters(g)) restagePost(s, gradBytes, staging);
    }
    nodes = exchangeOf(gradBytes, triggers, grads[0].lane);
  }
  replaceGradients(g, grads, nodes);
  return true;
}

/**
 * The optimizer moves from the GPU to the host around the gradient exchange (1-bit Adam's
 * compressed phase, runtime/strategies/onebitAdam.ts): the optimizer segments' kernels no
 * longer run (their launch gaps stay), `beforeNs` of host work (folding the gradient into
 * the momentum) delays the exchange's launch on each rank, and `afterNs` (the update) comes
 * after the exchange, before what waited on it. Returns the GPU optimizer time removed, ns
 * per rank (the busiest).
 */
export function optimizerOnHost(g: StepGraph, beforeNs: number, afterNs: number): number {
  let removed = 0;
  for (const segs of g.lanes.values()) {
    let t = 0;
    for (const s of segs)
      if (s.kind === 'optimizer') {
        t += s.durNs;
        s.durNs = 0;
      }
    removed = Math.max(removed, t);
  }
  const grads = g.collectives.filter((c) => c.gradient);
  for (const r of g.ranks) {
    const first = grads.find((c) => c.triggers.has(r));
    if (first) first.triggers.get(r)!.delayNs += beforeNs;
  }
  for (const s of gradientWaiters(g)) s.postDelayNs += afterNs;
  return removed;
}

/** Backward progress of a lane: the backward segments and the prefix sums of their durations. */
interface BackwardIndex {
  idx: number[];
  prefix: number[];
  /** Fallback trigger when the lane has no backward segments: the last non-optimizer segment. */
  fallback: number;
}

function backwardIndex(segs: Segment[]): BackwardIndex {
  const idx: number[] = [],
    prefix: number[] = [0];
  let fallback = -1;
  segs.forEach((s, i) => {
    if (s.kind === 'backward') {
      idx.push(i);
      prefix.push(prefix[prefix.length - 1] + s.durNs);
    }
    if (s.kind !== 'optimizer') fallback = i;
  });
  return { idx, prefix, fallback };
}

/** Where, on a lane, a fraction f ∈ [0, 1] of its backward compute is done (binary search on the prefix sums). */
function backwardPoint(b: BackwardIndex, segs: Segment[], f: number): { afterSegment: number; fraction: number } {
  if (b.idx.length === 0) return { afterSegment: b.fallback, fraction: 1 };
  const total = b.prefix[b.prefix.length - 1];
  const target = f * total;
  let lo = 0,
    hi = b.idx.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (b.prefix[mid + 1] >= target - 1e-9) hi = mid;
    else lo = mid + 1;
  }
  const seg = segs[b.idx[lo]];
  const fraction = seg.durNs > 0 ? Math.min(1, Math.max(0, (target - b.prefix[lo]) / seg.durNs)) : 1;
  return { afterSegment: b.idx[lo], fraction };
}

/**
 * Bucket sizes in the order backward fills them. With the layers' gradient bytes (forward
 * order) and when they account for the measured gradient bytes (within 1 %), whole layers
 * as DDP and CommLens plan them (trace/gradientBuckets.ts: a layer never splits, so
 * mlp-small's 5 MiB cap gives 41 KB, 4.2 MB and 1.05 MB, not 1 MiB and 4.3 MB); else the
 * first cap then the cap.
 */
function bucketSizes(gradBytes: number, capBytes: number, firstCapBytes: number, layerBytes?: readonly number[]) {
  const sizes: number[] = [];
  const total = layerBytes?.reduce((t, b) => t + b, 0) ?? 0;
  if (layerBytes && layerBytes.length > 0 && Math.abs(total - gradBytes) <= 0.01 * gradBytes) {
    let offset = 0;
    const layers = layerBytes.map((b, i) => ({ name: String(i), paramOffset: (offset += b) - b, paramCount: b }));
    // planBuckets counts 4 bytes per element: give it elements of 4 bytes' worth.
    const plan = planBuckets(
      layers.map((l) => ({ ...l, paramOffset: l.paramOffset / 4, paramCount: l.paramCount / 4 })),
      capBytes,
      firstCapBytes,
    );
    for (const b of plan) sizes.push(((b.length * 4) / total) * gradBytes);
    return sizes;
  }
  for (let left = gradBytes, first = true; left > 0; first = false) {
    const b = Math.min(left, first ? Math.min(firstCapBytes, capBytes) : capBytes);
    sizes.push(b);
    left -= b;
  }
  return sizes;
}

/**
 * Rebuckets the gradient reduction: the gradient bytes G are cut into buckets of `capBytes`
 * (the first one `firstCapBytes`, 1 MiB as in PyTorch DDP and CommLens), of whole layers when
 * `layerBytes` gives their sizes (bucketSizes), produced uniformly through the backward pass
 * (last layers first, as DDP fills buckets);
 * with overlap each bucket is launched when its last gradient is computed, without it all
 * launch after backward. Each bucket's time is its modelled cost (addedCostNs: on a CommLens run
 * by the tuner's algorithm, elsewhere the ring) scaled by the measured efficiency of the original
 * gradient collectives (modelled the same way). Whatever waited on the gradients waits
 * on every bucket.
 */
export function rebucket(
  g: StepGraph,
  link: LinkProfile,
  capBytes: number,
  overlap: boolean,
  firstCapBytes = 1024 * 1024,
  op = 'allReduce',
  staging?: StagingModel,
  layerBytes?: readonly number[],
): { buckets: number; gradBytes: number } {
  const grads = g.collectives.filter((c) => c.gradient);
  const gradBytes = gradientBytes(g, grads);
  if (grads.length === 0 || gradBytes <= 0) return { buckets: 0, gradBytes: 0 };
  const n = Math.max(...grads.map((c) => c.groupSize));
  const tuned = tunerRuns(g);
  const efficiency = measuredEfficiency(grads, link, tuned);
  const sizes = bucketSizes(gradBytes, capBytes, firstCapBytes, layerBytes);
  const count = sizes.length;
  const extraPerByte =
    grads.reduce((t, c) => t + (c.extraNs ?? 0), 0) /
    Math.max(
      1,
      grads.reduce((t, c) => t + (c.bytes ?? 0), 0),
    );
  // The launch delay of a bucket of B bytes, per rank. With staging copies measured and a
  // staging model: the mean host part of the measured delays (delay − its copy) plus the
  // copy of B bytes, latency + B / speed scaled by measured / modelled copy time of the
  // measured copies. Otherwise the measured delay per gradient byte.
  const delayOf = new Map<number, (bytes: number) => { delayNs: number; stagedBytes?: number; stagedNs?: number }>();
  for (const r of g.ranks) {
    let delay = 0,
      bytes = 0,
      count = 0,
      stagedBytes = 0,
      stagedNs = 0,
      modelled = 0;
    for (const c of grads) {
      const t = c.triggers.get(r);
      if (!t) continue;
      count++;
      if (c.bytes) {
        delay += t.delayNs;
        bytes += c.bytes;
      }
      if (staging && t.stagedBytes && t.stagedNs !== undefined) {
        stagedBytes += t.stagedBytes;
        stagedNs += t.stagedNs;
        modelled += copyNs(staging.d2h, t.stagedBytes);
      }
    }
    if (staging && stagedBytes > 0 && modelled > 0) {
      const host =
        Math.max(0, grads.reduce((t, c) => t + (c.triggers.get(r)?.delayNs ?? 0), 0) - stagedNs) / Math.max(1, count);
      const scale = stagedNs / modelled;
      delayOf.set(r, (b) => {
        const ns = scale * copyNs(staging.d2h, b);
        return { delayNs: host + ns, stagedBytes: b, stagedNs: ns };
      });
    } else {
      const perByte = bytes > 0 ? delay / bytes : 0;
      delayOf.set(r, (b) => ({ delayNs: perByte * b }));
    }
  }
  // The optimizer's wait ends with the copy back of the last bucket.
  if (staging) for (const s of gradientWaiters(g)) restagePost(s, sizes[count - 1], staging);
  const buckets: CollectiveNode[] = [];
  const index = new Map([...g.lanes].map(([r, segs]) => [r, backwardIndex(segs)]));
  let done = 0;
  for (let j = 0; j < count; j++) {
    const bytes = sizes[j];
    done += bytes;
    const triggers = new Map<number, Trigger>();
    for (const [r, segs] of g.lanes) {
      const b = index.get(r)!;
      const p = backwardPoint(b, segs, overlap ? Math.min(1, done / gradBytes) : 1);
      triggers.set(r, {
        afterSegment: p.afterSegment,
        fraction: p.fraction,
        ...(delayOf.get(r)?.(bytes) ?? { delayNs: 0 }),
      });
    }
    buckets.push({
      id: -1,
      op,
      bytes,
      lane: grads[0].lane,
      groupSize: n,
      durNs: addedCostNs(tuned, op, bytes, n, link) * efficiency,
      exit: exitModeOf(op, bytes, n, link),
      ...(tuned ? tunedAlgorithm(op, bytes, n, link) : {}),
      gradient: true,
      triggers,
      sliceIndexes: [],
      extraNs: extraPerByte > 0 ? extraPerByte * bytes : undefined,
    });
  }
  replaceGradients(g, grads, buckets);
  return { buckets: count, gradBytes };
}

/** Removes the gradient collectives (a local step of DiLoCo-style training): nothing waits on them. */
export function dropGradientCollectives(g: StepGraph): void {
  const gradIds = new Set(g.collectives.filter((c) => c.gradient).map((c) => c.id));
  const others = g.collectives.filter((c) => !c.gradient);
  for (const segs of g.lanes.values())
    for (const s of segs) if (s.waitsOn.some((id) => gradIds.has(id))) s.postDelayNs = 0;
  setCollectives(g, others, (old) => old.filter((id) => !gradIds.has(id)).map((id) => g.collectives[id]));
}

/** Scales the compute of segments of one kind (the optimizer updates only its shard under ZeRO). */
export function scaleSegments(g: StepGraph, kind: Segment['kind'], factor: number): void {
  for (const segs of g.lanes.values()) for (const s of segs) if (s.kind === kind) s.durNs *= factor;
}

/**
 * Adds blocking collectives at given points of every lane: a node of `bytes` and `durNs`
 * triggered after segment `after(segs)`, and the segment after it waits on it.
 */
export function addBlockingCollective(
  g: StepGraph,
  op: string,
  bytes: number,
  durNs: number,
  after: (segs: Segment[]) => number,
  blocking = true,
): void {
  const triggers = new Map<number, Trigger>();
  const waiters: Segment[] = [];
  for (const [r, segs] of g.lanes) {
    const i = after(segs);
    triggers.set(r, { afterSegment: i, fraction: 1, delayNs: 0 });
    if (blocking && i + 1 < segs.length) waiters.push(segs[i + 1]);
  }
  const n = Math.max(2, ...g.collectives.map((c) => c.groupSize));
  const node: CollectiveNode = {
    id: -1,
    op,
    bytes,
    groupSize: n,
    durNs,
    gradient: false,
    triggers,
    sliceIndexes: [],
    lane: g.collectives.find((c) => c.gradient)?.lane ?? 'communication',
  };
  const old = g.collectives;
  setCollectives(g, [...old, node], (ids) => ids.map((id) => old[id]));
  for (const w of waiters) w.waitsOn.push(node.id);
}

/**
 * Whether the collectives a change adds to `g` run as CommLens' tuner picks them: on a CommLens
 * run (whose ranks leave collectives on their own, StepGraph.exits). An imported job's library
 * (NCCL, gloo) picks its own algorithms, which the trace does not say for a collective it never
 * ran: those are priced as rings, as before 2026-12-07.
 */
export function tunerRuns(g: StepGraph): boolean {
  return g.exits === 'own';
}

/** A collective a change adds: by the tuner's algorithm where it runs them (tunerRuns), else the ring. */
export function addedCostNs(tuned: boolean, op: string, bytes: number, n: number, link: LinkProfile): number {
  return tuned ? tunedCostNs(op, bytes, n, link) : collectiveCostNs(op, bytes, n, link);
}

/** A collective a change adds, priced by the algorithm CommLens' tuner takes for it (costModel.ts tunedAlgorithmOf). */
export function tunedCostNs(op: string, bytes: number, n: number, link: LinkProfile): number {
  return algorithmCostNs(op, bytes, n, link, tunedAlgorithmOf(op, bytes, n, link));
}

/** The tuner's algorithm as CollectiveNode carries it (none: the op's own). */
function tunedAlgorithm(op: string, bytes: number, n: number, link: LinkProfile): { algorithm?: string } {
  const a = tunedAlgorithmOf(op, bytes, n, link);
  return a ? { algorithm: a } : {};
}
