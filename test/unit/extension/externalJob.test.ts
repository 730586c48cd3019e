/**
 * External (PyTorch) jobs: the command runs with COMMLENS_TRACE_DIR and the Python helper
 * on PYTHONPATH, its output is streamed, its per-rank traces are found in rank order,
 * and stopping it ends the whole process tree. The launcher is the CI stand-in for
 * torchrun (test/e2e/standin-torchrun.mjs), which writes real Kineto fixture traces.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { ExternalJob, externalEnv, findTraceFiles } from '../../../extension/externalJob';
import { fixturesDir } from '../../helpers/paths';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
const STANDIN = path.join(ROOT, 'test', 'e2e', 'standin-torchrun.mjs');
const FIXTURE = fixturesDir('kineto', 'hta-sampled', 'sampled_rank-0.json.gz');

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-ext-'));
}

describe('external PyTorch jobs', () => {
  it('sets COMMLENS_TRACE_DIR, puts the helper on PYTHONPATH and keeps the rest of the environment', () => {
    const env = externalEnv({
      command: 'x',
      cwd: '/',
      traceDir: '/runs/a/kineto',
      pythonHelperDir: '/ext/python',
      pathPrefix: '/venv/bin',
      env: { PATH: '/usr/bin', PYTHONPATH: '/mine', HOME: '/h' },
    });
    assert.equal(env.COMMLENS_TRACE_DIR, '/runs/a/kineto');
    assert.equal(env.PYTHONPATH, `/ext/python${path.delimiter}/mine`);
    assert.equal(env.PATH, `/venv/bin${path.delimiter}/usr/bin`);
    assert.equal(env.HOME, '/h');
    assert.equal(env.PYTHONUNBUFFERED, '1');
  });

  it('finds per-rank traces in rank order, also one folder down, and nothing else', () => {
    const d = tmp();
    // Traces are recognised by their content (trace/discover.ts): a Kineto document each; '{}' is not a trace.
    const kineto = (rank: number) =>
      JSON.stringify({
        schemaVersion: 1,
        deviceProperties: [],
        distributedInfo: { backend: 'gloo', rank, world_size: 11 },
        traceEvents: [],
      });
    fs.writeFileSync(path.join(d, 'rank-10.pt.trace.json.gz'), zlib.gzipSync(kineto(10)));
    fs.writeFileSync(path.join(d, 'rank-2.pt.trace.json'), kineto(2));
    fs.writeFileSync(path.join(d, 'notes.txt'), kineto(5));
    fs.writeFileSync(path.join(d, '.hidden.json'), kineto(6));
    fs.writeFileSync(path.join(d, 'config.json'), '{}');
    fs.mkdirSync(path.join(d, 'worker0'));
    fs.writeFileSync(path.join(d, 'worker0', 'host_123.rank_0.pt.trace.json'), kineto(0));
    fs.mkdirSync(path.join(d, 'worker0', 'deeper'));
    fs.writeFileSync(path.join(d, 'worker0', 'deeper', 'rank-1.json'), kineto(1));
    assert.deepEqual(
      findTraceFiles(d).map((f) => path.relative(d, f)),
      [path.join('worker0', 'host_123.rank_0.pt.trace.json'), 'rank-2.pt.trace.json', 'rank-10.pt.trace.json.gz'],
    );
    assert.deepEqual(findTraceFiles(path.join(d, 'missing')), []);
  });

  it('runs the stand-in launcher: two ranks write their Kineto traces where CommLens looks', async () => {
    const d = tmp();
    const traceDir = path.join(d, 'run', 'kineto');
    let out = '';
    const job = new ExternalJob({
      command: `"${process.execPath}" "${STANDIN}" --nproc-per-node 2 train.py --epochs 1`,
      cwd: d,
      traceDir,
      onOutput: (t) => (out += t),
    });
    const r = await job.finished;
    assert.equal(r.exitCode, 0, out);
    assert.deepEqual(
      r.traceFiles.map((f) => path.basename(f)),
      ['rank-0.pt.trace.json.gz', 'rank-1.pt.trace.json.gz'],
    );
    assert.deepEqual(fs.readFileSync(r.traceFiles[0]), fs.readFileSync(FIXTURE));
    assert.match(out, /\[rank 1\/2\] training train\.py --epochs 1/);
  });

  it('reports a failing command with its exit code and whatever traces it left', async () => {
    const d = tmp();
    const job = new ExternalJob({
      command: `"${process.execPath}" "${STANDIN}" --nproc-per-node 1 --exit-code 3 train.py`,
      cwd: d,
      traceDir: path.join(d, 't'),
    });
    const r = await job.finished;
    assert.equal(r.exitCode, 3);
    assert.equal(r.traceFiles.length, 1);
    const missing = new ExternalJob({ command: 'exit 0', cwd: d, traceDir: path.join(d, 'u') });
    const r2 = await missing.finished;
    assert.equal(r2.exitCode, 0);
    assert.deepEqual(r2.traceFiles, []);
  });

  it('stop() interrupts the whole tree of a command within 2 s', async () => {
    const d = tmp();
    let out = '';
    const job = new ExternalJob({
      command: `sh -c 'trap "" INT; sleep 30' & echo started; wait`,
      cwd: d,
      traceDir: path.join(d, 't'),
      onOutput: (t) => (out += t),
    });
    while (!out.includes('started')) await new Promise((r) => setTimeout(r, 10));
    const t0 = Date.now();
    const r = await job.stop(1000);
    assert.ok(Date.now() - t0 < 2000, 'stopped within 2 s');
    assert.ok(r.signal !== null || r.exitCode !== 0, 'ended by the stop');
  });
});
