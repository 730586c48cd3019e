import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import type { TraceModel } from '../../../trace/model';
import { readChromeJson, readChromeJsonFile, writeChromeJson } from '../../../trace/chromeJson';
import { JsonTraceSplitter } from '../../../trace/jsonStream';
import { TraceFormatError } from '../../../trace/errors';
import { loadTraceFile, sniffTraceFile } from '../../../trace/load';
import { writePerfetto } from '../../../trace/perfettoWriter';
import { PERFETTO_FIXTURES, twoRankModel } from './fixtures';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-json-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

function flowNames(m: TraceModel): string[] {
  return m.flows.map((f) => `${m.slices[f.from].name}->${m.slices[f.to].name}`).sort();
}

test('round trip through Chrome JSON keeps tracks, slices, args, counters, flows and metadata', () => {
  const m = twoRankModel();
  const text = writeChromeJson(m);
  JSON.parse(text); // valid JSON
  const back = readChromeJson(text);
  assert.equal(back.meta.format, 'commlens');
  assert.equal(back.meta.originNs, m.meta.originNs);
  assert.deepEqual(back.meta.info, m.meta.info);
  assert.deepEqual(back.processes, m.processes);
  const key = (x: TraceModel) =>
    x.slices.map((s) => [
      x.tracks[s.track].name,
      x.tracks[s.track].pid,
      Math.round(s.startNs),
      Math.round(s.startNs + s.durNs),
      s.name,
      s.category,
      s.rawCategory,
      s.args,
      s.depth,
    ]);
  assert.deepEqual(key(back), key(m));
  const slicesTracks = (x: TraceModel) =>
    x.tracks.filter((t) => t.type === 'slice').map(({ id: _id, ...t }) => ({ ...t, order: t.order ?? _id }));
  assert.deepEqual(slicesTracks(back), slicesTracks(m));
  const counters = (x: TraceModel) =>
    x.counters.map((c) => ({
      name: x.tracks[c.track].name,
      unit: x.tracks[c.track].unit,
      pid: x.tracks[c.track].pid,
      ts: c.tsNs.map(Math.round),
      v: c.values,
    }));
  assert.deepEqual(counters(back), counters(m));
  assert.deepEqual(flowNames(back), flowNames(m));
  assert.deepEqual(back.warnings, []);
});

test('one tid per track: X events of different streams never share a thread', () => {
  const m = twoRankModel();
  const events = (
    JSON.parse(writeChromeJson(m)) as { traceEvents: { ph: string; pid: number; tid: number; name: string }[] }
  ).traceEvents;
  const tids = new Set(events.filter((e) => e.ph === 'X').map((e) => `${e.pid}:${e.tid}`));
  assert.equal(tids.size, m.tracks.filter((t) => t.type === 'slice').length);
  const kernels = events.filter((e) => e.ph === 'X' && e.name === 'matmul');
  const collectives = events.filter((e) => e.ph === 'X' && e.name === 'allReduce');
  assert.notEqual(kernels[0].tid, collectives[0].tid);
});

test('a slice in two flows gets bind_id for one and v1 events for the other, and both come back', () => {
  const m = twoRankModel();
  const ar = m.slices
    .map((s, i) => [s, i] as const)
    .filter(([s]) => s.name === 'allReduce')
    .map(([, i]) => i);
  // v1 flow events bind to the innermost slice open at their time, so the second flow uses a
  // slice with no child starting with it (a same-start child would take the binding).
  const backward1 = m.slices.findIndex((s) => s.name === 'backward' && m.tracks[s.track].pid === 1);
  m.flows.push({ id: 9, from: backward1, to: ar[1] });
  const back = readChromeJson(writeChromeJson(m));
  assert.deepEqual(flowNames(back), flowNames(m));
});

test('fixture flow_events_json_v1 and v2: the flows Perfetto finds', async () => {
  const expected = ['OtherSlice->SomeSlice', 'SenderA->OtherSlice', 'SenderB->Blergh'];
  for (const f of ['flow_events_json_v1.json', 'flow_events_json_v2.json']) {
    const m = await readChromeJsonFile(path.join(PERFETTO_FIXTURES, f));
    assert.deepEqual(flowNames(m), expected, f);
  }
});

test('gzip, array format without its closing bracket, and sniffing', async () => {
  const m = twoRankModel();
  const gz = path.join(tmp, 't.json.gz');
  fs.writeFileSync(gz, zlib.gzipSync(writeChromeJson(m)));
  assert.equal(await sniffTraceFile(gz), 'chrome-json');
  assert.equal((await loadTraceFile(gz)).slices.length, m.slices.length);
  const arr = path.join(tmp, 'a.json');
  fs.writeFileSync(
    arr,
    '[{"ph":"X","pid":1,"tid":2,"ts":5,"dur":2,"name":"a"},\n{"ph":"X","pid":1,"tid":2,"ts":6,"dur":1,"name":"b"},\n',
  );
  const a = await loadTraceFile(arr);
  assert.deepEqual(
    a.slices.map((s) => [s.name, s.startNs, s.durNs, s.depth]),
    [
      ['a', 0, 2000, 0],
      ['b', 1000, 1000, 1],
    ],
  );
  assert.equal(a.meta.originNs, '5000');
  const pf = path.join(tmp, 't.pftrace');
  fs.writeFileSync(pf, writePerfetto(m));
  assert.equal(await sniffTraceFile(pf), 'perfetto');
  const k = path.join(tmp, 'k.json');
  fs.writeFileSync(k, '{"schemaVersion":1,"distributedInfo":{"rank":0},"traceEvents":[]}');
  assert.equal(await sniffTraceFile(k), 'kineto');
});

