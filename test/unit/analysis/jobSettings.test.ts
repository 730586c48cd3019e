/**
 * A PyTorch job's current settings read from its trace (analysis/jobSettings.ts), and
 * advice that starts from them. Real jobs: test/fixtures/pytorch (PyTorch 1.13, gloo, CPU,
 * pre-Kineto format; each folder made by ddp_jobs.py or ddp_gloo.py, see the README), where
 * `script-settings.txt` says what the script set and what DDP reported about its buckets.
 * The collective counts and times are checked against a count of the raw JSON made here,
 * without the importer. Kineto traces with sizes and dtypes are built here from the real
 * jobs' bucket sizes (DDP's own report), since this machine's PyTorch writes none.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { discoverTraces } from '../../../trace/discover';
import { loadRun } from '../../../trace/load';
import { analyze, markdownReport, prepareReplay, whatIfOn, type Analysis } from '../../../analysis/index';
import { analyzeCommand } from '../../../cli/commands/analyze';
import { repoRoot, fixturesDir } from '../../helpers/paths';

const FIX = path.join(repoRoot, 'test', 'fixtures', 'pytorch');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-settings-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface RawEv {
  name: string;
  ph: string;
  ts: number;
  dur: number;
  tid: number;
}
function raw(file: string): RawEv[] {
  const buf = fs.readFileSync(file);
  return JSON.parse((file.endsWith('.gz') ? gunzipSync(buf) : buf).toString('utf8')) as RawEv[];
}

/** What the script set and what DDP reported (ddp_jobs.py writes it from rank 0). */
interface Truth {
  world_size: number;
  model: string;
  param_count: number;
  param_tensors: number;
  bucket_cap_mb: number | null;
  comm_hook: 'none' | 'fp16' | 'bf16';
  optimizer?: string;
  profiled_steps: number;
  ddp_logging_data: Record<string, string | number>;
}
function truthOf(dir: string): Truth {
  return JSON.parse(fs.readFileSync(path.join(FIX, dir, 'script-settings.txt'), 'utf8')) as Truth;
}
/** DDP's rebuilt buckets, in bytes, as DDP itself logged them (gradient-ready order). */
function rebuiltBuckets(t: Truth): number[] {
  const s = String(t.ddp_logging_data.rebuilt_bucket_sizes);
  return s.split(/[ ,]+/).filter(Boolean).map(Number);
}

async function analysed(dir: string): Promise<{ a: Analysis; files: { path: string; rank: number }[] }> {
  const found = discoverTraces([path.join(FIX, dir)]);
  const model = await loadRun(found.chosen);
  return { a: analyze(model), files: found.chosen.files.map((f) => ({ path: f.path, rank: f.rank as number })) };
}

/**
 * The raw count, without the importer: per rank, the gloo collectives (`gloo:all_reduce`,
 * `gloo:broadcast`, ...), their total time (HTA's rounding: ceil(ts) to floor(ts + dur)), and
 * per ProfilerStep the all-reduces starting in it.
 */
