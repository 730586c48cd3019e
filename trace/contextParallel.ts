/**
 * What the two ways of splitting attention over the sequence that CommLens runs put on the
 * wire, per attention layer and training step (forward and backward), for each rank of a
 * group of P ranks sharing sequences of N tokens in all (batch × seqLen) of width h:
 *
 *  - Ulysses (DeepSpeed-Ulysses): an all-to-all of Q, K, V (3·N·h/P elements per rank)
 *    before attention and of its output (N·h/P) after, and the same pair backward; of each
 *    all-to-all's buffer, (P−1)/P leaves the rank. 4 all-to-alls of P−1 messages each.
 *  - Ring attention: forward, P−1 passes of a key/value block (2·N·h/P); backward, P−1 passes
 *    again and P of the block's dK/dV (the last one takes it home): (3P−2)·2·N·h/P, in 3P−2
 *    messages. Each pass can hide under a block's attention compute.
 *
 * At P = 2 the ring sends twice Ulysses' bytes; as P grows Ulysses' bytes per rank fall as
 * 1/P while the ring's approach 6·N·h, but the ring needs no head count divisible by P and
 * overlaps its passes with compute. The runtime's traces carry exactly these bytes (the
 * strategies' integration tests check them); the what-if replay can price both from here.
 */

export type ContextParallelMethod = 'ulysses' | 'ring';

export interface ContextParallelShape {
  /** Sequences per step of the group (model.batchSize). */
  batch: number;
  /** Tokens per sequence (model.seqLen), split over the group. */
  seqLen: number;
  /** Model width h (model.dModel). */
  hidden: number;
  /** P: ranks sharing each sequence. */
  degree: number;
  /** Bytes per activation element (4: f32). */
  elementBytes?: number;
}

export interface ContextParallelTraffic {
  /** Bytes this rank sends per attention layer and step (forward + backward). */
  bytesPerLayer: number;
  /** Messages this rank sends per attention layer and step (each pays the link's latency). */
  messagesPerLayer: number;
}

/** Per-rank traffic of `method` per attention layer and step; none on one rank. */
export function contextParallelTraffic(method: ContextParallelMethod, s: ContextParallelShape): ContextParallelTraffic {
  const { batch, seqLen, hidden, degree: P } = s;
  const e = s.elementBytes ?? 4;
  for (const [k, v] of Object.entries({ batch, seqLen, hidden, degree: P, elementBytes: e }))
    if (!Number.isInteger(v) || v < 1)
      throw new Error(`context-parallel traffic: ${k} must be a positive integer, got ${v}`);
  if (seqLen % P !== 0)
    throw new Error(`context-parallel traffic: seqLen ${seqLen} is not divisible by the degree ${P}`);
  if (P === 1) return { bytesPerLayer: 0, messagesPerLayer: 0 };
  /** N·h/P elements: one rank's shard of one of Q, K, V or the output. */
  const shard = (batch * seqLen * hidden) / P;
  if (method === 'ulysses') return { bytesPerLayer: (2 * 4 * shard * (P - 1) * e) / P, messagesPerLayer: 4 * (P - 1) };
  return { bytesPerLayer: (3 * P - 2) * 2 * shard * e, messagesPerLayer: 3 * P - 2 };
}
