/**
 * Ring attention is exact: P context-parallel ranks, each holding a contiguous shard of
 * every sequence and passing the key/value blocks (and in backward their dK/dV) round the
 * ring, train the same model as one rank with whole sequences. Compared: every parameter
 * after K steps (each rank's dump through COMMLENS_DEBUG_PARAMS_DIR) and each step's loss
 * (every rank reports its group's) of
 *  - ring on 2 ranks (cp 2) vs ddp on 1 rank, and vs Ulysses on 2 ranks; ring on 1 rank vs ddp;
 *  - ring+ddp on 4 ranks (cp 2 × dp 2) vs ddp on 2 ranks (group g trains ddp rank g's batch);
 *  - ring on 4 ranks (cp 4: two tokens a rank) vs ddp on 1 rank.
 * The trace (a run on a slowed link, GPU timing on) shows each round's sendRecv on the cp
 * group's track, joined by flows and by the analysis, running while the block's kernels do.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunConfig } from '../../../runtime/config';
import { analyze } from '../../../analysis';
import type { TraceModel } from '../../../trace/model';
import { contextParallelTraffic } from '../../../trace/contextParallel';
import { TINY_GPT, maxAbsDiff, presetConfig, runStrategy, tinyGptConfig, type StrategyRun } from './harness';

const K = 3;
const model = TINY_GPT;
const config = (over: Partial<RunConfig>): RunConfig => tinyGptConfig(over, K);

/**
 * Parameters agree up to float rounding: the ring sums each softmax in P pieces (online
 * softmax) where one rank sums it whole, and the loss is reduced in another grouping.
 */
const TOL = 1e-6;

function losses(run: StrategyRun): number[][] {
  return [...run.outcome.steps].sort((a, b) => a.step - b.step).map((s) => s.perRank.map((p) => p.loss));
}

/** Every rank of `ring` (context-parallel groups of `cp`) against rank ⌊r / cp⌋ of `ref`. */
function assertSameModel(ring: StrategyRun, ref: StrategyRun, cp: number, what: string, earlier?: Float32Array): void {
  assert.ok(ring.params.length > 0 && ref.params.length > 0, 'both runs dumped their parameters');
  for (let r = 0; r < ring.params.length; r++) {
    const d = maxAbsDiff(ring.params[r], ref.params[Math.floor(r / cp) % ref.params.length]);
    assert.ok(d < TOL, `ring rank ${r} vs ${what}: max |Δθ| = ${d}`);
  }
  if (earlier) {
    const moved = maxAbsDiff(ref.params[0], earlier);
    assert.ok(moved > 1000 * TOL, `training moves parameters by ${moved} per step, far beyond the tolerance`);
  }
  const [lr, lf] = [losses(ring), losses(ref)];
  for (let s = 0; s < K; s++)
    lr[s].forEach((l, r) => {
      const want = lf[s][Math.floor(r / cp) % lf[s].length];
      assert.ok(Math.abs(l - want) < 1e-5, `step ${s} rank ${r}: loss ${l} vs ${what} ${want}`);
    });
}

test('ring on 2 ranks (cp 2) trains the same gpt-mini as ddp on 1 rank and as Ulysses on 2 ranks (and on 1 rank as ddp)', async () => {
  const ddp = await runStrategy(config({ strategy: 'ddp', worldSize: 1 }));
  const ddpEarlier = await runStrategy(config({ strategy: 'ddp', worldSize: 1, steps: K - 1 }));
  const ring = await runStrategy(config({ strategy: 'ring', worldSize: 2 }));
  assertSameModel(ring, ddp, 2, 'ddp', ddpEarlier.params[0]);
  const ulysses = await runStrategy(config({ strategy: 'ulysses', worldSize: 2 }));
  assertSameModel(ring, ulysses, 1, 'ulysses'); // One rank alone: the ring's kernels (block, dq, dkv) without a transfer, against the fused attention's.
  const alone = await runStrategy(config({ strategy: 'ring', worldSize: 1 }));
  assertSameModel(alone, ddp, 1, 'ddp');
});

test('ring on 4 ranks: cp 2 × dp 2 trains the same gpt-mini as ddp on 2 ranks, cp 4 as ddp on 1 rank', async () => {
  const ddp2 = await runStrategy(config({ strategy: 'ddp', worldSize: 2 }));
  const ringDp = await runStrategy(
    config({ strategy: 'ring+ddp', worldSize: 4, strategyOptions: { contextParallelSize: 2 } }),
  );
  assertSameModel(ringDp, ddp2, 2, 'ddp on 2 ranks');
  const ddp1 = await runStrategy(config({ strategy: 'ddp', worldSize: 1 }));
  const ring4 = await runStrategy(config({ strategy: 'ring', worldSize: 4 }));
  assertSameModel(ring4, ddp1, 4, 'ddp on 1 rank');
});

/** Each rank's slices on the track named `name`. */
function trackSlices(m: TraceModel, name: string) {
  return m.processes.map((p) => {
    const track = m.tracks.find((t) => t.pid === p.pid && t.name === name);
    assert.ok(track, `rank ${p.rank} has the track '${name}'`);
    return m.slices.filter((s) => s.track === track.id).sort((a, b) => a.startNs - b.startNs);
  });
}

