/**
 * PyTorch jobs as users bring them: real pre-Kineto traces of a gloo DDP job
 * (test/fixtures/pytorch, see its README), tensorboard_trace_handler folders holding
 * several runs, folders mixing formats, and files whose rank is nowhere.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { gunzipSync } from 'node:zlib';
import { discoverTraces } from '../../../trace/discover';
import { loadRun } from '../../../trace/load';
import { readKinetoFile } from '../../../trace/kinetoRead';
import { importKineto } from '../../../trace/kineto';
import { analyze } from '../../../analysis/index';
import { analyzeCommand } from '../../../cli/commands/analyze';
import { writeChromeJson } from '../../../trace/chromeJson';
import { writePerfetto } from '../../../trace/perfettoWriter';
import { twoRankModel } from './fixtures';
import { repoRoot } from '../../helpers/paths';

const FIX = path.join(repoRoot, 'test', 'fixtures', 'pytorch');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-pytorch-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface RawEv {
  name: string;
  ph: string;
  ts: number;
  dur: number;
  tid: number;
}
function raw(file: string): RawEv[] {
  return JSON.parse(gunzipSync(fs.readFileSync(file)).toString('utf8')) as RawEv[];
}

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '',
    err = '';
  const code = await analyzeCommand(args, { out: (t: string) => (out += t), err: (t: string) => (err += t) });
  return { code, out, err };
}

for (const [dir, world] of [
  ['plain2', 2],
  ['plain4', 4],
] as const) {
  test(`pre-Kineto gloo job (${dir}): every gloo all-reduce is one collective, with its times, on the CPU timeline`, async () => {
    const found = discoverTraces([path.join(FIX, dir)]);
    assert.equal(found.runs.length, 1);
    assert.equal(found.chosen.kind, 'pre-kineto');
    assert.deepEqual(found.chosen.ranks, [...Array(world).keys()]);
    assert.ok(found.chosen.files.every((f) => f.rankFrom === 'file name'));
    const model = await loadRun(found.chosen);
    const a = analyze(model);
    for (const f of found.chosen.files) {
      const events = raw(f.path);
      const gloo = events.filter((e) => e.name.startsWith('gloo:')).sort((x, y) => x.ts - y.ts);
      const c10d = events.filter((e) => e.name.startsWith('c10d::'));
      assert.ok(gloo.length > 0 && gloo.length === c10d.length, 'each collective shows as a c10d op and a gloo op');
      const rank = f.rank as number;
      const pid = model.processes.find((p) => p.rank === rank)!.pid;
      const mine = model.slices
        .filter((s) => s.category === 'collective' && model.tracks[s.track].pid === pid)
        .sort((x, y) => x.startNs - y.startNs);
      // Counted once: the gloo op is the collective, its c10d parent is not another.
      assert.equal(mine.length, gloo.length, `rank ${rank}`);
      mine.forEach((s, i) => {
        assert.equal(s.name, gloo[i].name);
        assert.equal(s.args?.op, 'allReduce');
        assert.equal(s.args?.launcher, 'c10d::allreduce_');
        // HTA's rounding: start = ceil(ts), end = floor(ts + dur).
        assert.equal(s.durNs, (Math.floor(gloo[i].ts + gloo[i].dur) - Math.ceil(gloo[i].ts)) * 1000);
      });
      // The analysed window: all steps but the last, by start time.
      const lastStep = Math.max(...events.filter((e) => e.name.startsWith('ProfilerStep#')).map((e) => e.ts));
      const inWindow = gloo.filter((e) => Math.ceil(e.ts) < Math.ceil(lastStep)).length;
      const joined = a.collectives!.instances.filter((inst) => inst.participants.some((p) => p.rank === rank)).length;
      assert.equal(joined, inWindow, `rank ${rank}: collectives in the analysed window`);
      const view = a.ranks.find((r) => r.rank === rank)!;
      assert.ok(view.overlap.commNs > 0, 'communication measured on the CPU timeline');
    }
    // Joined across ranks (the ranks were aligned on their first collective), one straggler: the last rank.
    assert.ok(
      a.collectives!.instances.every((i) => i.participants.length === world),
      'every all-reduce joined across all ranks',
    );
    assert.ok(
      a.notes.some((n) => /no GPU activity in the trace: communication is analysed on the CPU timeline/.test(n)),
    );
    assert.deepEqual(a.source.cpuTimelineRanks, [...Array(world).keys()]);
    assert.ok(!a.notes.some((n) => /was the profiler run with ProfilerActivity\.CUDA\?/.test(n)));
    // The slow last rank arrives last at the first all-reduce (that step is slow enough to count
    // as warm-up by the rule, so the straggler report, over steady steps only, may not see it).
    assert.ok(
      a.collectives!.instances.some((i) => i.lastArrivalRank === world - 1),
      'the slow last rank arrives last',
    );
  });
}

test('a tensorboard_trace_handler folder with two runs: the newest complete one, said at the top; --run picks the other', async () => {
  const dir = path.join(FIX, 'handler2');
  const found = discoverTraces([dir]);
  assert.equal(found.runs.length, 2);
  const names = found.runs.map((r) => r.files.map((f) => path.basename(f.path)));
  // Never merged into made-up ranks: each run has ranks 0 and 1, from the worker names.
  for (const r of found.runs) assert.deepEqual(r.ranks, [0, 1]);
  assert.ok(
    names[1].every((n) => /\.17962973506\d\d\./.test(n)),
    names.join(' | '),
  );
  assert.equal(found.chosen.id, '2');
  const r = await run([dir]);
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.out.split('\n')[0],
    /^> 2 runs found; analysing run 2: 2 pre-Kineto files, ranks 0, 1 .*complete \(the newest complete one\)/,
  );
  assert.match(r.out, /also found run 1: .* analyse it with --run 1/);
  assert.match(r.out, /\*\*No GPU activity in the trace:\*\* the tables below are on the CPU timeline/);
  const r1 = await run([dir, '--run', '1']);
  assert.equal(r1.code, 0, r1.err);
  assert.match(r1.out, /worker0\.1796297337196/);
  assert.doesNotMatch(r1.out, /worker0\.1796297350684\.pt\.trace\.json\.gz`/);
  const bad = await run([dir, '--run', '7']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /no run '7'.*--run 1 \| 2/);
});

test('formats come from content: a folder of CommLens Chrome JSON keeps its communication; a .pftrace is listed, never dumped', async () => {
  const chromeDir = path.join(tmp, 'chrome');
  fs.mkdirSync(chromeDir);
  fs.writeFileSync(path.join(chromeDir, 'run.json'), writeChromeJson(twoRankModel()));
  const r = await run([chromeDir]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /\| allReduce \| 1 \|/);
  // A Perfetto trace beside Kineto-less files, and one given with them by name.
  const mixed = path.join(tmp, 'mixed');
  fs.mkdirSync(mixed);
  fs.writeFileSync(path.join(mixed, 'job.pftrace'), writePerfetto(twoRankModel()));
  for (const f of fs.readdirSync(path.join(FIX, 'plain2')))
    fs.copyFileSync(path.join(FIX, 'plain2', f), path.join(mixed, f));
  fs.writeFileSync(path.join(mixed, 'config.json'), '{"lr": 0.1}');
  const found = discoverTraces([mixed]);
  assert.deepEqual(found.runs.map((x) => x.kind).sort(), ['perfetto', 'pre-kineto']);
  assert.ok(found.skipped.some((s) => s.path.endsWith('config.json') && /without "traceEvents"/.test(s.reason)));
  const named = await run([
    path.join(mixed, 'job.pftrace'),
    path.join(mixed, 'rank0.json.gz'),
    path.join(mixed, 'rank1.json.gz'),
  ]);
  assert.equal(named.code, 0, named.err);
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(named.out + named.err, /[\u0000-\u0008\u000e-\u001f\ufffd]/, 'no binary in the output');
  assert.match(named.out, /2 runs found/);
  assert.match(named.out, /job\.pftrace \(Perfetto, whole job\)/);
});

test('pre-Kineto files without a rank anywhere: an error saying how to name them; --rank for one file', async () => {
  const dir = path.join(tmp, 'unranked');
  fs.mkdirSync(dir);
  fs.copyFileSync(path.join(FIX, 'plain2', 'rank0.json.gz'), path.join(dir, 'a.json.gz'));
  fs.copyFileSync(path.join(FIX, 'plain2', 'rank1.json.gz'), path.join(dir, 'b.json.gz'));
  const r = await run([dir]);
  assert.equal(r.code, 2);
  assert.match(
    r.err,
    /cannot tell which rank wrote .*a\.json\.gz.*no distributedInfo.*expected files named by rank \(rank0\.json/,
  );
  const one = await run([path.join(dir, 'b.json.gz'), '--rank', '1', '--per-rank-json']);
  assert.equal(one.code, 0, one.err);
  assert.deepEqual(Object.keys(JSON.parse(one.out)), ['1']);
});

test('analyze refuses a FIFO and /dev/zero at once, naming them', async () => {
  const fifo = path.join(tmp, 'pipe.json');
  execFileSync('mkfifo', [fifo]);
  const t0 = Date.now();
  const z = await run(['/dev/zero', '/dev/zero']);
  assert.equal(z.code, 2);
  assert.match(z.err, /\/dev\/zero: is a character device, not a trace file/);
  const f = await run([fifo]);
  assert.equal(f.code, 2);
  assert.match(f.err, /pipe\.json: is a FIFO \(named pipe\), not a trace file/);
  // In a folder, a FIFO is skipped (listed), never opened.
  const dir = path.join(tmp, 'withfifo');
  fs.mkdirSync(dir);
  execFileSync('mkfifo', [path.join(dir, 'x.json')]);
  fs.copyFileSync(path.join(FIX, 'plain2', 'rank0.json.gz'), path.join(dir, 'rank0.json.gz'));
  const found = discoverTraces([dir]);
  assert.ok(found.skipped.some((s) => /FIFO/.test(s.reason)));
  assert.ok(Date.now() - t0 < 5000);
});

test('a large pre-Kineto trace (a JSON array) is parsed by the streaming reader like a small one', async () => {
  const file = path.join(FIX, 'plain2', 'rank1.json.gz');
  const whole = await readKinetoFile(file);
  const streamed = await readKinetoFile(file, { streamAboveBytes: 4096 });
  assert.ok(Array.isArray(streamed));
  assert.deepEqual(streamed, whole);
  const cut = path.join(tmp, 'cut.json');
  fs.writeFileSync(cut, gunzipSync(fs.readFileSync(file)).subarray(0, 50_000));
  await assert.rejects(
    readKinetoFile(cut, { streamAboveBytes: 4096 }),
    /cut\.json is not valid JSON: the JSON array of events ends early/,
  );
});

test('Kineto CPU trace of a gloo job: c10d op, record_param_comms and gloo op are one collective with size, dtype and group', () => {
  const ev: Record<string, unknown>[] = [];
  const t0 = 1_700_000_000_000_000;
  for (let s = 0; s < 3; s++) {
    const t = t0 + s * 10_000;
    ev.push({ ph: 'X', cat: 'user_annotation', name: `ProfilerStep#${s}`, pid: 10, tid: 10, ts: t, dur: 9_000 });
    ev.push({ ph: 'X', cat: 'cpu_op', name: 'aten::mm', pid: 10, tid: 10, ts: t + 100, dur: 3_000 });
    ev.push({ ph: 'X', cat: 'cpu_op', name: 'c10d::allreduce_', pid: 10, tid: 10, ts: t + 3_200, dur: 50 });
    ev.push({
      ph: 'X',
      cat: 'cpu_op',
      name: 'record_param_comms',
      pid: 10,
      tid: 10,
      ts: t + 3_210,
      dur: 30,
      args: {
        'Collective name': 'allreduce',
        'In msg nelems': 4096,
        'Out msg nelems': 4096,
        dtype: 'Float',
        'Group size': 2,
        'Process Group Name': '0',
        'Process Group Ranks': '[0, 1]',
      },
    });
    ev.push({ ph: 'X', cat: 'cpu_op', name: 'gloo:all_reduce', pid: 10, tid: 12, ts: t + 3_260, dur: 2_000 });
    // The training thread runs on while the collective is in flight, then waits.
    ev.push({ ph: 'X', cat: 'cpu_op', name: 'aten::add_', pid: 10, tid: 10, ts: t + 3_300, dur: 500 });
  }
  const m = importKineto(
    {
      schemaVersion: 1,
      deviceProperties: [],
      distributedInfo: { backend: 'gloo', rank: 0, world_size: 2 },
      traceEvents: ev,
    },
    { fileName: 'gloo.json' },
  );
  const coll = m.slices.filter((s) => s.category === 'collective');
  assert.equal(coll.length, 3, 'one collective per gloo op, not three');
  for (const c of coll) {
    assert.equal(c.name, 'gloo:all_reduce');
    assert.equal(c.args?.op, 'allReduce');
    assert.equal(c.args?.bytes, 4096 * 4);
    assert.equal(c.args?.dtype, 'Float');
    assert.equal(c.args?.group, '0');
    assert.equal(c.args?.groupSize, 2);
    assert.equal(c.args?.launcher, 'record_param_comms');
  }
  assert.ok(
    m.warnings.some((w) => /no GPU activity: its 3 gloo collective\(s\) are analysed on the CPU timeline/.test(w)),
  );
  const a = analyze(m);
  const r = a.ranks[0];
  // Per analysed step (2 of 3): 2000 µs of communication, 500 µs of it under aten::add_ (3300-3800 within 3260-5260).
  assert.equal(r.overlap.commNs, 2 * 2_000_000);
  assert.equal(r.overlap.exposedCommNs, 2 * 1_500_000);
  assert.deepEqual(
    r.steps.map((s) => s.overlap.exposedCommNs),
    [1_500_000, 1_500_000],
  );
  // Without gloo ops (an NCCL job profiled without CUDA activity), the outermost launcher is the collective.
  const noGloo = importKineto({
    distributedInfo: { rank: 0, world_size: 2 },
    traceEvents: ev.filter((e) => e.name !== 'gloo:all_reduce'),
  });
  const c2 = noGloo.slices.filter((s) => s.category === 'collective');
  assert.equal(c2.length, 3);
  assert.ok(
    c2.every(
      (s) => s.name === 'c10d::allreduce_' && s.args?.bytes === 16384 && s.args?.launcher === 'record_param_comms',
    ),
  );
});
