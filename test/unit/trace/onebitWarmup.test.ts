import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freezesNow, onebitWarmupBounds, VARIANCE_STABLE_CHANGE } from '../../../trace/onebitWarmup';

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

test('freezes once stable within the bounds, and at the latest at the maximum', () => {
  const b = onebitWarmupBounds(12);
  assert.equal(freezesNow(2, 0.01, b), false, 'never before the minimum');
  assert.equal(freezesNow(3, VARIANCE_STABLE_CHANGE, b), true, 'stable at the minimum');
  assert.equal(freezesNow(4, 0.3, b), false, 'still moving');
  assert.equal(freezesNow(6, 0.3, b), true, 'the maximum, stable or not');
});
