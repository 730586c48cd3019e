/**
 * The definition of every metric, in words, for the UI (tooltips, the report) — the same
 * text as the doc comments of the functions that compute them.
 */
import { STRAGGLER_RULE } from './stragglers';

export interface MetricDefinition {
  /** Short label. */
  label: string;
  /** The definition. */
  text: string;
  /** Where the definition comes from. */
  source?: string;
}

const HTA = 'Holistic Trace Analysis';

/** Keyed by the field names of the Analysis object (analysis/SCHEMA.md). */
export const METRIC_DEFINITIONS: Record<string, MetricDefinition> = {
  window: {
    label: 'analysed window',
    text: 'GPU ops whose launch (the host runtime call with the same correlation id; for CommLens runs, the op itself) started before the last step began — or, with the last step included, by its end. The last step is left out by default because a profiler window usually cuts it short.',
    source: HTA,
  },
  spanNs: { label: 'kernel span', text: 'Last GPU op end − first GPU op start.', source: HTA },
  idleNs: {
    label: 'idle',
    text: 'Span − |union of all GPU ops|: time no kernel, copy or collective runs.',
    source: HTA,
  },
  computeNs: {
    label: 'compute',
    text: '|Union of computation kernels| (every kernel that is not communication or memory).',
    source: HTA,
  },
  nonComputeNs: {
    label: 'non-compute',
    text: 'Span − idle − compute: time only communication or memory ops run.',
    source: HTA,
  },
  overlapPct: {
    label: 'communication–computation overlap',
    text: '100 · |computation ∩ communication| / |communication|, over the unions of each class.',
    source: HTA,
  },
  exposedCommNs: {
    label: 'exposed communication',
    text: '|communication| − |computation ∩ communication|: communication no computation hides.',
  },
  kernelTypeNs: {
    label: 'kernel-type time',
    text: 'Time during which exactly a given combination of kernel classes (computation, communication, memory) runs; each class merged first.',
    source: HTA,
  },
  hostWaitNs: {
    label: 'host wait',
    text: 'Idle gaps on a stream where the next kernel was launched only after the previous one ended: the CPU did not enqueue work fast enough.',
    source: HTA,
  },
  kernelWaitNs: {
    label: 'kernel wait',
    text: 'Idle gaps under 30 µs between kernels that were already enqueued: launch overhead.',
    source: HTA,
  },
  otherNs: {
    label: 'other idle',
    text: 'Remaining idle gaps: waiting on another stream, a synchronisation or a peer.',
    source: HTA,
  },
  transferNs: {
    label: 'transfer',
    text: 'The time data actually moved: the shortest measured transfer of the i-th collective across the ranks that ran it (CommLens runs measure it per span), else its minimum duration.',
    source: 'PyTorch profiler distributed view',
  },
  waitNs: {
    label: 'synchronisation wait',
    text: "Time a rank spent in a collective while a peer had not yet arrived: measured per span by CommLens runs, else the rank's duration minus the transfer time.",
    source: 'PyTorch profiler distributed view',
  },
  algbwGBps: {
    label: 'algorithm bandwidth',
    text: 'Buffer bytes / transfer time, never over the wait (for reduce-scatter and all-gather, the whole array).',
    source: 'nccl-tests',
  },
  busbwGBps: {
    label: 'bus bandwidth',
    text: "algbw × 2(n−1)/n for all-reduce, × (n−1)/n for reduce-scatter, all-gather and all-to-all, × 1 otherwise: comparable to the link's peak.",
    source: 'nccl-tests',
  },
  stragglers: {
    label: 'straggler',
    text: `A rank that arrives last at more collectives than chance (a share above ${STRAGGLER_RULE.chanceFactor}/n of its collectives, at most ${STRAGGLER_RULE.maxShare * 100} %, and at least ${STRAGGLER_RULE.minLastArrivals} times) and whose lateness costs the other ranks, on average, at least ${STRAGGLER_RULE.thresholdFraction * 100} % of the analysed span; collectives of the warm-up step are left out. The last to arrive waits for no one, so it has the shortest duration; no clock alignment is needed.`,
  },
  computeImbalance: { label: 'compute imbalance', text: "Max / mean of the ranks' compute time (1 = balanced)." },
  criticalPath: {
    label: 'critical path',
    text: "Walked back from the op that ends the step last: each op's predecessor is the same rank's op that ended last before it started; a collective is entered through the rank that arrived last. Gaps are idle time on the path.",
  },
  achievedFlops: {
    label: 'achieved FLOP/s',
    text: 'FLOPs of the analysed steps (from the kernels, else PyTorch CPU ops with flops, else the config) / their duration.',
  },
  mfu: { label: 'MFU', text: "Achieved FLOP/s / the device's peak FLOP/s." },
  peakMemoryBytes: {
    label: 'peak memory',
    text: 'Per rank, the peak over time of the sum of its memory counters (parameters, gradients, optimizer state, activations, communication buffers).',
  },
  pipelineBubble: {
    label: 'pipeline bubble',
    text: "Per pipeline stage and step: the pipeline's window (first forward/backward kernel start to last forward/backward kernel end over all its stages) − |∪ the stage's forward/backward kernels in the step|: the time the stage's compute stream is idle while its pipeline computes; as a fraction of the window, beside the schedule's (p−1)/(m+p−1) for p stages and m micro-batches. The optimizer and the data-parallel exchange after the flush are outside the window.",
    source: 'GPipe (arXiv 1811.06965)',
  },
  groupExposedComm: {
    label: 'exposed communication per group',
    text: "Per process group (a collective's group as the trace names it, e.g. \"tp group 0 (ranks 0,1)\"), rank and steady-state step: |∪ the group's communication ops| − |that ∩ computation|; per step the mean over the group's ranks, over steps the same statistic as the step time. Two groups communicating at once both count that time, so the groups can add up to more than the run's exposed communication.",
    source: HTA,
  },
  bytesPerStep: {
    label: 'bytes per rank per step',
    text: "Σ buffer bytes of one rank's collectives per step (nccl-tests' S), receives included, as CommLens' \"bytes per step\" counter counts them; not the bytes on the wire (S × the bus factor).",
  },
  predicted: {
    label: 'predicted effect',
    text: "The step's dependency graph across ranks is replayed with and without the change; the measured step moves by the difference (for a CommLens run, the replayed steps chained one after another, each rank starting a step where it ended the last). calibrationErrorPct is the replay's own error on the unchanged steps.",
    source: 'dPRO-style replay',
  },
};
