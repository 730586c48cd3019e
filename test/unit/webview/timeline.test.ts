import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeTrace, encodeTrace } from '../../../trace/binary';
import { addTrack, emptyModel, finalizeModel } from '../../../trace/model';
import { viewerRun } from '../../helpers/syntheticRun';
import { axisTicks } from '../../../webview/timeline/axis';
import {
  COUNTER_COMPACT_H,
  COUNTER_H,
  GROUP_H,
  layoutRows,
  rowAt,
  stickyGroup,
  toContentY,
  toScreenY,
} from '../../../webview/timeline/layout';
import { aggregateArea, counterOverWindow, nextMatch, searchSlices } from '../../../webview/timeline/query';
import { tooltipFor } from '../../../webview/timeline/tooltip';
import { TraceIndex } from '../../../webview/timeline/traceIndex';
import { MIN_WINDOW_NS, Viewport } from '../../../webview/timeline/viewport';
import { renderWebviewHtml } from '../../../webview/html';
import { lodMinDurNs } from '../../../webview/protocol';
import { counterNote, PROCESS_CPU_COUNTER } from '../../../trace/runCounters';

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
    const m = viewerRun({ ranks: 2, steps: 2 });
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
    // Its two constant counters (memory: parameters, gradients) share one row.
    assert.equal(idx.groups[0].constantCounters?.length, 2);
    assert.equal(layout.rows.length, 2 + idx.groups[0].tracks.length - 2 + 1);
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
    const m = viewerRun({ ranks: 2, steps: 3 });
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
    const html = renderWebviewHtml({
      scriptUri: 'vscode-resource://x/main.js',
      styleUri: 'vscode-resource://x/main.css',
      cspSource: 'vscode-resource:',
      nonce: 'abcdefghijklmnop0123',
    });
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

