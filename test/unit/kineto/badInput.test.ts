// Odd and broken inputs: a partial analysis with a clear note, never an exception.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { importKineto, importKinetoFolder, KinetoFormatError, mergeRankModels } from '../../../trace/kineto';
import { KinetoStreamParser, readKinetoFile } from '../../../trace/kinetoRead';
import { analyze } from '../../../analysis/index';
import { emptyModel } from '../../../trace/model';
import { analyzeCommand, perRankJson } from '../../../cli/commands/analyze';

interface Ev {
  ph: string;
  cat?: string;
  name: string;
  pid: number | string;
  tid: number | string;
  ts: number;
  dur?: number;
  args?: Record<string, unknown>;
}

/** A small Kineto trace: `steps` ProfilerSteps of 1 ms, each with a compute kernel and an NCCL all-reduce. */
function kinetoTrace(
  opts: {
    rank?: number;
    world?: number;
    steps?: number;
    t0?: number;
    withDist?: boolean;
    kernels?: boolean;
    stepBase?: number;
  } = {},
) {
  const t0 = opts.t0 ?? 1_000_000,
    steps = opts.steps ?? 3;
  const ev: Ev[] = [];
  let corr = 1;
  for (let s = 0; s < steps; s++) {
    const st = t0 + s * 1000;
    ev.push({
      ph: 'X',
      cat: 'user_annotation',
      name: `ProfilerStep#${(opts.stepBase ?? 10) + s}`,
      pid: 1,
      tid: 1,
      ts: st,
      dur: 1000,
    });
    if (opts.kernels === false) {
      ev.push({ ph: 'X', cat: 'cpu_op', name: 'aten::mm', pid: 1, tid: 1, ts: st + 10, dur: 100 });
      continue;
    }
    for (const [name, off, dur] of [
      ['sgemm_kernel', 100, 300],
      ['ncclKernel_AllReduce_RING_LL_Sum_float(ncclDevComm*, unsigned long, ncclWork*)', 450, 200],
    ] as const) {
      ev.push({
        ph: 'X',
        cat: 'cuda_runtime',
        name: 'cudaLaunchKernel',
        pid: 1,
        tid: 1,
        ts: st + off - 50,
        dur: 5,
        args: { correlation: corr },
      });
      ev.push({
        ph: 'X',
        cat: 'kernel',
        name,
        pid: 0,
        tid: name.startsWith('nccl') ? 20 : 7,
        ts: st + off,
        dur,
        args: {
          stream: name.startsWith('nccl') ? 20 : 7,
          correlation: corr,
          'Collective name': name.startsWith('nccl') ? 'allreduce' : undefined,
          'In msg nelems': 1024,
          dtype: 'Float',
          'Group size': opts.world ?? 2,
        },
      });
      corr++;
    }
  }
  const doc: Record<string, unknown> = { schemaVersion: 1, traceEvents: ev };
  if (opts.withDist !== false)
    doc.distributedInfo = { backend: 'nccl', rank: opts.rank ?? 0, world_size: opts.world ?? 2 };
  return doc;
}

test('not a Kineto trace: a clear error naming what was expected', () => {
  assert.throws(
    () => importKineto([1, 2, 3], { fileName: 'x.json' }),
    (e: Error) =>
      e instanceof KinetoFormatError &&
      /x\.json is not a PyTorch profiler \(Kineto\) trace: expected a JSON object with a "traceEvents" array/.test(
        e.message,
      ),
  );
  assert.throws(() => importKineto({ foo: 1 }), KinetoFormatError);
});

test('fractional µs are rounded as HTA does: start = ceil(ts), end = floor(ts + dur)', () => {
  const m = importKineto({
    distributedInfo: { rank: 0, world_size: 1 },
    traceEvents: [
      { ph: 'X', cat: 'kernel', name: 'k', pid: 0, tid: 7, ts: 100.25, dur: 10.5, args: { stream: 7, correlation: 1 } },
      { ph: 'X', cat: 'kernel', name: 'k2', pid: 0, tid: 7, ts: 200.0, dur: 0.5, args: { stream: 7, correlation: 2 } },
    ],
  });
  const [a, b] = m.slices;
  assert.equal(a.startNs, 0); // origin = ceil(100.25) = 101 µs
  assert.equal(a.durNs, (110 - 101) * 1000); // floor(110.75) − 101
  assert.equal(b.startNs, (200 - 101) * 1000);
  assert.equal(b.durNs, 0);
  assert.equal(m.meta.originNs, '101000');
});

test('missing distributedInfo: rank from the file name, with a warning', () => {
  const m = importKineto(kinetoTrace({ withDist: false }), { fileName: '/tmp/job/trace_rank-3.json' });
  assert.equal(m.processes[0].rank, 3);
  assert.ok(m.warnings.some((w) => /no distributedInfo/.test(w) && /rank 3/.test(w)));
  const a = analyze(m);
  assert.ok(a.notes.some((n) => /no distributedInfo/.test(n)));
  assert.equal(a.ranks.length, 1);
});

