/**
 * Synthetic language tasks for gpt-mini, generated from (seed, rank, step) so no data set
 * is downloaded and every rank gets its own shard. Each sequence has seqLen + 1 tokens;
 * the model reads tokens [0, seqLen) and predicts [1, seqLen]; only the answer positions
 * count in the loss (label −1 elsewhere), with weights averaging over them.
 *
 * Token 0 pads, token 1 separates; content tokens are 2..vocab−1.
 *  - copy:    x₁..x_k SEP x₁..x_k        (k = ⌊seqLen/2⌋)
 *  - reverse: x₁..x_k SEP x_k..x₁
 *  - modadd:  repeated [a, b, '=', (a+b) mod p] with p = vocab − 1 and '=' = token p;
 *             the answer c is counted.
 */
import { Rng, mixSeed } from '../random';
import type { GptTask } from '../config';

export interface TokenBatch {
  tokens: Int32Array;
  labels: Int32Array;
  weights: Float32Array;
  /** Positions counted in the loss. */
  counted: number;
}

export function makeTaskBatch(
  task: GptTask,
  vocab: number,
  seqLen: number,
  batch: number,
  seed: number,
  rank: number,
  step: number,
): TokenBatch {
  const rng = new Rng(mixSeed(seed, rank, step, 0x677074));
  const tokens = new Int32Array(batch * seqLen);
  const labels = new Int32Array(batch * seqLen).fill(-1);
  const seq = new Int32Array(seqLen + 1);
  const answer = new Uint8Array(seqLen + 1);
  let counted = 0;
  for (let b = 0; b < batch; b++) {
    seq.fill(0);
    answer.fill(0);
    if (task === 'modadd') {
      const p = vocab - 1;
      for (let q = 0; 4 * q + 3 <= seqLen; q++) {
        const a = rng.int(p);
        const c = rng.int(p);
        seq.set([a, c, p, (a + c) % p], 4 * q);
        answer[4 * q + 3] = 1;
      }
    } else {
      const k = Math.floor(seqLen / 2);
      for (let i = 0; i < k; i++) seq[i] = 2 + rng.int(vocab - 2);
      seq[k] = 1;
      for (let i = 0; i < k; i++) {
        seq[k + 1 + i] = task === 'copy' ? seq[i] : seq[k - 1 - i];
        answer[k + 1 + i] = 1;
      }
    }
    for (let t = 0; t < seqLen; t++) {
      tokens[b * seqLen + t] = seq[t];
      if (answer[t + 1]) {
        labels[b * seqLen + t] = seq[t + 1];
        counted++;
      }
    }
  }
  const weights = new Float32Array(batch * seqLen);
  for (let i = 0; i < labels.length; i++) if (labels[i] >= 0) weights[i] = 1 / counted;
  return { tokens, labels, weights, counted };
}
