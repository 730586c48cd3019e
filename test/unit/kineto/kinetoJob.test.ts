// Reduce-then-merge (trace/kinetoJob.ts): each rank reduced in the worker pool, the ranks merged
// for the analysis. The whole analysis (--json, slice links mapped back) equals the importer's (trace/kineto.ts importKineto over the
// whole file) on every Kineto fixture and on synthetic ranks that reach the edge cases (nesting
// clipped on host threads, CPU ops with FLOPs, memory, CPU-only ranks, skipped events); the
// parse cache is used, ignored when stale or corrupt, and a cache that cannot be written is one
// warning; a rank file cut short or corrupt in a many-rank job is named and left out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { fixturesDir, repoRoot } from '../../helpers/paths';
import { discoverTraces, type TraceRun } from '../../../trace/discover';
import { loadRun } from '../../../trace/load';
import { JobTooLargeError, loadKinetoJob } from '../../../trace/kinetoJob';
import {
  DIGEST_WORKER_YOUNG_GENERATION_MB,
  QUEUE_MAX_RANK_BYTES,
  queueDepthFor,
  reduceKinetoRankPayloads,
  reduceKinetoRanks,
} from '../../../trace/kinetoScanPool';
import { analyze, mapSliceIndexes, markdownReport, type Analysis } from '../../../analysis/index';
import { analyzeCommand, perRankJson } from '../../../cli/commands/analyze';

const htaDir = fixturesDir('kineto', 'hta-sampled');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-job-'));

/** The Kineto runs of the fixtures: the shared ones and any in test/fixtures. */
function kinetoRuns(): TraceRun[] {
  const roots = [fixturesDir('kineto'), path.join(repoRoot, 'test', 'fixtures')];
  const runs: TraceRun[] = [];
  for (const root of roots) {
    for (const dir of walkDirs(root)) {
      let d;
      try {
        d = discoverTraces([dir]);
      } catch {
        continue;
      }
      for (const r of d.runs) if (r.kind === 'kineto' && path.dirname(r.files[0].path) === dir) runs.push(r);
    }
  }
  return runs;
}

function walkDirs(root: string): string[] {
  const out = [root];
  for (const e of fs.readdirSync(root, { withFileTypes: true }))
    if (e.isDirectory() && !e.name.startsWith('.')) out.push(...walkDirs(path.join(root, e.name)));
  return out;
}

/** The analysis as --json prints it. */
const asJson = (a: Analysis) => JSON.parse(JSON.stringify(a)) as Record<string, unknown>;

async function bothWays(run: TraceRun, includeLastStep = false): Promise<{ old: Analysis; now: Analysis }> {
  const old = analyze(await loadRun(run), { includeLastStep });
  const job = await loadKinetoJob(run.files, { cache: false });
  assert.deepEqual(job.failures, []);
  const now = mapSliceIndexes(analyze(job.model, { includeLastStep }), (i) => job.sliceOrigin[i]);
  return { old, now };
}

test('every Kineto fixture: analyze through reduce-then-merge equals the importer, figure for figure', async () => {
  const runs = kinetoRuns();
  assert.ok(runs.length >= 1, 'no Kineto fixture found');
  for (const run of runs) {
    for (const last of [false, true]) {
      const { old, now } = await bothWays(run, last);
      const label = `${run.files.map((f) => f.path).join(', ')}${last ? ' --include-last-step' : ''}`;
      assert.deepEqual(asJson(now), asJson(old), label);
      assert.deepEqual(perRankJson(now), perRankJson(old), label);
      assert.equal(
        markdownReport(now, { traceLink: 'trace.json' }),
        markdownReport(old, { traceLink: 'trace.json' }),
        label,
      );
    }
    // `analyze --json` prints exactly the importer's analysis.
    const cli = await capture([path.dirname(run.files[0].path), '--json', '--no-cache']);
    assert.equal(cli.code, 0, cli.err);
    assert.deepEqual(JSON.parse(cli.out), asJson((await bothWays(run)).old));
    // Each file alone too (a one-rank job).
    for (const f of run.files) {
      const one = { ...run, files: [f], ranks: f.rank !== undefined ? [f.rank] : [] };
      const { old, now } = await bothWays(one);
      assert.deepEqual(asJson(now), asJson(old), f.path);
    }
  }
});

