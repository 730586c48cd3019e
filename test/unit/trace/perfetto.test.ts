import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TraceModel } from '../../../trace/model';
import { PerfettoStreamWriter, writePerfetto } from '../../../trace/perfettoWriter';
import { readPerfetto } from '../../../trace/perfettoReader';
import { ProtoCursor, ProtoWriter } from '../../../trace/protoWire';
import * as zlib from 'node:zlib';
import { deflateFast, inflateBounded } from '../../../trace/load';
import { PERFETTO_FIXTURES, twoRankModel } from './fixtures';

function fixture(name: string): TraceModel {
  return readPerfetto(fs.readFileSync(path.join(PERFETTO_FIXTURES, name)), { fileName: name });
}

/** Slices as comparable rows: track name, pid, start, dur, name, category, args. */
function rows(m: TraceModel) {
  return m.slices
    .map((s) => ({
      track: m.tracks[s.track].name,
      pid: m.tracks[s.track].pid,
      start: s.startNs,
      dur: s.durNs,
      depth: s.depth,
      name: s.name,
      category: s.category,
      raw: s.rawCategory,
      args: s.args,
    }))
    .sort((a, b) => a.pid - b.pid || a.track.localeCompare(b.track) || a.start - b.start || b.dur - a.dur);
}

test('round trip: processes, tracks, slices, nesting, args, counters, flows, metadata', () => {
  const m = twoRankModel();
  const back = readPerfetto(writePerfetto(m));
  assert.equal(back.meta.format, 'commlens');
  assert.equal(back.meta.originNs, m.meta.originNs);
  assert.equal(back.meta.worldSize, 2);
  assert.deepEqual(back.meta.info, m.meta.info);
  assert.deepEqual(back.processes, m.processes);
  // The writer gives every child track an explicit sibling order (its id when it had none).
  assert.deepEqual(
    back.tracks,
    m.tracks.map((t) => ({ ...t, order: t.order ?? t.id })),
  );
  assert.deepEqual(
    rows(back),
    rows(m).map((r) => ({ ...r, start: Math.round(r.start), dur: Math.round(r.start + r.dur) - Math.round(r.start) })),
  );
  assert.deepEqual(
    back.counters,
    m.counters.map((c) => ({ ...c, tsNs: c.tsNs.map(Math.round) })),
  );
  assert.equal(back.flows.length, 1);
  const f = back.flows[0];
  assert.equal(back.slices[f.from].name, 'allReduce');
  assert.equal(back.tracks[back.slices[f.from].track].pid, 0);
  assert.equal(back.tracks[back.slices[f.to].track].pid, 1);
  assert.deepEqual(back.warnings, []);
});

test('stream writer: a child reported before its same-start parent still nests', () => {
  const chunks: Uint8Array[] = [];
  const w = new PerfettoStreamWriter((c) => chunks.push(c), { originNs: '5' });
  w.process({ pid: 3, name: 'rank 0', rank: 0 });
  w.track({ id: 0, pid: 3, name: 'host', type: 'slice', stream: 'host', gpu: false });
  w.slice({ track: 0, name: 'child', category: 'host', startNs: 0, durNs: 5 });
  w.slice({ track: 0, name: 'parent', category: 'step', startNs: 0, durNs: 10 });
  w.slice({ track: 0, name: 'next', category: 'step', startNs: 10, durNs: 10 });
  w.flush();
  const m = readPerfetto(Buffer.concat(chunks));
  assert.deepEqual(
    m.slices.map((s) => [s.name, s.startNs, s.durNs, s.depth]),
    [
      ['parent', 0, 10, 0],
      ['child', 0, 5, 1],
      ['next', 10, 10, 0],
    ],
  );
});

test('flow ids are fixed64, one tag each, never packed; interned packets carry sequence flags', () => {
  const chunks: Uint8Array[] = [];
  const w = new PerfettoStreamWriter((c) => chunks.push(c));
  w.process({ pid: 0, name: 'r0' });
  w.track({ id: 0, pid: 0, name: 'comm', type: 'slice', stream: 'communication', gpu: true });
  w.slice({ track: 0, name: 'a', category: 'collective', startNs: 1, durNs: 1 }, { out: [0xfffffffff, 2] });
  w.flush();
  const bytes = Buffer.concat(chunks);
  // Walk Trace.packet -> TracePacket.track_event (11) -> fields 47.
  const flowTags: number[] = [];
  const flags: number[] = [];
  const top = new ProtoCursor(bytes);
  while (!top.atEnd()) {
    top.varint();
    const [ps, pe] = top.lengthDelimited();
    const p = new ProtoCursor(bytes, ps, pe);
    while (!p.atEnd()) {
      const tag = p.varint();
      if (tag >>> 3 === 13) flags.push(p.varint());
      else if (tag === (11 << 3) + 2) {
        const [es, ee] = p.lengthDelimited();
        const e = new ProtoCursor(bytes, es, ee);
        while (!e.atEnd()) {
          const t = e.varint();
          if (t >>> 3 === 47) {
            flowTags.push(t & 7);
            e.fixed64();
          } else e.skip(t & 7);
        }
      } else p.skip(tag & 7);
    }
  }
  assert.deepEqual(flowTags, [1, 1]);
  assert.equal(flags[0], 1, 'first packet clears incremental state');
  assert.ok(flags.includes(2), 'packets using interned names need incremental state');
});

