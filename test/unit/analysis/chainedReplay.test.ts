// Steps replayed one after another on CommLens' emulated links (analysis/replay/simulate.ts):
// each participant leaves a collective when the data it needs has crossed the wire, so the rank
// that arrived last leaves first and the ranks carry their skew into the next step; chained,
// the steps give the run's step time, and a long collective's slack absorbs what a short one
// passes on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chainReplay, simulate } from '../../../analysis/replay/simulate';
import type { CollectiveNode, StepGraph } from '../../../analysis/replay/stepGraph';
import { exitModeOf, exitModeOfAlgorithm } from '../../../analysis/replay/costModel';
import { chainedBaselineNs, chainSharingScale, prepareReplay, whatIfOn } from '../../../analysis/replay/whatIf';
import { analyze } from '../../../analysis';
import { syntheticRun } from '../../helpers/syntheticRun';
import { TEST_HOST_PROBE } from '../../helpers/hostProbe';

const MS = 1e6;

/** Ranks that compute W[r] ms, then run one collective of C ms, then an optimizer that waits for it. */
function graph(o: {
  W: number[];
  C: number;
  offsets?: number[];
  exits?: 'own' | null;
  exit?: CollectiveNode['exit'];
  extraMs?: number;
  step?: number;
}): StepGraph {
  const ranks = o.W.map((_, i) => i);
  const coll: CollectiveNode = {
    id: 0,
    op: 'allReduce',
    groupSize: ranks.length,
    durNs: o.C * MS,
    gradient: true,
    triggers: new Map(ranks.map((r) => [r, { afterSegment: 0, fraction: 1, delayNs: 0 }])),
    sliceIndexes: [],
    lane: 'comm',
    ...(o.exit ? { exit: o.exit } : {}),
    ...(o.extraMs ? { extraNs: o.extraMs * MS } : {}),
  };
  return {
    step: o.step ?? 0,
    ranks,
    lanes: new Map(
      ranks.map((r) => [
        r,
        [
          {
            durNs: o.W[r] * MS,
            gapNs: 0,
            waitsOn: [],
            postDelayNs: 0,
            kind: 'backward',
            measuredStartNs: 0,
            sliceIndexes: [],
          },
          {
            durNs: 0,
            gapNs: 0,
            waitsOn: [0],
            postDelayNs: 0,
            kind: 'optimizer',
            measuredStartNs: o.W[r] * MS,
            sliceIndexes: [],
          },
        ],
      ]),
    ),
    collectives: [coll],
    measuredStepNsByRank: new Map(),
    startOffsetNs: new Map(ranks.map((r) => [r, (o.offsets?.[r] ?? 0) * MS])),
    measuredStepNs: 0,
    ...(o.exits === null ? {} : { exits: o.exits ?? 'own' }),
    notes: [],
  };
}

const endsMs = (g: StepGraph) => simulate(g).perRank.map((p) => p.endNs / MS);

test("on CommLens' links the rank that arrived last leaves a collective first; where ranks leave together, all leave at once", () => {
  // Rank 1 starts 30 ms late: it arrives at 130, rank 0 at 100; the wire takes 100 ms from each sender.
  assert.deepEqual(endsMs(graph({ W: [100, 100], C: 100, offsets: [0, 30] })), [230, 200]);
  // They end 30 ms apart, as far apart as they start the next step.
  const ends = simulate(graph({ W: [100, 100], C: 100, offsets: [0, 30] })).perRank.map((p) => p.endNs);
  assert.equal(Math.max(...ends) - Math.min(...ends), 30 * MS);
  assert.deepEqual(endsMs(graph({ W: [100, 100], C: 100, offsets: [0, 30], exits: null })), [230, 230]);
  // Later than the wire: the other's data is there when it arrives, so it leaves at once.
  assert.deepEqual(endsMs(graph({ W: [100, 100], C: 100, offsets: [0, 150] })), [350, 250]);
});

test('a rank that arrives late still encodes its data before the wire and decodes after it', () => {
  // 40 ms of codec: 20 to encode before the transfer, 20 to decode after.
  const rep = simulate(graph({ W: [100, 100], C: 100, offsets: [0, 150], extraMs: 40 }));
  assert.deepEqual(
    rep.perRank.map((p) => p.endNs / MS),
    [390, 290],
  );
  // Rank 1's optimizer: its arrival 250 + encode 20 (the other's data long there) + decode 20.
  assert.equal(rep.segmentStartsNs[1][1] / MS, 290);
});

