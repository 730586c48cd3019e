/**
 * Changes applied to a step graph before replaying it. Each returns a new graph.
 */
import type { CollectiveNode, Segment, StepGraph, Trigger } from './stepGraph';
import type { LinkProfile } from '../runInfo';
import { collectiveCostNs, rescaleTransferNs, topologyCostNs, type Topology } from './costModel';

/** Deep copy (segments, collectives, triggers) so transforms never touch the original. */
export function cloneGraph(g: StepGraph): StepGraph {
  const lanes = new Map<number, Segment[]>();
  for (const [r, segs] of g.lanes) lanes.set(r, segs.map((s) => ({ ...s, waitsOn: [...s.waitsOn] })));
  const collectives = g.collectives.map((c) => ({ ...c, triggers: new Map([...c.triggers].map(([r, t]) => [r, { ...t }])) }));
  return { ...g, lanes, collectives, measuredStepNsByRank: new Map(g.measuredStepNsByRank), startOffsetNs: new Map(g.startOffsetNs), notes: [...g.notes] };
}

/** Position of a collective in rank order (trigger segment + fraction, on its first rank), for ordering the comm lane. */
function positionOf(c: CollectiveNode): number {
  let best = Infinity;
  for (const t of c.triggers.values()) best = Math.min(best, t.afterSegment + (t.afterSegment < 0 ? 0 : t.fraction));
  return best;
}

/** Replaces the collective list (ordered by position), remapping segment waits from old ids to new ones. */
export function setCollectives(g: StepGraph, nodes: CollectiveNode[], waitRemap: (oldIds: number[]) => CollectiveNode[]): void {
  const pos = nodes.map(positionOf);
  const order = nodes.map((_, i) => i).sort((a, b) => pos[a] - pos[b] || a - b);
  const newWaits: [Segment, CollectiveNode[]][] = [];
  for (const segs of g.lanes.values()) for (const s of segs) if (s.waitsOn.length > 0) newWaits.push([s, waitRemap(s.waitsOn)]);
  const ordered = order.map((i) => nodes[i]);
  ordered.forEach((c, id) => (c.id = id));
  for (const [s, list] of newWaits) s.waitsOn = list.length === 1 ? [list[0].id] : [...new Set(list.map((c) => c.id))];
  g.collectives = ordered;
}

/** Rescales every collective to a new link and/or world size (weak scaling: same per-rank work). */
export function changeLinkAndWorld(g: StepGraph, baseLink: LinkProfile, link: LinkProfile, fromWorld: number, toWorld: number): void {
  for (const c of g.collectives) {
    const isWorld = c.groupSize === fromWorld || c.groupSize <= 1;
    const n = isWorld ? toWorld : c.groupSize;
    c.durNs = rescaleTransferNs(c.durNs, c.op, { bytes: c.bytes, n: Math.max(2, c.groupSize), link: baseLink }, { bytes: c.bytes, n, link });
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
    if (c.bytes === undefined || c.bytes <= 0) { unknown++; continue; }
    const before = collectiveCostNs(c.op, c.bytes, n, baseLink);
    if (before > 0) c.durNs = (c.durNs * topologyCostNs(c.op, c.bytes, n, topo)) / before;
  }
  return unknown;
}

/** Compresses the gradient collectives: volume × ratio, plus encode/decode time on their path. */
export function compressGradients(g: StepGraph, link: LinkProfile, ratio: (n: number) => number, encodeNs: (bytes: number) => number): number {
  let unknownBytes = 0;
  for (const c of g.collectives) {
    if (!c.gradient) continue;
    const r = ratio(c.groupSize);
    if (c.bytes === undefined) {
      c.durNs *= r;
      unknownBytes++;
      continue;
    }
    c.durNs = rescaleTransferNs(c.durNs, c.op, { bytes: c.bytes, n: c.groupSize, link }, { bytes: c.bytes * r, n: c.groupSize, link });
    c.extraNs = (c.extraNs ?? 0) + encodeNs(c.bytes);
    c.bytes = c.bytes * r;
  }
  return unknownBytes;
}

/** Gradient bytes per step: the rank that takes part in the most (unjoined collectives appear once per rank). */
function gradientBytes(g: StepGraph, grads: CollectiveNode[]): number {
  let bytes = 0;
  for (const r of g.ranks) bytes = Math.max(bytes, grads.reduce((t, c) => t + (c.triggers.has(r) ? c.bytes ?? 0 : 0), 0));
  return bytes;
}

/** Measured over α–β-modelled time of collectives: what the model misses, kept in proportion by replacements. */
function measuredEfficiency(colls: CollectiveNode[], link: LinkProfile): number {
  const modelled = colls.reduce((t, c) => t + collectiveCostNs(c.op, c.bytes ?? 0, c.groupSize, link), 0);
  const measured = colls.reduce((t, c) => t + c.durNs, 0);
  return modelled > 0 ? measured / modelled : 1;
}

