// Reading a prediction against a re-run: measured components, the comparison line, the spread over passes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { componentsLine, errorSpread, measuredComponentsOf } from '../../../analysis/predictionReport';
import { analyze } from '../../../analysis/index';
import { whatIf } from '../../../analysis/replay/whatIf';
import { syntheticRun } from '../../helpers/syntheticRun';

test('measured components: mean over ranks, median over the steps after the first, from the analysis a run stores', () => {
  const m = syntheticRun({ ranks: 2, steps: 4, gradBytes: 4 * 1024 * 1024 });
  const c = measuredComponentsOf(JSON.parse(JSON.stringify(analyze(m))));
  assert.ok(c);
  // Synthetic steps: 4 forward + 8 backward kernels of 100 µs and a 50 µs optimizer on every rank.
  assert.ok(Math.abs(c.computeNs - (12 * 100_000 + 50_000)) < 1, `compute ${c.computeNs}`);
  assert.ok(c.commNs > 0 && c.exposedCommNs > 0 && c.exposedCommNs <= c.commNs);
  assert.equal(measuredComponentsOf({ ranks: [] }), undefined);
  assert.equal(measuredComponentsOf(undefined), undefined);
});

test('the components line puts every predicted component beside what the runs measured of it', () => {
  const m = syntheticRun({ ranks: 2, steps: 4, gradBytes: 4 * 1024 * 1024, stagingNsPerByte: 0.05 });
  const p = whatIf(m, { compression: { method: 'fp16' } }).predicted.components;
  const base = measuredComponentsOf(JSON.parse(JSON.stringify(analyze(m))));
  const line = componentsLine(p, base, base);
  for (const k of ['compute', 'staging', 'wire', 'codec', 'wait', 'collectives (wire+wait+codec)', 'exposed'])
    assert.ok(line.includes(`${k} `), `${k} in: ${line}`);
  assert.equal((line.match(/measured/g) ?? []).length, 3, 'compute, collectives and exposed are measured');
  assert.ok(!componentsLine(p).includes('measured'));
});

test('error spread: the median |error| of each pass, their median, quartiles and extremes; empty passes left out', () => {
  const s = errorSpread([[0.1, 0.3, 0.2], [0.05], [], [0.4, 0.6]]);
  assert.deepEqual(s.perPass, [0.2, 0.05, 0.5]);
  assert.equal(s.passes, 3);
  assert.equal(s.median, 0.2);
  assert.equal(s.min, 0.05);
  assert.equal(s.max, 0.5);
  assert.ok(s.q1 <= s.median && s.median <= s.q3);
  assert.ok(Number.isNaN(errorSpread([]).median));
});
