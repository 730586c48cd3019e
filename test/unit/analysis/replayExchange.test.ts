// A compressed exchange in the replay, as CommLens' runtime runs it: its all-to-all on the
// emulated links (a wire per ordered pair of ranks, runtime/comm/channel.ts, where the rounds
// move at once; a trace from a real cluster keeps one port per rank), its wait for a late
// peer counted once, and its codec on its path in full.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prepareReplay } from '../../../analysis/replay/whatIf';
import { collectiveCostNs } from '../../../analysis/replay/costModel';
import { LOCAL_ALPHA_NS, LOCAL_BYTES_PER_NS, runtimeCollectiveNs } from '../../../trace/collectiveAlgorithms';
import { cloneGraph, compressAsExchange, measuredEfficiency } from '../../../analysis/replay/transforms';
import { COMPRESSORS } from '../../../analysis/compressors';
import { simulate } from '../../../analysis/replay/simulate';
import { syntheticRun } from '../../helpers/syntheticRun';

const MiB = 1024 * 1024;

test("on one port per rank an all-to-all costs (n−1)α + (n−1)/n·S/β; on CommLens' pair wires a collective costs what its runtime takes", () => {
  const link = { alphaNs: 10_000, bytesPerNs: 1 };
  const S = 4 * MiB;
  assert.equal(collectiveCostNs('allToAll', S, 4, link), 3 * 10_000 + (3 / 4) * S);
  const wired = { ...link, pairWires: true };
  // The runtime's tuner's estimate of the algorithm it picks (trace/collectiveAlgorithms.ts):
  // an all-to-all's rounds at once, α + S/n/β and its local costs.
  for (const op of ['allToAll', 'allReduce', 'allGather', 'reduceScatter'])
    for (const n of [2, 4, 8])
      for (const bytes of [4096, S])
        assert.equal(
          collectiveCostNs(op, bytes, n, wired),
          runtimeCollectiveNs(op, bytes, n, wired),
          `${op} ${n} ${bytes}`,
        );
  const local = ((3 / 4) * S) / LOCAL_BYTES_PER_NS;
  assert.ok(Math.abs(collectiveCostNs('allToAll', S, 4, wired) - (10_000 + LOCAL_ALPHA_NS + S / 4 + local)) < 1e-6);
  // Two ranks all-reduce by recursive doubling, one α and S/β, where the ring takes two α
  // (25 GbE slowed 300×: α 9 ms, β 10.4 MB/s).
  const slow = { alphaNs: 9e6, bytesPerNs: 3.125 / 300 };
  const rd = collectiveCostNs('allReduce', S, 2, { ...slow, pairWires: true });
  assert.ok(Math.abs(rd - collectiveCostNs('allReduce', S, 2, slow) + 9e6) < 0.01 * rd, `${rd}`);
  // Point-to-point keeps the α–β model.
  assert.equal(collectiveCostNs('send', S, 2, wired), collectiveCostNs('send', S, 2, link));
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
  const want = eff * runtimeCollectiveNs('allToAll', S, 4, ctx.link)!;
  assert.ok(Math.abs(a2a.durNs - want) < 1, `all-to-all ${a2a.durNs} ns, want ${want}`);

  const imported = prepareReplay(syntheticRun({ ranks: 4, steps: 4, gradBytes: grad, format: 'kineto' }));
  assert.ok(!imported.link.pairWires, 'a PyTorch trace ran on real ports');
});

test("a rank waits for a late peer once per exchange: the exchange's second collective waits on a busy lane, not on the peer", () => {
  const ctx = prepareReplay(
    syntheticRun({ ranks: 2, steps: 4, gradBytes: 4 * MiB, slowRank: 1, slowExtraNs: 200_000 }),
  );
  const waitOf = (exchange: { op: string; fraction: number }[]) => {
    const g = cloneGraph(ctx.graph);
    assert.ok(compressAsExchange(g, ctx.link, exchange, () => 0));
    return simulate(g).components.waitNs;
  };
  const one = waitOf([{ op: 'allToAll', fraction: 0.5 }]);
  assert.ok(one > 100_000, `rank 0 waits for the slow rank: ${one} ns (mean over ranks)`);
  const two = waitOf(COMPRESSORS.bf16.exchange(2));
  assert.ok(Math.abs(two - one) < 1, `all-to-all + all-gather wait ${two} ns, the all-to-all alone ${one}`);
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
