import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { CallSpec } from '../../../runtime/comm/harness';
import { Dtype, ReduceOp } from '../../../runtime/comm/dtypes';
import { assertClose, runCalls } from './helpers';
import { expectedOutputs } from './reference';

const DTYPES: Dtype[] = ['f32', 'f16', 'int8', 'uint8'];
const OPS: ReduceOp[] = ['sum', 'avg', 'max'];
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Runs `calls` on a world of n ranks and checks every output against the naive reference. */
async function check(n: number, calls: CallSpec[], seed: number, opts: { concurrent?: boolean } = {}) {
  const res = await runCalls(n, { seed, calls, concurrent: opts.concurrent });
  calls.forEach((call, ci) => {
    const members = call.group ?? range(n);
    const expected = expectedOutputs(call, members, seed, ci);
    members.forEach((r, i) => {
      const what = `n=${n} call ${ci} ${call.op}/${call.algorithm ?? 'auto'} ${call.dtype} ${call.reduceOp ?? ''} count=${call.count} root=${call.root ?? '-'} rank ${r}`;
      assertClose(call.dtype, res[r].outputs[ci]!, expected[i], what);
    });
    for (let r = 0; r < n; r++) if (!members.includes(r)) assert.equal(res[r].outputs[ci], null);
  });
  return res;
}

function reductionCalls(n: number): CallSpec[] {
  const calls: CallSpec[] = [];
  for (const dtype of DTYPES) {
    for (const reduceOp of OPS) {
      for (const count of [0, 1, 13, 1031]) {
        for (const algorithm of ['ring', 'recursive-doubling'])
          calls.push({ op: 'allReduce', count, dtype, reduceOp, algorithm });
        calls.push({ op: 'reduceScatter', count: count + n, dtype, reduceOp });
        for (const algorithm of ['chain', 'tree'])
          calls.push({ op: 'reduce', count, dtype, reduceOp, algorithm, root: count % n });
      }
    }
  }
  return calls;
}

function movementCalls(n: number): CallSpec[] {
  const calls: CallSpec[] = [];
  for (const dtype of DTYPES) {
    for (const count of [0, 1, 13, 2053]) {
      calls.push({ op: 'allGather', count, dtype });
      for (const algorithm of ['chain', 'tree'])
        for (const root of [0, n - 1]) calls.push({ op: 'broadcast', count, dtype, algorithm, root });
      calls.push({ op: 'allToAll', count: count * n, dtype });
      calls.push({ op: 'sendRecv', count, dtype });
      calls.push({ op: 'send', count, dtype });
    }
    // Unequal all-to-all splits, including empty blocks.
    const splits = range(n).map((s) =>
      range(n).map((d) => ((s * 7 + d * 3) % 5 === 0 ? 0 : ((s + 1) * (d + 2) * 37) % 1500)),
    );
    calls.push({ op: 'allToAll', count: 0, dtype, splits });
  }
  calls.push(
    { op: 'barrier', count: 0, dtype: 'uint8', algorithm: 'ring' },
    { op: 'barrier', count: 0, dtype: 'uint8', algorithm: 'recursive-doubling' },
  );
  return calls;
}

describe('collectives vs naive references (every dtype, sizes 0, 1, primes, not divisible by n)', () => {
  for (const n of [2, 3, 4]) {
    it(`n=${n}: allReduce (ring, recursive doubling), reduceScatter, reduce (chain, tree)`, async () => {
      await check(n, reductionCalls(n), 1000 + n);
    });
    it(`n=${n}: allGather, broadcast (chain, tree), allToAll (equal, unequal), sendRecv, send/recv, barrier`, async () => {
      await check(n, movementCalls(n), 2000 + n);
    });
  }

  it('n=8: a small mix of every collective', async () => {
    const calls: CallSpec[] = [
      { op: 'allReduce', count: 1031, dtype: 'f32', algorithm: 'ring' },
      { op: 'allReduce', count: 61, dtype: 'int8', algorithm: 'recursive-doubling' },
      { op: 'reduceScatter', count: 8 * 131 + 3, dtype: 'f16', reduceOp: 'avg' },
      { op: 'allGather', count: 997, dtype: 'uint8' },
      { op: 'broadcast', count: 1500, dtype: 'f32', root: 5, algorithm: 'tree' },
      { op: 'reduce', count: 1500, dtype: 'f32', root: 3, reduceOp: 'max', algorithm: 'chain' },
      { op: 'allToAll', count: 8 * 37, dtype: 'f32' },
      { op: 'sendRecv', count: 300, dtype: 'f16' },
      { op: 'barrier', count: 0, dtype: 'uint8' },
    ];
    await check(8, calls, 88);
  });

  it('sub-groups: data-parallel × sequence-parallel groups of a 2×2 world', async () => {
    // dp groups {0,2} {1,3}; sp groups {0,1} {2,3}; the world still works after them.
    const calls: CallSpec[] = [
      { op: 'allReduce', count: 1031, dtype: 'f32', group: [0, 2] },
      { op: 'allReduce', count: 1031, dtype: 'f32', group: [1, 3] },
      { op: 'allToAll', count: 2 * 50, dtype: 'f32', group: [0, 1] },
      { op: 'allToAll', count: 2 * 50, dtype: 'f32', group: [2, 3] },
      { op: 'allGather', count: 77, dtype: 'f16', group: [3, 1] },
      { op: 'broadcast', count: 33, dtype: 'int8', group: [2, 0], root: 0 },
      { op: 'allReduce', count: 500, dtype: 'int8', reduceOp: 'sum' },
    ];
    const res = await check(4, calls, 77);
    const span = res[2].spans.find((s) => s.kind === 'collective' && s.group === '[0,2]')!;
    assert.equal(span.seq, 0);
    assert.equal(span.groupSize, 2);
  });

  it('concurrent outstanding operations on one communicator complete in issue order', async () => {
    const calls: CallSpec[] = [
      { op: 'allReduce', count: 4099, dtype: 'f32' },
      { op: 'allGather', count: 3001, dtype: 'f32' },
      { op: 'allReduce', count: 7, dtype: 'uint8' },
      { op: 'reduceScatter', count: 999, dtype: 'f16' },
      { op: 'broadcast', count: 2000, dtype: 'f32', root: 2 },
      { op: 'allToAll', count: 3 * 400, dtype: 'int8' },
    ];
    const res = await check(3, calls, 31, { concurrent: true });
    for (const r of res) {
      const spans = r.spans.filter((s) => s.kind === 'collective');
      assert.deepEqual(
        spans.map((s) => s.op),
        ['allReduce', 'allGather', 'allReduce', 'reduceScatter', 'broadcast', 'allToAll'],
      );
      for (let i = 1; i < spans.length; i++)
        assert.ok(spans[i].startNs >= spans[i - 1].endNs, 'ran one after the other');
      // Awaiting a handle that is not done yet is traced as a 'wait' span of that op.
      const waits = r.spans.filter((s) => s.kind === 'wait');
      assert.ok(waits.length >= 1, 'the first handle was awaited before it completed');
      for (const w of waits) {
        assert.equal(w.name, `wait ${w.op}`);
        // The blocking carries the collective's own wait for peers and transfer time: they agree.
        const c = spans.find((x) => x.op === w.op && x.seq === w.seq)!;
        assert.equal(w.transferNs, c.transferNs);
        assert.equal(w.waitNs, Math.min(c.waitNs, w.endNs - w.startNs));
        assert.equal(w.algbwGBps, 0);
      }
    }
  });
});
