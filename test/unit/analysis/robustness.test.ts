// Random and malformed models: analyze() must never throw, and what it reports must be finite
// and self-consistent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addTrack, emptyModel, finalizeModel, type SliceCategory, type TraceModel } from '../../../trace/model';
import { analyze, markdownReport } from '../../../analysis/index';

/** Small deterministic PRNG (mulberry32) so a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CATEGORIES: SliceCategory[] = [
  'kernel',
  'collective',
  'memcpy',
  'memset',
  'staging',
  'wait',
  'step',
  'cpu_op',
  'runtime',
  'host',
];

function randomModel(seed: number): TraceModel {
  const r = rng(seed);
  const m = emptyModel(r() < 0.5 ? 'commlens' : 'kineto');
  const ranks = 1 + Math.floor(r() * 4);
  if (r() < 0.7) m.meta.worldSize = ranks + Math.floor(r() * 3);
  for (let p = 0; p < ranks; p++) {
    m.processes.push({ pid: p, rank: r() < 0.9 ? p : undefined, name: `p${p}` });
    const tracks = 1 + Math.floor(r() * 4);
    for (let k = 0; k < tracks; k++)
      addTrack(m, { pid: p, name: `t${k}`, type: 'slice', stream: 'compute', gpu: r() < 0.6, sourceId: k });
  }
  const n = Math.floor(r() * 300);
  for (let i = 0; i < n; i++) {
    const category = CATEGORIES[Math.floor(r() * CATEGORIES.length)];
    const args: Record<string, number | string> = {};
    if (category === 'collective') {
      args.op = ['allReduce', 'allGather', 'reduceScatter', 'broadcast'][Math.floor(r() * 4)];
      args.seq = Math.floor(r() * 5);
      if (r() < 0.8) args.bytes = Math.floor(r() * 1e7);
    }
    if (category === 'step') args.step = Math.floor(r() * 6);
    if (r() < 0.3) args.correlation = Math.floor(r() * 50);
    // Zero, huge and odd durations on purpose.
    const durNs = r() < 0.1 ? 0 : Math.floor(r() * (r() < 0.1 ? 1e9 : 1e6));
    m.slices.push({
      track: Math.floor(r() * m.tracks.length),
      name: r() < 0.2 ? 'ncclKernel_AllReduce_RING' : `k${i % 7}`,
      category,
      startNs: Math.floor(r() * 1e7),
      durNs,
      args,
    });
  }
  if (r() < 0.5) {
    const t = addTrack(m, {
      pid: 0,
      name: 'memory: parameters',
      type: 'counter',
      stream: 'other',
      gpu: false,
      unit: 'bytes',
    });
    m.counters.push({ track: t, tsNs: r() < 0.3 ? [] : [0, 5], values: r() < 0.3 ? [] : [10, 20] });
  }
  return finalizeModel(m);
}

test('analyze never throws on 150 random models, and its numbers are finite and consistent', () => {
  for (let seed = 1; seed <= 150; seed++) {
    const m = randomModel(seed);
    let a;
    try {
      a = analyze(m, { includeLastStep: seed % 2 === 0 });
    } catch (e) {
      assert.fail(`seed ${seed}: analyze threw ${(e as Error).stack}`);
    }
    for (const rank of a.ranks) {
      const t = rank.temporal;
      for (const v of [
        t.spanNs,
        t.idleNs,
        t.computeNs,
        t.nonComputeNs,
        rank.overlap.overlapPct,
        rank.overlap.exposedCommNs,
      ])
        assert.ok(Number.isFinite(v), `seed ${seed}: a non-finite metric`);
      assert.equal(t.idleNs + t.computeNs + t.nonComputeNs, t.spanNs, `seed ${seed}: breakdown does not add up`);
      assert.ok(t.idleNs >= 0 && t.nonComputeNs >= 0 && rank.overlap.overlapPct <= 100 + 1e-9, `seed ${seed}`);
    }
    for (const s of a.suggestions) {
      assert.ok(
        Number.isFinite(s.score) && Number.isFinite(s.predicted.stepTimeNs) && s.predicted.stepTimeNs >= 0,
        `seed ${seed}: suggestion ${s.id}`,
      );
    }
    assert.doesNotThrow(() => JSON.stringify(a));
    assert.doesNotThrow(() => markdownReport(a));
  }
});
