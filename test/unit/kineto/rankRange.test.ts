// A Kineto file whose distributedInfo names a rank outside its world size is flagged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { importKineto } from '../../../trace/kineto';

const trace = (rank: unknown, world: unknown) => ({
  distributedInfo: { rank, world_size: world, backend: 'nccl' },
  traceEvents: [{ ph: 'X', cat: 'kernel', name: 'gemm', pid: 0, tid: 7, ts: 1, dur: 5, args: { stream: 7 } }],
});

test('a rank outside 0..world_size-1 gives a warning naming the file and the values', () => {
  for (const [rank, world] of [
    [-1, 128],
    [999, 128],
    [2, 2],
    [1.5, 4],
  ] as const) {
    const m = importKineto(trace(rank, world), { fileName: 'rank-x.json' });
    const w = m.warnings.filter((x) => /distributedInfo rank/.test(x));
    assert.equal(w.length, 1, `rank ${rank} of ${world}: ${m.warnings.join(' | ')}`);
    assert.equal(
      w[0],
      `rank-x.json: distributedInfo rank ${rank} is not valid for world_size ${world} (expected an integer from 0 to ${world - 1})`,
    );
  }
  for (const [rank, world] of [
    [0, 1],
    [127, 128],
  ] as const) {
    const m = importKineto(trace(rank, world), { fileName: 'ok.json' });
    assert.deepEqual(
      m.warnings.filter((x) => /distributedInfo rank/.test(x)),
      [],
      `rank ${rank} of ${world}`,
    );
  }
});
