// A rank's codec beside the other ranks' kernels (analysis/replay/whatIf.ts codecCoreShare): on
// ranks that share the machine's compute (a software GPU), the codec gets at most 1 / the
// dispatch probe's speed-up of a rank alone, when that is below the ranks' share of the cores.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { codecCoreShare, hostCoreShare, prepareReplay, whatIfOn } from '../../../analysis/replay/whatIf';
import { syntheticRun } from '../../helpers/syntheticRun';
import { TEST_HOST_PROBE } from '../../helpers/hostProbe';

const MiB = 1024 * 1024;

function ctxWith(
  speedup: number | undefined,
  probe: Record<string, unknown> = {},
  opts: Parameters<typeof prepareReplay>[1] = {},
) {
  return prepareReplay(
    syntheticRun({
      ranks: 4,
      steps: 6,
      gradBytes: 4 * MiB,
      hostCores: 2,
      hostProbe: {
        ...TEST_HOST_PROBE,
        hostShare: { threads: 4, share: 0.5 },
        ...probe,
        ...(speedup !== undefined
          ? { dispatch: { fixedNs: 10_000, sharing: { sharedNs: speedup * 1e6, aloneNs: 1e6, speedup } } }
          : {}),
      },
    }),
    opts,
  );
}

test("the codec's share: the ranks' share of the cores, or 1 / the kernels' speed-up alone when that is less", () => {
  const codecNs = (speedup: number | undefined) =>
    whatIfOn(ctxWith(speedup), { compression: { method: 'int8-ef' } }).predicted.components.codecNs.predictedNs;
  // int8-EF at 0.2 GB/s per core over the whole gradient.
  const atShare = (share: number) => (4 * MiB) / (0.2 * share);
  assert.ok(Math.abs(codecNs(undefined) - atShare(0.5)) < 1, `${codecNs(undefined)}`);
  // Kernels 2.5× faster alone: the codec beside them gets 0.4 of a core, below the ranks' 0.5.
  assert.ok(Math.abs(codecNs(2.5) - atShare(0.4)) < 1, `${codecNs(2.5)}`);
  // 1.5× faster alone (1 / 1.5 = 0.67): the ranks' share of the cores is the lesser.
  assert.ok(Math.abs(codecNs(1.5) - atShare(0.5)) < 1, `${codecNs(1.5)}`);
  // Below the sharing threshold (separate GPUs), nothing changes.
  assert.ok(Math.abs(codecNs(1.05) - atShare(0.5)) < 1, `${codecNs(1.05)}`);
  const share = codecCoreShare(ctxWith(2.5));
  assert.equal(share.cores, 0.4);
  assert.match(
    share.text,
    /beside the other ranks' kernels on the same cores, which made a rank's kernels 2\.50× slower than alone/,
  );
  assert.ok(
    whatIfOn(ctxWith(2.5), { compression: { method: 'int8-ef' } }).changeNotes.some((n) =>
      /at 0\.40 core per rank \(the codec runs beside the other ranks' kernels/.test(n),
    ),
  );
});

test("1-bit Adam's host loops keep the ranks' share of the cores; only its codec goes beside the kernels", () => {
  const n = whatIfOn(ctxWith(2.5, { onebitAdamBytesPerNs: { momentum: 2, update: 1 } }), {
    compression: { method: 'onebit-adam' },
  }).changeNotes.join('\n');
  assert.match(n, /priced by the host probe at 0\.50 core per rank/);
  assert.match(n, /at 0\.40 core per rank \(the codec runs beside the other ranks' kernels/);
});

test("beside other programs' load, the host loops get an even share of the cores among the ranks' threads and theirs", () => {
  const loadedCtx = (opts: { otherWhileWaitingCores?: number } = {}) =>
    ctxWith(1.5, { load: { idleOtherCores: 2, idleWindowNs: 3e8, idleProcessCores: 0 } }, opts);
  // Two busy threads while the process slept: 2 cores among 4 ranks' threads and 2 busy ones.
  const share = hostCoreShare(loadedCtx());
  assert.ok(Math.abs(share.cores - 2 / 6) < 1e-12, `${share.cores}`);
  assert.match(share.text, /other programs took 2\.00 of 2 cores while the run's process slept at its start/);
  assert.ok(Math.abs(codecCoreShare(loadedCtx()).cores - 2 / 6) < 1e-12);
  const n = whatIfOn(loadedCtx(), { compression: { method: 'int8-ef' } }).changeNotes.join('\n');
  assert.match(n, /at 0\.33 core per rank \(other programs took 2\.00 of 2 cores/);
  // Quiet while rank 0 waited on its collectives (the run's own counter): the probe's share stands.
  assert.equal(hostCoreShare(loadedCtx({ otherWhileWaitingCores: 0.1 })).cores, 0.5);
  // A lighter load (0.3 cores while rank 0 waited): 2 / 4.3, still below the probe's 0.5.
  assert.ok(Math.abs(hostCoreShare(loadedCtx({ otherWhileWaitingCores: 0.3 })).cores - 2 / 4.3) < 1e-12);
});

test("beside other programs' load, a codec already beside the other ranks' kernels loses to both", () => {
  // Kernels 2.5× faster alone: 0.4 of a core quiet, i.e. the codec's thread shared the 2 cores with
  // 5 threads' worth of work; 2 busy cores more leave it 2 / (5 + 2) = 0.4·2 / (2 + 0.4·2).
  const loaded = ctxWith(2.5, { load: { idleOtherCores: 2, idleWindowNs: 3e8, idleProcessCores: 0 } });
  const share = codecCoreShare(loaded);
  assert.ok(Math.abs(share.cores - 2 / 7) < 1e-12, `${share.cores}`);
  assert.match(share.text, /2\.50× slower than alone, by the run's probe, and beside other programs' load;/);
  // Said once: the even share's text names it.
  assert.equal(share.text.match(/other programs took 2\.00 of 2 cores/g)?.length, 1, share.text);
  // Under the ranks' even share beside the load (2 / 6): the lesser stands, in the prediction too.
  const codecNs = whatIfOn(loaded, { compression: { method: 'int8-ef' } }).predicted.components.codecNs.predictedNs;
  assert.ok(Math.abs(codecNs - (4 * MiB) / (0.2 * (2 / 7))) < 1, `${codecNs}`);
  // Quiet while rank 0 waited (0.1 core): no load, the kernels' 0.4 alone.
  assert.equal(codecCoreShare(ctxWith(2.5, {}, { otherWhileWaitingCores: 0.1 })).cores, 0.4);
  // A light load that leaves the probe's share standing (0.3 < 2 / 4.3): named with the codec's share.
  const light = codecCoreShare(ctxWith(5, { hostShare: { threads: 4, share: 0.3 } }, { otherWhileWaitingCores: 0.3 }));
  assert.ok(Math.abs(light.cores - (0.2 * 2) / (2 + 0.2 * 0.3)) < 1e-12, `${light.cores}`);
  assert.match(light.text, /beside other programs' load \(other programs took 0\.30 of 2 cores while rank 0 waited/);
});
