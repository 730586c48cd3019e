import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeTrace, encodeTrace } from '../../../trace/binary';
import { viewerRun } from '../../helpers/syntheticRun';
import { harnessAnalysis } from '../../../webview/harness/node/serve';
import { exposedPerStepNs, lossSeries, memoryPeaks, stepDurations } from '../../../webview/panes/series';
import { TraceIndex } from '../../../webview/timeline/traceIndex';

describe('pane series from counters and steps', () => {
  const m = viewerRun({ ranks: 3, steps: 5 });
  const idx = new TraceIndex(decodeTrace(encodeTrace(m)));

  it("keys each rank's loss samples by that rank's own steps", () => {
    const loss = lossSeries(idx);
    assert.equal(loss.length, 3);
    for (const s of loss)
      assert.deepEqual(
        s.points.map((p) => p[0]),
        [0, 1, 2, 3, 4],
      );
    const lossTrack = m.tracks.find((t) => t.name === 'loss' && t.pid === m.processes[1].pid)!;
    const series = m.counters.find((c) => c.track === lossTrack.id)!;
    assert.deepEqual(
      loss[1].points.map((p) => p[1]),
      series.values,
    );
  });

  it('counts only memory counters as memory, not other byte counters', () => {
    const all = new TraceIndex(decodeTrace(encodeTrace(viewerRun({ ranks: 1, steps: 2, memory: true }))));
    assert.deepEqual(
      [...new Set(memoryPeaks(all).map((r) => r.kind))].sort(),
      ['activations', 'gradients', 'optimizer state', 'parameters'],
      'bytes per step and on the wire are byte counters, not memory',
    );
  });

  it('reports peak memory per rank and kind, and step durations by step number', () => {
    const mem = memoryPeaks(idx);
    assert.deepEqual([...new Set(mem.map((r) => r.kind))].sort(), ['activations', 'gradients', 'parameters']);
    assert.equal(mem.length, 9);
    const d = stepDurations(idx);
    assert.deepEqual([...d.keys()], [0, 1, 2, 3, 4]);
    const step2 = m.slices.find((s) => s.name === 'step 2' && m.tracks[s.track].pid === m.processes[0].pid)!;
    assert.equal(d.get(2), step2.durNs);
  });

  it("averages exposed communication over a rank's steps", () => {
    const a = harnessAnalysis(m);
    const r = a.ranks[0];
    const mean = r.steps!.reduce((acc, s) => acc + s.exposedCommNs, 0) / r.steps!.length;
    assert.equal(exposedPerStepNs(r), mean);
    assert.equal(exposedPerStepNs({ ...r, steps: undefined }), r.exposedCommNs);
  });
});
