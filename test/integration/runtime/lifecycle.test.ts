/**
 * How a run ends when the world around it goes wrong: its supervisor killed, its stdout
 * closed, its folder removed, a SIGTERM to the whole process group, a bad --runs-dir.
 * Real CLI processes, the tiny preset.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { cliPath } from '../../helpers/paths';

const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' };

interface Summary {
  status: string;
  stepsCompleted: number;
  cancelReason?: string;
  error?: { message: string };
  processes?: { pid: number; startTime?: string }[];
}

function onlyRun(runsDir: string): string {
  const dirs = readdirSync(runsDir).filter((f) => !f.endsWith('.txt'));
  assert.equal(dirs.length, 1, `one run folder in ${runsDir}: ${dirs.join(', ')}`);
  return join(runsDir, dirs[0]);
}

function summaryOf(runDir: string): Summary {
  return JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')) as Summary;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Children of `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts `profile` with human output to a file; resolves once `step N/` appears. */
function startProfile(
  runsDir: string,
  args: string[],
  opts: { detached?: boolean } = {},
): { child: ReturnType<typeof spawn>; log: string } {
  const log = join(runsDir, 'out.txt');
  writeFileSync(log, '');
  const child = spawn(
    `exec "${process.execPath}" "${cliPath}" profile --preset tiny --runs-dir "${runsDir}" ${args.join(' ')} >>"${log}" 2>&1`,
    { shell: '/bin/sh', env, detached: opts.detached },
  );
  return { child, log };
}

const stepSeen = (log: string, n: number) => (): boolean => new RegExp(`step +${n}/`).test(readFileSync(log, 'utf8'));

test('the CLI killed with SIGKILL: its training child notices at once, stops at the next step as cancelled and writes summary and report', async () => {
  const runsDir = mkdtempSync(join(tmpdir(), 'commlens-life-'));
  try {
    const { child, log } = startProfile(runsDir, ['--steps', '2000']);
    await until(stepSeen(log, 2), 60_000, 'step 2');
    const kids = childrenOf(child.pid!);
    assert.equal(kids.length, 1, 'the supervisor has one training child');
    child.kill('SIGKILL');
    await until(() => !alive(kids[0]), 10_000, 'the orphaned training child to end');
    const runDir = onlyRun(runsDir);
    const s = summaryOf(runDir);
    assert.equal(s.status, 'cancelled');
    assert.match(s.cancelReason ?? '', /supervising this run ended after step \d+ of 2000/);
    assert.ok(s.stepsCompleted >= 2 && s.stepsCompleted < 2000, `stopped early: ${s.stepsCompleted}`);
    assert.ok(existsSync(join(runDir, 'report.md')), 'report.md is written');
  } finally {
    rmSync(runsDir, { recursive: true, force: true });
  }
});

test('SIGTERM to the whole process group of a 1-rank run stops it at the next step boundary, labelled with the step it reached', async () => {
  const runsDir = mkdtempSync(join(tmpdir(), 'commlens-life-'));
  try {
    const { child, log } = startProfile(runsDir, ['--steps', '3000', '--world-size', '1'], { detached: true });
    await until(stepSeen(log, 5), 60_000, 'step 5');
    process.kill(-child.pid!, 'SIGTERM');
    const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    assert.equal(code, 130);
    const s = summaryOf(onlyRun(runsDir));
    assert.equal(s.status, 'cancelled');
    assert.ok(s.stepsCompleted < 3000, `stopped before the end: ${s.stepsCompleted}`);
    const m = /cancelled by SIGTERM after step (\d+) of 3000/.exec(s.cancelReason ?? '');
    assert.ok(m, `cancel reason: ${s.cancelReason}`);
    assert.ok(
      s.stepsCompleted - Number(m[1]) <= 2,
      `stopped within a step of the signal: at ${m[1]}, ended at ${s.stepsCompleted}`,
    );
    assert.match(readFileSync(log, 'utf8'), /cancelled by SIGTERM after step \d+ of 3000; \d+ of 3000 steps finished/);
  } finally {
    rmSync(runsDir, { recursive: true, force: true });
  }
});

for (const merge of [false, true]) {
  test(`\`profile${merge ? ' 2>&1' : ''} | head -3\`: the run ends quietly as cancelled (exit 130), no crash report, summary and report written`, () => {
    const runsDir = mkdtempSync(join(tmpdir(), 'commlens-life-'));
    try {
      const script = `"${process.execPath}" "${cliPath}" profile --preset tiny --steps 200 --runs-dir "${runsDir}" ${merge ? '2>&1' : `2>"${runsDir}/err.txt"`} | head -3; echo "rc=\${PIPESTATUS[0]}"`;
      const r = spawnSync('/bin/bash', ['-c', script], { env, encoding: 'utf8', timeout: 120_000 });
      assert.match(r.stdout, /rc=130\n$/, r.stdout);
      assert.equal(r.stdout.split('\n').length, 5, `three lines through head, then rc: ${r.stdout}`);
      if (!merge) assert.equal(readFileSync(join(runsDir, 'err.txt'), 'utf8'), '', 'nothing on stderr');
      const runDir = onlyRun(runsDir);
      const s = summaryOf(runDir);
      assert.equal(s.status, 'cancelled');
      assert.match(s.cancelReason ?? '', /stdout was closed \(EPIPE\)/);
      assert.ok(existsSync(join(runDir, 'report.md')));
    } finally {
      rmSync(runsDir, { recursive: true, force: true });
    }
  });
}

