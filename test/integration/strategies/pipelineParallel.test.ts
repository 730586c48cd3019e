/**
 * GPipe pipeline parallelism is exact: P stages holding L/P layers each, running M
 * micro-batches forward then backward with the activations and their gradients sent
 * between stages (send/recv), train the same gpt-mini as one rank holding all of it.
 * Compared: every parameter after K steps (the stages' flat buffers concatenated into the
 * single-rank layout) and each step's loss, for
 *  - pp on 2 ranks (2 stages, 2 micro-batches) vs ddp on 1 rank;
 *  - pp+ddp on 4 ranks (pp 2 × dp 2) vs ddp on 2 ranks (pipeline g = ranks g, g+2 trains ddp rank g's batch).
 * The trace shows each micro-batch's send and recv on the 'pp group' track, joined by flows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PRESETS, validateConfig, type RunConfig } from '../../../runtime/config';
import { LINK_PROFILE_NAMES } from '../../../runtime/comm';
import { STRATEGY_IDS, validateStrategyConfig } from '../../../runtime/strategies';
import { TINY_GPT, maxAbsDiff, runStrategy, tinyGptConfig, type StrategyRun } from './harness';

const K = 3;
const model = TINY_GPT;
const config = (over: Partial<RunConfig>): RunConfig => tinyGptConfig(over, K);

/** Micro-batches sum the loss in another grouping: parameters agree up to float rounding. */
const TOL = 2e-6;

function assertSameModel(pp: StrategyRun, ddp: StrategyRun, dp: number): void {
  for (let r = 0; r < pp.params.length; r++) {
    const d = maxAbsDiff(pp.params[r], ddp.params[r % dp]);
    assert.ok(d < TOL, `pp rank ${r} vs ddp rank ${r % dp}: max |Δθ| = ${d}`);
  }
  const losses = (run: StrategyRun) =>
    [...run.outcome.steps].sort((a, b) => a.step - b.step).map((s) => s.perRank.map((p) => p.loss));
  const [lp, ld] = [losses(pp), losses(ddp)];
  for (let s = 0; s < K; s++)
    lp[s].forEach((l, r) =>
      assert.ok(Math.abs(l - ld[s][r % dp]) < 1e-5, `step ${s} rank ${r}: loss ${l} vs ddp ${ld[s][r % dp]}`),
    );
}

test('pp on 2 ranks (GPipe, 2 micro-batches) trains the same gpt-mini as one rank; sends and recvs joined by flows on the pp group track', async () => {
  const ddp = await runStrategy(config({ strategy: 'ddp', worldSize: 1 }));
  const pp = await runStrategy(config({ strategy: 'pp', worldSize: 2, strategyOptions: { microBatches: 2 } }));
  assertSameModel(pp, ddp, 1);
  const m = pp.outcome.trace.model;
  const name = 'pp group 0 (ranks 0,1)';
  const bytes = (model.batchSize / 2) * model.seqLen * model.dModel * 4;
  const ops = m.processes.map((p) => {
    const track = m.tracks.find((t) => t.pid === p.pid && t.name === name);
    assert.ok(track, `rank ${p.rank} has the track '${name}'`);
    return m.slices.filter((s) => s.track === track.id && (s.args?.op === 'send' || s.args?.op === 'recv'));
  });
  // Stage 0 sends each micro-batch's activations and receives its gradient; stage 1 the opposite.
  assert.deepEqual(
    ops[0].map((s) => s.args?.op),
    Array.from({ length: K }, () => ['send', 'send', 'recv', 'recv']).flat(),
  );
  assert.deepEqual(
    ops[1].map((s) => s.args?.op),
    Array.from({ length: K }, () => ['recv', 'recv', 'send', 'send']).flat(),
  );
  for (const s of [...ops[0], ...ops[1]]) assert.equal(s.args?.bytes, bytes);
  const index = new Map(m.slices.map((s, i) => [s, i]));
  const p2p = new Set([...ops[0], ...ops[1]].map((s) => index.get(s)!));
  const flows = m.flows.filter((f) => p2p.has(f.from) && p2p.has(f.to));
  assert.equal(flows.length, K * 4, 'one flow per send/recv pair');
});

test('pp+ddp on 4 ranks (pp 2 × dp 2) trains the same gpt-mini as ddp on 2 ranks', async () => {
  const ddp = await runStrategy(config({ strategy: 'ddp', worldSize: 2 }));
  const pp = await runStrategy(
    config({ strategy: 'pp+ddp', worldSize: 4, strategyOptions: { pipelineParallelSize: 2 } }),
  );
  assertSameModel(pp, ddp, 2);
});

test('pp refuses what cannot work, naming the setting', () => {
  assert.throws(
    () => config({ strategy: 'pp', worldSize: 4 }),
    /model\.layers 2 is not divisible by the pipeline-parallel size strategyOptions\.pipelineParallelSize 4; strategyOptions\.pipelineParallelSize must divide 2 \(and worldSize 4\): 1, 2/,
  );
  assert.throws(
    () => config({ strategy: 'pp', worldSize: 2, strategyOptions: { microBatches: 3 } }),
    /strategyOptions\.microBatches: 3 micro-batches do not divide model\.batchSize 2/,
  );
  assert.throws(
    () =>
      validateConfig(
        { ...PRESETS.tiny, strategy: 'pp' },
        [...LINK_PROFILE_NAMES],
        STRATEGY_IDS,
        validateStrategyConfig,
      ),
    /'pp' \(pipeline parallelism\) .*runs only model\.kind "gpt-mini" \(got "mlp"\)/,
  );
});
