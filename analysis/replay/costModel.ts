/**
 * The α–β cost of collectives (Thakur, Rabenseifner, Gropp 2005) used to rescale measured
 * transfer times under a change of volume, link or world size.
 */
import type { LinkProfile } from '../runInfo';
import { busBandwidthFactor } from '../../trace/collectives';

/** Number of latency terms (× α) of a ring collective over n ranks. */
export function latencyTerms(op: string, n: number): number {
  if (n <= 1) return 0;
  switch (op) {
    case 'allReduce':
      return 2 * (n - 1);
    case 'reduceScatter':
    case 'allGather':
    case 'allToAll':
      return n - 1;
    default:
      return 1;
  }
}

/** Bytes each rank moves per byte of buffer: nccl-tests' bus factor (trace/collectives.ts); nothing moves in a group of one. */
export function volumeFactor(op: string, n: number): number {
  return n <= 1 ? 0 : busBandwidthFactor(op, n);
}

/**
 * Ring cost: latencyTerms(op, n)·α + volumeFactor(op, n)·S/β, in ns
 * (e.g. all-reduce 2(n−1)α + 2((n−1)/n)·S/β). An all-to-all sends S/n to each of the n − 1
 * others: through one port per rank that is (n − 1)α + ((n − 1)/n)·S/β; on a link with a wire
 * per ordered pair (`pairWires`, CommLens' emulated links) its rounds move at once, α + S/n/β
 * (measured on mlp-small's 4 ranks: 98 ms for a 2.6 MB bf16 all-to-all that the port model
 * priced at 217 ms).
 */
export function collectiveCostNs(op: string, bytes: number, n: number, link: LinkProfile): number {
  if (op === 'allToAll' && link.pairWires && n > 1) return link.alphaNs + bytes / n / link.bytesPerNs;
  return latencyTerms(op, n) * link.alphaNs + (volumeFactor(op, n) * bytes) / link.bytesPerNs;
}

/**
 * How the participants of a collective leave it where each leaves on its own (StepGraph.exits,
 * CommLens' emulated links): 'ring', each once its predecessor's data has crossed the wire; 'all',
 * once every other participant's has. From the algorithm a CommLens trace names (its ring
 * all-reduce, all-gather and reduce-scatter; recursive doubling, two-shot, direct, chain and tree
 * otherwise), else undefined.
 */
export function exitModeOfAlgorithm(algorithm: unknown): 'ring' | 'all' | undefined {
  if (typeof algorithm !== 'string' || algorithm === '') return undefined;
  return algorithm === 'ring' ? 'ring' : 'all';
}

/**
 * The same for a collective a change adds, by the algorithm CommLens' tuner (runtime/comm/tuner.ts)
 * takes: all-gather and reduce-scatter as rings, all-to-all directly, an all-reduce as a ring
 * unless recursive doubling (⌈log₂ n⌉ rounds of α + S/β, 2 more where n is not a power of two)
 * costs less than the ring.
 */
export function exitModeOf(op: string, bytes: number, n: number, link: LinkProfile): 'ring' | 'all' {
  if (op === 'allGather' || op === 'reduceScatter') return 'ring';
  if (op !== 'allReduce') return 'all';
  return tunedAlgorithmOf(op, bytes, n, link) === 'recursive-doubling' ? 'all' : 'ring';
}

/**
 * Recursive doubling's cost as CommLens' tuner (runtime/comm/tuner.ts) counts it: ⌈log₂ n⌉ rounds
 * of α + S/β (each rank sends and receives the whole buffer every round), 2 more folding a group
 * that is not a power of two.
 */
export function doublingCostNs(bytes: number, n: number, link: LinkProfile): number {
  const rounds = Math.ceil(Math.log2(Math.max(2, n))) + (n & (n - 1) ? 2 : 0);
  return rounds * (link.alphaNs + bytes / link.bytesPerNs);
}

/** The algorithm CommLens' tuner takes for a collective a change adds: an all-reduce by recursive doubling where that costs less than the ring, else the ring (undefined: the op's own, collectiveCostNs). */
export function tunedAlgorithmOf(
  op: string,
  bytes: number,
  n: number,
  link: LinkProfile,
): 'recursive-doubling' | undefined {
  return op === 'allReduce' && n > 1 && doublingCostNs(bytes, n, link) < collectiveCostNs(op, bytes, n, link)
    ? 'recursive-doubling'
    : undefined;
}