test('fixture flow_events_track_event: the 8 flows Perfetto finds', () => {
  const m = fixture('flow_events_track_event.pftrace');
  const flows = m.flows.map((f) => `${m.slices[f.from].name}->${m.slices[f.to].name}`).sort();
  assert.deepEqual(
    flows,
    [
      'FlowSlice1Start->FlowSlice1End',
      'FlowSlice1Start2Start->FlowSlice1End',
      'FlowSlice1Start2Start->FlowSlice2End',
      'FlowSlice3Begin->FlowSlice3End4Begin',
      'FlowSlice3End4Begin->FlowSlice4Step',
      'FlowSlice4Step->FlowSlice4Step2_FlowIdOnAsyncEndEvent',
      'FlowSlice4Step2_FlowIdOnAsyncEndEvent->FlowSlice4Step2_FlowIdOnEndEvent',
      'FlowSlice4Step2_FlowIdOnEndEvent->FlowSlice4End',
    ].sort(),
  );
  assert.equal(m.slices.length, 11);
});

test('fixture track_event_tracks: slices on the tracks Perfetto puts them on', () => {
  const m = fixture('track_event_tracks.pftrace');
  const origin = BigInt(m.meta.originNs);
  const got = m.slices
    .map((s) => {
      const t = m.tracks[s.track];
      const p = m.processes.find((x) => x.pid === t.pid);
      return `${Number(origin) + s.startNs},${s.durNs},${s.name}@${t.name}/${p?.name}`;
    })
    .sort();
  assert.deepEqual(
    got,
    [
      '1000,0,event1_on_t1@t1/p1',
      '2000,0,event1_on_t2@t2/p1',
      '3000,0,event2_on_t2@t2/p1',
      '4000,0,event1_on_p1@p1/p1',
      '5000,0,event1_on_async@async/p1',
      '5100,100,event1_on_async2@async2/p1',
      '6000,0,event1_on_async3@async3/p1',
      '6000,0,event3_on_t1@t1/p1',
      '11000,0,event1_on_t3@t3/p1',
      '21000,0,event1_on_p2@p2/p2',
      '22000,0,event1_on_t4@t4/p2',
      '30000,0,event1_on_t1@Default Track/Global tracks',
      '31000,0,event2_on_p2@p2/p2',
      '32000,0,event2_on_t4@t4/p2',
      '40000,0,event_and_track_async3@event_and_track_async3/p1',
    ].sort(),
  );
  assert.equal(new Set(m.processes.map((p) => p.pid)).size, m.processes.length, 'pid reuse gives distinct model pids');
});

test('fixture track_event_counters: slices and counter values Perfetto finds', () => {
  const m = fixture('track_event_counters.pftrace');
  const origin = Number(m.meta.originNs);
  assert.deepEqual(
    m.slices.map((s) => `${origin + s.startNs},${s.durNs},${s.name}@${m.tracks[s.track].name}`).sort(),
    [
      '1000,100,event1_on_t1@t1',
      '2000,200,event2_on_t1@t1',
      '2000,200,event3_on_t1@t1',
      '4000,0,event4_on_t1@t1',
      '4000,100,event1_on_t3@t4',
      '4300,0,float_counter_on_t1@t1',
      '4500,0,float_counter_on_t1@t1',
    ].sort(),
  );
  const series = (name: string, unit?: string) =>
    m.counters
      .filter((c) => m.tracks[c.track].name === name && m.tracks[c.track].unit === unit)
      .flatMap((c) => c.tsNs.map((t, i) => [origin + t, c.values[i]]));
  assert.deepEqual(series('thread_time', 'ns'), [
    [1000, 1e6],
    [1100, 1.01e6],
    [2000, 2e6],
    [2000, 2.01e6],
    [2200, 2.02e6],
    [2200, 2.03e6],
    [4000, 2.04e6],
  ]);
  assert.deepEqual(series('MySizeCounter', 'bytes'), [
    [3000, 1024],
    [3100, 2048],
    [4000, 1024],
    [4500, 4096],
  ]);
  assert.deepEqual(series('MyDoubleCounter'), [
    [4200, 3.1415926],
    [4300, 0.5],
    [4500, 2.71828],
  ]);
  assert.deepEqual(series('thread_time'), [
    [4000, 10000],
    [4100, 15000],
  ]);
  assert.deepEqual(series('thread_instruction_count'), [
    [4000, 20],
    [4100, 25],
  ]);
});

