// A compressed exchange in the replay, as CommLens' runtime runs it: its all-to-all on the
// emulated links (a wire per ordered pair of ranks, runtime/comm/channel.ts, where the rounds
// move at once; a trace from a real cluster keeps one port per rank), its wait for a late
// peer counted once, and its codec on its path in full.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prepareReplay } from '../../../analysis/replay/whatIf';
import {
  algorithmCostNs,
  collectiveCostNs,
  doublingCostNs,
  tunedAlgorithmOf,
} from '../../../analysis/replay/costModel';
import {
  cloneGraph,
  compressAsExchange,
  measuredEfficiency,
  rebucket,
  tunerRuns,
} from '../../../analysis/replay/transforms';
import { COMPRESSORS } from '../../../analysis/compressors';
import { simulate } from '../../../analysis/replay/simulate';
import { syntheticRun } from '../../helpers/syntheticRun';

const MiB = 1024 * 1024;

test('an all-to-all on a wire per ordered pair costs α + S/n/β; through one port per rank (n−1)α + (n−1)/n·S/β', () => {
  const link = { alphaNs: 10_000, bytesPerNs: 1 };
  const S = 4 * MiB;
  assert.equal(collectiveCostNs('allToAll', S, 4, link), 3 * 10_000 + (3 / 4) * S);
  assert.equal(collectiveCostNs('allToAll', S, 4, { ...link, pairWires: true }), 10_000 + S / 4);
  // Two ranks: one round either way.
  assert.equal(
    collectiveCostNs('allToAll', S, 2, { ...link, pairWires: true }),
    collectiveCostNs('allToAll', S, 2, link),
  );
  // A ring sends to one neighbour: the wiring does not change it.
  for (const op of ['allReduce', 'allGather', 'reduceScatter'])
    assert.equal(collectiveCostNs(op, S, 4, { ...link, pairWires: true }), collectiveCostNs(op, S, 4, link));
});

test("the replay of a CommLens run prices its compressed exchange's all-to-all on the runtime's pair wires", () => {
  const grad = 8 * MiB;
  const ctx = prepareReplay(syntheticRun({ ranks: 4, steps: 4, gradBytes: grad }));
  assert.equal(ctx.link.pairWires, true);
  const eff = measuredEfficiency(
    ctx.graph.collectives.filter((c) => c.gradient),
    ctx.link,
  );
  const g = cloneGraph(ctx.graph);
  assert.ok(compressAsExchange(g, ctx.link, COMPRESSORS.bf16.exchange(4), () => 0));
  const a2a = g.collectives.find((c) => c.op === 'allToAll')!;
  const S = grad / 2;
  const want = eff * (ctx.link.alphaNs + S / 4 / ctx.link.bytesPerNs);
  assert.ok(Math.abs(a2a.durNs - want) < 1, `all-to-all ${a2a.durNs} ns, want ${want}`);

  const imported = prepareReplay(syntheticRun({ ranks: 4, steps: 4, gradBytes: grad, format: 'kineto' }));
  assert.ok(!imported.link.pairWires, 'a PyTorch trace ran on real ports');
});

test("where ranks leave together, a rank waits for a late peer once per exchange: the exchange's second collective waits on a busy lane, not on the peer", () => {
  const ctx = prepareReplay(
    syntheticRun({ ranks: 2, steps: 4, gradBytes: 4 * MiB, slowRank: 1, slowExtraNs: 200_000 }),
  );
  const waitOf = (exchange: { op: string; fraction: number }[], exits: 'own' | undefined) => {
    const g = { ...cloneGraph(ctx.graph), exits };
    assert.ok(compressAsExchange(g, ctx.link, exchange, () => 0));
    return simulate(g).components.waitNs;
  };
  const one = waitOf([{ op: 'allToAll', fraction: 0.5 }], undefined);
  assert.ok(one > 100_000, `rank 0 waits for the slow rank: ${one} ns (mean over ranks)`);
  const two = waitOf(COMPRESSORS.bf16.exchange(2), undefined);
  assert.ok(Math.abs(two - one) < 1, `all-to-all + all-gather wait ${two} ns, the all-to-all alone ${one}`);
  // On CommLens' links (a CommLens trace, exits 'own') the late rank leaves the all-to-all first,
  // the other's data having crossed while it computed, and waits for the other at the all-gather,
  // as the runtime's spans show it (simulate.ts): the wait comes twice.
  assert.equal(ctx.graph.exits, 'own');
  const ownOne = waitOf([{ op: 'allToAll', fraction: 0.5 }], 'own');
  const ownTwo = waitOf(COMPRESSORS.bf16.exchange(2), 'own');
  assert.ok(Math.abs(ownOne - one) < 1, `the all-to-all alone waits as before: ${ownOne} ns, ${one}`);
  assert.ok(ownTwo > ownOne + 100_000, `all-to-all + all-gather wait ${ownTwo} ns, the all-to-all alone ${ownOne}`);
});

test("an exchange's codec is on its path in full: the decode after its first collective holds the lane from the next", () => {
  const ctx = prepareReplay(syntheticRun({ ranks: 2, steps: 4, gradBytes: 4 * MiB }));
  const stepWith = (codecNs: number) => {
    const g = cloneGraph(ctx.graph);
    assert.ok(compressAsExchange(g, ctx.link, COMPRESSORS.bf16.exchange(2), () => codecNs));
    return { step: simulate(g).stepTimeNs, gather: g.collectives.find((c) => c.op === 'allGather')!.durNs };
  };
  const none = stepWith(0);
  // A codec shorter than the all-gather: its decode half used to hide under the all-gather's transfer.
  const codec = none.gather / 2;
  const delta = stepWith(codec).step - none.step;
  assert.ok(Math.abs(delta - codec) < 1, `the codec added ${delta} ns to the step, want all of its ${codec} ns`);
});

