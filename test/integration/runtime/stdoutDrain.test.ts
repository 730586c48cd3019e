/**
 * The CLI's output is complete through a slow pipe: `analyze --json` (the whole analysis) of a trace with
 * thousands of collectives writes more than 1 MiB, and the reader starts a second late.
 * (Exiting right after the write cut it at the pipe's 64 KiB.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { cliPath, repoRoot } from '../../helpers/paths';
import { checkConfigText, type SchemaNode } from '../../../extension/configCheck';

function rankTrace(rank: number): object {
  const ev: Record<string, unknown>[] = [];
  let corr = 1;
  const t0 = 1_700_000_000_000_000;
  for (let s = 0; s < 4; s++) {
    const st = t0 + s * 1_000_000;
    ev.push({ ph: 'X', cat: 'user_annotation', name: `ProfilerStep#${s}`, pid: 1, tid: 1, ts: st, dur: 999_000 });
    for (let k = 0; k < 600; k++) {
      const t = st + 100 + k * 1500;
      ev.push({
        ph: 'X',
        cat: 'cuda_runtime',
        name: 'cudaLaunchKernel',
        pid: 1,
        tid: 1,
        ts: t,
        dur: 5,
        args: { correlation: corr },
      });
      ev.push({
        ph: 'X',
        cat: 'kernel',
        name: 'ncclDevKernel_AllReduce_Sum_f32_RING_LL(ncclDevComm*, unsigned long, ncclWork*)',
        pid: 0,
        tid: 20,
        ts: t + 10 + rank * 7,
        dur: 400,
        args: {
          stream: 20,
          correlation: corr++,
          'Collective name': 'allreduce',
          'In msg nelems': 1 << 20,
          dtype: 'Float',
          'Group size': 2,
        },
      });
      ev.push({
        ph: 'X',
        cat: 'cuda_runtime',
        name: 'cudaLaunchKernel',
        pid: 1,
        tid: 1,
        ts: t + 20,
        dur: 5,
        args: { correlation: corr },
      });
      ev.push({
        ph: 'X',
        cat: 'kernel',
        name: 'ampere_sgemm_128x64_tn',
        pid: 0,
        tid: 7,
        ts: t + 30,
        dur: 900,
        args: { stream: 7, correlation: corr++ },
      });
    }
  }
  return {
    schemaVersion: 1,
    deviceProperties: [],
    distributedInfo: { backend: 'nccl', rank, world_size: 2 },
    traceEvents: ev,
  };
}

test('analyze --json through a slow pipe: all of more than 1 MiB arrives, parses and fits schemas/analysis.schema.json', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-drain-'));
  try {
    for (const r of [0, 1]) fs.writeFileSync(path.join(dir, `rank${r}.json`), JSON.stringify(rankTrace(r)));
    const out = path.join(dir, 'out.json');
    const res = spawnSync(
      '/bin/sh',
      ['-c', `"${process.execPath}" "${cliPath}" analyze "${dir}" --json | (sleep 1; cat > "${out}")`],
      { encoding: 'utf8', timeout: 120_000 },
    );
    assert.equal(res.status, 0, res.stderr);
    const text = fs.readFileSync(out, 'utf8');
    assert.ok(
      text.length > 1024 * 1024,
      `only ${text.length} bytes arrived, more than 1 MiB expected (output cut at the pipe?)`,
    );
    const a = JSON.parse(text) as { collectives: { instances: unknown[] } };
    assert.equal(a.collectives.instances.length, 3 * 600);
    const schema = JSON.parse(
      fs.readFileSync(path.join(repoRoot, 'schemas', 'analysis.schema.json'), 'utf8'),
    ) as SchemaNode;
    assert.deepEqual(
      checkConfigText(text, schema).map((p) => p.message),
      [],
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
