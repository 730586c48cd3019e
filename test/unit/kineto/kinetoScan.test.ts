// The streaming columnar ingest (trace/kinetoScan.ts) reads the same events, times and args
// as the importer (trace/kineto.ts) on the real HTA-sampled pair, at any chunk boundary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { fixturesDir } from '../../helpers/paths';
import { importKinetoFile } from '../../../trace/kineto';
import {
  idValue,
  KinetoScanner,
  KinetoScanError,
  PH,
  scanKinetoFile,
  type KinetoColumns,
} from '../../../trace/kinetoScan';
import { scanKinetoFiles } from '../../../trace/kinetoScanPool';

const dir = fixturesDir('kineto', 'hta-sampled');
const files = [0, 1].map((r) => join(dir, `sampled_rank-${r}.json.gz`));

/** One line per X event as the importer keeps it: name, category, rounded µs start and duration, the joined args. */
function scanRecords(c: KinetoColumns): string[] {
  const out: string[] = [];
  for (let i = 0; i < c.count; i++) {
    if (c.ph[i] !== PH.X) continue;
    const cat = c.cat[i] >= 0 ? c.strings[c.cat[i]] : '';
    if (cat === 'Trace' || !Number.isFinite(c.ts[i])) continue;
    const start = Math.ceil(c.ts[i]);
    const dur = Number.isFinite(c.dur[i]) && c.dur[i] > 0 ? c.dur[i] : 0;
    const end = Math.max(start, Math.floor(c.ts[i] + dur));
    const extra = c.extraArgs.get(i);
    const coll = extra && extra['Input Dims'] !== undefined ? JSON.stringify(extra['Input Dims']) : '';
    out.push(
      [c.strings[c.name[i]], cat, start, end - start, c.correlation[i], c.externalId[i], c.stream[i], coll].join('|'),
    );
  }
  return out.sort();
}

async function importRecords(path: string): Promise<string[]> {
  const m = await importKinetoFile(path);
  const origin = Number(BigInt(m.meta.originNs) / 1000n);
  const num = (v: unknown) => (typeof v === 'number' ? v : NaN);
  return m.slices
    .map((s) => {
      const a = s.args ?? {};
      const launcher =
        /^(nccl:|record_param_comms$|c10d::)/.test(s.name) && a['Input Dims'] !== undefined
          ? JSON.stringify(a['Input Dims'])
          : '';
      return [
        s.name,
        s.rawCategory ?? s.category,
        s.startNs / 1000 + origin,
        s.durNs / 1000,
        num(a.correlation),
        num(a['External id']),
        num(a.stream),
        launcher,
      ].join('|');
    })
    .sort();
}

test('pid and tid are what JSON.parse reads: strings, numbers (one code per value) or absent', async () => {
  const events = [
    { ph: 'X', pid: 12, tid: 7 },
    { ph: 'X', pid: '12', tid: 'stream 7' },
    { ph: 'X', pid: 12, tid: -3 },
    { ph: 'X', tid: 7.5 },
    { ph: 'X', pid: 1e3, tid: 0 },
    { ph: 'X', pid: 'Spans', tid: '' },
    { ph: 'X', pid: 12, tid: 7 },
    { ph: 'X' },
  ];
  const s = new KinetoScanner();
  s.push(Buffer.from(JSON.stringify({ traceEvents: events })));
  const c = s.end();
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as { pid?: unknown; tid?: unknown };
    assert.equal(idValue(c, c.pid[i]), e.pid, `pid of event ${i}`);
    assert.equal(idValue(c, c.tid[i]), e.tid, `tid of event ${i}`);
  }
  // The same number, the same code; a number and the string of it, two.
  assert.equal(c.pid[0], c.pid[6]);
  assert.equal(c.tid[0], c.tid[6]);
  assert.notEqual(c.pid[0], c.pid[1]);
  assert.deepEqual(c.numbers, [12, 7, -3, 7.5, 1000, 0]);
  // And on the real pair, every event.
  for (const f of files) {
    const col = await scanKinetoFile(f);
    const doc = JSON.parse(gunzipSync(readFileSync(f)).toString('utf8')) as {
      traceEvents: { pid?: unknown; tid?: unknown }[];
    };
    assert.equal(col.count, doc.traceEvents.length);
    for (let i = 0; i < col.count; i++) {
      if (idValue(col, col.pid[i]) !== doc.traceEvents[i].pid || idValue(col, col.tid[i]) !== doc.traceEvents[i].tid)
        assert.fail(
          `${f} event ${i}: pid/tid ${String(idValue(col, col.pid[i]))}/${String(idValue(col, col.tid[i]))}, JSON.parse ${String(doc.traceEvents[i].pid)}/${String(doc.traceEvents[i].tid)}`,
        );
    }
  }
});