test('fixture track_event_merged_debug_annotations: begin and end args merged as Perfetto merges them', () => {
  const m = fixture('track_event_merged_debug_annotations.pftrace');
  assert.equal(m.slices.length, 1);
  assert.equal(m.slices[0].durNs, 1000);
  assert.deepEqual(m.slices[0].args, {
    debug1: { key1: 10, key2: [20, 21, 22, 23], key3: 30 },
    debug2: { key1: 10, key2: [20, 21, 22, 23], key3: { key31: 31, key32: 32 }, key4: 40 },
    debug3: 32,
    debug4: { key1: 10, key2: [20, 21] },
  });
});

test('fixture track_event_tracks_ordering: tracks with their sibling order ranks', () => {
  const m = fixture('track_event_tracks_ordering.pftrace');
  const byName = Object.fromEntries(m.tracks.map((t) => [t.name, t]));
  assert.equal(byName.child_1.order, -10);
  assert.equal(byName.child_2.order, -2);
  assert.equal(byName.async.order, 1);
  assert.equal(byName.async2.order, 2);
  assert.equal(m.processes.find((p) => p.pid === byName.child_1.pid)?.name, 'parent');
  assert.equal(m.processes.find((p) => p.pid === byName.p1_child_1.pid)?.name, 'p1');
});

test('truncated file: the complete packets are read, with a warning naming the byte', () => {
  const bytes = writePerfetto(twoRankModel());
  const cut = bytes.subarray(0, Math.floor(bytes.length * 0.6));
  const m = readPerfetto(cut, { fileName: 'cut.pftrace' });
  assert.ok(m.slices.length > 0 && m.slices.length < twoRankModel().slices.length);
  assert.match(m.warnings[0], /cut\.pftrace: read stopped at byte \d+/);
});

test('compressed_packets: the same model comes back; without inflate the packets are skipped with a warning', () => {
  const m = twoRankModel();
  const plain = writePerfetto(m);
  const packed = writePerfetto(m, { compress: deflateFast });
  assert.ok(packed.length < plain.length);
  const back = readPerfetto(packed, { inflate: inflateBounded });
  assert.deepEqual(rows(back), rows(readPerfetto(plain)));
  assert.equal(back.meta.originNs, m.meta.originNs);
  assert.equal(back.flows.length, 1);
  const skipped = (() => {
    try {
      return readPerfetto(packed).warnings.join(' ');
    } catch (e) {
      return (e as Error).message;
    }
  })();
  assert.match(skipped, /compressed_packets \(no inflate function given\)|no trace packets/);
});

test('compressed_packets that do not inflate, or inflate past the bound, are skipped with a warning', () => {
  // A small bomb against a small bound (load.ts bounds at 256 MiB the same way).
  const bomb = deflateFast(new Uint8Array(4 * 1024 * 1024));
  const inflate = (b: Uint8Array) => zlib.inflateSync(b, { maxOutputLength: 1024 * 1024 });
  const w = new ProtoWriter();
  const p = new ProtoWriter();
  p.bytes(50, bomb);
  w.message(1, p);
  p.reset();
  p.bytes(50, new Uint8Array([1, 2, 3, 4]));
  w.message(1, p);
  const good = writePerfetto(twoRankModel());
  const m = readPerfetto(new Uint8Array([...w.buf.subarray(0, w.pos), ...good]), { inflate, fileName: 'z.pftrace' });
  assert.equal(m.slices.length, twoRankModel().slices.length);
  assert.ok(
    m.warnings.some((x) => /2 malformed packet\(s\) skipped.*do not inflate/.test(x)),
    m.warnings.join('\n'),
  );
});

test('stream writer drops spans and samples with impossible times, counting them', () => {
  const chunks: Uint8Array[] = [];
  const w = new PerfettoStreamWriter((c) => chunks.push(c));
  w.process({ pid: 0, name: 'r0' });
  w.track({ id: 0, pid: 0, name: 'compute', type: 'slice', stream: 'compute', gpu: true });
  w.track({ id: 1, pid: 0, name: 'bytes', type: 'counter', stream: 'compute', gpu: false, unit: 'bytes' });
  w.slice({ track: 0, name: 'bad', category: 'kernel', startNs: 5, durNs: -1 });
  w.slice({ track: 0, name: 'nan', category: 'kernel', startNs: Number.NaN, durNs: 1 });
  w.slice({ track: 0, name: 'ok', category: 'kernel', startNs: 5, durNs: 1 });
  w.counter(1, Number.POSITIVE_INFINITY, 1);
  w.counter(1, 3, 7);
  w.flush();
  assert.equal(w.dropped, 3);
  const m = readPerfetto(Buffer.concat(chunks));
  assert.deepEqual(
    m.slices.map((s) => s.name),
    ['ok'],
  );
  assert.deepEqual(m.counters[0].values, [7]);
});
