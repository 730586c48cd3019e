// The run trace's "process CPU busy (all ranks)" counter: the cores the whole process kept busy
// over each step (its CPU time over the step's wall time), once, on rank 0's process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { RunTrace } from '../../../runtime/runTrace';
import type { RankStep } from '../../../runtime/rankMessages';
import {
  BLOCKED_MIN_WINDOW_NS,
  OTHER_CPU_COUNTER,
  OTHER_CPU_WAITING_COUNTER,
  OTHER_CPU_WORKING_COUNTER,
  PROCESS_CPU_COUNTER,
  counterNote,
} from '../../../trace/runCounters';
import { BlockedMeter } from '../../../runtime/hostCpu';
import { analyze } from '../../../analysis';
import { OTHER_PROGRAMS_NOTE_CORES } from '../../../analysis/otherPrograms';
import { median } from '../../../trace/stats';
import { loadTraceFile } from '../../../trace/load';
import type { TraceModel } from '../../../trace/model';

/** The counter named `name`: once, on rank 0's process (pid 1), in cores, with `values`, in the model as in the file. */
async function assertCounter(model: TraceModel, file: string, name: string, values: number[]): Promise<void> {
  const series = (m: TraceModel) =>
    m.counters
      .filter((c) => m.tracks[c.track].name === name)
      .map((c) => ({ pid: m.tracks[c.track].pid, unit: m.tracks[c.track].unit, values: c.values }));
  const want = [{ pid: 1, unit: 'cores', values }];
  assert.deepEqual(series(model), want);
  assert.deepEqual(series(await loadTraceFile(file)), want);
}