test('scan equals the importer on the HTA-sampled pair (events, rounded times, correlation, External id, stream, launcher shapes)', async () => {
  for (const f of files) {
    const c = await scanKinetoFile(f);
    const a = scanRecords(c),
      b = await importRecords(f);
    assert.equal(a.length, b.length);
    assert.deepEqual(a, b);
    assert.deepEqual(
      c.top.distributedInfo,
      (JSON.parse(gunzipSync(readFileSync(f)).toString('utf8')) as { distributedInfo: unknown }).distributedInfo,
    );
    // Metadata names and the collective launchers' shapes are kept; ordinary ops' shapes are not.
    const extras = [...c.extraArgs.values()];
    assert.ok(extras.some((e) => typeof e.name === 'string'));
    assert.ok(extras.length < 200, `${extras.length} events kept extra args`);
  }
});

test('scan gives the same columns at every chunk size, down to one byte', () => {
  const text = gunzipSync(readFileSync(files[1]));
  const whole = new KinetoScanner();
  whole.push(text);
  const ref = whole.end();
  for (const size of [1, 7, 4096, 65_537]) {
    const s = new KinetoScanner();
    const part = size === 1 ? text.subarray(0, 60_000) : text;
    if (size === 1) {
      // One byte at a time over the first 60 kB, then the rest at once.
      for (let i = 0; i < part.length; i++) s.push(part.subarray(i, i + 1));
      s.push(text.subarray(part.length));
    } else for (let i = 0; i < text.length; i += size) s.push(text.subarray(i, i + size));
    const c = s.end();
    assert.equal(c.count, ref.count, `chunks of ${size}`);
    assert.deepEqual(scanRecords(c), scanRecords(ref), `chunks of ${size}`);
  }
});

test('the worker pool scans every file into its own slot', async () => {
  const cols = await scanKinetoFiles([files[0], files[1], files[0]], { workers: 2 });
  assert.deepEqual(
    cols.map((c) => (c.top.distributedInfo as { rank: number }).rank),
    [0, 1, 0],
  );
  assert.deepEqual(scanRecords(cols[2]), scanRecords(cols[0]));
});

test('bad input gets a message that says what was expected', () => {
  const scan = (s: string) => {
    const k = new KinetoScanner('t.json');
    k.push(Buffer.from(s));
    return k.end();
  };
  assert.throws(
    () => scan('[1, 2]'),
    (e: Error) => e instanceof KinetoScanError && /expected "\{"/.test(e.message),
  );
  assert.throws(() => scan('{"a": 1}'), /expected a JSON object with a "traceEvents" array/);
  assert.throws(() => scan('{"traceEvents": [{"ph": "X"'), /ends before|ends inside/);
  assert.equal(
    scan(
      '{"traceEvents": [{"ph": "X", "name": "a\\"b", "ts": 1.5, "dur": 2, "args": {"stream": 7}}]}',
    ).strings.includes('a"b'),
    true,
  );
});

test('long names that differ in one byte, or only by an escape, are distinct strings', () => {
  // Names over 64 bytes are interned by a hash of a sample of their bytes: every byte must still tell them apart.
  const base = 'void kernel<' + 'x'.repeat(200) + '>(int)';
  const names: string[] = [];
  for (let at = 12; at < 212; at += 1) names.push(base.slice(0, at) + 'y' + base.slice(at + 1));
  names.push(base, base, 'void kernel<"' + 'x'.repeat(199) + '>(int)');
  const events = names.map((n, i) => ({ ph: 'X', cat: 'kernel', name: n, ts: i, dur: 1 }));
  const k = new KinetoScanner('t.json');
  k.push(Buffer.from(JSON.stringify({ traceEvents: events })));
  const c = k.end();
  assert.equal(c.count, names.length);
  for (let i = 0; i < c.count; i++) assert.equal(c.strings[c.name[i]], names[i], `event ${i}`);
  assert.equal(new Set(c.name).size, names.length - 1);
});

