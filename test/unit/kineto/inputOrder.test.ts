// The import's shortcuts for input that is already in order (sorts skipped, gunzip sized
// from the gzip trailer) must give what the general paths give on any input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fixturesDir } from '../../helpers/paths';
import { gunzipSync, gzipSync } from 'node:zlib';
import { importKineto } from '../../../trace/kineto';
import { readKinetoFile } from '../../../trace/kinetoRead';
import { analyze } from '../../../analysis/index';
import { addTrack, emptyModel, finalizeModel, isAscending, type Slice, type TraceModel } from '../../../trace/model';

const fixture = fixturesDir('kineto', 'hta-sampled', 'sampled_rank-0.json.gz');

type Doc = { traceEvents: Record<string, unknown>[] } & Record<string, unknown>;
const readFixture = (): Doc => JSON.parse(gunzipSync(fs.readFileSync(fixture)).toString('utf8')) as Doc;

/** The model as sets: each slice by its fields, each flow by its two ends (independent of slice indexes and of the order of ties). */
function canonical(m: TraceModel): { tracks: string; slices: string[]; flows: string[] } {
  const key = (s: Slice) =>
    JSON.stringify([s.track, s.startNs, s.durNs, s.depth, s.name, s.category, s.rawCategory ?? null, s.args ?? null]);
  return {
    tracks: JSON.stringify(m.tracks),
    slices: m.slices.map(key).sort(),
    flows: m.flows.map((f) => `${key(m.slices[f.from])} -> ${key(m.slices[f.to])}`).sort(),
  };
}

/** Slices of each track in finalizeModel's order: by start, longer first. */
function inFinalOrder(m: TraceModel): boolean {
  for (let i = 1; i < m.slices.length; i++) {
    const a = m.slices[i - 1],
      b = m.slices[i];
    if (
      a.track > b.track ||
      (a.track === b.track && (a.startNs > b.startNs || (a.startNs === b.startNs && a.durNs < b.durNs)))
    )
      return false;
  }
  return true;
}

test('a Kineto trace whose threads are out of order imports to the same model as in order', () => {
  const ordered = readFixture();
  const shuffled = readFixture();
  // Swap neighbours on the same thread or stream: every track gets out of order, while the
  // order in which threads first appear (which numbers the host tracks) stays as it was.
  const ev = shuffled.traceEvents;
  let swaps = 0;
  for (let i = 0; i + 1 < ev.length; i += 2) {
    const a = ev[i],
      b = ev[i + 1];
    if (a.ph === 'X' && b.ph === 'X' && a.pid === b.pid && a.tid === b.tid && a.ts !== b.ts) {
      ev[i] = b;
      ev[i + 1] = a;
      swaps++;
    }
  }
  assert.ok(swaps > 1000, `enough events swapped (${swaps})`);
  const a = importKineto(ordered, { fileName: 'sampled_rank-0.json.gz' });
  const b = importKineto(shuffled, { fileName: 'sampled_rank-0.json.gz' });
  assert.ok(inFinalOrder(a) && inFinalOrder(b));
  assert.deepEqual(canonical(b), canonical(a));
  assert.deepEqual(analyze(b).ranks, analyze(a).ranks);
});

