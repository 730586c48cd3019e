import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixedPartOf, sharingProbeOf, SIZE_RATIO } from '../../../runtime/dispatchProbe';

test('fixedPartOf: the intercept a of t = a + b · work through the two sizes', () => {
  assert.equal(SIZE_RATIO, 4);
  // a = 200 µs, b · work_small = 100 µs: 300 µs small, 600 µs large.
  assert.equal(fixedPartOf(300_000, 600_000), 200_000);
  // Work alone (no fixed part): four times the time at four times the size.
  assert.equal(fixedPartOf(150_000, 600_000), 0);
  // Another ratio: a = 50, b · w = 10 at w and 80 at 8w.
  assert.equal(fixedPartOf(60, 130, 8), 50);
  // The large size measured more than r times the small one (noise, caches): no negative fixed time.
  assert.equal(fixedPartOf(100_000, 900_000), 0);
});

test('sharingProbeOf: the mean kernel time with every rank at once over one rank alone', () => {
  const s = sharingProbeOf([3e6, 5e6], [1e6, 3e6], 4, 1e8);
  assert.equal(s.sharedNs, 4e6);
  assert.equal(s.aloneNs, 2e6);
  assert.equal(s.speedup, 2);
  assert.equal(s.rounds, 4);
  assert.throws(() => sharingProbeOf([], [1e6], 4, 1e8), /timed no kernels/);
  assert.throws(() => sharingProbeOf([1e6], [0], 4, 1e8), /no timing/);
});
