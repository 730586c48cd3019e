import { test } from 'node:test';
import assert from 'node:assert/strict';
import { naturalCompare } from '../../../trace/discover';

test('per-rank trace files sort in natural order (rank 2 before rank 10), the rest by code unit', () => {
  const names = [
    'rank-10.json',
    'rank-2.json',
    'rank-1.json.gz',
    'rank-02.json',
    'a.json',
    'rank-1.json',
    'b10.json',
    'b9x.json',
  ];
  assert.deepEqual([...names].sort(naturalCompare), [
    'a.json',
    'b9x.json',
    'b10.json',
    'rank-1.json',
    'rank-1.json.gz',
    'rank-2.json',
    'rank-02.json',
    'rank-10.json',
  ]);
  assert.equal(naturalCompare('x', 'x'), 0);
});
