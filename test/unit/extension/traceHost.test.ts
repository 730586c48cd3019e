/**
 * The trace worker: loading and analysis run in a worker thread with a heap limit, so a
 * trace too big to open ends the worker with a message and the host (this process, as the
 * extension host would be) goes on.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { threadId } from 'node:worker_threads';
import { openTrace, workerHeapMb } from '../../../extension/traceHost';
import { decodeTrace, encodeTrace } from '../../../trace/binary';
import { importKinetoFolder } from '../../../trace/kineto';
import { analyzeKinetoJob } from '../../../analysis/kinetoJobAnalysis';
import { toAnalysisView } from '../../../extension/analysisView';
import { fixturesDir } from '../../helpers/paths';
import type { JobProgress } from '../../../trace/kinetoJob';
import { jobProgressMessage } from '../../../extension/traceService';

const pair = ['sampled_rank-0.json.gz', 'sampled_rank-1.json.gz'].map((f) => fixturesDir('kineto', 'hta-sampled', f));
// The parse cache and the ranks' indexes go here, not beside the shared fixtures (the worker
// threads read this process's environment).
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-worker-cache-'));
process.env.COMMLENS_CACHE_DIR = cacheDir;
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

test('a job opens in a worker: analysis, warnings and encodings come back; closing ends the worker', async (ctx) => {
  const t = await openTrace(pair, 'pair');
  // Closed whatever happens: a failed assertion must not leave a worker that keeps the test file running.
  ctx.after(() => t.dispose());
  assert.equal(threadId, 0, 'the test runs on the main thread');
  assert.ok(t.ok, t.ok ? '' : t.message);
  if (!t.ok) return;
  assert.ok(t.analysis && t.analysis.ranks.length === 2);
  assert.ok(t.sliceCount > 4000);
  const whole = decodeTrace(await t.encodeWhole());
  assert.equal(whole.sliceTrack.length, t.sliceCount);
  const window = decodeTrace(await t.encode({ window: { startNs: 0, endNs: 1_000_000 }, minDurNs: 0 }));
  assert.ok(window.sliceTrack.length > 0 && window.sliceTrack.length < t.sliceCount);
  // Views of the level-of-detail index and searches come from the worker too (protocol steps 10–11).
  assert.equal(t.windowed, false, 'a 4,000-slice job is sent whole');
  const view = decodeTrace(await t.view({ startNs: 0, endNs: 2_000_000, nsPerPx: 10_000 }));
  assert.equal(view.header.detail?.lod?.nsPerPx, 10_000);
  assert.ok(view.sliceTrack.length > 0 && view.sliceTrack.length < t.sliceCount);
  const found = await t.search('nccl');
  assert.ok(found.total > 0 && found.slices.length === Math.min(found.total, 10_000));
  await assert.rejects(t.view({ startNs: 5, endNs: 0, nsPerPx: 1 }), /startNs ≤ endNs/);
  t.dispose();
  await assert.rejects(t.encodeWhole(), /the trace was closed/);
});

test('a trace that cannot be parsed comes back as a message naming the file', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-worker-'));
  try {
    const f = path.join(dir, 'broken.json');
    fs.writeFileSync(f, 'this is not a trace at all');
    const t = await openTrace([f], 'broken.json');
    assert.equal(t.ok, false);
    if (!t.ok) assert.match(t.message, /broken\.json/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a trace over the budget, or a worker out of its heap, ends with a message; the host goes on', async (ctx) => {
  const refused = await openTrace(pair, 'pair', { maxTraceBytes: 1 });
  assert.equal(refused.ok, false, 'a 1-byte budget refuses the trace');
  if (!refused.ok) assert.match(refused.message, /needs about .* more than the limit/);
  // A heap far too small for a real job: the worker dies of it, this thread does not.
  const oom = await openTrace(pair, 'pair', { heapMb: 4 });
  assert.equal(oom.ok, false, 'a 4 MB heap cannot hold the job');
  if (!oom.ok) assert.match(oom.message, /more than the 4 MB the trace worker may use/);
  assert.ok(workerHeapMb(8 * 2 ** 30) > 8192, 'the heap follows the budget');
  const again = await openTrace(pair, 'pair');
  ctx.after(() => again.dispose());
  assert.equal(again.ok, true, 'the next trace opens as usual');
  again.dispose();
});

test('a job that `analyze` has cached opens with its indexes made in the workers, the panel hearing of each', async (ctx) => {
  const own = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-worker-analyzed-'));
  ctx.after(() => fs.rmSync(own, { recursive: true, force: true }));
  const files = pair.map((f) => path.join(own, path.basename(f)));
  pair.forEach((f, i) => fs.copyFileSync(f, files[i]));
  // What `commlens analyze` leaves: the job's analysis and the digested ranks, no index.
  await analyzeKinetoJob(
    files.map((f) => ({ path: f })),
    { cache: { dir: cacheDir }, options: { includeLastStep: false } },
  );
  const progress: JobProgress[] = [];
  const t = await openTrace(files, 'job', { onProgress: (p) => progress.push(p) });
  ctx.after(() => t.dispose());
  assert.ok(t.ok, t.ok ? '' : t.message);
  if (!t.ok) return;
  assert.equal(t.fromCache, 'job', 'the analysis came from the job cache');
  assert.deepEqual(progress, [
    { done: 0, ranks: 2, fromCache: 0 },
    { done: 1, ranks: 2, fromCache: 0 },
    { done: 2, ranks: 2, fromCache: 0 },
  ]);
  assert.ok(decodeTrace(await t.encodeWhole()).sliceTrack.length > 4000, 'and the indexes answer');
});

test("a Kineto job opens as analyze reads it, with each rank's index cached; a re-open reads the caches", async () => {
  const own = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-worker-job-'));
  // Closed at the end whatever happens: a failed assertion must not leave a worker that keeps the test running.
  const opened: { dispose(): void }[] = [];
  let progress: JobProgress[] = [];
  const open = async (files: string[]) => {
    progress = [];
    const t = await openTrace(files, 'job', { onProgress: (p) => progress.push(p) });
    if (t.ok) opened.push(t);
    return t;
  };
  try {
    const files = pair.map((f) => path.join(own, path.basename(f)));
    pair.forEach((f, i) => fs.copyFileSync(f, files[i]));
    const before = fs.readdirSync(cacheDir).filter((f) => f.includes(own.replace(/[^A-Za-z0-9._-]/g, '_')));
    assert.deepEqual(before, []);
    const cold = await open(files);
    assert.ok(cold.ok, cold.ok ? '' : cold.message);
    if (!cold.ok) return;
    assert.equal(cold.fromCache, 0, 'nothing cached: both ranks were scanned');
    // The panel hears of each rank as it is read (extension/tracePanel.ts shows it).
    assert.deepEqual(progress, [
      { done: 0, ranks: 2, fromCache: 0 },
      { done: 1, ranks: 2, fromCache: 0 },
      { done: 2, ranks: 2, fromCache: 0 },
    ]);
    assert.match(jobProgressMessage(progress[1]), /1 of 2 done…$/);
    // The analysis is the CLI's (analysis/kinetoJobAnalysis.ts), slice links in the importer model's terms.
    const cli = await analyzeKinetoJob(
      files.map((f) => ({ path: f })),
      { cache: false, options: { includeLastStep: false } },
    );
    assert.deepEqual(cold.analysis, JSON.parse(JSON.stringify(toAnalysisView(cli.analysis))));
    // Each rank's index beside its reduction.
    const entries = fs.readdirSync(cacheDir);
    for (const f of files) {
      const base = path.basename(f);
      assert.ok(
        entries.some((e) => e.startsWith(base) && e.endsWith('.lod')),
        `${base}'s index is cached`,
      );
      // The rank as the analysis reads it: digested (trace/parseCache.ts), not the whole reduced rank.
      assert.ok(
        entries.some((e) => e.startsWith(base) && e.endsWith('.digest')),
        `${base}'s digest is cached`,
      );
      assert.ok(!entries.some((e) => e.startsWith(base) && e.endsWith('.rank')), `${base}: no whole rank is cached`);
    }
    const lods = entries.filter((e) => e.endsWith('.lod')).map((e) => path.join(cacheDir, e));
    const stamps = lods.map((f) => fs.statSync(f).mtimeMs);
    // The whole job as the importer's model would encode it, and a view of it.
    const model = await importKinetoFolder(files);
    const whole = decodeTrace(await cold.encodeWhole());
    const ref = decodeTrace(encodeTrace(model));
    assert.equal(cold.sliceCount, model.slices.length);
    assert.deepEqual(Array.from(whole.sliceStart), Array.from(ref.sliceStart));
    assert.deepEqual(Array.from(whole.sliceTrack), Array.from(ref.sliceTrack));
    const req = { startNs: 0, endNs: 3_000_000, nsPerPx: 20_000 };
    const coldView = await cold.view(req);
    const coldSearch = await cold.search('nccl');
    cold.dispose();

    const warm = await open(files);
    assert.ok(warm.ok, warm.ok ? '' : warm.message);
    if (!warm.ok) return;
    assert.equal(warm.fromCache, 'job', 'the analysis comes from the job cache');
    assert.deepEqual(progress, [], 'no rank read: no progress');
    assert.deepEqual(
      lods.map((f) => fs.statSync(f).mtimeMs),
      stamps,
      'the indexes are read, not made again',
    );
    assert.deepEqual(warm.analysis, cold.analysis);
    assert.deepEqual(new Uint8Array(await warm.view(req)), new Uint8Array(coldView));
    assert.deepEqual(await warm.search('nccl'), coldSearch);
    warm.dispose();
    // A rank file rewritten in place is read again (its index and the job's analysis are stale).
    fs.appendFileSync(files[1], Buffer.alloc(0));
    const later = new Date(Date.now() + 5000);
    fs.utimesSync(files[1], later, later);
    const again = await open(files);
    assert.ok(again.ok && again.fromCache === 1, 'one rank from the cache, the touched one scanned');
    assert.equal(progress.length, 3);
    assert.deepEqual(progress.at(-1), { done: 2, ranks: 2, fromCache: 1 });
    assert.match(
      jobProgressMessage(progress.at(-1)!),
      /2 of 2 done, 1 from the parse cache; putting the job together…$/,
    );
    again.dispose();
  } finally {
    for (const t of opened) t.dispose();
    fs.rmSync(own, { recursive: true, force: true });
  }
});