test('finalizeModel: slices already in order keep their places; shuffled, they are sorted to the same order', () => {
  const make = (order: number[]): TraceModel => {
    const m = emptyModel('commlens');
    m.processes.push({ pid: 0, rank: 0, name: 'rank 0' });
    const t0 = addTrack(m, { pid: 0, name: 'a', type: 'slice', stream: 'host', gpu: false });
    const t1 = addTrack(m, { pid: 0, name: 'b', type: 'slice', stream: 'compute', gpu: true });
    const all: Slice[] = [
      { track: t0, name: 'step', category: 'step', startNs: 0, durNs: 100 },
      { track: t0, name: 'outer', category: 'host', startNs: 10, durNs: 50 },
      { track: t0, name: 'inner', category: 'host', startNs: 10, durNs: 20 },
      // Overlaps `outer` without nesting: clipped to its end, with a warning.
      { track: t0, name: 'overlap', category: 'host', startNs: 40, durNs: 40 },
      { track: t1, name: 'k1', category: 'kernel', startNs: 5, durNs: 10 },
      { track: t1, name: 'k2', category: 'kernel', startNs: 5, durNs: 10 },
      { track: t1, name: 'k3', category: 'kernel', startNs: 30, durNs: 1 },
    ];
    m.slices = order.map((i) => ({ ...all[i] }));
    // Flows name slices by their position in `all`.
    const at = (i: number) => order.indexOf(i);
    m.flows = [
      { id: 1, from: at(1), to: at(4) },
      { id: 2, from: at(6), to: at(0) },
    ];
    return m;
  };
  const ordered = make([0, 1, 2, 3, 4, 5, 6]);
  const slicesBefore = ordered.slices.slice();
  const a = finalizeModel(ordered);
  assert.deepEqual(
    a.slices,
    slicesBefore.map((s, i) => ({ ...s, depth: [0, 1, 2, 2, 0, 1, 0][i], durNs: i === 3 ? 20 : s.durNs })),
  );
  assert.deepEqual(a.flows, [
    { id: 1, from: 1, to: 4 },
    { id: 2, from: 6, to: 0 },
  ]);
  assert.equal(a.warnings.length, 1);
  // Equal keys keep their input order (k2 before k1 here), as Array.prototype.sort does.
  const b = finalizeModel(make([6, 3, 5, 2, 0, 4, 1]));
  assert.deepEqual(
    b.slices.map((s) => s.name),
    ['step', 'outer', 'inner', 'overlap', 'k2', 'k1', 'k3'],
  );
  assert.deepEqual(
    b.slices.map((s) => s.depth),
    [0, 1, 2, 2, 0, 1, 0],
  );
  assert.deepEqual(b.flows, [
    { id: 1, from: 1, to: 5 },
    { id: 2, from: 6, to: 0 },
  ]);
});

test('isAscending: true exactly when a sort by the same comparator would move nothing', () => {
  const cmp = (a: number, b: number) => a - b;
  assert.ok(isAscending([], cmp));
  assert.ok(isAscending([1, 1, 2, 5], cmp));
  assert.ok(!isAscending([1, 3, 2], cmp));
  // NaN compares as neither before nor after: not known to be in order, so the caller sorts.
  assert.ok(!isAscending([1, NaN, 2], cmp));
});

test('gzip read in one piece sized from its trailer, or in several when the trailer says less', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-gz-'));
  try {
    const doc = {
      distributedInfo: { rank: 0, world_size: 1 },
      traceEvents: Array.from({ length: 5000 }, (_, i) => ({
        ph: 'X',
        cat: 'cpu_op',
        name: `op ${i}`,
        pid: 1,
        tid: 1,
        ts: i * 10,
        dur: 5,
      })),
    };
    const text = JSON.stringify(doc);
    const one = path.join(dir, 'one.json.gz');
    fs.writeFileSync(one, gzipSync(text));
    assert.deepEqual(await readKinetoFile(one), doc);
    // Two gzip members: the trailer's size is the second member's only, far below the whole.
    const cut = text.length - 100;
    const two = path.join(dir, 'two.json.gz');
    fs.writeFileSync(two, Buffer.concat([gzipSync(text.slice(0, cut)), gzipSync(text.slice(cut))]));
    assert.deepEqual(await readKinetoFile(two), doc);
    // A trailer that lies (a corrupt file, here claiming 4 GiB): a clear error, and the
    // output chunk stays bounded instead of following the claim.
    const big = gzipSync(text);
    big.writeUInt32LE(0xffffffff, big.length - 4);
    const bad = path.join(dir, 'bad.json.gz');
    fs.writeFileSync(bad, big);
    await assert.rejects(readKinetoFile(bad), /cannot read .*bad\.json\.gz/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