function rawCount(file: string): { count: number; totalUs: number; perStep: number[] } {
  const ev = raw(file);
  const gloo = ev.filter((e) => e.name.startsWith('gloo:'));
  const ar = gloo.filter((e) => e.name === 'gloo:all_reduce');
  const steps = ev.filter((e) => /^ProfilerStep#\d+$/.test(e.name)).sort((a, b) => a.ts - b.ts);
  return {
    count: gloo.length,
    totalUs: gloo.reduce((t, e) => t + Math.floor(e.ts + e.dur) - Math.ceil(e.ts), 0),
    perStep: steps.map((s) => ar.filter((e) => e.ts >= s.ts && e.ts < s.ts + s.dur).length),
  };
}

// Each real job: its collectives (against the raw count) and the settings found (against what the script set).
const JOBS = [
  { dir: 'fp16hook2', hook: '16-bit compress', dp: 'ddp' },
  { dir: 'cap2', hook: 'none', dp: 'ddp' },
  { dir: 'wide4', hook: 'none', dp: 'ddp' },
  { dir: 'zero1', hook: 'none', dp: 'zero1' },
] as const;

for (const job of JOBS) {
  test(`real job ${job.dir}: collective counts and times equal the raw JSON; the settings found are what the script set`, async () => {
    const t = truthOf(job.dir);
    const { a, files } = await analysed(job.dir);
    assert.equal(files.length, t.world_size);
    const model = await loadRun(discoverTraces([path.join(FIX, job.dir)]).chosen);
    for (const f of files) {
      const mine = rawCount(f.path);
      const pid = model.processes.find((p) => p.rank === f.rank)!.pid;
      const coll = model.slices.filter((s) => s.category === 'collective' && model.tracks[s.track].pid === pid);
      assert.equal(coll.length, mine.count, `rank ${f.rank}: collectives`);
      assert.equal(
        coll.reduce((x, s) => x + s.durNs, 0),
        mine.totalUs * 1000,
        `rank ${f.rank}: total collective time`,
      );
      // DDP's buckets: one all-reduce per bucket per step, as DDP reported, in the analysed steps (all
      // but the last: rank 0 of fp16hook2 lacks the last step's last gloo op: the profiler stopped first).
      const buckets = rebuiltBuckets(t).length;
      assert.equal(mine.perStep.length, t.profiled_steps);
      assert.ok(
        mine.perStep.slice(0, -1).every((n) => n === buckets),
        `rank ${f.rank}: ${mine.perStep.join(',')} per step`,
      );
    }
    const s = a.settings!;
    assert.ok(s, 'an imported PyTorch job has settings');
    assert.equal(s.worldSize.value, t.world_size);
    assert.equal(s.dataParallel.value, job.dp);
    assert.equal(s.dataParallel.confidence, 'high');
    // Never a sharding stage at or below the current one.
    if (job.dp === 'zero1') assert.ok(!a.suggestions.some((x) => x.id === 'zero1'));
    assert.equal(s.buckets.value?.perStep, rebuiltBuckets(t).length);
    assert.equal(s.commHook.value, job.hook);
    // Pre-Kineto traces have no args: what needs sizes is unknown, and says why.
    for (const f of [s.bucketCapMb, s.paramCount])
      assert.ok(f.value === null && /pre-Kineto .* no args/.test(f.evidence), f.evidence);
    if (job.hook === 'none') {
      assert.equal(s.collectiveDtype.value, null);
      assert.match(s.collectiveDtype.evidence, /no sizes, dtypes or process groups/);
    } else {
      assert.equal(s.collectiveDtype.value, '16-bit');
      assert.match(s.collectiveDtype.evidence, /inferred from the cast/);
    }
    // The advice respects them: no 16-bit hook for a job that has one; every PyTorch change says what it changes from.
    const all = [...a.suggestions];
    if (job.hook !== 'none') assert.ok(!all.some((x) => x.id === 'compression-fp16' || x.id === 'compression-bf16'));
    // A gloo job: the backend is read from its gloo ops, and the bf16 hook (NCCL only) is never offered.
    assert.equal(s.backend?.value, 'gloo');
    assert.ok(!all.some((x) => x.id === 'compression-bf16'), 'no bf16 hook for a gloo job');
    for (const x of all) assert.match(x.pytorchHint ?? '', /^now: .* → change to: /, x.id);
    const report = markdownReport(a);
    assert.match(report, /## Job settings \(read from the trace\)/);
    assert.match(
      report,
      new RegExp(
        `Settings found: ${job.dp === 'zero1' ? 'ZeroRedundancyOptimizer \\(ZeRO-1\\)' : 'DistributedDataParallel'}; `,
      ),
    );
  });
}

test('the older fixtures (ddp_gloo.py, bucket_cap_mb=0.01 on a 10,384-parameter MLP): one bucket per step, no hook', async () => {
  for (const [dir, world] of [
    ['plain2', 2],
    ['plain4', 4],
    ['handler2', 2],
  ] as const) {
    const { a, files } = await analysed(dir);
    const s = a.settings!;
    assert.equal(s.worldSize.value, world);
    // The whole model (41 KiB) fits DDP's first 1 MiB bucket: one all-reduce per step.
    for (const f of files) assert.ok(rawCount(f.path).perStep.every((n) => n === 1));
    assert.equal(s.buckets.value?.perStep, 1);
    assert.equal(s.commHook.value, 'none');
  }
});

test('the CLI says the settings found', async () => {
  let out = '',
    err = '';
  const code = await analyzeCommand([path.join(FIX, 'fp16hook2')], {
    out: (t: string) => (out += t),
    err: (t: string) => (err += t),
  });
  assert.equal(code, 0, err);
  assert.match(
    out,
    /Settings found: DistributedDataParallel; 2 ranks; gloo; collectives in 16-bit \(fp16 or bf16\); comm hook fp16_compress_hook or bf16_compress_hook; 2 buckets per step;/,
  );
});

// ---------------------------------------------------------------------------------------
// Kineto traces with sizes and dtypes, built from a real job's buckets.

interface KOpts {
  /** Gradient bytes per bucket in launch order (fp32). */
  buckets: number[];
  /** The dtype the all-reduces carry. */
  dtype: 'Float' | 'c10::Half' | 'BFloat16';
  /** A compress hook's cast and division before each all-reduce. */
  cast: boolean;
  /** A fixed cost per all-reduce, µs (gloo's per-message latency). */
  latencyUs?: number;
  ranks?: number;
  steps?: number;
  /** The backward compute before each bucket's all-reduce, µs, named as autograd names it (300 µs of aten::mm unless given). */
  backwardUs?: number;
}

/** One Kineto trace per rank of a DDP job on gloo: backward per bucket, then its all-reduce on gloo's thread. */
function kinetoJob(dir: string, o: KOpts): void {
  fs.mkdirSync(dir, { recursive: true });
  const ranks = o.ranks ?? 2,
    steps = o.steps ?? 4;
  const wireBytes = o.dtype === 'Float' ? 4 : 2;
  for (let r = 0; r < ranks; r++) {
    const ev: Record<string, unknown>[] = [];
    const X = (name: string, tid: number, ts: number, dur: number, args?: Record<string, unknown>) =>
      ev.push({ ph: 'X', cat: 'cpu_op', name, pid: 100 + r, tid, ts, dur, ...(args ? { args } : {}) });
    let t = 1_700_000_000_000_000;
    for (let s = 0; s < steps; s++) {
      const stepStart = t;
      X('DistributedDataParallel.forward', 10, t, 1_000);
      X('aten::mm', 10, t + 10, 900);
      t += 1_000;
      let glooFree = t;
      for (const bytes of o.buckets) {
        const bw = o.backwardUs ?? 300;
        X(o.backwardUs !== undefined ? 'autograd::engine::evaluate_function: MmBackward0' : 'aten::mm', 10, t, bw);
        t += bw;
        if (o.cast) {
          X('aten::to', 10, t, 40);
          X('aten::_to_copy', 10, t + 1, 38);
          X('aten::div_', 10, t + 45, 20);
          t += 70;
        }
        const elems = bytes / 4;
        X('c10d::allreduce_', 10, t, 30);
        X('record_param_comms', 10, t + 2, 25, {
          'Collective name': 'allreduce',
          'In msg nelems': elems,
          'Out msg nelems': elems,
          dtype: o.dtype,
          'Group size': ranks,
          'Process Group Name': '0',
          'Process Group Ranks': `[${[...Array(ranks).keys()].join(', ')}]`,
        });
        // gloo moves 0.25 GB/s: a 1 MiB fp32 bucket takes ≈ 4 ms, half that in 16 bits.
        const start = Math.max(t + 35, glooFree);
        const dur = (o.latencyUs ?? 0) + Math.round((elems * wireBytes) / 250);
        X('gloo:all_reduce', 12, start, dur);
        glooFree = start + dur;
        t += 40;
      }
      // The optimizer waits for the last all-reduce.
      t = Math.max(t, glooFree) + 10;
      X('aten::add_', 10, t, 200);
      t += 220;
      ev.push({
        ph: 'X',
        cat: 'user_annotation',
        name: `ProfilerStep#${s}`,
        pid: 100 + r,
        tid: 10,
        ts: stepStart,
        dur: t - stepStart,
      });
      t += 5;
    }
    const doc = {
      schemaVersion: 1,
      deviceProperties: [],
      distributedInfo: { backend: 'gloo', rank: r, world_size: ranks },
      traceEvents: ev,
    };
    fs.writeFileSync(path.join(dir, `rank${r}.json`), JSON.stringify(doc));
  }
}

async function analyseDir(dir: string): Promise<Analysis> {
  return analyze(await loadRun(discoverTraces([dir]).chosen));
}

test('Kineto sizes: the buckets of the real cap2 job give bucket_cap_mb, the bucket sizes and the parameter count', async () => {
  const t = truthOf('cap2');
  const buckets = rebuiltBuckets(t);
  const dir = path.join(tmp, 'k-cap');
  kinetoJob(dir, { buckets, dtype: 'Float', cast: false });
  const s = (await analyseDir(dir)).settings!;
  assert.equal(s.collectiveDtype.value, 'fp32');
  assert.equal(s.collectiveDtype.confidence, 'high');
  assert.equal(s.commHook.value, 'none');
  assert.deepEqual(s.buckets.value, { perStep: buckets.length, sizesBytes: buckets });
  assert.equal(s.bucketCapMb.value, t.bucket_cap_mb);
  assert.equal(s.paramCount.value, t.param_count);
  assert.deepEqual(
    s.processGroups.value?.map((g) => [g.name, g.size]),
    [['0', 2]],
  );
});

test('Kineto sizes, fp16 hook: named from the dtype and the cast; parameters counted at the real dtype; no fp16 advice, and the rest starts from 16 bits', async () => {
  const t = truthOf('fp16hook2');
  const buckets = rebuiltBuckets(t);
  const fp32Dir = path.join(tmp, 'k-fp32');
  const fp16Dir = path.join(tmp, 'k-fp16');
  kinetoJob(fp32Dir, { buckets, dtype: 'Float', cast: false });
  kinetoJob(fp16Dir, { buckets, dtype: 'c10::Half', cast: true });
  const plain = await analyseDir(fp32Dir);
  const hooked = await analyseDir(fp16Dir);
  const s = hooked.settings!;
  assert.equal(s.commHook.value, 'fp16_compress_hook');
  assert.equal(s.collectiveDtype.value, 'fp16');
  assert.equal(s.gradientDtype.value, 'fp32');
  // Parameters from elements, not wire bytes: the same as without the hook, and DDP's truth.
  assert.equal(s.paramCount.value, t.param_count);
  assert.equal(plain.settings!.paramCount.value, t.param_count);
  assert.deepEqual(s.buckets.value?.sizesBytes, buckets);
  // Without the hook the fp16 hook is worth suggesting (the test can fail); with it, never.
  const fp16Plain = plain.suggestions.find((x) => x.id === 'compression-fp16');
  assert.ok(fp16Plain, plain.suggestions.map((x) => x.id).join(', '));
  assert.match(
    fp16Plain.pytorchHint!,
    /^now: no comm hook \(DDP's default all-reduce in fp32\) → change to: .*fp16_compress_hook/,
  );
  assert.ok(!hooked.suggestions.some((x) => x.id === 'compression-fp16' || x.id === 'compression-bf16'));
  // A compressor suggested to both starts from the wire each sends now: half the bytes with the hook.
  assert.ok(
    hooked.suggestions.some((x) => x.kind === 'compression' && plain.suggestions.some((y) => y.id === x.id)),
    'some compressor is suggested to both',
  );
  for (const x of hooked.suggestions.filter((y) => y.kind === 'compression')) {
    const y = plain.suggestions.find((z) => z.id === x.id);
    assert.match(x.pytorchHint!, /^now: ddp_model\.register_comm_hook\(None, fp16_compress_hook\) → change to: /);
    if (!y) continue;
    assert.ok(
      Math.abs(x.predicted.baselineBytesPerStep! - y.predicted.baselineBytesPerStep! / 2) <
        1e-6 * y.predicted.baselineBytesPerStep!,
    );
    assert.ok(Math.abs(x.predicted.bytesPerStep! - y.predicted.bytesPerStep!) < 0.01 * y.predicted.bytesPerStep!, x.id);
  }
  // 16-bit gradients without a cast: no hook, and no hook suggested either (the wire is already 16 bits).
  const bf16Dir = path.join(tmp, 'k-bf16');
  kinetoJob(bf16Dir, { buckets, dtype: 'BFloat16', cast: false });
  const native = await analyseDir(bf16Dir);
  assert.equal(native.settings!.commHook.value, 'none');
  assert.equal(native.settings!.gradientDtype.value, 'bf16');
  assert.ok(!native.suggestions.some((x) => x.id === 'compression-fp16' || x.id === 'compression-bf16'));
});

test('a GPU Kineto trace (HTA sample, NCCL DDP job of 128 ranks): world size, dtype and parameter count from the args', async () => {
  const dir = fixturesDir('kineto', 'hta-sampled');
  const a = await analyseDir(dir);
  const s = a.settings!;
  assert.equal(s.worldSize.value, 128);
  assert.equal(s.worldSize.confidence, 'high');
  assert.equal(s.dataParallel.value, 'ddp');
  assert.equal(s.dataParallel.confidence, 'high', 'DistributedDataParallel.forward is in the trace');
  assert.equal(s.collectiveDtype.value, 'fp32');
  assert.equal(s.commHook.value, 'none');
  assert.equal(s.backend?.value, 'nccl', 'NCCL kernels on the GPU');
  // Independent count: rank 0's nccl:all_reduce annotations in the step read, their Input Dims at float.
  const doc = JSON.parse(gunzipSync(fs.readFileSync(path.join(dir, 'sampled_rank-0.json.gz'))).toString('utf8')) as {
    traceEvents: { name: string; ts: number; dur: number; args?: Record<string, unknown> }[];
  };
  const step = doc.traceEvents.find((e) => e.name === `ProfilerStep#${s.step}`)!;
  const ar = doc.traceEvents.filter(
    (e) => e.name === 'nccl:all_reduce' && e.ts >= step.ts && e.ts < step.ts + step.dur,
  );
  assert.ok(ar.every((e) => (e.args?.['Input type'] as string[])[0] === 'float'));
  const elems = ar.map((e) => (e.args?.['Input Dims'] as number[][])[0].reduce((x, y) => x * y, 1));
  assert.equal(s.buckets.value?.perStep, ar.length);
  assert.deepEqual(
    s.buckets.value?.sizesBytes,
    elems.map((n) => n * 4),
  );
  assert.equal(
    s.paramCount.value,
    elems.reduce((x, y) => x + y, 0),
  );
});

test('the HTA job: two buckets under the default cap; no suggestion priced by a replay that stalled', async () => {
  const a = await analyseDir(fixturesDir('kineto', 'hta-sampled'));
  const s = a.settings!;
  // The second (last) bucket, 21.8 MiB, is below the cap: consistent with the default 25, and only that.
  assert.equal(s.bucketCapMb.value, 25);
  assert.equal(s.bucketCapMb.confidence, 'low');
  // Its two sampled ranks' big gradient all-reduces do not match; a rebucketed replay once
  // waited on buckets launched later in backward and stalled, and its partial step was suggested.
  for (const x of a.suggestions)
    assert.ok(!(x.predicted.notes ?? []).some((n) => /stalled/.test(n)), `${x.id}: ${x.predicted.notes?.join('; ')}`);
  for (const x of a.suggestions.filter((y) => y.kind === 'sharding'))
    assert.match(x.pytorchHint!, /^now: DistributedDataParallel\(model\) → change to: /);
});

test('a DDP job whose last bucket is exposed: the advice names the bucket change from the current setting', async () => {
  // Buckets of 26, 26 and 10 MiB (a bucket closes once it reaches the cap: 25) with 100 ms of
  // backward before each: the last all-reduce (~42 ms) runs after backward, and smaller buckets
  // would hide most of it.
  const dir = path.join(tmp, 'k-exposed-last');
  const MiB = 1024 * 1024;
  kinetoJob(dir, { buckets: [26 * MiB, 26 * MiB, 10 * MiB], dtype: 'Float', cast: false, backwardUs: 100_000 });
  const a = await analyseDir(dir);
  const cap = a.settings!.bucketCapMb.value;
  assert.equal(cap, 25, JSON.stringify(a.settings!.bucketCapMb));
  const overlap = a.suggestions.filter((x) => x.kind === 'overlap');
  assert.ok(overlap.length > 0, a.suggestions.map((x) => x.id).join(', '));
  for (const x of overlap) {
    assert.notEqual(x.id, `overlap-bucket-${cap}mb`);
    assert.match(x.title, new RegExp(`^DDP bucket_cap_mb=${cap} → bucket_cap_mb=\\d+ `));
    assert.match(
      x.pytorchHint!,
      new RegExp(
        `^now: DistributedDataParallel\\(model, bucket_cap_mb=${cap}\\) → change to: DistributedDataParallel\\(model, bucket_cap_mb=\\d+\\)$`,
      ),
    );
  }
});

test("a PyTorch job's bucket caps are priced against the job rebucketed at its own cap", async () => {
  const dir = path.join(tmp, 'k-exposed-ref');
  const MiB = 1024 * 1024;
  kinetoJob(dir, { buckets: [26 * MiB, 26 * MiB, 10 * MiB], dtype: 'Float', cast: false, backwardUs: 100_000 });
  const ctx = prepareReplay(await loadRun(discoverTraces([dir]).chosen));
  const at = (cap: number, currentCapMb?: number) =>
    whatIfOn(ctx, { bucketing: { bucketCapMb: cap, overlap: true, ...(currentCapMb ? { currentCapMb } : {}) } });
  // Against the measured graph, the model's own 25 MiB buckets do not replay the measured step
  // exactly; against themselves they change nothing.
  assert.notEqual(at(25).predicted.stepTimeNs, ctx.measuredStepNs);
  assert.equal(at(25, 25).predicted.stepTimeNs, ctx.measuredStepNs);
  // Another cap moves the measured step by its replay's difference from the 25 MiB one. (Two
  // replayed steps here: their median is their mean, so the differences subtract exactly.)
  assert.equal(ctx.graphs.length, 2);
  const one = at(1, 25);
  const moved = at(1).predicted.stepTimeNs - at(25).predicted.stepTimeNs;
  assert.ok(Math.abs(one.predicted.stepTimeNs - ctx.measuredStepNs - moved) < 1e-3, `${one.predicted.stepTimeNs}`);
  assert.ok(one.predicted.stepTimeNs < ctx.measuredStepNs, 'smaller buckets hide the last all-reduce');
  assert.ok(one.changeNotes.some((n) => /priced against the run rebucketed at its own bucket_cap_mb=25/.test(n)));
  // The job rebucketed at its own cap is replayed once per cap and context (whatIf.ts
  // rebucketedAtOwnCap): another own cap on the same context is priced as on a fresh one.
  const fresh = prepareReplay(await loadRun(discoverTraces([dir]).chosen));
  const other = whatIfOn(fresh, { bucketing: { bucketCapMb: 1, overlap: true, currentCapMb: 10 } });
  assert.notEqual(other.predicted.stepTimeNs, one.predicted.stepTimeNs, 'the reference cap matters here');
  assert.equal(at(1, 10).predicted.stepTimeNs, other.predicted.stepTimeNs);
  assert.equal(at(1, 25).predicted.stepTimeNs, one.predicted.stepTimeNs);
  // The advisor prices the job's suggestion that way.
  const a = analyze(await loadRun(discoverTraces([dir]).chosen));
  const sg = a.suggestions.find((x) => x.kind === 'overlap');
  assert.ok(sg?.predicted.notes?.some((n) => /bucket_cap_mb=25/.test(n)));
  assert.equal(sg?.whatIf?.bucketing?.currentCapMb, 25);
});

test('FSDP (Kineto, built here): reduce-scatters and all-gathers per step read as FULL_SHARD; no bucket_cap_mb and no ZeRO stage suggested to it', async () => {
  const dir = path.join(tmp, 'k-fsdp');
  fs.mkdirSync(dir, { recursive: true });
  const ranks = 2;
  const modules = [262_144, 262_144, 65_536]; // parameters per FSDP unit
  for (let r = 0; r < ranks; r++) {
    const ev: Record<string, unknown>[] = [];
    const X = (name: string, tid: number, ts: number, dur: number, args?: Record<string, unknown>) =>
      ev.push({ ph: 'X', cat: 'cpu_op', name, pid: 200 + r, tid, ts, dur, ...(args ? { args } : {}) });
    let t = 1_700_000_000_000_000;
    const coll = (name: string, gloo: string, inElems: number, outElems: number) => {
      X(`c10d::${name}`, 10, t, 30);
      X('record_param_comms', 10, t + 2, 25, {
        'Collective name': name,
        'In msg nelems': inElems,
        'Out msg nelems': outElems,
        dtype: 'Float',
        'Group size': ranks,
        'Process Group Name': '0',
      });
      X(gloo, 12, t + 35, 2_000);
      t += 2_100;
    };
    for (let s = 0; s < 4; s++) {
      const stepStart = t;
      X('FullyShardedDataParallel.forward', 10, t, 10);
      t += 20;
      for (const n of modules) {
        coll('_allgather_base', 'gloo:all_gather', n / ranks, n);
        X('aten::mm', 10, t, 500);
        t += 520;
      }
      for (const n of [...modules].reverse()) {
        coll('_allgather_base', 'gloo:all_gather', n / ranks, n);
        X('aten::mm', 10, t, 1_000);
        t += 1_020;
        coll('_reduce_scatter_base', 'gloo:reduce_scatter', n, n / ranks);
      }
      X('aten::add_', 10, t, 100);
      t += 120;
      ev.push({
        ph: 'X',
        cat: 'user_annotation',
        name: `ProfilerStep#${s}`,
        pid: 200 + r,
        tid: 10,
        ts: stepStart,
        dur: t - stepStart,
      });
      t += 5;
    }
    fs.writeFileSync(
      path.join(dir, `rank${r}.json`),
      JSON.stringify({
        schemaVersion: 1,
        distributedInfo: { backend: 'gloo', rank: r, world_size: ranks },
        traceEvents: ev,
      }),
    );
  }
  const a = await analyseDir(dir);
  const s = a.settings!;
  assert.equal(s.dataParallel.value, 'fsdp-full-shard');
  assert.equal(s.dataParallel.confidence, 'high');
  assert.match(s.dataParallel.evidence, /3 reduce-scatter\(s\) and 6 all-gather\(s\) per step/);
  assert.equal(
    s.paramCount.value,
    modules.reduce((x, y) => x + y, 0),
  );
  assert.equal(s.buckets.value, null);
  assert.equal(s.bucketCapMb.value, null);
  assert.ok(
    !a.suggestions.some((x) => x.kind === 'overlap' || x.kind === 'sharding'),
    a.suggestions.map((x) => x.id).join(', '),
  );
  const compression = a.suggestions.filter((y) => y.kind === 'compression');
  assert.ok(compression.length > 0);
  for (const x of compression)
    assert.match(x.pytorchHint!, /^now: no comm hook \(FSDP's reduce-scatter in fp32\) → change to: /);
  assert.match(
    markdownReport(a),
    /Settings found: FSDP ShardingStrategy\.FULL_SHARD \(ZeRO-3\); 2 ranks; gloo; collectives in fp32; 589,824 parameters/,
  );
});
