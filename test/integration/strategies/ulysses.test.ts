/**
 * DeepSpeed-Ulysses is exact: P sequence-parallel ranks sharing each sequence train the
 * same model as data parallelism with whole sequences. Compared: every parameter after
 * K steps (each rank's dump through COMMLENS_DEBUG_PARAMS_DIR) of
 *  - ulysses on 2 ranks (sp 2, dp 1) vs ddp on 1 rank (the same batch: data rank 0's);
 *  - ulysses on 4 ranks (sp 2, dp 2) vs ddp on 2 ranks (group g trains ddp rank g's batch);
 * and each step's loss (every rank reports its group's: its shard's loss summed over the
 * group by a one-value all-reduce).
 * The trace (read back from the run's Perfetto file) shows the all-to-alls per layer with
 * the volume of REFERENCES: 4·N·h/P elements per layer and direction (3·N·h/P for Q, K, V,
 * N·h/P for the output), N = batch × seqLen tokens, h = dModel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { RunConfig } from '../../../runtime/config';
import { runTraining, RunHandle, type RunOutcome } from '../../../runtime/coordinator';
import { loadTraceFile } from '../../../trace/load';
import type { TraceModel } from '../../../trace/model';
import { TINY_GPT, maxAbsDiff, tinyGptConfig } from './harness';

const K = 3;
const model = TINY_GPT;
const B = model.batchSize;
const T = model.seqLen;
const H = model.dModel;

const config = (over: Partial<RunConfig>): RunConfig => tinyGptConfig(over, K);

interface Run {
  outcome: RunOutcome;
  params: Float32Array[];
  trace: TraceModel;
  /** Per step, each rank's loss. */
  losses: number[][];
}

