/**
 * Messages between the coordinator (main thread) and the rank workers. Internal to the
 * runtime; the outside world sees only cli/protocol.ts.
 */
import type { RunConfig } from './config';

/** A span recorded on a rank, on the shared host clock (hostNowNs). */
export interface RankSpan {
  stream: 'compute' | 'communication' | 'staging' | 'host' | 'wait';
  category: 'kernel' | 'collective' | 'staging' | 'wait' | 'step' | 'host';
  name: string;
  startNs: number;
  endNs: number;
  args?: Record<string, string | number | boolean>;
  /** A track of its own in the rank's process (a named process group's collectives); default: the stream's. */
  track?: string;
}

export interface RankInit {
  rank: number;
  worldSize: number;
  config: RunConfig;
  /** Structured-cloneable world state of runtime/comm (SharedArrayBuffers). */
  world: unknown;
  /** When false, nothing is recorded (no GPU timestamps, no spans): the baseline of the tracing-overhead benchmark. */
  tracing: boolean;
}

export interface RankReady {
  type: 'ready';
  rank: number;
  adapter: string;
  paramCount: number;
  flopsPerStep: number;
  calibrationErrorNs: number;
  layers: { name: string; paramOffset: number; paramCount: number }[];
}

export interface RankStep {
  type: 'step';
  rank: number;
  step: number;
  loss: number;
  startNs: number;
  endNs: number;
  spans: RankSpan[];
  /**
   * Σ buffer bytes (nccl-tests' S) of this rank's collectives in the step, receives included:
   * the run's "bytes per step" figure (analysis/runFigures.ts), as the replay and PyTorch
   * traces count it.
   */
  bytes: number;
  /** Bytes this rank put on the wire during the step: S × the nccl-tests bus factor, sends only. */
  wireBytes: number;
  memory: { parameters: number; gradients: number; optimizerState: number; activations: number; communication: number };
  /**
   * CPU time of the whole process during the step (process.cpuUsage: every thread, user +
   * system), ns: on a software GPU the kernels' own threads too. Absent in runs before 2026-12-06.
   */
  processCpuNs?: number;
  /**
   * CPU time of the whole machine during the step (os.cpus(): every core's user, nice, system and
   * irq time; Linux counts it in 10 ms ticks), ns, on rank 0 only: less processCpuNs, what the
   * machine's other programs took. Absent in runs before 2026-12-06 (evening).
   */
  machineCpuNs?: number;
  /**
   * On rank 0, on a software GPU: the wall time the rank was blocked on its collectives during the step (the `wait …`
   * spans, overlaps once) and the machine's and the process's CPU time meanwhile, ns
   * (runtime/hostCpu.ts BlockedMeter). Absent in runs before 2026-12-06 (night).
   */
  blockedCpu?: { wallNs: number; machineNs: number; processNs: number };
  /** The strategy's own per-step values (expert parallelism: tokens per expert), one counter track each. */
  counters?: { name: string; unit: string; value: number }[];
}

export interface RankDone {
  type: 'done';
  rank: number;
  pool: { hits: number; misses: number; bytes: number };
  /** The strategy's notes (Strategy.notes), when it has any. */
  notes?: string[];
}

export interface RankError {
  type: 'error';
  rank: number;
  message: string;
  stack?: string;
  /** True when this rank stopped only because another rank (or the coordinator) aborted the world. */
  aborted?: boolean;
}

export type RankMessage = RankReady | RankStep | RankDone | RankError;
