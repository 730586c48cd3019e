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
    /strategyOptions\.microBatches: 3 micro-batches do not divide model\.batchSize 2; use a divisor of 2: 1, 2/,
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

/** The largest 'activations' memory counter of each rank over the run (the stage's pool high-water mark). */
function peakActivations(run: StrategyRun): number[] {
  const peak: number[] = [];
  for (const s of run.outcome.steps)
    for (const [r, p] of s.perRank.entries()) peak[r] = Math.max(peak[r] ?? 0, p.memory.activations);
  return peak;
}

test('pp 1F1B on 2 ranks (4 micro-batches) trains the same gpt-mini as GPipe and one rank, holding fewer activations on stage 0', async () => {
  const four = { model: { ...TINY_GPT, batchSize: 4 } };
  const ddp = await runStrategy(config({ ...four, strategy: 'ddp', worldSize: 1 }));
  const gpipe = await runStrategy(
    config({ ...four, strategy: 'pp', worldSize: 2, strategyOptions: { microBatches: 4, schedule: 'gpipe' } }),
  );
  const f1b = await runStrategy(
    config({ ...four, strategy: 'pp', worldSize: 2, strategyOptions: { microBatches: 4, schedule: '1f1b' } }),
  );
  assertSameModel(f1b, ddp, 1);
  assertSameModel(f1b, gpipe, 2);
  // Stage 0 holds at most 2 micro-batches' activations under 1F1B, all 4 under GPipe.
  const [pg, pf] = [peakActivations(gpipe), peakActivations(f1b)];
  console.log(`peak activation bytes per stage: gpipe ${pg.join(', ')}; 1f1b ${pf.join(', ')}`);
  assert.ok(pf[0] < pg[0], `stage 0: 1F1B's peak activations ${pf[0]} B should be below GPipe's ${pg[0]} B`);
  assert.ok(pf[1] <= pg[1], `stage 1: 1F1B's peak activations ${pf[1]} B should not exceed GPipe's ${pg[1]} B`);
  // The steady phase pairs a forward's send with the gradient's recv on the pp track.
  const m = f1b.outcome.trace.model;
  const track = m.tracks.find((t) => t.pid === m.processes[0].pid && t.name === 'pp group 0 (ranks 0,1)');
  assert.ok(track);
  const ops = m.slices.filter((s) => s.track === track.id && typeof s.args?.op === 'string').map((s) => s.args?.op);
  assert.deepEqual(
    ops.filter((o) => o !== 'broadcast' && o !== 'allReduce' && o !== 'allGather'),
    Array.from({ length: K }, () => ['send', 'sendRecv', 'sendRecv', 'sendRecv', 'recv']).flat(),
  );
});

test("pp '1f1b' with fewer micro-batches than stages is refused, naming the counts that fit", () => {
  assert.throws(
    () =>
      config({
        model: { ...TINY_GPT, batchSize: 4 },
        strategy: 'pp',
        worldSize: 2,
        strategyOptions: { microBatches: 1, schedule: '1f1b' },
      }),
    /strategyOptions\.schedule '1f1b': 1 micro-batches are fewer than the 2 pipeline stages .*use strategyOptions\.microBatches 2, 4 \(divisors of model\.batchSize 4, at least 2\)/,
  );
});

test('pp 1F1B on 3 ranks (a middle stage: warm-up 1, 3 micro-batches) trains the same gpt-mini as one rank', async () => {
  const three = { model: { ...TINY_GPT, layers: 3, batchSize: 3 } };
  const ddp = await runStrategy(config({ ...three, strategy: 'ddp', worldSize: 1 }));
  const f1b = await runStrategy(
    config({ ...three, strategy: 'pp', worldSize: 3, strategyOptions: { microBatches: 3, schedule: '1f1b' } }),
  );
  assertSameModel(f1b, ddp, 1);
});
