/**
 * Fuzzing the loaders under a fixed memory limit: truncated, mutated and huge-count
 * inputs of every format, each loaded (discovery, loader, analysis) in a child process
 * with a 256 MB V8 heap, `ulimit -v` of 1.5 GB and a 128 MB trace budget. Every case must
 * end with exit 0 or 2 and a message naming the file — never a crash, a V8 heap abort,
 * a hang or an unnamed error.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { writeChromeJson } from '../../../trace/chromeJson';
import { writePerfetto } from '../../../trace/perfettoWriter';
import { twoRankModel } from './fixtures';
import { repoRoot } from '../../helpers/paths';

const CHILD = path.join(__dirname, 'loadFuzzChild.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-fuzz-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Deterministic generator (mulberry32), so a failure can be reproduced. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function kinetoDoc(rank: number): Buffer {
  const ev: unknown[] = [];
  let corr = 1;
  for (let s = 0; s < 3; s++) {
    const t = 1_700_000_000_000_000 + s * 1000;
    ev.push({ ph: 'X', cat: 'user_annotation', name: `ProfilerStep#${s}`, pid: 1, tid: 1, ts: t, dur: 1000 });
    ev.push({
      ph: 'X',
      cat: 'cuda_runtime',
      name: 'cudaLaunchKernel',
      pid: 1,
      tid: 1,
      ts: t + 10,
      dur: 5,
      args: { correlation: corr },
    });
    ev.push({
      ph: 'X',
      cat: 'kernel',
      name: 'sgemm',
      pid: 0,
      tid: 7,
      ts: t + 20,
      dur: 300,
      args: { stream: 7, correlation: corr++ },
    });
    ev.push({
      ph: 'X',
      cat: 'cuda_runtime',
      name: 'cudaLaunchKernel',
      pid: 1,
      tid: 1,
      ts: t + 400,
      dur: 5,
      args: { correlation: corr },
    });
    ev.push({
      ph: 'X',
      cat: 'kernel',
      name: 'ncclDevKernel_AllReduce_Sum_f32_RING_LL(ncclDevComm*, unsigned long, ncclWork*)',
      pid: 0,
      tid: 20,
      ts: t + 410,
      dur: 200,
      args: { stream: 20, correlation: corr++, 'Collective name': 'allreduce', 'In msg nelems': 1024, dtype: 'Float' },
    });
  }
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 1,
      deviceProperties: [],
      distributedInfo: { rank, world_size: 2, backend: 'nccl' },
      traceEvents: ev,
    }),
  );
}

/** The seeds of the fuzz: one of each format. */
function seeds(): { name: string; bytes: Buffer }[] {
  const pre = fs.readFileSync(path.join(repoRoot, 'test', 'fixtures', 'pytorch', 'plain2', 'rank0.json.gz'));
  return [
    { name: 'rank0.json', bytes: kinetoDoc(0) },
    { name: 'rank0.json.gz', bytes: gzipSync(kinetoDoc(0)) },
    { name: 'rank0.pre.json.gz', bytes: pre },
    { name: 'run.json', bytes: Buffer.from(writeChromeJson(twoRankModel())) },
    { name: 'run.pftrace', bytes: Buffer.from(writePerfetto(twoRankModel())) },
  ];
}

/** Mutations: truncation, byte flips, a spliced repeat, and numbers made huge. */
function mutants(seed: { name: string; bytes: Buffer }, r: () => number): { name: string; bytes: Buffer }[] {
  const b = seed.bytes;
  const out: { name: string; bytes: Buffer }[] = [];
  for (let k = 0; k < 3; k++)
    out.push({ name: `trunc${k}-${seed.name}`, bytes: b.subarray(0, Math.floor(r() * b.length)) });
  for (let k = 0; k < 3; k++) {
    const m = Buffer.from(b);
    for (let j = 0; j < 1 + Math.floor(r() * 8); j++) m[Math.floor(r() * m.length)] = Math.floor(r() * 256);
    out.push({ name: `flip${k}-${seed.name}`, bytes: m });
  }
  const at = Math.floor(r() * b.length);
  out.push({
    name: `splice-${seed.name}`,
    bytes: Buffer.concat([b.subarray(0, at), b.subarray(Math.floor(r() * b.length)), b.subarray(at)]),
  });
  if (!seed.name.endsWith('.gz') && !seed.name.endsWith('.pftrace')) {
    out.push({
      name: `huge-${seed.name}`,
      bytes: Buffer.from(
        b
          .toString('latin1')
          .replace(/"dur":\s*\d+/g, '"dur":1e308')
          .replace(/"ts":\s*(\d)/, '"ts":-9e307$1'),
        'latin1',
      ),
    });
  }
  return out;
}

