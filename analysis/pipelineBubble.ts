/**
 * The pipeline bubble, measured: per pipeline stage and step, the time the stage's compute
 * stream is idle while its pipeline is computing the step. One definition (METRIC_DEFINITIONS
 * `pipelineBubble`, docs/figures.md):
 *
 *   window(step)        = first forward/backward kernel start → last forward/backward kernel
 *                         end, over every stage of the pipeline (flush to flush);
 *   bubble(stage, step) = window − |∪ the stage's forward/backward kernels in the step|;
 *   fraction            = bubble / window.
 *
 * Forward and backward kernels are those whose `phase` arg says so (CommLens runs); a trace
 * without phases counts every computation kernel. The optimizer and the data-parallel
 * gradient exchange come after the flush and are left out of the window, as the schedule's
 * own figure (p−1)/(m+p−1) leaves them out. The pipelines are read from the trace: the
 * process groups named "pp group g (ranks a,b,…)" (runtime/comm/layout.ts), their ranks in
 * stage order.
 */
import type { TraceModel } from '../trace/model';
import { mean } from '../trace/stats';
import { parseStrategyIds } from '../trace/strategyIds';
import { extendUnion, lengthOf, type IntervalSet } from './intervals';
import type { RankView } from './rankView';
import type { StageCompute } from './rankFigures';

export type { StageCompute } from './rankFigures';

export interface StageBubbleStep {
  step: number;
  /** The pipeline's window of the step (ns). */
  windowNs: number;
  /** |∪ this stage's forward/backward kernels| in the step (ns). */
  computeNs: number;
  /** windowNs − computeNs. */
  bubbleNs: number;
  /** bubbleNs / windowNs. */
  fraction: number;
}

export interface StageBubble {
  stage: number;
  rank: number;
  steps: StageBubbleStep[];
  meanBubbleNs: number;
  meanFraction: number;
}

export interface PipelineBubble {
  /** The pp group's name in the trace. */
  group: string;
  /** Ranks in stage order. */
  ranks: number[];
  stages: number;
  /** Micro-batches per step, when the run's configuration says (CommLens: strategyOptions.microBatches, default the stages). */
  microBatches?: number;
  /** 'gpipe' or '1f1b', when the run's configuration says. */
  schedule?: string;
  /** The schedule's bubble fraction (p−1)/(m+p−1) with equal stages, when m is known. */
  theoreticalFraction?: number;
  perStage: StageBubble[];
  /** Mean over stages of their mean fraction. */
  meanFraction: number;
}

const PP_GROUP = /^pp group \d+ \(ranks (\d+(?:,\d+)*)\)$/;

/** The schedule's bubble fraction with p equal stages and m micro-batches: (p−1)/(m+p−1) (GPipe and 1F1B alike). */
export function theoreticalBubbleFraction(stages: number, microBatches: number): number {
  return (stages - 1) / (microBatches + stages - 1);
}

/** The pipelines of the trace: the groups named "pp group g (ranks …)" that its slices name, each once, by lowest rank. */
export function pipelineGroups(model: TraceModel): { group: string; ranks: number[] }[] {
  const seen = new Map<string, number[]>();
  for (const t of model.tracks) {
    const m = PP_GROUP.exec(t.name);
    if (m && !seen.has(t.name)) seen.set(t.name, m[1].split(',').map(Number));
  }
  for (const s of model.slices) {
    const g = s.args?.group;
    if (typeof g !== 'string' || seen.has(g)) continue;
    const m = PP_GROUP.exec(g);
    if (m) seen.set(g, m[1].split(',').map(Number));
  }
  // By their lowest rank (pp group 0 before pp group 1), not by which track a trace lists first.
  return [...seen]
    .map(([group, ranks]) => ({ group, ranks }))
    .sort(
      (a, b) => Math.min(...a.ranks) - Math.min(...b.ranks) || (a.group < b.group ? -1 : a.group > b.group ? 1 : 0),
    );
}

/** One rank's part of pipelineBubbles, for every step that has forward/backward compute. */
export function rankPipelineSteps(model: TraceModel, v: RankView): Map<number, StageCompute> {
  const byStep = new Map<number, IntervalSet>();
  for (const op of v.ops) {
    if (op.cls !== 'computation' || op.step === undefined) continue;
    const phase = model.slices[op.index].args?.phase;
    if (phase !== undefined && phase !== 'forward' && phase !== 'backward') continue;
    let u = byStep.get(op.step);
    if (!u) byStep.set(op.step, (u = { starts: [], ends: [] }));
    extendUnion(u, op.startNs, op.endNs);
  }
  const out = new Map<number, StageCompute>();
  for (const [step, u] of byStep)
    if (u.starts.length > 0)
      out.set(step, { startNs: u.starts[0], endNs: u.ends[u.ends.length - 1], computeNs: lengthOf(u) });
  return out;
}

/**
 * The bubble of every pipeline in the trace over `steps` (the steady steps), per stage and
 * step; [] when the trace has no pp groups. `run` is the run's strategy and options, for
 * the micro-batch count (default: the stages) and the schedule (default 'gpipe').
 */
export function pipelineBubbles(
  model: TraceModel,
  views: readonly RankView[],
  steps: readonly number[],
  run: { strategy?: string; strategyOptions?: Record<string, unknown> } = {},
): PipelineBubble[] {
  const isPp = run.strategy !== undefined && parseStrategyIds(run.strategy).includes('pp');
  const opts = run.strategyOptions ?? {};
  const byRank = new Map(views.map((v) => [v.rank, v]));
  const out: PipelineBubble[] = [];
  for (const { group, ranks } of pipelineGroups(model)) {
    const stageViews = ranks.map((r) => byRank.get(r));
    if (stageViews.some((v) => v === undefined)) continue;
    // Per stage and step: the union of its forward/backward kernels.
    const unions = stageViews.map((v) => (v!.partial ? v!.partial.digest.pipelineSteps : rankPipelineSteps(model, v!)));
    const perStage: StageBubble[] = ranks.map((rank, stage) => ({
      stage,
      rank,
      steps: [],
      meanBubbleNs: 0,
      meanFraction: 0,
    }));
    for (const step of steps) {
      const us = unions.map((m) => m.get(step));
      if (us.some((u) => !u)) continue;
      const start = Math.min(...us.map((u) => u!.startNs));
      const end = Math.max(...us.map((u) => u!.endNs));
      const windowNs = end - start;
      if (!(windowNs > 0)) continue;
      us.forEach((u, s) => {
        const computeNs = u!.computeNs;
        const bubbleNs = windowNs - computeNs;
        perStage[s].steps.push({ step, windowNs, computeNs, bubbleNs, fraction: bubbleNs / windowNs });
      });
    }
    if (perStage[0].steps.length === 0) continue;
    for (const st of perStage) {
      st.meanBubbleNs = mean(st.steps.map((x) => x.bubbleNs));
      st.meanFraction = mean(st.steps.map((x) => x.fraction));
    }
    const p = ranks.length;
    const microBatches = typeof opts.microBatches === 'number' ? opts.microBatches : isPp ? p : undefined;
    const schedule = typeof opts.schedule === 'string' ? opts.schedule : isPp ? 'gpipe' : undefined;
    out.push({
      group,
      ranks,
      stages: p,
      ...(microBatches !== undefined
        ? { microBatches, theoreticalFraction: theoreticalBubbleFraction(p, microBatches) }
        : {}),
      ...(schedule !== undefined ? { schedule } : {}),
      perStage,
      meanFraction: mean(perStage.map((s) => s.meanFraction)),
    });
  }
  return out;
}
