// Ranks sharing the machine's compute (analysis/replay/sharing.ts): the processor-sharing rule,
// the φ a run's kernels ran at, and the layout model's pricing of a pipeline's stages with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  measuredSharingFactor,
  PRICE_SHARING,
  sharedTimeFactor,
  sharingSpeedupOf,
  SHARING_MIN_SPEEDUP,
} from '../../../analysis/replay/sharing';
import {
  calibrate,
  DEFAULT_LAYOUT,
  pipelineSpanNs,
  pipelineSpanSharedNs,
  predictLayout,
  stepOf,
  type JobDims,
  type Layout,
  type MeasuredRun,
} from '../../../analysis/replay/layouts';
import { measuredRunOf, prepareReplay, sharingOf } from '../../../analysis/replay/whatIf';
import { runInfoOf } from '../../../analysis/runInfo';
import { syntheticRun } from '../../helpers/syntheticRun';
import { TEST_HOST_PROBE } from '../../helpers/hostProbe';

const close = (a: number, b: number, what: string) =>
  assert.ok(Math.abs(a - b) < 1e-6 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

test('φ(k): 1/s alone, 1 with every rank, linear in the ranks computing between; no sharing below the threshold', () => {
  close(sharedTimeFactor(1, 4, 2), 0.5, 'alone');
  close(sharedTimeFactor(4, 4, 2), 1, 'all');
  close(sharedTimeFactor(2, 4, 2), 0.5 + 0.5 / 3, 'two of four');
  close(sharedTimeFactor(3, 4, 2), 0.5 + 1 / 3, 'three of four');
  close(sharedTimeFactor(1, 1, 2), 1, 'one rank shares nothing');
  close(sharedTimeFactor(1, 2, 1), 1, 'no speed-up');
  assert.equal(sharingSpeedupOf(1.05), undefined, 'a GPU per rank reads ~1: no sharing');
  assert.equal(sharingSpeedupOf(SHARING_MIN_SPEEDUP), SHARING_MIN_SPEEDUP);
  assert.equal(sharingSpeedupOf(undefined), undefined);
  assert.equal(sharingSpeedupOf(Number.NaN), undefined);
});

test('measuredSharingFactor: the mean φ over the ranks’ kernel time, from when they overlapped', () => {
  // Always together: 1; never together: 1/s; a rank's own overlapping kernels count once.
  close(measuredSharingFactor([[[0, 10]], [[0, 10]]], 2, 2), 1, 'together');
  close(measuredSharingFactor([[[0, 10]], [[10, 20]]], 2, 2), 0.5, 'apart');
  close(
    measuredSharingFactor(
      [
        [
          [0, 6],
          [4, 10],
        ],
        [[10, 20]],
      ],
      2,
      2,
    ),
    0.5,
    'a rank’s overlapping kernels',
  );
  // Rank 0 computes 0–10, rank 1 5–10: 5 ns alone (φ ½) and 2 × 5 ns together (φ 1) over 15 ns.
  close(measuredSharingFactor([[[0, 10]], [[5, 10]]], 2, 2), (5 * 0.5 + 10 * 1) / 15, 'half overlapped');
  close(measuredSharingFactor([[], []], 2, 2), 1, 'no kernels');
});

test('pipelineSpanSharedNs: the runtime’s schedule with the stages’ rate set by how many compute; speed-up 1 is pipelineSpanNs', () => {
  for (const schedule of ['gpipe', '1f1b'] as const)
    for (const [p, m] of [
      [2, 4],
      [2, 8],
      [3, 5],
      [4, 8],
    ])
      for (const transfer of [0, 3, 40]) {
        const shared = pipelineSpanSharedNs(p, m, schedule, 10, 20, 2, transfer, {
          speedup: 1,
          worldSize: p,
          ranksPerStage: 1,
        });
        close(
          shared.spanNs,
          pipelineSpanNs(p, m, schedule, 12, 22, transfer),
          `${schedule} p ${p} m ${m} transfer ${transfer}`,
        );
      }
  // GPipe, 2 stages, 4 micro-batches, a rank alone twice as fast, no host time nor transfers:
  // stage 0's first forward alone (5), three forwards side by side (30), stage 1's last forward
  // and backward alone (5 + 10), three backwards side by side (60), stage 0's last alone (10).
  const r = pipelineSpanSharedNs(2, 4, 'gpipe', 10, 20, 0, 0, { speedup: 2, worldSize: 2, ranksPerStage: 1 });
  close(r.spanNs, 120, 'span');
  close(r.computeNs[0], 105, 'stage 0 computing');
  close(r.computeNs[1], 105, 'stage 1 computing');
  // Against 150 when the stages always share: (m + p − 1) × (10 + 20).
  close(pipelineSpanNs(2, 4, 'gpipe', 10, 20, 0), 150, 'unshared');
});

const GPT: JobDims = {
  layers: 2,
  dModel: 128,
  heads: 4,
  seqLen: 32,
  vocab: 32,
  maxSeqLen: 32,
  globalBatch: 16,
  worldSize: 2,
  bytesPerElement: 4,
  precision: 'fp32',
};
const layout = (o: Partial<Layout>): Layout => ({ ...DEFAULT_LAYOUT, dp: 1, ...o });
const RUN: MeasuredRun = {
  stepTimeNs: 800e6,
  computeNs: 340e6,
  optimizerNs: 13e6,
  link: { alphaNs: 1e6, bytesPerNs: 0.1 },
  commEfficiency: 1,
  dispatch: { dispatchNs: 100_000, perLayer: 31, embed: 3, head: 11, submitNs: 2e6, dispatchSource: 'probe' },
};

test('the layout model with sharing: the baseline still predicts itself, PP stages alone compute faster, speed-up 1 changes nothing', () => {
  const ddp = layout({ dp: 2 });
  const pp = (m: number) => layout({ pp: 2, microBatches: m, schedule: 'gpipe' });
  const sharing = { speedup: 2, worldSize: 2, measuredFactor: 0.85 };
  const cal = calibrate(GPT, ddp, { ...RUN, sharing });
  // Without PP the model has both ranks compute at once: the run's rate is that rate (φ 1), and
  // it predicts its own compute and step (the kernels' measured φ is for the record).
  close(cal.flopsPerNs, calibrate(GPT, ddp, RUN).flopsPerNs, 'rate at every rank computing');
  close(stepOf(GPT, ddp, cal).computeNs, 340e6, 'baseline compute');
  close(predictLayout(GPT, ddp, ddp, { ...RUN, sharing }, 50e6).stepTimeNs, 800e6, 'baseline step');
  for (const m of [4, 8]) {
    const on = predictLayout(GPT, ddp, pp(m), { ...RUN, sharing }, 50e6);
    const off = predictLayout(GPT, ddp, pp(m), RUN, 50e6);
    // The components add up to the replayed span: compute + submissions + bubble + exposed transfers.
    const s = on.model;
    assert.ok(s.computeNs > 0 && s.bubbleNs > 0, `m${m} components`);
    close(s.stepTimeNs, s.computeNs + s.submitNs + s.bubbleNs + s.exposedCommNs + s.optimizerNs, `m${m} sum`);
    // The fill and drain run a stage alone, twice as fast: faster than priced without sharing.
    assert.ok(on.stepTimeNs < off.stepTimeNs, `m${m}: ${on.stepTimeNs} vs ${off.stepTimeNs}`);
    assert.ok(on.model.computeNs < off.model.computeNs, `m${m} compute`);
  }
  // From a PP run: its rate is at every rank computing once its replayed φ is taken out, so it predicts its own compute.
  const fromPp = calibrate(GPT, pp(4), { ...RUN, sharing });
  assert.ok(
    fromPp.sharing && fromPp.sharing.modelFactor < 1 && fromPp.sharing.modelFactor > 0.5,
    `${fromPp.sharing?.modelFactor}`,
  );
  const own = stepOf(GPT, pp(4), fromPp);
  assert.ok(Math.abs(own.computeNs - 340e6) < 0.01 * 340e6, `PP run's own compute ${own.computeNs}`);
  // A speed-up of 1 (a GPU per rank) and a run always computing together: what the model gave without sharing.
  const none = { speedup: 1, worldSize: 2, measuredFactor: 1 };
  for (const l of [ddp, pp(4), pp(8), layout({ tp: 2 })])
    close(
      predictLayout(GPT, ddp, l, { ...RUN, sharing: none }, 50e6).stepTimeNs,
      predictLayout(GPT, ddp, l, RUN, 50e6).stepTimeNs,
      l.pp > 1 ? `pp m${l.microBatches}` : `tp ${l.tp}`,
    );
});

test('sharingOf: the probe’s speed-up and the φ of the run’s kernels; attached to the measured run only when priced', () => {
  // A 2-rank run whose host probe read `speedup` (shared time ÷ time alone).
  const runProbed = (speedup: number) =>
    syntheticRun({
      ranks: 2,
      steps: 6,
      kernels: 12,
      fwdNs: 100_000,
      hostProbe: {
        ...TEST_HOST_PROBE,
        dispatch: { fixedNs: 10_000, sharing: { sharedNs: speedup * 1e6, aloneNs: 1e6, speedup } },
      },
    });
  const m = runProbed(2);
  assert.equal(runInfoOf(m).hostProbe?.sharingSpeedup, 2);
  const ctx = prepareReplay(m);
  const s = sharingOf(ctx);
  assert.ok(s, 'a 2-rank run with the probe’s figure');
  assert.equal(s.speedup, 2);
  assert.equal(s.worldSize, 2);
  // The synthetic ranks' kernels run side by side for most of their time: φ between ½ and 1, near 1.
  assert.ok(s.measuredFactor > 0.5 && s.measuredFactor <= 1, `${s.measuredFactor}`);
  assert.equal(measuredRunOf(ctx, { priceSharing: true }).sharing?.speedup, 2);
  assert.equal(measuredRunOf(ctx).sharing !== undefined, PRICE_SHARING, 'the switch decides');
  // Below the threshold (a GPU per rank), or without the figure: no sharing.
  const gpu = runProbed(1.02);
  assert.equal(sharingOf(prepareReplay(gpu)), undefined);
  assert.equal(sharingOf(prepareReplay(syntheticRun({ ranks: 2, steps: 6, hostProbe: TEST_HOST_PROBE }))), undefined);
});
