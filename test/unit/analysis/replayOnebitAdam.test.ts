// 1-bit Adam in the replay of a CommLens run: its compressed phase runs the optimizer on the
// host (runtime/strategies/onebitAdam.ts), so the GPU optimizer kernels go and the host's two
// loops come, priced by the host probe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prepareReplay, whatIfOn } from '../../../analysis/replay/whatIf';
import { syntheticRun } from '../../helpers/syntheticRun';
import { TEST_HOST_PROBE } from '../../helpers/hostProbe';
import type { Args } from '../../../trace/model';

const MiB = 1024 * 1024;
const PROBE = TEST_HOST_PROBE;
const LOOPS = { momentum: 2, update: 1 };

function run(probe: Args) {
  return prepareReplay(
    syntheticRun({
      ranks: 2,
      steps: 4,
      gradBytes: 4 * MiB,
      optimizerNs: 3_000_000,
      stagingNsPerByte: 0.05,
      h2dNsPerByte: 0.02,
      hostCores: 4,
      hostProbe: probe,
    }),
  );
}

test("1-bit Adam's GPU optimizer does not run in its compressed phase; its host loops, priced by the probe, do", () => {
  const ctx = run({ ...PROBE, onebitAdamBytesPerNs: LOOPS });
  const onHost = whatIfOn(ctx, { compression: { method: 'onebit-adam' } });
  const kept = whatIfOn(run(PROBE), { compression: { method: 'onebit-adam' } });
  const bytes = 4 * ctx.paramCount!; // f32 parameters (the run config's model)
  // 2 ranks on 4 cores: a core each.
  const loopsNs = bytes / LOOPS.momentum + bytes / LOOPS.update;
  const c = onHost.predicted.components.computeNs;
  assert.ok(
    Math.abs(c.baselineNs - c.predictedNs - 3_000_000) < 1,
    `compute ${c.baselineNs} → ${c.predictedNs} ns: the 3 ms optimizer kernel is gone`,
  );
  assert.equal(kept.predicted.components.computeNs.predictedNs, kept.predicted.components.computeNs.baselineNs);
  // Everything is in series after backward: the step moves by the loops less the kernel.
  const delta = onHost.predicted.stepTimeNs - kept.predicted.stepTimeNs;
  assert.ok(Math.abs(delta - (loopsNs - 3_000_000)) < 1_000, `step moved ${delta} ns, want ${loopsNs - 3_000_000}`);
  assert.ok(
    onHost.notes.some((n) => /GPU optimizer \(3 ms per step\) does not run/.test(n)),
    onHost.notes.join('\n'),
  );
  assert.ok(
    kept.notes.some((n) => /did not time its loops: the GPU optimizer is kept/.test(n)),
    kept.notes.join('\n'),
  );
});
