// The host probe prices codecs as a rank runs them by its steady-state steps: compiled by V8's
// optimizing tier. This file runs in a process of its own, so its first probe is a cold one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { probeCodecs } from '../../../runtime/hostProbe';
import { PRESETS } from '../../../runtime/config';

test("a first probe in a fresh process prices the codecs as warmed code runs them (not V8's first tiers)", async () => {
  const config = { ...PRESETS['mlp-small'] };
  const first = await probeCodecs(config);
  // Long after the optimizing tier has compiled every codec (a rank's steady state).
  const warm = await probeCodecs(config, { warmupCalls: 20, reps: 5 });
  for (const name of ['onebit-adam', 'int8-ef', 'bf16']) {
    const ratio = first.perCore[name] / warm.perCore[name];
    // Timed from its second call (the old probe), the first probe read 0.25-0.45 of the warmed speed.
    assert.ok(
      ratio > 0.6,
      `${name}: first probe ${first.perCore[name].toFixed(4)} GB/s per core, warmed ${warm.perCore[name].toFixed(4)} (ratio ${ratio.toFixed(2)})`,
    );
  }
});
