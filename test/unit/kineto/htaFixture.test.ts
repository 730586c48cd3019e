// The HTA-sampled pair: our metrics must equal what Holistic Trace Analysis reports
// (shared/fixtures/README.md) to within 0.05 percentage points, here to the microsecond.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { fixturesDir } from '../../helpers/paths';
import { importKineto, importKinetoFile, importKinetoFolder } from '../../../trace/kineto';
import { readKinetoFile } from '../../../trace/kinetoRead';
import { analyzeCommand } from '../../../cli/commands/analyze';
import { analyze, type Analysis } from '../../../analysis/index';
import type { TraceModel } from '../../../trace/model';

const fixtures = fixturesDir('kineto', 'hta-sampled');
const files = [path.join(fixtures, 'sampled_rank-0.json.gz'), path.join(fixtures, 'sampled_rank-1.json.gz')];

let model: TraceModel | undefined;
async function pair(): Promise<TraceModel> {
  model ??= await importKinetoFolder(files);
  return model;
}

const us = (ns: number) => ns / 1000;

function expectRank(
  a: Analysis,
  rank: number,
  want: {
    idle: number;
    compute: number;
    nonCompute: number;
    span: number;
    overlapPct: number;
    pcts?: [number, number, number];
  },
) {
  const r = a.ranks.find((x) => x.rank === rank);
  assert.ok(r, `rank ${rank} analysed`);
  assert.equal(us(r.temporal.idleNs), want.idle, 'idle µs');
  assert.equal(us(r.temporal.computeNs), want.compute, 'compute µs');
  assert.equal(us(r.temporal.nonComputeNs), want.nonCompute, 'non-compute µs');
  assert.equal(us(r.temporal.spanNs), want.span, 'kernel span µs');
  assert.ok(
    Math.abs(r.overlap.overlapPct - want.overlapPct) < 0.05,
    `overlap ${r.overlap.overlapPct} vs ${want.overlapPct}`,
  );
  if (want.pcts) {
    const [i, c, n] = want.pcts;
    assert.ok(Math.abs(r.temporal.idlePct - i) < 0.05, `idle % ${r.temporal.idlePct} vs ${i}`);
    assert.ok(Math.abs(r.temporal.computePct - c) < 0.05, `compute % ${r.temporal.computePct} vs ${c}`);
    assert.ok(Math.abs(r.temporal.nonComputePct - n) < 0.05, `non-compute % ${r.temporal.nonComputePct} vs ${n}`);
  }
}

test('import: ranks, world size, streams and NCCL collectives from distributedInfo', async () => {
  const m = await pair();
  assert.deepEqual(
    m.processes.map((p) => p.rank),
    [0, 1],
  );
  assert.equal(m.meta.worldSize, 128);
  assert.equal(m.meta.format, 'kineto');
  const r0Streams = m.tracks.filter((t) => t.pid === 0 && t.gpu).map((t) => t.sourceId);
  assert.deepEqual(r0Streams, [7, 23, 25, 84, 203]);
  const r0Kernels = m.slices.filter((s) => m.tracks[s.track].pid === 0 && m.tracks[s.track].gpu);
  assert.equal(r0Kernels.filter((s) => s.category === 'kernel').length, 1144);
  const nccl = r0Kernels.filter((s) => s.category === 'collective');
  assert.equal(nccl.length, 10);
  // SendRecv kernels launched under `nccl:all_to_all` are all-to-alls; the launcher's
  // `Input Dims` / `Input type` give the bytes.
  const ops = nccl.map((s) => s.args?.op);
  assert.deepEqual([...new Set(ops)].sort(), ['allGather', 'allReduce', 'allToAll']);
  assert.equal(nccl[0].args?.algorithm, 'RING_SIMPLE');
  const allReduce = nccl.filter((s) => s.args?.op === 'allReduce');
  assert.deepEqual(
    allReduce.map((s) => s.args?.seq),
    [0, 1, 2, 3],
  );
  assert.equal(allReduce[0].args?.bytes, 19618307 * 4);
  assert.equal(allReduce[0].args?.dtype, 'float');
  const steps = m.slices.filter((s) => s.category === 'step' && m.tracks[s.track].pid === 0).map((s) => s.args?.step);
  assert.deepEqual(steps, [551, 552]);
  // Kernels keep their correlation to the launching runtime call, and a flow joins them.
  assert.ok(r0Kernels.every((s) => typeof s.args?.correlation === 'number'));
  assert.ok(m.flows.length >= 2 * 1154);
  // Integer µs become exact integer ns.
  assert.ok(m.slices.every((s) => Number.isInteger(s.startNs / 1000) && Number.isInteger(s.durNs / 1000)));
});

test('temporal breakdown and overlap equal HTA (default: last step left out)', async () => {
  const a = analyze(await pair());
  expectRank(a, 0, {
    idle: 321378,
    compute: 106252,
    nonCompute: 172428,
    span: 600058,
    overlapPct: 11.81,
    pcts: [53.56, 17.71, 28.74],
  });
  expectRank(a, 1, {
    idle: 328671,
    compute: 135548,
    nonCompute: 136455,
    span: 600674,
    overlapPct: 20.05,
    pcts: [54.72, 22.57, 22.72],
  });
  assert.deepEqual(a.ranks[0].stepsAnalysed, [551]);
});

test('temporal breakdown and overlap equal HTA with the last step included', async () => {
  const a = analyze(await pair(), { includeLastStep: true });
  expectRank(a, 0, { idle: 675191, compute: 210320, nonCompute: 337336, span: 1222847, overlapPct: 14.95 });
  expectRank(a, 1, { idle: 651136, compute: 271973, nonCompute: 308077, span: 1231186, overlapPct: 19.93 });
  assert.deepEqual(a.ranks[1].stepsAnalysed, [551, 552]);
});

