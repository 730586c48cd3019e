/**
 * segmentWaits (analysis/replay/stepGraph.ts): which collectives each compute segment of a
 * rank's step waited on, found in one pass over the collectives by end. Checked against its
 * definition, segment by segment over every collective, on random steps (ties, collectives
 * ending inside segments, before the first and after the last), and on a hand-made one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { segmentWaits } from '../../../analysis/replay/stepGraph';
import { seededRandom } from '../../../trace/stats';

/** The definition: for each segment, the collectives (in the given order) that ended in (previous end, start]. */
function byDefinition(
  starts: number[],
  ends: number[],
  colls: { id: number; end: number }[],
  t0: number,
): { ids: number[][]; lastEnd: number[] } {
  const ids: number[][] = [];
  const lastEnd: number[] = [];
  let prevEnd = t0;
  for (let s = 0; s < starts.length; s++) {
    const w = colls.filter((c) => c.end > prevEnd && c.end <= starts[s]);
    ids.push(w.map((c) => c.id));
    lastEnd.push(w.length ? Math.max(...w.map((c) => c.end)) : -Infinity);
    prevEnd = ends[s];
  }
  return { ids, lastEnd };
}

test('segmentWaits: the collectives that ended in each gap, as the definition finds them', () => {
  // Segments [10,20], [20,30] (back to back: no gap), [45,50]; collectives ending at 5 (the gap
  // before the first), 20 (the end of the first, so inside no gap), 25 (inside a segment), 40 and
  // 45 (the gap before the third, 45 at its start), 60 (after the last).
  const starts = [10, 20, 45];
  const ends = [20, 30, 50];
  const colls = [
    { id: 7, end: 45 },
    { id: 3, end: 5 },
    { id: 4, end: 20 },
    { id: 5, end: 25 },
    { id: 6, end: 40 },
    { id: 8, end: 60 },
  ];
  const got = segmentWaits(starts, ends, colls, 0);
  assert.deepEqual(got.ids, [[3], [], [7, 6]]);
  assert.deepEqual(got.lastEnd, [5, -Infinity, 45]);
  assert.deepEqual(got, byDefinition(starts, ends, colls, 0));
});

test('segmentWaits equals its definition on random steps', () => {
  const next = seededRandom(22);
  for (let trial = 0; trial < 500; trial++) {
    // Non-decreasing segment starts and ends, some back to back, on a coarse grid so that ties happen.
    const n = Math.floor(next() * 12);
    const starts: number[] = [];
    const ends: number[] = [];
    const t0 = Math.floor(next() * 5);
    let t = t0;
    for (let s = 0; s < n; s++) {
      t += next() < 0.3 ? 0 : Math.floor(next() * 6);
      starts.push(t);
      t += Math.floor(next() * 6);
      ends.push(t);
    }
    const m = Math.floor(next() * 10);
    const colls = Array.from({ length: m }, (_, k) => ({ id: 100 + k, end: Math.floor(next() * (t + 8)) - 2 }));
    assert.deepEqual(segmentWaits(starts, ends, colls, t0), byDefinition(starts, ends, colls, t0), `trial ${trial}`);
  }
});
