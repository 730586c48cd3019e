/**
 * The load budget (trace/budget.ts): gzip bombs, huge event counts and endless inputs end
 * with a clear error while streaming, never by exhausting memory; only regular files are
 * read.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { loadTraceFile } from '../../../trace/load';
import { readKinetoFile } from '../../../trace/kinetoRead';
import { importKinetoFolder } from '../../../trace/kineto';
import { readChromeJsonFile, writeChromeJson } from '../../../trace/chromeJson';
import { writePerfetto } from '../../../trace/perfettoWriter';
import {
  parseByteSize,
  takeMaxTraceBytesFlag,
  TraceTooLargeError,
  defaultMaxTraceBytes,
  setDefaultMaxTraceBytes,
  MAX_TRACE_BYTES_ENV,
} from '../../../trace/budget';
import { TraceFormatError } from '../../../trace/errors';
import { addTrack, emptyModel, finalizeModel } from '../../../trace/model';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-budget-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const MiB = 1024 * 1024;

/** One ~1 MiB run of Kineto events (`{...},` repeated), the body of a gzip bomb. */
function eventRun(): Buffer {
  const ev =
    '{"ph":"X","cat":"cpu_op","name":"aten::mm","pid":1,"tid":1,"ts":1000000,"dur":5,"args":{"External id":1}},';
  return Buffer.from(ev.repeat(Math.ceil(MiB / ev.length)));
}

/**
 * A multi-member gzip whose first member opens a Kineto (or CommLens) document and whose
 * other `members` members repeat the same compressed 1 MiB of events: ~1 kB on disk per
 * MiB expanded, so a few MB of file stand for gigabytes of events.
 */
function gzipBomb(file: string, head: string, members: number): number {
  const first = gzipSync(Buffer.concat([Buffer.from(head), eventRun()]), { level: 9 });
  const rest = gzipSync(eventRun(), { level: 9 });
  const fd = fs.openSync(file, 'w');
  fs.writeSync(fd, first);
  for (let i = 0; i < members; i++) fs.writeSync(fd, rest);
  fs.closeSync(fd);
  return (members + 1) * MiB;
}

function tooLarge(e: unknown, file: string): boolean {
  assert.ok(e instanceof TraceTooLargeError, `expected TraceTooLargeError, got ${(e as Error)?.stack ?? String(e)}`);
  assert.ok(e instanceof TraceFormatError);
  assert.ok(e.message.includes(file), e.message);
  assert.match(e.message, /this trace needs (about|more than) [\d.]+ [GMk]B to open/);
  assert.match(e.message, /--max-trace-bytes \d+G/);
  assert.match(e.message, /commlens\.maxTraceBytes/);
  return true;
}

/** Memory grows by less than `mb` while `f` runs. */
async function withinMemory<T>(mb: number, f: () => Promise<T>): Promise<T> {
  const before = process.memoryUsage().rss;
  let peak = before;
  const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  try {
    return await f();
  } finally {
    clearInterval(t);
    peak = Math.max(peak, process.memoryUsage().rss);
    assert.ok(peak - before < mb * MiB, `memory grew by ${((peak - before) / MiB).toFixed(0)} MiB (allowed ${mb})`);
  }
}

test('a Kineto .json.gz bomb (1 GiB of events from ~1 MB) stops at the limit with the estimated size', async () => {
  const file = path.join(tmp, 'bomb.pt.trace.json.gz');
  const expanded = gzipBomb(
    file,
    '{"schemaVersion":1,"distributedInfo":{"rank":0,"world_size":2},"traceEvents":[',
    1023,
  );
  assert.ok(fs.statSync(file).size < 8 * MiB, 'small enough for the one-shot gunzip path');
  const err = await withinMemory(400, () =>
    readKinetoFile(file, { maxTraceBytes: 64 * MiB }).then(
      () => undefined,
      (e: unknown) => e,
    ),
  );
  assert.ok(tooLarge(err, file));
  // The estimate is extrapolated from the share of the file read: within a factor of 2 of 4 bytes per byte.
  const needed = (err as TraceTooLargeError).neededBytes;
  assert.ok(needed > 2 * expanded && needed < 8 * expanded, `estimate ${needed} for ${expanded} bytes of JSON`);
  // Through the generic loader too (sniffed as Kineto by its first bytes).
  await assert.rejects(loadTraceFile(file, { maxTraceBytes: 64 * MiB }), (e) => tooLarge(e, file));
});

test('a large Kineto file (streamed path) stops on its bytes and, with room for bytes, on its event count', async () => {
  const file = path.join(tmp, 'big.json.gz');
  gzipBomb(file, '{"schemaVersion":1,"deviceProperties":[],"traceEvents":[', 9000);
  assert.ok(fs.statSync(file).size > 8 * MiB, 'large enough for the streamed path');
  await withinMemory(400, () =>
    assert.rejects(readKinetoFile(file, { maxTraceBytes: 128 * MiB }), (e) => tooLarge(e, file)),
  );
  // Events are counted as the stream parser splits them: 150 k events at 700 B pass 100 MB early.
  const err = await readKinetoFile(file, { maxTraceBytes: 100 * MiB, streamAboveBytes: 1 * MiB }).catch(
    (e: unknown) => e,
  );
  assert.ok(tooLarge(err, file));
  assert.match((err as Error).message, /events at ~700 bytes each/);
});

