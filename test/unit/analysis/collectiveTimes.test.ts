// A collective's wait, transfer and bandwidths have one definition (trace/collectives.ts):
// the analysis, the span's own args (the details pane) and the runtime agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../../../analysis/index';
import { busBandwidthFactor, collectiveBandwidth } from '../../../trace/collectives';
import { syntheticRun } from '../../helpers/syntheticRun';

test('bandwidths are over the transfer time, never the wait', () => {
  assert.deepEqual(collectiveBandwidth('allReduce', 1000, 100, 4), { algbwGBps: 10, busbwGBps: 15 });
  assert.deepEqual(collectiveBandwidth('allGather', 1000, 0, 4), { algbwGBps: 0, busbwGBps: 0 });
});

test("the analysis takes each rank's measured wait and transfer from the span, as the details pane shows them", () => {
  const m = syntheticRun({ ranks: 4, steps: 4, slowRank: 2, slowExtraNs: 60_000, gradBytes: 1024 * 1024 });
  // A rank that measured a longer wait than the cross-rank estimate: the measurement wins.
  const a0 = analyze(m);
  const inst = a0.collectives!.instances.find((i) => i.participants.length === 4)!;
  const p = inst.participants.find((x) => x.rank === 0)!;
  const args = m.slices[p.sliceIndex].args!;
  args.waitNs = (args.waitNs as number) + 1000;
  args.transferNs = (args.transferNs as number) - 1000;
  const a = analyze(m);
  const again = a.collectives!.instances.find((i) => i.key === inst.key)!;
  for (const q of again.participants) {
    const qa = m.slices[q.sliceIndex].args!;
    assert.equal(
      q.waitNs,
      Math.min(q.durNs, qa.waitNs as number),
      `rank ${q.rank}: the analysis' wait is the span's waitNs`,
    );
  }
  assert.equal(
    again.transferNs,
    Math.min(...again.participants.map((q) => m.slices[q.sliceIndex].args!.transferNs as number)),
  );
  assert.ok(Math.abs(again.algbwGBps! - again.bytes! / again.transferNs) < 1e-12);
  assert.ok(Math.abs(again.busbwGBps! - again.algbwGBps! * busBandwidthFactor('allReduce', 4)) < 1e-12);
});
