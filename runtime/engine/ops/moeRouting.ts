/**
 * Mixture-of-experts routing on the host (no GPU): top-k gating with renormalised gates,
 * a fixed capacity per expert, and the backward of the gates.
 *
 * Rule (GShard's priority, arXiv 2006.16668): a token's k choices are its k most probable
 * experts (ties: the lower expert index first), gate_j = p_j / Σ_{top-k} p. Assignments
 * take an expert's slots in priority order: every token's first choice in token order,
 * then every token's second choice, and so on; an assignment that finds its expert's
 * `capacity` slots full is dropped (it contributes nothing; the token keeps its residual
 * and its other choices). The gates are not renormalised over the kept choices.
 */

/** Slots per expert for `tokens` tokens: ⌈capacityFactor · tokens · topK / experts⌉ (at least 1). */
export function expertCapacity(tokens: number, experts: number, topK: number, capacityFactor: number): number {
  return Math.max(1, Math.ceil((capacityFactor * tokens * topK) / experts - 1e-9));
}

export interface Routing {
  tokens: number;
  experts: number;
  topK: number;
  capacity: number;
  /** Per assignment a = t·topK + j (token t's j-th choice): its expert. */
  expert: Int32Array;
  /** … its renormalised gate. */
  gate: Float32Array;
  /** … its slot in the expert's buffer, or −1 when dropped over capacity. */
  slot: Int32Array;
  /** Per token: Σ of its top-k probabilities (the renormalisation). */
  topSum: Float32Array;
  /** Per expert: slot → assignment, −1 for an empty slot ([experts × capacity]). */
  slotAssignment: Int32Array;
  /** Per expert: assignments routed to it (before capacity). */
  routed: number[];
  /** Assignments dropped over capacity. */
  dropped: number;
}

/** Routes `tokens` tokens from their expert probabilities (`probs`: [tokens × experts], rows summing to 1). */
export function route(probs: Float32Array, tokens: number, experts: number, topK: number, capacity: number): Routing {
  if (probs.length !== tokens * experts)
    throw new Error(`moe routing: ${probs.length} probabilities, expected tokens ${tokens} × experts ${experts}`);
  if (!(Number.isInteger(topK) && topK >= 1 && topK <= experts))
    throw new Error(`moe routing: topK ${topK} must be an integer from 1 to experts ${experts}`);
  const A = tokens * topK;
  const expert = new Int32Array(A);
  const gate = new Float32Array(A);
  const slot = new Int32Array(A).fill(-1);
  const topSum = new Float32Array(tokens);
  const slotAssignment = new Int32Array(experts * capacity).fill(-1);
  const routed = new Array<number>(experts).fill(0);
  const chosen = new Uint8Array(experts);
  for (let t = 0; t < tokens; t++) {
    const row = t * experts;
    chosen.fill(0);
    let sum = 0;
    for (let j = 0; j < topK; j++) {
      let best = -1;
      for (let e = 0; e < experts; e++) if (!chosen[e] && (best < 0 || probs[row + e] > probs[row + best])) best = e;
      chosen[best] = 1;
      expert[t * topK + j] = best;
      sum += probs[row + best];
    }
    topSum[t] = sum;
    for (let j = 0; j < topK; j++) {
      const a = t * topK + j;
      gate[a] = probs[row + expert[a]] / sum;
      routed[expert[a]]++;
    }
  }
  const fill = new Array<number>(experts).fill(0);
  let dropped = 0;
  for (let j = 0; j < topK; j++) {
    for (let t = 0; t < tokens; t++) {
      const a = t * topK + j;
      const e = expert[a];
      if (fill[e] < capacity) {
        slot[a] = fill[e];
        slotAssignment[e * capacity + fill[e]] = a;
        fill[e]++;
      } else dropped++;
    }
  }
  return { tokens, experts, topK, capacity, expert, gate, slot, topSum, slotAssignment, routed, dropped };
}

/**
 * The gradient of the probabilities from the gates' (`dGate`, per assignment; dropped
 * assignments' entries are ignored as their gate was not used): gate_a = p_a / S over the
 * token's top-k, so dp_a = (dgate_a − Σ_b dgate_b · gate_b) / S for its top-k experts and 0
 * for the others. Returns [tokens × experts].
 */
export function gateBackward(r: Routing, dGate: Float32Array): Float32Array {
  const { tokens, experts, topK } = r;
  const dp = new Float32Array(tokens * experts);
  for (let t = 0; t < tokens; t++) {
    let dot = 0;
    for (let j = 0; j < topK; j++) {
      const a = t * topK + j;
      if (r.slot[a] >= 0) dot += dGate[a] * r.gate[a];
    }
    for (let j = 0; j < topK; j++) {
      const a = t * topK + j;
      const own = r.slot[a] >= 0 ? dGate[a] : 0;
      dp[t * experts + r.expert[a]] = (own - dot) / r.topSum[t];
    }
  }
  return dp;
}

/** The slot ranges [start, end) of `chunks` near-equal chunks of `capacity` slots. */
export function chunkBounds(capacity: number, chunks: number): number[] {
  if (!(Number.isInteger(chunks) && chunks >= 1 && chunks <= capacity))
    throw new Error(`moe: ${chunks} chunks of ${capacity} expert slots; use 1 to ${capacity}`);
  return Array.from({ length: chunks + 1 }, (_, i) => Math.floor((i * capacity) / chunks));
}