test('kernel-type time summed over ranks equals HTA', async () => {
  const k = analyze(await pair()).kernelTypeTotalsNs;
  assert.equal(us(k.COMMUNICATION), 305584);
  assert.equal(us(k.COMPUTATION), 185023);
  assert.equal(us(k['COMPUTATION overlapping COMMUNICATION']), 56747);
  assert.equal(us(k.MEMORY), 2288);
});

test('idle breakdown of stream 7 equals HTA on both ranks', async () => {
  const a = analyze(await pair());
  const s0 = a.ranks[0].idleByStream.find((s) => s.stream === 7);
  const s1 = a.ranks[1].idleByStream.find((s) => s.stream === 7);
  assert.ok(s0 && s1);
  assert.deepEqual([us(s0.hostWaitNs), us(s0.kernelWaitNs), us(s0.otherNs)], [213825, 1985, 261740]);
  assert.deepEqual([us(s1.hostWaitNs), us(s1.kernelWaitNs), us(s1.otherNs)], [156827, 1816, 281064]);
  assert.equal(Math.round(s0.hostWaitRatio * 100) / 100, 0.45);
});

test('per-step metrics: the analysed step carries the same numbers as the window', async () => {
  const a = analyze(await pair());
  const st = a.ranks[0].steps;
  assert.equal(st.length, 1);
  assert.equal(st[0].step, 551);
  assert.equal(us(st[0].temporal.idleNs), 321378);
  assert.equal(us(st[0].durNs), 607312);
  assert.ok(st[0].overlap.exposedCommNs > 0 && st[0].overlap.exposedCommNs < st[0].overlap.commNs);
});

test('one rank alone imports and analyses with a note about cross-rank metrics', async () => {
  const m = await importKinetoFile(files[1]);
  const a = analyze(m);
  assert.equal(a.ranks.length, 1);
  assert.equal(a.ranks[0].rank, 1);
  assert.equal(us(a.ranks[0].temporal.idleNs), 328671);
  assert.ok(a.notes.some((n) => /only one rank/.test(n)));
});

test('the streaming reader (used above 64 MiB) gives the same trace as the whole-file parse', async () => {
  const whole = await readKinetoFile(files[0]);
  const streamed = await readKinetoFile(files[0], { streamAboveBytes: 0 });
  assert.deepEqual(streamed, whole);
  const a = analyze(importKineto(streamed, { fileName: files[0] }));
  assert.equal(us(a.ranks[0].temporal.idleNs), 321378);
});

async function captureStdout(
  f: (io: { out: (t: string) => void; err: (t: string) => void }) => Promise<number>,
): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await f({ out: (t) => (out += t), err: () => undefined });
  return { code, out };
}

test("`analyze <folder> --per-rank-json` prints HTA's numbers keyed by rank, with and without the last step", async () => {
  // --no-cache: the parse cache would go beside the shared fixtures, which other tests copy.
  const dflt = await captureStdout((io) => analyzeCommand([fixtures, '--per-rank-json', '--no-cache'], io));
  assert.equal(dflt.code, 0);
  const j = JSON.parse(dflt.out) as Record<string, Record<string, number>>;
  assert.deepEqual(Object.keys(j), ['0', '1']);
  assert.deepEqual(
    [j['0'].idle_us, j['0'].compute_us, j['0'].non_compute_us, j['0'].kernel_span_us, j['0'].overlap_pct],
    [321378, 106252, 172428, 600058, 11.81],
  );
  assert.deepEqual([j['1'].idle_us, j['1'].overlap_pct], [328671, 20.05]);
  const last = JSON.parse(
    (
      await captureStdout((io) =>
        analyzeCommand([fixtures, '--per-rank-json', '--include-last-step', '--no-cache'], io),
      )
    ).out,
  ) as Record<string, Record<string, number>>;
  assert.deepEqual([last['0'].idle_us, last['0'].kernel_span_us, last['0'].overlap_pct], [675191, 1222847, 14.95]);
  const md = await captureStdout((io) => analyzeCommand([files[0], files[1], '--no-cache'], io));
  assert.match(
    md.out,
    /\| 0 \| 600,058 \| 321,378 \| 106,252 \| 172,428 \| 53\.56 % \| 17\.71 % \| 28\.74 % \| 11\.81 %/,
  );
});

test('critical path of step 551 across both ranks: ordered, within the step, through real spans', async () => {
  const a = analyze(await pair());
  const cp = a.criticalPath!;
  assert.equal(cp.step, 551);
  assert.ok(cp.segments.length > 10);
  for (let i = 1; i < cp.segments.length; i++) {
    const prev = cp.segments[i - 1],
      cur = cp.segments[i];
    assert.ok(prev.startNs + prev.durNs <= cur.startNs + 1, `segment ${i} starts before its predecessor ends`);
  }
  const m = await pair();
  for (const s of cp.segments)
    if (s.sliceIndex !== undefined) assert.ok(m.slices[s.sliceIndex].name.startsWith(s.name!.replace(/…$/, '')));
  const total = Object.values(cp.byKindNs).reduce((x, y) => x + y, 0);
  assert.equal(total, cp.totalNs);
  assert.ok(cp.totalNs <= a.replay!.measuredStepNs + 1e6);
  assert.ok(
    (a.replay?.calibrationErrorPct ?? 100) < 15,
    `the replay reproduces the step within 15 % (got ${a.replay?.calibrationErrorPct})`,
  );
});