test('in a ring each rank leaves after its predecessor’s data crossed; otherwise after every other’s', () => {
  // Arrivals 100, 110, 120, 130 ms; 50 ms of wire.
  const base = { W: [100, 100, 100, 100], C: 50, offsets: [0, 10, 20, 30] };
  assert.deepEqual(endsMs(graph({ ...base, exit: 'ring' })), [180, 150, 160, 170]);
  assert.deepEqual(endsMs(graph({ ...base, exit: 'all' })), [180, 180, 180, 170]);
  // Without a recorded algorithm an all-reduce is taken as a ring.
  assert.deepEqual(endsMs(graph(base)), [180, 150, 160, 170]);
});

test('the exit mode: from the algorithm the trace names, or from the α–β costs of what CommLens would run', () => {
  assert.equal(exitModeOfAlgorithm('ring'), 'ring');
  assert.equal(exitModeOfAlgorithm('recursive-doubling'), 'all');
  assert.equal(exitModeOfAlgorithm('direct'), 'all');
  assert.equal(exitModeOfAlgorithm(undefined), undefined);
  const link = { name: 'l', alphaNs: 100_000, bytesPerNs: 1 };
  assert.equal(exitModeOf('allGather', 10, 4, link), 'ring');
  assert.equal(exitModeOf('allToAll', 10 * MS, 4, link), 'all');
  // 4 ranks: recursive doubling 2(α + S/β) against the ring's 6α + 1.5·S/β.
  assert.equal(exitModeOf('allReduce', 1_000, 4, link), 'all');
  assert.equal(exitModeOf('allReduce', 10 * MS, 4, link), 'ring');
});

test("chained, a long collective's slack absorbs a rank that is steadily slower; a short one or ranks that leave together pass it on", () => {
  const tails = [new Map<number, number>(), new Map<number, number>()];
  // Rank 1 computes 200 ms a step, rank 0 100.
  const periodLessWire = (C: number, exits?: 'own' | null) =>
    chainReplay([graph({ W: [100, 200], C, exits, step: 0 }), graph({ W: [100, 200], C, exits, step: 1 })], tails)!
      .stepNs /
      MS -
    C;
  // 500 ms of wire: the slow rank arrives 100 ms late, finds the other's data there and leaves
  // early, so it catches up: the period is the mean compute, not the slower rank's.
  assert.equal(periodLessWire(500), 150);
  assert.equal(periodLessWire(500, null), 200);
  // 10 ms of wire cannot hide a 100 ms lag.
  assert.equal(periodLessWire(10), 190);
  assert.equal(periodLessWire(10, null), 200);
});

test('chained, the φ of the compute: a skew the wire carries leaves ranks computing alone, one it caps does not', () => {
  const tails = [new Map<number, number>()];
  // Rank 1 starts 50 ms after rank 0; each computes 100 ms. A rank alone is twice as fast (φ 0.5).
  const phi = (C: number) =>
    chainReplay([graph({ W: [100, 100], C, offsets: [0, 50] })], tails, { sharingSpeedup: 2 })!.sharingFactor!;
  // 500 ms of wire keeps the 50 ms skew: half of each rank's compute alone, (50·0.5 + 50·1) / 100.
  assert.ok(Math.abs(phi(500) - 0.75) < 1e-9, `φ ${phi(500)}`);
  // 10 ms caps it at 10: (10·0.5 + 90·1) / 100.
  assert.ok(Math.abs(phi(10) - 0.95) < 1e-9, `φ ${phi(10)}`);
  assert.equal(chainReplay([graph({ W: [100, 100], C: 10 })], tails)!.sharingFactor, undefined);
});

