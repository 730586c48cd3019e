import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeTrace, encodeTrace, SLICE_CATEGORIES } from '../../../trace/binary';
import { addTrack, emptyModel, finalizeModel } from '../../../trace/model';
import { viewerRun } from '../../helpers/syntheticRun';

describe('trace/binary', () => {
  it('round-trips every slice, counter, flow and string of a CommLens-shaped run', () => {
    const m = viewerRun({ ranks: 3, steps: 3 });
    const t = decodeTrace(encodeTrace(m));
    assert.equal(t.header.sliceCount, m.slices.length);
    assert.equal(t.sliceSource, undefined);
    m.slices.forEach((s, i) => {
      assert.equal(t.sliceTrack[i], s.track);
      assert.equal(t.sliceStart[i], s.startNs);
      assert.equal(t.sliceDur[i], s.durNs);
      assert.equal(t.string(t.sliceName[i]), s.name);
      assert.equal(SLICE_CATEGORIES[t.sliceCategory[i]], s.category);
      assert.equal(t.sliceDepth[i], s.depth);
      assert.deepEqual(t.sliceArgs[i] >= 0 ? JSON.parse(t.string(t.sliceArgs[i])) : undefined, s.args);
    });
    assert.equal(t.header.counterCount, m.counters.length);
    m.counters.forEach((c, i) => {
      assert.equal(t.counterTrack[i], c.track);
      assert.deepEqual([...t.counterTs.subarray(t.counterOffset[i], t.counterOffset[i + 1])], c.tsNs);
      assert.deepEqual([...t.counterValue.subarray(t.counterOffset[i], t.counterOffset[i + 1])], c.values);
    });
    assert.deepEqual(
      [...t.flowFrom],
      m.flows.map((f) => f.from),
    );
    assert.deepEqual(
      [...t.flowTo],
      m.flows.map((f) => f.to),
    );
    assert.deepEqual(t.header.tracks, m.tracks);
    assert.deepEqual(t.header.processes, m.processes);
  });

  it('is compact: interned names keep it far below the JSON of the same model', () => {
    const m = viewerRun({ ranks: 4, steps: 4 });
    const bin = encodeTrace(m).byteLength;
    const json = JSON.stringify(m).length;
    assert.ok(bin < json * 0.6, `binary ${bin} B should be well under JSON ${json} B`);
  });

  it('computes nesting depth when the model was not finalized, and keeps UTF-8 names', () => {
    const m = emptyModel('chrome-json');
    m.processes.push({ pid: 1, name: 'p' });
    const t = addTrack(m, { pid: 1, name: 't', type: 'slice', stream: 'host', gpu: false });
    m.slices.push({ track: t, name: 'child ✓ 名前', category: 'host', startNs: 10, durNs: 5 });
    m.slices.push({ track: t, name: 'parent', category: 'host', startNs: 0, durNs: 100 });
    const d = decodeTrace(encodeTrace(m));
    assert.deepEqual([...d.sliceDepth], [1, 0]);
    assert.equal(d.string(d.sliceName[0]), 'child ✓ 名前');
  });

  it('filters by minimum duration and window, mapping kept slices and flows to model indexes', () => {
    const m = viewerRun({ ranks: 2, steps: 2 });
    const minDurNs = 100_000;
    const d = decodeTrace(encodeTrace(m, { minDurNs, window: { startNs: 0, endNs: 1e12 } }));
    const expected = m.slices
      .map((s, i) => ({ s, i }))
      .filter(({ s }) => s.durNs >= minDurNs)
      .map(({ i }) => i);
    assert.deepEqual([...(d.sliceSource ?? [])], expected);
    assert.equal(d.header.detail?.totalSlices, m.slices.length);
    for (let f = 0; f < d.header.flowCount; f++) {
      const from = d.sliceSource![d.flowFrom[f]];
      assert.ok(
        m.flows.some((mf) => mf.from === from),
        'flow ends re-pointed at kept slices',
      );
    }
  });

  it('rejects buffers that are not CommLens binary traces with a clear message', () => {
    assert.throws(() => decodeTrace(new ArrayBuffer(4)), /at least 16 bytes/);
    assert.throws(() => decodeTrace(new Uint8Array(32).buffer), /not a CommLens binary trace/);
    const good = encodeTrace(finalizeModel(emptyModel('commlens')));
    const v = new DataView(good);
    v.setUint32(4, 99, true);
    assert.throws(() => decodeTrace(good), /version 99/);
    const trunc = encodeTrace(viewerRun({ ranks: 1, steps: 1 })).slice(0, 400);
    assert.throws(() => decodeTrace(trunc), /truncated|outside/);
  });

  it('decodes from a typed array at any offset (as a message channel or Node Buffer may deliver it)', () => {
    const m = viewerRun({ ranks: 1, steps: 1 });
    const buf = encodeTrace(m);
    const shifted = new Uint8Array(buf.byteLength + 3);
    shifted.set(new Uint8Array(buf), 3);
    const d = decodeTrace(shifted.subarray(3));
    assert.equal(d.header.sliceCount, m.slices.length);
    assert.equal(d.sliceStart[5], m.slices[5].startNs);
    assert.equal(decodeTrace(Buffer.from(buf)).string(d.sliceName[0]), m.slices[0].name);
  });

  it('encodes an empty model', () => {
    const d = decodeTrace(encodeTrace(emptyModel('perfetto')));
    assert.equal(d.header.sliceCount, 0);
    assert.deepEqual(d.header.extentNs, [0, 0]);
  });
});