interface Ev {
  ph: string;
  cat?: string;
  name?: string;
  pid?: number | string;
  tid?: number | string;
  ts?: number | string;
  dur?: number;
  args?: Record<string, unknown>;
}

/**
 * A synthetic rank that reaches what the reduction must keep exact: CPU ops nested and
 * overlapping (clipped by the importer), a ProfilerStep that overlaps its thread's parent op,
 * CPU ops with FLOPs, memory instants, a runtime call that launched nothing, events the importer
 * skips, events without a numeric ts, a non-object element, fractional µs.
 */
function syntheticRank(rank: number, world: number, gpu: boolean): Record<string, unknown> {
  const ev: (Ev | number)[] = [];
  const t0 = 5_000_000.5 + rank * 3;
  ev.push({ ph: 'M', name: 'process_name', pid: 11, tid: 0, args: { name: 'python' } });
  ev.push({ ph: 'M', name: 'thread_name', pid: 11, tid: 12, args: { name: 'main thread' } });
  ev.push({
    ph: 'X',
    cat: 'Trace',
    name: 'PyTorch Profiler (0)',
    pid: 'Spans',
    tid: 'PyTorch Profiler',
    ts: t0,
    dur: 9000,
  });
  ev.push(7);
  ev.push({ ph: 'B', cat: 'cpu_op', name: 'begin', pid: 11, tid: 12, ts: t0 });
  ev.push({ ph: 'X', cat: 'cpu_op', name: 'aten::bad', pid: 11, tid: 12, ts: 'soon', dur: 3 });
  ev.push({
    ph: 'X',
    cat: 'cuda_runtime',
    name: 'cudaMalloc',
    pid: 11,
    tid: 12,
    ts: t0 + 1,
    dur: 2,
    args: { correlation: 999 },
  });
  // An outer op that ends inside the first step: the step is clipped to it by the importer.
  ev.push({ ph: 'X', cat: 'cpu_op', name: 'aten::outer', pid: 11, tid: 12, ts: t0 + 2.3, dur: 1500.2 });
  let corr = 1;
  for (let s = 0; s < 4; s++) {
    const st = t0 + 10 + s * 2000;
    ev.push({ ph: 'X', cat: 'user_annotation', name: `ProfilerStep#${20 + s}`, pid: 11, tid: 12, ts: st, dur: 1990.7 });
    ev.push({
      ph: 'X',
      cat: 'cpu_op',
      name: 'aten::linear',
      pid: 11,
      tid: 12,
      ts: st + 5.5,
      dur: 600,
      args: { 'Input Dims': [[8, 8]] },
    });
    ev.push({
      ph: 'X',
      cat: 'cpu_op',
      name: 'aten::mm',
      pid: 11,
      tid: 12,
      ts: st + 6,
      dur: 700.25,
      args: { flops: 4096 * (s + 1) },
    });
    ev.push({ ph: 'X', cat: 'cpu_op', name: 'aten::add_', pid: 11, tid: 13, ts: st + 50, dur: 30 });
    ev.push({
      ph: 'i',
      cat: 'cpu_instant_event',
      name: '[memory]',
      pid: 11,
      tid: 12,
      ts: st + 7,
      args: { 'Total Allocated': 1e6 * (s + 1), 'Device Type': 1, 'Device Id': 0 },
    });
    ev.push({ ph: 's', cat: 'ac2g', name: 'ac2g', pid: 11, tid: 12, ts: st + 8, id: corr } as Ev);
    ev.push({
      ph: 'X',
      cat: 'cpu_op',
      name: 'record_param_comms',
      pid: 11,
      tid: 12,
      ts: st + 800,
      dur: 60,
      args: {
        'Collective name': 'allreduce',
        'In msg nelems': 1 << 16,
        dtype: 'Float',
        'Group size': world,
        'Process Group Name': '0',
      },
    });
    ev.push({ ph: 'X', cat: 'cpu_op', name: 'c10d::allreduce_', pid: 11, tid: 12, ts: st + 790, dur: 100 });
    ev.push({ ph: 'X', cat: 'cpu_op', name: 'gloo:all_reduce', pid: 11, tid: 14, ts: st + 805, dur: 150 + rank * 10 });
    if (!gpu) continue;
    for (const [name, off, dur, stream] of [
      ['sgemm_128x64', 100.4, 300.3, 7],
      ['Memcpy HtoD (Pageable -> Device)', 420, 20, 7],
      ['ncclKernel_AllReduce_RING_LL_Sum_float(ncclDevComm*, unsigned long, ncclWork*)', 820, 200 + rank * 30, 20],
    ] as const) {
      ev.push({
        ph: 'X',
        cat: 'cuda_runtime',
        name: 'cudaLaunchKernel',
        pid: 11,
        tid: 12,
        ts: st + off - 40,
        dur: 4.5,
        args: { correlation: corr, 'External id': corr + 100 },
      });
      ev.push({
        ph: 'X',
        cat: name.startsWith('Memcpy') ? 'gpu_memcpy' : 'kernel',
        name,
        pid: 0,
        tid: stream,
        ts: st + off,
        dur,
        args: { stream, correlation: corr, device: 0, grid: [1, 1, 1] },
      });
      corr++;
    }
    ev.push({
      ph: 'X',
      cat: 'gpu_user_annotation',
      name: 'fwd',
      pid: 0,
      tid: 7,
      ts: st + 100,
      dur: 350,
      args: { stream: 7 },
    });
  }
  return {
    schemaVersion: 1,
    distributedInfo: { backend: gpu ? 'nccl' : 'gloo', rank, world_size: world },
    traceEvents: ev,
  };
}

