// Ranks digested where they are read (analysis/rankDigest.ts): each rank's per-rank figures are
// computed in its scan worker from all its ops, and only its communication ops, step markers,
// collectives and the ops of its last few steps reach the main thread. The analysis made from
// the digests equals the one made from whole ranks, figure for figure, on a tiled 20-step job
// where most ops are pruned; ranks whose steps do not line up are analysed whole instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fixturesDir, repoRoot } from '../../helpers/paths';
import { tiledPairJob } from '../../../bench/scaleJobs';
import { shiftedStepsJob } from '../../helpers/kinetoJobs';
import { loadKinetoJob } from '../../../trace/kinetoJob';
import { analyze, mapSliceIndexes, markdownReport, type Analysis } from '../../../analysis/index';
import { analyzeKinetoJob } from '../../../analysis/kinetoJobAnalysis';
import { digestReducedRank, materializeView, type WireDigest } from '../../../analysis/rankDigest';
import { opsOfStep, PartialViewError } from '../../../analysis/rankView';

const asJson = (a: Analysis) => JSON.parse(JSON.stringify(a)) as Record<string, unknown>;

const tiledJob = () => tiledPairJob('digest', fixturesDir('kineto', 'hta-sampled'));

async function wholeRanks(files: string[], includeLastStep: boolean): Promise<Analysis> {
  const job = await loadKinetoJob(
    files.map((p) => ({ path: p })),
    { cache: false },
  );
  return mapSliceIndexes(analyze(job.model, { includeLastStep }), (i) => job.sliceOrigin[i]);
}

let files: string[];
test.before(async () => {
  files = await tiledJob();
});

test('digested ranks give the analysis of whole ranks, figure for figure, with most ops left in the workers', async () => {
  for (const includeLastStep of [false, true]) {
    const whole = await wholeRanks(files, includeLastStep);
    const r = await analyzeKinetoJob(
      files.map((p) => ({ path: p })),
      { cache: false, options: { includeLastStep } },
    );
    assert.equal(r.digested, true, 'the ranks were digested');
    assert.ok(whole.figures.steadySteps.length >= 10, `steady steps: ${whole.figures.steadySteps.length}`);
    assert.deepEqual(asJson(r.analysis), asJson(whole), `includeLastStep ${includeLastStep}`);
    assert.equal(markdownReport(r.analysis), markdownReport(whole));
  }
  // What reaches the main thread: a fraction of the slices.
  const opts = { includeLastStep: false, keptSteps: 5 };
  const rankFiles = files.map((p) => ({ path: p }));
  const full = await loadKinetoJob(rankFiles, { cache: false });
  const pruned = await loadKinetoJob(rankFiles, {
    cache: false,
    digest: opts,
    localTransform: digestReducedRank,
  });
  assert.ok(
    pruned.model.slices.length < 0.35 * full.model.slices.length,
    `${pruned.model.slices.length} of ${full.model.slices.length} slices kept`,
  );
  assert.equal(pruned.digests.filter((d) => d !== undefined).length, 2);
});

test('a scan worker without the digest: the ranks are digested on this thread, the same analysis', async () => {
  const whole = await wholeRanks(files, false);
  const r = await analyzeKinetoJob(
    files.map((p) => ({ path: p })),
    { cache: false, options: {}, workerPath: path.join(repoRoot, 'out', 'trace', 'kinetoScanWorker.js') },
  );
  assert.equal(r.digested, true);
  assert.deepEqual(asJson(r.analysis), asJson(whole));
});

test('a digested view refuses the ops of a step it did not keep; the last step is kept', async () => {
  const job = await loadKinetoJob(
    files.map((p) => ({ path: p })),
    { cache: false, digest: { includeLastStep: false, keptSteps: 2 }, localTransform: digestReducedRank },
  );
  const v = materializeView(job.digests[0] as WireDigest, job.places[0]);
  const analysed = v.analysedSteps.map((s) => s.step).sort((a, b) => a - b);
  const last = analysed[analysed.length - 1];
  assert.ok(opsOfStep(v, last).length > 0);
  assert.ok(opsOfStep(v, analysed[analysed.length - 2]).length > 0);
  assert.throws(() => opsOfStep(v, analysed[0]), PartialViewError);
  assert.throws(() => opsOfStep(v, undefined), PartialViewError);
  // The per-rank figures are the whole rank's: every analysed step is in the metrics.
  assert.deepEqual(
    v.partial!.digest.metrics.steps.map((s) => s.step),
    v.analysedSteps.map((s) => s.step),
  );
});

test('fewer kept steps (many ranks): the per-rank figures and the critical path are still those of whole ranks', async () => {
  const whole = await wholeRanks(files, false);
  const r = await analyzeKinetoJob(
    files.map((p) => ({ path: p })),
    { cache: false, options: {}, keptSteps: 1 },
  );
  assert.equal(r.digested, true);
  const a = asJson(r.analysis),
    b = asJson(whole);
  for (const k of ['ranks', 'figures', 'collectives', 'stragglers', 'criticalPath', 'flops', 'memory', 'settings'])
    assert.deepEqual(a[k], b[k], k);
  // The replay reads the last step only.
  assert.equal(r.analysis.replay?.step, whole.replay?.step);
});

test('ranks whose steps do not line up are analysed from whole ranks, with the same figures', async () => {
  // Rank 1's steps renumbered 6 lower: the steps both ranks share end 6 before rank 0's last,
  // outside the steps rank 0 keeps whole.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-digest-shift-'));
  const shifted = shiftedStepsJob(files, dir);
  const whole = await wholeRanks(shifted, false);
  const r = await analyzeKinetoJob(
    shifted.map((p) => ({ path: p })),
    { cache: false, options: {} },
  );
  assert.equal(r.digested, false, 'analysed whole');
  assert.deepEqual(asJson(r.analysis), asJson(whole));
});
