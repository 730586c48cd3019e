import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { tuneSoftwareRasterizerThreads } from '../../../runtime/gpu/dawn';

test("LP_NUM_THREADS: 4 per core (at most 32) when unset, the user's value when set", () => {
  const saved = process.env.LP_NUM_THREADS;
  try {
    delete process.env.LP_NUM_THREADS;
    const want = String(Math.min(32, 4 * availableParallelism()));
    assert.equal(tuneSoftwareRasterizerThreads(), want);
    assert.equal(process.env.LP_NUM_THREADS, want);
    process.env.LP_NUM_THREADS = '5';
    assert.equal(tuneSoftwareRasterizerThreads(), '5');
    assert.equal(process.env.LP_NUM_THREADS, '5');
  } finally {
    if (saved === undefined) delete process.env.LP_NUM_THREADS;
    else process.env.LP_NUM_THREADS = saved;
  }
});