test('a Chrome JSON .gz bomb and a Perfetto trace with too many events stop with the same message', async () => {
  const json = path.join(tmp, 'bomb.json.gz');
  gzipBomb(json, '{"traceEvents":[', 2000);
  await withinMemory(300, () =>
    assert.rejects(readChromeJsonFile(json, { maxTraceBytes: 32 * MiB }), (e) => tooLarge(e, json)),
  );
  await assert.rejects(loadTraceFile(json, { maxTraceBytes: 32 * MiB }), (e) => tooLarge(e, json));

  const m = emptyModel('commlens', '0');
  m.processes.push({ pid: 0, rank: 0, name: 'rank 0' });
  const t = addTrack(m, { pid: 0, name: 'compute', type: 'slice', stream: 'compute', gpu: true });
  for (let i = 0; i < 20_000; i++)
    m.slices.push({ track: t, name: 'k', category: 'kernel', startNs: i * 10, durNs: 5 });
  const pf = path.join(tmp, 'many.pftrace');
  fs.writeFileSync(pf, writePerfetto(finalizeModel(m)));
  // 20 000 slices are 40 000 begin/end events: at 700 bytes each, 28 MB.
  await assert.rejects(
    loadTraceFile(pf, { maxTraceBytes: 8 * MiB }),
    (e) => tooLarge(e, pf) && /events at ~700 bytes each/.test((e as Error).message),
  );
  const ok = await loadTraceFile(pf, { maxTraceBytes: 64 * MiB });
  assert.equal(ok.slices.length, 20_000);
  // A gzipped protobuf is gunzipped as a stream under the same meter.
  const pfgz = path.join(tmp, 'many.pftrace.gz');
  fs.writeFileSync(pfgz, gzipSync(fs.readFileSync(pf)));
  await assert.rejects(loadTraceFile(pfgz, { maxTraceBytes: 1 * MiB }), (e) => tooLarge(e, pfgz));
  // A whole job's ranks share the budget: two Kineto files that each fit, together do not.
  const ranks = [0, 1].map((r) => {
    const f = path.join(tmp, `job-rank${r}.json`);
    const ev = [];
    for (let i = 0; i < 6000; i++)
      ev.push({ ph: 'X', cat: 'cpu_op', name: 'aten::mm', pid: 1, tid: 1, ts: 1000 + i, dur: 1 });
    fs.writeFileSync(f, JSON.stringify({ distributedInfo: { rank: r, world_size: 2 }, traceEvents: ev }));
    return f;
  });
  await importKinetoFolder([ranks[0]], { maxTraceBytes: 6 * MiB });
  await assert.rejects(
    importKinetoFolder(ranks, { maxTraceBytes: 6 * MiB }),
    (e) => tooLarge(e, ranks[1]) && /files loaded before it/.test((e as Error).message),
  );
  void writeChromeJson;
});

test('only regular files are read: a FIFO, /dev/zero and a folder end at once with what they are', async () => {
  const fifo = path.join(tmp, 'pipe.json');
  execFileSync('mkfifo', [fifo]);
  const started = Date.now();
  await assert.rejects(
    readKinetoFile(fifo),
    (e) => e instanceof TraceFormatError && e.message.includes(fifo) && /FIFO/.test(e.message),
  );
  await assert.rejects(loadTraceFile(fifo), (e) => e instanceof TraceFormatError && /FIFO/.test(e.message));
  await assert.rejects(readChromeJsonFile(fifo), (e) => e instanceof TraceFormatError && /FIFO/.test(e.message));
  await assert.rejects(
    readKinetoFile('/dev/zero'),
    (e) => e instanceof TraceFormatError && /\/dev\/zero.*character device/.test(e.message),
  );
  await assert.rejects(readKinetoFile(tmp), (e) => e instanceof TraceFormatError && /is a folder/.test(e.message));
  assert.ok(Date.now() - started < 5000, 'no read blocked');
});

test('the limit comes from the option, the flag or the environment; sizes take units', () => {
  assert.equal(parseByteSize('4G'), 4 * 1024 ** 3);
  assert.equal(parseByteSize('512MiB'), 512 * MiB);
  assert.equal(parseByteSize('1.5g'), 1.5 * 1024 ** 3);
  assert.equal(parseByteSize('1000'), 1000);
  assert.equal(parseByteSize('lots'), undefined);
  assert.equal(parseByteSize('-1'), undefined);
  const saved = process.env[MAX_TRACE_BYTES_ENV];
  try {
    delete process.env[MAX_TRACE_BYTES_ENV];
    assert.equal(defaultMaxTraceBytes(), 2 * 1024 ** 3);
    process.env[MAX_TRACE_BYTES_ENV] = '3G';
    assert.equal(defaultMaxTraceBytes(), 3 * 1024 ** 3);
    process.env[MAX_TRACE_BYTES_ENV] = 'x';
    assert.throws(() => defaultMaxTraceBytes(), /COMMLENS_MAX_TRACE_BYTES=x is not a size/);
    const errs: string[] = [];
    assert.deepEqual(
      takeMaxTraceBytesFlag(['a', '--max-trace-bytes', '5G', 'b'], (m) => errs.push(m)),
      ['a', 'b'],
    );
    assert.equal(defaultMaxTraceBytes(), 5 * 1024 ** 3);
    assert.deepEqual(
      takeMaxTraceBytesFlag(['--max-trace-bytes=1M'], (m) => errs.push(m)),
      [],
    );
    assert.equal(defaultMaxTraceBytes(), MiB);
    assert.equal(
      takeMaxTraceBytesFlag(['--max-trace-bytes', 'big'], (m) => errs.push(m)),
      undefined,
    );
    assert.match(errs[0], /--max-trace-bytes needs a size/);
  } finally {
    setDefaultMaxTraceBytes(undefined);
    if (saved === undefined) delete process.env[MAX_TRACE_BYTES_ENV];
    else process.env[MAX_TRACE_BYTES_ENV] = saved;
  }
});
