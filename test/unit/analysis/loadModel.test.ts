// The load beside a run (analysis/replay/load.ts) and the host share it leaves (whatIf.ts hostCoreShare).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  LOAD_MIN_CORES,
  hostShareUnderLoad,
  quietShareUnderLoad,
  otherLoadOf,
  otherLoadText,
  type LoadInputs,
  type OtherLoad,
} from '../../../analysis/replay/load';

// A gpt-mini DDP baseline beside two busy threads, as one was measured (2026-12-06): 2 cores; the
// busy threads took 1.99 cores while the process slept at its start, 1.89 while rank 0 waited.
const loaded: LoadInputs = {
  hostCores: 2,
  idleOtherCores: 1.99,
  otherProgramsCores: 1.33,
  otherWhileWaitingCores: 1.89,
  sharingSpeedup: 1.6,
  onGpu: false,
};

function load(i: LoadInputs = loaded): OtherLoad {
  const l = otherLoadOf(i);
  assert.ok(l && !('missing' in l), JSON.stringify(l));
  return l;
}

test("the load is what other programs took while rank 0 waited, else while the process slept at the run's start", () => {
  assert.deepEqual(load(), { cores: 2, idleOtherCores: 1.89, source: 'waits' });
  assert.deepEqual(load({ ...loaded, otherWhileWaitingCores: undefined }), {
    cores: 2,
    idleOtherCores: 1.99,
    source: 'probe',
  });
  // Never more than the machine's cores.
  assert.equal(load({ ...loaded, otherWhileWaitingCores: 2.3 }).idleOtherCores, 2);
  assert.equal(otherLoadText(load()), 'other programs took 1.89 of 2 cores while rank 0 waited on its collectives');
  assert.match(
    otherLoadText(load({ ...loaded, otherWhileWaitingCores: undefined })),
    /while the run's process slept at its start/,
  );
});

test('quiet machines, GPUs and runs whose probe shows no sharing of the compute have no load', () => {
  // Quiet while rank 0 waited: quiet, whatever the probe read at the start.
  assert.equal(otherLoadOf({ ...loaded, otherWhileWaitingCores: LOAD_MIN_CORES * 0.9 }), undefined);
  assert.equal(otherLoadOf({ ...loaded, otherWhileWaitingCores: undefined, idleOtherCores: 0.1 }), undefined);
  assert.equal(otherLoadOf({ ...loaded, onGpu: true }), undefined);
  assert.equal(otherLoadOf({ ...loaded, sharingSpeedup: 1.02 }), undefined);
  assert.equal(otherLoadOf({ ...loaded, sharingSpeedup: undefined }), undefined);
  // A quiet run recorded before the load was: nothing to say.
  assert.equal(
    otherLoadOf({ ...loaded, otherWhileWaitingCores: undefined, idleOtherCores: undefined, otherProgramsCores: 0.05 }),
    undefined,
  );
});

test('a loaded run without what the load is read from says what is missing', () => {
  const old = otherLoadOf({ ...loaded, otherWhileWaitingCores: undefined, idleOtherCores: undefined });
  assert.ok(old && 'missing' in old && /neither what they took while it waited nor a probe/.test(old.missing));
  const noCores = otherLoadOf({ ...loaded, hostCores: undefined });
  assert.ok(noCores && 'missing' in noCores && /no core count/.test(noCores.missing));
});

test("an even share of the cores among the ranks' host threads and the other programs' busy ones", () => {
  const l = load();
  assert.ok(Math.abs(hostShareUnderLoad(l, 2) - 2 / (2 + 1.89)) < 1e-12);
  assert.ok(Math.abs(hostShareUnderLoad(l, 4) - 2 / (4 + 1.89)) < 1e-12);
  // At most a core, however light the load and few the threads.
  assert.equal(hostShareUnderLoad({ cores: 16, idleOtherCores: 0.5, source: 'probe' }, 2), 1);
});

test('a quiet share beside the load: the threads it shared the cores with, and the busy ones', () => {
  const l = load();
  // 0.4 of 2 cores: 5 threads' worth; 1.89 busy cores more.
  assert.ok(Math.abs(quietShareUnderLoad(l, 0.4) - 2 / (5 + 1.89)) < 1e-12);
  assert.ok(Math.abs(quietShareUnderLoad(l, 1) - 2 / (2 + 1.89)) < 1e-12);
  assert.equal(quietShareUnderLoad({ cores: 2, idleOtherCores: 0, source: 'waits' }, 0.4), 0.4);
});