/** Inputs that claim or hold enormous counts. */
function hostile(): { name: string; bytes: Buffer }[] {
  const MiB = 1024 * 1024;
  // 2 million events in 30 kB of gzip: the event meter, not the heap, must stop it.
  const manyEvents = gzipSync(
    Buffer.concat([
      Buffer.from('['),
      Buffer.from('{"ph":"X","name":"aten::mm","pid":"CPU functions","tid":1,"ts":1,"dur":1},'.repeat(2_000_000)),
      Buffer.from('{}]'),
    ]),
    { level: 9 },
  );
  // 4 GiB of Kineto events from ~4 MB: a multi-member gzip bomb.
  const run = Buffer.from(
    '{"ph":"X","cat":"cpu_op","name":"aten::mm","pid":1,"tid":1,"ts":1,"dur":1},'.repeat(Math.ceil(MiB / 70)),
  );
  const member = gzipSync(run, { level: 9 });
  const bomb = Buffer.concat([
    gzipSync(Buffer.from('{"schemaVersion":1,"deviceProperties":[],"traceEvents":[')),
    ...Array(4096).fill(member),
  ]);
  // A protobuf whose first packet claims 2^40 bytes, and one of 400 k tiny packets.
  const bigLen = Buffer.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x00]);
  const tiny = Buffer.from(writePerfetto(twoRankModel()));
  const manyPackets = Buffer.concat(Array(4000).fill(tiny));
  // Nesting deeper than any parser's stack.
  const deep = Buffer.from(`{"traceEvents":[${'['.repeat(200_000)}`);
  return [
    { name: 'many-events.json.gz', bytes: manyEvents },
    { name: 'bomb.pt.trace.json.gz', bytes: bomb },
    { name: 'biglen.pftrace', bytes: bigLen },
    { name: 'many-packets.pftrace', bytes: manyPackets },
    { name: 'deep.json', bytes: deep },
    { name: 'empty.json', bytes: Buffer.alloc(0) },
    { name: 'nul.json', bytes: Buffer.alloc(4096) },
  ];
}

test('fuzzed and hostile traces end with exit 0 or 2 and a message naming the file, under a fixed memory limit', () => {
  const r = rng(20261203);
  const cases = [...seeds().flatMap((s) => [s, ...mutants(s, r)]), ...hostile()];
  const failures: string[] = [];
  for (const c of cases) {
    const file = path.join(tmp, c.name);
    fs.writeFileSync(file, c.bytes);
    const res = spawnSync(
      '/bin/sh',
      ['-c', `ulimit -v 1500000; exec "${process.execPath}" --max-old-space-size=256 "${CHILD}" "${file}"`],
      {
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, COMMLENS_MAX_TRACE_BYTES: '128M' },
      },
    );
    const text = `${res.stdout}${res.stderr}`;
    if (res.status !== 0 && res.status !== 2)
      failures.push(`${c.name}: exit ${res.status ?? res.signal}: ${text.slice(0, 400)}`);
    else if (!text.includes(c.name))
      failures.push(`${c.name}: exit ${res.status} without naming the file: ${text.slice(0, 400)}`);
    fs.rmSync(file);
  }
  assert.deepEqual(failures, [], `${failures.length} of ${cases.length} cases failed`);
});
