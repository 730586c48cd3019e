// Rows grouped by key (trace/rowGroups.ts), as the importer's per-track passes use them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { groupRows, sortGroups } from '../../../trace/rowGroups';

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

test('sortGroups sorts the groups out of order and leaves the rest, as Array sort would', () => {
  const start = [5, 1, 1, 9, 3, 3, 3, 0, 2, 8]; // a value per row
  const keys = [0, 0, 1, 1, 0, 1, 2, 2, 2, 0];
  const g = groupRows(Int32Array.from(keys), 3);
  const compare = (a: number, b: number) => start[a] - start[b] || a - b;
  const want = byPush(keys, 3).map((rows) => [...rows].sort(compare));
  const calls: number[] = [];
  sortGroups(g, (a, b) => {
    calls.push(a);
    return compare(a, b);
  });
  assert.deepEqual(groupsOf(g), want);
  // Group 2 (rows 6, 7, 8: values 3, 0, 2) was out of order; group 1 (rows 2, 3, 5: 1, 9, 3) too; both are now sorted.
  assert.deepEqual(groupsOf(g)[2], [7, 8, 6]);
  // A group already in order is only checked (one comparison per neighbour pair), not sorted.
  const ordered = groupRows(Int32Array.from([0, 0, 0, 0]), 1);
  let n = 0;
  sortGroups(ordered, (a, b) => (n++, a - b));
  assert.equal(n, 3);
  assert.ok(calls.length > 0);
});
