/**
 * The heat map's figures are the analysis' own, its colour scale stands out more for larger
 * values in light and dark themes, and an area over a level-of-detail answer says when its
 * figures are approximate.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeTrace } from '../../../trace/binary';
import { LodIndex } from '../../../trace/lod';
import { contrastRatio, relativeLuminance } from '../../../webview/timeline/palette';
import { heatColour, heatMapData } from '../../../webview/panes/heatmapData';
import { harnessAnalysis } from '../../../webview/harness/node/serve';
import { viewerRun } from '../../helpers/syntheticRun';
import { aggregateArea } from '../../../webview/timeline/query';
import { TraceIndex } from '../../../webview/timeline/traceIndex';

describe('the ranks × steps heat map', () => {
  it("holds the analysis' per-step exposed communication and collective wait, rank by rank", () => {
    const a = harnessAnalysis(viewerRun({ ranks: 12, steps: 5, kernels: 10, jitterSeed: 2 }));
    const d = heatMapData(a)!;
    assert.deepEqual(
      d.ranks,
      a.ranks.map((r) => r.rank),
    );
    assert.ok(d.hasWait);
    for (const [ri, r] of a.ranks.entries())
      for (const st of r.steps ?? []) {
        const k = ri * d.steps.length + d.steps.indexOf(st.step);
        assert.equal(d.values.exposed[k], st.exposedCommNs);
        assert.equal(d.values.wait[k], st.collectiveWaitNs);
        assert.equal(d.startNs[k], st.startNs);
      }
    assert.equal(heatMapData({ ranks: [], suggestions: [] }), null);
  });

  it('runs from the background end of viridis: larger values contrast more, in dark and light themes', () => {
    const dark = [30, 30, 30],
      light = [255, 255, 255];
    let prevDark = -1,
      prevLight = 2;
    for (let i = 0; i <= 20; i++) {
      const t = i / 20;
      const ld = relativeLuminance(heatColour(t, true)),
        ll = relativeLuminance(heatColour(t, false));
      assert.ok(ld >= prevDark, `dark theme: luminance rises with the value (t = ${t})`);
      assert.ok(ll <= prevLight, `light theme: luminance falls with the value (t = ${t})`);
      prevDark = ld;
      prevLight = ll;
    }
    // The largest value stands out from the background well beyond WCAG's 3:1 for graphics.
    assert.ok(contrastRatio(heatColour(1, true), dark) > 7);
    assert.ok(contrastRatio(heatColour(1, false), light) > 7);
  });

  it('an area over a level-of-detail answer counts the merged boxes and what they stand for', () => {
    const m = viewerRun({ ranks: 2, steps: 3 });
    const lod = new LodIndex(m);
    const [t0, t1] = lod.extentNs;
    const coarse = new TraceIndex(decodeTrace(lod.encode({ startNs: t0, endNs: t1, nsPerPx: 500_000 })));
    const tracks = coarse.groups[0].tracks;
    const sum = aggregateArea(coarse, { startNs: t0, endNs: t1, tracks });
    assert.ok(sum.mergedHeld > 0 && sum.mergedStandFor > sum.mergedHeld);
    const fine = new TraceIndex(decodeTrace(lod.encode({ startNs: t0, endNs: t1, nsPerPx: 10 })));
    const exact = aggregateArea(fine, { startNs: t0, endNs: t1, tracks });
    assert.equal(exact.mergedHeld, 0);
    assert.equal(exact.slices, m.slices.filter((s) => tracks.includes(s.track)).length);
  });
});
