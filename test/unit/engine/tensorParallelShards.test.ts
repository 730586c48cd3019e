/**
 * gpt-mini's tensor-parallel shards (no GPU): every element of the whole model lies in
 * exactly one rank's shard or in the replicated parameters, the shards' index maps put
 * each column-parallel block where Megatron does (q, k, v heads of rank i together), and
 * assembleTensorParallel rebuilds the single-rank layout from the shards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assembleTensorParallel, gptLayerSpecs } from '../../../runtime/engine/models/gpt';
import { planParams } from '../../../runtime/engine/params';

const cfg = { dModel: 16, vocab: 8, layers: 2, maxSeqLen: 4, heads: 4 };
const ALIGN = 4;

test('shards cover the whole model once and assemble back into the single-rank layout', () => {
  const full = gptLayerSpecs(cfg);
  const plan = planParams(full, ALIGN);
  const whole = new Float32Array(plan.flatCount).map((_, i) => i + 1);
  for (const T of [2, 4]) {
    const covered = new Map<string, number[]>();
    const shards = Array.from({ length: T }, (_, t) => {
      const specs = gptLayerSpecs(cfg, T, t);
      const p = planParams(specs, ALIGN);
      const flat = new Float32Array(p.flatCount);
      specs.forEach((l, li) =>
        l.params.forEach((s, pi) => {
          const n = s.shape.reduce((a, b) => a * b, 1);
          const base = plan.offsets[li][pi];
          for (let i = 0; i < n; i++) {
            const at = s.shard ? s.shard.index(i) : i;
            flat[p.offsets[li][pi] + i] = whole[base + at];
            if (s.shard)
              (
                covered.get(`${l.name}.${s.name}`) ?? covered.set(`${l.name}.${s.name}`, []).get(`${l.name}.${s.name}`)!
              ).push(at);
          }
        }),
      );
      return flat;
    });
    // Each sharded parameter: the T shards together hold each element exactly once.
    for (const [name, idx] of covered) {
      const [li, pi] = ((): [number, number] => {
        for (let li = 0; li < full.length; li++)
          for (let pi = 0; pi < full[li].params.length; pi++)
            if (`${full[li].name}.${full[li].params[pi].name}` === name) return [li, pi];
        throw new Error(name);
      })();
      const n = full[li].params[pi].shape.reduce((a, b) => a * b, 1);
      assert.deepEqual(
        [...idx].sort((a, b) => a - b),
        Array.from({ length: n }, (_, i) => i),
        `T=${T} ${name}`,
      );
    }
    assert.equal(covered.size, cfg.layers * 6, 'qkv.w/b, proj.w, fc1.w/b, fc2.w per layer');
    assert.deepEqual(assembleTensorParallel(cfg, ALIGN, shards), whole, `T=${T}`);
  }
});

test("rank i's qkv columns are heads [i·H/T, (i+1)·H/T) of q, of k and of v", () => {
  const D = cfg.dModel;
  const T = 2;
  const qkvB = gptLayerSpecs(cfg, T, 1)[1].params.find((p) => p.name === 'attn.qkv.b')!;
  const cols = Array.from({ length: qkvB.shape[0] }, (_, c) => qkvB.shard!.index(c));
  const half = D / T;
  const want = [0, 1, 2].flatMap((part) => Array.from({ length: half }, (_, c) => part * D + half + c));
  assert.deepEqual(cols, want);
  assert.throws(() => gptLayerSpecs(cfg, 3, 0), /model\.heads \(4\) divisible by 3/);
});
