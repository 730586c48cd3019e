/**
 * What every strategy implements, and what it is given. Kept apart from index.ts so the
 * strategy files can import it without a cycle.
 */
import type { Trainer } from '../engine';
import type { Communicator } from '../comm';
import type { RankSpan } from '../rankMessages';

export interface StrategyContext {
  comm: Communicator;
  device: GPUDevice;
  trainer: Trainer;
  /** Receives the strategy's own spans (encode/decode, staging, host optimizer) for the trace. */
  onSpan?: (span: RankSpan) => void;
}

/** Memory of one rank by kind, in bytes (the rank's memory counters). */
export interface MemoryBytes {
  parameters: number;
  gradients: number;
  optimizerState: number;
  activations: number;
  communication: number;
}

/** A per-step value a strategy reports, drawn as a counter track of its own in the rank's process. */
export interface StepCounter {
  name: string;
  unit: string;
  value: number;
}

export interface Strategy {
  readonly id: string;
  /** Runs before the step's forward (ZeRO-3 gathers the parameters it sharded). */
  beforeForward?(step: number): Promise<void>;
  /** Runs the forward pass in place of `trainer.forward()` (Ulysses exchanges data inside it). */
  forward?(step: number): Promise<void>;
  /** Runs backward and the gradient exchange; resolves when gradients are ready for the optimizer. */
  backwardAndExchange(step: number): Promise<void>;
  optimizerStep(step: number): Promise<void>;
  /** The step's loss to report, when a rank's own (trainer.loss()) is only part of it (Ulysses: a sequence shard's). */
  loss?(): Promise<number>;
  /** Values of the step just run for counter tracks of the strategy's own (expert parallelism: tokens per expert). */
  counters?(): StepCounter[];
  /** Bytes held in communication buffers on this rank (for the memory counters). */
  commBufferBytes(): number;
  /**
   * This rank's memory under the strategy, from the engine's own counters: the model
   * states the strategy keeps (sharded or not) replace the engine's full-size ones.
   */
  memory?(engine: MemoryBytes): MemoryBytes;
  /** What the strategy decided during the run that a user should read (1-bit Adam: when its variance froze). */
  notes?(): string[];
  /** The parameters this rank would train on next, in the flat layout (for tests and debugging). */
  readParameters?(): Promise<Float32Array>;
  destroy?(): void;
}