/** Runs `body` with a temporary folder, removed after. */
async function inTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'commlens-cpu-'));
  try {
    await body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const mem = { parameters: 0, gradients: 0, optimizerState: 0, activations: 0, communication: 0 };

const stepOf = (
  rank: number,
  step: number,
  startNs: number,
  endNs: number,
  cpu: { process: number; machine?: number; blocked?: RankStep['blockedCpu'] },
): RankStep => ({
  type: 'step',
  rank,
  step,
  loss: 1,
  startNs,
  endNs,
  spans: [
    { stream: 'host', category: 'step', name: `step ${step}`, startNs, endNs, args: { step } },
    { stream: 'compute', category: 'kernel', name: 'matmul', startNs: startNs + 10, endNs: endNs - 10 },
  ],
  bytes: 0,
  wireBytes: 0,
  memory: mem,
  processCpuNs: cpu.process,
  ...(rank === 0 && cpu.machine !== undefined ? { machineCpuNs: cpu.machine } : {}),
  ...(rank === 0 && cpu.blocked ? { blockedCpu: cpu.blocked } : {}),
});

test("each step: the process's CPU time over rank 0's wall time, in cores, in the file as in the model", async () => {
  await inTempDir(async (dir) => {
    const file = join(dir, 'trace.pftrace');
    const trace = new RunTrace(file, 2, 0, 0n, {});
    // rank 0: 1.5 cores over a 2 ms step, then 0.25 over a 4 ms one; rank 1's reading (the same
    // process) is not written again.
    for (const [step, startNs, endNs, cpu] of [
      [0, 0, 2_000_000, 3_000_000],
      [1, 2_000_000, 6_000_000, 1_000_000],
    ] as const) {
      for (const rank of [0, 1])
        trace.addStep(stepOf(rank, step, startNs, endNs, { process: rank === 0 ? cpu : 5 * cpu }));
    }
    trace.close();
    await assertCounter(trace.model, file, PROCESS_CPU_COUNTER, [1.5, 0.25]);
  });
});

test("each step: the machine's other programs' CPU (the machine's less the process's, never below 0), on rank 0", async () => {
  await inTempDir(async (dir) => {
    const file = join(dir, 'trace.pftrace');
    const trace = new RunTrace(file, 2, 0, 0n, {});
    // 2 ms at 1.5 cores of the process and 3.5 of the machine: 2 cores of others; then the
    // machine's coarser ticks read below the process's: 0, not negative.
    for (const [step, startNs, endNs, process, machine] of [
      [0, 0, 2_000_000, 3_000_000, 7_000_000],
      [1, 2_000_000, 6_000_000, 1_000_000, 900_000],
    ] as const)
      for (const rank of [0, 1]) trace.addStep(stepOf(rank, step, startNs, endNs, { process, machine }));
    trace.close();
    await assertCounter(trace.model, file, OTHER_CPU_COUNTER, [2, 0]);
    assert.equal(counterNote(OTHER_CPU_COUNTER), "the machine's other programs, beside this run");
  });
});

test("the analysis: the other programs' cores as the median over the steady steps, and a note from 0.25 cores", async () => {
  await inTempDir(async (dir) => {
    // Per step, the other programs' cores: the first steps (warm-up) far above the rest.
    const others = [9, 9, 9, 1.25, 0.5, 1, 0.75, 2, 1.5, 0.25, 1.75];
    const run = async (scale: number) => {
      const file = join(dir, `trace-${scale}.pftrace`);
      const trace = new RunTrace(file, 2, 0, 0n, {});
      others.forEach((o, step) => {
        const startNs = step * 1_000_000;
        for (const rank of [0, 1])
          trace.addStep(
            stepOf(rank, step, startNs, startNs + 1_000_000, {
              process: 1_000_000,
              machine: 1_000_000 * (1 + o * scale),
            }),
          );
      });
      trace.close();
      return analyze(await loadTraceFile(file));
    };
    const a = await run(1);
    const steady = a.figures.steadySteps;
    assert.ok(steady.length >= 4 && !steady.includes(0), `steady steps ${steady.join(', ')}`);
    const want = median(steady.map((s) => others[s]));
    assert.ok(Math.abs(a.source.otherProgramsCores! - want) < 1e-9, `${a.source.otherProgramsCores} against ${want}`);
    assert.ok(
      a.notes.some((n) => n.startsWith(`other programs on this machine used ${want.toFixed(2)} cores`)),
      a.notes.join('\n'),
    );
    // A quiet machine: the figure, and no note.
    const quiet = await run(0.1);
    assert.ok(quiet.source.otherProgramsCores! < OTHER_PROGRAMS_NOTE_CORES);
    assert.ok(!quiet.notes.some((n) => n.startsWith('other programs')), quiet.notes.join('\n'));
  });
});

test("each step: the other programs' cores split by whether rank 0 waited on its collectives, windows under the minimum left out", async () => {
  await inTempDir(async (dir) => {
    const file = join(dir, 'trace.pftrace');
    const trace = new RunTrace(file, 2, 0, 0n, {});
    const ms = 1e6;
    // Step 0: 100 ms, 60 of them blocked; while blocked the machine 120 ms of CPU and the process
    // 6: others 1.9 cores; while working the machine 70 ms and the process 58: others 0.3.
    // Step 1: blocked 5 ms only (under the minimum): no waiting sample, a working one.
    // Step 2: blocked the whole step but 10 ms: a waiting sample, no working one.
    const steps = [
      {
        step: 0,
        start: 0,
        end: 100,
        process: 64,
        machine: 190,
        blocked: { wallNs: 60 * ms, machineNs: 120 * ms, processNs: 6 * ms },
      },
      {
        step: 1,
        start: 100,
        end: 200,
        process: 90,
        machine: 150,
        blocked: { wallNs: 5 * ms, machineNs: 10 * ms, processNs: 0 },
      },
      {
        step: 2,
        start: 200,
        end: 300,
        process: 10,
        machine: 200,
        blocked: { wallNs: 90 * ms, machineNs: 180 * ms, processNs: 0 },
      },
    ];
    assert.ok(5 * ms < BLOCKED_MIN_WINDOW_NS && 10 * ms < BLOCKED_MIN_WINDOW_NS && 60 * ms >= BLOCKED_MIN_WINDOW_NS);
    for (const s of steps)
      for (const rank of [0, 1])
        trace.addStep(
          stepOf(rank, s.step, s.start * ms, s.end * ms, {
            process: s.process * ms,
            machine: s.machine * ms,
            blocked: s.blocked,
          }),
        );
    trace.close();
    const near = (xs: number[], want: number[]) =>
      xs.length === want.length && xs.every((x, i) => Math.abs(x - want[i]) < 1e-9);
    for (const m of [trace.model, await loadTraceFile(file)]) {
      const values = (name: string) =>
        m.counters.filter((c) => m.tracks[c.track].name === name).flatMap((c) => [...c.values]);
      assert.ok(near(values(OTHER_CPU_WAITING_COUNTER), [1.9, 2]), `waiting ${values(OTHER_CPU_WAITING_COUNTER)}`);
      assert.ok(
        near(values(OTHER_CPU_WORKING_COUNTER), [0.3, (150 - 10 - 90) / 95]),
        `working ${values(OTHER_CPU_WORKING_COUNTER)}`,
      );
    }
    assert.ok(counterNote(OTHER_CPU_WAITING_COUNTER) && counterNote(OTHER_CPU_WORKING_COUNTER));
  });
});

test('the blocked meter counts overlapping waits once, from the first begin to the last end', () => {
  let t = 0;
  const meter = new BlockedMeter(() => t);
  // Off (a rank on a real GPU): nothing is read, nothing counted.
  meter.begin();
  t = 5;
  meter.end();
  assert.deepEqual(meter.totals(), { wallNs: 0, machineNs: 0, processNs: 0 });
  meter.enabled = true;
  meter.end(); // an end without a begin changes nothing
  assert.equal(meter.totals().wallNs, 0);
  t = 10;
  meter.begin();
  t = 20;
  meter.begin(); // a second wait while the first is open
  t = 30;
  meter.end();
  assert.equal(meter.totals().wallNs, 0, 'still blocked');
  t = 45;
  meter.end();
  assert.equal(meter.totals().wallNs, 35);
  t = 50;
  meter.begin();
  t = 52;
  meter.end();
  const totals = meter.totals();
  assert.equal(totals.wallNs, 37);
  assert.ok(totals.machineNs >= 0 && totals.processNs >= 0);
});
