/**
 * Time metrics of a set of GPU operations, with the definitions of Holistic Trace
 * Analysis (HTA) so the numbers agree with what PyTorch users already trust.
 */
import { combinationTimes, extendUnion, intersectionLength, lengthOf, type IntervalSet } from './intervals';
import { isAscending } from '../trace/model';
import { opsOfStep, type GpuOp, type KernelClass, type RankView } from './rankView';
import type { CommCompOverlap, StreamIdle, TemporalBreakdown } from './rankFigures';

export type { CommCompOverlap, StreamIdle, TemporalBreakdown } from './rankFigures';

/** The unions every metric here needs: of all ops and of each class. */
export interface ClassUnions {
  all: IntervalSet;
  computation: IntervalSet;
  communication: IntervalSet;
  memory: IntervalSet;
}

/**
 * Builds the four unions in one pass over the ops in start order (a rank view's ops are
 * already; others are sorted first). A union does not depend on the order of ops that start
 * together, so this equals `unionOf` of each class's intervals.
 */
export function classUnions(ops: readonly GpuOp[]): ClassUnions {
  const u: ClassUnions = {
    all: { starts: [], ends: [] },
    computation: { starts: [], ends: [] },
    communication: { starts: [], ends: [] },
    memory: { starts: [], ends: [] },
  };
  // unionOf leaves out intervals that end before they start (or are NaN), then sorts.
  const sorted = isAscending(ops, opByStart) ? ops : ops.filter((o) => o.endNs >= o.startNs).sort(opByStart);
  for (let i = 0; i < sorted.length; i++) {
    const o = sorted[i];
    if (!(o.endNs >= o.startNs)) continue;
    extendUnion(u.all, o.startNs, o.endNs);
    extendUnion(
      o.cls === 'computation' ? u.computation : o.cls === 'communication' ? u.communication : u.memory,
      o.startNs,
      o.endNs,
    );
  }
  return u;
}

const opByStart = (a: GpuOp, b: GpuOp) => a.startNs - b.startNs;

/**
 * Exposed communication of one analysed step of a rank, commCompOverlap of its unions (HTA's
 * definition); a digested rank (RankView.partial) carries it, computed from all its ops.
 */
export function stepExposedCommNs(v: RankView, step: number): number {
  return v.partial?.digest.exposedByStep.get(step) ?? commCompOverlap(unionsOfStep(v, step)).exposedCommNs;
}

const unionsCache = new WeakMap<RankView, Map<number | undefined, ClassUnions>>();

/**
 * The class unions of `opsOfStep(v, step)` (the whole analysed window when `step` is
 * undefined), built once per view and step: the per-rank metrics and the replay's measured
 * baseline both need them. Like opsOfStep's lists, they are shared: read them, never change them.
 */
export function unionsOfStep(v: RankView, step: number | undefined): ClassUnions {
  let m = unionsCache.get(v);
  if (!m) {
    m = new Map();
    unionsCache.set(v, m);
  }
  let u = m.get(step);
  if (!u) {
    u = classUnions(opsOfStep(v, step));
    m.set(step, u);
  }
  return u;
}

const unionsOf = (ops: readonly GpuOp[] | ClassUnions): ClassUnions =>
  Array.isArray(ops) ? classUnions(ops as readonly GpuOp[]) : (ops as ClassUnions);

const pct = (part: number, whole: number) => (whole > 0 ? (100 * part) / whole : 0);

/**
 * Temporal breakdown (HTA `get_temporal_breakdown`): over the ops given,
 * span = last end − first start; idle = span − |union of all ops|;
 * compute = |union of computation ops|; non-compute = span − idle − compute.
 * Percentages are of the span.
 */
export function temporalBreakdown(ops: readonly GpuOp[] | ClassUnions): TemporalBreakdown {
  const u = unionsOf(ops);
  const all = u.all;
  if (all.starts.length === 0)
    return { spanNs: 0, idleNs: 0, computeNs: 0, nonComputeNs: 0, idlePct: 0, computePct: 0, nonComputePct: 0 };
  const spanNs = all.ends[all.ends.length - 1] - all.starts[0];
  const idleNs = spanNs - lengthOf(all);
  const computeNs = lengthOf(u.computation);
  const nonComputeNs = spanNs - idleNs - computeNs;
  return {
    spanNs,
    idleNs,
    computeNs,
    nonComputeNs,
    idlePct: pct(idleNs, spanNs),
    computePct: pct(computeNs, spanNs),
    nonComputePct: pct(nonComputeNs, spanNs),
  };
}

/**
 * Communication–computation overlap (HTA): 100 · |comp ∩ comm| / |comm|, where comp and
 * comm are the unions of computation and communication ops. Exposed communication is
 * the communication time with no computation running: |comm| − |comp ∩ comm|.
 */
