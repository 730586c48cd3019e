// Rows grouped by key (trace/rowGroups.ts), as the importer's per-track passes use them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { groupRows, sortRowsBy } from '../../../trace/rowGroups';

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

test('sortRowsBy sorts one group in place (first ascending, second descending, then row), leaving the others', () => {
  const first = Float64Array.from([5, 1, 1, 9, 3, 3, 3, 0, 2, 8]); // a value per row
  const second = Float64Array.from([0, 0, 0, 0, 1, 0, 2, 0, 0, 0]);
  const keys = [0, 0, 1, 1, 0, 1, 2, 2, 2, 0];
  const g = groupRows(Int32Array.from(keys), 3);
  const before = groupsOf(g);
  sortRowsBy(g.rows, g.start[2], g.start[3], first, second);
  // Group 2 (rows 6, 7, 8: values 3, 0, 2) is sorted; groups 0 and 1 are as they were.
  assert.deepEqual(groupsOf(g), [before[0], before[1], [7, 8, 6]]);
  // Group 0 (rows 0, 1, 4, 9: 5, 1, 3, 8) and group 1 (rows 2, 3, 5: 1, 9, 3).
  sortRowsBy(g.rows, g.start[0], g.start[1], first, second);
  sortRowsBy(g.rows, g.start[1], g.start[2], first, second);
  assert.deepEqual(groupsOf(g), [
    [1, 4, 0, 9],
    [2, 5, 3],
    [7, 8, 6],
  ]);
});

test("sortRowsBy gives the comparator's order on ordered runs, shuffled, reversed and tied groups", () => {
  let x = 11;
  const rand = () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const n = 20_000;
  // A real thread's order: runs in time order, each broken where a parent (longer, earlier) is
  // written after its children.
  const runs = Array.from({ length: n }, (_, i) => (i % 97 === 96 ? i - 50 : i));
  const cases: Record<string, [number[], number[]]> = {
    runs: [runs, runs.map((v, i) => (i % 97 === 96 ? 60 : 1))],
    shuffled: [
      Array.from({ length: n }, () => Math.floor(rand() * 1000)),
      Array.from({ length: n }, () => Math.floor(rand() * 5)),
    ],
    reversed: [Array.from({ length: n }, (_, i) => n - i), Array.from({ length: n }, () => 0)],
    ties: [Array.from({ length: n }, () => 5), Array.from({ length: n }, (_, i) => i % 3)],
    sorted: [Array.from({ length: n }, (_, i) => i), Array.from({ length: n }, () => 1)],
    odd: [
      [3, 1, 2, 0, 4],
      [0, 0, 0, 0, 0],
    ],
  };
  for (const [name, [f, s]] of Object.entries(cases)) {
    const m = f.length;
    // Rows 0 … m − 1 as one group, behind a group of 3 rows that must stay as they are.
    const rows = Int32Array.from([2, 1, 0, ...Array.from({ length: m }, (_, i) => i)]);
    sortRowsBy(rows, 3, m + 3, Float64Array.from(f), Float64Array.from(s));
    const want = Array.from({ length: m }, (_, i) => i).sort((a, b) => f[a] - f[b] || s[b] - s[a] || a - b);
    assert.deepEqual([...rows.subarray(3)], want, name);
    assert.deepEqual([...rows.subarray(0, 3)], [2, 1, 0], name);
  }
});