test("a CommLens run's steps chained reproduce its step time; an imported trace's predictions keep the one-step replay", () => {
  for (const o of [
    { ranks: 2, steps: 6 },
    { ranks: 4, steps: 6, jitterSeed: 3 },
    // Host time between the step windows is not in the run's step time, nor in the chain.
    { ranks: 2, steps: 6, stepGapNs: 2_000_000, jitterSeed: 5 },
  ]) {
    const m = syntheticRun(o);
    const a = analyze(m);
    const chained = a.replay?.chainedStepNs;
    assert.ok(chained !== undefined, `${JSON.stringify(o)}: a chained replay`);
    const step = a.figures.stepTimeNs!;
    const err = (chained - step) / step;
    assert.ok(Math.abs(err) < 0.02, `${JSON.stringify(o)}: chained ${chained} ns against ${step}`);
    assert.ok(
      Math.abs(a.replay!.calibrationErrorPct - 100 * err) < 1e-9,
      'the calibration is the chain against the step time',
    );
    assert.deepEqual(a.replay?.replayedSteps, [1, 2, 3, 4]);
  }
  const imported = prepareReplay(syntheticRun({ ranks: 2, steps: 6, format: 'kineto' }));
  assert.equal(imported.graph.exits, undefined);
  assert.equal(chainedBaselineNs(imported), undefined);
});

test('a prediction on a CommLens run moves the run’s step by the chained difference', () => {
  const ctx = prepareReplay(syntheticRun({ ranks: 2, steps: 6, gradBytes: 8 * 1024 * 1024 }));
  const none = whatIfOn(ctx, {});
  assert.equal(none.predicted.stepTimeNs, ctx.measuredStepNs, 'no change, no move');
  const faster = whatIfOn(ctx, { link: { ...ctx.link, bytesPerNs: ctx.link.bytesPerNs * 4 } });
  assert.ok(
    faster.predicted.stepTimeNs < ctx.measuredStepNs,
    `a faster link: ${faster.predicted.stepTimeNs} < ${ctx.measuredStepNs}`,
  );
  // A rank so slow that the other's data has crossed before it arrives never waits for the wire
  // on CommLens' links: chained, a faster link gains it nothing, where one step's replay (the
  // representative step, all its ranks starting at their measured offsets) claims the wire's saving.
  const slow = prepareReplay(
    syntheticRun({ ranks: 2, steps: 6, gradBytes: 8 * 1024 * 1024, slowRank: 1, slowExtraNs: 2_000_000 }),
  );
  const r = whatIfOn(slow, { link: { ...slow.link, bytesPerNs: slow.link.bytesPerNs * 4 } });
  assert.ok(r.replay.baselineNs - r.replay.changedNs > 1_000_000, 'one step replayed gains the wire');
  assert.ok(
    Math.abs(r.predicted.stepTimeNs - slow.measuredStepNs) < 1_000,
    `chained: ${r.predicted.stepTimeNs} against ${slow.measuredStepNs} measured`,
  );
});

test("a change's kernels take the chains' φ where it rises; where the chain has the ranks fall apart, their measured time", () => {
  // More often beside one another: a kernel takes the ratio (0.96 / 0.90).
  assert.ok(Math.abs(chainSharingScale(0.96, 0.9) - 0.96 / 0.9) < 1e-12);
  // Less often: re-runs did not fall apart as the chain does, so nothing changes.
  assert.equal(chainSharingScale(0.85, 0.94), 1);
  assert.equal(chainSharingScale(0.9, 0.9), 1);
  // Nothing to divide by, or no figure: nothing changes.
  assert.equal(chainSharingScale(0.9, 0), 1);
  assert.equal(chainSharingScale(Number.NaN, 0.9), 1);
});

test('on a CommLens run whose chain has the ranks fall apart, the change is priced at the kernels measured time, and the note says so', () => {
  // Two ranks, one steadily 2 ms slower, sharing the machine's compute (a rank alone 1.8× as fast).
  const ctx = prepareReplay(
    syntheticRun({
      ranks: 2,
      steps: 6,
      gradBytes: 8 * 1024 * 1024,
      bytesPerNs: 0.05,
      jitterSeed: 1,
      slowRank: 1,
      slowExtraNs: 2e6,
      hostCores: 2,
      hostProbe: { ...TEST_HOST_PROBE, dispatch: { fixedNs: 1000, sharing: { speedup: 1.8 } } },
    }),
  );
  const r = whatIfOn(ctx, { compression: { method: 'bf16' } });
  const phi = r.changeNotes.filter((n) => /φ/.test(n));
  assert.equal(phi.length, 1, r.changeNotes.join('\n'));
  assert.match(phi[0], /less often than the run's own \(φ [\d.]+ against [\d.]+;.*a kernel keeps its measured time/);
  assert.ok(!r.changeNotes.some((n) => /a kernel takes 0\.\d+× its measured time/.test(n)), r.changeNotes.join('\n'));
});