export function commCompOverlap(ops: readonly GpuOp[] | ClassUnions): CommCompOverlap {
  const u = unionsOf(ops);
  const comm = u.communication;
  const comp = u.computation;
  const commNs = lengthOf(comm);
  const overlapNs = intersectionLength(comp, comm);
  return { commNs, overlapNs, overlapPct: pct(overlapNs, commNs), exposedCommNs: commNs - overlapNs };
}

/** HTA's names of the kernel classes, in HTA's bit order. */
const CLASS_NAMES: [KernelClass, string][] = [
  ['computation', 'COMPUTATION'],
  ['communication', 'COMMUNICATION'],
  ['memory', 'MEMORY'],
];

/**
 * Kernel-type time (HTA `get_gpu_kernel_breakdown` with memory kernels): the time during
 * which exactly a given combination of classes runs, keyed like HTA:
 * `COMPUTATION`, `COMMUNICATION`, `MEMORY`, `COMPUTATION overlapping COMMUNICATION`,
 * `COMMUNICATION overlapping MEMORY`... (each class's ops are merged first).
 */
export function kernelTypeTime(ops: readonly GpuOp[] | ClassUnions): Record<string, number> {
  const u = unionsOf(ops);
  const sets = CLASS_NAMES.map(([cls]) => u[cls]);
  const out: Record<string, number> = {};
  for (const [mask, t] of combinationTimes(sets)) {
    const names = CLASS_NAMES.filter((_, k) => mask & (1 << k)).map(([, n]) => n);
    out[names.join(' overlapping ')] = t;
  }
  return out;
}

/** HTA's default threshold under which a gap between kernels is launch overhead: 30 µs. */
export const CONSECUTIVE_KERNEL_DELAY_NS = 30_000;

/**
 * Idle-time breakdown of each stream (HTA `get_idle_time_breakdown`): for each op after
 * the first on a stream, the gap since the previous op's end is
 * - host wait, when the op's launch call started after the previous op ended (the CPU
 *   was not enqueuing fast enough);
 * - kernel wait, otherwise when the gap is under `kernelDelayNs` (launch overhead);
 * - other, otherwise (waiting on another stream, a synchronisation, a peer).
 * Without launch times (CommLens runs) nothing can be host wait. "The previous op's end" is
 * the latest end so far: the same as HTA's on any stream whose ops do not overlap, and an
 * op that starts before it adds nothing (HTA would add its negative gap to kernel wait).
 */
export function idleBreakdown(
  ops: readonly GpuOp[],
  streamOfTrack: (track: number) => number | string,
  kernelDelayNs = CONSECUTIVE_KERNEL_DELAY_NS,
): StreamIdle[] {
  const byTrack = new Map<number, GpuOp[]>();
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i];
    let l = byTrack.get(o.track);
    if (!l) {
      l = [];
      byTrack.set(o.track, l);
    }
    l.push(o);
  }
  const out: StreamIdle[] = [];
  for (const [track, list] of byTrack) {
    // ops are sorted by start already; a stable sort keeps it so for any caller.
    list.sort((a, b) => a.startNs - b.startNs);
    let host = 0,
      kernel = 0,
      other = 0;
    // The stream is busy until the latest end so far. On a CUDA stream ops do not overlap,
    // so that is the previous op's end, as HTA takes it; on a track whose ops overlap (a
    // CommLens run's staging copies, in flight together), HTA's gap to the previous op's
    // end would be negative and counted as kernel wait: an op that starts while the
    // stream is still busy adds no idle time here.
    let busyUntil = list.length > 0 ? list[0].endNs : 0;
    for (let i = 1; i < list.length; i++) {
      const o = list[i];
      const gap = o.startNs - busyUntil;
      if (gap >= 0) {
        const launch = o.launchNs;
        if (launch !== undefined && launch > busyUntil) host += gap;
        else if (gap < kernelDelayNs) kernel += gap;
        else other += gap;
      }
      if (o.endNs > busyUntil) busyUntil = o.endNs;
    }
    const total = host + kernel + other;
    const r = (x: number) => (total > 0 ? x / total : 0);
    out.push({
      track,
      stream: streamOfTrack(track),
      hostWaitNs: host,
      kernelWaitNs: kernel,
      otherNs: other,
      hostWaitRatio: r(host),
      kernelWaitRatio: r(kernel),
      otherRatio: r(other),
    });
  }
  out.sort((a, b) =>
    typeof a.stream === 'number' && typeof b.stream === 'number'
      ? a.stream - b.stream
      : String(a.stream).localeCompare(String(b.stream)),
  );
  return out;
}