test('a cut JSON file gives the complete events before the cut, with a warning', async () => {
  const text = writeChromeJson(twoRankModel());
  const cut = path.join(tmp, 'cut.json');
  fs.writeFileSync(cut, text.slice(0, Math.floor(text.length * 0.7)));
  const m = await readChromeJsonFile(cut);
  assert.ok(m.slices.length > 0);
  assert.ok(
    m.warnings.some((w) => /cut\.json: file ends inside traceEvents/.test(w)),
    m.warnings.join('\n'),
  );
});

test('JSON that is not a trace ends with an error naming the file, place and what was expected', async () => {
  const cases: [string, RegExp][] = [
    ['{"foo": 1}', /no\.json.*traceEvents.*expected a Chrome JSON trace/],
    ['"hello"', /no\.json at byte 0 at \$: not a JSON trace/],
    ['[1, 2, 3]', /no\.json at \$\.traceEvents\[0\]: no trace events could be read: event is not an object/],
    ['{"traceEvents": [{"ph": "X", "ts": "soon"}]}', /\$\.traceEvents\[0\]\.ts.*not a number/],
    ['{"traceEvents": [{"ph": "X", "ts": 1, "pid": 1, "tid": 1, "name": "\u00ff\u00fe"}]', /./],
  ];
  for (const [text, pattern] of cases.slice(0, 4)) {
    const f = path.join(tmp, 'no.json');
    fs.writeFileSync(f, text);
    await assert.rejects(
      loadTraceFile(f),
      (e: unknown) => e instanceof TraceFormatError && pattern.test(e.message),
      text,
    );
  }
  const deep = `{"traceEvents":[${'['.repeat(100000)}${']'.repeat(100000)},{"ph":"i","ts":1,"pid":1,"tid":1,"name":"ok"}]}`;
  const m = readChromeJson(deep, { fileName: 'deep.json' });
  assert.equal(m.slices.length, 1);
  assert.ok(m.warnings.some((w) => /deeper than 64/.test(w)));
  const badUtf8 = Buffer.concat([
    Buffer.from('{"traceEvents":[{"ph":"i","ts":1,"pid":1,"tid":1,"name":"'),
    Buffer.from([0xff, 0xfe]),
    Buffer.from('"}]}'),
  ]);
  const bu = path.join(tmp, 'utf8.json');
  fs.writeFileSync(bu, badUtf8);
  const u = await loadTraceFile(bu);
  assert.equal(u.slices.length, 1);
  assert.ok(u.warnings.some((w) => /invalid UTF-8/.test(w)));
});

test('the streamed splitter gives the same events whatever the chunk boundaries (escapes, quotes, backslashes)', () => {
  const events = [
    {
      ph: 'X',
      pid: 1,
      tid: 1,
      ts: 1,
      dur: 1,
      name: 'a "quoted" name',
      args: { path: 'C:\\dir\\', q: '\\"', u: '\u00e9\u2713', nested: { s: '}]{[' } },
    },
    { ph: 'X', pid: 1, tid: 1, ts: 3, dur: 1, name: '\\\\', args: { e: '' } },
    { ph: 'i', pid: 1, tid: 1, ts: 5, name: 'end\\' },
  ];
  const text = JSON.stringify({ meta: 'x\\"y', traceEvents: events, after: [1, { a: '"' }] });
  const bytes = new TextEncoder().encode(text);
  const collect = (sizes: () => number) => {
    const got: unknown[] = [];
    const top: string[] = [];
    const s = new JsonTraceSplitter({
      element: (t) => got.push(JSON.parse(t)),
      topLevel: (k, t) => top.push(`${k}=${t}`),
      warn: () => {},
    });
    for (let at = 0; at < bytes.length;) {
      const n = Math.max(1, sizes());
      s.feed(bytes.subarray(at, at + n));
      at += n;
    }
    assert.equal(s.end(), undefined);
    return { got, top };
  };
  const whole = collect(() => bytes.length);
  assert.deepEqual(whole.got, events);
  assert.deepEqual(whole.top, ['meta="x\\\\\\"y"', 'after=[1,{"a":"\\""}]']);
  assert.deepEqual(
    collect(() => 1),
    whole,
  );
  let seed = 7;
  assert.deepEqual(
    collect(() => (seed = (seed * 1103515245 + 12345) % 2147483648) % 13),
    whole,
  );
});
