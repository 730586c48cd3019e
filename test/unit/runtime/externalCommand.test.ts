// A PyTorch job run by `commlens verify` must end: at its time limit the whole process group
// (the shell and what it started: torchrun's ranks) is stopped, and the result says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runExternalCommand } from '../../../runtime/externalCommand';
import { DEFAULT_RERUN_LIMIT_MS, rerunLimitMs } from '../../../cli/externalVerify';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('a job past its time limit is stopped with the processes it started, and the result says it timed out', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'commlens-ext-'));
  try {
    const t0 = Date.now();
    const lines: string[] = [];
    // The shell starts a "rank" that would wait 60 s, then waits for it.
    const res = await runExternalCommand({
      command: `sleep 60 & echo $! > rank.pid; echo started; wait`,
      cwd: dir,
      traceDir: dir,
      timeoutMs: 400,
      onLine: (l) => lines.push(l),
    });
    const took = Date.now() - t0;
    assert.equal(res.timedOut, true);
    assert.equal(res.interrupted, false);
    assert.notEqual(res.exitCode, 0);
    assert.ok(took < 20_000, `took ${took} ms`);
    assert.deepEqual(lines, ['started']);
    const rank = Number(readFileSync(join(dir, 'rank.pid'), 'utf8'));
    // The group was signalled: the rank is gone (give the kernel a moment to reap it).
    for (let i = 0; i < 50 && alive(rank); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(alive(rank), false, `rank process ${rank} still runs`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a job that ends in time is not marked as timed out', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'commlens-ext-'));
  try {
    const res = await runExternalCommand({ command: 'exit 3', cwd: dir, traceDir: dir, timeoutMs: 30_000 });
    assert.deepEqual(res, { exitCode: 3, signal: null, interrupted: false, timedOut: false });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the re-run limit: --timeout, else 3 × the job (at least 5 min more), else an hour', () => {
  assert.equal(rerunLimitMs(2, 1000).ms, 120_000);
  assert.equal(rerunLimitMs(undefined, 60_000).ms, 360_000); // 1 min job: +5 min
  assert.equal(rerunLimitMs(undefined, 600_000).ms, 1_800_000); // 10 min job: ×3
  assert.equal(rerunLimitMs(undefined, undefined).ms, DEFAULT_RERUN_LIMIT_MS);
  assert.match(rerunLimitMs(undefined, undefined).why, /record/);
});
