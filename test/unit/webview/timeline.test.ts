import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeTrace, encodeTrace } from '../../../trace/binary';
import { addTrack, emptyModel, finalizeModel } from '../../../trace/model';
import { syntheticRun } from '../../../webview/harness/node/synthetic';
import { axisTicks } from '../../../webview/timeline/axis';
import { layoutRows, rowAt } from '../../../webview/timeline/layout';
import { aggregateArea, nextMatch, searchSlices } from '../../../webview/timeline/query';
import { TraceIndex } from '../../../webview/timeline/traceIndex';
import { MIN_WINDOW_NS, Viewport } from '../../../webview/timeline/viewport';
import { renderWebviewHtml } from '../../../webview/html';
import { lodMinDurNs } from '../../../webview/protocol';

describe('webview timeline logic', () => {
  it('axis ticks use 1/2/5 steps, keep their spacing and pick units', () => {
    const a = axisTicks(0, 1e9, 1000, 90);
    assert.equal(a.stepNs, 1e8);
    assert.equal(a.unit, 'ms');
    assert.equal(a.ticks[1].label, '100 ms');
    const b = axisTicks(1000, 1750, 1000, 90);
    assert.equal(b.stepNs, 100);
    assert.equal(b.unit, 'ns');
    const c = axisTicks(0, 3e10, 1200, 90);
    assert.equal(c.unit, 's');
    assert.equal(c.stepNs, 5e9);
    assert.equal(c.ticks[1].label, '5 s');
    const d = axisTicks(0, 2500, 1000, 90);
    assert.equal(d.stepNs, 500);
    assert.equal(d.ticks[1].label, '500 ns');
    const e = axisTicks(0, 25_000, 1000, 90);
    assert.equal(e.ticks[1].label, '5 µs');
    const f = axisTicks(0, 12_000, 1000, 90);
    assert.equal(f.stepNs, 2000);
    assert.equal(f.ticks[1].label, '2 µs');
    const g = axisTicks(0, 3_000, 1000, 90);
    assert.equal(g.ticks[1].label, '500 ns');
  });

  it('viewport zooms around the anchor, pans, and clamps', () => {
    const vp = new Viewport(0, 1_000_000, 1000);
    vp.set(0, 1_000_000);
    const anchorPx = 250;
    const before = vp.pxToTime(anchorPx);
    vp.zoom(4, anchorPx);
    assert.ok(Math.abs(vp.pxToTime(anchorPx) - before) < 1e-6);
    assert.ok(Math.abs(vp.durNs - 250_000) < 1e-6);
    vp.panPx(100);
    assert.ok(Math.abs(vp.startNs - (before - 62_500 + 25_000)) < 1e-6);
    vp.zoom(1e12);
    assert.equal(vp.durNs, MIN_WINDOW_NS);
    vp.panPx(-1e12);
    assert.equal(vp.startNs, vp.minNs);
    vp.fit();
    assert.equal(vp.startNs, vp.minNs);
    assert.equal(vp.endNs, vp.maxNs);
  });

  it('indexes slices per track and depth, finds them by hit-test, lays out rank groups', () => {
    const m = syntheticRun({ worldSize: 2, steps: 2 });
    const idx = new TraceIndex(decodeTrace(encodeTrace(m)));
    assert.equal(idx.groups.length, 2);
    assert.equal(idx.groups[0].label, 'Rank 0');
    assert.equal(idx.tracks[idx.groups[0].tracks[0]].info.stream, 'compute');
    assert.equal(idx.drawableSlices, m.slices.length);
    const target = m.slices.findIndex((s) => s.category === 'collective');
    const s = m.slices[target];
    assert.equal(idx.hit(s.track, s.depth ?? 0, s.startNs + s.durNs / 2, 0), target);
    assert.equal(idx.steps.length, 2);
    const layout = layoutRows(idx, new Set([idx.groups[1].pid]));
    assert.equal(layout.rows.filter((r) => r.kind === 'group').length, 2);
    assert.equal(layout.rows.length, 2 + idx.groups[0].tracks.length);
    assert.equal(rowAt(layout, 0), 0);
    assert.equal(rowAt(layout, layout.totalHeight - 1), layout.rows.length - 1);
    assert.equal(rowAt(layout, layout.totalHeight + 5), -1);
  });

  it('aggregates an area per name with clipped totals and window share', () => {
    const m = emptyModel('commlens');
    m.processes.push({ pid: 1, rank: 0, name: 'r0' });
    const t = addTrack(m, { pid: 1, name: 'compute', type: 'slice', stream: 'compute', gpu: true });
    m.slices.push({ track: t, name: 'a', category: 'kernel', startNs: 0, durNs: 100 });
    m.slices.push({ track: t, name: 'b', category: 'kernel', startNs: 150, durNs: 120 });
    m.slices.push({ track: t, name: 'a', category: 'kernel', startNs: 300, durNs: 100 });
    const idx = new TraceIndex(decodeTrace(encodeTrace(finalizeModel(m))));
    const sum = aggregateArea(idx, { startNs: 50, endNs: 350, tracks: [t] });
    assert.equal(sum.windowNs, 300);
    const a = sum.rows.find((r) => r.name === 'a')!;
    assert.equal(a.count, 2);
    assert.equal(a.totalNs, 100); // 50 of the first, 50 of the third
    assert.equal(a.avgNs, 50);
    assert.ok(Math.abs(a.sharePct - 100 / 3) < 1e-9);
    assert.equal(sum.rows[0].name, 'b');
  });

  it('searches names case-insensitively in time order and steps through matches', () => {
    const m = syntheticRun({ worldSize: 2, steps: 3 });
    const idx = new TraceIndex(decodeTrace(encodeTrace(m)));
    const hits = searchSlices(idx, 'ADAM');
    assert.equal(hits.length, m.slices.filter((s) => s.name.toLowerCase().includes('adam')).length);
    for (let i = 1; i < hits.length; i++) assert.ok(m.slices[hits[i]].startNs >= m.slices[hits[i - 1]].startNs);
    assert.equal(searchSlices(idx, '  ').length, 0);
    assert.equal(nextMatch(3, -1, 1), 0);
    assert.equal(nextMatch(3, 2, 1), 0);
    assert.equal(nextMatch(3, 0, -1), 2);
    assert.equal(nextMatch(0, 0, 1), -1);
  });

  it('reports bad slices (negative, non-finite, unknown track) instead of drawing garbage', () => {
    const m = emptyModel('chrome-json');
    m.processes.push({ pid: 1, name: 'p' });
    const t = addTrack(m, { pid: 1, name: 't', type: 'slice', stream: 'host', gpu: false });
    m.slices.push({ track: t, name: 'neg', category: 'host', startNs: 10, durNs: -5 });
    m.slices.push({ track: t, name: 'nan', category: 'host', startNs: NaN, durNs: 5 });
    m.slices.push({ track: 7, name: 'lost', category: 'host', startNs: 1, durNs: 5 });
    m.slices.push({ track: t, name: 'zero', category: 'host', startNs: 30, durNs: 0 });
    const idx = new TraceIndex(decodeTrace(encodeTrace(m)));
    assert.equal(idx.drawableSlices, 2);
    assert.ok(idx.issues.some((s) => /negative duration/.test(s)));
    assert.ok(idx.issues.some((s) => /not a finite number/.test(s)));
    assert.ok(idx.issues.some((s) => /does not exist/.test(s)));
  });

  it('renders HTML with a strict nonce CSP and no inlined data', () => {
    const html = renderWebviewHtml({ scriptUri: 'vscode-resource://x/main.js', styleUri: 'vscode-resource://x/main.css', cspSource: 'vscode-resource:', nonce: 'abcdefghijklmnop0123' });
    const csp = html.match(/Content-Security-Policy" content="([^"]+)"/)![1];
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'nonce-abcdefghijklmnop0123'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal((html.match(/<script /g) ?? []).length, 1);
    assert.match(html, /<script nonce="abcdefghijklmnop0123" src="vscode-resource:\/\/x\/main.js">/);
    assert.throws(() => renderWebviewHtml({ scriptUri: 'a', styleUri: 'b', cspSource: 'c', nonce: 'short' }), /nonce/);
  });

  it('picks a level-of-detail cut that keeps at most maxSlices', () => {
    const durs = [5, 1, 9, 3, 7, 2];
    assert.equal(lodMinDurNs(durs, 10), 0);
    const cut = lodMinDurNs(durs, 3);
    assert.equal(cut, 5);
    assert.equal(durs.filter((d) => d >= cut).length, 3);
  });
});
