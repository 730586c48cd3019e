/**
 * The level-of-detail index (trace/lod.ts): at every level its answer is the brute-force
 * slice set of its definition, a query examines O(answer) entries whatever the trace's size,
 * and the encoded answer decodes to the same slices, merged counts, flows and samples.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeTrace, depthsOf } from '../../../trace/binary';
import { COUNTER_KEEP_ALL, LOD_BASE_NS, LodIndex, type ViewRequest } from '../../../trace/lod';
import { addTrack, emptyModel, finalizeModel, type TraceModel } from '../../../trace/model';
import { viewerRun } from '../../helpers/syntheticRun';

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** Tracks of nested slices with durations from 10 ns to 20 ms (so every level merges something). */
function randomModel(seed: number, tracks = 4, perTrack = 3000): TraceModel {
  const rand = rng(seed);
  const m = emptyModel('chrome-json');
  m.processes.push({ pid: 1, rank: 0, name: 'rank 0' });
  for (let t = 0; t < tracks; t++) {
    const track = addTrack(m, { pid: 1, name: `stream ${t}`, type: 'slice', stream: 'compute', gpu: true });
    let at = Math.round(rand() * 1000);
    for (let k = 0; k < perTrack; k++) {
      const dur = Math.round(10 * Math.pow(10, rand() * 6.3));
      m.slices.push({ track, name: `k${k % 17}`, category: 'kernel', startNs: at, durNs: dur });
      // A child inside it, now and then (depth 1).
      if (dur > 100 && rand() < 0.3)
        m.slices.push({
          track,
          name: 'child',
          category: 'kernel',
          startNs: at + Math.round(dur * 0.1),
          durNs: Math.round(dur * 0.5),
        });
      at += dur + Math.round(rand() * 5000);
    }
  }
  return finalizeModel(m);
}

/** `copies` copies of a model one after the other in time. */
function tiled(one: TraceModel, copies: number): TraceModel {
  const m = emptyModel('chrome-json');
  m.processes = one.processes;
  m.tracks = one.tracks;
  const span = Math.max(...one.slices.map((s) => s.startNs + s.durNs)) + 1000;
  for (let c = 0; c < copies; c++)
    for (const s of one.slices) m.slices.push({ ...s, startNs: s.startNs + c * span, depth: undefined });
  return finalizeModel(m);
}

/** The definition in trace/lod.ts, computed directly from the slices: model index → merged count. */
function bruteForce(model: TraceModel, req: ViewRequest, w: number): Map<number, number> {
  const depth = depthsOf(model);
  const lists = new Map<string, number[]>();
  model.slices.forEach((s, i) => {
    if (req.tracks && !req.tracks.includes(s.track)) return;
    const key = `${s.track}/${depth[i]}`;
    if (!lists.has(key)) lists.set(key, []);
    lists.get(key)!.push(i);
  });
  const out = new Map<number, number>();
  const visible = (i: number): boolean => {
    const s = model.slices[i];
    return s.startNs <= req.endNs && s.startNs + Math.max(0, s.durNs) >= req.startNs;
  };
  for (const ids of lists.values()) {
    ids.sort((a, b) => model.slices[a].startNs - model.slices[b].startNs || a - b);
    const buckets = new Map<number, { best: number; count: number }>();
    for (const i of ids) {
      const d = Math.max(0, model.slices[i].durNs);
      if (w === 0 || d >= w) {
        if (visible(i)) out.set(i, 1);
        continue;
      }
      // Buckets on absolute time: the model's origin plus the start.
      const b = Math.floor((model.slices[i].startNs + Number(BigInt(model.meta.originNs) % BigInt(w || 1))) / w);
      const cur = buckets.get(b);
      if (!cur) buckets.set(b, { best: i, count: 1 });
      else {
        cur.count++;
        if (d > Math.max(0, model.slices[cur.best].durNs)) cur.best = i;
      }
    }
    for (const { best, count } of buckets.values()) if (visible(best)) out.set(best, count);
  }
  return out;
}

