import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { RankFailedError, runLocalWorld } from '../../../runtime/comm/localWorld';
import { CallsResult } from '../../../runtime/comm/harness';
import { runCalls, workerPath } from './helpers';

/** OS threads of this process (Linux): worker threads that were not joined would show here. */
function threadCount(): number {
  const m = /Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : -1;
}

async function settleThreads(baseline: number): Promise<number> {
  // A joined thread can take a moment to disappear from /proc.
  for (let i = 0; i < 50 && threadCount() > baseline; i++) await new Promise((r) => setTimeout(r, 20));
  return threadCount();
}

async function expectFailure(p: Promise<unknown>): Promise<RankFailedError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof RankFailedError, `expected RankFailedError, got ${e}`);
    return e;
  }
  assert.fail('the run should have failed');
}

describe('faults end cleanly', () => {
  it('a rank that throws mid-collective stops every rank within 2 s, naming the rank', async () => {
    const base = threadCount();
    const t0 = Date.now();
    // 'wan' paces each chunk by 30 ms, so the collective is still in flight when rank 1 throws.
    const err = await expectFailure(
      runCalls(
        3,
        {
          seed: 1,
          calls: [{ op: 'allReduce', count: 3000, dtype: 'f32' }],
          concurrent: true,
          throwOnRank: 1,
          throwAfterMs: 40,
        },
        { topology: { link: 'wan' } },
      ),
    );
    const elapsed = Date.now() - t0;
    assert.equal(err.rank, 1);
    assert.match(err.message, /rank 1 failed: Error: rank 1 failed on purpose/);
    const others = err.failures.filter((f) => f.rank !== 1);
    assert.ok(
      others.every((f) => f.name === 'CommAbortedError' && /aborted by rank 1/.test(f.message)),
      JSON.stringify(others),
    );
    assert.ok(elapsed < 2000, `took ${elapsed} ms`);
    assert.equal(await settleThreads(base), base, 'no leftover threads');
  });

  it('a cancelled run ends within 2 s with no leftover threads', async () => {
    const base = threadCount();
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 60);
    const err = await expectFailure(
      runLocalWorld<CallsResult>({
        worldSize: 3,
        workerPath,
        topology: { link: 'wan' },
        chunkBytes: 4096,
        signal: ac.signal,
        task: {
          kind: 'calls',
          seed: 2,
          calls: Array.from({ length: 20 }, () => ({ op: 'allReduce', count: 5000, dtype: 'f32' })),
        },
      }),
    );
    assert.equal(err.cancelled, true);
    assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
    assert.ok(
      err.failures.every((f) => f.name === 'CommAbortedError' && /coordinator: cancelled/.test(f.message)),
      JSON.stringify(err.failures),
    );
    assert.equal(await settleThreads(base), base, 'no leftover threads');
  });

  it('a stuck collective times out naming the rank that did not arrive', async () => {
    const base = threadCount();
    const t0 = Date.now();
    const err = await expectFailure(
      runCalls(
        3,
        { seed: 3, calls: [{ op: 'allReduce', count: 100, dtype: 'f32' }], absentRank: 2 },
        { timeoutMs: 1000 },
      ),
    );
    const elapsed = Date.now() - t0;
    const timeouts = err.failures.filter((f) => f.name === 'CommTimeoutError');
    assert.ok(timeouts.length >= 1, JSON.stringify(err.failures));
    assert.match(timeouts[0].message, /timed out after 1000 ms in allReduce\(seq 0 of group world, 100 × f32, sum\)/);
    // Rank 2 never arrives (a slow-starting rank 1 may be listed too on a loaded machine).
    assert.match(timeouts[0].message, /ranks that did not arrive: (1, )?2 \(.*rank 2 has not started a collective\)/);
    assert.ok(elapsed < 1000 + 2000, `took ${elapsed} ms`);
    assert.equal(await settleThreads(base), base, 'no leftover threads');
  });

  it('mismatched sizes for the same seq are reported with both ranks\u2019 arguments', async () => {
    const err = await expectFailure(
      runCalls(2, { seed: 4, calls: [{ op: 'allReduce', count: 10, dtype: 'f32', perRank: { 1: { count: 12 } } }] }),
    );
    const m = err.failures.find((f) => f.name === 'CommMismatchError');
    assert.ok(m, JSON.stringify(err.failures));
    assert.match(m.message, /allReduce\(seq 0 of group world, 10 × f32, sum\)/);
    assert.match(m.message, /allReduce\(seq 0 of group world, 12 × f32, sum\)/);
  });

  it('mismatched ops for the same seq are reported instead of deadlocking', async () => {
    const err = await expectFailure(
      runCalls(2, {
        seed: 5,
        calls: [{ op: 'allReduce', count: 8, dtype: 'f32', perRank: { 0: { reduceOp: 'max' } } }],
      }),
    );
    const m = err.failures.find((f) => f.name === 'CommMismatchError');
    assert.ok(m, JSON.stringify(err.failures));
    assert.match(m.message, /8 × f32, max/);
    assert.match(m.message, /8 × f32, sum/);
  });
});
