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
  it('reads COMMLENS_APPLY: the changes it makes, each spelling normalised', () => {
    const r = python(
      'python3',
      [
        'import json, commlens_torch as c',
        'for t in [\'{"bucket_cap_mb": 100}\', \'{"comm_hook": "fp16_compress_hook"}\', \'{"comm_hook": "powersgd"}\', \'{"comm_hook": "bf16", "bucket_cap_mb": 5}\']:',
        '    print(json.dumps(c.parse_apply(t), sort_keys=True))',
      ].join('\n'),
    );
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), [
      '{"bucket_cap_mb": 100}',
      '{"comm_hook": "fp16"}',
      '{"comm_hook": "powersgd", "powersgd_rank": 1, "powersgd_start_iter": 2}',
      '{"bucket_cap_mb": 5, "comm_hook": "bf16"}',
    ]);
  });

  it('refuses a COMMLENS_APPLY it cannot apply, naming what would work', () => {
    const r = python(
      'python3',
      [
        'import commlens_torch as c',
        "for t in ['not json', '{}', '{\"zero_stage\": 2}', '{\"bucket_cap_mb\": -1}', '{\"comm_hook\": \"int8\"}', '{\"powersgd_rank\": 2}']:",
        '    try:',
        '        c.parse_apply(t)',
        '        print("accepted", t)',
        '    except c.ApplyError as e:',
        '        print(e)',
      ].join('\n'),
    );
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 6, r.stdout);
    assert.match(lines[0], /is not JSON .* expected an object such as \{"bucket_cap_mb": 100\}/);
    assert.match(lines[1], /expected a non-empty JSON object/);
    assert.match(lines[2], /unknown key\(s\) zero_stage; commlens_torch applies bucket_cap_mb, comm_hook/);
    assert.match(lines[3], /bucket_cap_mb must be a positive number of MiB/);
    assert.match(lines[4], /comm_hook 'int8' is not one commlens_torch applies; use one of fp16, bf16, powersgd/);
    assert.match(lines[5], /powersgd_rank goes with "comm_hook": "powersgd"/);
  });

  it('stops a job whose COMMLENS_APPLY is not valid at `import commlens_torch`', () => {
    const r = python('python3', 'import commlens_torch', { COMMLENS_APPLY: '{"bucket_cap_mb": "big"}' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /ApplyError: COMMLENS_APPLY=.*bucket_cap_mb must be a positive number/);
  });

  it('applies COMMLENS_APPLY to a DDP built after the import, says so, and records it (gloo, one rank)', (t) => {
    const interpreter = ['/usr/bin/python3', 'python3'].find((p) => hasTorch(p));
    if (!interpreter) return t.skip('PyTorch is not installed (Debian: apt-get install python3-torch)');
    const port = 20000 + Math.floor(Math.random() * 20000);
    const code = [
      'import json, torch, torch.distributed as dist, torch.nn as nn',
      'import commlens_torch as c',
      'from torch.nn.parallel import DistributedDataParallel as DDP',
      'import tempfile; dist.init_process_group("gloo", init_method="file://" + tempfile.mktemp(), rank=0, world_size=1)',
      'ddp = DDP(nn.Linear(64, 64), bucket_cap_mb=1)',
      'ddp(torch.randn(4, 64)).sum().backward()',
      'print(json.dumps(c.job_metadata(), sort_keys=True))',
      'try:',
      '    ddp.register_comm_hook(None, lambda s, b: None)',
      'except c.ApplyError as e:',
      '    print(e)',
      // Tear down before exit: PyTorch 1.13's gloo aborts now and then at
      // interpreter exit ("terminate called without an active exception")
      // when the process group is left to static destructors.
      'del ddp',
      'dist.destroy_process_group()',
    ].join('\n');
    const r = python(interpreter, code, {
      COMMLENS_APPLY: '{"bucket_cap_mb": 100, "comm_hook": "fp16"}',
      RANK: '0',
      WORLD_SIZE: '1',
      MASTER_ADDR: '127.0.0.1',
      MASTER_PORT: String(port),
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stderr,
      /\[commlens_torch\] rank 0: applied COMMLENS_APPLY to DistributedDataParallel #1: bucket_cap_mb 1 -> 100; comm hook fp16_compress_hook/,
    );
    const [meta, refusal] = r.stdout.trim().split('\n');
    const m = JSON.parse(meta) as {
      apply: unknown;
      ddp: { bucket_cap_mb: number; comm_hook: string; applied: unknown }[];
    };
    assert.deepEqual(m.apply, { bucket_cap_mb: 100, comm_hook: 'fp16' });
    assert.equal(m.ddp.length, 1);
    assert.equal(m.ddp[0].bucket_cap_mb, 100);
    assert.equal(m.ddp[0].comm_hook, 'fp16_compress_hook');
    assert.match(refusal, /registered the fp16_compress_hook comm hook .* DDP takes one hook/);
  });

  it('refuses to profile when COMMLENS_APPLY reached no DDP (built before the import)', (t) => {
    const interpreter = ['/usr/bin/python3', 'python3'].find((p) => hasTorch(p));
    if (!interpreter) return t.skip('PyTorch is not installed (Debian: apt-get install python3-torch)');
    const code = [
      'import commlens_torch as c',
      'try:',
      '    c.profile()',
      'except c.ApplyError as e:',
      '    print(e)',
    ].join('\n');
    const r = python(interpreter, code, { COMMLENS_APPLY: '{"comm_hook": "fp16"}', COMMLENS_TRACE_DIR: '/tmp/none' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /no DistributedDataParallel was built after `import commlens_torch`.*commlens_torch\.ddp\(model/,
    );
  });

  it('a hook the backend cannot run stops the job when DDP is built, naming the version and what works (bf16 on gloo)', (t) => {
    const interpreter = ['/usr/bin/python3', 'python3'].find((p) => hasTorch(p));
    if (!interpreter) return t.skip('PyTorch is not installed (Debian: apt-get install python3-torch)');
    const probe = python(
      interpreter,
      [
        'import torch, torch.distributed as dist',
        'import tempfile; dist.init_process_group("gloo", init_method="file://" + tempfile.mktemp(), rank=0, world_size=1)',
        'try:',
        '    dist.all_reduce(torch.zeros(1, dtype=torch.bfloat16)); print("bf16 works")',
        'except RuntimeError:',
        '    print("bf16 fails")',
        'dist.destroy_process_group()',
      ].join('\n'),
      {
        RANK: '0',
        WORLD_SIZE: '1',
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(20000 + Math.floor(Math.random() * 20000)),
      },
    );
    assert.equal(probe.status, 0, probe.stderr);
    const code = [
      'import torch, torch.distributed as dist, torch.nn as nn',
      'import commlens_torch as c',
      'import tempfile; dist.init_process_group("gloo", init_method="file://" + tempfile.mktemp(), rank=0, world_size=1)',
      'try:',
      '    torch.nn.parallel.DistributedDataParallel(nn.Linear(8, 8))',
      '    print("applied")',
      'except c.ApplyError as e:',
      '    print(e)',
      'dist.destroy_process_group()',
    ].join('\n');
    const r = python(interpreter, code, {
      COMMLENS_APPLY: '{"comm_hook": "bf16"}',
      RANK: '0',
      WORLD_SIZE: '1',
      MASTER_ADDR: '127.0.0.1',
      MASTER_PORT: String(20000 + Math.floor(Math.random() * 20000)),
    });
    assert.equal(r.status, 0, r.stderr);
    if (probe.stdout.includes('bf16 works')) assert.equal(r.stdout.trim(), 'applied');
    else
      assert.match(
        r.stdout,
        /the bf16 comm hook cannot run with the gloo backend of PyTorch \d+\.\d+\S*: an all-reduce of torch\.bfloat16 fails \(.+\); fp16 or powersgd would work here/,
      );
  });

  it('PowerSGD with gloo on PyTorch 1.x is refused when DDP is built (a rank would abort in gloo)', (t) => {
    const interpreter = ['/usr/bin/python3', 'python3'].find((p) => hasTorch(p));
    if (!interpreter) return t.skip('PyTorch is not installed (Debian: apt-get install python3-torch)');
    const code = [
      'import torch, torch.distributed as dist, torch.nn as nn',
      'import commlens_torch as c',
      'import tempfile; dist.init_process_group("gloo", init_method="file://" + tempfile.mktemp(), rank=0, world_size=1)',
      'print(torch.__version__)',
      'try:',
      '    torch.nn.parallel.DistributedDataParallel(nn.Linear(8, 8))',
      '    print("applied")',
      'except c.ApplyError as e:',
      '    print(e)',
      'dist.destroy_process_group()',
    ].join('\n');
    const r = python(interpreter, code, {
      COMMLENS_APPLY: '{"comm_hook": "powersgd"}',
      RANK: '0',
      WORLD_SIZE: '1',
      MASTER_ADDR: '127.0.0.1',
      MASTER_PORT: String(20000 + Math.floor(Math.random() * 20000)),
    });
    assert.equal(r.status, 0, r.stderr);
    const [version, outcome] = r.stdout.trim().split('\n');
    if (Number(version.split('.')[0]) >= 2) assert.equal(outcome, 'applied');
    else
      assert.match(
        outcome,
        /the PowerSGD comm hook breaks the gloo backend of PyTorch 1\.\d+\S*.*; fp16 would work here, or powersgd with NCCL on GPUs/,
      );
  });
});
