import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, tmpdir } from 'node:os';
import { cliPath } from '../../helpers/paths';
import { loadTraceFile } from '../../../trace/load';
import { runInfoOf } from '../../../analysis/runInfo';
import {
  OTHER_CPU_COUNTER,
  OTHER_CPU_WAITING_COUNTER,
  OTHER_CPU_WORKING_COUNTER,
  PROCESS_CPU_COUNTER,
} from '../../../trace/runCounters';
import { parseEventLine, type RuntimeEvent } from '../../../cli/protocol';

const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' };

test('a real 2-rank, 3-step profile writes a trace with compute and all-reduce spans on every rank and step, and the loss falls', async () => {
  const runsDir = mkdtempSync(join(tmpdir(), 'commlens-it-'));
  try {
    const r = spawnSync(
      process.execPath,
      [cliPath, 'profile', '--preset', 'tiny', '--steps', '3', '--world-size', '2', '--runs-dir', runsDir, '--events'],
      { env, encoding: 'utf8', timeout: 120_000 },
    );
    const events = r.stdout
      .split('\n')
      .map(parseEventLine)
      .filter((e): e is RuntimeEvent => e !== undefined);
    assert.equal(r.status, 0, `exit ${r.status}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.equal(events[0].kind, 'start');
    const steps = events.filter((e) => e.kind === 'step');
    assert.equal(steps.length, 3);
    const done = events.find((e) => e.kind === 'done');
    assert.ok(done && done.kind === 'done' && !done.partial);

    const model = await loadTraceFile(done.tracePath);
    assert.equal(model.processes.length, 2, 'one process per rank');
    const info = model.meta.info ?? {};
    assert.equal(info.link, 'eth-10g', 'run metadata names the link profile');
    assert.equal(info.linkScaleFactor, 1);
    assert.match(String(info.config), /"worldSize":2/);
    assert.equal(info.runStatus, 'completed', 'the trace records how the run ended');
    assert.ok(info.adapter && info.node, 'adapter and software versions are recorded');
    // The host probe's codec and staging-copy speeds, read back as the replay reads them.
    const probe = runInfoOf(model).hostProbe;
    assert.ok(probe, `host probe recorded: ${JSON.stringify(info.hostProbe)}`);
    for (const name of ['fp16', 'bf16', 'int8-ef', 'topk-dgc', 'powersgd', 'onebit-adam'])
      assert.ok(probe.codecBytesPerNs[name] > 0, `${name} codec speed`);
    // Timed in a worker of its own (the bundle's hostLoopsWorker.js beside the CLI), as the ranks run them.
    assert.equal((info.hostProbe as { hostLoopsThread?: string }).hostLoopsThread, 'worker');
    assert.ok(probe.d2h && probe.d2h.bytesPerNs > 0 && probe.h2d && probe.h2d.bytesPerNs > 0, 'staging copy speeds');
    // The load probe: other programs' cores while the process slept and while the ranks computed, read back.
    assert.ok(
      probe.idleOtherCores !== undefined && probe.idleOtherCores >= 0 && probe.idleOtherCores <= cpus().length + 0.5,
      `load probe, idle window: ${JSON.stringify(info.hostProbe)}`,
    );
    assert.ok(
      probe.computingOtherCores !== undefined &&
        probe.computingOtherCores >= 0 &&
        probe.computingOtherCores <= cpus().length + 0.5,
      `load probe, computing window: ${JSON.stringify(info.hostProbe)}`,
    );
    // The dispatch probe (runtime/dispatchProbe.ts): both kernels timed at both sizes on both ranks.
    assert.ok(
      probe.dispatchNs !== undefined && probe.dispatchNs >= 0,
      `dispatch probe: ${JSON.stringify(info.hostProbe)}`,
    );
    const dispatch = (
      info.hostProbe as { dispatch: { ranks: number; kernels: Record<string, Record<string, number>> } }
    ).dispatch;
    assert.equal(dispatch.ranks, 2);
    for (const k of ['matmul', 'add'])
      assert.ok(dispatch.kernels[k].smallNs > 0 && dispatch.kernels[k].largeNs > 0, `${k} timed at both sizes`);
    // The sharing probe: the same kernels on both ranks at once and on one alone, read back as the model reads it.
    assert.ok(
      probe.sharingSpeedup !== undefined && probe.sharingSpeedup > 0,
      `sharing probe: ${JSON.stringify(info.hostProbe)}`,
    );
    const summary = JSON.parse(readFileSync(done.summaryPath, 'utf8')) as {
      loss: number[];
      status: string;
      stepsCompleted: number;
    };
    assert.equal(summary.status, 'completed');
    assert.equal(summary.stepsCompleted, 3);
    assert.ok(summary.loss[2] < summary.loss[0], `loss should fall: ${summary.loss.join(', ')}`);

    for (const p of model.processes) {
      const tracks = model.tracks.filter((t) => t.pid === p.pid);
      const compute = tracks.find((t) => t.stream === 'compute');
      const comm = tracks.find((t) => t.stream === 'communication');
      const host = tracks.find((t) => t.stream === 'host');
      assert.ok(compute && comm && host, `rank ${p.rank} has compute, communication and host tracks`);
      const stepSlices = model.slices.filter((s) => s.track === host.id && s.category === 'step');
      assert.equal(stepSlices.length, 3, `rank ${p.rank}: 3 step slices`);
      for (const st of stepSlices) {
        const inStep = (track: number) =>
          model.slices.filter((s) => s.track === track && s.startNs >= st.startNs && s.startNs < st.startNs + st.durNs);
        assert.ok(
          inStep(compute.id).some((s) => s.category === 'kernel' && s.durNs > 0),
          `rank ${p.rank} ${st.name}: a compute span`,
        );
        assert.ok(
          inStep(comm.id).some((s) => s.category === 'collective' && /allreduce/i.test(s.name)),
          `rank ${p.rank} ${st.name}: an all-reduce span`,
        );
      }
    }
    assert.ok(model.flows.length >= 3, 'collectives are joined across ranks by flows');
    // The process's CPU over each step (runtime/runTrace.ts): one counter, on rank 0, a sample per
    // step, each the cores the run's process kept busy (it trains, so some; at most the machine's).
    const cpu = model.counters.filter((c) => model.tracks[c.track].name === PROCESS_CPU_COUNTER);
    assert.equal(cpu.length, 1, 'one process CPU counter');
    assert.equal(model.tracks[cpu[0].track].pid, model.processes[0].pid, 'on rank 0');
    assert.equal(cpu[0].values.length, 3);
    for (const v of cpu[0].values) assert.ok(v > 0 && v <= cpus().length + 0.5, `${v} cores busy`);
    // And the machine's other programs meanwhile: one counter beside it, a sample per step, between
    // none and every core.
    const other = model.counters.filter((c) => model.tracks[c.track].name === OTHER_CPU_COUNTER);
    assert.equal(other.length, 1, "one counter of the other programs' CPU");
    assert.equal(model.tracks[other[0].track].pid, model.processes[0].pid, 'on rank 0');
    assert.equal(other[0].values.length, 3);
    for (const v of other[0].values) assert.ok(v >= 0 && v <= cpus().length + 0.5, `${v} cores busy`);
    // Split by whether rank 0 waited on its collectives: per step, a sample of each part that
    // lasted 20 ms or more, none for a shorter one. The parts are read back from rank 0's own
    // `wait …` spans (the meter brackets the same waits, a few µs apart): a step whose part is
    // clearly over (≥ 25 ms) must have its sample, one clearly under (≤ 15 ms) must not.
    const pid0 = model.processes[0].pid;
    const rank0Tracks = new Set(model.tracks.filter((t) => t.pid === pid0).map((t) => t.id));
    const host0 = model.tracks.find((t) => t.pid === pid0 && t.stream === 'host');
    assert.ok(host0, 'rank 0 has a host track');
    const steps0 = model.slices
      .filter((s) => s.track === host0.id && s.category === 'step')
      .sort((a, b) => a.startNs - b.startNs);
    const waits0 = model.slices.filter((s) => rank0Tracks.has(s.track) && s.name.startsWith('wait '));
    let decided = 0;
    for (const [name, part] of [
      [OTHER_CPU_WAITING_COUNTER, 'waiting'],
      [OTHER_CPU_WORKING_COUNTER, 'working'],
    ] as const) {
      const split = model.counters.filter((c) => model.tracks[c.track].name === name);
      assert.ok(split.length <= 1, `${name}: one track at most`);
      for (const c of split) assert.equal(model.tracks[c.track].pid, pid0, `${name} on rank 0`);
      const samples = split.length ? split[0] : undefined;
      for (const v of samples?.values ?? []) assert.ok(v >= 0 && v <= cpus().length + 0.5, `${name}: ${v} cores`);
      for (const st of steps0) {
        const end = st.startNs + st.durNs;
        const ivs = waits0
          .filter((w) => w.startNs < end && w.startNs + w.durNs > st.startNs)
          .map((w) => [Math.max(w.startNs, st.startNs), Math.min(w.startNs + w.durNs, end)] as const)
          .sort((a, b) => a[0] - b[0]);
        let blocked = 0,
          upTo = -Infinity;
        for (const [a, b] of ivs) {
          const from = Math.max(a, upTo);
          if (b > from) blocked += b - from;
          upTo = Math.max(upTo, b);
        }
        const wallNs = part === 'waiting' ? blocked : st.durNs - blocked;
        const has = [...(samples?.tsNs ?? [])].some((t) => t >= st.startNs && t < end);
        if (wallNs >= 25e6) {
          decided++;
          assert.ok(has, `${name}, ${st.name}: ${(wallNs / 1e6).toFixed(1)} ms ${part} and no sample`);
        } else if (wallNs <= 15e6) {
          decided++;
          assert.ok(!has, `${name}, ${st.name}: ${(wallNs / 1e6).toFixed(1)} ms ${part} and a sample`);
        }
      }
    }
    assert.ok(decided >= 3, `the split counters' steps decided: ${decided} of 6`);
  } finally {
    rmSync(runsDir, { recursive: true, force: true });
  }
});

test('an invalid config is refused with the field named, exit code 2, and nothing written', () => {
  const runsDir = mkdtempSync(join(tmpdir(), 'commlens-it-'));
  try {
    const r = spawnSync(
      process.execPath,
      [cliPath, 'profile', '--preset', 'tiny', '--link', 'carrier-pigeon', '--runs-dir', runsDir],
      { env, encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(r.status, 2);
    assert.match(r.stderr, /link: got "carrier-pigeon", expected one of .*eth-10g/);
    assert.deepEqual(readdirSync(runsDir), []);
    const r2 = spawnSync(process.execPath, [cliPath, 'profile', '--preset', 'nope', '--runs-dir', runsDir], {
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r2.status, 2);
    assert.match(r2.stderr, /preset: got "nope", expected one of tiny/);
  } finally {
    rmSync(runsDir, { recursive: true, force: true });
  }
});

test('SIGTERM mid-run ends every rank quickly and leaves a partial trace of the finished steps', async () => {
  const runsDir = mkdtempSync(join(tmpdir(), 'commlens-it-'));
  try {
    const child = spawn(
      process.execPath,
      [cliPath, 'profile', '--preset', 'tiny', '--steps', '500', '--runs-dir', runsDir, '--events'],
      { env },
    );
    let out = '';
    let killedAt = 0;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      out += d;
      if (!killedAt && out.split('\n').filter((l) => parseEventLine(l)?.kind === 'step').length >= 2) {
        killedAt = Date.now();
        child.kill('SIGTERM');
      }
    });
    const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    const stopMs = Date.now() - killedAt;
    assert.ok(killedAt > 0, `the run never reached step 2:\n${out}`);
    assert.equal(code, 130);
    assert.ok(stopMs < 2000, `stopped ${stopMs} ms after SIGTERM (limit 2000)`);
    const done = out
      .split('\n')
      .map(parseEventLine)
      .find((e) => e?.kind === 'done');
    assert.ok(done && done.kind === 'done' && done.partial);
    assert.ok(existsSync(done.tracePath));
    const model = await loadTraceFile(done.tracePath);
    assert.ok(
      model.slices.filter((s) => s.category === 'step').length >= 2 * 2,
      'finished steps of both ranks are in the partial trace',
    );
  } finally {
    rmSync(runsDir, { recursive: true, force: true });
  }
});

test('with no Vulkan driver, doctor and profile exit 3 and say what to install', () => {
  const noDriver = { ...env, VK_DRIVER_FILES: '/nonexistent/icd.json', VK_ICD_FILENAMES: '/nonexistent/icd.json' };
  const runsDir = mkdtempSync(join(tmpdir(), 'commlens-it-'));
  try {
    for (const args of [['doctor'], ['profile', '--preset', 'tiny', '--runs-dir', runsDir]]) {
      const r = spawnSync(process.execPath, [cliPath, ...args], { env: noDriver, encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 3, `${args[0]}: exit ${r.status}\n${r.stderr}`);
      assert.match(r.stderr, /No WebGPU adapter found/);
      assert.match(r.stderr, /apt-get install -t bookworm-backports mesa-vulkan-drivers/);
    }
    assert.deepEqual(readdirSync(runsDir), [], 'nothing written without an adapter');
  } finally {
    rmSync(runsDir, { recursive: true, force: true });
  }
});

test('`profile --help` prints the options and exits 0; an unknown option is refused with them', () => {
  const help = spawnSync(process.execPath, [cliPath, 'profile', '--help'], { env, encoding: 'utf8', timeout: 30_000 });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /usage: commlens profile[\s\S]*--link-scale F[\s\S]*\n$/);
  const bad = spawnSync(process.execPath, [cliPath, 'profile', '--bogus'], { env, encoding: 'utf8', timeout: 30_000 });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown option '--bogus'[\s\S]*usage: commlens profile/);
});

test('the trace records how many threads the software rasterizer ran with; a value the user set is kept', async () => {
  const runsDir = mkdtempSync(join(tmpdir(), 'commlens-it-'));
  try {
    const r = spawnSync(
      process.execPath,
      [cliPath, 'profile', '--preset', 'tiny', '--steps', '1', '--runs-dir', runsDir, '--events'],
      { env: { ...env, LP_NUM_THREADS: '3' }, encoding: 'utf8', timeout: 120_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    const done = r.stdout
      .split('\n')
      .map(parseEventLine)
      .find((e) => e?.kind === 'done');
    assert.ok(done && done.kind === 'done');
    const model = await loadTraceFile(done.tracePath);
    assert.equal(model.meta.info?.lavapipeThreads, '3');
  } finally {
    rmSync(runsDir, { recursive: true, force: true });
  }
});

test('a crash in native code (SIGSEGV, as a driver out of memory ends) mid-run: exit 4, the reason in the event, summary and trace, finished steps kept and analysed', async () => {
  const runsDir = mkdtempSync(join(tmpdir(), 'commlens-it-'));
  try {
    const t0 = Date.now();
    const r = spawnSync(
      process.execPath,
      [cliPath, 'profile', '--preset', 'tiny', '--steps', '6', '--world-size', '2', '--runs-dir', runsDir, '--events'],
      {
        env: { ...env, COMMLENS_DEBUG_CRASH_AFTER_STEPS: '2' },
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
    assert.equal(r.status, 4, `exit ${r.status} ${r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.ok(Date.now() - t0 < 120_000);
    const events = r.stdout
      .split('\n')
      .map(parseEventLine)
      .filter((e): e is RuntimeEvent => e !== undefined);
    assert.equal(events.filter((e) => e.kind === 'step').length, 2);
    const err = events.at(-1);
    assert.ok(err && err.kind === 'error', `the last event is the error: ${JSON.stringify(err)}`);
    assert.equal(err.exitCode, 4);
    assert.equal(err.signal, 'SIGSEGV');
    assert.match(err.message, /crashed in native code \(SIGSEGV\).*out of memory.*lower worldSize/);
    assert.ok(err.tracePath && existsSync(err.tracePath));

    const runDir = join(runsDir, readdirSync(runsDir)[0]);
    const summary = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')) as {
      status: string;
      stepsCompleted: number;
      loss: number[];
      error: { message: string; signal: string };
      analysis?: { ranks: unknown[] };
    };
    assert.equal(summary.status, 'failed');
    assert.equal(summary.stepsCompleted, 2);
    assert.equal(summary.loss.length, 2);
    assert.equal(summary.error.signal, 'SIGSEGV');
    assert.match(summary.error.message, /SIGSEGV/);
    assert.equal(summary.analysis?.ranks.length, 2, 'the finished steps are analysed');
    assert.ok(existsSync(join(runDir, 'report.md')));

    const model = await loadTraceFile(join(runDir, 'trace.pftrace'));
    assert.equal(model.meta.info?.runStatus, 'failed');
    assert.equal(model.meta.info?.exitSignal, 'SIGSEGV');
    assert.match(String(model.meta.info?.runError), /SIGSEGV/);
    assert.equal(model.meta.info?.link, 'eth-10g', 'the rest of the run metadata is kept');
    assert.equal(model.slices.filter((s) => s.category === 'step').length, 2 * 2, 'both finished steps of both ranks');
  } finally {
    rmSync(runsDir, { recursive: true, force: true });
  }
});

test('a run killed from outside (SIGKILL, as the out-of-memory killer does) says so on stderr and in `inspect`, exit 4', async () => {
  const runsDir = mkdtempSync(join(tmpdir(), 'commlens-it-'));
  try {
    const r = spawnSync(
      process.execPath,
      [cliPath, 'profile', '--preset', 'tiny', '--steps', '4', '--world-size', '2', '--runs-dir', runsDir],
      {
        env: { ...env, COMMLENS_DEBUG_CRASH_AFTER_STEPS: '1:SIGKILL' },
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
    assert.equal(r.status, 4, `exit ${r.status}\nstderr:\n${r.stderr}`);
    assert.match(
      r.stderr,
      /commlens profile: the runtime process was killed \(SIGKILL\).*out-of-memory killer.*1 steps finished; trace: .*trace\.pftrace, summary: .*summary\.json/,
    );
    const runDir = join(runsDir, readdirSync(runsDir)[0]);
    const i = spawnSync(process.execPath, [cliPath, 'inspect', join(runDir, 'trace.pftrace')], {
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(i.status, 0, i.stderr);
    assert.match(i.stdout, /run {9}failed: the runtime process was killed \(SIGKILL\)/);
    assert.match(i.stdout, /\(1 steps\)/);
  } finally {
    rmSync(runsDir, { recursive: true, force: true });
  }
});

test('a rank that fails (training diverges) ends the run with exit 1 and its reason in the summary and the trace', async () => {
  const runsDir = mkdtempSync(join(tmpdir(), 'commlens-it-'));
  try {
    const cfg = join(runsDir, 'diverge.json');
    writeFileSync(
      cfg,
      JSON.stringify({ preset: 'tiny', steps: 4, worldSize: 2, optimizer: { kind: 'sgd', lr: 1e30 } }),
    );
    const r = spawnSync(process.execPath, [cliPath, 'profile', '--config', cfg, '--runs-dir', runsDir], {
      env,
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.status, 1, `exit ${r.status}\nstderr:\n${r.stderr}`);
    assert.match(r.stderr, /rank \d failed: loss is NaN at step \d+ on rank \d: training diverged/);
    const runDir = join(
      runsDir,
      readdirSync(runsDir).find((f) => f !== 'diverge.json')!,
    );
    const summary = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')) as {
      status: string;
      error: { rank: number; message: string };
    };
    assert.equal(summary.status, 'failed');
    assert.match(summary.error.message, /training diverged/);
    const model = await loadTraceFile(join(runDir, 'trace.pftrace'));
    assert.equal(model.meta.info?.runStatus, 'failed');
    assert.equal(model.meta.info?.failedRank, summary.error.rank);
    assert.match(String(model.meta.info?.runError), /training diverged/);
  } finally {
    rmSync(runsDir, { recursive: true, force: true });
  }
});

test('--scale-link-to measures local compute at start-up and slows the link by target ÷ local FLOP/s, recorded in the trace', async () => {
  const runsDir = mkdtempSync(join(tmpdir(), 'commlens-it-'));
  try {
    const r = spawnSync(
      process.execPath,
      [cliPath, 'profile', '--preset', 'tiny', '--steps', '1', '--scale-link-to', '2e+12', '--runs-dir', runsDir],
      { env, encoding: 'utf8', timeout: 120_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /link scaled [\d.,]+× to 2\.0 TFLOP\/s: this machine measured [\d.]+ GFLOP\/s per rank \(2 ranks at once, \S+ \d+³ matmul\)/,
    );
    const runDir = join(runsDir, readdirSync(runsDir)[0]);
    const model = await loadTraceFile(join(runDir, 'trace.pftrace'));
    const i = model.meta.info ?? {};
    assert.equal(i.linkScaleSource, 'measured');
    assert.equal(i.targetFlops, 2e12);
    const local = Number(i.localFlopsPerRank);
    assert.ok(local > 1e6 && local < 2e12, `local FLOP/s per rank ${local}`);
    assert.ok(
      Math.abs(Number(i.linkScaleFactor) - 2e12 / local) / (2e12 / local) < 1e-9,
      `factor ${i.linkScaleFactor} = target / local`,
    );
    // config.json keeps the request (a re-run measures again); the summary holds the factor used.
    assert.equal(JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8')).scaleLinkTo, 2e12);
    const summary = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')) as {
      config: { linkScale: number; scaleLinkTo?: unknown };
    };
    assert.equal(summary.config.linkScale, i.linkScaleFactor);
    assert.equal(summary.config.scaleLinkTo, undefined);
  } finally {
    rmSync(runsDir, { recursive: true, force: true });
  }
});
