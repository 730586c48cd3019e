// The heap of `analyze` / `compare` on big jobs (cli/heap.ts): chosen from the machine for big
// inputs only, never over a heap the user or a parent chose, and really given to the child;
// a Kineto job whose ranks are digested is analysed without it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { totalmem, tmpdir } from 'node:os';
import * as path from 'node:path';
import { getHeapStatistics } from 'node:v8';
import {
  BIG_INPUT_BYTES,
  childExecArgv,
  HEAP_ENV,
  HEAP_SHARE,
  HeapWanted,
  heapToRunWith,
  inputJsonBytes,
  runWithHeap,
} from '../../../cli/heap';
import { analyzeCmd } from '../../../cli/commands/analyze';
import { fixturesDir } from '../../helpers/paths';
import { shiftedStepsJob } from '../../helpers/kinetoJobs';
import { tiledPairJob } from '../../../bench/scaleJobs';

test('a big input gets a heap sized from the machine; small inputs, other commands and a chosen heap do not', () => {
  const dir = fs.mkdtempSync(path.join(tmpdir(), 'commlens-heap-'));
  try {
    // Sparse files: sizes without the disk.
    fs.mkdirSync(path.join(dir, 'job'));
    fs.writeFileSync(path.join(dir, 'job', 'rank-0.json'), '');
    fs.truncateSync(path.join(dir, 'job', 'rank-0.json'), BIG_INPUT_BYTES / 2);
    fs.writeFileSync(path.join(dir, 'job', 'rank-1.json.gz'), '');
    fs.truncateSync(path.join(dir, 'job', 'rank-1.json.gz'), BIG_INPUT_BYTES / 8);
    fs.writeFileSync(path.join(dir, 'small.json'), '{}');
    const job = path.join(dir, 'job');
    // gzip counts as ten times its size.
    assert.equal(inputJsonBytes([job]), BIG_INPUT_BYTES / 2 + (10 * BIG_INPUT_BYTES) / 8);
    assert.equal(inputJsonBytes(['--json', job, '--cache-dir', '/nowhere']), inputJsonBytes([job]));
    const want = Math.floor((totalmem() / 2 ** 20) * HEAP_SHARE);
    const roomy = want >= (getHeapStatistics().heap_size_limit / 2 ** 20) * 1.25;
    const env = {};
    assert.equal(heapToRunWith('analyze', [job], env, []), roomy ? want : undefined);
    assert.equal(heapToRunWith('compare', [job, job], env, []), roomy ? want : undefined);
    assert.equal(heapToRunWith('analyze', [path.join(dir, 'small.json')], env, []), undefined);
    assert.equal(heapToRunWith('profile', [job], env, []), undefined);
    assert.equal(heapToRunWith('analyze', [job], { [HEAP_ENV]: '9000' }, []), undefined);
    assert.equal(heapToRunWith('analyze', [job], { NODE_OPTIONS: '--max-old-space-size=2048' }, []), undefined);
    assert.equal(heapToRunWith('analyze', [job], env, ['--max-old-space-size=2048']), undefined);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the child runs with the heap asked for, and its exit code comes back', async () => {
  const dir = fs.mkdtempSync(path.join(tmpdir(), 'commlens-heap-'));
  try {
    const script = path.join(dir, 'child.js');
    fs.writeFileSync(
      script,
      `require('fs').writeFileSync(${JSON.stringify(path.join(dir, 'out.json'))}, JSON.stringify({ limit: require('v8').getHeapStatistics().heap_size_limit, env: process.env.${HEAP_ENV}, argv: process.argv.slice(2), execArgv: process.execArgv })); process.exit(7);`,
    );
    const code = await runWithHeap(1536, script, ['analyze', 'x']);
    assert.equal(code, 7);
    const seen = JSON.parse(fs.readFileSync(path.join(dir, 'out.json'), 'utf8')) as {
      limit: number;
      env: string;
      argv: string[];
      execArgv: string[];
    };
    assert.ok(seen.limit >= 1536 * 2 ** 20 && seen.limit < 1800 * 2 ** 20, `heap limit ${seen.limit}`);
    assert.equal(seen.env, '1536');
    assert.deepEqual(seen.argv, ['analyze', 'x']);
    assert.ok(seen.execArgv.includes('--no-memory-reducer'), `the child's options: ${seen.execArgv.join(' ')}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the child's options keep this process's, and a memory reducer the user named", () => {
  assert.deepEqual(childExecArgv(['--cpu-prof'], 2048), [
    '--cpu-prof',
    '--no-memory-reducer',
    '--max-old-space-size=2048',
  ]);
  assert.deepEqual(childExecArgv(['--memory-reducer'], 2048), ['--memory-reducer', '--max-old-space-size=2048']);
  assert.deepEqual(childExecArgv(['--no-memory_reducer'], 100), ['--no-memory_reducer', '--max-old-space-size=100']);
});

test('analyze of a Kineto job runs here, digested; it asks for the child only before loading whole ranks, with nothing written', async () => {
  const dir = fs.mkdtempSync(path.join(tmpdir(), 'commlens-heap-cache-'));
  try {
    for (const r of [0, 1])
      fs.copyFileSync(
        fixturesDir('kineto', 'hta-sampled', `sampled_rank-${r}.json.gz`),
        path.join(dir, `sampled_rank-${r}.json.gz`),
      );
    const args = [dir, '--cache-dir', path.join(dir, 'cache')];
    const io = () => {
      const r = { out: '', err: '' };
      return { r, io: { out: (t: string) => void (r.out += t), err: (t: string) => void (r.err += t) } };
    };
    let asked = 0;
    const wanted = () => {
      asked++;
      throw new HeapWanted(1234);
    };
    // Digested ranks: analysed here, cold, without the gate, as the child would.
    const here = io();
    assert.equal(await analyzeCmd.runUntilLoad!([...args, '--no-cache'], wanted, here.io), 0, here.r.err);
    assert.equal(asked, 0);
    const child = io();
    assert.equal(await analyzeCmd.run([...args, '--no-cache'], child.io), 0, child.r.err);
    assert.equal(here.r.out, child.r.out);
    // Cached: answered here too.
    assert.equal(await analyzeCmd.run(args, io().io), 0);
    const cached = io();
    assert.equal(await analyzeCmd.runUntilLoad!(args, wanted, cached.io), 0, cached.r.err);
    assert.equal(asked, 0);
    assert.equal(cached.r.out, child.r.out);
    // Ranks whose steps do not line up are analysed whole: the gate stops it before they are
    // loaded, with nothing written, for the child; the child's run (no gate) analyses them.
    const shifted = shiftedStepsJob(
      await tiledPairJob('heap-shift', fixturesDir('kineto', 'hta-sampled')),
      path.join(dir, 'shifted'),
    );
    const stopped = io();
    await assert.rejects(
      analyzeCmd.runUntilLoad!([path.dirname(shifted[0]), '--no-cache'], wanted, stopped.io),
      HeapWanted,
    );
    assert.equal(asked, 1);
    assert.deepEqual(stopped.r, { out: '', err: '' });
    const whole = io();
    assert.equal(await analyzeCmd.run([path.dirname(shifted[0]), '--no-cache'], whole.io), 0, whole.r.err);
    assert.match(whole.r.out, /\| 0 \|[^\n]*\n\| 1 \|/);
    // Bad input is answered here too (no child needed to say it).
    const bad = io();
    assert.equal(await analyzeCmd.runUntilLoad!([path.join(dir, 'missing')], wanted, bad.io), 2);
    assert.match(bad.r.err, /missing/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
