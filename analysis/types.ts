/**
 * The Analysis object: everything the analysis finds in one trace (analysis/SCHEMA.md
 * documents it field by field). Its own module so that the report, the CLI and the
 * extension can name it without importing the analysis' entry point.
 */
import type { TraceModel } from '../trace/model';
import type { RankMetrics } from './rankMetrics';
import type { CollectiveMetrics } from './collectives';
import type { StragglerReport } from './stragglers';
import type { SlowLinkSummary } from './rankSummary';
import type { CriticalPath } from './criticalPath';
import type { RankFlops, RankMemory } from './computeStats';
import type { Suggestion } from './advisor/advisor';
import type { RunFigures } from './runFigures';
import type { JobSettings } from './jobSettings';
import type { TorchJobRecord } from '../trace/torchJob';
import type { PipelineBubble } from './pipelineBubble';
import type { GroupExposure } from './groupExposure';
import type { StepComponents } from './replay/simulate';

/** Version of the Analysis object's schema (analysis/SCHEMA.md); bump on breaking changes. */
export const ANALYSIS_SCHEMA_VERSION = 3;

export interface AnalysisOptions {
  /** Analyse the last step too (HTA leaves it out by default because it is often cut short). */
  includeLastStep?: boolean;
  /** Peak bandwidth of the link in GB/s (= bytes/ns), for busbw / peak; else the run's link profile. */
  linkPeakGBps?: number;
  /**
   * The runtime's check of a whole run config (problems, [] when it runs), which the CLI
   * passes in (analysis cannot import the runtime): layout suggestions need it.
   */
  checkRunConfig?: (config: Record<string, unknown>) => string[];
}

export interface Analysis {
  schemaVersion: number;
  source: {
    format: TraceModel['meta']['format'];
    worldSize?: number;
    ranksPresent: number[];
    strategy?: string;
    /** Ranks without GPU activity, analysed on their CPU timeline (CPU collectives, aten:: ops); absent when none. */
    cpuTimelineRanks?: number[];
    /** What the commlens_torch helper recorded of a PyTorch job (its DDP settings, the change applied from COMMLENS_APPLY); absent otherwise. */
    pytorchJob?: TorchJobRecord;
    /**
     * Cores the machine's other programs used while a CommLens run was measured, the median over
     * the steady steps (analysis/otherPrograms.ts); absent without the run's counter (runs before
     * 2026-12-06 evening, imported traces).
     */
    otherProgramsCores?: number;
    /**
     * The same over the part of each step rank 0 was blocked on its collectives, and over the
     * rest (trace/runCounters.ts OTHER_CPU_WAITING_COUNTER, OTHER_CPU_WORKING_COUNTER), medians
     * over the steady steps that have a sample; absent in runs before 2026-12-06 (night).
     */
    otherProgramsWhileWaitingCores?: number;
    otherProgramsWhileWorkingCores?: number;
  };
  options: { includeLastStep: boolean; linkPeakGBps?: number };
  /**
   * The run's headline figures (step time, exposed communication, bytes per step, peak
   * memory) over the steady-state steps, and which steps were warm-up (analysis/runFigures.ts,
   * docs/figures.md): what every surface shows.
   */
  figures: RunFigures;
  ranks: RankMetrics[];
  /** Kernel-type time summed over all ranks (HTA's pie chart). */
  kernelTypeTotalsNs: Record<string, number>;
  collectives?: CollectiveMetrics;
  /**
   * Each pipeline's bubble over the steady steps: per stage and step, the time its compute
   * stream is idle inside the pipeline's flush-to-flush window (analysis/pipelineBubble.ts,
   * docs/figures.md), beside the schedule's (p−1)/(m+p−1); absent without pp groups.
   */
  pipeline?: PipelineBubble[];
  /**
   * Exposed communication per process group over the steady steps, largest first
   * (analysis/groupExposure.ts, docs/figures.md); absent unless some group is not the whole
   * world (a layout's tp, dp, pp, ep or cp groups, or an imported job's sub-groups).
   */
  groups?: GroupExposure[];
  stragglers?: StragglerReport;
  /**
   * Process groups that move data at well under the others' bandwidth, and the ranks several
   * of them share (analysis/rankSummary.ts findSlowLinks); undefined under 3 groups with
   * collectives of 1 MiB or more.
   */
  slowLinks?: SlowLinkSummary;
  criticalPath?: CriticalPath;
  flops: RankFlops[];
  memory: RankMemory[];
  /** The replay of the unchanged step (its error against the measured step shows how far to trust predictions). */
  replay?: {
    step?: number;
    measuredStepNs: number;
    replayedStepNs: number;
    /**
     * A CommLens run: its replayed steps (`replayedSteps`) chained one after another, each rank
     * starting a step where it ended the last (replay/simulate.ts chainReplay): the step time
     * predictions move from; calibrationErrorPct is then its error against the run's step time.
     */
    chainedStepNs?: number;
    replayedSteps?: number[];
    /** The replay's error: the chained steps against the run's step time, else the step's replay against its measured span. */
    calibrationErrorPct: number;
    linkName?: string;
    linkGBps: number;
    /**
     * The replayed steps' components, median over them (replay/whatIf.ts replayedComponents):
     * the step decomposed as a prediction decomposes a changed one (suggestion.predicted.components).
     */
    components?: StepComponents;
  };
  /**
   * An imported PyTorch job's current settings read from its trace (analysis/jobSettings.ts),
   * each with its evidence and confidence; absent for CommLens, Perfetto and Chrome JSON traces.
   */
  settings?: JobSettings;
  /** Config changes worth making (advisor WORTHWHILE), ranked by predicted step-time gain, best first. */
  suggestions: Suggestion[];
  /** Diagnoses: findings with no config change (stragglers, imbalance, a slow link, a host-bound GPU), largest cost first. */
  diagnoses: Suggestion[];
  /** What could not be computed and why, and importer warnings. */
  notes: string[];
}
