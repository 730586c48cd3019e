/**
 * CommLens analysis: from a TraceModel (a CommLens run or an imported PyTorch trace) to
 * metrics, a critical path, what-if predictions and ranked suggestions.
 * `analyze` never throws on odd input: what cannot be computed is said in `notes`.
 */
import { otherProgramsCores, otherProgramsNote } from './otherPrograms';
import { OTHER_CPU_WAITING_COUNTER, OTHER_CPU_WORKING_COUNTER } from '../trace/runCounters';
import type { TraceModel } from '../trace/model';
import { buildRankViews, PartialViewError, type RankView } from './rankView';
import { rankMetrics, sumKernelTypes, type RankMetrics } from './rankMetrics';
import { collectiveMetrics, type CollectiveMetrics } from './collectives';
import { findStragglers, STRAGGLER_RULE } from './stragglers';
import { findSlowLinks } from './rankSummary';
import { criticalPath } from './criticalPath';
import { flopsPerRank, memoryPerRank } from './computeStats';
import { runInfoOf, type RunInfo } from './runInfo';
import { pipelineBubbles } from './pipelineBubble';
import { groupExposures, hasLayoutGroups } from './groupExposure';
import {
  chainedBaselineNs,
  prepareReplay,
  replayedComponents,
  whatIfOn,
  type ReplayContext,
  type WhatIfResult,
} from './replay/whatIf';
import { advise } from './advisor/advisor';
import { runFigures, syncPeriodOf, WARMUP_TEXT, type RunFigures } from './runFigures';
import { jobSettings, type JobSettings } from './jobSettings';
import { torchJobOf } from './torchJob';

export {
  temporalBreakdown,
  commCompOverlap,
  kernelTypeTime,
  idleBreakdown,
  CONSECUTIVE_KERNEL_DELAY_NS,
} from './breakdown';
export type { TemporalBreakdown, CommCompOverlap, StreamIdle } from './breakdown';
export type { RankMetrics, StepMetrics } from './rankMetrics';
export { buildRankViews, classifyGpuSlice } from './rankView';
export type { GpuOp, KernelClass, RankView } from './rankView';
export { markdownReport } from './report';
export { collectiveMetrics, busBandwidthFactor } from './collectives';
export type { CollectiveMetrics, CollectiveInstance, CollectiveOpSummary, CollectiveParticipant } from './collectives';
export { findStragglers } from './stragglers';
export type { StragglerReport, RankStraggle } from './stragglers';
export { criticalPath, representativeStep } from './criticalPath';
export type { CriticalPath, CriticalSegment } from './criticalPath';
export { flopsPerRank, memoryPerRank, flopsOfSlice } from './computeStats';
export type { RankFlops, RankMemory, MemoryKind } from './computeStats';
export { runInfoOf } from './runInfo';
export { pipelineBubbles, pipelineGroups, theoreticalBubbleFraction } from './pipelineBubble';
export type { PipelineBubble, StageBubble, StageBubbleStep } from './pipelineBubble';
export { groupExposures, hasLayoutGroups } from './groupExposure';
export type { GroupExposure } from './groupExposure';
export type { RunInfo, LinkProfile } from './runInfo';
export { whatIf, whatIfOn, prepareReplay } from './replay/whatIf';
export type { WhatIfChange, WhatIfResult, WhatIfNumbers, ReplayContext } from './replay/whatIf';
export { collectiveCostNs, topologyCostNs } from './replay/costModel';
export type { Topology } from './replay/costModel';
export { advise, splitAdvice } from './advisor/advisor';
export { runFigures, stepTimeFigure, stepWallTimes, speedupOf, syncPeriodOf } from './runFigures';
export type { RunFigures } from './runFigures';
export { mapSliceIndexes } from './sliceIndexes';
export type { Suggestion, Advice } from './advisor/advisor';
export { WORTHWHILE } from './advisor/advisor';
export { COMPRESSORS } from './compressors';
export { METRIC_DEFINITIONS } from './definitions';
export type { MetricDefinition } from './definitions';
export type { CompressorName, Compressor } from './compressors';
export type { ReportOptions } from './report';

