/**
 * Compare (analysis/compare.ts) on real traces: a job against itself (every delta zero), the
 * two runs of a tensorboard_trace_handler folder (per-name counts and times checked against
 * the raw JSON), and the HTA pair against a copy mutated so that every delta is known.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { discoverTraces, type TraceRun } from '../../../trace/discover';
import { loadRun } from '../../../trace/load';
import { formatSpeedup } from '../../../trace/format';
import { analyze } from '../../../analysis/index';
import { compareJobs, compareText, CompareError, type CompareInput } from '../../../analysis/compare';
import { fixturesDir, repoRoot } from '../../helpers/paths';
import { syntheticRun } from '../../helpers/syntheticRun';
import { mutateHtaPair } from './compareFixtures';

const FIX = path.join(repoRoot, 'test', 'fixtures', 'pytorch');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-compare-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function jobOf(run: TraceRun, label: string): Promise<CompareInput> {
  const model = await loadRun(run);
  return { label, model, analysis: analyze(model) };
}
async function job(dir: string): Promise<CompareInput> {
  return jobOf(discoverTraces([dir]).chosen, dir);
}

function assertNoChange(j: CompareInput, what: string): void {
  const c = compareJobs(j, j);
  assert.equal(c.figures.stepTimeNs.delta, 0, what);
  assert.equal(c.figures.speedup, 1, what);
  assert.equal(c.figures.direction, 'unchanged', what);
  for (const k of ['exposedCommNs', 'bytesPerStep', 'peakMemoryBytes'] as const)
    if (c.figures[k].a !== undefined) assert.equal(c.figures[k].delta, 0, `${what}: ${k}`);
  assert.equal(c.steps.alignedBy, 'step number', what);
  assert.ok(c.steps.pairs.length > 0, what);
  for (const p of c.steps.pairs) {
    assert.equal(p.a, p.b);
    assert.equal(p.deltaNs, 0);
    assert.equal(p.exposedCommNsA, p.exposedCommNsB);
  }
  const al = c.collectives.alignment;
  assert.ok(al.bySizeAndOrder > 0, `${what}: collectives paired`);
  assert.deepEqual([al.byOrder, al.onlyA, al.onlyB], [0, 0, 0], what);
  assert.ok(c.collectives.kinds.length > 0, what);
  for (const k of c.collectives.kinds) {
    assert.equal(k.status, 'both');
    assert.equal(k.deltaTimePerStepNs, 0);
    assert.deepEqual(k.a, k.b);
  }
  assert.deepEqual(c.collectives.changed, [], what);
  assert.ok(c.ops && c.ops.rows.length > 0, what);
  for (const r of c.ops.rows) {
    assert.equal(r.deltaCount, 0, `${what}: ${r.name}`);
    assert.equal(r.deltaNs, 0, `${what}: ${r.name}`);
    assert.equal(r.status, 'both');
  }
  assert.deepEqual([c.ops.appeared, c.ops.disappeared], [[], []], what);
  assert.match(compareText(c), /step time\s+.* → .*\s+unchanged/, what);
}

test('a job compared with itself: every delta is zero, nothing appears or disappears', async () => {
  assertNoChange(await job(fixturesDir('kineto', 'hta-sampled')), 'HTA pair (Kineto, NCCL)');
  assertNoChange(await job(path.join(FIX, 'plain2')), 'pre-Kineto gloo job');
  const m = syntheticRun({ steps: 5, buckets: 2 });
  const synthetic = { label: 'synthetic', model: m, analysis: analyze(m) };
  assertNoChange(synthetic, 'CommLens-shaped run');
  // A CommLens run says its collectives' sizes: bytes and bus bandwidth are compared.
  const k = compareJobs(synthetic, synthetic).collectives.kinds[0];
  assert.ok(k.a!.totalBytes > 0 && k.a!.busbwGBps! > 0);
});

interface RawEv {
  name: string;
  ph: string;
  ts: number;
  dur: number;
  tid: number;
}

/**
 * Count and total duration (ns) per name of one pre-Kineto rank file in the given
 * ProfilerSteps, by HTA's rule (an event is in the step its start falls in), from the raw JSON.
 */
