// trace/rankPack.ts: a reduced rank's model packed as typed-array columns comes back equal
// (slices, their fields and args in the importer's key order, flows, the rest), through node:v8 too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { serialize, deserialize } from 'node:v8';
import { fixturesDir } from '../../helpers/paths';
import { scanKinetoFile } from '../../../trace/kinetoScan';
import { rankModelFromColumns } from '../../../trace/kinetoRank';
import { packModel, unpackModel, type PackedModel } from '../../../trace/rankPack';
import type { TraceModel } from '../../../trace/model';

const dir = fixturesDir('kineto', 'hta-sampled');

test('packModel / unpackModel: the reduced model of a real rank comes back equal, key order included', async () => {
  const m = rankModelFromColumns(await scanKinetoFile(join(dir, 'sampled_rank-1.json.gz'))).model;
  const before = JSON.stringify(m);
  const p = deserialize(serialize(packModel(m))) as PackedModel;
  assert.equal(JSON.stringify(m), before, 'packing leaves the model as it was');
  // Most args are the three numbers, as columns; the others are kept whole.
  const plain = p.argForm.filter((f) => f < 8).length;
  assert.ok(plain > 0 && p.otherArgs.length > 0, `${plain} plain args, ${p.otherArgs.length} others`);
  const back = unpackModel(p);
  assert.deepEqual(back, m);
  assert.equal(JSON.stringify(back), before);
  assert.equal(back.flows.length, m.flows.length);
});

test('packModel / unpackModel: missing and undefined fields, args not in the plain order', () => {
  const m: TraceModel = {
    meta: { format: 'kineto', originNs: '5' },
    processes: [],
    tracks: [],
    slices: [
      { track: 0, name: 'a', category: 'kernel', startNs: 1, durNs: 2 },
      { track: 1, name: 'b', category: 'host', rawCategory: undefined, startNs: 3, durNs: 0, args: {}, depth: 2 },
      {
        track: 1,
        name: 'c',
        category: 'host',
        rawCategory: 'x',
        startNs: 3,
        durNs: 0,
        args: { stream: 7, correlation: 1 },
      },
      {
        track: 1,
        name: 'd',
        category: 'host',
        startNs: 3,
        durNs: 0,
        args: { 'External id': 4, stream: 9 },
        depth: undefined,
      },
      { track: 1, name: 'e', category: 'host', startNs: 3, durNs: 0, args: { correlation: 'x' } },
    ],
    counters: [],
    flows: [{ id: 1, from: 0, to: 2 }],
    warnings: ['w'],
  };
  const p = packModel(m);
  assert.deepEqual(Array.from(p.argForm), [16, 0, 8, 6, 8]);
  const back = unpackModel(p);
  assert.deepEqual(back, m);
  assert.equal(JSON.stringify(back), JSON.stringify(m));
  back.slices.forEach((s, i) => assert.deepEqual(Object.keys(s), Object.keys(m.slices[i]), `slice ${i}'s fields`));
  back.slices.forEach((s, i) =>
    assert.deepEqual(Object.keys(s.args ?? {}), Object.keys(m.slices[i].args ?? {}), `slice ${i}'s args`),
  );
});
