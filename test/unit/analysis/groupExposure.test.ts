/**
 * Exposed communication per process group (analysis/groupExposure.ts) on the synthetic DP 2 ×
 * PP 2 run (test/helpers/syntheticRun.ts `pipeline`), whose exact times give the figures by
 * hand. GPipe with forward F, backward 2F, p2p messages of P ≤ F on both ends:
 *  - pp groups: per rank one message each way is exposed (stage 0's last activation send while
 *    it waits for backward, and its first gradient recv; stage 1's first activation recv and
 *    its last gradient send); every other message runs under the next micro-batch's kernel.
 *    So 2P exposed of 2M·P per step, 2M messages per rank.
 *  - dp groups: each stage's gradients all-reduced after its backward, nothing under them:
 *    exposed = the ring time 2(D−1)α + 2(D−1)/D · (gradBytes / stages) / β.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze, groupExposures, theoreticalBubbleFraction } from '../../../analysis';
import { buildRankViews } from '../../../analysis/rankView';
import { markdownReport } from '../../../analysis/report';
import { syntheticRun } from '../../helpers/syntheticRun';
import { groupExposureRows } from '../../../trace/layoutFigures';
import { checkConfigText, type SchemaNode } from '../../../extension/configCheck';
import { repoRoot } from '../../helpers/paths';
import * as fs from 'node:fs';
import * as path from 'node:path';

const F = 100_000,
  P = 30_000,
  M = 4,
  GRAD = 8 * 1024 * 1024,
  BW = 1,
  ALPHA = 10_000;

const run = (p2pNs = P) =>
  syntheticRun({
    ranks: 4,
    steps: 4,
    fwdNs: F,
    optimizerNs: 50_000,
    gradBytes: GRAD,
    bytesPerNs: BW,
    alphaNs: ALPHA,
    flows: true,
    loss: true,
    pipeline: { stages: 2, microBatches: M, p2pNs },
  });

test('exposed communication per group on a DP 2 × PP 2 GPipe run equals the hand count', () => {
  const a = analyze(run());
  assert.ok(a.groups, a.notes.join('; '));
  const by = new Map(a.groups.map((g) => [g.group, g]));
  assert.deepEqual([...by.keys()].sort(), [
    'dp group 0 (ranks 0,1)',
    'dp group 1 (ranks 2,3)',
    'pp group 0 (ranks 0,2)',
    'pp group 1 (ranks 1,3)',
  ]);
  const ring = 2 * ALPHA + (2 * (1 / 2) * (GRAD / 2)) / BW;
  for (const name of ['dp group 0 (ranks 0,1)', 'dp group 1 (ranks 2,3)']) {
    const g = by.get(name)!;
    assert.ok(Math.abs(g.exposedCommNs - ring) < 1e-6, `${name}: ${g.exposedCommNs} vs ${ring}`);
    assert.ok(Math.abs(g.commNs - ring) < 1e-6);
    assert.equal(g.opsPerStep, 1);
  }
  for (const [name, ranks] of [
    ['pp group 0 (ranks 0,2)', [0, 2]],
    ['pp group 1 (ranks 1,3)', [1, 3]],
  ] as const) {
    const g = by.get(name)!;
    assert.deepEqual(g.ranks, ranks);
    assert.ok(Math.abs(g.exposedCommNs - 2 * P) < 1e-6, `${name}: ${g.exposedCommNs} vs ${2 * P}`);
    assert.ok(Math.abs(g.commNs - 2 * M * P) < 1e-6, `${name}: ${g.commNs} vs ${2 * M * P}`);
    assert.equal(g.opsPerStep, 2 * M);
  }
  // Largest first: the dp all-reduces (ring ≫ 2P here), then the pp groups.
  assert.deepEqual(
    a.groups.map((g) => g.group.slice(0, 2)),
    ['dp', 'dp', 'pp', 'pp'],
  );
  // The run's exposed communication counts overlapping groups once: never more than their sum.
  const sum = a.groups.reduce((x, g) => x + g.exposedCommNs, 0) / 2;
  assert.ok(a.figures.exposedCommNs! <= sum + 1e-6, `${a.figures.exposedCommNs} vs ${sum}`);
  // `analyze --json` prints this object: with its groups it still fits the schema.
  const schema = JSON.parse(
    fs.readFileSync(path.join(repoRoot, 'schemas', 'analysis.schema.json'), 'utf8'),
  ) as SchemaNode;
  assert.deepEqual(
    checkConfigText(JSON.stringify(a), schema).map((p) => p.message),
    [],
  );
  // report.md shows the same rows the viewer shows (trace/layoutFigures.ts).
  const report = markdownReport(a);
  assert.match(report, /## Exposed communication per process group/);
  for (const row of groupExposureRows(a.groups, a.figures.stepTimeNs))
    assert.ok(report.includes(`| ${row.join(' | ')} |`), `report lacks the row ${row.join(' | ')}`);
});

test('the synthetic pipeline without p2p time has the schedule bubble exactly, and no exposed pp communication', () => {
  const a = analyze(run(0));
  assert.ok(a.pipeline && a.pipeline.length === 2, a.notes.join('; '));
  for (const pl of a.pipeline) {
    assert.equal(pl.microBatches, M);
    assert.equal(pl.schedule, 'gpipe');
    for (const st of pl.perStage)
      assert.ok(Math.abs(st.meanFraction - theoreticalBubbleFraction(2, M)) < 1e-12, `${pl.group} ${st.stage}`);
  }
  for (const g of a.groups!) if (g.group.startsWith('pp')) assert.equal(g.exposedCommNs, 0);
});

test('a plain data-parallel run has only the world group: no per-group table', () => {
  const a = analyze(syntheticRun({ ranks: 2, steps: 4 }));
  assert.equal(a.groups, undefined);
  assert.doesNotMatch(markdownReport(a), /per process group/);
  const m = syntheticRun({ ranks: 2, steps: 4 });
  const all = groupExposures(m, buildRankViews(m), new Set([1, 2]));
  assert.deepEqual(
    all.map((g) => g.group),
    ['world'],
  );
  assert.deepEqual(all[0].ranks, [0, 1]);
});