function writeJob(
  dir: string,
  world: number,
  gpu: (rank: number) => boolean,
  gz = (r: number) => r % 2 === 1,
): string[] {
  const files: string[] = [];
  for (let r = 0; r < world; r++) {
    const text = JSON.stringify(syntheticRank(r, world, gpu(r)));
    const f = path.join(dir, `rank${r}.json${gz(r) ? '.gz' : ''}`);
    fs.writeFileSync(f, gz(r) ? gzipSync(text) : text);
    files.push(f);
  }
  return files;
}

test('synthetic ranks (GPU, CPU-only, mixed): reduce-then-merge equals the importer, notes included', async () => {
  for (const [world, gpu] of [
    [4, () => true],
    [2, () => false],
    [3, (r: number) => r !== 1],
  ] as [number, (r: number) => boolean][]) {
    const dir = tmp();
    writeJob(dir, world, gpu);
    const run = discoverTraces([dir]).chosen;
    assert.equal(run.kind, 'kineto');
    for (const last of [false, true]) {
      const { old, now } = await bothWays(run, last);
      assert.ok(
        old.notes.some((n) => /clipped to nest/.test(n)),
        'the fixture clips a slice (else the test proves nothing about clipping)',
      );
      assert.deepEqual(asJson(now), asJson(old), `${world} ranks`);
      assert.equal(markdownReport(now, { traceLink: 'trace.json' }), markdownReport(old, { traceLink: 'trace.json' }));
    }
    const job = await loadKinetoJob(run.files, { cache: false });
    assert.ok(job.eventsKept < job.eventsIn || !gpu(0), `kept ${job.eventsKept} of ${job.eventsIn} events`);
  }
});

test('a compress hook read through reduce-then-merge: the cast and division before each all-reduce are kept, as the importer sees them', async () => {
  // A GPU job whose host thread casts and divides each bucket right before the launch (the fp16
  // compress hook), after a run of other host ops that the reduction otherwise drops.
  const dir = tmp();
  for (let r = 0; r < 2; r++) {
    const trace = syntheticRank(r, 2, true) as { traceEvents: (Ev | number)[] };
    for (let s = 0; s < 4; s++) {
      const st = 5_000_000.5 + r * 3 + 10 + s * 2000;
      const host = (name: string, ts: number, dur: number): Ev => ({
        ph: 'X',
        cat: 'cpu_op',
        name,
        pid: 11,
        tid: 12,
        ts,
        dur,
      });
      for (let k = 0; k < 12; k++) trace.traceEvents.push(host('aten::relu', st + 710 + 3 * k, 2));
      trace.traceEvents.push(host('aten::to', st + 750, 10), host('aten::_to_copy', st + 751, 8));
      trace.traceEvents.push(host('aten::div_', st + 770, 5));
    }
    fs.writeFileSync(path.join(dir, `rank${r}.json`), JSON.stringify(trace));
  }
  const run = discoverTraces([dir]).chosen;
  const { old, now } = await bothWays(run, false);
  assert.notEqual(
    old.settings?.commHook.value,
    'none',
    `the importer finds the hook (${old.settings?.commHook.evidence})`,
  );
  assert.deepEqual(asJson(now).settings, asJson(old).settings);
  assert.deepEqual(asJson(now), asJson(old));
  const job = await loadKinetoJob(run.files, { cache: false });
  assert.ok(
    job.eventsKept < job.eventsIn,
    `the reduction still drops events: kept ${job.eventsKept} of ${job.eventsIn}`,
  );
});