test('no GPU kernels: importer warning and a note, no metrics, no exception', () => {
  const m = importKineto(kinetoTrace({ kernels: false }), { fileName: 'cpu-only.json' });
  assert.ok(m.warnings.some((w) => /no GPU kernels/.test(w)));
  const a = analyze(m);
  assert.ok(a.notes.some((n) => /no GPU kernels/.test(n)));
  assert.equal(a.ranks[0].temporal.spanNs, 0);
  assert.equal(a.suggestions.length, 0);
});

test('an empty model and a model without steps analyse with notes', () => {
  const empty = analyze(emptyModel('commlens'));
  assert.equal(empty.ranks.length, 0);
  assert.ok(empty.notes.some((n) => /no ranks/.test(n)));
  const m = importKineto(kinetoTrace({ steps: 3 }));
  m.slices = m.slices.filter((s) => s.category !== 'step');
  const a = analyze(m);
  assert.ok(a.notes.some((n) => /no step markers/.test(n)));
  assert.ok(a.ranks[0].temporal.spanNs > 0);
});

test('ranks from different runs: world sizes disagree and windows do not overlap', () => {
  const r0 = importKineto(kinetoTrace({ rank: 0, world: 2 }));
  const r1 = importKineto(kinetoTrace({ rank: 1, world: 4, t0: 9_000_000 }));
  const m = mergeRankModels([r0, r1]);
  assert.ok(m.warnings.some((w) => /disagree on the world size/.test(w)));
  assert.ok(m.warnings.some((w) => /does not overlap any other rank/.test(w)));
  const a = analyze(m);
  assert.equal(a.ranks.length, 2);
  assert.ok(
    a.notes.some((n) => /not joined/.test(n)),
    'collectives that do not overlap in time are not joined',
  );
  const dup = mergeRankModels([r0, importKineto(kinetoTrace({ rank: 0 }))]);
  assert.ok(dup.warnings.some((w) => /rank 0 appears in more than one file/.test(w)));
});

test('steps that do not line up across ranks: a note, the shared steps still analysed', () => {
  const r0 = importKineto(kinetoTrace({ rank: 0, steps: 3, stepBase: 10 }));
  const r1 = importKineto(kinetoTrace({ rank: 1, steps: 4, stepBase: 10 }));
  const a = analyze(mergeRankModels([r0, r1]));
  assert.ok(a.notes.some((n) => /steps do not line up/.test(n)));
  assert.equal(a.criticalPath?.step, 11);
  assert.deepEqual(
    a.ranks.map((r) => r.stepsAnalysed),
    [
      [10, 11],
      [10, 11, 12],
    ],
  );
});

test('a well-formed pair joins its NCCL all-reduces and reports their wait', () => {
  const a = analyze(mergeRankModels([importKineto(kinetoTrace({ rank: 0 })), importKineto(kinetoTrace({ rank: 1 }))]));
  const inst = a.collectives!.instances;
  assert.equal(inst.length, 2);
  assert.equal(inst[0].op, 'allReduce');
  assert.equal(inst[0].bytes, 4096);
  assert.equal(inst[0].participants.length, 2);
  assert.equal(inst[0].transferNs, 200_000);
});

test('the streaming parser reads a document chunk by chunk like JSON.parse', () => {
  const doc = {
    schemaVersion: 1,
    distributedInfo: { rank: 2, world_size: 4 },
    traceEvents: [
      { ph: 'X', name: 'a "quoted" } name', ts: 1, dur: 2, args: { x: [1, { y: '}' }] } },
      { ph: 'M', name: 'process_name', args: { name: 'p' } },
    ],
    deviceProperties: [{ name: 'H100' }],
    baseTimeNanoseconds: 5,
  };
  const text = Buffer.from(JSON.stringify(doc, null, 1));
  for (const size of [1, 3, 7, 64, text.length]) {
    const p = new KinetoStreamParser();
    for (let i = 0; i < text.length; i += size) p.push(text.subarray(i, i + size));
    assert.deepEqual(p.result(), doc);
  }
  const bad = new KinetoStreamParser();
  bad.push(Buffer.from('{"traceEvents": [{"ph": "X"'));
  assert.throws(() => bad.result(), /ends early/);
});

