import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { Dtype, ReduceOp } from '../../../runtime/comm/dtypes';
import { assertClose, inputsOf, reference, runCalls } from './helpers';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('ring allReduce vs a naive reference', () => {
  // chunkBytes 4096 in the helpers: 1031 f32 elements span several chunks per segment.
  const sizes = [0, 1, 2, 7, 13, 1031, 4099];
  for (const n of [2, 3, 4]) {
    it(`n=${n}: f32 sum/avg/max over sizes ${sizes.join(', ')}`, async () => {
      const calls = sizes.flatMap((count) =>
        (['sum', 'avg', 'max'] as ReduceOp[]).map((reduceOp) => ({
          op: 'allReduce' as const,
          count,
          dtype: 'f32' as Dtype,
          reduceOp,
          algorithm: 'ring',
        })),
      );
      const seed = 100 + n;
      const res = await runCalls(n, { seed, calls });
      calls.forEach((c, ci) => {
        const ref = reference('f32', c.reduceOp, inputsOf(range(n), 'f32', c.count, seed, ci));
        for (let r = 0; r < n; r++)
          assertClose('f32', res[r].outputs[ci]!, ref, `n=${n} ${c.reduceOp} count=${c.count} rank ${r}`);
        // The ring's all-gather copies the owner's bits: every rank holds identical results.
        for (let r = 1; r < n; r++) assert.deepEqual(res[r].outputs[ci], res[0].outputs[ci]);
      });
    });
  }

  it('emits one collective span per call per rank with seq, bytes and bandwidths', async () => {
    const res = await runCalls(2, {
      seed: 5,
      calls: [
        { op: 'allReduce', count: 3000, dtype: 'f32', algorithm: 'ring' },
        { op: 'allReduce', count: 10, dtype: 'f32' },
      ],
    });
    for (const r of res) {
      const spans = r.spans.filter((s) => s.kind === 'collective');
      assert.equal(spans.length, 2);
      assert.deepEqual(
        spans.map((s) => s.seq),
        [0, 1],
      );
      assert.equal(spans[0].bytes, 12000);
      assert.equal(spans[0].op, 'allReduce');
      assert.equal(spans[0].algorithm, 'ring');
      assert.equal(
        spans[1].algorithm,
        'recursive-doubling',
        'the tuner picks the latency-bound algorithm for 40 bytes',
      );
      assert.equal(spans[0].group, 'world');
      for (const s of spans) {
        assert.ok(s.endNs >= s.startNs);
        assert.ok(Math.abs(s.waitNs + s.transferNs - (s.endNs - s.startNs)) < 1e-6);
        // nccl-tests: busbw = algbw × 2(n-1)/n, which is 1 for n = 2.
        assert.ok(Math.abs(s.busbwGBps - s.algbwGBps) < 1e-12);
        // Bandwidth over the transfer time, never over the wait for a peer (trace/collectives.ts).
        assert.ok(Math.abs(s.algbwGBps - s.bytes / s.transferNs) < 1e-9);
      }
    }
  });
});