test('ring: each round sends the key/value block on the cp track, joined by flows and by the analysis, under the block compute', async () => {
  const cfg = presetConfig('gpt-mini', {
    strategy: 'ring',
    worldSize: 2,
    steps: K,
    model: TINY_GPT,
    optimizer: { kind: 'sgd', lr: 0.2, momentum: 0.9 },
    gpuTiming: true,
    // 10 GbE slowed 4000×: 200 ms a message, so a transfer outlasts the launch of the block's
    // kernels (0.5–2 ms after it starts on a quiet machine; a CI run at 20 ms a message once saw
    // a rank's kernels start only after its transfers had ended) unless the peer's block came long before.
    link: 'eth-10g',
    linkScale: 4000,
  });
  const run = await runStrategy(cfg, false);
  const m = run.outcome.trace.model;
  const P = 2;
  const blockBytes = model.batchSize * (model.seqLen / P) * 2 * model.dModel * 4;
  const perRank = trackSlices(m, 'cp group 0 (ranks 0,1)').map((ss) =>
    ss.filter((s) => s.category === 'collective' && s.args?.op === 'sendRecv'),
  );
  // Per layer: forward P−1 key/value passes; backward P−1 of them and P of the dK/dV accumulators.
  const layer = (l: number) => [`layer${l}.attn kv fwd`];
  const back = (l: number) => [`layer${l}.attn kv bwd`, `layer${l}.attn dkv bwd`, `layer${l}.attn dkv bwd`];
  const step = [...layer(0), ...layer(1), ...back(1), ...back(0)];
  for (const ss of perRank) {
    assert.deepEqual(
      ss.map((s) => s.args?.label),
      Array.from({ length: K }, () => step).flat(),
    );
    for (const s of ss) assert.equal(s.args?.bytes, blockBytes, 'one key/value block (or its dK/dV) per message');
    const traffic = contextParallelTraffic('ring', {
      batch: model.batchSize,
      seqLen: model.seqLen,
      hidden: model.dModel,
      degree: P,
    });
    assert.equal(ss.length / K, traffic.messagesPerLayer * model.layers, 'the shared definition counts the messages');
    assert.equal(
      ss.reduce((a, s) => a + Number(s.args?.bytes), 0) / K,
      traffic.bytesPerLayer * model.layers,
      'and the bytes',
    );
  }
  // One flow per message: rank r's send to r+1, into r+1's receive.
  const index = new Map(m.slices.map((s, i) => [s, i]));
  const p2p = new Set(perRank.flat().map((s) => index.get(s)!));
  const flows = m.flows.filter((f) => p2p.has(f.from) && p2p.has(f.to));
  assert.equal(flows.length, P * step.length * K, 'each sendRecv sends one message and receives one');

  // The block compute is on the GPU as kernels, and the forward's transfer runs while they do:
  // on some rank at least (when a rank's peer sent its block long before, that rank's own
  // transfer may end before its kernels start; with the transfer awaited before the compute,
  // no rank ever overlaps).
  const overlapsByRank: number[] = [];
  m.processes.forEach((p, r) => {
    const kernels = m.slices.filter(
      (s) => m.tracks.find((t) => t.id === s.track)?.pid === p.pid && s.name.startsWith('ring-attention '),
    );
    const fwd = kernels.filter((s) => / fwd layer0\.attn$/.test(s.name));
    // Rank r computes blocks 0..r (the later ones are masked out by causality): r+1 per layer and step.
    assert.equal(fwd.length, (r + 1) * K, `rank ${r}: ${fwd.map((k) => k.name).join(', ')}`);
    const sends = perRank[r].filter((s) => s.args?.label === 'layer0.attn kv fwd');
    const overlapped = sends.filter((c) =>
      kernels.some(
        (k) => / fwd layer0\.attn$/.test(k.name) && k.startNs < c.startNs + c.durNs && k.startNs + k.durNs > c.startNs,
      ),
    );
    overlapsByRank.push(overlapped.length);
  });
  console.log(`layer0 forward transfers with a block kernel running, per rank: ${overlapsByRank.join(', ')} of ${K}`);
  assert.ok(
    overlapsByRank.some((n) => n >= 1),
    `a layer0 block kernel runs during a key/value transfer on some rank (${overlapsByRank.join(', ')})`,
  );

  const analysis = analyze(m, { includeLastStep: true });
  const bad = analysis.notes.filter((n) => /could not|not joined|not found on every rank|no matching/i.test(n));
  assert.deepEqual(bad, [], 'the analysis reads a ring run without warnings');
  const rings = analysis.collectives!.instances.filter((i) => i.p2p && i.group === 'cp group 0 (ranks 0,1)');
  assert.equal(rings.length, P * step.length * K, 'every message joined as its send and its recv');
  for (const i of rings) assert.deepEqual(i.participants.map((p) => p.role).sort(), ['recv', 'send']);
});

test('ring refuses what cannot work before any GPU work, naming the setting and the sizes that would', () => {
  assert.throws(
    () => config({ strategy: 'ring', worldSize: 4, model: { ...TINY_GPT, seqLen: 6 } }),
    /model\.seqLen 6 is not divisible by the context-parallel size strategyOptions\.contextParallelSize 4; strategyOptions\.contextParallelSize must divide 6 \(and worldSize 4\): 1, 2/,
  );
  assert.throws(
    () => config({ strategy: 'ring', worldSize: 4, strategyOptions: { contextParallelSize: 3 } }),
    /contextParallelSize 3 = 3 does not divide worldSize 4/,
  );
  assert.throws(() => config({ strategy: 'ring+ulysses', worldSize: 2 }), /'ring' and 'ulysses' are two ways/);
});
