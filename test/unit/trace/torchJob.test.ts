/**
 * PyTorch jobs CommLens runs (trace/torchJob.ts): the launcher's spelling follows the
 * installed PyTorch (detected once per interpreter), COMMLENS_APPLY values are checked the
 * way commlens_torch checks them, and what commlens_torch records in a rank's trace reaches
 * the analysis (analysis/torchJob.ts) and the check that a re-run shows the change.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  checkTorchApply,
  defaultExternalCommand,
  launcherSpellingProblem,
  nprocPerNodeFlag,
  parseTorchVersion,
  torchVersion,
} from '../../../trace/torchJob';
import { importKineto } from '../../../trace/kineto';
import { mergeRankModels } from '../../../trace/kinetoMerge';
import { torchJobOf } from '../../../analysis/torchJob';
import { analyze } from '../../../analysis/index';
import { checkApplied } from '../../../analysis/externalVerify';
import { repoRoot } from '../../helpers/paths';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-torchjob-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A stand-in interpreter that answers `-c 'import torch; print(torch.__version__)'` with `version`, counting its calls. */
function fakePython(name: string, version: string): { path: string; calls: () => number } {
  const p = path.join(tmp, name);
  const count = path.join(tmp, `${name}.calls`);
  fs.writeFileSync(p, `#!/bin/sh\necho x >> '${count}'\necho '${version}'\n`, { mode: 0o755 });
  return { path: p, calls: () => (fs.existsSync(count) ? fs.readFileSync(count, 'utf8').split('\n').length - 1 : 0) };
}

describe("torchrun's spelling follows the installed PyTorch", () => {
  it('--nproc_per_node before 2.0, --nproc-per-node from 2.0 (and when unknown)', () => {
    assert.deepEqual(parseTorchVersion('1.13.0a0+gitunknown'), [1, 13]);
    assert.deepEqual(parseTorchVersion('2.3.1+cu121'), [2, 3]);
    assert.equal(parseTorchVersion('not a version'), undefined);
    assert.equal(nprocPerNodeFlag('1.13.0a0+gitunknown'), '--nproc_per_node');
    assert.equal(nprocPerNodeFlag('1.9.0'), '--nproc_per_node');
    assert.equal(nprocPerNodeFlag('2.0.0'), '--nproc-per-node');
    assert.equal(nprocPerNodeFlag('2.3.1+cu121'), '--nproc-per-node');
    assert.equal(nprocPerNodeFlag(undefined), '--nproc-per-node');
    assert.equal(defaultExternalCommand('1.13.0a0'), 'torchrun --nproc_per_node 2 train.py');
    assert.equal(defaultExternalCommand('2.1.0'), 'torchrun --nproc-per-node 2 train.py');
  });

  it('warns about the spelling the installed torchrun rejects, and only that', () => {
    assert.match(
      launcherSpellingProblem('torchrun --nproc-per-node 2 train.py', '1.13.0a0') ?? '',
      /PyTorch 1\.13\.0a0 .* takes --nproc_per_node/,
    );
    assert.match(launcherSpellingProblem('torchrun --nproc-per-node=4 train.py', '1.12.1') ?? '', /--nproc_per_node/);
    assert.equal(launcherSpellingProblem('torchrun --nproc_per_node 2 train.py', '1.13.0'), undefined);
    assert.equal(launcherSpellingProblem('torchrun --nproc-per-node 2 train.py', '2.2.0'), undefined);
    assert.equal(launcherSpellingProblem('torchrun --nproc_per_node 2 train.py', '2.2.0'), undefined);
    assert.equal(launcherSpellingProblem('torchrun --nproc-per-node 2 train.py', undefined), undefined);
  });

  it('detects the version by asking the interpreter, once per interpreter', async () => {
    const old = fakePython('python-old', '1.13.0a0+gitunknown');
    const recent = fakePython('python-new', '2.3.1+cu121');
    assert.equal(await torchVersion(old.path), '1.13.0a0+gitunknown');
    assert.equal(await torchVersion(recent.path), '2.3.1+cu121');
    assert.equal(nprocPerNodeFlag(await torchVersion(old.path)), '--nproc_per_node');
    assert.equal(nprocPerNodeFlag(await torchVersion(recent.path)), '--nproc-per-node');
    assert.equal(old.calls(), 1, 'asked once, then cached');
    assert.equal(recent.calls(), 1, 'asked once, then cached');
    assert.equal(await torchVersion(path.join(tmp, 'no-such-python')), undefined);
    const broken = fakePython('python-broken', 'Traceback: No module named torch');
    assert.equal(await torchVersion(broken.path), undefined);
  });
});

