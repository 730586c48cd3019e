// Rows grouped by key (trace/rowGroups.ts), as the importer's per-track passes use them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { groupRows, sortRows } from '../../../trace/rowGroups';

/** The reference: an array per key filled in row order. */
function byPush(keys: number[], groups: number): number[][] {
  const out: number[][] = Array.from({ length: groups }, () => []);
  keys.forEach((k, i) => {
    if (k >= 0) out[k].push(i);
  });
  return out;
}

const groupsOf = (g: ReturnType<typeof groupRows>): number[][] =>
  Array.from({ length: g.start.length - 1 }, (_, t) => [...g.rows.subarray(g.start[t], g.start[t + 1])]);

test("groupRows: each key's rows in row order, negative keys left out, empty groups kept", () => {
  let x = 7;
  const rand = () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const keys = Array.from({ length: 5000 }, () => Math.floor(rand() * 9) - 1); // −1 … 7
  const g = groupRows(Int32Array.from(keys), 9); // group 8 is empty
  assert.deepEqual(groupsOf(g), byPush(keys, 9));
  assert.equal(g.rows.length, keys.filter((k) => k >= 0).length);
  assert.deepEqual(groupsOf(groupRows(new Int32Array(0), 2)), [[], []]);
});

test('sortRows sorts one group in place by the comparator, leaving the others', () => {
  const start = [5, 1, 1, 9, 3, 3, 3, 0, 2, 8]; // a value per row
  const keys = [0, 0, 1, 1, 0, 1, 2, 2, 2, 0];
  const g = groupRows(Int32Array.from(keys), 3);
  const compare = (a: number, b: number) => start[a] - start[b] || a - b;
  const before = groupsOf(g);
  sortRows(g.rows, g.start[2], g.start[3], compare);
  // Group 2 (rows 6, 7, 8: values 3, 0, 2) is sorted; groups 0 and 1 are as they were.
  assert.deepEqual(groupsOf(g), [before[0], before[1], [7, 8, 6]]);
  sortRows(g.rows, g.start[0], g.start[1], compare);
  assert.deepEqual(groupsOf(g)[0], [...byPush(keys, 3)[0]].sort(compare));
});
