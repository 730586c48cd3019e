/**
 * Bad input: truncated, corrupt and hostile files end with a TraceFormatError (naming the
 * file, the byte offset or JSON path and what was expected) or with a partial model and
 * warnings, within bounded time; never another exception. Includes a bounded fuzz run of
 * random mutations of the fixtures.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TraceModel } from '../../../trace/model';
import { TraceFormatError } from '../../../trace/errors';
import { readPerfetto } from '../../../trace/perfettoReader';
import { writePerfetto } from '../../../trace/perfettoWriter';
import { readChromeJsonBytes, writeChromeJson } from '../../../trace/chromeJson';
import { ProtoWriter } from '../../../trace/protoWire';
import { deflateFast, inflateBounded } from '../../../trace/load';
import { PERFETTO_FIXTURES, twoRankModel } from './fixtures';

/** The model's internal references are valid and its numbers finite. */
function assertSane(m: TraceModel, what: string): void {
  const pids = new Set(m.processes.map((p) => p.pid));
  m.tracks.forEach((t, i) => {
    assert.equal(t.id, i, `${what}: track id`);
    assert.ok(pids.has(t.pid), `${what}: track ${i} has a process`);
  });
  for (const s of m.slices) {
    assert.ok(s.track >= 0 && s.track < m.tracks.length, `${what}: slice track`);
    assert.ok(
      Number.isFinite(s.startNs) && Number.isFinite(s.durNs) && s.durNs >= 0,
      `${what}: slice times ${s.startNs} ${s.durNs}`,
    );
  }
  for (const f of m.flows) assert.ok(m.slices[f.from] && m.slices[f.to], `${what}: flow endpoints`);
  for (const c of m.counters) assert.equal(c.tsNs.length, c.values.length, `${what}: counter lengths`);
  assert.match(m.meta.originNs, /^-?\d+$/, `${what}: origin`);
}

function packet(body: (w: ProtoWriter) => void): Uint8Array {
  const inner = new ProtoWriter();
  body(inner);
  const outer = new ProtoWriter();
  outer.message(1, inner);
  return outer.buf.slice(0, outer.pos);
}

test('protobuf: empty file, bad varint and a 10 GB length prefix are errors naming the byte', () => {
  assert.throws(
    () => readPerfetto(new Uint8Array(0), { fileName: 'e.pftrace' }),
    (e: unknown) => e instanceof TraceFormatError && /e\.pftrace.*no trace packets/.test(e.message),
  );
  const badVarint = new Uint8Array([0x0a, ...new Array(11).fill(0xff)]);
  assert.throws(
    () => readPerfetto(badVarint, { fileName: 'v.pftrace' }),
    (e: unknown) => e instanceof TraceFormatError && e.offset === 1 && /varint longer than 10 bytes/.test(e.message),
  );
  const huge = new ProtoWriter();
  huge.tag(1, 2);
  huge.varint(10 * 1024 ** 3);
  huge.bytes(2, new Uint8Array(16));
  assert.throws(
    () => readPerfetto(huge.buf.slice(0, huge.pos), { fileName: 'h.pftrace' }),
    (e: unknown) =>
      e instanceof TraceFormatError &&
      e.file === 'h.pftrace' &&
      e.offset === 1 &&
      /length 10737418240 runs past the end/.test(e.message) &&
      /expected a length of at most/.test(e.message),
  );
  assert.throws(
    () => readPerfetto(new TextEncoder().encode('{"traceEvents":[]}'), { fileName: 'j' }),
    TraceFormatError,
  );
});

test('protobuf: a good prefix followed by garbage gives the prefix with a warning', () => {
  const good = writePerfetto(twoRankModel());
  const bytes = new Uint8Array([...good, 0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]);
  const m = readPerfetto(bytes, { fileName: 'g.pftrace' });
  assert.equal(m.slices.length, twoRankModel().slices.length);
  assert.match(m.warnings[0], /g\.pftrace: read stopped at byte \d+ of \d+: length \d+ runs past the end/);
});

