/**
 * Stragglers and imbalance: which ranks arrive late at collectives because their compute
 * before it took longer, and how much time that costs everyone else.
 *
 * Clock-free by construction: a rank that arrives last at a collective waits for no one,
 * so its duration is the shortest (the transfer time); every other rank's excess is time
 * it spent waiting for that rank. Comparing durations, not start times, needs no clock
 * alignment between hosts.
 */
import type { CollectiveMetrics } from './collectives';
import type { RankMetrics } from './rankMetrics';
import { median, quantile } from '../trace/stats';

export interface RankStraggle {
  rank: number;
  /** Collectives at which this rank arrived last. */
  lastArrivals: number;
  /** Collectives this rank took part in (with ≥ 2 participants). */
  collectives: number;
  /** Σ over its last arrivals of the others' waits: the time it cost everyone. */
  costToOthersNs: number;
  /** Mean over its last arrivals of the longest wait it caused (how late it was). */
  meanLatenessNs: number;
  /** Mean over its last arrivals of its compute before the collective minus the others' mean: the cause, when it is compute. */
  meanComputeExcessNs: number;
  /** Collective instance keys where it arrived last, worst first (at most 20). */
  worstKeys: string[];
  /** Slice indexes of those collectives on the waiting ranks (the EVIDENCE_PER_COLLECTIVE longest waits of each), for jumping to the evidence. */
  evidenceSlices: number[];
  /** |∪ computation| of the rank over the analysed window. */
  computeNs: number;
}

export interface StragglerReport {
  ranks: RankStraggle[];
  /** Ranks flagged as stragglers: arrive last more often than chance and cost others ≥ threshold. */
  stragglers: number[];
  /** max / mean of the ranks' computation time (1 = balanced). */
  computeImbalance: number;
  /** Σ of every rank's synchronisation wait. */
  totalWaitNs: number;
  /**
   * Over every joined collective with a last arrival: the longest wait it caused (latenessOf).
   * Kept here so that a report of a cached analysis does not read the collective instances.
   */
  lateness?: Lateness;
}

/** How late the last rank was: over collectives with a last arrival, the longest wait each caused, ns. */
export interface Lateness {
  collectives: number;
  medianNs: number;
  p90Ns: number;
  maxNs: number;
}

/** Lateness over the instances that have a last arrival and two or more participants; undefined when none has. */
export function latenessOf(instances: CollectiveMetrics['instances']): Lateness | undefined {
  const worstWaits: number[] = [];
  for (const inst of instances) {
    if (inst.lastArrivalRank === undefined || inst.participants.length < 2) continue;
    let worst = 0;
    for (const p of inst.participants) if (p.rank !== inst.lastArrivalRank && p.waitNs > worst) worst = p.waitNs;
    worstWaits.push(worst);
  }
  if (worstWaits.length === 0) return undefined;
  return {
    collectives: worstWaits.length,
    medianNs: median(worstWaits),
    p90Ns: quantile(worstWaits, 0.9),
    // A loop, not Math.max(...): a long job has more collectives than a call's arguments can hold.
    maxNs: worstWaits.reduce((a, b) => (b > a ? b : a), -Infinity),
  };
}

/**
 * The straggler rule's figures, used by findStragglers and by the definition the UI shows
 * (analysis/definitions.ts), so that the words and the arithmetic cannot drift apart.
 */
export const STRAGGLER_RULE = {
  /** A rank must arrive last more often than chance by this factor (share > factor / n) … */
  chanceFactor: 1.5,
  /** … capped at this share (with 2 ranks, 1.5 / 2 would be 75 %). */
  maxShare: 0.95,
  /** … and at least this many times. */
  minLastArrivals: 2,
  /** The waits it causes, averaged over the other ranks, as a fraction of the analysed span. */
  thresholdFraction: 0.05,
} as const;

/** At most this many waiting ranks' slices per collective in a rank's evidence. */
export const EVIDENCE_PER_COLLECTIVE = 8;

/**
 * Flags rank r as a straggler when (a) it arrives last at more collectives than chance
 * (share > 1.5 / n for n ranks, and at least 2) and (b) the waits it causes, averaged over
 * the other ranks, exceed `thresholdFraction` (default 5 %) of the analysed span.
 * Collectives of `skipStep` (the warm-up steps: pipelines compile, pools fill) are left out.
 */
