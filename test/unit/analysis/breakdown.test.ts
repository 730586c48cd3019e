import { test } from 'node:test';
import assert from 'node:assert/strict';
import { combinationTimes, intersectionLength, lengthOf, unionOf } from '../../../analysis/intervals';
import { commCompOverlap, idleBreakdown, kernelTypeTime, temporalBreakdown } from '../../../analysis/breakdown';
import type { GpuOp, KernelClass } from '../../../analysis/rankView';

let next = 0;
function op(track: number, startNs: number, endNs: number, cls: KernelClass, launchNs?: number): GpuOp {
  return { index: next++, track, startNs, endNs, cls, launchNs };
}

test('unions merge overlapping and touching intervals; intersections are exact', () => {
  const a = unionOf([
    [0, 10],
    [5, 20],
    [20, 25],
    [30, 40],
  ]);
  assert.deepEqual(a, { starts: [0, 30], ends: [25, 40] });
  assert.equal(lengthOf(a), 35);
  const b = unionOf([[8, 32]]);
  assert.equal(intersectionLength(a, b), 17 + 2);
  const combos = combinationTimes([a, b]);
  assert.equal(combos.get(1), 35 - 19);
  assert.equal(combos.get(2), 24 - 19);
  assert.equal(combos.get(3), 19);
});

test('temporal breakdown: span, idle, compute and non-compute by the HTA definitions', () => {
  // compute [0,100) on stream 1, comm [50,250) on stream 2, memcpy [300,310), then nothing until a compute [400,450).
  const ops = [
    op(1, 0, 100, 'computation'),
    op(2, 50, 250, 'communication'),
    op(1, 300, 310, 'memory'),
    op(1, 400, 450, 'computation'),
  ];
  const t = temporalBreakdown(ops);
  assert.equal(t.spanNs, 450);
  assert.equal(t.idleNs, 450 - (250 + 10 + 50));
  assert.equal(t.computeNs, 150);
  assert.equal(t.nonComputeNs, 450 - 140 - 150);
  assert.ok(Math.abs(t.idlePct + t.computePct + t.nonComputePct - 100) < 1e-9);
  const o = commCompOverlap(ops);
  assert.equal(o.commNs, 200);
  assert.equal(o.overlapNs, 50);
  assert.equal(o.overlapPct, 25);
  assert.equal(o.exposedCommNs, 150);
  const k = kernelTypeTime(ops);
  assert.deepEqual(k, {
    COMPUTATION: 100,
    'COMPUTATION overlapping COMMUNICATION': 50,
    COMMUNICATION: 150,
    MEMORY: 10,
  });
});

test('empty and communication-free inputs give zeros, not NaN', () => {
  assert.deepEqual(temporalBreakdown([]).spanNs, 0);
  const o = commCompOverlap([op(1, 0, 10, 'computation')]);
  assert.equal(o.overlapPct, 0);
  assert.equal(o.exposedCommNs, 0);
});

test('idle breakdown: host wait when the launch came after the previous kernel ended, kernel wait under the threshold, other otherwise', () => {
  const ops = [
    op(7, 0, 100_000, 'computation', 0),
    op(7, 110_000, 200_000, 'computation', 50_000), // gap 10 µs, launched early: kernel wait
    op(7, 300_000, 400_000, 'computation', 250_000), // gap 100 µs, launched after the previous end: host wait
    op(7, 500_000, 600_000, 'computation', 100_000), // gap 100 µs, launched early: other
    op(7, 610_000, 700_000, 'computation'), // no launch known, gap 10 µs: kernel wait
  ];
  const [s] = idleBreakdown(ops, () => 7);
  assert.equal(s.stream, 7);
  assert.equal(s.hostWaitNs, 100_000);
  assert.equal(s.kernelWaitNs, 20_000);
  assert.equal(s.otherNs, 100_000);
  assert.ok(Math.abs(s.hostWaitRatio + s.kernelWaitRatio + s.otherRatio - 1) < 1e-12);
});

test('idle breakdown: an op that starts while the stream is still busy adds no idle time', () => {
  // Staging copies in flight together on one track: the second starts inside the first and
  // the third inside the first's span after the second ended. HTA's gap to the previous op's
  // end would be −90 µs and −10 µs of kernel wait; the stream is busy until 200 µs.
  const ops = [
    op(3, 0, 200_000, 'memory'),
    op(3, 10_000, 100_000, 'memory'),
    op(3, 110_000, 150_000, 'memory'),
    op(3, 210_000, 300_000, 'memory'), // 10 µs after the busy period: kernel wait
    op(3, 400_000, 450_000, 'memory'), // 100 µs: other
  ];
  const [s] = idleBreakdown(ops, () => 'staging');
  assert.equal(s.hostWaitNs, 0);
  assert.equal(s.kernelWaitNs, 10_000);
  assert.equal(s.otherNs, 100_000);
});