describe('COMMLENS_APPLY values', () => {
  it('accepts the changes commlens_torch makes', () => {
    assert.deepEqual(checkTorchApply({ bucket_cap_mb: 100 }), { apply: { bucket_cap_mb: 100 } });
    assert.deepEqual(checkTorchApply({ comm_hook: 'fp16' }), { apply: { comm_hook: 'fp16' } });
    assert.deepEqual(checkTorchApply({ comm_hook: 'powersgd', powersgd_rank: 4, powersgd_start_iter: 2 }), {
      apply: { comm_hook: 'powersgd', powersgd_rank: 4, powersgd_start_iter: 2 },
    });
    assert.deepEqual(checkTorchApply({ bucket_cap_mb: 5, comm_hook: 'bf16' }), {
      apply: { bucket_cap_mb: 5, comm_hook: 'bf16' },
    });
  });

  it('refuses anything else, saying what would be right', () => {
    const problem = (v: unknown) => {
      const r = checkTorchApply(v);
      assert.ok('problem' in r, JSON.stringify(v));
      return r.problem;
    };
    assert.match(problem({}), /non-empty JSON object with any of bucket_cap_mb, comm_hook/);
    assert.match(problem([1]), /JSON object/);
    assert.match(problem({ bucket_cap_mb: 0 }), /positive number of MiB/);
    assert.match(problem({ bucket_cap_mb: '25' }), /positive number/);
    assert.match(problem({ comm_hook: 'int8' }), /use one of fp16, bf16, powersgd/);
    assert.match(problem({ powersgd_rank: 2 }), /goes with "comm_hook": "powersgd"/);
    assert.match(problem({ comm_hook: 'powersgd', powersgd_rank: 0 }), /at least 1/);
    assert.match(problem({ zero_stage: 2 }), /unknown key\(s\) zero_stage/);
  });
});

describe("what commlens_torch records in a rank's trace", () => {
  // A real pre-Kineto rank trace (test/fixtures/pytorch), wrapped the way commlens_torch wraps it.
  const raw = (rank: number) =>
    JSON.parse(
      gunzipSync(
        fs.readFileSync(path.join(repoRoot, 'test', 'fixtures', 'pytorch', 'plain2', `rank${rank}.json.gz`)),
      ).toString('utf8'),
    ) as unknown[];
  const wrapped = (rank: number, ddp: Record<string, unknown>) => ({
    traceEvents: raw(rank),
    distributedInfo: { rank, world_size: 2, backend: 'gloo' },
    commlens_torch: { version: '0.1.0', torch: '1.13.0a0', apply: { comm_hook: 'fp16' }, ddp: [ddp] },
  });

  it('reaches the analysis, and the check that a re-run shows the change', () => {
    const applied = {
      bucket_cap_mb: 25,
      comm_hook: 'fp16_compress_hook',
      bucket_sizes: [41024, 8448],
      applied: { comm_hook: 'fp16' },
    };
    const model = mergeRankModels([0, 1].map((r) => importKineto(wrapped(r, applied), { fileName: `rank${r}.json` })));
    const job = torchJobOf(model);
    assert.deepEqual(job, {
      version: '0.1.0',
      torch: '1.13.0a0',
      apply: { comm_hook: 'fp16' },
      ddp: [applied],
    });
    const a = analyze(model);
    assert.deepEqual(a.source.pytorchJob, job);
    const ok = checkApplied({ comm_hook: 'fp16' }, a);
    assert.equal(ok.ok, true, ok.message);
    assert.match(ok.message, /comm hook fp16_compress_hook/);
    const wrong = checkApplied({ bucket_cap_mb: 100 }, a);
    assert.equal(wrong.ok, false);
    assert.match(wrong.message, /DDP #1 has bucket_cap_mb 25, not 100/);
  });

  it('a legacy trace wrapped by commlens_torch reads as the bare array does: ops are computation, ranks aligned', () => {
    const ddp = { bucket_cap_mb: 25, comm_hook: null };
    const fromWrapped = analyze(
      mergeRankModels([0, 1].map((r) => importKineto(wrapped(r, ddp), { fileName: `rank${r}.json` }))),
    );
    const fromArray = analyze(
      mergeRankModels([0, 1].map((r) => importKineto(raw(r), { fileName: `rank${r}.json`, rank: r }))),
    );
    for (const r of [0, 1]) {
      assert.ok(fromArray.ranks[r].temporal.computeNs > 0);
      assert.equal(fromWrapped.ranks[r].temporal.computeNs, fromArray.ranks[r].temporal.computeNs, `rank ${r} compute`);
      assert.equal(
        fromWrapped.ranks[r].overlap.exposedCommNs,
        fromArray.ranks[r].overlap.exposedCommNs,
        `rank ${r} exposed`,
      );
    }
    assert.equal(fromWrapped.figures.stepTimeNs, fromArray.figures.stepTimeNs);
  });

  it('a trace without the record says so instead of passing the check', () => {
    const model = mergeRankModels(
      [0, 1].map((r) => importKineto({ traceEvents: raw(r), distributedInfo: { rank: r, world_size: 2 } }, {})),
    );
    assert.equal(torchJobOf(model), undefined);
    const c = checkApplied({ comm_hook: 'fp16' }, analyze(model));
    assert.equal(c.ok, false);
    assert.match(c.message, /carry no commlens_torch record/);
  });
});
