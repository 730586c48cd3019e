/**
 * Per-rank and per-step metrics: the temporal breakdown, overlap, exposed communication,
 * kernel-type time and idle breakdown of each rank, over its analysed window and over
 * each analysed step.
 */
import type { TraceModel } from '../trace/model';
import { classUnions, commCompOverlap, idleBreakdown, kernelTypeTime, temporalBreakdown, type CommCompOverlap, type StreamIdle, type TemporalBreakdown } from './breakdown';
import type { RankView } from './rankView';

export interface StepMetrics {
  step: number;
  /** The step marker's own span (host side). */
  startNs: number;
  durNs: number;
  /** Index of the step slice in model.slices (for jumping to it). */
  sliceIndex: number;
  /** GPU ops assigned to this step (by launch time, else by start). */
  opCount: number;
  temporal: TemporalBreakdown;
  overlap: CommCompOverlap;
  kernelTypeNs: Record<string, number>;
}

export interface RankMetrics {
  rank: number;
  pid: number;
  /** Steps whose ops are in the analysed window. */
  stepsAnalysed: number[];
  opCount: number;
  temporal: TemporalBreakdown;
  overlap: CommCompOverlap;
  kernelTypeNs: Record<string, number>;
  idleByStream: StreamIdle[];
  steps: StepMetrics[];
}

/** Computes RankMetrics for one rank view (the definitions live in breakdown.ts). */
export function rankMetrics(model: TraceModel, view: RankView): RankMetrics {
  const streamOf = (track: number) => model.tracks[track]?.sourceId ?? model.tracks[track]?.name ?? track;
  const steps: StepMetrics[] = [];
  const byStep = new Map<number, typeof view.ops>();
  for (const op of view.ops) {
    if (op.step === undefined) continue;
    let l = byStep.get(op.step);
    if (!l) { l = []; byStep.set(op.step, l); }
    l.push(op);
  }
  for (const st of view.analysedSteps) {
    const ops = byStep.get(st.step) ?? [];
    const u = classUnions(ops);
    steps.push({
      step: st.step, startNs: st.startNs, durNs: st.endNs - st.startNs, sliceIndex: st.index, opCount: ops.length,
      temporal: temporalBreakdown(u), overlap: commCompOverlap(u), kernelTypeNs: kernelTypeTime(u),
    });
  }
  const all = classUnions(view.ops);
  return {
    rank: view.rank, pid: view.pid, stepsAnalysed: view.analysedSteps.map((s) => s.step), opCount: view.ops.length,
    temporal: temporalBreakdown(all), overlap: commCompOverlap(all), kernelTypeNs: kernelTypeTime(all),
    idleByStream: idleBreakdown(view.ops, streamOf), steps,
  };
}

/** Sums kernel-type times over ranks (HTA reports this sum across all ranks). */
export function sumKernelTypes(ranks: RankMetrics[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of ranks) for (const [k, v] of Object.entries(r.kernelTypeNs)) out[k] = (out[k] ?? 0) + v;
  return out;
}