test('the run folder removed mid-run: exit 1 with a message that says so, no stack, no crash report', async () => {
  const runsDir = mkdtempSync(join(tmpdir(), 'commlens-life-'));
  try {
    const sub = join(runsDir, 'runs');
    const { child, log } = startProfile(runsDir, ['--steps', '2000', '--runs-dir', `"${sub}"`]);
    await until(stepSeen(log, 2), 60_000, 'step 2');
    // Gone at once (rm -rf can race the run's writes and leave the folder): move it away, then delete.
    for (const d of readdirSync(sub)) renameSync(join(sub, d), join(runsDir, `gone-${d}`));
    const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    const text = readFileSync(log, 'utf8');
    assert.equal(code, 1, text);
    assert.match(
      text,
      /commlens profile: the run folder .* was removed while the run was going on; stopped after \d+ of 2000 steps/,
    );
    assert.doesNotMatch(text, /ENOENT|SIGABRT|\n\s+at /);
  } finally {
    rmSync(runsDir, { recursive: true, force: true });
  }
});

test('--runs-dir under /proc, naming a file, or below a file: a clear message and exit 2, promptly', () => {
  const dir = mkdtempSync(join(tmpdir(), 'commlens-life-'));
  try {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const cases: [string, RegExp][] = [
      ['/proc/commlens-runs', /--runs-dir: cannot create \/proc\/commlens-runs \(ENOENT\)/],
      [file, /--runs-dir: .*a-file is a file; expected a folder/],
      [join(file, 'runs'), /--runs-dir: .*a-file\/runs: a part of this path is a file/],
    ];
    for (const [runsDir, want] of cases) {
      const r = spawnSync(process.execPath, [cliPath, 'profile', '--preset', 'tiny', '--runs-dir', runsDir], {
        env,
        encoding: 'utf8',
        timeout: 20_000,
      });
      assert.equal(r.status, 2, `${runsDir}: exit ${r.status} ${r.signal}\n${r.stderr}`);
      assert.match(r.stderr, want);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a run in progress records its processes; once they are all gone (group SIGKILL), the CLI says the run was interrupted', async () => {
  const runsDir = mkdtempSync(join(tmpdir(), 'commlens-life-'));
  try {
    const { child, log } = startProfile(runsDir, ['--steps', '2000'], { detached: true });
    await until(stepSeen(log, 2), 60_000, 'step 2');
    const runDir = onlyRun(runsDir);
    const s = summaryOf(runDir);
    assert.equal(s.status, 'running');
    assert.ok(
      s.processes && s.processes.length === 2,
      `supervisor and trainer recorded: ${JSON.stringify(s.processes)}`,
    );
    const running = spawnSync(process.execPath, [cliPath, 'verify', runDir, 'any-id'], {
      env,
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(running.status, 2);
    assert.match(running.stderr, /is still running/);
    process.kill(-child.pid!, 'SIGKILL');
    await new Promise((res) => child.on('exit', res));
    await until(() => s.processes!.every((p) => !alive(p.pid)), 10_000, 'the processes to go');
    const r = spawnSync(process.execPath, [cliPath, 'verify', runDir, 'any-id'], {
      env,
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /was interrupted: its processes ended without finishing it \(\d+ steps recorded\)/);
  } finally {
    rmSync(runsDir, { recursive: true, force: true });
  }
});

test("doctor leaves out Dawn's per-device notices, as profile does", () => {
  const r = spawnSync(process.execPath, [cliPath, 'doctor'], { env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^adapter /);
  assert.doesNotMatch(r.stderr, /artificially reduced/);
});

test('an uncaught JavaScript error mid-run: the run ends as failed naming the error and where it was thrown, no signal guesswork', () => {
  const runsDir = mkdtempSync(join(tmpdir(), 'commlens-life-'));
  try {
    const r = spawnSync(
      process.execPath,
      [cliPath, 'profile', '--preset', 'tiny', '--steps', '50', '--runs-dir', runsDir],
      { env: { ...env, COMMLENS_DEBUG_CRASH_AFTER_STEPS: '2:throw' }, encoding: 'utf8', timeout: 120_000 },
    );
    assert.ok(r.status === 1 || r.status === 4, `exit ${r.status}\n${r.stderr}`);
    const last = r.stderr.trim().split('\n').at(-1) ?? '';
    assert.match(last, /^commlens profile: .*internal error: TypeError: debug: thrown after 2 steps \(at .*:\d+:\d+\)/);
    assert.doesNotMatch(last, /worldSize|heap|memory/);
    const s = summaryOf(onlyRun(runsDir));
    assert.equal(s.status, 'failed');
    assert.match(s.error?.message ?? '', /internal error: TypeError: debug: thrown after 2 steps \(at /);
    assert.ok(s.stepsCompleted < 50);
  } finally {
    rmSync(runsDir, { recursive: true, force: true });
  }
});