describe('trace/lod: the level-of-detail index', () => {
  const model = randomModel(5);
  const lod = new LodIndex(model);
  const [t0, t1] = lod.extentNs;

  it('answers, at every level, exactly the brute-force slice set with its merged counts', () => {
    assert.ok(lod.levelCount >= 6, `levels: ${lod.levelCount}`);
    everyLevel(model, lod);
  });

  it('puts buckets on absolute time: a model with a Kineto-like origin answers the brute-force set too', () => {
    const shifted = randomModel(5);
    shifted.meta.originNs = '1682725898236691500';
    const l = new LodIndex(shifted);
    everyLevel(shifted, l);
    // Its origin is not a multiple of the buckets: some answer differs from the zero-origin model's.
    const [a0, a1] = l.extentNs;
    const differs = l.bucketNs.some((w, k) => {
      if (k === 0) return false;
      const req = { startNs: a0, endNs: a1, nsPerPx: w };
      return l.query(req).slices.join() !== lod.query(req).slices.join();
    });
    assert.ok(differs, 'the origin moves the buckets');
  });

  function everyLevel(model: TraceModel, lod: LodIndex): void {
    const [t0, t1] = lod.extentNs;
    const windows = [
      { startNs: t0, endNs: t1 },
      { startNs: t0 + (t1 - t0) * 0.4, endNs: t0 + (t1 - t0) * 0.45 },
      { startNs: t0 + (t1 - t0) * 0.9, endNs: t0 + (t1 - t0) * 0.9 + 50_000 },
    ];
    for (let k = 0; k < lod.levelCount; k++) {
      for (const win of windows) {
        for (const tracks of [undefined, [1, 3]]) {
          // nsPerPx = bucket width picks level k exactly (level 0: anything below the first bucket).
          const req: ViewRequest = { ...win, nsPerPx: k === 0 ? LOD_BASE_NS / 2 : lod.bucketNs[k], tracks };
          const a = lod.query(req);
          assert.equal(a.level, k);
          const expected = bruteForce(model, req, lod.bucketNs[k]);
          const got = new Map([...a.slices].map((m, j) => [m, a.merged[j]]));
          assert.equal(got.size, a.slices.length, 'each slice once');
          assert.deepEqual(
            [...got.keys()],
            [...expected.keys()].sort((x, y) => x - y),
            `level ${k}, window ${JSON.stringify(win)}, tracks ${tracks}`,
          );
          for (const [m, c] of expected) assert.equal(got.get(m), c, `merged count of slice ${m} at level ${k}`);
        }
      }
    }
  }

  it('merges more as the resolution coarsens, and a merged slice stands for what it replaced', () => {
    let prev = Infinity;
    for (let k = 0; k < lod.levelCount; k++) {
      const a = lod.query({ startNs: t0, endNs: t1, nsPerPx: k === 0 ? 1 : lod.bucketNs[k] });
      assert.ok(a.slices.length <= prev, `level ${k} holds ${a.slices.length}, the finer one ${prev}`);
      prev = a.slices.length;
      // Every slice is counted once: in itself or in the one it was merged into.
      assert.equal(
        a.merged.reduce((x, y) => x + y, 0),
        model.slices.length,
      );
    }
    assert.ok(prev < model.slices.length / 50, `the coarsest level holds ${prev} of ${model.slices.length}`);
  });

  it('examines O(answer) entries: a trace ten times longer costs the same for the same view', () => {
    const one = randomModel(11, 4, 2000);
    const small = new LodIndex(one);
    const big = new LodIndex(tiled(one, 10));
    const [s0, s1] = small.extentNs;
    for (const nsPerPx of [100, 20_000, 500_000]) {
      const start = s0 + (s1 - s0) * 0.3;
      const req = { startNs: start, endNs: s0 + (s1 - s0) * 0.5, nsPerPx };
      const a = small.query(req),
        b = big.query(req);
      // Same window, same answer (the big trace's first tenth is the small one)...
      assert.equal(a.slices.length, b.slices.length);
      assert.ok(a.slices.length > 20, `answer of ${a.slices.length}`);
      // ...and the work is the answer plus a binary search per list.
      const lists = 4 * 2;
      const bound = (x: typeof a): number => 2 * (x.slices.length + x.flows.length) + lists * 24;
      assert.ok(a.touched <= bound(a), `small: touched ${a.touched}, answer ${a.slices.length}`);
      assert.ok(b.touched <= bound(b), `big: touched ${b.touched}, answer ${b.slices.length}`);
      assert.ok(b.touched <= a.touched + lists * 6, `big ${b.touched} vs small ${a.touched}`);
    }
  });

  it('holds the slices asked for by index and the other ends of their flows, whatever the window', () => {
    const run = viewerRun({ ranks: 3, steps: 3 });
    const l = new LodIndex(run);
    const f = run.flows[run.flows.length - 1];
    const a = l.query({ startNs: l.extentNs[0], endNs: l.extentNs[0] + 1000, nsPerPx: 1, keep: [f.from] });
    assert.ok(a.slices.includes(f.from) && a.slices.includes(f.to));
    assert.ok(a.flows.some((x) => x.id === f.id));
  });

  it('encodes an answer that decodes to the same slices, merged counts, flows and depths', () => {
    const run = viewerRun({ ranks: 2, steps: 3 });
    const l = new LodIndex(run);
    const req = { startNs: l.extentNs[0], endNs: l.extentNs[1], nsPerPx: 64_000 };
    const a = l.query(req);
    const t = decodeTrace(l.encode(req));
    assert.deepEqual([...t.sliceSource!], [...a.slices]);
    assert.deepEqual([...t.sliceMerged!], [...a.merged]);
    assert.equal(t.header.flowCount, a.flows.length);
    assert.equal(t.header.detail?.lod?.bucketNs, a.bucketNs);
    assert.equal(t.header.detail?.totalSlices, run.slices.length);
    assert.deepEqual(t.header.extentNs, l.extentNs);
    a.slices.forEach((m, k) => {
      assert.equal(t.sliceStart[k], run.slices[m].startNs);
      assert.equal(t.sliceDepth[k], run.slices[m].depth);
      assert.equal(t.string(t.sliceName[k]), run.slices[m].name);
    });
    for (let k = 0; k < t.header.flowCount; k++) {
      const flow = run.flows.find((x) => x.id === t.flowId[k])!;
      assert.equal(t.sliceSource![t.flowFrom[k]], flow.from);
      assert.equal(t.sliceSource![t.flowTo[k]], flow.to);
    }
  });

  it('keeps the minimum and maximum of a long counter series in every bucket of the view', () => {
    const m = emptyModel('chrome-json');
    m.processes.push({ pid: 1, name: 'p' });
    const track = addTrack(m, { pid: 1, name: 'mem', type: 'counter', stream: 'other', gpu: false, unit: 'bytes' });
    const rand = rng(9);
    const n = COUNTER_KEEP_ALL * 5;
    const c = { track, tsNs: [] as number[], values: [] as number[] };
    for (let i = 0; i < n; i++) {
      c.tsNs.push(i * 100);
      c.values.push(Math.round(rand() * 1e6));
    }
    m.counters.push(c);
    const l = new LodIndex(m);
    const req = { startNs: 0, endNs: n * 100, nsPerPx: 8_000 };
    const a = l.query(req);
    const kept = new Set(a.counterSamples[0]);
    assert.ok(kept.size < n / 10, `kept ${kept.size} of ${n}`);
    const w = a.bucketNs;
    assert.ok(w > 0);
    for (let b = 0; b * w < n * 100; b++) {
      let lo = -1,
        hi = -1;
      for (let i = 0; i < n; i++) {
        if (Math.floor(c.tsNs[i] / w) !== b) continue;
        if (lo < 0 || c.values[i] < c.values[lo]) lo = i;
        if (hi < 0 || c.values[i] > c.values[hi]) hi = i;
      }
      if (lo < 0) continue;
      assert.ok(kept.has(lo) && kept.has(hi), `bucket ${b}: min ${lo} and max ${hi} kept`);
    }
    // A short series is sent whole.
    assert.equal(new LodIndex(viewerRun({ ranks: 1, steps: 2 })).query(req).counterSamples.length > 0, true);
  });

  it('refuses a request that makes no sense, saying what would be right', () => {
    assert.throws(() => lod.query({ startNs: 10, endNs: 0, nsPerPx: 1 }), /startNs ≤ endNs/);
    assert.throws(() => lod.query({ startNs: 0, endNs: 10, nsPerPx: 0 }), /positive number of nanoseconds per pixel/);
    assert.throws(() => lod.query({ startNs: 0, endNs: 10, nsPerPx: 1, tracks: [99] }), /track 99 does not exist/);
  });

  it('searches every slice name, case-insensitively, first matches by start', () => {
    const r = lod.search('CHILD', 5);
    const all = model.slices.filter((s) => s.name === 'child');
    assert.equal(r.total, all.length);
    assert.equal(r.slices.length, 5);
    assert.deepEqual(
      r.startNs,
      all
        .map((s) => s.startNs)
        .sort((a, b) => a - b)
        .slice(0, 5),
    );
  });
});