describe('webview timeline: layout, origin, area counters, tooltips', () => {
  const model = viewerRun({ ranks: 2, steps: 4 });
  const index = new TraceIndex(decodeTrace(encodeTrace(model)));
  const counterTracks = index.tracks.map((t, i) => (t.info.type === 'counter' ? i : -1)).filter((i) => i >= 0);

  it('lays counters out as one line unless expanded, and pinned tracks first', () => {
    // Constant counters unfolded, so that every counter has a row of its own.
    const unfolded = new Set(index.groups.map((g) => g.pid));
    const compact = layoutRows(index, new Set(), { unfolded });
    for (const t of counterTracks) assert.equal(compact.rows[compact.rowOfTrack[t]].height, COUNTER_COMPACT_H);
    const one = layoutRows(index, new Set(), { expanded: new Set([counterTracks[0]]), unfolded });
    assert.equal(one.totalHeight - compact.totalHeight, COUNTER_H - COUNTER_COMPACT_H);
    const pin = index.groups[1].tracks[0];
    const pinned = layoutRows(index, new Set(), { pinned: [pin], unfolded });
    assert.equal(pinned.pinnedCount, 1);
    assert.equal(pinned.rows[0].track, pin);
    assert.equal(pinned.rows[0].pinned, true);
    assert.equal(pinned.rowOfTrack[pin], 0);
    assert.equal(pinned.totalHeight, compact.totalHeight, 'a pinned track moves, it is not duplicated');
    assert.equal(pinned.rows.filter((r) => r.track === pin).length, 1);
    // Screen/content mapping: pinned rows do not scroll.
    assert.equal(toScreenY(pinned, 5, 100), 5);
    assert.equal(toScreenY(pinned, pinned.pinnedH + 150, 100), pinned.pinnedH + 50);
    assert.equal(toContentY(pinned, pinned.pinnedH + 50, 100), pinned.pinnedH + 150);
  });

  it('keeps the rank header of the top row sticky, pushed up by the next header', () => {
    const l = layoutRows(index, new Set());
    assert.equal(stickyGroup(l, 0), null, 'the real header is in view');
    const s = stickyGroup(l, 40);
    assert.ok(s);
    assert.equal(l.rows[s.row].kind, 'group');
    assert.equal(l.rows[s.row].group, 0);
    assert.equal(s.y, 0);
    const next = l.rows.find((r) => r.kind === 'group' && r.group === 1)!;
    const pushed = stickyGroup(l, next.y - 10);
    assert.equal(pushed?.y, -GROUP_H + 10);
    assert.equal(l.rows[stickyGroup(l, next.y + 5)!.row].group, 1);
  });

  it('labels axis ticks relative to a chosen origin, 0 at the origin', () => {
    const a = axisTicks(1_000_000, 1_010_000, 1000, 90, 1_004_000);
    assert.ok(
      a.ticks.some((t) => t.label === '0 µs'),
      JSON.stringify(a.ticks),
    );
    assert.ok(
      a.ticks.some((t) => t.label.startsWith('-')),
      'ticks before the origin are negative',
    );
    assert.ok(!a.ticks.some((t) => t.label === '-0 µs'));
  });

  it('aggregates counters over an area: min, max and the time-weighted mean', () => {
    const t = counterTracks[0];
    const c = index.tracks[t].counterSeries[0];
    const tr = index.trace;
    const a = tr.counterOffset[c],
      b = tr.counterOffset[c + 1];
    assert.ok(b - a >= 3, 'the synthetic loss has several samples');
    // A window from the middle of sample 0's span to the middle of sample 2's span.
    const t0 = tr.counterTs[a],
      t1 = tr.counterTs[a + 1],
      t2 = tr.counterTs[a + 2],
      t3 = b - a > 3 ? tr.counterTs[a + 3] : t2 + 1000;
    const v0 = tr.counterValue[a],
      v1 = tr.counterValue[a + 1],
      v2 = tr.counterValue[a + 2];
    const start = (t0 + t1) / 2,
      end = (t2 + t3) / 2;
    const expectMean = (v0 * (t1 - start) + v1 * (t2 - t1) + v2 * (end - t2)) / (end - start);
    const agg = counterOverWindow(index, c, start, end)!;
    assert.equal(agg.samples, 3);
    assert.equal(agg.min, Math.min(v0, v1, v2));
    assert.equal(agg.max, Math.max(v0, v1, v2));
    assert.ok(Math.abs(agg.mean - expectMean) < 1e-9 * Math.abs(expectMean) + 1e-12, `${agg.mean} vs ${expectMean}`);
    const sum = aggregateArea(index, { startNs: start, endNs: end, tracks: [t, index.groups[0].tracks[0]] });
    assert.equal(sum.counters.length, 1);
    assert.equal(sum.counters[0].name, index.tracks[t].info.name);
    assert.equal(sum.windowNs, end - start);
    assert.equal(counterOverWindow(index, c, t0 - 2000, t0 - 1000), null, 'no sample in effect before the first');
  });

  it('tooltips name a slice, its duration and key args, and a counter value at a time', () => {
    const i = model.slices.findIndex((s) => s.category === 'collective');
    const enc = index.encodedIndex(i);
    const tip = tooltipFor(index, enc, -1, 0, index.extentStartNs)!;
    assert.equal(tip.lines[0], model.slices[i].name);
    assert.match(tip.lines[1], /ms|µs/);
    assert.ok(
      tip.lines.some((l) => /^bytes: .*MiB/.test(l)),
      tip.lines.join('\n'),
    );
    const t = counterTracks[0];
    const c = index.tracks[t].counterSeries[0];
    const ts = index.trace.counterTs[index.trace.counterOffset[c]];
    const ct = tooltipFor(index, -1, t, ts + 1, index.extentStartNs)!;
    assert.match(ct.lines[0], /rank 0 · loss/);
    assert.equal(ct.lines[1], String(Number(index.trace.counterValue[index.trace.counterOffset[c]].toPrecision(4))));
    assert.deepEqual(tooltipFor(index, -1, t, ts - 1, index.extentStartNs)?.lines[1], 'no sample yet at this time');
  });

  it("says that the process CPU counter on rank 0's row is the whole process, and adds nothing to other counters", () => {
    const m = emptyModel('commlens');
    m.processes.push({ pid: 1, rank: 0, name: 'rank 0' });
    const cpu = addTrack(m, {
      pid: 1,
      name: PROCESS_CPU_COUNTER,
      type: 'counter',
      stream: 'other',
      gpu: false,
      unit: 'cores',
    });
    const loss = addTrack(m, { pid: 1, name: 'loss', type: 'counter', stream: 'other', gpu: false });
    m.counters.push({ track: cpu, tsNs: [0, 100], values: [1.25, 1.5] });
    m.counters.push({ track: loss, tsNs: [0, 100], values: [2, 1] });
    const idx = new TraceIndex(decodeTrace(encodeTrace(finalizeModel(m))));
    const at = (track: number) => tooltipFor(idx, -1, track, 50, 0)!.lines;
    const lines = at(cpu);
    assert.equal(lines[0], `rank 0 · ${PROCESS_CPU_COUNTER}`);
    assert.match(lines[1], /^1\.25\b/);
    assert.equal(lines.at(-1), counterNote(PROCESS_CPU_COUNTER));
    assert.match(lines.at(-1)!, /^the whole process \(every rank/);
    assert.ok(lines.at(-1)!.length <= 60, 'the note fits the tooltip, one line');
    assert.equal(counterNote('loss'), undefined);
    assert.deepEqual(at(loss), ['rank 0 · loss', '2', 'at 50 ns']);
  });
});
