// A prediction against its re-run, component by component: the replay's split of each side
// (analysis/predictionReport.ts componentRows), read defensively from comparison.json, the
// component furthest from its prediction, and the same rows in the CLI, the extension's view
// and the Compare pane.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { componentRows, componentTable, largestComponentMiss } from '../../../analysis/predictionReport';
import { componentsOfAnalysis, pooledComponents } from '../../../analysis/verify';
import { timeInside } from '../../../analysis/replay/stepGraph';
import { verificationViewOf } from '../../../extension/analysisView';
import { componentSplitRows } from '../../../webview/panes/predictionRows';

const ms = 1e6;
const predicted = {
  computeNs: { baselineNs: 362 * ms, predictedNs: 362 * ms },
  stagingNs: { baselineNs: 5 * ms, predictedNs: 10 * ms },
  wireNs: { baselineNs: 408 * ms, predictedNs: 125 * ms },
  codecNs: { baselineNs: 0, predictedNs: 38.5 * ms },
  waitNs: { baselineNs: 38 * ms, predictedNs: 38 * ms },
  hostNs: { baselineNs: 5 * ms, predictedNs: 5.5 * ms },
  exposedCommNs: { baselineNs: 408 * ms, predictedNs: 144 * ms },
};
const measured = {
  computeNs: 365 * ms,
  stagingNs: 11 * ms,
  wireNs: 131 * ms,
  codecNs: 53.2 * ms,
  waitNs: 30 * ms,
  hostNs: 6 * ms,
  exposedCommNs: 135 * ms,
};

test('the split compares compute, staging, wire, codec and wait, each predicted against the re-run', () => {
  const rows = componentRows(predicted, measured);
  assert.deepEqual(
    rows.map((r) => [r.label, r.fromNs, r.predictedNs, r.measuredNs]),
    [
      ['compute', 362 * ms, 362 * ms, 365 * ms],
      ['staging', 5 * ms, 10 * ms, 11 * ms],
      ['wire', 408 * ms, 125 * ms, 131 * ms],
      ['codec', 0, 38.5 * ms, 53.2 * ms],
      ['wait', 38 * ms, 38 * ms, 30 * ms],
      ['host', 5 * ms, 5.5 * ms, 6 * ms],
    ],
  );
  // A prediction made before the host component: the other five.
  const { hostNs: _older, ...older } = predicted;
  assert.deepEqual(
    componentRows(older, measured).map((r) => r.label),
    ['compute', 'staging', 'wire', 'codec', 'wait'],
  );
  // The codec moved furthest (+14.7 ms), more than wait (−8 ms).
  const miss = largestComponentMiss(rows);
  assert.match(miss!, /^codec, 53\.2 ms measured against 38\.5 ms predicted \(\+14\.7 ms per rank and step; /);
  // Within 1 ms everywhere: nothing to point at.
  assert.equal(largestComponentMiss(componentRows(predicted, { ...measured, ...closeTo(predicted) })), undefined);
  const table = componentTable(rows);
  assert.equal(table.length, 1 + 6 + 1);
  assert.match(table[4], /^codec {14}\s+0 ns\s+38\.5 ms\s+53\.2 ms$/);
  assert.equal(table[7], `furthest from its prediction: ${miss}`);
  assert.deepEqual(componentTable([]), []);
});

function closeTo(p: typeof predicted): Record<string, number> {
  return Object.fromEntries(Object.entries(p).map(([k, v]) => [k, v.predictedNs + 0.5 * ms]));
}

test('a side without its split, or with a figure of the wrong type, gives no rows rather than NaN', () => {
  assert.deepEqual(componentRows(predicted, undefined), []);
  assert.deepEqual(componentRows(undefined, measured), []);
  assert.deepEqual(componentRows(predicted, { ...measured, codecNs: '53' }), []);
  assert.deepEqual(componentRows(predicted, { ...measured, waitNs: NaN }), []);
  assert.deepEqual(componentRows({ ...predicted, wireNs: { baselineNs: 1 } }, measured), []);
});

test("a run's split is read from its analysis's replay, and pooled over runs component by component", () => {
  assert.deepEqual(componentsOfAnalysis({ replay: { components: measured } }), measured);
  assert.equal(componentsOfAnalysis({ replay: {} }), undefined);
  assert.equal(componentsOfAnalysis({ replay: { components: { ...measured, stagingNs: undefined } } }), undefined);
  assert.equal(componentsOfAnalysis(undefined), undefined);
  const a = { ...measured, codecNs: 40 * ms };
  const b = { ...measured, codecNs: 60 * ms, waitNs: 10 * ms };
  const pooled = pooledComponents([a, undefined, b, measured]);
  assert.equal(pooled!.codecNs, 53.2 * ms, 'the median of 40, 53.2 and 60 ms');
  assert.equal(pooled!.waitNs, 30 * ms);
  assert.equal(pooledComponents([undefined]), undefined);
});

test('the extension shows the same rows and the same sentence as the CLI', () => {
  const comparison = {
    verdict: 'worse than predicted',
    measuredSpeedup: 1.32,
    predictedSpeedup: 1.44,
    stepTimeRelError: 0.086,
    predicted: { stepTimeNs: 550 * ms, baselineStepTimeNs: 794 * ms, components: predicted },
    measured: { stepTimeNs: 601 * ms, components: measured },
  };
  const v = verificationViewOf(comparison);
  const rows = componentRows(predicted, measured);
  assert.deepEqual(
    v.components,
    rows.map((r) => ({ label: r.label, fromNs: r.fromNs, predictedNs: r.predictedNs, measuredNs: r.measuredNs })),
  );
  assert.equal(v.componentMiss, largestComponentMiss(rows));
  const pane = componentSplitRows(v);
  assert.deepEqual(pane[3], ['Codec per rank and step (replayed)', '0 ns', '38.5 ms', '53.2 ms', '−27.6 %']);
  // An older comparison.json, without the re-run's split: no rows, no sentence.
  const old = verificationViewOf({ ...comparison, measured: { stepTimeNs: 601 * ms } });
  assert.equal(old.components, undefined);
  assert.equal(old.componentMiss, undefined);
  assert.deepEqual(componentSplitRows(old), []);
});

test('a codec span counts inside a replayed delay only for the part of it there', () => {
  const spans = [
    { startNs: 0, endNs: 10 },
    { startNs: 20, endNs: 30 },
    { startNs: 40, endNs: 50 },
  ];
  assert.equal(timeInside(spans, 5, 45), 5 + 10 + 5);
  assert.equal(timeInside(spans, 10, 20), 0);
  assert.equal(timeInside(spans, 0, 100), 30);
  assert.equal(timeInside([], 0, 100), 0);
});
