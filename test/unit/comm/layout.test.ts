import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  coordsOf,
  describeLayout,
  groupOf,
  groupsOf,
  rankOf,
  resolveLayout,
  validateLayout,
} from '../../../runtime/comm/layout';
import { CallSpec } from '../../../runtime/comm/harness';
import { assertClose, runCalls } from './helpers';
import { expectedOutputs } from './reference';

describe('parallel layouts (process groups)', () => {
  it('tp varies fastest, then cp, ep, dp, pp; groups differ in one coordinate', () => {
    const l = resolveLayout(8, { tp: 2, pp: 2 });
    assert.deepEqual(l, { tp: 2, cp: 1, ep: 1, dp: 2, pp: 2 });
    assert.equal(describeLayout(l), 'tp 2 × dp 2 × pp 2');
    assert.deepEqual(coordsOf(l, 5), { tp: 1, cp: 0, ep: 0, dp: 0, pp: 1 });
    for (let r = 0; r < 8; r++) assert.equal(rankOf(l, coordsOf(l, r)), r);
    assert.deepEqual(groupsOf(l, 'tp'), [
      [0, 1],
      [2, 3],
      [4, 5],
      [6, 7],
    ]);
    assert.deepEqual(groupsOf(l, 'dp'), [
      [0, 2],
      [1, 3],
      [4, 6],
      [5, 7],
    ]);
    assert.deepEqual(groupsOf(l, 'pp'), [
      [0, 4],
      [1, 5],
      [2, 6],
      [3, 7],
    ]);
    assert.deepEqual(groupsOf(l, 'cp'), [[0], [1], [2], [3], [4], [5], [6], [7]]);
    assert.deepEqual(groupOf(l, 'dp', 7), { index: 3, ranks: [5, 7], name: 'dp group 3 (ranks 5,7)' });
    assert.equal(groupOf(l, 'tp', 0).name, 'tp group 0 (ranks 0,1)');
    const l5 = resolveLayout(16, { tp: 2, cp: 2, ep: 2, pp: 2 });
    assert.equal(l5.dp, 1);
    assert.deepEqual(groupOf(l5, 'ep', 3).ranks, [3, 7]);
  });

  it('refuses layouts that do not divide the ranks, heads or layers, naming the setting and what would work', () => {
    assert.deepEqual(validateLayout(8, { tp: 2, dp: 2, pp: 2 }), []);
    assert.match(validateLayout(6, { tp: 4 })[0], /^tp 4 = 4 does not divide worldSize 6; .*divisors of 6: 1, 2, 3, 6/);
    assert.match(validateLayout(8, { tp: 2, dp: 3 })[0], /^tp 2 × dp 3 = 6 ranks, but worldSize is 8; dp 4 would fit/);
    assert.match(validateLayout(4, { tp: 0 })[0], /tp: the tensor-parallel size must be a positive integer, got 0/);
    const heads = validateLayout(8, { tp: 4 }, [{ setting: 'model.heads', value: 6, dim: 'tp' }], (d) =>
      d === 'tp' ? 'strategyOptions.tensorParallelSize' : d,
    );
    assert.deepEqual(heads, [
      'model.heads 6 is not divisible by the tensor-parallel size strategyOptions.tensorParallelSize 4; strategyOptions.tensorParallelSize must divide 6 (and worldSize 8): 1, 2',
    ]);
    assert.match(
      validateLayout(4, { pp: 4 }, [{ setting: 'model.layers', value: 2, dim: 'pp' }])[0],
      /model\.layers 2 is not divisible by the pipeline-parallel size pp 4; pp must divide 2 \(and worldSize 4\): 1, 2/,
    );
  });

  it('collectives on each group run among its members only (tp × dp of 4 ranks)', async () => {
    const l = resolveLayout(4, { tp: 2 });
    const calls: CallSpec[] = [];
    for (const dim of ['tp', 'dp'] as const) {
      for (const g of groupsOf(l, dim))
        calls.push({
          op: 'allReduce',
          count: 257,
          dtype: 'f32',
          group: g,
          groupName: groupOf(l, dim, g[0]).name,
          algorithm: 'ring',
        });
    }
    const res = await runCalls(4, { seed: 17, calls });
    calls.forEach((call, ci) => {
      const expected = expectedOutputs(call, call.group!, 17, ci);
      call.group!.forEach((r, i) => assertClose('f32', res[r].outputs[ci]!, expected[i], `call ${ci} rank ${r}`));
    });
    for (let r = 0; r < 4; r++) {
      const tracks = res[r].spans.filter((s) => s.kind === 'collective').map((s) => s.track);
      assert.deepEqual(tracks, [groupOf(l, 'tp', r).name, groupOf(l, 'dp', r).name]);
    }
  });
});