test('a small all-reduce a change adds is priced by recursive doubling, as the tuner runs it; a large one by the ring', () => {
  const link = { alphaNs: 10_000, bytesPerNs: 1 };
  // 4 ranks: doubling 2(α + S/β) against the ring's 6α + 1.5·S/β; 3 ranks fold first: 2 + 2 rounds.
  assert.equal(doublingCostNs(1_000, 4, link), 2 * (10_000 + 1_000));
  assert.equal(doublingCostNs(1_000, 3, link), 4 * (10_000 + 1_000));
  assert.equal(tunedAlgorithmOf('allReduce', 1_000, 4, link), 'recursive-doubling');
  assert.equal(tunedAlgorithmOf('allReduce', 4 * MiB, 4, link), undefined);
  assert.equal(tunedAlgorithmOf('allGather', 1_000, 4, link), undefined);
  assert.equal(algorithmCostNs('allReduce', 1_000, 4, link, 'recursive-doubling'), doublingCostNs(1_000, 4, link));
  assert.equal(algorithmCostNs('allReduce', 1_000, 4, link, 'ring'), collectiveCostNs('allReduce', 1_000, 4, link));
  assert.equal(
    algorithmCostNs('allGather', 1_000, 4, link, 'recursive-doubling'),
    collectiveCostNs('allGather', 1_000, 4, link),
  );

  // PowerSGD's P and Q all-reduces on a 4-rank run: both small, both by doubling, at the efficiency
  // of the gradient collectives each modelled by the algorithm that ran it.
  const ctx = prepareReplay(syntheticRun({ ranks: 4, steps: 4, gradBytes: 8 * MiB }));
  const grads = ctx.graph.collectives.filter((c) => c.gradient);
  const eff = measuredEfficiency(grads, ctx.link, true);
  const g = cloneGraph(ctx.graph);
  const exchange = [
    { op: 'allReduce', fraction: 0.001 },
    { op: 'allReduce', fraction: 0.0005 },
  ];
  assert.ok(compressAsExchange(g, ctx.link, exchange, () => 0));
  const added = g.collectives.filter((c) => c.gradient);
  assert.equal(added.length, 2);
  for (const [i, c] of added.entries()) {
    const S = 8 * MiB * exchange[i].fraction;
    assert.equal(c.algorithm, 'recursive-doubling');
    assert.equal(c.exit, 'all');
    const want = eff * doublingCostNs(S, 4, ctx.link);
    assert.ok(Math.abs(c.durNs - want) < 1, `${c.durNs} ns, want ${want}`);
    assert.ok(c.durNs < eff * collectiveCostNs('allReduce', S, 4, ctx.link), 'cheaper than the ring');
  }
  // A gradient collective the trace says ran by doubling is modelled by doubling in the efficiency.
  const asDoubling = grads.map((c) => ({ ...c, algorithm: 'recursive-doubling' }));
  const measured = grads.reduce((t, c) => t + c.durNs, 0);
  const modelled = grads.reduce((t, c) => t + doublingCostNs(c.bytes!, c.groupSize, ctx.link), 0);
  assert.ok(Math.abs(measuredEfficiency(asDoubling, ctx.link, true) - measured / modelled) < 1e-12);
  // An imported PyTorch job's library picks its own algorithms: the same small all-reduces and a
  // small bucket stay priced as rings there, at the ring-modelled efficiency.
  const kineto = prepareReplay(syntheticRun({ ranks: 4, steps: 4, gradBytes: 8 * MiB, format: 'kineto' }));
  const kGrads = kineto.graph.collectives.filter((c) => c.gradient);
  const kEff = measuredEfficiency(kGrads, kineto.link);
  const kg = cloneGraph(kineto.graph);
  assert.equal(tunerRuns(kg), false);
  assert.equal(tunerRuns(g), true);
  assert.ok(compressAsExchange(kg, kineto.link, exchange, () => 0));
  for (const [i, c] of kg.collectives.filter((x) => x.gradient).entries()) {
    const S = 8 * MiB * exchange[i].fraction;
    assert.equal(c.algorithm, undefined);
    const want = kEff * collectiveCostNs('allReduce', S, 4, kineto.link);
    assert.ok(Math.abs(c.durNs - want) < 1, `imported: ${c.durNs} ns, want the ring's ${want}`);
  }
  const kb = cloneGraph(kineto.graph);
  rebucket(kb, kineto.link, 4096, true, 4096);
  const small = kb.collectives.find((c) => c.gradient && c.bytes === 4096)!;
  assert.ok(small, 'a 4 kB bucket');
  assert.ok(Math.abs(small.durNs - kEff * collectiveCostNs('allReduce', 4096, 4, kineto.link)) < 1);
  // On the CommLens run the same bucket runs by doubling, as its tuner would.
  const cb = cloneGraph(ctx.graph);
  rebucket(cb, ctx.link, 4096, true, 4096);
  const tunedSmall = cb.collectives.find((c) => c.gradient && c.bytes === 4096)!;
  assert.equal(tunedSmall.algorithm, 'recursive-doubling');
  assert.ok(Math.abs(tunedSmall.durNs - eff * doublingCostNs(4096, 4, ctx.link)) < 1);
  // Without byAlgorithm (the layout model's pricing) every one is modelled as the ring.
  const ring = grads.reduce((t, c) => t + collectiveCostNs(c.op, c.bytes!, c.groupSize, ctx.link), 0);
  assert.ok(Math.abs(measuredEfficiency(asDoubling, ctx.link) - measured / ring) < 1e-12);
});
