/**
 * The per-rank figures' types, in a file of their own: the rank view (rankView.ts) carries a
 * digested rank's figures (rankDigest.ts), and the modules that compute them read rank views,
 * so their types live here, where both can name them without a cycle. Each module re-exports
 * the types it computes.
 */

export interface TemporalBreakdown {
  /** Last op end − first op start. */
  spanNs: number;
  /** span − |∪ all ops|: time no GPU op runs. */
  idleNs: number;
  /** |∪ computation ops|. */
  computeNs: number;
  /** span − idle − compute: time only communication / memory ops run. */
  nonComputeNs: number;
  idlePct: number;
  computePct: number;
  nonComputePct: number;
}

export interface CommCompOverlap {
  /** |∪ communication ops|. */
  commNs: number;
  /** |∪ computation ∩ ∪ communication|. */
  overlapNs: number;
  /** 100 · overlap / comm (HTA `get_comm_comp_overlap`); 0 when there is no communication. */
  overlapPct: number;
  /** Communication not hidden under computation: comm − overlap. */
  exposedCommNs: number;
}

export interface StreamIdle {
  track: number;
  /** The stream's id in the source (CUDA stream 7), or the track name. */
  stream: number | string;
  hostWaitNs: number;
  kernelWaitNs: number;
  otherNs: number;
  hostWaitRatio: number;
  kernelWaitRatio: number;
  otherRatio: number;
}

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

/** A rank's FLOPs from its own ops (kernels, else CPU ops that carry `flops`) and the time they took; undefined without time. */
export interface RankFlopsBase {
  flops: number;
  source: 'kernels' | 'cpu_ops';
  timeNs: number;
  /** Analysed steps (for flopsPerStep × steps from the run config). */
  steps: number;
}

export interface MemoryKind {
  /** The counter's name (`params`, `grads`, `optimizer`, `activations`, `memory allocated (gpu0)`...). */
  kind: string;
  peakBytes: number;
  lastBytes: number;
}

export interface RankMemory {
  rank: number;
  kinds: MemoryKind[];
  /** Peak over time of the kinds' sum (each kind holds its last value between samples), or of a `total` counter. */
  peakBytes: number;
}

/** A stage's forward/backward compute in one step: the first start, the last end and |∪ its kernels|. */
export interface StageCompute {
  startNs: number;
  endNs: number;
  computeNs: number;
}

/** How many gradient all-reduce launchers a window has, and how many of them a cast and a division came right before. */
export interface CastCount {
  launchers: number;
  withCast: number;
}

/** What a digested rank carries on the main thread (RankView.partial.digest). */
export interface RankDigest {
  metrics: RankMetrics;
  flops?: RankFlopsBase;
  memory?: RankMemory;
  /** group → step → [exposed, comm, ops] (groupExposure.ts rankGroupSteps). */
  groupSteps: Map<string, Map<number, [number, number, number]>>;
  /** step → the stage's forward/backward compute (pipelineBubble.ts rankPipelineSteps); empty outside pipelines. */
  pipelineSteps: Map<number, StageCompute>;
  /** step (undefined: the whole trace) → the compress hook's casts (jobSettings.ts castsBeforeAllReduces). */
  casts: Map<number | undefined, CastCount>;
  /** Which of jobSettings.ts NAME_SIGNS the rank's slice names match. */
  names: boolean[];
  /** Analysed step → its exposed communication (the metrics' own). */
  exposedByStep: Map<number, number>;
}
