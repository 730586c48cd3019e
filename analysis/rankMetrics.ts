/**
 * Per-rank and per-step metrics: the temporal breakdown, overlap, exposed communication,
 * kernel-type time and idle breakdown of each rank, over its analysed window and over
 * each analysed step.
 */
import type { TraceModel } from '../trace/model';
import {
  commCompOverlap,
  idleBreakdown,
  kernelTypeTime,
  temporalBreakdown,
  unionsOfStep,
  type ClassUnions,
  type CommCompOverlap,
  type TemporalBreakdown,
} from './breakdown';
import { opsOfStep, type RankView } from './rankView';
import type { RankMetrics, StepMetrics } from './rankFigures';

export type { RankMetrics, StepMetrics } from './rankFigures';

/** Computes RankMetrics for one rank view (the definitions live in breakdown.ts). */
export function rankMetrics(model: TraceModel, view: RankView): RankMetrics {
  if (view.partial) return view.partial.digest.metrics;
  const streamOf = (track: number) => model.tracks[track]?.sourceId ?? model.tracks[track]?.name ?? track;
  const steps: StepMetrics[] = [];
  // A step that holds every op of the window (often the only analysed step) has the window's
  // metrics: they are copied rather than computed twice.
  let whole: WindowMetrics | undefined;
  for (const st of view.analysedSteps) {
    const ops = opsOfStep(view, st.step);
    const m = windowMetrics(unionsOfStep(view, st.step));
    if (ops.length === view.ops.length)
      whole = { temporal: { ...m.temporal }, overlap: { ...m.overlap }, kernelTypeNs: { ...m.kernelTypeNs } };
    steps.push({
      step: st.step,
      startNs: st.startNs,
      durNs: st.endNs - st.startNs,
      sliceIndex: st.index,
      opCount: ops.length,
      ...m,
    });
  }
  whole ??= windowMetrics(unionsOfStep(view, undefined));
  return {
    rank: view.rank,
    pid: view.pid,
    stepsAnalysed: view.analysedSteps.map((s) => s.step),
    opCount: view.ops.length,
    ...whole,
    idleByStream: idleBreakdown(view.ops, streamOf),
    steps,
  };
}

interface WindowMetrics {
  temporal: TemporalBreakdown;
  overlap: CommCompOverlap;
  kernelTypeNs: Record<string, number>;
}

function windowMetrics(u: ClassUnions): WindowMetrics {
  return { temporal: temporalBreakdown(u), overlap: commCompOverlap(u), kernelTypeNs: kernelTypeTime(u) };
}

/** Sums kernel-type times over ranks (HTA reports this sum across all ranks). */
export function sumKernelTypes(ranks: RankMetrics[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of ranks) for (const [k, v] of Object.entries(r.kernelTypeNs)) out[k] = (out[k] ?? 0) + v;
  return out;
}
