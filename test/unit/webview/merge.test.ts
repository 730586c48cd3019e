import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeTrace, encodeTrace } from '../../../trace/binary';
import { viewerRun } from '../../helpers/syntheticRun';
import { mergeTraces } from '../../../webview/timeline/merge';
import { TraceIndex } from '../../../webview/timeline/traceIndex';

describe('merging a detail window into a level-of-detail trace', () => {
  const m = viewerRun({ ranks: 2, steps: 3 });
  const base = decodeTrace(encodeTrace(m, { minDurNs: 200_000 }));
  const ends = m.slices.map((s) => s.startNs + s.durNs);
  const win = {
    startNs: ends[Math.floor(m.slices.length / 3)] - 5e6,
    endNs: ends[Math.floor(m.slices.length / 3)] + 5e6,
  };
  const extra = decodeTrace(encodeTrace(m, { window: win, minDurNs: 0 }));
  const merged = mergeTraces(base, extra);

  it('holds every slice of either, once, in model order, with its own name and args', () => {
    const expected = new Set([...base.sliceSource!, ...extra.sliceSource!]);
    assert.equal(merged.header.sliceCount, expected.size);
    const src = [...merged.sliceSource!];
    assert.deepEqual(
      src,
      [...expected].sort((a, b) => a - b),
    );
    src.forEach((mi, k) => {
      const s = m.slices[mi];
      assert.equal(merged.string(merged.sliceName[k]), s.name);
      assert.equal(merged.sliceStart[k], s.startNs);
      assert.deepEqual(merged.sliceArgs[k] >= 0 ? JSON.parse(merged.string(merged.sliceArgs[k])) : undefined, s.args);
    });
  });

  it('keeps each flow once, pointing at the right model slices', () => {
    const ids = [...merged.flowId];
    assert.equal(new Set(ids).size, ids.length);
    for (let f = 0; f < merged.header.flowCount; f++) {
      const flow = m.flows.find((x) => x.id === merged.flowId[f])!;
      assert.equal(merged.sliceSource![merged.flowFrom[f]], flow.from);
      assert.equal(merged.sliceSource![merged.flowTo[f]], flow.to);
    }
    assert.ok(merged.header.flowCount >= base.header.flowCount);
  });

  it('indexes, and maps model indexes both ways', () => {
    const idx = new TraceIndex(merged);
    const mi = extra.sliceSource![Math.floor(extra.sliceSource!.length / 2)];
    const enc = idx.encodedIndex(mi);
    assert.ok(enc >= 0);
    assert.equal(idx.modelIndex(enc), mi);
    assert.throws(() => mergeTraces(decodeTrace(encodeTrace(m)), extra), /level-of-detail subsets/);
  });
});
