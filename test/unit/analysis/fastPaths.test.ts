// Shortcuts taken for speed must give what the plain definitions give: digit grouping
// without ICU, and unions built in one pass over ops already in start order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { groupDigits } from '../../../trace/format';
import { combinationTimes, unionOf, type IntervalSet } from '../../../analysis/intervals';
import { classUnions } from '../../../analysis/breakdown';
import { stepFinder, type GpuOp, type KernelClass, type StepWindow } from '../../../analysis/rankView';
import { containing, launcherIndex } from '../../../trace/kineto';
import type { Slice } from '../../../trace/model';

test('groupDigits writes what toLocaleString("en-US") writes', () => {
  const xs = [
    0,
    1,
    -1,
    12,
    999,
    1000,
    -1000,
    65536,
    999_999,
    1_000_000,
    1_234_567,
    -987_654_321,
    2 ** 31,
    2 ** 53 - 1,
    -(2 ** 53) + 1,
    1e20,
    123_456_789_012_345_680_000,
    // Not integers below 1e21: left to ICU, so the text is the same by construction.
    1.5,
    -0.25,
    1234.5678,
    -0,
    1e21,
    5e300,
    NaN,
    Infinity,
    -Infinity,
  ];
  let seed = 42;
  for (let i = 0; i < 200; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    xs.push(Math.round((seed / 2 ** 31 - 0.5) * 10 ** (i % 19)));
  }
  for (const x of xs) assert.equal(groupDigits(x), x.toLocaleString('en-US'), String(x));
});

/** The union by its definition: valid intervals sorted by start, each merged into the last when it starts at or before its end. */
function naiveUnion(ivs: [number, number][]): { starts: number[]; ends: number[] } {
  const starts: number[] = [],
    ends: number[] = [];
  for (const [s, e] of ivs.filter(([a, b]) => b >= a).sort((a, b) => a[0] - b[0])) {
    if (ends.length > 0 && s <= ends[ends.length - 1]) ends[ends.length - 1] = Math.max(ends[ends.length - 1], e);
    else {
      starts.push(s);
      ends.push(e);
    }
  }
  return { starts, ends };
}

/** A seeded generator of integers in [0, n): the same cases every run. */
function seededInts(seed: number): (n: number) => number {
  return (n) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return Math.floor((seed / 2 ** 31) * n);
  };
}

let next = 0;
function op(startNs: number, endNs: number, cls: KernelClass): GpuOp {
  return { index: next++, track: 0, startNs, endNs, cls };
}

test('classUnions equals the union of each class, whatever the order of the ops', () => {
  const classes: KernelClass[] = ['computation', 'communication', 'memory'];
  const rnd = seededInts(7);
  for (let round = 0; round < 50; round++) {
    const ops: GpuOp[] = [];
    for (let i = 0; i < 60; i++) {
      const s = rnd(1000);
      // Some intervals touch, some are empty, a few end before they start (left out).
      ops.push(op(s, s + rnd(60) - (i % 17 === 0 ? 80 : 0), classes[rnd(3)]));
    }
    const byStart = [...ops].sort((a, b) => a.startNs - b.startNs);
    const of = (list: GpuOp[]) => list.map((o) => [o.startNs, o.endNs] as [number, number]);
    const want = (list: GpuOp[]) => ({
      all: naiveUnion(of(list)),
      computation: naiveUnion(of(list.filter((o) => o.cls === 'computation'))),
      communication: naiveUnion(of(list.filter((o) => o.cls === 'communication'))),
      memory: naiveUnion(of(list.filter((o) => o.cls === 'memory'))),
    });
    assert.deepEqual(classUnions(byStart), want(ops));
    assert.deepEqual(classUnions(ops), want(ops));
    assert.deepEqual(classUnions([...ops].reverse()), want(ops));
  }
});

test('unionOf: in order or not, the same merged intervals', () => {
  const ivs: [number, number][] = [
    [30, 40],
    [0, 10],
    [5, 20],
    [20, 25],
    [50, 45],
    [41, 41],
  ];
  const want = { starts: [0, 30, 41], ends: [25, 40, 41] };
  assert.deepEqual(naiveUnion(ivs), want);
  assert.deepEqual(unionOf(ivs), want);
  assert.deepEqual(unionOf([...ivs].sort((a, b) => a[0] - b[0])), want);
});

