/**
 * Megatron tensor parallelism is exact: T ranks sharing each layer of gpt-mini train the
 * same model as one rank holding all of it. Compared: every parameter after K steps (the
 * tp group reassembles its shards into the single-rank layout for the debug dump) and
 * each step's loss, for
 *  - tp on 2 ranks (tp 2, dp 1) vs ddp on 1 rank;
 *  - tp+ddp on 4 ranks (tp 2 × dp 2) vs ddp on 2 ranks (tp group g trains ddp rank g's batch).
 * The trace shows the f/g all-reduces on each rank's "tp group …" track (2 forward and 2
 * backward per layer, B·T·dModel f32 each) and the gradient all-reduce on its "dp group …" track.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PRESETS, validateConfig, type RunConfig } from '../../../runtime/config';
import { LINK_PROFILE_NAMES } from '../../../runtime/comm';
import { STRATEGY_IDS, validateStrategyConfig } from '../../../runtime/strategies';
import type { TraceModel } from '../../../trace/model';
import { TINY_GPT, maxAbsDiff, runStrategy, tinyGptConfig, type StrategyRun } from './harness';

const K = 3;
const model = TINY_GPT;
const config = (over: Partial<RunConfig>): RunConfig => tinyGptConfig(over, K);

/** Parameters agree up to float summation order (row-parallel products are summed in two halves). */
const TOL = 2e-6;

function assertSameModel(tp: StrategyRun, ddp: StrategyRun, T: number): void {
  for (let r = 0; r < tp.params.length; r++) {
    const d = maxAbsDiff(tp.params[r], ddp.params[Math.floor(r / T)]);
    assert.ok(d < TOL, `tp rank ${r} vs ddp rank ${Math.floor(r / T)}: max |Δθ| = ${d}`);
  }
  const losses = (run: StrategyRun) =>
    [...run.outcome.steps].sort((a, b) => a.step - b.step).map((s) => s.perRank.map((p) => p.loss));
  const [lt, ld] = [losses(tp), losses(ddp)];
  for (let s = 0; s < K; s++) {
    lt[s].forEach((l, r) => {
      const want = ld[s][Math.floor(r / T)];
      assert.ok(Math.abs(l - want) < 1e-5, `step ${s} rank ${r}: loss ${l} vs ddp ${want}`);
    });
  }
}

