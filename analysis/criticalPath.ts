/**
 * The critical path of one step across all ranks: the chain of spans, in order, that
 * bounds the step time.
 *
 * Walked backwards from the op that ends the step last. The predecessor of an op is the
 * op of the same rank (any stream) that ended last at or before the op's start — the
 * producer it most plausibly waited for, since GPU streams run in order and cross-stream
 * waits end when their producer ends. A collective is entered through the rank that
 * arrived last (the one that waited for no one), so the path jumps to that rank and
 * continues with the compute that made it late. The time between a predecessor's end
 * and the next op's start is an idle gap on the path (host or launch bound).
 */
import type { TraceModel } from '../trace/model';
import type { CollectiveInstance } from './collectives';
import { opsOfStep, stepHasOps, type GpuOp, type KernelClass, type RankView } from './rankView';

export interface CriticalSegment {
  kind: KernelClass | 'idle';
  rank: number;
  startNs: number;
  durNs: number;
  /** Index into model.slices; absent for idle gaps. */
  sliceIndex?: number;
  /** The slice's name, cut to 120 characters (C++ kernel names run long; the slice has it whole). */
  name?: string;
}

export interface CriticalPath {
  /** The step analysed, when the trace has steps. */
  step?: number;
  segments: CriticalSegment[];
  /** Σ of segment durations (= end of the last segment − start of the first). */
  totalNs: number;
  byKindNs: Record<string, number>;
  /** Times the path moved from one rank to another through a collective. */
  rankSwitches: number;
}

interface RankOps {
  byEnd: GpuOp[];
  ends: number[];
}

/** Index of the last op with end ≤ t (binary search), or −1. */
function lastEndingBy(r: RankOps, t: number): number {
  let lo = 0,
    hi = r.ends.length - 1,
    ans = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (r.ends[mid] <= t) {
      ans = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return ans;
}

/** Picks the step to analyse: the last analysed step that every rank has, else undefined (whole window). */
export function representativeStep(views: RankView[]): number | undefined {
  if (views.length === 0) return undefined;
  let common: Set<number> | undefined;
  for (const v of views) {
    const s = new Set(v.analysedSteps.map((x) => x.step).filter((n) => stepHasOps(v, n)));
    common = common ? new Set([...common].filter((x) => s.has(x))) : s;
  }
  const list = [...(common ?? [])].sort((a, b) => a - b);
  return list.length > 0 ? list[list.length - 1] : undefined;
}

/** Computes the critical path of `step` (default: representativeStep) across every rank. */
export function criticalPath(
  model: TraceModel,
  views: RankView[],
  instances: CollectiveInstance[],
  step?: number,
): CriticalPath {
  const S = step ?? representativeStep(views);
  const perRank = new Map<number, RankOps>();
  for (const v of views) {
    const ops = [...opsOfStep(v, S)].sort((a, b) => a.endNs - b.endNs || a.startNs - b.startNs);
    perRank.set(v.rank, { byEnd: ops, ends: ops.map((o) => o.endNs) });
  }
  const instanceOf = new Map<number, CollectiveInstance>();
  for (const inst of instances) for (const p of inst.participants) instanceOf.set(p.sliceIndex, inst);
  const rankOfSlice = (i: number) => model.tracks[model.slices[i].track].pid;
  const pidToRank = new Map(views.map((v) => [v.pid, v.rank]));

  let cur: { op: GpuOp; rank: number } | undefined;
  for (const [rank, r] of perRank) {
    const last = r.byEnd[r.byEnd.length - 1];
    if (last && (!cur || last.endNs > cur.op.endNs)) cur = { op: last, rank };
  }
  const rev: CriticalSegment[] = [];
  const visited = new Set<number>();
  let rankSwitches = 0;
  while (cur && !visited.has(cur.op.index)) {
    visited.add(cur.op.index);
    const inst = cur.op.cls === 'communication' ? instanceOf.get(cur.op.index) : undefined;
    if (inst && inst.lastArrivalRank !== undefined && inst.lastArrivalRank !== cur.rank) {
      const p = inst.participants.find((x) => x.rank === inst.lastArrivalRank);
      const target = p ? perRank.get(p.rank)?.byEnd.find((o) => o.index === p.sliceIndex) : undefined;
      if (p && target) {
        // The waiting rank's collective ends with the last arrival's; the path runs through the latter.
        cur = { op: target, rank: p.rank };
        rankSwitches++;
        visited.add(target.index);
      }
    }
    const s = model.slices[cur.op.index];
    const name = s.name.length > 120 ? `${s.name.slice(0, 119)}…` : s.name;
    rev.push({
      kind: cur.op.cls,
      rank: cur.rank,
      startNs: cur.op.startNs,
      durNs: cur.op.endNs - cur.op.startNs,
      sliceIndex: cur.op.index,
      name,
    });
    const r = perRank.get(cur.rank)!;
    let k = lastEndingBy(r, cur.op.startNs);
    while (k >= 0 && (visited.has(r.byEnd[k].index) || r.byEnd[k].startNs >= cur.op.startNs)) k--;
    if (k < 0) break;
    const pred = r.byEnd[k];
    const gap = cur.op.startNs - pred.endNs;
    if (gap > 0) rev.push({ kind: 'idle', rank: cur.rank, startNs: pred.endNs, durNs: gap });
    cur = { op: pred, rank: pidToRank.get(rankOfSlice(pred.index)) ?? cur.rank };
  }
  const segments = rev.reverse();
  const byKindNs: Record<string, number> = {};
  let totalNs = 0;
  for (const seg of segments) {
    byKindNs[seg.kind] = (byKindNs[seg.kind] ?? 0) + seg.durNs;
    totalNs += seg.durNs;
  }
  return { step: S, segments, totalNs, byKindNs, rankSwitches };
}
