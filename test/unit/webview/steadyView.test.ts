/**
 * What the viewer shows first (issue #17): the window opens on the steady-state steps with
 * warm-up labelled, constant counters folded so two ranks of a real run fit, identical
 * warnings shown once, one formatting of signed percentages.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeTrace, encodeTrace } from '../../../trace/binary';
import { RUNTIME_COUNTERS, viewerRun } from '../../helpers/syntheticRun';
import { COUNTER_COMPACT_H, layoutRows } from '../../../webview/timeline/layout';
import { TraceIndex } from '../../../webview/timeline/traceIndex';
import { initialWindow } from '../../../webview/timeline/viewport';
import { groupWarnings, warningText } from '../../../webview/panes/warnings';
import { formatSignedPct } from '../../../trace/format';
import { predictedChangePct, predictionRows } from '../../../webview/panes/predictionRows';
import { analyze } from '../../../analysis/index';
import { toAnalysisView } from '../../../extension/analysisView';

const indexOf = (o: Parameters<typeof viewerRun>[0]): TraceIndex =>
  new TraceIndex(decodeTrace(encodeTrace(viewerRun(o))));

describe('the initial window: steady-state steps', () => {
  it('starts at the end of the last warm-up step and ends at the end of the trace', () => {
    const w = initialWindow(0, 1000, 600)!;
    assert.equal(w.startNs, 600);
    assert.ok(w.endNs >= 1000, `ends at or after the trace end: ${w.endNs}`);
    assert.ok(w.endNs - 1000 < 0.05 * 400, 'with a small margin only');
  });

  it('shows the whole trace without warm-up, or when warm-up does not end inside the trace', () => {
    assert.equal(initialWindow(0, 1000, undefined), undefined);
    assert.equal(initialWindow(0, 1000, NaN), undefined);
    assert.equal(initialWindow(0, 1000, 1000), undefined);
    assert.equal(initialWindow(100, 1000, 50), undefined);
  });

  it('on a run with a long step 0: the window leaves step 0 out and the step is flagged warm-up', () => {
    const index = indexOf({ ranks: 2, steps: 6, warmupNs: 200_000_000 });
    const step0 = index.steps[0];
    assert.equal(step0.label, 'step 0');
    assert.equal(step0.warmup, true);
    assert.ok(index.steps.slice(1).every((s) => !s.warmup));
    const w = initialWindow(index.extentStartNs, index.extentEndNs, index.warmup?.endNs)!;
    assert.ok(w.startNs >= step0.endNs, `window starts ${w.startNs} at or after step 0's end ${step0.endNs}`);
    assert.ok(w.startNs <= index.steps[1].startNs, 'and shows step 1 from its start');
    // Step 0 was most of the run: the steady steps now fill the screen.
    assert.ok(step0.endNs - step0.startNs > index.extentEndNs - step0.endNs);
  });
});

describe('the warnings banner', () => {
  it('shows identical warnings once with a count, in the order first given', () => {
    const per = 'staging copies priced from the host probe';
    const g = groupWarnings([per, 'warm-up: step 0 left out', per, `${per} `, per]);
    assert.deepEqual(
      g.map((x) => [x.text, x.count]),
      [
        [per, 4],
        ['warm-up: step 0 left out', 1],
      ],
    );
    assert.equal(warningText(g[0]), `${per} (×4)`);
    assert.equal(warningText(g[1]), 'warm-up: step 0 left out');
    assert.deepEqual(groupWarnings(['', '  ']), []);
  });
});

describe('signed percentages: one formatting for the suggestion title, badge and rows', () => {
  it('writes one decimal with a true minus sign or a plus', () => {
    assert.equal(formatSignedPct(-46.08), '−46.1 %');
    assert.equal(formatSignedPct(3), '+3.0 %');
    assert.equal(formatSignedPct(0.04), '0.0 %');
    assert.equal(formatSignedPct(-0.04), '0.0 %');
    assert.equal(formatSignedPct(NaN), '– %');
  });

  it("the advisor's title and the badge's rows agree on a suggestion", () => {
    const model = viewerRun({ ranks: 4, steps: 6 });
    const view = toAnalysisView(analyze(model));
    const sg = view.suggestions.find((s) => s.predicted.baselineStepTimeNs && /%\)/.test(s.title));
    assert.ok(
      sg,
      `a suggestion with a predicted change in its title: ${view.suggestions.map((s) => s.title).join(' | ')}`,
    );
    const pct = formatSignedPct(predictedChangePct(sg));
    assert.ok(sg.title.includes(`(${pct})`), `title "${sg.title}" carries ${pct}`);
    assert.ok(predictionRows(sg)[0][1].includes(`(${pct})`), `row ${predictionRows(sg)[0][1]} carries ${pct}`);
    assert.doesNotMatch(sg.title, /\(-\d/, 'no hyphen-minus');
  });
});

describe('constant counters fold into one row per rank', () => {
  const model = viewerRun({ ranks: 2, steps: 6, runtimeTracks: true });
  const index = new TraceIndex(decodeTrace(encodeTrace(model)));
  const track = (rank: number, name: string): number =>
    model.tracks.findIndex((t) => t.pid === model.processes[rank].pid && t.name === name);
  const constants = [
    'bytes per step',
    'bytes on the wire per step',
    'memory: parameters',
    'memory: gradients',
    'memory: optimizer state',
    'memory: activations',
    'memory: communication buffers',
  ];

  it("the synthetic run writes the runtime's track set", () => {
    const names = model.tracks.filter((t) => t.pid === model.processes[0].pid).map((t) => t.name);
    assert.deepEqual(names, [
      'host',
      'compute (GPU)',
      'staging D2H/H2D',
      'communication',
      'host blocked on collectives',
      ...RUNTIME_COUNTERS,
    ]);
    assert.ok(model.slices.some((s) => s.category === 'wait'));
  });

  it('finds the counters whose value never changes and folds them where the first would be', () => {
    assert.deepEqual(
      index.groups[0].constantCounters,
      constants.map((n) => track(0, n)),
    );
    const layout = layoutRows(index, new Set());
    const folds = layout.rows.filter((r) => r.kind === 'fold');
    assert.equal(folds.length, 2, 'one fold row per rank');
    assert.deepEqual(folds[0].folded, index.groups[0].constantCounters);
    assert.equal(layout.rowOfTrack[track(0, 'memory: parameters')], -1, 'folded tracks have no row');
    const order = layout.rows
      .filter((r) => r.group === 0 && r.kind !== 'group')
      .map((r) => (r.kind === 'fold' ? 'fold' : model.tracks[r.track].name));
    assert.deepEqual(order.slice(-3), ['loss', 'step time', 'fold']);
    assert.equal(index.constantText(track(0, 'memory: parameters')).startsWith('parameters '), true);
    // Unfolded: the row stays (to fold them again) and each counter follows it.
    const open = layoutRows(index, new Set(), { unfolded: new Set([model.processes[0].pid]) });
    assert.ok(open.rowOfTrack[track(0, 'memory: parameters')] >= 0);
    assert.equal(open.rows.find((r) => r.kind === 'fold' && r.group === 0)?.open, true);
    assert.equal(open.totalHeight - layout.totalHeight, constants.length * COUNTER_COMPACT_H);
  });

  it('a pinned constant counter leaves the fold and is pinned', () => {
    const p = track(1, 'memory: gradients');
    const layout = layoutRows(index, new Set(), { pinned: [p] });
    assert.equal(layout.rows[0].track, p);
    assert.ok(!layout.rows.find((r) => r.kind === 'fold' && r.group === 1)!.folded!.includes(p));
  });

  it('two ranks of the real track set take what the panel gives the tracks', () => {
    const h = layoutRows(index, new Set()).totalHeight;
    // Without folding: every counter a row of its own.
    const unfolded = layoutRows(index, new Set(), { unfolded: new Set(index.groups.map((g) => g.pid)) }).totalHeight;
    assert.ok(h <= unfolded - 2 * (constants.length - 1) * COUNTER_COMPACT_H, `${h} vs ${unfolded}`);
    assert.ok(h <= 440, `two ranks: ${h} px`);
  });
});