/** combinationTimes by its definition: every boundary sorted (stably), then one sweep. */
function naiveCombinations(sets: IntervalSet[]): Map<number, number> {
  const pts: { t: number; d: number }[] = [];
  sets.forEach((set, k) =>
    set.starts.forEach((s, i) => pts.push({ t: s, d: 1 << k }, { t: set.ends[i], d: -(1 << k) })),
  );
  pts.sort((a, b) => a.t - b.t);
  const out = new Map<number, number>();
  let mask = 0;
  pts.forEach((p, n) => {
    mask += p.d;
    const dt = (n + 1 < pts.length ? pts[n + 1].t : p.t) - p.t;
    if (mask > 0 && dt > 0) out.set(mask, (out.get(mask) ?? 0) + dt);
  });
  return out;
}

test('combinationTimes: the times and key order of its definition, for unions and for any other sets', () => {
  const rnd = seededInts(3);
  for (let round = 0; round < 100; round++) {
    const sets: IntervalSet[] = [];
    for (let k = 0; k < 3; k++) {
      const ivs: [number, number][] = [];
      for (let i = 0; i < rnd(30); i++) {
        const s = rnd(500);
        ivs.push([s, s + rnd(40)]);
      }
      sets.push(unionOf(ivs));
    }
    assert.deepEqual([...combinationTimes(sets)], [...naiveCombinations(sets)]);
    // Not unions: overlapping and out of order.
    const raw: IntervalSet[] = sets.map((u) => ({ starts: [...u.starts].reverse(), ends: [...u.ends].reverse() }));
    raw.push({ starts: [10, 0, 5], ends: [30, 20, 5] });
    assert.deepEqual([...combinationTimes(raw)], [...naiveCombinations(raw)]);
  }
});

/** A small deterministic generator (the tests must not depend on Math.random). */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

test('stepFinder: the last window containing a time, as the scan over every step finds it', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const r = lcg(seed);
    // Disjoint steps, overlapping ones (some long), equal starts and empty windows.
    const steps: StepWindow[] = Array.from({ length: 1 + Math.floor(r() * 30) }, (_, i) => {
      const startNs = Math.floor(r() * 1000);
      const durNs = r() < 0.1 ? 0 : r() < 0.2 ? Math.floor(r() * 800) : Math.floor(r() * 60);
      return { step: i, startNs, endNs: startNs + durNs, index: i };
    }).sort((a, b) => a.startNs - b.startNs);
    const find = stepFinder(steps);
    for (let t = -5; t <= 1100; t += 3) {
      let want: StepWindow | undefined;
      for (let k = steps.length - 1; k >= 0; k--)
        if (steps[k].startNs <= t && t < steps[k].endNs) {
          want = steps[k];
          break;
        }
      assert.equal(find(t), want, `seed ${seed}, t ${t}`);
    }
  }
});

test('comm launchers containing a time: the index finds what a scan of the thread list finds, in list order', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const r = lcg(seed);
    // Nested and overlapping launchers, in an order that is not by start, some without times.
    const slices: Slice[] = Array.from({ length: 1 + Math.floor(r() * 40) }, (_, i) => ({
      track: 0,
      name: `nccl:all_reduce ${i}`,
      category: 'cpu_op',
      startNs: r() < 0.05 ? NaN : Math.floor(r() * 1000),
      durNs: r() < 0.05 ? NaN : Math.floor(r() * (r() < 0.2 ? 600 : 40)),
    }));
    const list = slices.map((_, i) => i).sort(() => r() - 0.5);
    const ix = launcherIndex(list, slices);
    for (let t = -5; t <= 1700; t += 7) {
      const want = list.filter((i) => slices[i].startNs <= t && t <= slices[i].startNs + slices[i].durNs);
      assert.deepEqual(containing(ix, t), want, `seed ${seed}, t ${t}`);
    }
  }
});