export function findStragglers(
  coll: CollectiveMetrics,
  ranks: RankMetrics[],
  thresholdFraction: number = STRAGGLER_RULE.thresholdFraction,
  skipStep?: number | readonly number[],
): StragglerReport {
  const skip = new Set(skipStep === undefined ? [] : typeof skipStep === 'number' ? [skipStep] : skipStep);
  const byRank = new Map<
    number,
    RankStraggle & {
      latenessSum: number;
      excessSum: number;
      worst: { key: string; cost: number; others: CollectiveMetrics['instances'][number]['participants'] }[];
    }
  >();
  for (const r of ranks) {
    byRank.set(r.rank, {
      rank: r.rank,
      lastArrivals: 0,
      collectives: 0,
      costToOthersNs: 0,
      meanLatenessNs: 0,
      meanComputeExcessNs: 0,
      worstKeys: [],
      evidenceSlices: [],
      computeNs: r.temporal.computeNs,
      latenessSum: 0,
      excessSum: 0,
      worst: [],
    });
  }
  let totalWaitNs = 0;
  for (const inst of coll.instances) {
    if (inst.participants.length < 2 || (inst.step !== undefined && skip.has(inst.step))) continue;
    for (const p of inst.participants) {
      byRank.get(p.rank)!.collectives++;
      totalWaitNs += p.waitNs;
    }
    if (inst.lastArrivalRank === undefined) continue;
    const s = byRank.get(inst.lastArrivalRank)!;
    const others = inst.participants.filter((p) => p.rank !== inst.lastArrivalRank);
    const cost = others.reduce((t, p) => t + p.waitNs, 0);
    s.lastArrivals++;
    s.costToOthersNs += cost;
    s.latenessSum += Math.max(0, ...others.map((p) => p.waitNs));
    const me = inst.participants.find((p) => p.rank === inst.lastArrivalRank)!;
    s.excessSum += me.computeBeforeNs - others.reduce((t, p) => t + p.computeBeforeNs, 0) / Math.max(1, others.length);
    s.worst.push({ key: inst.key, cost, others });
  }
  const n = ranks.length;
  const span = Math.max(1, ...ranks.map((r) => r.temporal.spanNs));
  const stragglers: number[] = [];
  const out: RankStraggle[] = [];
  for (const s of byRank.values()) {
    s.meanLatenessNs = s.lastArrivals > 0 ? s.latenessSum / s.lastArrivals : 0;
    s.meanComputeExcessNs = s.lastArrivals > 0 ? s.excessSum / s.lastArrivals : 0;
    s.worst.sort((a, b) => b.cost - a.cost);
    s.worstKeys = s.worst.slice(0, 20).map((w) => w.key);
    // The ranks that waited longest at each: with hundreds of ranks, all of them would be
    // 20 × (n − 1) slices per rank.
    s.evidenceSlices = s.worst
      .slice(0, 20)
      .flatMap((w) =>
        (w.others.length <= EVIDENCE_PER_COLLECTIVE
          ? w.others
          : [...w.others].sort((a, b) => b.waitNs - a.waitNs).slice(0, EVIDENCE_PER_COLLECTIVE)
        ).map((p) => p.sliceIndex),
      );
    const share = s.collectives > 0 ? s.lastArrivals / s.collectives : 0;
    const perOtherCost = n > 1 ? s.costToOthersNs / (n - 1) : 0;
    if (
      n >= 2 &&
      s.lastArrivals >= STRAGGLER_RULE.minLastArrivals &&
      share > Math.min(STRAGGLER_RULE.maxShare, STRAGGLER_RULE.chanceFactor / n) &&
      perOtherCost >= thresholdFraction * span
    )
      stragglers.push(s.rank);
    const { latenessSum: _l, excessSum: _e, worst: _w, ...pub } = s;
    out.push(pub);
  }
  out.sort((a, b) => a.rank - b.rank);
  const computes = ranks.map((r) => r.temporal.computeNs);
  const mean = computes.reduce((a, b) => a + b, 0) / Math.max(1, computes.length);
  const lateness = latenessOf(coll.instances);
  return {
    ranks: out,
    stragglers,
    computeImbalance: mean > 0 ? Math.max(...computes) / mean : 1,
    totalWaitNs,
    lateness,
  };
}
