// The run trace's "process CPU busy (all ranks)" counter: the cores the whole process kept busy
// over each step (its CPU time over the step's wall time), once, on rank 0's process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { RunTrace } from '../../../runtime/runTrace';
import { PROCESS_CPU_COUNTER } from '../../../trace/runCounters';
import { loadTraceFile } from '../../../trace/load';

const mem = { parameters: 0, gradients: 0, optimizerState: 0, activations: 0, communication: 0 };

test("each step: the process's CPU time over rank 0's wall time, in cores, in the file as in the model", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'commlens-cpu-'));
  try {
    const file = join(dir, 'trace.pftrace');
    const trace = new RunTrace(file, 2, 0, 0n, {});
    // rank 0: 1.5 cores over a 2 ms step, then 0.25 over a 4 ms one; rank 1's reading (the same
    // process) is not written again.
    for (const [step, startNs, endNs, cpu] of [
      [0, 0, 2_000_000, 3_000_000],
      [1, 2_000_000, 6_000_000, 1_000_000],
    ] as const) {
      for (const rank of [0, 1])
        trace.addStep({
          type: 'step',
          rank,
          step,
          loss: 1,
          startNs,
          endNs,
          spans: [],
          bytes: 0,
          wireBytes: 0,
          memory: mem,
          processCpuNs: rank === 0 ? cpu : 5 * cpu,
        });
    }
    trace.close();
    const series = (m: typeof trace.model) =>
      m.counters
        .filter((c) => m.tracks[c.track].name === PROCESS_CPU_COUNTER)
        .map((c) => ({ pid: m.tracks[c.track].pid, unit: m.tracks[c.track].unit, values: c.values }));
    const want = [{ pid: 1, unit: 'cores', values: [1.5, 0.25] }];
    assert.deepEqual(series(trace.model), want);
    assert.deepEqual(series(await loadTraceFile(file)), want);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
