/**
 * The trace worker: loading and analysis run in a worker thread with a heap limit, so a
 * trace too big to open ends the worker with a message and the host (this process, as the
 * extension host would be) goes on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { threadId } from 'node:worker_threads';
import { openTrace, workerHeapMb } from '../../../extension/traceHost';
import { decodeTrace } from '../../../trace/binary';
import { fixturesDir } from '../../helpers/paths';

const pair = ['sampled_rank-0.json.gz', 'sampled_rank-1.json.gz'].map((f) => fixturesDir('kineto', 'hta-sampled', f));

test('a job opens in a worker: analysis, warnings and encodings come back; closing ends the worker', async () => {
  const t = await openTrace(pair, 'pair');
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

test('a trace over the budget, or a worker out of its heap, ends with a message; the host goes on', async () => {
  const refused = await openTrace(pair, 'pair', { maxTraceBytes: 1 });
  assert.equal(refused.ok, false, 'a 1-byte budget refuses the trace');
  if (!refused.ok) assert.match(refused.message, /needs about .* more than the limit/);
  // A heap far too small for a real job: the worker dies of it, this thread does not.
  const oom = await openTrace(pair, 'pair', { heapMb: 4 });
  assert.equal(oom.ok, false, 'a 4 MB heap cannot hold the job');
  if (!oom.ok) assert.match(oom.message, /more than the 4 MB the trace worker may use/);
  assert.ok(workerHeapMb(8 * 2 ** 30) > 8192, 'the heap follows the budget');
  const again = await openTrace(pair, 'pair');
  assert.equal(again.ok, true, 'the next trace opens as usual');
  again.dispose();
});
