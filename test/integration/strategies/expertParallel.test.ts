/**
 * Expert parallelism is exact: a mixture-of-experts gpt-mini (4 experts, top-2, capacity
 * factor 1, so some assignments are dropped) trained with its experts spread over 2
 * ranks (ep 2: all-to-all dispatch and combine) ends with the parameters of the same
 * model trained data-parallel with every expert on each rank (ep 1: each rank is the
 * single-rank MoE, gradients averaged). Compared: every parameter after K steps (the ep
 * group reassembles its experts into the single-rank layout for the debug dump) and each
 * step's loss; likewise ep 2 × dp 2 on 4 ranks (the experts' gradients averaged over the
 * ranks holding the same experts) against 4 data-parallel ranks. The overlapped variant (each all-to-all in 2 chunks pipelined with the
 * experts) matches the plain one: its forward bitwise (the first step's loss is equal),
 * its parameters within float tolerance (expert weight gradients are summed chunk by chunk).
 * The trace shows the all-to-alls on each rank's "ep group …" track joined across ranks by
 * flows, and the tokens routed to each expert as counter tracks, per rank and step.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunConfig } from '../../../runtime/config';
import type { TraceModel } from '../../../trace/model';
import { TINY_GPT, maxAbsDiff, runStrategy, tinyGptConfig, type StrategyRun } from './harness';

const K = 3;
const E = 4;
const TOP_K = 2;
const model = { ...TINY_GPT, experts: E, topK: TOP_K, capacityFactor: 1 };
const N = model.batchSize * model.seqLen;
/** Slots per expert per rank: ⌈1 × 16 tokens × 2 / 4⌉. */
const C = 8;
const config = (over: Partial<RunConfig>): RunConfig => tinyGptConfig({ ...over, model: model as never }, K);

/** Parameters agree up to float summation order (an expert's gradient is summed over both ranks' tokens at once). */
const TOL = 2e-6;

let plainRun: Promise<StrategyRun> | undefined;
const plain = () => (plainRun ??= runStrategy(config({ strategy: 'ep', worldSize: 2 })));

const losses = (run: StrategyRun) =>
  [...run.outcome.steps].sort((a, b) => a.step - b.step).map((s) => s.perRank.map((p) => p.loss));

/** Per rank: the all-to-alls on its "ep group …" track, in time order. */
function allToAlls(m: TraceModel, name: string) {
  return m.processes.map((p) => {
    const track = m.tracks.find((t) => t.pid === p.pid && t.name === name);
    assert.ok(track, `rank ${p.rank} has the track '${name}'`);
    return m.slices
      .map((s, i) => ({ s, i }))
      .filter(({ s }) => s.track === track.id && s.args?.op === 'allToAll')
      .sort((a, b) => a.s.startNs - b.s.startNs);
  });
}

/** Per rank: counter track name → its values per step. */
function counters(m: TraceModel): Map<string, number[]>[] {
  return m.processes.map((p) => {
    const out = new Map<string, number[]>();
    for (const c of m.counters) {
      const t = m.tracks[c.track];
      if (t.pid === p.pid && t.unit === 'tokens') out.set(t.name, c.values);
    }
    return out;
  });
}

test('ep on 2 ranks trains the same MoE gpt-mini as 2 data-parallel ranks holding every expert; all-to-alls on the ep group track with flows; tokens per expert as counters', async () => {
  const ref = await runStrategy(config({ strategy: 'ep', worldSize: 2, strategyOptions: { expertParallelSize: 1 } }));
  const earlier = await runStrategy(
    config({ strategy: 'ep', worldSize: 2, steps: K - 1, strategyOptions: { expertParallelSize: 1 } }),
  );
  const ep = await plain();
  assert.equal(maxAbsDiff(ref.params[0], ref.params[1]), 0, 'data-parallel ranks hold the same model');
  for (let r = 0; r < 2; r++) {
    const d = maxAbsDiff(ep.params[r], ref.params[0]);
    assert.ok(d < TOL, `ep rank ${r} vs the data-parallel MoE: max |Δθ| = ${d}`);
  }
  const moved = maxAbsDiff(ref.params[0], earlier.params[0]);
  assert.ok(moved > 1000 * TOL, `training moves parameters by ${moved} per step, far beyond the tolerance`);
  const [le, lr] = [losses(ep), losses(ref)];
  for (let s = 0; s < K; s++)
    for (let r = 0; r < 2; r++)
      assert.ok(Math.abs(le[s][r] - lr[s][r]) < 1e-5, `step ${s} rank ${r}: loss ${le[s][r]} vs ${lr[s][r]}`);

  const m = ep.outcome.trace.model;
  const name = 'ep group 0 (ranks 0,1)';
  const perRank = allToAlls(m, name);
  // Per step and layer: dispatch and combine forward, combine and dispatch backward; each E·C·D f32.
  const bytes = E * C * model.dModel * 4;
  for (const slices of perRank) {
    assert.equal(slices.length, K * model.layers * 4);
    for (const { s } of slices) {
      assert.equal(Number(s.args?.bytes), bytes);
      assert.equal(s.args?.group, name);
    }
    const step = [
      'layer0.moe dispatch fwd',
      'layer0.moe combine fwd',
      'layer1.moe dispatch fwd',
      'layer1.moe combine fwd',
      'layer1.moe combine bwd',
      'layer1.moe dispatch bwd',
      'layer0.moe combine bwd',
      'layer0.moe dispatch bwd',
    ];
    assert.deepEqual(
      slices.map(({ s }) => s.args?.label),
      Array.from({ length: K }, () => step).flat(),
    );
  }
  // Each all-to-all on one rank is joined to the same one on the other by a flow.
  const mine = new Set(perRank.flatMap((l) => l.map(({ i }) => i)));
  const joined = m.flows.filter((f) => mine.has(f.from) && mine.has(f.to));
  assert.equal(joined.length, K * model.layers * 4);
  for (const f of joined) assert.equal(m.slices[f.from].args?.seq, m.slices[f.to].args?.seq);
  // The data-parallel reference has no ep group track (its all-to-alls are local).
  assert.ok(!ref.outcome.trace.model.tracks.some((t) => t.name.startsWith('ep group')));

  // Tokens per expert: one counter track per expert and block on each rank, one value per step;
  // a block's experts get N·topK assignments in all; capacity 1 drops some.
  let dropped = 0;
  for (const byName of counters(m)) {
    for (let l = 0; l < model.layers; l++) {
      const series = Array.from({ length: E }, (_, e) => byName.get(`tokens to expert ${e} (layer${l}.moe)`));
      for (const v of series) assert.equal(v?.length, K);
      for (let s = 0; s < K; s++)
        assert.equal(
          series.reduce((a, v) => a + v![s], 0),
          N * TOP_K,
        );
    }
    const d = byName.get('tokens dropped over expert capacity');
    assert.equal(d?.length, K);
    dropped += d!.reduce((a, b) => a + b, 0);
  }
  assert.ok(dropped > 0, 'capacity factor 1 drops assignments of an uneven routing');
});