test('a plain JSON file is read into the scanner as the same columns, events longer than a read included; a fault names its byte', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'commlens-scan-plain-'));
  try {
    const text = gunzipSync(readFileSync(files[1]));
    const plain = join(dir, 'rank-1.json');
    writeFileSync(plain, text);
    const fromGz = await scanKinetoFile(files[1]);
    const fromPlain = await scanKinetoFile(plain);
    assert.equal(fromPlain.count, fromGz.count);
    assert.deepEqual(scanRecords(fromPlain), scanRecords(fromGz));
    assert.equal(fromPlain.bytes, text.length);
    // One event of 3 MB (its args are longer than a read), between two small ones.
    const big = 'x'.repeat(3 << 20);
    const doc = `{"traceEvents": [{"ph": "X", "cat": "cpu_op", "name": "a", "ts": 1, "dur": 2}, {"ph": "X", "cat": "cpu_op", "name": "b", "ts": 3, "dur": 4, "args": {"note": "${big}", "External id": 9}}, {"ph": "X", "cat": "cpu_op", "name": "c", "ts": 5, "dur": 6}]}`;
    const bigFile = join(dir, 'big.json');
    writeFileSync(bigFile, doc);
    const c = await scanKinetoFile(bigFile);
    assert.equal(c.count, 3);
    assert.deepEqual([...c.ts], [1, 3, 5]);
    assert.equal(c.externalId[1], 9);
    // A fault past the first read is reported at its byte in the file, as a scan of the whole text reports it.
    const bad = Buffer.from(text);
    const at = bad.indexOf('"name"', 1_200_000);
    assert.ok(at > 1 << 20, 'the fault lies past the first read');
    bad[at] = 0x23; // '#'
    const badFile = join(dir, 'bad.json');
    writeFileSync(badFile, bad);
    const whole = new KinetoScanner(badFile);
    const want = (() => {
      try {
        whole.push(bad);
        whole.end();
      } catch (e) {
        return (e as Error).message;
      }
      return '';
    })();
    assert.match(want, new RegExp(`at byte ${at}:`));
    await assert.rejects(scanKinetoFile(badFile), (e: Error) => e instanceof KinetoScanError && e.message === want);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the document's size sizes the columns once; a wrong size (too small, too large, a gzip trailer's modulo) gives the same columns", () => {
  // The real rank's events ten times over: enough rows for the columns to grow many times.
  const doc = JSON.parse(gunzipSync(readFileSync(files[1])).toString('utf8')) as { traceEvents: unknown[] };
  doc.traceEvents = Array.from({ length: 10 }, () => doc.traceEvents).flat();
  const text = Buffer.from(JSON.stringify(doc));
  const columnsOf = (hint: number | undefined) => {
    const s = new KinetoScanner();
    if (hint !== undefined) s.expectBytes(hint);
    // The grows of the scan, counted from the columns' capacity as it changes.
    const cols = (s as unknown as { cols: { cap: number } }).cols;
    let grows = 0,
      cap = cols.cap;
    for (let i = 0; i < text.length; i += 65_536) {
      s.push(text.subarray(i, i + 65_536));
      if (cols.cap !== cap) {
        grows++;
        cap = cols.cap;
      }
    }
    return { c: s.end(), grows, cap };
  };
  const ref = columnsOf(undefined);
  assert.ok(ref.c.count > 8 * 1024, `enough events to grow several times (${ref.c.count})`);
  for (const hint of [
    text.length,
    1,
    4096,
    text.length * 10,
    text.length + 2 ** 32,
    (text.length + 2 ** 32) % 2 ** 32,
  ]) {
    const r = columnsOf(hint);
    assert.equal(r.c.count, ref.c.count, `hint ${hint}`);
    for (const k of ['ph', 'cat', 'name', 'pid', 'tid', 'ts', 'dur', 'correlation', 'externalId', 'stream'] as const)
      assert.deepEqual([...r.c[k]], [...ref.c[k]], `${k} with hint ${hint}`);
    assert.deepEqual(scanRecords(r.c), scanRecords(ref.c), `hint ${hint}`);
  }
  // Doubling from 1,024 grows once per doubling; the right size grows twice (1,024, then the estimate).
  const sized = columnsOf(text.length);
  assert.ok(ref.grows >= 4, `doubling grew ${ref.grows} times`);
  assert.ok(sized.grows <= 2, `sized from the bytes, the columns grew ${sized.grows} times`);
  // Sized columns are handed over as views of the grown ones (no copy), with little spare.
  assert.ok(sized.c.ts.buffer.byteLength > sized.c.ts.byteLength, 'a view of the grown column');
  assert.ok(
    sized.c.ts.buffer.byteLength <= sized.c.ts.byteLength * 1.06 + 8 * 1024 * 8,
    'a few per cent spare at most',
  );
  assert.equal(ref.c.ts.buffer.byteLength, ref.c.ts.byteLength, 'doubled columns are copied to their length');
});
