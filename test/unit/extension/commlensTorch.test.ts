/**
 * The Python helper that training scripts import (python/commlens_torch): where it
 * writes, what it does outside CommLens, and — where PyTorch is installed (Debian's
 * python3-torch here) — a real two-rank DDP job on CPU (gloo) that it profiles, one
 * trace per rank that says which rank wrote it.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { ExternalJob } from '../../../extension/externalJob';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
const HELPER = path.join(ROOT, 'python');
const TRAIN = path.join(ROOT, 'test', 'e2e', 'pytorch', 'train_ddp.py');

function python(interpreter: string, code: string, env: Record<string, string> = {}) {
  const clean = { ...process.env };
  delete clean.COMMLENS_TRACE_DIR;
  delete clean.RANK;
  return spawnSync(interpreter, ['-c', code], {
    env: { ...clean, PYTHONPATH: HELPER, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

function hasTorch(interpreter: string): boolean {
  const r = spawnSync(interpreter, ['-c', 'import torch, torch.distributed, torch.profiler'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return r.status === 0;
}

const made: string[] = [];
after(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

describe('commlens_torch', () => {
  it('names one trace per rank in COMMLENS_TRACE_DIR, rank from the launcher environment', () => {
    const r = python(
      'python3',
      'import commlens_torch as c; print(c.trace_dir()); print(c.trace_path()); print(c.rank(), c.world_size())',
      { COMMLENS_TRACE_DIR: '/runs/x/kineto', RANK: '3', WORLD_SIZE: '8' },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['/runs/x/kineto', '/runs/x/kineto/rank-3.pt.trace.json.gz', '3 8']);
  });

  it('does nothing outside CommLens: the loop runs as usual, and asking for a path says why not', () => {
    const r = python(
      'python3',
      'import commlens_torch as c\nprint(c.trace_dir())\nprint(list(c.steps([1, 2, 3])))\ntry:\n    c.trace_path()\nexcept RuntimeError as e:\n    print(e)',
    );
    assert.equal(r.status, 0, r.stderr);
    const [dir, items, err] = r.stdout.trim().split('\n');
    assert.equal(dir, 'None');
    assert.equal(items, '[1, 2, 3]');
    assert.match(err, /COMMLENS_TRACE_DIR is not set/);
  });

  it('says clearly when PyTorch is missing', (t) => {
    if (hasTorch('python3')) return t.skip('python3 has PyTorch here; the missing-PyTorch message cannot be seen');
    const r = python(
      'python3',
      'import commlens_torch as c\ntry:\n    c.profile()\nexcept ImportError as e:\n    print(e)',
      { COMMLENS_TRACE_DIR: '/tmp/x' },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /commlens_torch needs PyTorch with torch\.profiler/);
  });

  it('profiles a real two-rank DDP job (CPU, gloo): one trace per rank with its rank and ProfilerSteps', async (t) => {
    const interpreter = ['/usr/bin/python3', 'python3'].find((p) => hasTorch(p));
    if (!interpreter) return t.skip('PyTorch is not installed (Debian: apt-get install python3-torch)');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-torch-'));
    made.push(dir);
    const traceDir = path.join(dir, 'kineto');
    // torch 1.13's torchrun (Debian) trips on Python 3.11, so start the ranks the way a
    // launcher does: RANK / WORLD_SIZE / MASTER_* set for each process.
    const port = 20000 + Math.floor(Math.random() * 20000);
    const command =
      [0, 1]
        .map(
          (r) =>
            `RANK=${r} LOCAL_RANK=${r} WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=${port} ${interpreter} ${TRAIN} --steps 6 --width 128 &`,
        )
        .join(' ') + ' wait';
    let out = '';
    const job = new ExternalJob({
      command,
      cwd: dir,
      traceDir,
      pythonHelperDir: path.join(ROOT, 'python'),
      onOutput: (s) => (out += s),
    });
    const res = await job.finished;
    assert.equal(res.exitCode, 0, out);
    assert.deepEqual(
      res.traceFiles.map((f) => path.basename(f)),
      ['rank-0.pt.trace.json.gz', 'rank-1.pt.trace.json.gz'],
      out,
    );
    for (const [rank, file] of res.traceFiles.entries()) {
      const trace = JSON.parse(zlib.gunzipSync(fs.readFileSync(file)).toString('utf8')) as {
        traceEvents: { name: string }[];
        distributedInfo: { rank: number; world_size: number; backend: string };
      };
      assert.deepEqual(trace.distributedInfo, { rank, world_size: 2, backend: 'gloo' });
      const steps = trace.traceEvents.filter((e) => /^ProfilerStep#\d+$/.test(e.name)).length;
      assert.ok(steps >= 1, `rank ${rank}: ProfilerStep spans in the trace`);
      assert.ok(
        trace.traceEvents.some((e) => e.name === 'DistributedDataParallel.forward'),
        `rank ${rank}: DDP forward recorded`,
      );
    }
  });
});
