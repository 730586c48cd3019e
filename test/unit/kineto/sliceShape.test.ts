// The reduced model's slices hold integers as small integers, as JSON.parse would have made them,
// not as 16-byte boxed doubles read from the float64 columns; and every field in the object from
// the start (trace/kineto.ts small, newSlice). This is a third of a reduced rank's heap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serialize } from 'node:v8';
import { fixturesDir } from '../../helpers/paths';
import { scanKinetoFile } from '../../../trace/kinetoScan';
import { rankModelFromColumns } from '../../../trace/kinetoRank';

/** Whether V8 holds `v` as a small integer: its serialisation is tagged 'I' (a boxed double is 'N'). */
const isSmall = (v: number) => serialize(v)[2] === 0x49;

test('integers in imported slices are small integers, and the slices have one shape', async () => {
  const file = fixturesDir('kineto', 'hta-sampled', 'sampled_rank-0.json.gz');
  const { model } = rankModelFromColumns(await scanKinetoFile(file), { fileName: file });
  assert.ok(isSmall(7) && !isSmall(7.5) && !isSmall(2 ** 40), 'the probe tells them apart');
  let checked = 0;
  for (const s of model.slices) {
    assert.deepEqual(
      Object.keys(s),
      ['track', 'name', 'category', 'rawCategory', 'startNs', 'durNs', 'args', 'depth'],
      s.name,
    );
    const ints: [string, unknown][] = [
      ['durNs', s.durNs],
      ['depth', s.depth],
      ['correlation', s.args?.correlation],
      ['External id', s.args?.['External id']],
      ['stream', s.args?.stream],
    ];
    for (const [k, v] of ints) {
      if (typeof v !== 'number' || !Number.isInteger(v) || Math.abs(v) >= 2 ** 31 || Object.is(v, -0)) continue;
      assert.ok(isSmall(v), `${s.name}: ${k} = ${v} is a boxed double`);
      checked++;
    }
  }
  assert.ok(checked > 10_000, `${checked} integers checked`);
});
