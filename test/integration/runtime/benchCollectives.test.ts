import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { cliPath } from '../../helpers/paths';
import { parseEventLine } from '../../../cli/protocol';

test('bench-collectives: one row per collective and size, busbw = algbw x the nccl-tests factor, and bad flags refused', () => {
  const runsDir = mkdtempSync(join(tmpdir(), 'commlens-bc-'));
  try {
    const r = spawnSync(
      process.execPath,
      [cliPath, 'bench-collectives', '--world-size', '2', '--max-mib', '0.02', '--runs-dir', runsDir, '--events'],
      { encoding: 'utf8', timeout: 120_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    const done = r.stdout
      .split('\n')
      .map(parseEventLine)
      .find((e) => e?.kind === 'done');
    assert.ok(done && done.kind === 'done');
    const res = JSON.parse(readFileSync(done.summaryPath, 'utf8')) as {
      rows: { op: string; bytes: number; algbwGBps: number; busbwGBps: number; timeUs: number }[];
    };
    // 4 KiB and 16 KiB for each of the five collectives.
    assert.equal(res.rows.length, 10);
    for (const row of res.rows) {
      assert.ok(row.timeUs > 0);
      const factor = row.op === 'allReduce' ? 1 : row.op === 'broadcast' ? 1 : 0.5; // n = 2: 2(n-1)/n = 1, (n-1)/n = 0.5
      assert.ok(
        Math.abs(row.busbwGBps - row.algbwGBps * factor) < 1e-9,
        `${row.op}: busbw ${row.busbwGBps} vs algbw ${row.algbwGBps}`,
      );
    }
    const bad = spawnSync(process.execPath, [cliPath, 'bench-collectives', '--link', 'tin-can'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--link: got "tin-can"; expected one of none, /);
  } finally {
    rmSync(runsDir, { recursive: true, force: true });
  }
});
