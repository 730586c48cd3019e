/**
 * summary.json of a CommLens run: what happened, in numbers, with a versioned schema
 * (docs/summary-schema.md). Everything here is measured in the run it describes.
 */
import type { RunConfig } from './config';
import type { RunOutcome } from './coordinator';
import { median } from '../trace/stats';
import { finalDrainStepsOf, steadyStepTime, syncPeriodOf, warmupStepCount } from '../trace/warmup';
import { SUMMARY_SCHEMA_VERSION } from '../trace/summary';

export { SUMMARY_SCHEMA_VERSION };

export interface RunSummary {
  schemaVersion: number;
  runId: string;
  /**
   * 'running': written after every finished step while the run goes on; a summary that
   * still says so belongs to a run in progress, or to one whose processes were all killed.
   */
  status: 'running' | 'completed' | 'cancelled' | 'failed';
  /** Why the run failed; `signal` when the runtime process died of one (see cli/supervisor.ts). */
  error?: { rank?: number; message: string; signal?: string };
  /** Why a cancelled run stopped, with the step it had reached ("cancelled by SIGTERM after step 5 of 20"). */
  cancelReason?: string;
  /**
   * The processes running it (pid, start time): a 'running' summary whose processes are all
   * gone belongs to an interrupted run (runtime/lifeline.ts, runLiveness).
   */
  processes?: { pid: number; startTime?: string; role?: string }[];
  createdAt: string;
  config: RunConfig;
  adapter: string;
  worldSize: number;
  stepsCompleted: number;
  paramCount: number;
  /** Loss per finished step, mean across ranks. */
  loss: number[];
  /** Wall time of each finished step across all ranks (ns). */
  stepTimeNs: number[];
  /**
   * The steps that are warm-up (pipeline compilation, first allocations), by the rule of
   * trace/warmup.ts: left out of every statistic. The analysis stored below uses the same set.
   */
  warmupSteps: number[];
  /** Median of stepTimeNs over the steady-state steps (all but warmupSteps). */
  medianStepTimeNs: number;
  /**
   * The run's step time (docs/figures.md): medianStepTimeNs, or for a strategy that
   * synchronises every H steps the mean over the last whole periods. The analysis below
   * computes the same figure from the trace (analysis.figures.stepTimeNs), the authority.
   */
  steadyStepTimeNs: number;
  /** How steadyStepTimeNs was taken, in words. */
  steadyStepTimeBasis: string;
  flopsPerStepPerRank: number;
  /** Achieved model FLOP/s per rank: flopsPerStepPerRank / median step time. */
  achievedFlopsPerRank: number;
  /** achievedFlopsPerRank / peak, when a peak is known (config.peakFlops). */
  mfu?: number;
  /**
   * Per rank, Σ buffer bytes of its collectives per step (median over the steady-state steps):
   * the "bytes per step" figure (analysis/runFigures.ts) before the largest over ranks.
   * Absent in summaries written before 2026-12-05.
   */
  bytesPerStepPerRank?: number[];
  /** Bytes each rank put on the wire per step (S × the bus factor, sends only; median over the steady-state steps). */
  wireBytesPerStepPerRank: number[];
  /** Largest memory footprint per rank by kind (bytes). */
  memoryPerRank: {
    parameters: number;
    gradients: number;
    optimizerState: number;
    activations: number;
    communication: number;
  }[];
  bufferPool: { hits: number; misses: number; hitRate: number };
  /** Bound of the GPU→host clock mapping (ns), worst over ranks. */
  clockCalibrationErrorNs: number;
  wallTimeNs: number;
  tracePath: string;
  /**
   * What the strategy decided during the run, from rank 0 (1-bit Adam: the step its
   * variance froze at, and why). Absent when it decided nothing worth saying.
   */
  strategyNotes?: string[];
  /** Analysis results (breakdown, suggestions), when the analysis ran. */
  analysis?: unknown;
}

/** `running`: a checkpoint of a run still going on (status 'running'). */
export function buildSummary(
  runId: string,
  config: RunConfig,
  o: Omit<RunOutcome, 'trace'>,
  running = false,
): RunSummary {
  const steps = [...o.steps].sort((a, b) => a.step - b.step);
  const stepTimes = steps.map((s) => s.stepTimeNs);
  const warmup = warmupStepCount(stepTimes);
  const medianStepTimeNs = median(stepTimes.slice(warmup));
  const steady = steadyStepTime(
    stepTimes.slice(warmup),
    syncPeriodOf(config.strategy, config.strategyOptions as Record<string, unknown> | undefined),
    finalDrainStepsOf(config.strategy, config.strategyOptions as Record<string, unknown> | undefined),
  );
  const ready0 = o.ready[0];
  const flops = ready0?.flopsPerStep ?? 0;
  const achieved = medianStepTimeNs > 0 ? flops / (medianStepTimeNs / 1e9) : 0;
  const hits = o.done.reduce((a, d) => a + d.pool.hits, 0);
  const misses = o.done.reduce((a, d) => a + d.pool.misses, 0);
  const memoryPerRank = Array.from({ length: config.worldSize }, () => ({
    parameters: 0,
    gradients: 0,
    optimizerState: 0,
    activations: 0,
    communication: 0,
  }));
  const bytes: number[][] = Array.from({ length: config.worldSize }, () => []);
  const wire: number[][] = Array.from({ length: config.worldSize }, () => []);
  steps.forEach((s, i) => {
    for (const r of s.perRank) {
      const m = memoryPerRank[r.rank];
      for (const k of Object.keys(m) as (keyof typeof m)[]) m[k] = Math.max(m[k], r.memory[k]);
      if (i >= warmup || steps.length <= warmup) {
        bytes[r.rank].push(r.bytes);
        wire[r.rank].push(r.wireBytes);
      }
    }
  });
  const strategyNotes = o.done.find((d) => d.rank === 0)?.notes;
  const status = running ? 'running' : o.failure ? (o.failure.cancelled ? 'cancelled' : 'failed') : 'completed';
  return {
    schemaVersion: SUMMARY_SCHEMA_VERSION,
    runId,
    status,
    ...(o.failure && !o.failure.cancelled ? { error: { rank: o.failure.rank, message: o.failure.message } } : {}),
    ...(o.failure?.cancelled && !running ? { cancelReason: o.failure.message } : {}),
    createdAt: new Date().toISOString(),
    config,
    adapter: ready0?.adapter ?? 'unknown',
    worldSize: config.worldSize,
    stepsCompleted: steps.length,
    paramCount: ready0?.paramCount ?? 0,
    loss: steps.map((s) => s.meanLoss),
    stepTimeNs: stepTimes,
    warmupSteps: steps.slice(0, warmup).map((s) => s.step),
    medianStepTimeNs,
    steadyStepTimeNs: steady.value,
    steadyStepTimeBasis: steady.basis,
    flopsPerStepPerRank: flops,
    achievedFlopsPerRank: achieved,
    ...(config.peakFlops ? { mfu: achieved / config.peakFlops } : {}),
    bytesPerStepPerRank: bytes.map(median),
    wireBytesPerStepPerRank: wire.map(median),
    memoryPerRank,
    bufferPool: { hits, misses, hitRate: hits + misses > 0 ? hits / (hits + misses) : 0 },
    clockCalibrationErrorNs: Math.max(0, ...o.ready.map((r) => r.calibrationErrorNs)),
    wallTimeNs: o.wallNs,
    tracePath: o.tracePath,
    ...(strategyNotes?.length ? { strategyNotes } : {}),
  };
}
