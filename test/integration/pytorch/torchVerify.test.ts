/**
 * Verify on a real PyTorch job: a 2-rank gloo DDP job on CPU (Debian's python3-torch here)
 * profiled with commlens_torch, launched with torchrun's option spelt for the installed
 * PyTorch; its analysis offers a change commlens_torch can apply; `commlens verify` on the
 * external run re-launches the job's command with COMMLENS_APPLY, and the re-run's traces
 * must show the change, with predicted and measured reported and the verdict computed.
 * Fails (not skips) in CI when PyTorch is missing (test/helpers/require.ts).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  nprocPerNodeFlag,
  torchVersion,
  TORCH_HOOKS,
  type TorchDdpRecord,
  type TorchJobRecord,
} from '../../../trace/torchJob';
import { pythonHelperDir, runExternalCommand } from '../../../runtime/externalCommand';
import { analyseJob } from '../../../analysis/externalVerify';
import type { Comparison } from '../../../analysis/verify';
import { cliPath, repoRoot } from '../../helpers/paths';
import { skipUnlessPresent } from '../../helpers/require';

const SCRIPT = path.join(repoRoot, 'test', 'integration', 'pytorch', 'ddp_job.py');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-torchverify-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function pythonWithTorch(): string | undefined {
  return ['/usr/bin/python3', 'python3'].find(
    (p) => spawnSync(p, ['-c', 'import torch.distributed.run, torch.profiler'], { timeout: 120_000 }).status === 0,
  );
}

function traceRecord(file: string): TorchJobRecord | undefined {
  const text = file.endsWith('.gz')
    ? gunzipSync(fs.readFileSync(file)).toString('utf8')
    : fs.readFileSync(file, 'utf8');
  return (JSON.parse(text) as { commlens_torch?: TorchJobRecord }).commlens_torch;
}

describe('verify on a PyTorch job (gloo, CPU)', () => {
  it('applies a suggested change through COMMLENS_APPLY and compares predicted with measured', async (t) => {
    const python = pythonWithTorch();
    const missing = skipUnlessPresent(
      python ? false : 'PyTorch is not installed (Debian: apt-get install python3-torch)',
    );
    if (missing) return t.skip(missing);
    const version = await torchVersion(python);
    assert.ok(version, 'the installed PyTorch reports its version');
    const flag = nprocPerNodeFlag(version);
    const command = `${python} -m torch.distributed.run ${flag} 2 --standalone --redirects 2 --tee 2 ${SCRIPT} --steps 10`;

    // The baseline, run as "Profile External Command…" runs it: a run folder with its record and kineto/.
    const base = path.join(tmp, 'runs', 'baseline-pytorch');
    const traceDir = path.join(base, 'kineto');
    const lines: string[] = [];
    const res = await runExternalCommand({
      command,
      cwd: tmp,
      traceDir,
      helperDir: pythonHelperDir(),
      onLine: (l) => lines.push(l),
    });
    assert.equal(res.exitCode, 0, `the baseline job failed:\n${lines.slice(-30).join('\n')}`);
    fs.writeFileSync(
      path.join(base, 'commlens-run.json'),
      JSON.stringify({
        runId: 'baseline-pytorch',
        status: 'done',
        source: { kind: 'external', command, cwd: tmp },
        startedAt: new Date().toISOString(),
      }),
    );
    const baseline = await analyseJob([traceDir]);
    assert.equal(baseline.files.length, 2, 'one trace per rank');
    const baseRecord = traceRecord(baseline.files[0]);
    assert.equal(baseRecord?.apply, undefined, 'the baseline ran without a change');
    assert.equal(baseRecord?.ddp?.length, 1, 'the baseline recorded its DDP');
    const offered = baseline.analysis.suggestions.filter((s) => s.torchApply);
    // What gloo on CPU can run: the bucket cap or the fp16 hook (commlens_torch refuses bf16 and, on PyTorch 1.x, PowerSGD with gloo).
    const pick = offered.find((s) => s.torchApply?.bucket_cap_mb !== undefined || s.torchApply?.comm_hook === 'fp16');
    assert.ok(
      pick,
      `the advisor offers a change commlens_torch can apply; it offered ${baseline.analysis.suggestions.map((s) => s.id).join(', ') || 'nothing'} (step ${baseline.analysis.figures.stepTimeNs} ns, exposed comm ${baseline.analysis.figures.exposedCommNs} ns)`,
    );

    const runs = path.join(tmp, 'runs');
    const cli = spawnSync(process.execPath, [cliPath, 'verify', base, pick.id], {
      encoding: 'utf8',
      timeout: 480_000,
      env: { ...process.env, COMMLENS_APPLY: '' },
    });
    const said = `${cli.stdout}\n${cli.stderr}`;
    assert.equal(cli.status, 0, said);
    assert.match(
      cli.stdout,
      new RegExp(`COMMLENS_APPLY='${JSON.stringify(pick.torchApply).replace(/[{}[\]]/g, '\\$&')}'`),
    );
    // torchrun --tee prefixes each line with [default<rank>]:
    assert.match(
      cli.stdout,
      /\| (\[default0\]:)?\[commlens_torch\] rank 0: applied COMMLENS_APPLY to DistributedDataParallel #1/,
    );
    assert.match(cli.stdout, /^step time\s+\S+ \S*\s+\S+ \S*\s+\S+/m);
    assert.match(
      cli.stdout,
      /^verdict: (as predicted|better than predicted|worse than predicted|predicted a win, measured a slowdown) \(/m,
    );

    const rerunDir = fs
      .readdirSync(runs)
      .filter((d) => d !== 'baseline-pytorch')
      .map((d) => path.join(runs, d))
      .find((d) => fs.existsSync(path.join(d, 'comparison.json')));
    assert.ok(rerunDir, `a re-run folder with comparison.json in ${runs}`);
    const c = JSON.parse(fs.readFileSync(path.join(rerunDir, 'comparison.json'), 'utf8')) as Comparison;
    assert.equal(c.suggestion.id, pick.id);
    assert.deepEqual(c.suggestion.torchApply, pick.torchApply);
    assert.ok(
      c.predicted.stepTimeNs > 0 && c.baseline.stepTimeNs > 0 && c.measured.stepTimeNs > 0,
      'predicted and measured',
    );
    assert.ok(Number.isFinite(c.stepTimeRelError) && Number.isFinite(c.measuredSpeedup));
    assert.ok(c.applied?.ok, c.applied?.message);

    // The re-run's own traces show the change: commlens_torch's record, per rank.
    const rerun = await analyseJob([path.join(rerunDir, 'kineto')]);
    for (const f of rerun.files) {
      const rec = traceRecord(f);
      for (const [k, v] of Object.entries(pick.torchApply ?? {}))
        assert.equal((rec?.apply as Record<string, unknown> | undefined)?.[k], v, `${f}: ${k} as applied`);
      const ddp: TorchDdpRecord | undefined = rec?.ddp?.[0];
      const before: TorchDdpRecord | undefined = baseRecord?.ddp?.[0];
      if (pick.torchApply?.bucket_cap_mb !== undefined) {
        assert.equal(ddp?.bucket_cap_mb, pick.torchApply.bucket_cap_mb);
        assert.notDeepEqual(ddp?.bucket_sizes, before?.bucket_sizes, 'the buckets DDP built changed');
      }
      if (pick.torchApply?.comm_hook !== undefined) {
        assert.equal(ddp?.comm_hook, TORCH_HOOKS[pick.torchApply.comm_hook]);
        assert.equal(before?.comm_hook ?? null, null, 'the baseline had no hook');
      }
    }
    t.diagnostic(`suggestion ${pick.id} (${JSON.stringify(pick.torchApply)}): ${c.verdict}`);
    t.diagnostic(
      cli.stdout
        .split('\n')
        .filter((l) => !l.startsWith('  |'))
        .join('\n'),
    );
  });
});