async function run(cfg: RunConfig): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'commlens-ulysses-'));
  const before = process.env.COMMLENS_DEBUG_PARAMS_DIR;
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  process.env.COMMLENS_DEBUG_PARAMS_DIR = dir;
  try {
    const outcome = await runTraining(cfg, dir, { test: 'ulysses' }, {}, new RunHandle());
    if (outcome.failure) throw new Error(`run failed: ${outcome.failure.message}`);
    const params: Float32Array[] = [];
    for (let r = 0; r < cfg.worldSize; r++) {
      const f = join(dir, `params-rank${r}.f32`);
      assert.ok(existsSync(f), `rank ${r} dumped its parameters`);
      const b = readFileSync(f);
      params.push(new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));
    }
    const trace = await loadTraceFile(outcome.tracePath);
    const losses = [...outcome.steps].sort((a, b) => a.step - b.step).map((s) => s.perRank.map((p) => p.loss));
    return { outcome, params, trace, losses };
  } finally {
    if (before === undefined) delete process.env.COMMLENS_DEBUG_PARAMS_DIR;
    else process.env.COMMLENS_DEBUG_PARAMS_DIR = before;
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Parameters agree up to float summation order (the loss is reduced in another grouping).
 * SGD keeps that at a few ulps; Adam would divide near-zero gradients by their own size
 * and blow rounding up to ~1e-4 in the first step, hiding a real error as well as noise.
 */
const TOL = 1e-6;

/** `earlier`: ddp's parameters a step before, to show training moved them far more than the tolerance. */
function assertSameModel(u: Run, ddp: Run, sp: number, earlier?: Float32Array): void {
  for (let r = 0; r < u.params.length; r++) {
    const d = maxAbsDiff(u.params[r], ddp.params[0]);
    assert.ok(d < TOL, `ulysses rank ${r} vs ddp: max |Δθ| = ${d}`);
  }
  if (earlier) {
    const moved = maxAbsDiff(ddp.params[0], earlier);
    assert.ok(moved > 1000 * TOL, `training moves parameters by ${moved} per step, far beyond the tolerance`);
  }
  // Each rank reports its group's loss (its shard's, summed over the group).
  for (let s = 0; s < K; s++) {
    u.losses[s].forEach((l, r) => {
      const want = ddp.losses[s][Math.floor(r / sp)];
      assert.ok(Math.abs(l - want) < 1e-5, `step ${s} rank ${r}: loss ${l} vs ddp rank ${Math.floor(r / sp)} ${want}`);
    });
  }
}

/** The communication slices of each rank (the communication track and its groups' tracks), in time order. */
function commSlices(m: TraceModel, pid: number) {
  const tracks = new Set(
    m.tracks.filter((t) => t.pid === pid && t.stream === 'communication' && t.type === 'slice').map((t) => t.id),
  );
  return m.slices
    .filter((s) => tracks.has(s.track) && s.category === 'collective')
    .sort((a, b) => a.startNs - b.startNs);
}

/** The all-to-all slices of each rank, per step: [qkv fwd, out fwd, …] bytes in order. */
function allToAllBytes(m: TraceModel): number[][] {
  return m.processes.map((p) =>
    commSlices(m, p.pid)
      .filter((s) => s.args?.op === 'allToAll')
      .map((s) => Number(s.args?.bytes)),
  );
}

test('ulysses on 2 ranks (sp 2) trains the same gpt-mini as ddp on 1 rank, with all-to-alls of 4·N·h/P per layer', async () => {
  const ddp = await run(config({ strategy: 'ddp', worldSize: 1 }));
  const ddpEarlier = await run(config({ strategy: 'ddp', worldSize: 1, steps: K - 1 }));
  const u = await run(config({ strategy: 'ulysses', worldSize: 2 }));
  assertSameModel(u, ddp, 2, ddpEarlier.params[0]);

  const P = 2;
  const n = B * T;
  const qkvBytes = ((3 * n * H) / P) * 4;
  const outBytes = ((n * H) / P) * 4;
  const perRank = allToAllBytes(u.trace);
  assert.equal(perRank.length, 2);
  for (const bytes of perRank) {
    // Per step: forward qkv, out for each layer, then backward out, qkv in reverse layer order.
    const step = [qkvBytes, outBytes, qkvBytes, outBytes, outBytes, qkvBytes, outBytes, qkvBytes];
    assert.deepEqual(bytes, Array.from({ length: K }, () => step).flat());
    const perLayerForward = bytes[0] + bytes[1];
    assert.equal(perLayerForward, ((4 * n * H) / P) * 4, '4·N·h/P f32 elements per layer');
  }
});

test('ulysses on 4 ranks (sp 2 × dp 2) trains the same gpt-mini as ddp on 2 ranks; the all-to-alls stay in the sequence-parallel groups', async () => {
  const ddp = await run(config({ strategy: 'ddp', worldSize: 2 }));
  const u = await run(config({ strategy: 'ulysses+ddp', worldSize: 4, strategyOptions: { sequenceParallelSize: 2 } }));
  assertSameModel(u, ddp, 2);
  const m = u.trace;
  const groups = m.processes.map(
    (p) =>
      new Set(
        commSlices(m, p.pid)
          .filter((s) => s.args?.op === 'allToAll')
          .map((s) => String(s.args?.group)),
      ),
  );
  for (const g of groups) assert.equal(g.size, 1, 'one sequence-parallel group per rank');
  const names = groups.map((g) => [...g][0]);
  assert.deepEqual(names, [
    'cp group 0 (ranks 0,1)',
    'cp group 0 (ranks 0,1)',
    'cp group 1 (ranks 2,3)',
    'cp group 1 (ranks 2,3)',
  ]);
  // Each group's collectives are on a track of that name in each member's process.
  m.processes.forEach((p, r) => {
    const track = m.tracks.find((t) => t.pid === p.pid && t.name === names[r]);
    assert.ok(track, `rank ${r} has the track '${names[r]}'`);
    assert.ok(m.slices.filter((s) => s.track === track.id && s.args?.op === 'allToAll').length === 8 * K);
  });
  for (const bytes of allToAllBytes(m))
    assert.equal(bytes.length, 8 * K, '2 layers × (2 forward + 2 backward) per step');
});

test('ulysses refuses what cannot work, naming the setting', () => {
  assert.throws(
    () => config({ strategy: 'ulysses', worldSize: 4, strategyOptions: { sequenceParallelSize: 4 } }),
    /model\.heads 2 is not divisible by 4/,
  );
  assert.throws(
    () => config({ strategy: 'ulysses+zero2', worldSize: 2 }),
    /combines with data parallelism \('ddp'\) only; drop 'zero2'/,
  );
});
