import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { CallSpec } from '../../../runtime/comm/harness';
import { Dtype, ReduceOp } from '../../../runtime/comm/dtypes';
import { RankFailedError } from '../../../runtime/comm/localWorld';
import { assertClose, runCalls } from './helpers';
import { expectedOutputs } from './reference';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('registered buffers: zero-copy two-shot all-reduce with SIMD reduction', () => {
  for (const n of [2, 3, 4]) {
    it(`n=${n}: every dtype and op, sizes 0, 1, primes, chunked; the tuner picks two-shot for large buffers`, async () => {
      const calls: CallSpec[] = [];
      for (const dtype of ['f32', 'f16', 'int8', 'uint8'] as Dtype[]) {
        for (const reduceOp of ['sum', 'avg', 'max'] as ReduceOp[]) {
          for (const count of [0, 1, 13, 4099])
            calls.push({ op: 'allReduce', count, dtype, reduceOp, registered: true, algorithm: 'two-shot' });
        }
      }
      calls.push({ op: 'allReduce', count: 200_003, dtype: 'f32', registered: true });
      const seed = 500 + n;
      const res = await runCalls(n, { seed, calls }, { maxBytes: 4 << 20 });
      calls.forEach((call, ci) => {
        const exp = expectedOutputs(call, range(n), seed, ci);
        for (let r = 0; r < n; r++)
          assertClose(
            call.dtype,
            res[r].outputs[ci]!,
            exp[r],
            `n=${n} ${call.dtype} ${call.reduceOp} count=${call.count} rank ${r}`,
          );
        for (let r = 1; r < n; r++) assert.deepEqual(res[r].outputs[ci], res[0].outputs[ci], 'identical on every rank');
      });
      const last = res[0].spans.filter((s) => s.kind === 'collective').at(-1)!;
      assert.equal(last.algorithm, 'two-shot');
    });
  }

  it('two-shot on sub-groups of registered buffers', async () => {
    const calls: CallSpec[] = [
      { op: 'allReduce', count: 30_001, dtype: 'f32', registered: true, group: [1, 3], algorithm: 'two-shot' },
      {
        op: 'allReduce',
        count: 30_001,
        dtype: 'f32',
        registered: true,
        group: [2, 0],
        algorithm: 'two-shot',
        reduceOp: 'avg',
      },
      { op: 'allReduce', count: 999, dtype: 'uint8', registered: true, algorithm: 'two-shot', reduceOp: 'max' },
    ];
    const res = await runCalls(4, { seed: 41, calls }, { maxBytes: 1 << 20 });
    calls.forEach((call, ci) => {
      const members = call.group ?? range(4);
      const exp = expectedOutputs(call, members, 41, ci);
      members.forEach((r, i) => assertClose(call.dtype, res[r].outputs[ci]!, exp[i], `call ${ci} rank ${r}`));
    });
  });

  it('registering on some ranks only is reported as a mismatch, not a hang', async () => {
    try {
      await runCalls(
        2,
        {
          seed: 3,
          calls: [
            { op: 'allReduce', count: 100_000, dtype: 'f32', registered: true, perRank: { 1: { registered: false } } },
          ],
        },
        { maxBytes: 1 << 20, timeoutMs: 5000 },
      );
      assert.fail('should fail');
    } catch (e) {
      assert.ok(e instanceof RankFailedError);
      const m = e.failures.find((f) => f.name === 'CommMismatchError');
      assert.ok(m, JSON.stringify(e.failures));
      assert.match(m.message, /\[two-shot\]/);
      assert.match(m.message, /\[ring\]/);
    }
  });

  it('two-shot refuses emulated links (it could not pace them)', async () => {
    await assert.rejects(
      runCalls(
        2,
        { seed: 3, calls: [{ op: 'allReduce', count: 10, dtype: 'f32', registered: true, algorithm: 'two-shot' }] },
        { maxBytes: 1 << 20, topology: { link: 'eth-10g' } },
      ),
      (e: RankFailedError) =>
        e.failures.some((f) =>
          /two-shot' needs a buffer from allocShared\(\) and a group on link 'none'/.test(f.message),
        ),
    );
  });
});
