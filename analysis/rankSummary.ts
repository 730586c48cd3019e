/**
 * Summaries of per-rank results for jobs of many ranks (hundreds to thousands), where a
 * table with one row per rank is too long to read: which ranks arrive last at collectives,
 * how often and by how much (top N, a histogram of last arrivals, the spread of lateness
 * over collectives), and which ranks share a slow link (process groups whose collectives
 * move data at well under the other groups' bandwidth, and the ranks found in several).
 */
import type { CollectiveMetrics } from './collectives';
import { latenessOf, type Lateness, type RankStraggle, type StragglerReport } from './stragglers';
import { median, quantile } from '../trace/stats';

/** Above this many ranks, the report shows summaries instead of one row per rank. */
export const RANK_TABLE_LIMIT = 16;

export interface HistogramBucket {
  /** Inclusive bounds of the count of last arrivals. */
  from: number;
  to: number;
  ranks: number;
}

export interface StragglerSummary {
  ranks: number;
  /** Ranks that arrived last at least once. */
  ranksEverLast: number;
  /** The `topN` ranks that cost the others most, worst first. */
  top: RankStraggle[];
  /** Share of all the waits caused that the top ranks caused (0–1). */
  topCostShare: number;
  /** Ranks by how often they arrived last: 0, 1, 2–3, 4–7, … */
  lastArrivalHistogram: HistogramBucket[];
  /** Over collectives with a last arrival: the longest wait it caused (median, p90, max), ns. */
  lateness?: Lateness;
}

export interface SlowGroup {
  group: string;
  ranks: number[];
  collectives: number;
  /** Median over the group's collectives of ≥ 1 MiB of their bus bandwidth (bytes / transfer where unknown), GB/s. */
  medianBusbwGBps: number;
}

export interface SlowLinkSummary {
  /** Groups with collectives of ≥ 1 MiB, and the median of their bandwidths. */
  groups: number;
  medianGroupBusbwGBps: number;
  /** Groups under SLOW_GROUP_FRACTION of that median, slowest first. */
  slowGroups: SlowGroup[];
  /** Ranks in two or more slow groups (a link they share is the likely cause), most first. */
  sharedRanks: { rank: number; slowGroups: number }[];
}

/** Collectives smaller than this are left out of the slow-link comparison. */
export const SLOW_LINK_MIN_BYTES = 1 << 20;

/** A group is slow when its median bandwidth is under this fraction of the groups' median. */
export const SLOW_GROUP_FRACTION = 0.5;

function histogram(counts: number[]): HistogramBucket[] {
  const out: HistogramBucket[] = [{ from: 0, to: 0, ranks: 0 }];
  const max = Math.max(0, ...counts);
  for (let lo = 1; lo <= max; lo *= 2) out.push({ from: lo, to: lo * 2 - 1, ranks: 0 });
  for (const c of counts) {
    const i = c === 0 ? 0 : Math.floor(Math.log2(c)) + 1;
    out[i].ranks++;
  }
  return out;
}

/** Summarises a straggler report: top N ranks by the waits they caused, a histogram, lateness. */
export function summariseStragglers(
  st: StragglerReport,
  coll: CollectiveMetrics | undefined,
  topN = 10,
): StragglerSummary {
  const byCost = st.ranks
    .filter((r) => r.lastArrivals > 0)
    .sort((a, b) => b.costToOthersNs - a.costToOthersNs || a.rank - b.rank);
  const total = byCost.reduce((s, r) => s + r.costToOthersNs, 0);
  const top = byCost.slice(0, topN);
  // The report's own figure when the analysis has it (a cached analysis' instances stay unread).
  const lateness = 'lateness' in st ? st.lateness : latenessOf(coll?.instances ?? []);
  return {
    ranks: st.ranks.length,
    ranksEverLast: byCost.length,
    top,
    topCostShare: total > 0 ? top.reduce((s, r) => s + r.costToOthersNs, 0) / total : 0,
    lastArrivalHistogram: histogram(st.ranks.map((r) => r.lastArrivals)),
    lateness,
  };
}

/**
 * Finds process groups whose collectives move data much slower than the other groups'
 * (median busbw under SLOW_GROUP_FRACTION of the groups' median; needs ≥ 3 groups with
 * sized collectives), and the ranks that several slow groups have in common.
 */
export function findSlowLinks(coll: CollectiveMetrics): SlowLinkSummary | undefined {
  const groups = new Map<string, { ranks: Set<number>; bw: number[] }>();
  for (const inst of coll.instances) {
    // Collectives of 1 MiB or more (smaller ones measure latency, not the link), as the slow-link rule.
    if (!inst.bytes || inst.bytes < SLOW_LINK_MIN_BYTES || inst.transferNs <= 0 || inst.participants.length < 2)
      continue;
    let g = groups.get(inst.group);
    if (!g) groups.set(inst.group, (g = { ranks: new Set(), bw: [] }));
    for (const p of inst.participants) g.ranks.add(p.rank);
    // Bus bandwidth where known, so that groups of different sizes and ops compare fairly.
    g.bw.push(inst.busbwGBps ?? inst.bytes / inst.transferNs);
  }
  if (groups.size < 3) return undefined;
  const medians = [...groups].map(([group, g]) => ({
    group,
    ranks: [...g.ranks].sort((a, b) => a - b),
    collectives: g.bw.length,
    medianBusbwGBps: median(g.bw),
  }));
  const mid = median(medians.map((g) => g.medianBusbwGBps));
  const slowGroups = medians
    .filter((g) => g.medianBusbwGBps < SLOW_GROUP_FRACTION * mid)
    .sort((a, b) => a.medianBusbwGBps - b.medianBusbwGBps);
  const seen = new Map<number, number>();
  for (const g of slowGroups) for (const r of g.ranks) seen.set(r, (seen.get(r) ?? 0) + 1);
  const sharedRanks = [...seen]
    .filter(([, n]) => n >= 2)
    .map(([rank, n]) => ({ rank, slowGroups: n }))
    .sort((a, b) => b.slowGroups - a.slowGroups || a.rank - b.rank);
  return { groups: groups.size, medianGroupBusbwGBps: mid, slowGroups, sharedRanks };
}

/** `0–7, 9, 12–15`: a sorted list of ranks written as ranges. */
export function rankRanges(ranks: readonly number[]): string {
  const xs = [...new Set(ranks)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < xs.length;) {
    let j = i;
    while (j + 1 < xs.length && xs[j + 1] === xs[j] + 1) j++;
    parts.push(j === i ? String(xs[i]) : `${xs[i]}–${xs[j]}`);
    i = j + 1;
  }
  return parts.join(', ');
}

/** min / median / p90 / max of a per-rank figure, and the ranks at the extremes. */
export interface Spread {
  min: number;
  median: number;
  p90: number;
  max: number;
  minRank: number;
  maxRank: number;
}

export function spreadOf<T extends { rank: number }>(items: readonly T[], value: (x: T) => number): Spread | undefined {
  if (items.length === 0) return undefined;
  const vs = items.map(value);
  let lo = 0,
    hi = 0;
  for (let i = 1; i < vs.length; i++) {
    if (vs[i] < vs[lo]) lo = i;
    if (vs[i] > vs[hi]) hi = i;
  }
  return {
    min: vs[lo],
    median: median(vs),
    p90: quantile(vs, 0.9),
    max: vs[hi],
    minRank: items[lo].rank,
    maxRank: items[hi].rank,
  };
}