function rawTotals(file: string, steps: Set<number>): Map<string, { count: number; totalNs: number }> {
  const ev = (JSON.parse(gunzipSync(fs.readFileSync(file)).toString('utf8')) as RawEv[]).filter((e) => e.ph === 'X');
  // The importer's rounding (HTA's): start = ceil(ts), end = floor(ts + dur), in µs.
  const ends = new Map<RawEv, number>();
  for (const e of ev) ends.set(e, Math.max(Math.ceil(e.ts), Math.floor(e.ts + Math.max(0, e.dur))));
  // And its nesting (trace/model.ts): on a thread, an event that starts inside another and ends
  // after it is cut at its parent's end. HTA keeps such events whole; these traces have a few.
  const byThread = new Map<number, RawEv[]>();
  for (const e of ev) byThread.set(e.tid, [...(byThread.get(e.tid) ?? []), e]);
  for (const list of byThread.values()) {
    list.sort(
      (x, y) => Math.ceil(x.ts) - Math.ceil(y.ts) || ends.get(y)! - Math.ceil(y.ts) - (ends.get(x)! - Math.ceil(x.ts)),
    );
    const stack: number[] = [];
    for (const e of list) {
      const s = Math.ceil(e.ts);
      while (stack.length > 0 && stack[stack.length - 1] <= s) stack.pop();
      if (stack.length > 0) ends.set(e, Math.min(ends.get(e)!, stack[stack.length - 1]));
      stack.push(ends.get(e)!);
    }
  }
  const span = (e: RawEv) => ({ s: Math.ceil(e.ts), e: ends.get(e)! });
  const windows = ev
    .filter((e) => /^ProfilerStep#\d+$/.test(e.name))
    .map((e) => ({ step: Number(e.name.slice(13)), ...span(e) }))
    .sort((x, y) => x.s - y.s);
  const out = new Map<string, { count: number; totalNs: number }>();
  for (const e of ev) {
    const { s, e: end } = span(e);
    let step: number | undefined;
    for (const w of windows) if (w.s <= s && s < w.e) step = w.step;
    if (step === undefined || !steps.has(step)) continue;
    const t = out.get(e.name) ?? { count: 0, totalNs: 0 };
    t.count++;
    t.totalNs += (end - s) * 1000;
    out.set(e.name, t);
  }
  return out;
}

test('the two runs of a tensorboard_trace_handler folder: steps by number, all-reduces paired, per-name counts and times as in the raw JSON', async () => {
  const dir = path.join(FIX, 'handler2');
  const found = discoverTraces([dir]);
  assert.equal(found.runs.length, 2);
  const [r1, r2] = found.runs;
  const A = await jobOf(r1, 'run 1'),
    B = await jobOf(r2, 'run 2');
  const c = compareJobs(A, B);
  assert.equal(c.a.worldSize, 2);
  assert.equal(c.steps.alignedBy, 'step number');
  const paired = c.steps.pairs.map((p) => p.a);
  assert.deepEqual(
    paired,
    A.analysis.figures.steadySteps.filter((s) => B.analysis.figures.steadySteps.includes(s)),
  );
  for (const p of c.steps.pairs) {
    assert.equal(p.stepTimeNsA, A.analysis.figures.stepTimesNs.find((s) => s.step === p.a)!.timeNs);
    assert.equal(p.stepTimeNsB, B.analysis.figures.stepTimesNs.find((s) => s.step === p.b)!.timeNs);
    assert.equal(p.deltaNs, p.stepTimeNsB! - p.stepTimeNsA!);
  }
  // The headline: the figures of each job, the speed-up A / B with its direction.
  assert.equal(c.figures.stepTimeNs.a, A.analysis.figures.stepTimeNs);
  assert.equal(c.figures.stepTimeNs.b, B.analysis.figures.stepTimeNs);
  assert.equal(c.figures.speedup, A.analysis.figures.stepTimeNs! / B.analysis.figures.stepTimeNs!);
  assert.equal(c.figures.direction, formatSpeedup(c.figures.speedup!));
  // The same job twice: the same all-reduces in every step, each paired with its counterpart.
  const ar = c.collectives.kinds.find((k) => k.op === 'allReduce')!;
  assert.equal(ar.status, 'both');
  assert.equal(ar.a!.count, ar.b!.count);
  assert.ok(ar.a!.count > 0);
  // Legacy gloo traces do not say a collective's size: no bytes, no bus bandwidth, and the table says '–'.
  assert.deepEqual([ar.a!.sizedCount, ar.a!.busbwGBps], [0, undefined]);
  assert.match(compareText(c), /\n {2}allReduce +1 → 1 +– → – /);
  const al = c.collectives.alignment;
  assert.deepEqual([al.bySizeAndOrder + al.byOrder, al.onlyA, al.onlyB], [ar.a!.count, 0, 0]);
  for (const p of c.collectives.changed) assert.equal(p.deltaNs, p.timeNsB - p.timeNsA);
  assert.equal(ar.deltaTimePerStepNs, ar.b!.timePerStepNs - ar.a!.timePerStepNs);
  // Per name on rank 0, over the paired steps, against the raw files.
  const all = compareJobs(A, B, { rank: 0 });
  const ta = rawTotals(r1.files.find((f) => f.rank === 0)!.path, new Set(paired));
  const tb = rawTotals(r2.files.find((f) => f.rank === 0)!.path, new Set(paired));
  assert.equal(all.ops!.names, new Set([...ta.keys(), ...tb.keys()]).size);
  for (const r of all.ops!.rows) {
    assert.deepEqual(
      [r.countA, r.totalNsA, r.countB, r.totalNsB],
      [
        ta.get(r.name)?.count ?? 0,
        ta.get(r.name)?.totalNs ?? 0,
        tb.get(r.name)?.count ?? 0,
        tb.get(r.name)?.totalNs ?? 0,
      ],
      r.name,
    );
  }
  // Sorted by |Δ time|.
  const d = all.ops!.rows.map((r) => Math.abs(r.deltaNs));
  assert.deepEqual(
    d,
    [...d].sort((x, y) => y - x),
  );
});

test('the HTA pair against a copy with known changes: removed, renamed and shortened kernels, steps unchanged', async () => {
  const MUTATION = mutateHtaPair(tmp);
  const { dirA, dirB } = MUTATION;
  const A = await job(dirA),
    B = await job(dirB);
  const c = compareJobs(A, B);
  // Step markers untouched: the same step time; the headline says so.
  assert.equal(c.steps.alignedBy, 'step number');
  assert.deepEqual(
    c.steps.pairs.map((p) => [p.a, p.b]),
    [[551, 551]],
  );
  assert.equal(c.figures.stepTimeNs.delta, 0);
  assert.equal(c.figures.direction, 'unchanged');
  // Bytes per step of a PyTorch trace: its collectives' own sizes (runFigures.ts), per rank, the largest.
  const perRank = [0, 1].map((r) =>
    A.analysis
      .collectives!.instances.filter((i) => i.step === 551 && i.participants.some((p) => p.rank === r))
      .reduce((t, i) => t + (i.bytes ?? 0), 0),
  );
  assert.ok(perRank[0] > 0);
  assert.equal(c.figures.bytesPerStep.a, Math.max(...perRank));
  assert.equal(c.figures.bytesPerStep.delta, 0);
  // Shorter NCCL kernels: less exposed communication.
  assert.ok(c.figures.exposedCommNs.b! < c.figures.exposedCommNs.a!);
  const o = c.ops!;
  assert.equal(o.rank, 0);
  const row = (n: string) => o.rows.find((r) => r.name === n)!;
  const removed = row(MUTATION.removed);
  assert.equal(removed.status, 'disappeared');
  assert.ok(removed.countA > 0);
  assert.deepEqual([removed.countB, removed.totalNsB, removed.deltaNs], [0, 0, -removed.totalNsA]);
  const renamedFrom = row(MUTATION.renamed),
    renamedTo = row(`${MUTATION.renamed}${MUTATION.suffix}`);
  assert.equal(renamedFrom.status, 'disappeared');
  assert.equal(renamedTo.status, 'appeared');
  assert.deepEqual([renamedTo.countA, renamedTo.countB], [0, renamedFrom.countA]);
  assert.equal(renamedTo.totalNsB, renamedFrom.totalNsA);
  assert.ok(o.appeared.includes(renamedTo.name) && o.disappeared.includes(renamedFrom.name));
  assert.ok(o.disappeared.includes(removed.name));
  const nccl = o.rows.filter((r) => r.name.startsWith('ncclKernel_SendRecv'));
  assert.ok(nccl.length > 0);
  for (const r of nccl) {
    assert.equal(r.countB, r.countA);
    assert.equal(r.totalNsB, r.countA * MUTATION.ncclDurUs * 1000, r.name);
  }
  const changedNames = new Set([removed.name, renamedFrom.name, renamedTo.name, ...nccl.map((r) => r.name)]);
  for (const r of o.rows) if (!changedNames.has(r.name)) assert.deepEqual([r.deltaCount, r.deltaNs], [0, 0], r.name);
  // The biggest change first: the NCCL kernels lost the most time.
  assert.ok(Math.abs(o.rows[0].deltaNs) >= Math.abs(o.rows[o.rows.length - 1].deltaNs));
  // Collectives (the SendRecv kernels are all-to-alls, all-reduces and an all-gather by their
  // launchers' record_param_comms): each paired with its counterpart, each now ncclDurUs long.
  const kinds = c.collectives.kinds;
  assert.deepEqual(kinds.map((x) => x.op).sort(), ['allGather', 'allReduce', 'allToAll']);
  let count = 0;
  for (const k of kinds) {
    assert.equal(k.status, 'both');
    assert.equal(k.a!.count, k.b!.count);
    assert.equal(k.a!.totalBytes, k.b!.totalBytes);
    assert.equal(k.a!.sizedCount, k.a!.count);
    assert.equal(k.b!.totalTimeNs, k.b!.count * MUTATION.ncclDurUs * 1000);
    assert.equal(k.b!.medianTimeNs, MUTATION.ncclDurUs * 1000);
    // The same bytes in less time: a higher bus bandwidth.
    assert.ok(k.b!.busbwGBps! > k.a!.busbwGBps!);
    assert.equal(k.deltaTimePerStepNs, k.b!.timePerStepNs - k.a!.timePerStepNs);
    count += k.a!.count;
  }
  assert.ok(count > 0);
  assert.deepEqual(
    [
      c.collectives.alignment.bySizeAndOrder,
      c.collectives.alignment.onlyA,
      c.collectives.alignment.onlyB,
      c.collectives.alignment.byOrder,
    ],
    [count, 0, 0, 0],
  );
  assert.equal(c.collectives.changed.length, count);
  for (const p of c.collectives.changed) assert.equal(p.timeNsB, MUTATION.ncclDurUs * 1000);
  // --rank 1: the per-name table and collective times of rank 1.
  const r1 = compareJobs(A, B, { rank: 1, top: 5 });
  assert.equal(r1.ops!.rank, 1);
  assert.equal(r1.collectives.rank, 1);
  assert.equal(r1.ops!.rows.length, 5);
  assert.ok(r1.ops!.names > 5);
  assert.equal(r1.collectives.changed.length, 5);
});

test('jobs of different world sizes, or a rank one job lacks, cannot be compared: the message says why', async () => {
  const two = await job(path.join(FIX, 'plain2')),
    four = await job(path.join(FIX, 'plain4'));
  assert.throws(
    () => compareJobs(two, four),
    (e: unknown) => {
      assert.ok(e instanceof CompareError);
      assert.match((e as Error).message, /different world sizes: A has 2 ranks, B has 4/);
      return true;
    },
  );
  assert.throws(() => compareJobs(two, two, { rank: 3 }), /--rank 3: A has ranks 0, 1 and B has ranks 0, 1/);
});

test('steps paired in order when the jobs share no step numbers, and the pairing is said', async () => {
  const m1 = syntheticRun({ steps: 5 }),
    m2 = syntheticRun({ steps: 5 });
  // Renumber B's steps (a profiler window elsewhere in the job).
  for (const s of m2.slices)
    if (s.category === 'step') {
      const n = (s.args?.step as number) + 100;
      s.args = { ...s.args, step: n };
      s.name = `step ${n}`;
    }
  const c = compareJobs(
    { label: 'a', model: m1, analysis: analyze(m1) },
    { label: 'b', model: m2, analysis: analyze(m2) },
  );
  assert.equal(c.steps.alignedBy, 'order');
  assert.match(c.steps.note, /share no step numbers .*paired in order/);
  assert.ok(c.steps.pairs.length > 0);
  for (const p of c.steps.pairs) assert.equal(p.b, p.a + 100);
  assert.deepEqual([c.collectives.alignment.onlyA, c.collectives.alignment.onlyB], [0, 0]);
});
