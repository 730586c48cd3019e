/**
 * Mixture-of-experts routing on the CPU (runtime/engine/ops/moeRouting.ts): top-k with
 * renormalised gates, the capacity rule (first choices before second choices, token
 * order within a choice), the gates' backward against finite differences, the chunking
 * of the overlapped variant; and the expert-parallel shards of gpt-mini's experts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chunkBounds, expertCapacity, gateBackward, route } from '../../../runtime/engine/ops/moeRouting';
import { assembleExpertParallel, gptLayerSpecs } from '../../../runtime/engine/models/gpt';
import { planParams } from '../../../runtime/engine/params';

/** Rows of probabilities, one per token. */
const probsOf = (rows: number[][]) => new Float32Array(rows.flat());

test('top-k picks the most probable experts (ties: lower index) and renormalises their gates', () => {
  const r = route(
    probsOf([
      [0.1, 0.5, 0.3, 0.1],
      [0.25, 0.25, 0.25, 0.25],
    ]),
    2,
    4,
    2,
    4,
  );
  assert.deepEqual([...r.expert], [1, 2, 0, 1]);
  assert.ok(Math.abs(r.gate[0] - 0.5 / 0.8) < 1e-7 && Math.abs(r.gate[1] - 0.3 / 0.8) < 1e-7);
  assert.deepEqual([...r.gate.subarray(2)], [0.5, 0.5]);
  assert.deepEqual(r.routed, [1, 2, 1, 0]);
  assert.equal(r.dropped, 0);
});

test('capacity: first choices take slots before second choices, in token order; the rest is dropped', () => {
  // Every token prefers expert 0, then expert 1; capacity 2.
  const rows = Array.from({ length: 3 }, () => [0.6, 0.3, 0.05, 0.05]);
  const r = route(probsOf(rows), 3, 4, 2, 2);
  // Assignment a = t·2 + j. First choices: tokens 0, 1 get expert 0's slots 0, 1; token 2's is dropped.
  assert.deepEqual([...r.slot], [0, 0, 1, 1, -1, -1]);
  assert.equal(r.dropped, 2);
  assert.deepEqual(r.routed, [3, 3, 0, 0]);
  // slotAssignment is the inverse map: [experts × capacity].
  assert.deepEqual([...r.slotAssignment], [0, 2, 1, 3, -1, -1, -1, -1]);
  // A second choice loses to a later token's first choice.
  const r2 = route(
    probsOf([
      [0.3, 0.6, 0.05, 0.05], // first choice 1, second 0
      [0.6, 0.3, 0.05, 0.05], // first choice 0
    ]),
    2,
    4,
    2,
    1,
  );
  assert.deepEqual([...r2.slot], [0, -1, 0, -1]);
});

test('expert capacity is ⌈capacityFactor · tokens · topK / experts⌉, at least 1', () => {
  assert.equal(expertCapacity(16, 4, 2, 1), 8);
  assert.equal(expertCapacity(16, 4, 2, 1.25), 10);
  assert.equal(expertCapacity(16, 4, 1, 1.1), 5);
  assert.equal(expertCapacity(1, 64, 1, 0.01), 1);
  assert.deepEqual(chunkBounds(10, 3), [0, 3, 6, 10]);
  assert.deepEqual(chunkBounds(8, 1), [0, 8]);
  assert.throws(() => chunkBounds(4, 5), /5 chunks of 4 expert slots; use 1 to 4/);
});

test("the gates' backward matches finite differences of Σ w_a · gate_a over the kept assignments", () => {
  const tokens = 5;
  const experts = 4;
  const topK = 2;
  const capacity = 2; // some assignments dropped
  const p = new Float64Array([
    0.4, 0.3, 0.2, 0.1, 0.1, 0.5, 0.15, 0.25, 0.35, 0.05, 0.45, 0.15, 0.2, 0.22, 0.28, 0.3, 0.05, 0.6, 0.1, 0.25,
  ]);
  const w = [0.7, -1.3, 0.4, 2.1, -0.6, 0.9, 1.5, -0.2, 0.3, -0.8];
  const r = route(new Float32Array(p), tokens, experts, topK, capacity);
  assert.ok(r.dropped > 0, 'the case drops some assignments');
  // L(p) with the routing held fixed (top-k sets and kept slots do not change under a small step).
  const L = (q: Float64Array): number => {
    let s = 0;
    for (let t = 0; t < tokens; t++) {
      let sum = 0;
      for (let j = 0; j < topK; j++) sum += q[t * experts + r.expert[t * topK + j]];
      for (let j = 0; j < topK; j++) {
        const a = t * topK + j;
        if (r.slot[a] >= 0) s += (w[a] * q[t * experts + r.expert[a]]) / sum;
      }
    }
    return s;
  };
  const dGate = new Float32Array(w.map((v, a) => (r.slot[a] >= 0 ? v : 123))); // dropped entries are ignored
  const dp = gateBackward(r, dGate);
  const h = 1e-6;
  for (let i = 0; i < p.length; i++) {
    const up = p.slice();
    const down = p.slice();
    up[i] += h;
    down[i] -= h;
    const fd = (L(up) - L(down)) / (2 * h);
    assert.ok(Math.abs(fd - dp[i]) < 1e-4, `dp[${i}] = ${dp[i]}, finite difference ${fd}`);
  }
});

test("expert-parallel shards hold contiguous blocks of every block's experts and assemble into the single-rank layout", () => {
  const cfg = {
    dModel: 8,
    vocab: 8,
    layers: 2,
    maxSeqLen: 4,
    heads: 2,
    moe: { experts: 4, topK: 2, capacityFactor: 1 },
  };
  const ALIGN = 4;
  const full = gptLayerSpecs(cfg);
  const names = full[1].params.map((p) => p.name);
  assert.deepEqual(names, [
    'ln1.g',
    'ln1.b',
    'attn.qkv.w',
    'attn.qkv.b',
    'attn.proj.w',
    'attn.proj.b',
    'ln2.g',
    'ln2.b',
    'moe.router.w',
    'moe.router.b',
    'moe.experts.fc1.w',
    'moe.experts.fc2.w',
  ]);
  assert.deepEqual(full[1].params[10].shape, [4, 8, 32]);
  const plan = planParams(full, ALIGN);
  const whole = new Float32Array(plan.flatCount).map((_, i) => i + 1);
  for (const P of [2, 4]) {
    const shards = Array.from({ length: P }, (_, r) => {
      const specs = gptLayerSpecs(cfg, 1, 0, { size: P, index: r });
      assert.deepEqual(specs[1].params[10].shape, [4 / P, 8, 32]);
      const pl = planParams(specs, ALIGN);
      const flat = new Float32Array(pl.flatCount);
      specs.forEach((l, li) =>
        l.params.forEach((s, pi) => {
          const n = s.shape.reduce((a, b) => a * b, 1);
          for (let i = 0; i < n; i++) {
            const at = s.shard ? s.shard.index(i) : i;
            flat[pl.offsets[li][pi] + i] = whole[plan.offsets[li][pi] + at];
          }
        }),
      );
      return flat;
    });
    assert.deepEqual(assembleExpertParallel(cfg, ALIGN, shards), whole);
  }
  assert.throws(() => gptLayerSpecs(cfg, 1, 0, { size: 3, index: 0 }), /4 experts over 3 expert-parallel ranks/);
});