test('protobuf: wrong wire types, invalid UTF-8 and 10k-deep annotations are skipped with warnings', () => {
  const seq = (w: ProtoWriter) => {
    w.uint(8, 1000);
    w.uint(10, 1);
  };
  const track = packet((w) => {
    seq(w);
    const d = new ProtoWriter();
    d.uint(1, 7);
    d.bytes(2, new Uint8Array([0x74, 0xff, 0xfe])); // "t" + invalid UTF-8
    w.message(60, d);
  });
  const wrongType = packet((w) => {
    seq(w);
    w.uint(11, 5); // track_event as a varint
  });
  // An annotation nested 10,000 levels deep through dict_entries.
  let nested = new ProtoWriter();
  nested.int64(4, 1);
  for (let i = 0; i < 10_000; i++) {
    const up = new ProtoWriter(nested.pos + 16);
    up.string(10, 'k');
    up.message(11, nested);
    nested = up;
  }
  const deep = packet((w) => {
    seq(w);
    const e = new ProtoWriter();
    e.uint(9, 3);
    e.uint(11, 7);
    e.string(23, 'deep');
    e.message(4, nested);
    w.message(11, e);
  });
  const t0 = Date.now();
  const m = readPerfetto(new Uint8Array([...track, ...wrongType, ...deep]), { fileName: 'x.pftrace' });
  assert.ok(Date.now() - t0 < 5000);
  assert.equal(m.slices.length, 1);
  assert.equal(m.tracks[m.slices[0].track].name, 't\ufffd\ufffd');
  assert.ok(m.warnings.some((w) => /invalid UTF-8/.test(w)));
  assert.ok(m.warnings.some((w) => /deeper than 32 levels/.test(w)));
  assert.ok(m.warnings.some((w) => /TracePacket field 11/.test(w)));
  assertSane(m, 'hostile');
});

/** A small seeded generator so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    s = (s ^ (s >>> 12)) >>> 0;
    return s / 4294967296;
  };
}

function mutate(src: Uint8Array, r: () => number): Uint8Array {
  const b = Array.from(src);
  const n = 1 + Math.floor(r() * 4);
  for (let k = 0; k < n && b.length > 0; k++) {
    const at = Math.floor(r() * b.length);
    switch (Math.floor(r() * 6)) {
      case 0:
        b[at] = Math.floor(r() * 256);
        break;
      case 1:
        b.length = at;
        break;
      case 2:
        b.splice(at, 0, ...Array.from({ length: 1 + Math.floor(r() * 8) }, () => Math.floor(r() * 256)));
        break;
      case 3:
        b.splice(at, Math.floor(r() * 16));
        break;
      case 4:
        b.splice(at, 0, ...b.slice(Math.floor(r() * b.length), Math.floor(r() * b.length)).slice(0, 256));
        break;
      default:
        b.splice(at, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f);
    }
  }
  return new Uint8Array(b);
}

test('fuzz: random mutations of the fixtures end in a model or a TraceFormatError (bounded)', () => {
  const proto = fs
    .readdirSync(PERFETTO_FIXTURES)
    .filter((f) => f.endsWith('.pftrace'))
    .map((f) => fs.readFileSync(path.join(PERFETTO_FIXTURES, f)));
  proto.push(
    Buffer.from(writePerfetto(twoRankModel())),
    Buffer.from(writePerfetto(twoRankModel(), { compress: deflateFast })),
  );
  const json = fs
    .readdirSync(PERFETTO_FIXTURES)
    .filter((f) => f.endsWith('.json'))
    .map((f) => fs.readFileSync(path.join(PERFETTO_FIXTURES, f)));
  json.push(Buffer.from(writeChromeJson(twoRankModel())));
  const r = rng(20261123);
  const deadline = Date.now() + 4000;
  let runs = 0;
  let errors = 0;
  for (let i = 0; i < 1500 && Date.now() < deadline; i++) {
    const isJson = i % 3 === 2;
    const src = isJson ? json[i % json.length] : proto[i % proto.length];
    const input = mutate(src, r);
    runs++;
    try {
      const m = isJson
        ? readChromeJsonBytes(input, { fileName: `fuzz-${i}` })
        : readPerfetto(input, { fileName: `fuzz-${i}`, inflate: inflateBounded });
      assertSane(m, `mutation ${i}`);
    } catch (e) {
      if (!(e instanceof TraceFormatError))
        throw new Error(`mutation ${i} (${isJson ? 'json' : 'protobuf'}) threw ${(e as Error)?.stack ?? String(e)}`, {
          cause: e,
        });
      assert.ok(e.message.includes(`fuzz-${i}`), 'error names the file');
      errors++;
    }
  }
  assert.ok(runs >= 100, `only ${runs} mutations ran`);
  assert.ok(errors < runs, 'some mutations still import');
});
