/**
 * CommLens analysis: from a TraceModel (a CommLens run or an imported PyTorch trace) to
 * metrics, a critical path, what-if predictions and ranked suggestions.
 * `analyze` never throws on odd input: what cannot be computed is said in `notes`.
 */
import type { TraceModel } from '../trace/model';
import { buildRankViews } from './rankView';
import { rankMetrics, sumKernelTypes, type RankMetrics } from './rankMetrics';

export { temporalBreakdown, commCompOverlap, kernelTypeTime, idleBreakdown, CONSECUTIVE_KERNEL_DELAY_NS } from './breakdown';
export type { TemporalBreakdown, CommCompOverlap, StreamIdle } from './breakdown';
export type { RankMetrics, StepMetrics } from './rankMetrics';
export { buildRankViews, classifyGpuSlice } from './rankView';
export type { GpuOp, KernelClass, RankView } from './rankView';
export { markdownReport } from './report';
export type { ReportOptions } from './report';

/** Version of the Analysis object's schema (analysis/SCHEMA.md); bump on breaking changes. */
export const ANALYSIS_SCHEMA_VERSION = 1;

export interface AnalysisOptions {
  /** Analyse the last step too (HTA leaves it out by default because it is often cut short). */
  includeLastStep?: boolean;
  /** Peak bandwidth of the link in GB/s (= bytes/ns), for busbw / peak; else the run's link profile. */
  linkPeakGBps?: number;
}

export interface Analysis {
  schemaVersion: number;
  source: { format: TraceModel['meta']['format']; worldSize?: number; ranksPresent: number[] };
  options: { includeLastStep: boolean; linkPeakGBps?: number };
  ranks: RankMetrics[];
  /** Kernel-type time summed over all ranks (HTA's pie chart). */
  kernelTypeTotalsNs: Record<string, number>;
  /** What could not be computed and why, and importer warnings. */
  notes: string[];
}

/** Runs every metric over the model. Never throws: failures become notes. */
export function analyze(model: TraceModel, opts: AnalysisOptions = {}): Analysis {
  const notes: string[] = [...(model.warnings ?? [])];
  const includeLastStep = opts.includeLastStep ?? false;
  let ranks: RankMetrics[] = [];
  let ranksPresent: number[] = [];
  try {
    const views = buildRankViews(model, { includeLastStep });
    ranksPresent = views.map((v) => v.rank);
    for (const v of views) notes.push(...v.notes);
    ranks = views.map((v) => rankMetrics(model, v));
  } catch (e) {
    notes.push(`per-rank metrics failed: ${(e as Error).message}`);
  }
  if (ranksPresent.length === 0) notes.push('the trace has no ranks (no processes): nothing to analyse');
  const worldSize = model.meta.worldSize;
  if (worldSize !== undefined && ranksPresent.length > 0 && ranksPresent.length < worldSize) {
    notes.push(`${ranksPresent.length} of ${worldSize} ranks are in the trace: cross-rank metrics (collective waits, stragglers, critical path) cover only these ranks`);
  }
  if (ranksPresent.length === 1) notes.push('only one rank: collectives cannot be joined across ranks, so synchronisation wait, stragglers and the cross-rank critical path are not computed');
  return {
    schemaVersion: ANALYSIS_SCHEMA_VERSION,
    source: { format: model.meta.format, worldSize: model.meta.worldSize, ranksPresent },
    options: { includeLastStep, linkPeakGBps: opts.linkPeakGBps },
    ranks,
    kernelTypeTotalsNs: sumKernelTypes(ranks),
    notes,
  };
}