async function capture(args: string[], env: Record<string, string | undefined> = {}) {
  let out = '',
    err = '';
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    const code = await analyzeCommand(args, { out: (t) => (out += t), err: (t) => (err += t) });
    return { code, out, err };
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

test('parse cache: beside the traces by default, used on re-open (ranks, and the whole job), stale and corrupt entries ignored and rewritten', async () => {
  const dir = tmp();
  // The trace files only (a cache another run left beside them would be copied too).
  for (const f of fs.readdirSync(htaDir).filter((f) => f.endsWith('.json.gz')))
    fs.copyFileSync(path.join(htaDir, f), path.join(dir, f));
  const run = discoverTraces([dir]).chosen;
  const cacheDir = path.join(dir, '.commlens-cache');
  const saved = process.env.COMMLENS_CACHE_DIR;
  delete process.env.COMMLENS_CACHE_DIR;
  try {
    const cold = await loadKinetoJob(run.files);
    assert.equal(cold.fromCache, 0);
    const entries = fs.readdirSync(cacheDir).filter((f) => f.endsWith('.rank'));
    assert.equal(entries.length, 2);
    const t = performance.now();
    const warm = await loadKinetoJob(run.files);
    const warmMs = performance.now() - t;
    assert.equal(warm.fromCache, 2);
    assert.deepEqual(analyze(warm.model), analyze(cold.model));
    // Corrupt one entry's payload, truncate the other: both are read again from the traces and rewritten.
    const [a, b] = entries.map((e) => path.join(cacheDir, e));
    const bytes = fs.readFileSync(a);
    bytes[bytes.length - 10] ^= 0xff;
    fs.writeFileSync(a, bytes);
    fs.truncateSync(b, 100);
    const again = await loadKinetoJob(run.files);
    assert.equal(again.fromCache, 0);
    assert.deepEqual(analyze(again.model), analyze(cold.model));
    assert.equal((await loadKinetoJob(run.files)).fromCache, 2);
    // A trace changed in place (its mtime) is stale: read again.
    const later = new Date(Date.now() + 5000);
    fs.utimesSync(run.files[0].path, later, later);
    assert.equal((await loadKinetoJob(run.files)).fromCache, 1);
    // --cache-dir and COMMLENS_CACHE_DIR put it elsewhere; --no-cache neither reads nor writes it.
    const other = tmp();
    const ofKind = (d: string, ext: string) => fs.readdirSync(d).filter((f) => f.endsWith(ext));
    const r1 = await capture([dir, '--per-rank-json', '--cache-dir', other]);
    assert.equal(r1.code, 0);
    // analyze keeps each rank as its worker posts it, digested, not the whole reduced rank.
    assert.equal(ofKind(other, '.digest').length, 2);
    assert.equal(ofKind(other, '.rank').length, 0);
    assert.equal(ofKind(other, '.analysis').length, 1);
    // Re-opened with the same files and options: answered from the job's entry, no rank read
    // (the ranks' entries, removed, are not written again).
    for (const f of ofKind(other, '.digest')) fs.rmSync(path.join(other, f));
    const r1b = await capture([dir, '--per-rank-json', '--cache-dir', other]);
    assert.equal(r1b.out, r1.out);
    assert.equal(ofKind(other, '.digest').length, 0);
    // stderr says what the cache answered (bench:scale reads it), and nothing of it on a cold read.
    assert.doesNotMatch(r1.err, /parse cache/);
    assert.match(r1b.err, /note: the whole analysis came from the parse cache .*--no-cache reads the traces again/);
    // Other options miss the job's entry; a corrupt job entry is ignored and rewritten.
    await capture([dir, '--per-rank-json', '--include-last-step', '--cache-dir', other]);
    const lastStep = new Set(ofKind(other, '.digest'));
    assert.equal(lastStep.size, 2);
    const jobEntry = path.join(other, ofKind(other, '.analysis')[0]);
    const jb = fs.readFileSync(jobEntry);
    jb[jb.length - 5] ^= 0xff;
    fs.writeFileSync(jobEntry, jb);
    const r1c = await capture([dir, '--per-rank-json', '--cache-dir', other]);
    assert.equal(r1c.out, r1.out);
    // Each digest's options have entries of their own: both kept.
    assert.equal(ofKind(other, '.digest').length, 4);
    // Options the digest does not depend on miss the job's entry but not the ranks'.
    const r1e = await capture([dir, '--link-peak-gbps', '100', '--cache-dir', other]);
    assert.equal(r1e.code, 0, r1e.err);
    assert.match(r1e.err, /note: 2 of 2 ranks came from the parse cache/);
    // One rank's entry gone: the other rank is read from the cache, and stderr says so.
    for (const f of ofKind(other, '.analysis')) fs.rmSync(path.join(other, f));
    fs.rmSync(path.join(other, ofKind(other, '.digest').filter((f) => !lastStep.has(f))[0]));
    const r1d = await capture([dir, '--per-rank-json', '--cache-dir', other]);
    assert.equal(r1d.out, r1.out);
    assert.match(r1d.err, /note: 1 of 2 ranks came from the parse cache/);
    // A corrupt digest entry is ignored (that rank read again) and rewritten.
    for (const f of ofKind(other, '.analysis')) fs.rmSync(path.join(other, f));
    const digestFile = path.join(other, ofKind(other, '.digest').filter((f) => !lastStep.has(f))[0]);
    const db = fs.readFileSync(digestFile);
    db[db.length - 7] ^= 0xff;
    fs.writeFileSync(digestFile, db);
    const r1f = await capture([dir, '--per-rank-json', '--cache-dir', other]);
    assert.equal(r1f.out, r1.out);
    assert.match(r1f.err, /note: 1 of 2 ranks came from the parse cache/);
    assert.notDeepEqual(fs.readFileSync(digestFile), db);
    // The whole ranks' entries (loadKinetoJob above, or an earlier CommLens) answer analyze too,
    // digested from them; the digests are then kept beside them.
    const rw = await capture([dir, '--per-rank-json']);
    assert.equal(rw.out, r1.out);
    assert.match(rw.err, /note: 2 of 2 ranks came from the parse cache/);
    assert.equal(ofKind(cacheDir, '.digest').length, 2);
    const env = tmp();
    const r2 = await capture([dir, '--per-rank-json'], { COMMLENS_CACHE_DIR: env });
    assert.equal(ofKind(env, '.digest').length, 2);
    assert.equal(r2.out, r1.out);
    const none = tmp();
    await capture([dir, '--per-rank-json', '--no-cache'], { COMMLENS_CACHE_DIR: none });
    assert.equal(fs.readdirSync(none).length, 0);
    assert.ok(warmMs < 5000, `re-open took ${warmMs} ms`);
  } finally {
    if (saved !== undefined) process.env.COMMLENS_CACHE_DIR = saved;
  }
});

test('a cache that cannot be written: one clear warning, and the analysis is printed', async () => {
  const dir = tmp();
  writeJob(dir, 4, () => true);
  // /dev/full is not a folder: making the cache folder fails for every rank.
  const r = await capture([dir, '--per-rank-json', '--cache-dir', '/dev/full/cache']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(Object.keys(JSON.parse(r.out) as object), ['0', '1', '2', '3']);
  const warnings = r.err.split('\n').filter((l) => /warning:/.test(l));
  assert.equal(warnings.length, 1, r.err);
  assert.match(warnings[0], /could not write the parse cache in \/dev\/full\/cache .*and 3 more rank\(s\).*--no-cache/);
});

test(
  'a rank file cut short or corrupt in a many-rank job: named with the byte and what was read, the rest analysed, exit 1',
  { timeout: 120_000 },
  async () => {
    const dir = tmp();
    const files = writeJob(
      dir,
      8,
      () => true,
      (r) => r === 5,
    );
    // rank 2 (plain JSON) cut short in the middle of its events.
    const text = fs.readFileSync(files[2]);
    fs.writeFileSync(files[2], text.subarray(0, Math.floor(text.length * 0.6)));
    // rank 5 (gzip) cut short: the gzip stream ends early.
    const gz = fs.readFileSync(files[5]);
    fs.writeFileSync(files[5], gz.subarray(0, Math.floor(gz.length * 0.5)));
    // rank 6 (plain JSON) corrupt mid-file: a stray byte where a key was expected.
    const six = fs.readFileSync(files[6], 'utf8');
    const at = six.indexOf('"name"', Math.floor(six.length / 2));
    fs.writeFileSync(files[6], `${six.slice(0, at)}#${six.slice(at + 1)}`);
    const r = await capture([dir, '--per-rank-json', '--no-cache']);
    assert.equal(r.code, 1, r.err);
    assert.deepEqual(Object.keys(JSON.parse(r.out) as object), ['0', '1', '3', '4', '7']);
    for (const [rank, file] of [
      [2, files[2]],
      [5, files[5]],
      [6, files[6]],
    ] as const) {
      const line = r.err.split('\n').find((l) => l.includes(`rank ${rank} (${file})`));
      assert.ok(line, `rank ${rank} is not named in:\n${r.err}`);
      assert.match(line, /reading stopped at JSON byte \d+ after \d+ event\(s\) and \d+ ProfilerStep\(s\)/);
      assert.match(line, /left out of the analysis/);
    }
    assert.match(r.err, /rank 6 .*at byte \d+: expected a key in an event, found "#"/);
    assert.match(r.err, /rank 5 .*gzip stream is cut short or corrupt/);
    // The report says so too.
    const md = await capture([dir, '--no-cache']);
    assert.equal(md.code, 1);
    assert.match(md.out, /rank 2 \(.*\) is not a valid Kineto trace at byte \d+.*left out of the analysis/);
    // Every rank unreadable: an error (bad input), nothing printed on stdout.
    const bad = tmp();
    fs.writeFileSync(
      path.join(bad, 'rank0.json'),
      '{"distributedInfo": {"rank": 0, "world_size": 1}, "traceEvents": [{"ph": "X"',
    );
    const none = await capture([bad, '--no-cache']);
    assert.equal(none.code, 2);
    assert.equal(none.out, '');
    assert.match(none.err, /rank0\.json.*ends inside an event/);
  },
);

test('a worker that dies fails only the file it was reading; nothing waits for it', { timeout: 60_000 }, async () => {
  const dir = tmp();
  const script = path.join(dir, 'dies.js');
  fs.writeFileSync(script, "require('node:worker_threads').parentPort.on('message', () => process.exit(3));\n");
  const files = writeJob(dir, 3, () => true).map((p) => ({ path: p }));
  const results = await reduceKinetoRanks(files, { workers: 2, workerPath: script });
  assert.equal(results.length, 3);
  for (const r of results) {
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.error, /worker reading it stopped \(exit code 3\)/);
  }
});

test(
  'a worker that dies fails only the file it was working on, not the one it held next',
  { timeout: 60_000 },
  async () => {
    const dir = tmp();
    const files = writeJob(dir, 10, () => true).map((p) => ({ path: p }));
    // The real worker, except that it dies (exit 3) when it opens the second file. The pool hands
    // each worker its next file before the last is done: the first worker holds files 0 and 1,
    // then 1 and 4, and dies on file 1 with file 4 waiting behind it.
    const real = path.join(repoRoot, 'out', 'trace', 'kinetoScanWorker.js');
    const script = path.join(dir, 'diesOnOne.js');
    fs.writeFileSync(
      script,
      [
        "const fsp = require('node:fs/promises');",
        'const open = fsp.open;',
        `fsp.open = (p, ...rest) => { if (p === ${JSON.stringify(files[1].path)}) process.exit(3); return open(p, ...rest); };`,
        "require('node:module').syncBuiltinESMExports();",
        `require(${JSON.stringify(real)});`,
      ].join('\n'),
    );
    const results = await reduceKinetoRanks(files, { workers: 2, workerPath: script });
    assert.equal(results.length, 10);
    results.forEach((r, i) => {
      if (i === 1) {
        assert.equal(r.ok, false);
        if (!r.ok) assert.match(r.error, /worker reading it stopped \(exit code 3\)/);
      } else assert.equal(r.ok, true, `file ${i}: ${r.ok ? '' : r.error}`);
    });
  },
);

test('workers that digest ranks without indexing them run with a smaller young generation; others with V8 default', async () => {
  const dir = tmp();
  // Answers each request with the limits its thread runs under.
  const script = path.join(dir, 'limits.js');
  fs.writeFileSync(
    script,
    "const { parentPort, resourceLimits } = require('node:worker_threads');\n" +
      "parentPort.on('message', (req) => parentPort.postMessage({ index: req.index, error: JSON.stringify(resourceLimits) }));\n",
  );
  const files = writeJob(dir, 2, () => true).map((p) => ({ path: p }));
  const limitsOf = (r: { ok: boolean; error?: string }) => {
    assert.equal(r.ok, false);
    return JSON.parse(r.error!) as { maxYoungGenerationSizeMb: number };
  };
  const digested = await reduceKinetoRanks(files, { workers: 1, workerPath: script, digest: { keptSteps: 1 } });
  for (const r of digested) assert.equal(limitsOf(r).maxYoungGenerationSizeMb, DIGEST_WORKER_YOUNG_GENERATION_MB);
  const payloads: { ok: boolean; error?: string }[] = [];
  await reduceKinetoRankPayloads(files, { workers: 1, workerPath: script, digest: { keptSteps: 1 } }, (_, r) =>
    payloads.push(r),
  );
  for (const r of payloads) assert.equal(limitsOf(r).maxYoungGenerationSizeMb, DIGEST_WORKER_YOUNG_GENERATION_MB);
  // Whole ranks, or digested and indexed for the viewer: V8's own young generation.
  const whole = await reduceKinetoRanks(files, { workers: 1, workerPath: script });
  const indexed = await reduceKinetoRanks(files, {
    workers: 1,
    workerPath: script,
    digest: { keptSteps: 1 },
    lodDirOf: () => dir,
  });
  for (const r of [...whole, ...indexed])
    assert.notEqual(limitsOf(r).maxYoungGenerationSizeMb, DIGEST_WORKER_YOUNG_GENERATION_MB);
});

test('each worker holds a second rank only when no rank is big (a big one waits for the last to be let go)', () => {
  const dir = tmp();
  const sized = (name: string, bytes: number) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, '');
    fs.truncateSync(f, bytes); // sparse: the size is all that is read
    return f;
  };
  const small = [sized('a.json', 2e6), sized('b.json.gz', 1e6)];
  assert.equal(queueDepthFor(small), 2);
  assert.equal(queueDepthFor([...small, path.join(dir, 'missing.json')]), 2);
  assert.equal(queueDepthFor([...small, sized('big.json', QUEUE_MAX_RANK_BYTES + 1)]), 1);
  // A gzip file counts at 16 times its size (Kineto JSON compresses about 8–15 times).
  assert.equal(queueDepthFor([sized('big.json.gz', Math.ceil(QUEUE_MAX_RANK_BYTES / 16) + 1)]), 1);
  assert.equal(queueDepthFor([sized('ok.json.gz', Math.floor(QUEUE_MAX_RANK_BYTES / 16))]), 2);
});