/**
 * A collective's modelled cost by the algorithm that runs it: recursive doubling's
 * (doublingCostNs) for an all-reduce a trace says ran by 'recursive-doubling', else the op's
 * ring or direct cost (collectiveCostNs). On CommLens' emulated links the runs' small all-reduces
 * (PowerSGD's P and Q, 8–23 kB, and gpt-mini's 0.8–1.6 MB gradients on 2 ranks) took recursive
 * doubling, and their transfers read what this gives: 2-rank PowerSGD calls 9–20 ms against 17.5
 * and 20.4 priced (the ring: 32.5 and 35.4), a step's two calls on 4 ranks 43 ms against 41 (the
 * ring: 112); 0.8 MB buckets 205–212 ms against 210 (docs/benchmarks.md, 2026-12-07 evening).
 */
export function algorithmCostNs(op: string, bytes: number, n: number, link: LinkProfile, algorithm?: string): number {
  return op === 'allReduce' && algorithm === 'recursive-doubling' && n > 1
    ? doublingCostNs(bytes, n, link)
    : collectiveCostNs(op, bytes, n, link);
}

/**
 * Rescales a measured transfer time to new conditions by the ratio of modelled costs:
 * measured × cost(new) / cost(old). Keeps whatever the model misses (protocol overheads,
 * reductions) in proportion. Falls back to the bandwidth term alone when bytes are unknown.
 */
export function rescaleTransferNs(
  measuredNs: number,
  op: string,
  from: { bytes?: number; n: number; link: LinkProfile },
  to: { bytes?: number; n: number; link: LinkProfile; op?: string },
): number {
  const toOp = to.op ?? op;
  if (to.n <= 1) return 0;
  if (from.bytes === undefined || from.bytes <= 0) {
    const volRatio = volumeFactor(toOp, to.n) / Math.max(1e-12, volumeFactor(op, from.n));
    const bytesRatio = to.bytes !== undefined && from.bytes ? to.bytes / from.bytes : 1;
    return measuredNs * volRatio * bytesRatio * (from.link.bytesPerNs / to.link.bytesPerNs);
  }
  const before = collectiveCostNs(op, from.bytes, from.n, from.link);
  const after = collectiveCostNs(toOp, to.bytes ?? from.bytes, to.n, to.link);
  return before > 0 ? (measuredNs * after) / before : after;
}

/**
 * The effective link of a trace when no profile is known: bandwidth such that the ring
 * model reproduces the measured transfer times in total (α given, default 5 µs).
 */
export function fitLink(
  samples: { op: string; bytes: number; n: number; transferNs: number }[],
  alphaNs = 5_000,
): LinkProfile | undefined {
  let vol = 0,
    time = 0;
  for (const s of samples) {
    const t = s.transferNs - latencyTerms(s.op, s.n) * alphaNs;
    if (s.bytes <= 0 || t <= 0) continue;
    vol += volumeFactor(s.op, s.n) * s.bytes;
    time += t;
  }
  if (vol <= 0 || time <= 0) return undefined;
  return { name: 'fitted from the trace', alphaNs, bytesPerNs: vol / time };
}

/** Nodes of `ranksPerNode` ranks: `intraLink` inside a node, `interLink` between nodes. */
export interface Topology {
  ranksPerNode: number;
  intraLink: LinkProfile;
  interLink: LinkProfile;
}

/**
 * Cost of a collective over n ranks on a two-level topology, as hierarchical algorithms run
 * it: an all-reduce is a reduce-scatter inside each node (g = ranksPerNode ranks), an
 * all-reduce of the S/g shards across the n/g nodes, and an all-gather inside the node;
 * reduce-scatter and all-gather do their halves of that. Other ops, and a world that fits
 * in one node, use the slower link of the ranks they span.
 */
export function topologyCostNs(op: string, bytes: number, n: number, t: Topology): number {
  const g = Math.max(1, Math.min(n, Math.floor(t.ranksPerNode)));
  const nodes = Math.ceil(n / g);
  if (nodes <= 1) return collectiveCostNs(op, bytes, n, t.intraLink);
  if (g <= 1) return collectiveCostNs(op, bytes, n, t.interLink);
  const intraRs = collectiveCostNs('reduceScatter', bytes, g, t.intraLink);
  const interAr = collectiveCostNs('allReduce', bytes / g, nodes, t.interLink);
  switch (op) {
    case 'allReduce':
      return intraRs + interAr + collectiveCostNs('allGather', bytes, g, t.intraLink);
    case 'reduceScatter':
      return intraRs + collectiveCostNs('reduceScatter', bytes / g, nodes, t.interLink);
    case 'allGather':
      return (
        collectiveCostNs('allGather', bytes / g, nodes, t.interLink) +
        collectiveCostNs('allGather', bytes, g, t.intraLink)
      );
    default:
      return collectiveCostNs(op, bytes, n, t.interLink);
  }
}