test('the overlapped variant (2 chunks per all-to-all, pipelined with the experts) matches the plain one', async () => {
  const ep = await plain();
  const over = await runStrategy(config({ strategy: 'ep', worldSize: 2, strategyOptions: { overlapChunks: 2 } }));
  for (let r = 0; r < 2; r++) {
    const d = maxAbsDiff(over.params[r], ep.params[r]);
    assert.ok(d < TOL, `overlapped rank ${r} vs plain: max |Δθ| = ${d}`);
  }
  // Same parameters, same forward: the first step's loss is bitwise the plain one's.
  assert.deepEqual(losses(over)[0], losses(ep)[0]);
  const perRank = allToAlls(over.outcome.trace.model, 'ep group 0 (ranks 0,1)');
  const half = (E * (C / 2) * model.dModel * 4) as number;
  for (const slices of perRank) {
    assert.equal(slices.length, K * model.layers * 8);
    for (const { s } of slices) assert.equal(Number(s.args?.bytes), half);
    // Chunk 1's dispatch is issued before chunk 0's combine, i.e. it is on the wire while chunk 0's experts
    // compute; backward alike (chunk 1's output gradients travel while chunk 0's experts run backward).
    const labels = slices.map(({ s }) => String(s.args?.label));
    const layer = (l: number, dir: 'fwd' | 'bwd') =>
      (dir === 'fwd' ? ['dispatch', 'combine'] : ['combine', 'dispatch']).flatMap((w) =>
        [0, 1].map((c) => `layer${l}.moe ${w} ${dir} chunk ${c}`),
      );
    const step = [...layer(0, 'fwd'), ...layer(1, 'fwd'), ...layer(1, 'bwd'), ...layer(0, 'bwd')];
    assert.deepEqual(labels, Array.from({ length: K }, () => step).flat());
  }
});

test('ep+ddp on 4 ranks (ep 2 × dp 2) trains the same MoE gpt-mini as 4 data-parallel ranks; experts averaged over their dp group', async () => {
  const ref = await runStrategy(config({ strategy: 'ep', worldSize: 4, strategyOptions: { expertParallelSize: 1 } }));
  const ep = await runStrategy(
    config({ strategy: 'ep+ddp', worldSize: 4, strategyOptions: { expertParallelSize: 2 } }),
  );
  for (let r = 0; r < 4; r++) {
    const d = maxAbsDiff(ep.params[r], ref.params[0]);
    assert.ok(d < TOL, `ep+ddp rank ${r} vs the data-parallel MoE: max |Δθ| = ${d}`);
  }
  const m = ep.outcome.trace.model;
  const want = [
    ['ep group 0 (ranks 0,1)', 'dp group 0 (ranks 0,2)'],
    ['ep group 0 (ranks 0,1)', 'dp group 1 (ranks 1,3)'],
    ['ep group 1 (ranks 2,3)', 'dp group 0 (ranks 0,2)'],
    ['ep group 1 (ranks 2,3)', 'dp group 1 (ranks 1,3)'],
  ];
  m.processes.forEach((p, r) => {
    const named = m.tracks.filter((t) => t.pid === p.pid && / group \d+ \(ranks /.test(t.name)).map((t) => t.name);
    assert.deepEqual(named.sort(), [...want[r]].sort(), `rank ${r}'s group tracks`);
    const ops = (name: string) => {
      const t = m.tracks.find((t) => t.pid === p.pid && t.name === name)!;
      return m.slices.filter((s) => s.track === t.id).map((s) => String(s.args?.op));
    };
    assert.deepEqual(ops(want[r][0]), Array(K * model.layers * 4).fill('allToAll'));
    // The experts' gradients: one all-reduce per step among the ranks holding the same experts.
    assert.deepEqual(ops(want[r][1]), Array(K).fill('allReduce'));
  });
});
