/**
 * summary.json of an external (PyTorch) run: the user's own command, profiled with
 * commlens_torch, its per-rank traces imported. The same shape as a CommLens run's
 * (runtime/summary.ts, docs/summary-schema.md) where the two share a meaning: status,
 * world size, every step's wall time, the warm-up steps, the step time and its basis, and
 * the analysis (with its figures: analysis/runFigures.ts), so that the runs view, Compare
 * Runs and verify read an external run's figures as they read a CommLens run's. What only
 * a CommLens run has (its config, loss, the adapter) is not made up.
 */
import { SUMMARY_SCHEMA_VERSION } from '../trace/summary';
import { median } from '../trace/stats';
import type { Analysis } from './types';

export interface ExternalRunSummary {
  schemaVersion: number;
  runId: string;
  /** Where the run came from: always 'external' here (CommLens runs have `config` instead). */
  source: { kind: 'external'; command: string; cwd: string };
  /** `completed` (the command exited 0), `failed` (it exited otherwise) or `cancelled` (interrupted). */
  status: 'completed' | 'failed' | 'cancelled';
  /** Why it did not complete: the command's exit code or signal. */
  error?: { message: string; exitCode?: number; signal?: string };
  createdAt: string;
  /** The command as the user gave it (also in `source`). */
  command: string;
  worldSize: number;
  /** Steps every rank finished, in the traces (the profiler's active steps). */
  stepsCompleted: number;
  /** The step number of each entry of stepTimeNs (a profiler window starts anywhere). */
  steps: number[];
  /** Wall time of each step across ranks (ns), in step order: analysis.figures.stepTimesNs. */
  stepTimeNs: number[];
  /** Warm-up steps left out of every figure (trace/warmup.ts), by step number. */
  warmupSteps: number[];
  /** Median step wall time over the steady-state steps. */
  medianStepTimeNs: number;
  /** The run's step time (docs/figures.md) and how it was taken: analysis.figures. */
  steadyStepTimeNs?: number;
  steadyStepTimeBasis?: string;
  /** The imported trace files, relative to the run folder when inside it. */
  traceFiles: string[];
  /** The analysis of the traces (analysis/index.ts `Analysis`). */
  analysis: Analysis;
}

export interface ExternalRunFacts {
  runId: string;
  command: string;
  cwd: string;
  exitCode: number | null;
  signal: string | null;
  traceFiles: string[];
  createdAt?: string;
}

/** Builds the summary of an external run from how its command ended and the analysis of its traces. */
export function externalRunSummary(facts: ExternalRunFacts, analysis: Analysis): ExternalRunSummary {
  const f = analysis.figures;
  const steady = new Set(f.steadySteps);
  const status: ExternalRunSummary['status'] =
    facts.exitCode === 0 ? 'completed' : facts.signal ? 'cancelled' : 'failed';
  const how = facts.signal
    ? `the command was stopped by ${facts.signal}`
    : `the command exited with code ${facts.exitCode ?? 'none'}`;
  return {
    schemaVersion: SUMMARY_SCHEMA_VERSION,
    runId: facts.runId,
    source: { kind: 'external', command: facts.command, cwd: facts.cwd },
    status,
    ...(status !== 'completed'
      ? {
          error: {
            message: `${how}; the traces it wrote are analysed`,
            ...(facts.exitCode !== null ? { exitCode: facts.exitCode } : {}),
            ...(facts.signal ? { signal: facts.signal } : {}),
          },
        }
      : {}),
    createdAt: facts.createdAt ?? new Date().toISOString(),
    command: facts.command,
    worldSize: analysis.source.worldSize ?? analysis.source.ranksPresent.length,
    stepsCompleted: f.stepTimesNs.length,
    steps: f.stepTimesNs.map((s) => s.step),
    stepTimeNs: f.stepTimesNs.map((s) => s.timeNs),
    warmupSteps: f.warmupSteps,
    medianStepTimeNs: median(f.stepTimesNs.filter((s) => steady.has(s.step)).map((s) => s.timeNs)),
    ...(f.stepTimeNs !== undefined ? { steadyStepTimeNs: f.stepTimeNs } : {}),
    ...(f.stepTimeBasis !== undefined ? { steadyStepTimeBasis: f.stepTimeBasis } : {}),
    traceFiles: facts.traceFiles,
    analysis,
  };
}
