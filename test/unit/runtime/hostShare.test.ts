// The host probe's share of a core per rank: one loop alone, then the run's ranks' worth at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { probeHostShare } from '../../../runtime/hostShare';

test('probeHostShare times the loop alone and on every thread at once, and says what share of a core each got', async () => {
  const r = await probeHostShare(3, { values: 1 << 14, windowMs: 30 });
  assert.equal(r.threads, 3);
  assert.ok(Number.isFinite(r.aloneNs) && r.aloneNs > 0, `alone ${r.aloneNs} ns`);
  assert.ok(Number.isFinite(r.sharedNs) && r.sharedNs > 0, `shared ${r.sharedNs} ns`);
  assert.ok(Math.abs(r.share - Math.min(1, r.aloneNs / r.sharedNs)) < 1e-12, `share ${r.share}`);
  assert.ok(r.share > 0 && r.share <= 1);
  // Four times as many threads as the machine has cores (at most 16): none can get 3/4 of a core.
  const cores = availableParallelism();
  if (4 * cores <= 16) {
    const crowded = await probeHostShare(4 * cores, { values: 1 << 14, windowMs: 60 });
    assert.ok(crowded.share < 0.75, `${4 * cores} threads on ${cores} cores: ${crowded.share} of a core each`);
    assert.ok(crowded.sharedNs > crowded.aloneNs);
  }
  // One thread: the same loop alone twice, a share near 1 (at most 1 by definition).
  const one = await probeHostShare(1, { values: 1 << 14, windowMs: 30 });
  assert.equal(one.threads, 1);
  assert.ok(one.share > 0 && one.share <= 1);
});
