import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { GpuResult, GpuTask } from '../../../runtime/comm/gpuTask';
import { runLocalWorld } from '../../../runtime/comm/localWorld';
import { assertClose, inputsOf, reference, toNumbers } from '../../unit/comm/helpers';

const workerPath = path.resolve(__dirname, '../../../runtime/commBenchWorker.js');
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

async function run(n: number, task: Omit<GpuTask, 'kind'>): Promise<GpuResult[]> {
  return runLocalWorld<GpuResult>({
    worldSize: n,
    workerPath,
    topology: { link: 'none' },
    timeoutMs: 60_000,
    task: { kind: 'gpu', ...task },
  });
}

describe('allReduceGpuBuffer on a real WebGPU device per rank', () => {
  for (const [n, dtype] of [
    [2, 'f32'],
    [3, 'f16'],
  ] as const) {
    it(`n=${n} ${dtype}: a range of a GPU buffer is all-reduced in place, the rest untouched`, async () => {
      const es = dtype === 'f32' ? 4 : 2;
      const count = 300_000;
      const offsetBytes = 1024;
      const sizeBytes = 200_000 * es;
      const chunkBytes = 64 * 1024;
      const task = {
        seed: 7 + n,
        dtype,
        count,
        offsetBytes,
        sizeBytes,
        chunkBytes,
        reduceOp: 'sum' as const,
        extraCalls: 2,
      };
      const res = await run(n, task);
      const inputs = inputsOf(range(n), dtype, count, task.seed, 0);
      const lo = offsetBytes / es;
      const hi = lo + sizeBytes / es;
      const ref = reference(
        dtype,
        'sum',
        inputs.map((x) => x.slice(lo, hi)),
      );
      const chunks = Math.ceil(sizeBytes / chunkBytes);
      for (let r = 0; r < n; r++) {
        const got = res[r].data;
        assertClose(dtype, got.subarray(lo, hi), ref, `rank ${r} reduced range`);
        // Outside the range the buffer still holds this rank's own input.
        assert.deepEqual(toNumbers(dtype, got.subarray(0, lo)), inputs[r].slice(0, lo));
        assert.deepEqual(toNumbers(dtype, got.subarray(hi)), inputs[r].slice(hi));
        const d2h = res[r].spans.filter((s) => s.kind === 'd2h');
        const h2d = res[r].spans.filter((s) => s.kind === 'h2d');
        assert.equal(d2h.length, 3 * chunks, 'one D2H span per chunk per call');
        assert.equal(h2d.length, 3 * chunks, 'one H2D span per chunk per call');
        assert.equal(
          d2h.reduce((a, s) => a + s.bytes, 0),
          3 * sizeBytes,
        );
        assert.ok(d2h.every((s) => s.name === 'D2H' && s.endNs >= s.startNs));
        const collectives = res[r].spans.filter((s) => s.kind === 'collective');
        assert.equal(collectives.length, 3 * chunks);
        // Pipelining: some chunk's D2H finishes after an earlier chunk's collective started.
        const firstCall = collectives.slice(0, chunks);
        assert.ok(
          d2h.slice(1, chunks).some((s) => s.endNs > firstCall[0].startNs),
          'D2H of later chunks overlaps the first collective',
        );
        assert.ok(res[r].stagingAfterFirst <= 3, `staging buffers ${res[r].stagingAfterFirst} (pool depth 3)`);
        assert.equal(res[r].stagingAfterAll, res[r].stagingAfterFirst, 'no staging buffer created after warm-up');
      }
    });
  }
});