export { jobSettings, settingsLine, settingsRows } from './jobSettings';
export type { JobSettings, Finding, Confidence, DataParallel, CommHook } from './jobSettings';
export { ANALYSIS_SCHEMA_VERSION } from './types';
export type { Analysis, AnalysisOptions } from './types';
import { ANALYSIS_SCHEMA_VERSION, type Analysis, type AnalysisOptions } from './types';

function attempt<T>(notes: string[], what: string, f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    // A digested rank lacks ops a step needs: the caller analyses whole ranks instead (kinetoJobAnalysis.ts).
    if (e instanceof PartialViewError) throw e;
    notes.push(`${what} could not be computed: ${(e as Error).message}`);
    return undefined;
  }
}

/**
 * Runs every metric, the replay and the advisor over the model. Never throws: failures become
 * notes. `views`: the ranks' views when they are made elsewhere (digested ranks,
 * analysis/rankDigest.ts: then a step that a view did not keep throws PartialViewError).
 */
export function analyze(model: TraceModel, opts: AnalysisOptions = {}, views?: RankView[]): Analysis {
  const notes: string[] = [...(model.warnings ?? [])];
  const includeLastStep = opts.includeLastStep ?? false;
  views ??= attempt(notes, 'the per-rank views', () => buildRankViews(model, { includeLastStep })) ?? [];
  const ranksPresent = views.map((v) => v.rank);
  for (const v of views) notes.push(...v.notes);
  const ranks = views
    .map((v) => attempt(notes, `rank ${v.rank}'s metrics`, () => rankMetrics(model, v)))
    .filter((r): r is RankMetrics => r !== undefined);
  if (ranksPresent.length === 0) notes.push('the trace has no ranks (no processes): nothing to analyse');
  const worldSize = model.meta.worldSize;
  if (worldSize !== undefined && ranksPresent.length > 0 && ranksPresent.length < worldSize) {
    notes.push(
      `${ranksPresent.length} of ${worldSize} ranks are in the trace: cross-rank metrics (collective waits, stragglers, critical path) cover only these ranks`,
    );
  }
  if (ranksPresent.length === 1)
    notes.push(
      'only one rank: collectives cannot be joined across ranks, so synchronisation wait, stragglers and the cross-rank critical path are not computed',
    );
  stepAlignmentNotes(views, notes);
  const info: RunInfo = attempt(notes, 'the run configuration', () => runInfoOf(model)) ?? {};
  // An imported PyTorch job's current settings, read from its collectives: the advice starts from them.
  const settings: JobSettings | undefined =
    model.meta.format === 'kineto' ? attempt(notes, 'the job settings', () => jobSettings(model, views)) : undefined;
  const linkPeakGBps = opts.linkPeakGBps ?? info.link?.bytesPerNs;
  const collectives = attempt(notes, 'collective metrics', () => collectiveMetrics(model, views, linkPeakGBps));
  if (collectives && collectives.instances.length === 0 && views.some((v) => v.ops.length > 0))
    notes.push('no communication kernels or collectives in the analysed window');
  if (collectives && collectives.disjoint > 0) {
    notes.push(
      `${collectives.disjoint} collective(s) with the same sequence number do not overlap in time across ranks (sampled traces, clock skew or ranks from different runs): they are not joined, so no wait is computed for them`,
    );
  }
  if (collectives && collectives.unmatched > 0 && ranksPresent.length > 1) {
    notes.push(
      `${collectives.unmatched} collective(s) were not found on every rank of their process group (sampled traces, or ranks from different runs): their waits are computed among the ranks that have them`,
    );
  }
  const flops = attempt(notes, 'FLOP/s', () => flopsPerRank(model, views, info)) ?? [];
  const memory = attempt(notes, 'memory per rank', () => memoryPerRank(model, views)) ?? [];
  // Warm-up (pipelines compile, pools fill) is left out of every figure: the run records
  // which steps it was (trace/warmup.ts), else the same rule is applied to the trace's steps.
  const figures: RunFigures = attempt(notes, 'the run figures', () =>
    runFigures(model, views, memory, {
      includeLastStep,
      strategy: info.strategy,
      strategyOptions: info.strategyOptions as Record<string, unknown> | undefined,
    }),
  ) ?? { stepTimesNs: [], warmupSteps: [], warmupSource: 'rule', steadySteps: [] };
  if (figures.warmupSteps.length > 0) {
    notes.push(
      `warm-up: step${figures.warmupSteps.length > 1 ? 's' : ''} ${figures.warmupSteps.join(', ')} (${figures.warmupSource === 'rule' ? WARMUP_TEXT : 'as the run recorded it'}) left out of step time, exposed communication, bytes per step, stragglers and the replay`,
    );
  }
  const warmupSteps = figures.warmupSteps;
  const otherCores = otherProgramsCores(
    model,
    views.find((v) => v.rank === 0),
    figures.steadySteps,
  );
  const rank0 = views.find((v) => v.rank === 0);
  const otherWhileWaiting = otherProgramsCores(model, rank0, figures.steadySteps, OTHER_CPU_WAITING_COUNTER);
  const otherWhileWorking = otherProgramsCores(model, rank0, figures.steadySteps, OTHER_CPU_WORKING_COUNTER);
  const otherNote = otherProgramsNote(otherCores);
  if (otherNote) notes.push(otherNote);
  const pipeline = attempt(notes, 'the pipeline bubble', () =>
    pipelineBubbles(model, views, figures.steadySteps, {
      strategy: info.strategy,
      strategyOptions: info.strategyOptions as Record<string, unknown> | undefined,
    }),
  );
  const groups = attempt(notes, 'exposed communication per group', () =>
    groupExposures(
      model,
      views,
      new Set(figures.steadySteps),
      syncPeriodOf(info.strategy, info.strategyOptions as Record<string, unknown> | undefined),
    ),
  );
  const stragglers =
    collectives && ranks.length >= 2
      ? attempt(notes, 'stragglers', () =>
          findStragglers(collectives, ranks, STRAGGLER_RULE.thresholdFraction, warmupSteps),
        )
      : undefined;
  const cp =
    ranksPresent.length > 0 && views.some((v) => v.ops.length > 0)
      ? attempt(notes, 'the critical path', () => criticalPath(model, views, collectives?.instances ?? []))
      : undefined;
  let ctx: ReplayContext | undefined;
  let replay: Analysis['replay'];
  if (views.some((v) => v.ops.length > 0)) {
    ctx = attempt(notes, 'the what-if replay', () =>
      prepareReplay(model, {
        views,
        instances: collectives?.instances ?? [],
        figures,
        paramCount: settings?.paramCount.value ?? undefined,
        ...(otherCores !== undefined ? { otherProgramsCores: otherCores } : {}),
        ...(otherWhileWaiting !== undefined ? { otherProgramsWhileWaitingCores: otherWhileWaiting } : {}),
        ...(otherWhileWorking !== undefined ? { otherProgramsWhileWorkingCores: otherWhileWorking } : {}),
        ...(otherWhileWaiting !== undefined ? { otherWhileWaitingCores: otherWhileWaiting } : {}),
        ...(settings?.layout?.value
          ? {
              modelParallelGroups: new Set(settings.layout.value.modelParallelGroups),
              dataParallelSize: settings.layout.value.dp,
            }
          : {}),
      }),
    );
    if (ctx) {
      const base: WhatIfResult | undefined = attempt(notes, 'the baseline replay', () =>
        whatIfOn(ctx as ReplayContext, {}),
      );
      notes.push(...ctx.notes);
      if (base)
        replay = {
          step: ctx.graph.step,
          measuredStepNs: ctx.graph.measuredStepNs,
          replayedStepNs: ctx.baseReplay.stepTimeNs,
          ...chainedOf(ctx as ReplayContext),
          calibrationErrorPct: base.replay.calibrationErrorPct,
          linkName: ctx.link.name,
          linkGBps: ctx.link.bytesPerNs,
          components: replayedComponents(ctx as ReplayContext),
        };
    }
  }
  const pytorchJob = model.meta.format === 'kineto' ? torchJobOf(model) : undefined;
  const advice = collectives
    ? (attempt(notes, 'suggestions', () =>
        advise({
          ctx,
          ranks,
          collectives: collectives as CollectiveMetrics,
          stragglers: stragglers ?? { ranks: [], stragglers: [], computeImbalance: 1, totalWaitNs: 0 },
          linkPeakGBps,
          pytorch: model.meta.format === 'kineto',
          settings,
          checkRunConfig: opts.checkRunConfig,
        }),
      ) ?? { suggestions: [], diagnoses: [] })
    : { suggestions: [], diagnoses: [] };
  if (advice.uncheckedBecause)
    notes.push(
      `the run's own config does not pass the runtime's check now (${advice.uncheckedBecause.join('; ')}): its suggestions are not checked, and no layouts are compared`,
    );
  for (const r of advice.refused ?? [])
    notes.push(`suggestion ${r.id} left out: the runtime would refuse its config (${r.problems.join('; ')})`);
  return {
    schemaVersion: ANALYSIS_SCHEMA_VERSION,
    source: {
      format: model.meta.format,
      worldSize,
      ranksPresent,
      strategy: info.strategy,
      ...(views.some((v) => v.cpuTimeline)
        ? { cpuTimelineRanks: views.filter((v) => v.cpuTimeline).map((v) => v.rank) }
        : {}),
      ...(pytorchJob ? { pytorchJob } : {}),
      ...(otherCores !== undefined ? { otherProgramsCores: otherCores } : {}),
      ...(otherWhileWaiting !== undefined ? { otherProgramsWhileWaitingCores: otherWhileWaiting } : {}),
      ...(otherWhileWorking !== undefined ? { otherProgramsWhileWorkingCores: otherWhileWorking } : {}),
    },
    options: { includeLastStep, linkPeakGBps: opts.linkPeakGBps },
    ranks,
    kernelTypeTotalsNs: sumKernelTypes(ranks),
    figures,
    collectives,
    ...(pipeline && pipeline.length > 0 ? { pipeline } : {}),
    ...(groups && hasLayoutGroups(groups) ? { groups } : {}),
    stragglers,
    slowLinks: collectives ? findSlowLinks(collectives) : undefined,
    criticalPath: cp,
    flops,
    memory,
    replay,
    ...(settings ? { settings } : {}),
    suggestions: advice.suggestions,
    diagnoses: advice.diagnoses,
    notes: [...new Set(notes)],
  };
}

/** Notes when ranks disagree on their steps (different numbers, or different analysed steps). */
function stepAlignmentNotes(views: RankView[], notes: string[]): void {
  if (views.length < 2) return;
  const sets = views.map((v) => v.analysedSteps.map((s) => s.step).join(','));
  if (new Set(sets).size > 1) {
    notes.push(
      `the ranks' steps do not line up (${views.map((v) => `rank ${v.rank}: ${v.analysedSteps.map((s) => s.step).join(', ') || 'none'}`).join('; ')}): per-step comparisons and the critical path use the steps all ranks share`,
    );
  }
}

/** A CommLens run's chained replay of its steps (analysis.replay.chainedStepNs), when there is one. */
function chainedOf(ctx: ReplayContext): { chainedStepNs?: number; replayedSteps?: number[] } {
  const ns = chainedBaselineNs(ctx);
  if (ns === undefined) return {};
  const steps = ctx.graphs.map((g) => g.step).filter((s): s is number => s !== undefined);
  return { chainedStepNs: ns, ...(steps.length > 0 ? { replayedSteps: steps } : {}) };
}