test('files: .json and .json.gz read alike; garbage gives a clear error; the CLI returns bad-input', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-kineto-'));
  try {
    const doc = kinetoTrace({ rank: 0, world: 1 });
    fs.writeFileSync(path.join(dir, 'r0.json'), JSON.stringify(doc));
    fs.writeFileSync(path.join(dir, 'r0.json.gz'), gzipSync(JSON.stringify(doc)));
    assert.deepEqual(
      await readKinetoFile(path.join(dir, 'r0.json.gz')),
      await readKinetoFile(path.join(dir, 'r0.json')),
    );
    fs.writeFileSync(path.join(dir, 'junk.json'), '{"traceEvents": [1, 2');
    await assert.rejects(readKinetoFile(path.join(dir, 'junk.json')), /junk\.json is not valid JSON/);
    await assert.rejects(importKinetoFolder([path.join(dir, 'missing.json')]), /cannot read/);
    let stderr = '';
    const io = {
      out: () => undefined,
      err: (t: string) => {
        stderr += t;
      },
    };
    assert.equal(await analyzeCommand([path.join(dir, 'junk.json')], io), 2);
    assert.equal(await analyzeCommand([path.join(dir, 'nope')], io), 2);
    assert.equal(await analyzeCommand(['--bogus'], io), 2);
    assert.match(stderr, /junk\.json.*(not valid JSON|no trace events could be read)/);
    assert.match(stderr, /no such file or folder/);
    const model = await importKinetoFolder([path.join(dir, 'r0.json')]);
    const json = perRankJson(analyze(model));
    assert.deepEqual(Object.keys(json), ['0']);
    assert.deepEqual(Object.keys(json['0']).slice(0, 5), [
      'idle_us',
      'compute_us',
      'non_compute_us',
      'kernel_span_us',
      'overlap_pct',
    ]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('malformed events are skipped with warnings, never thrown', () => {
  const m = importKineto({
    distributedInfo: { rank: 0, world_size: 1 },
    traceEvents: [
      null,
      3,
      'x',
      [],
      { ph: 'X', cat: 'kernel', name: 'k', pid: 0, tid: 7, ts: '12', dur: 3, args: { stream: 7 } },
      { ph: 'X', cat: 'kernel', name: 'k', pid: 0, tid: 7, ts: Number.NaN, dur: 3 },
      { ph: 'X', cat: 'kernel', name: 'k', pid: 0, tid: 7, ts: 10, dur: -5, args: null },
      { ph: 'X', name: { weird: true }, pid: { a: 1 }, tid: null, ts: 11, dur: 1 },
      { ph: 'Q', name: 'unknown phase', ts: 1 },
      {
        ph: 'X',
        cat: 'kernel',
        name: 'ncclKernel_AllReduce_RING_LL_Sum_float',
        pid: 0,
        tid: 9,
        ts: 20,
        dur: 5,
        args: { stream: 9, 'In msg nelems': 'many', dtype: 42 },
      },
    ],
  });
  assert.ok(m.warnings.some((w) => /skipped/.test(w)));
  assert.ok(m.warnings.some((w) => /without a numeric "ts"/.test(w)));
  const negative = m.slices.find((s) => s.startNs === 0 && s.name === 'k');
  assert.equal(negative?.durNs, 0);
  const nccl = m.slices.find((s) => s.category === 'collective');
  assert.equal(nccl?.args?.op, 'allReduce');
  assert.equal(nccl?.args?.bytes, undefined);
  assert.doesNotThrow(() => analyze(m));
});

test('FLOPs of a PyTorch trace come from CPU ops recorded with_flops', () => {
  const doc = kinetoTrace({ rank: 0, world: 1, steps: 3 });
  const ev = doc.traceEvents as Ev[];
  for (const s of ev.filter((e) => e.name.startsWith('ProfilerStep')))
    ev.push({ ph: 'X', cat: 'cpu_op', name: 'aten::mm', pid: 1, tid: 1, ts: s.ts + 20, dur: 10, args: { flops: 1e9 } });
  const a = analyze(importKineto(doc));
  const f = a.flops[0];
  assert.equal(f.source, 'cpu_ops');
  assert.equal(f.flops, 2e9, 'two analysed steps, 1 GFLOP each');
  assert.ok(Math.abs(f.achievedFlops - 2e9 / (2 * 1000e-6)) < 1, 'over two 1 ms steps');
});

test('Kineto [memory] instants become a memory counter per device; memory per rank reads its peak', () => {
  const doc = kinetoTrace({ rank: 0, world: 1 });
  const ev = doc.traceEvents as Ev[];
  ev.push(
    {
      ph: 'i',
      name: '[memory]',
      pid: 1,
      tid: 1,
      ts: 1_000_100,
      args: { 'Total Allocated': 100, 'Device Type': 1, 'Device Id': 0 },
    },
    {
      ph: 'i',
      name: '[memory]',
      pid: 1,
      tid: 1,
      ts: 1_000_200,
      args: { 'Total Allocated': 300, 'Device Type': 1, 'Device Id': 0 },
    },
    { ph: 'i', name: '[memory]', pid: 1, tid: 1, ts: 1_000_300, args: { 'Total Allocated': 50, 'Device Type': 0 } },
  );
  const m = importKineto(doc);
  assert.deepEqual(
    m.tracks
      .filter((t) => t.type === 'counter')
      .map((t) => t.name)
      .sort(),
    ['memory allocated (cpu)', 'memory allocated (gpu0)'],
  );
  const mem = analyze(m).memory[0];
  assert.equal(mem.kinds.find((k) => k.kind === 'memory allocated (gpu0)')?.peakBytes, 300);
});