/** Puts `nodes` in place of the gradient collectives `grads`: whatever waited on one of them waits on all of `nodes`. */
function replaceGradients(g: StepGraph, grads: CollectiveNode[], nodes: CollectiveNode[]): void {
  const others = g.collectives.filter((c) => !c.gradient);
  const gradIds = new Set(grads.map((c) => c.id));
  setCollectives(g, [...others, ...nodes], (old) => {
    const keep = old.map((id) => g.collectives[id]).filter((c) => c && !gradIds.has(c.id));
    return old.some((id) => gradIds.has(id)) ? [...keep, ...nodes] : keep;
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
export function compressAsExchange(g: StepGraph, link: LinkProfile, exchange: { op: string; fraction: number }[], encodeNs: (bytes: number) => number, perBucket = false): boolean {
  const grads = g.collectives.filter((c) => c.gradient);
  if (grads.length === 0 || grads.some((c) => c.bytes === undefined || c.bytes <= 0)) return false;
  const gradBytes = gradientBytes(g, grads);
  const n = Math.max(...grads.map((c) => c.groupSize));
  const efficiency = measuredEfficiency(grads, link);
  const exchangeOf = (bucketBytes: number, triggers: Map<number, Trigger>, lane: string): CollectiveNode[] =>
    exchange.map((e, i) => {
      const bytes = bucketBytes * e.fraction;
      return {
        id: -1, op: e.op, bytes, lane, groupSize: n, durNs: collectiveCostNs(e.op, bytes, n, link) * efficiency, gradient: true,
        triggers: new Map([...triggers].map(([r, t]) => [r, { ...t }])), sliceIndexes: [], extraNs: i === 0 ? encodeNs(bucketBytes) : undefined,
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
    nodes = exchangeOf(gradBytes, triggers, grads[0].lane);
  }
  replaceGradients(g, grads, nodes);
  return true;
}

/** Backward progress of a lane: the backward segments and the prefix sums of their durations. */
interface BackwardIndex {
  idx: number[];
  prefix: number[];
  /** Fallback trigger when the lane has no backward segments: the last non-optimizer segment. */
  fallback: number;
}

function backwardIndex(segs: Segment[]): BackwardIndex {
  const idx: number[] = [], prefix: number[] = [0];
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
  let lo = 0, hi = b.idx.length - 1;
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
 * Rebuckets the gradient reduction: the gradient bytes G are cut into buckets of `capBytes`
 * (the first one `firstCapBytes`, 1 MiB as in PyTorch DDP and CommLens),
 * produced uniformly through the backward pass (last layers first, as DDP fills buckets);
 * with overlap each bucket is launched when its last gradient is computed, without it all
 * launch after backward. Each bucket's time is the ring cost scaled by the measured
 * efficiency of the original gradient collectives. Whatever waited on the gradients waits
 * on every bucket.
 */
export function rebucket(g: StepGraph, link: LinkProfile, capBytes: number, overlap: boolean, firstCapBytes = 1024 * 1024, op = 'allReduce'): { buckets: number; gradBytes: number } {
  const grads = g.collectives.filter((c) => c.gradient);
  const gradBytes = gradientBytes(g, grads);
  if (grads.length === 0 || gradBytes <= 0) return { buckets: 0, gradBytes: 0 };
  const n = Math.max(...grads.map((c) => c.groupSize));
  const efficiency = measuredEfficiency(grads, link);
  // Bucket sizes as DDP fills them: a small first bucket (so communication starts early), then the cap.
  const sizes: number[] = [];
  for (let left = gradBytes, first = true; left > 0; first = false) {
    const b = Math.min(left, first ? Math.min(firstCapBytes, capBytes) : capBytes);
    sizes.push(b);
    left -= b;
  }
  const count = sizes.length;
  const extraPerByte = grads.reduce((t, c) => t + (c.extraNs ?? 0), 0) / Math.max(1, grads.reduce((t, c) => t + (c.bytes ?? 0), 0));
  // The measured launch delay (staging copies, queueing on the host) per gradient byte, per rank.
  const delayPerByte = new Map<number, number>();
  for (const r of g.ranks) {
    let delay = 0, bytes = 0;
    for (const c of grads) {
      const t = c.triggers.get(r);
      if (t && c.bytes) { delay += t.delayNs; bytes += c.bytes; }
    }
    delayPerByte.set(r, bytes > 0 ? delay / bytes : 0);
  }
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
      triggers.set(r, { afterSegment: p.afterSegment, fraction: p.fraction, delayNs: (delayPerByte.get(r) ?? 0) * bytes });
    }
    buckets.push({
      id: -1, op, bytes, lane: grads[0].lane, groupSize: n, durNs: collectiveCostNs(op, bytes, n, link) * efficiency, gradient: true, triggers,
      sliceIndexes: [], extraNs: extraPerByte > 0 ? extraPerByte * bytes : undefined,
    });
  }
  replaceGradients(g, grads, buckets);
  return { buckets: count, gradBytes };
}

/** Removes the gradient collectives (a local step of DiLoCo-style training): nothing waits on them. */
export function dropGradientCollectives(g: StepGraph): void {
  const gradIds = new Set(g.collectives.filter((c) => c.gradient).map((c) => c.id));
  const others = g.collectives.filter((c) => !c.gradient);
  for (const segs of g.lanes.values()) for (const s of segs) if (s.waitsOn.some((id) => gradIds.has(id))) s.postDelayNs = 0;
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
export function addBlockingCollective(g: StepGraph, op: string, bytes: number, durNs: number, after: (segs: Segment[]) => number, blocking = true): void {
  const triggers = new Map<number, Trigger>();
  const waiters: Segment[] = [];
  for (const [r, segs] of g.lanes) {
    const i = after(segs);
    triggers.set(r, { afterSegment: i, fraction: 1, delayNs: 0 });
    if (blocking && i + 1 < segs.length) waiters.push(segs[i + 1]);
  }
  const n = Math.max(2, ...g.collectives.map((c) => c.groupSize));
  const node: CollectiveNode = { id: -1, op, bytes, groupSize: n, durNs, gradient: false, triggers, sliceIndexes: [], lane: g.collectives.find((c) => c.gradient)?.lane ?? 'communication' };
  const old = g.collectives;
  setCollectives(g, [...old, node], (ids) => ids.map((id) => old[id]));
  for (const w of waiters) w.waitsOn.push(node.id);
}