/** Per rank: the collectives on each of its tracks named like a process group. */
function groupTracks(m: TraceModel): Map<string, { op: string; bytes: number; group: string }[]>[] {
  return m.processes.map((p) => {
    const out = new Map<string, { op: string; bytes: number; group: string }[]>();
    for (const t of m.tracks.filter((t) => t.pid === p.pid && / group \d+ \(ranks /.test(t.name))) {
      out.set(
        t.name,
        m.slices
          .filter((s) => s.track === t.id)
          .map((s) => ({ op: String(s.args?.op), bytes: Number(s.args?.bytes), group: String(s.args?.group) })),
      );
    }
    return out;
  });
}

test('tp on 2 ranks trains the same gpt-mini as one rank; its f/g all-reduces are on the tp group track', async () => {
  const ddp = await runStrategy(config({ strategy: 'ddp', worldSize: 1 }));
  const earlier = await runStrategy(config({ strategy: 'ddp', worldSize: 1, steps: K - 1 }));
  const tp = await runStrategy(config({ strategy: 'tp', worldSize: 2 }));
  assertSameModel(tp, ddp, 2);
  const moved = maxAbsDiff(ddp.params[0], earlier.params[0]);
  assert.ok(moved > 1000 * TOL, `training moves parameters by ${moved} per step, far beyond the tolerance`);

  const perRank = groupTracks(tp.outcome.trace.model);
  const bytes = model.batchSize * model.seqLen * model.dModel * 4;
  perRank.forEach((tracks, r) => {
    const name = 'tp group 0 (ranks 0,1)';
    const slices = tracks.get(name);
    assert.ok(slices, `rank ${r} has the track '${name}' (has: ${[...tracks.keys()].join('; ')})`);
    // Per step and layer: 2 forward (g after proj and fc2) and 2 backward (f before qkv and fc1).
    assert.equal(slices.length, K * model.layers * 4);
    for (const s of slices) assert.deepEqual(s, { op: 'allReduce', bytes, group: name });
  });
});

test('tp+ddp on 4 ranks (tp 2 × dp 2) trains the same gpt-mini as ddp on 2 ranks; each group on its own track', async () => {
  const ddp = await runStrategy(config({ strategy: 'ddp', worldSize: 2 }));
  const tp = await runStrategy(
    config({ strategy: 'tp+ddp', worldSize: 4, strategyOptions: { tensorParallelSize: 2 } }),
  );
  assertSameModel(tp, ddp, 2);
  const perRank = groupTracks(tp.outcome.trace.model);
  const want = [
    ['tp group 0 (ranks 0,1)', 'dp group 0 (ranks 0,2)'],
    ['tp group 0 (ranks 0,1)', 'dp group 1 (ranks 1,3)'],
    ['tp group 1 (ranks 2,3)', 'dp group 0 (ranks 0,2)'],
    ['tp group 1 (ranks 2,3)', 'dp group 1 (ranks 1,3)'],
  ];
  perRank.forEach((tracks, r) => {
    assert.deepEqual([...tracks.keys()].sort(), [...want[r]].sort(), `rank ${r}'s group tracks`);
    assert.equal(tracks.get(want[r][0])!.length, K * model.layers * 4);
    const dp = tracks.get(want[r][1])!;
    assert.ok(
      dp.length >= K && dp.every((s) => s.op === 'allReduce'),
      `rank ${r}: the gradient all-reduce on the dp track`,
    );
  });
});

test("tp with Megatron's sequence parallelism on 2 ranks trains the same gpt-mini as one rank; all-gathers and reduce-scatters replace the all-reduces", async () => {
  const ddp = await runStrategy(config({ strategy: 'ddp', worldSize: 1 }));
  const tp = await runStrategy(config({ strategy: 'tp', worldSize: 2, strategyOptions: { sequenceParallel: true } }));
  // Each rank's loss is its tokens' share; the strategy reports the group's sum.
  assertSameModel(tp, ddp, 2);
  const full = model.batchSize * model.seqLen * model.dModel * 4;
  groupTracks(tp.outcome.trace.model).forEach((tracks, r) => {
    const slices = tracks.get('tp group 0 (ranks 0,1)')!;
    const count = (op: string) => slices.filter((s) => s.op === op).length;
    // Per layer: gather before qkv and fc1, scatter after proj and fc2, forward; the opposite backward.
    assert.equal(count('allGather'), K * model.layers * 4, `rank ${r} all-gathers`);
    assert.equal(count('reduceScatter'), K * model.layers * 4, `rank ${r} reduce-scatters`);
    for (const s of slices.filter((s) => s.op !== 'allReduce'))
      assert.equal(s.bytes, full, 'the whole [B, S, D] activation (nccl-tests S)');
    // Per step: the replicated parameters' gradients summed over the group, and the loss.
    assert.equal(count('allReduce'), 2 * K, `rank ${r} all-reduces`);
  });
});

test('tp refuses what cannot work, naming the setting', () => {
  assert.throws(
    () =>
      config({
        strategy: 'tp',
        worldSize: 2,
        strategyOptions: { sequenceParallel: true },
        model: { ...model, seqLen: 7, maxSeqLen: 7 } as never,
      }),
    /model\.seqLen \(strategyOptions\.sequenceParallel\) 7 is not divisible by the tensor-parallel size strategyOptions\.tensorParallelSize 2/,
  );
  assert.throws(
    () => config({ strategy: 'tp', worldSize: 4 }),
    /model\.heads 2 is not divisible by the tensor-parallel size strategyOptions\.tensorParallelSize 4; strategyOptions\.tensorParallelSize must divide 2 \(and worldSize 4\): 1, 2/,
  );
  assert.throws(
    () => config({ strategy: 'tp+ddp', worldSize: 3, strategyOptions: { tensorParallelSize: 2 } }),
    /strategyOptions\.tensorParallelSize 2 = 2 does not divide worldSize 3/,
  );
  assert.throws(
    () => config({ strategy: 'tp+zero1', worldSize: 2 }),
    /'tp' combines with data parallelism \('ddp'\) only; drop 'zero1'/,
  );
  const mlp = PRESETS.tiny;
  assert.throws(
    () => validateConfig({ ...mlp, strategy: 'tp' }, [...LINK_PROFILE_NAMES], STRATEGY_IDS, validateStrategyConfig),
    /'tp' \(tensor parallelism\) .*runs only model\.kind "gpt-mini" \(got "mlp"\)/,
  );
});
