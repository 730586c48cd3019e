import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freezesNow, onebitWarmupBounds, varianceChange, VARIANCE_STABLE_CHANGE } from '../../../trace/onebitWarmup';

test('warm-up bounds: at least max(3, 15 %), at most half the steps, always a compressed step', () => {
  assert.deepEqual(onebitWarmupBounds(3), { min: 2, max: 2 });
  assert.deepEqual(onebitWarmupBounds(4), { min: 2, max: 2 });
  assert.deepEqual(onebitWarmupBounds(6), { min: 3, max: 3 });
  assert.deepEqual(onebitWarmupBounds(8), { min: 3, max: 4 });
  assert.deepEqual(onebitWarmupBounds(12), { min: 3, max: 6 });
  assert.deepEqual(onebitWarmupBounds(20), { min: 3, max: 10 });
  assert.deepEqual(onebitWarmupBounds(1000), { min: 150, max: 500 });
  for (let steps = 3; steps <= 200; steps++) {
    const { min, max } = onebitWarmupBounds(steps);
    assert.ok(min >= 2 && min <= max && max < steps, `${steps} steps: ${min}..${max}`);
    assert.ok(max <= Math.max(2, steps / 2), `${steps} steps: at most half are warm-up (${max})`);
  }
});

test('variance change: relative L2 change of the bias-corrected variance', () => {
  const b2 = 0.999;
  // Gradients that vanish after the first step: v̂ is the mean of the g² seen, so it falls as
  // 1/t and changes by 1/(t − 1) of its new value.
  const g0 = Float32Array.from([1, 2, 3, 4]);
  const v1 = g0.map((g) => (1 - b2) * g * g);
  const v2 = v1.map((v) => b2 * v);
  const v3 = v2.map((v) => b2 * v);
  const bc = (t: number): number => 1 - b2 ** t;
  assert.ok(Math.abs(varianceChange(v1, v2, bc(1), bc(2)) - 1) < 1e-2, 'v̂ halves from step 1 to 2');
  assert.ok(Math.abs(varianceChange(v2, v3, bc(2), bc(3)) - 0.5) < 1e-2, 'then falls by a third');
  // A steady gradient: v̂ does not move.
  const w1 = g0.map((g) => (1 - b2) * g * g);
  const w2 = w1.map((v, i) => b2 * v + (1 - b2) * g0[i] * g0[i]);
  assert.ok(varianceChange(w1, w2, bc(1), bc(2)) < 1e-5);
  // No earlier variance, or none at all: not stable.
  assert.equal(varianceChange(new Float32Array(4), v1, 0, bc(1)), 1);
  assert.equal(varianceChange(new Float32Array(4), new Float32Array(4), bc(1), bc(2)), 1);
});

test('freezes once stable within the bounds, and at the latest at the maximum', () => {
  const b = onebitWarmupBounds(12);
  assert.equal(freezesNow(2, 0.01, b), false, 'never before the minimum');
  assert.equal(freezesNow(3, VARIANCE_STABLE_CHANGE, b), true, 'stable at the minimum');
  assert.equal(freezesNow(4, 0.3, b), false, 'still moving');
  assert.equal(freezesNow(6, 0.3, b), true, 'the maximum, stable or not');
});
