// A rank's columns are freed once its reduced model is made, before the digest (trace/kinetoScanService.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fixturesDir } from '../../helpers/paths';
import { scanKinetoFile } from '../../../trace/kinetoScan';
import { rankModelFromColumns } from '../../../trace/kinetoRank';
import { heldColumnsOf, reduceHeld, type RankRequest } from '../../../trace/kinetoScanService';

const file = join(fixturesDir('kineto', 'hta-sampled'), 'sampled_rank-1.json.gz');
const req: RankRequest = { kind: 'rank', index: 0, path: file, rank: 1 };

test('reduceHeld with release frees the columns (their buffers detached) and gives the model a fresh scan gives', async () => {
  const held = await heldColumnsOf(file);
  const columns = held.columns!;
  const ts = columns.ts;
  assert.ok(ts.length > 1000);
  const reduced = reduceHeld(held, req, true);
  assert.equal(held.columns, undefined, 'the holder lets go');
  // Freed now, not at some later collection: every column's buffer is detached.
  for (const k of ['ph', 'cat', 'name', 'pid', 'tid', 'ts', 'dur', 'correlation', 'externalId', 'stream'] as const)
    assert.equal(columns[k].buffer.byteLength, 0, `${k} is freed`);
  assert.equal(ts.length, 0);
  // The model holds nothing of the columns: it equals one made from columns that stay alive.
  const fresh = rankModelFromColumns(await scanKinetoFile(file), { fileName: file, rank: 1 });
  assert.deepEqual(reduced.model, fresh.model);
  assert.deepEqual([...reduced.sliceOrigin], [...fresh.sliceOrigin]);
  assert.equal(reduced.bytes, (await scanKinetoFile(file)).bytes);
});

test('without release (an index is still to be made from them) the columns stay whole', async () => {
  const held = await heldColumnsOf(file);
  const n = held.columns!.count;
  reduceHeld(held, req, false);
  assert.equal(held.columns?.ts.length, n);
});