test('reduced ranks are much smaller than the whole file on the real pair', async () => {
  const run = discoverTraces([htaDir]).chosen;
  const job = await loadKinetoJob(run.files, { cache: false });
  assert.ok(job.eventsKept < job.eventsIn * 0.7, `kept ${job.eventsKept} of ${job.eventsIn} events`);
  const gz = gunzipSync(fs.readFileSync(run.files[0].path));
  assert.ok(job.jsonBytes > gz.length, 'JSON bytes of both ranks are counted');
});

test('a job whose reduced ranks would not fit in the heap is refused, saying what it needs, before Node runs out of memory', async () => {
  const dir = fixturesDir('kineto', 'hta-sampled');
  const files = [
    'sampled_rank-0.json.gz',
    'sampled_rank-1.json.gz',
    'sampled_rank-0.json.gz',
    'sampled_rank-1.json.gz',
  ].map((f, i) => ({ path: path.join(dir, f), rank: i }));
  await assert.rejects(
    loadKinetoJob(files, { cache: false, workers: 1, heapLimitBytes: 1 }),
    (e: Error) =>
      e instanceof JobTooLargeError &&
      /after 2 of 4 ranks/.test(e.message) &&
      /NODE_OPTIONS=--max-old-space-size=\d+/.test(e.message) &&
      /subset of the ranks/.test(e.message),
  );
  // With the heap Node gives, the same job loads.
  const job = await loadKinetoJob(files, { cache: false, workers: 1 });
  assert.equal(job.failures.length, 0);
});
