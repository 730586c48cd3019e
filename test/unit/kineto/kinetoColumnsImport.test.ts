// importKinetoColumns (trace/kineto.ts) builds a rank's model straight from its scanned columns:
// it must equal what the importer makes of the same rows written out as Kineto events, for
// every row, for a subset of rows, and for host slices given a clipped end, and say which row
// each slice came from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fixturesDir } from '../../helpers/paths';
import { importKineto, importKinetoColumns } from '../../../trace/kineto';
import { idValue, PH, scanKinetoFile, type KinetoColumns } from '../../../trace/kinetoScan';

const dir = fixturesDir('kineto', 'hta-sampled');
const PH_TEXT: Record<number, string> = { [PH.X]: 'X', [PH.M]: 'M', [PH.i]: 'i', [PH.I]: 'I' };

/** The kept rows as the Kineto events they were read from (the fields the scanner keeps). */
function rowsAsEvents(c: KinetoColumns, keep: Uint8Array, clippedEndUs: Map<number, number>): unknown[] {
  const events: unknown[] = [];
  for (let i = 0; i < c.count; i++) {
    if (keep[i] === 0) continue;
    const e: Record<string, unknown> = { ph: PH_TEXT[c.ph[i]] ?? 'Z' };
    if (c.cat[i] >= 0) e.cat = c.strings[c.cat[i]];
    if (c.name[i] >= 0) e.name = c.strings[c.name[i]];
    const pid = idValue(c, c.pid[i]);
    if (pid !== undefined) e.pid = pid;
    const tid = idValue(c, c.tid[i]);
    if (tid !== undefined) e.tid = tid;
    const end = clippedEndUs.get(i);
    if (end !== undefined) {
      e.ts = Math.ceil(c.ts[i]);
      e.dur = end - (e.ts as number);
    } else {
      if (!Number.isNaN(c.ts[i])) e.ts = c.ts[i];
      if (!Number.isNaN(c.dur[i])) e.dur = c.dur[i];
    }
    const args: Record<string, unknown> = { ...(c.extraArgs.get(i) ?? {}) };
    if (!Number.isNaN(c.correlation[i])) args.correlation = c.correlation[i];
    if (!Number.isNaN(c.externalId[i])) args['External id'] = c.externalId[i];
    if (!Number.isNaN(c.stream[i])) args.stream = c.stream[i];
    e.args = args;
    events.push(e);
  }
  return events;
}

function check(c: KinetoColumns, keep: Uint8Array, clippedEndUs: Map<number, number>, label: string): number {
  const opts = { fileName: 'rank.json', rank: 3, uncounted: { skipped: 2, badTimes: 1 } };
  const got = importKinetoColumns(c, keep, clippedEndUs, opts);
  const want = importKineto({ ...c.top, traceEvents: rowsAsEvents(c, keep, clippedEndUs) }, opts);
  assert.deepEqual(got.model, want, label);
  assert.equal(
    got.eventsKept,
    keep.reduce((a, k) => a + k, 0),
    label,
  );
  assert.equal(got.sliceEvent.length, got.model.slices.length, label);
  const origin = Number(BigInt(got.model.meta.originNs) / 1000n);
  got.model.slices.forEach((s, k) => {
    const row = got.sliceEvent[k];
    assert.equal(keep[row], 1, `${label}: slice ${k} from a row not kept`);
    assert.equal(s.name, c.strings[c.name[row]], `${label}: slice ${k}'s row`);
    assert.equal(s.startNs, (Math.ceil(c.ts[row]) - origin) * 1000, `${label}: slice ${k}'s row`);
  });
  return got.model.slices.length;
}

test('importKinetoColumns equals the importer on the same rows: all of them, every third, and clipped host slices', async () => {
  const c = await scanKinetoFile(join(dir, 'sampled_rank-0.json.gz'));
  const all = new Uint8Array(c.count).fill(1);
  const slices = check(c, all, new Map(), 'every row');
  assert.ok(slices > 1000, `${slices} slices`);
  const some = new Uint8Array(c.count);
  for (let i = 0; i < c.count; i++) some[i] = c.ph[i] === PH.M || i % 3 === 0 ? 1 : 0;
  check(c, some, new Map(), 'every third row');
  // Host slices given an earlier end (as kinetoRank does for those clipped on their thread).
  const clipped = new Map<number, number>();
  for (let i = 0; i < c.count && clipped.size < 50; i++) {
    const cat = c.cat[i] >= 0 ? c.strings[c.cat[i]] : '';
    if (c.ph[i] === PH.X && cat === 'cpu_op' && c.dur[i] > 4) clipped.set(i, Math.ceil(c.ts[i]) + 1);
  }
  assert.equal(clipped.size, 50);
  const got = importKinetoColumns(c, all, clipped);
  const k = Array.from(got.sliceEvent).indexOf([...clipped.keys()][0]);
  assert.equal(got.model.slices[k].durNs, 1000, 'a clipped slice ends where it was clipped');
  check(c, all, clipped, 'clipped host slices');
});
