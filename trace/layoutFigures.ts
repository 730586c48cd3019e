/**
 * The rows of the two layout tables, as report.md and the viewer's breakdown pane show them:
 * exposed communication per process group (analysis/groupExposure.ts) and the pipeline
 * bubble per stage (analysis/pipelineBubble.ts). One function per table, so both surfaces
 * print the same figures in the same words. The shapes below are the parts of the
 * analysis' objects these tables read (the analysis' types satisfy them).
 */
import { formatDurationNs, formatPct } from './format';

export interface GroupExposureFigures {
  group: string;
  ranks: number[];
  exposedCommNs: number;
  commNs: number;
  opsPerStep: number;
}

export interface PipelineBubbleFigures {
  group: string;
  ranks: number[];
  stages: number;
  microBatches?: number;
  schedule?: string;
  theoreticalFraction?: number;
  perStage: {
    stage: number;
    rank: number;
    steps: { step: number; bubbleNs: number; fraction: number }[];
    meanBubbleNs: number;
    meanFraction: number;
  }[];
  meanFraction: number;
}

export const GROUP_EXPOSURE_HEADER = [
  'process group',
  'exposed per step',
  'of the step',
  'communication per step',
  'hidden under compute',
  'ops per step',
] as const;

/**
 * One row per group, in the given order (largest exposed first, as the analysis sorts them):
 * its name as the trace gives it ("tp group 0 (ranks 0,1)"), exposed communication per step,
 * its share of `stepTimeNs` (the run's step time; '–' when unknown), the group's
 * communication per step, the share of it hidden under computation, its ops per step and rank.
 */
export function groupExposureRows(groups: readonly GroupExposureFigures[], stepTimeNs?: number): string[][] {
  return groups.map((g) => [
    g.group,
    formatDurationNs(g.exposedCommNs),
    stepTimeNs && stepTimeNs > 0 ? formatPct((100 * g.exposedCommNs) / stepTimeNs) : '–',
    formatDurationNs(g.commNs),
    g.commNs > 0 ? formatPct((100 * (g.commNs - g.exposedCommNs)) / g.commNs) : '–',
    String(Number(g.opsPerStep.toFixed(1))),
  ]);
}

/** "pp group 0 (ranks 0,2), 1f1b, 4 micro-batches" */
export function pipelineTitle(p: PipelineBubbleFigures): string {
  return [p.group, p.schedule, p.microBatches !== undefined ? `${p.microBatches} micro-batches` : undefined]
    .filter((x) => x !== undefined)
    .join(', ');
}

/** The schedule's own bubble in words, when the micro-batches are known. */
export function pipelineTheoryText(p: PipelineBubbleFigures): string | undefined {
  return p.theoreticalFraction === undefined || p.microBatches === undefined
    ? undefined
    : `the schedule's bubble with equal stages: (p−1)/(m+p−1) = ${formatPct(100 * p.theoreticalFraction)} (p ${p.stages}, m ${p.microBatches})`;
}

export const PIPELINE_STAGE_HEADER = ['stage', 'rank', 'mean bubble', 'of the window', 'per step'] as const;

/** One row per stage: its rank, mean bubble per step, mean fraction of the window, and each step's bubble. */
export function pipelineStageRows(p: PipelineBubbleFigures): string[][] {
  return p.perStage.map((st) => [
    String(st.stage),
    String(st.rank),
    formatDurationNs(st.meanBubbleNs),
    formatPct(100 * st.meanFraction),
    st.steps.map((x) => `${x.step}: ${formatDurationNs(x.bubbleNs)} (${formatPct(100 * x.fraction)})`).join(', '),
  ]);
}
