/**
 * What Perfetto's trace processor found different from CommLens' own importer, as writer
 * and importer tests that need no Perfetto binary (the integration test
 * test/integration/trace/perfettoConformance.test.ts checks the same files in Perfetto).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  writePerfetto,
  PerfettoStreamWriter,
  metadataArgs,
  runEndArgs,
  RUN_METADATA_EVENT,
  RUN_TRACK_NAME,
} from '../../../trace/perfettoWriter';
import { readPerfetto } from '../../../trace/perfettoReader';
import { tokenizePerfetto } from '../../../trace/perfettoTokenizer';
import {
  EVENT_TYPE,
  DEBUG_ANNOTATION,
  PACKET,
  SEQ_INCREMENTAL_STATE_CLEARED,
  TRACE,
  TRACK_DESCRIPTOR,
  TRACK_EVENT,
} from '../../../trace/perfettoFields';
import { ProtoWriter } from '../../../trace/protoWire';
import { readChromeJson, writeChromeJson } from '../../../trace/chromeJson';
import { twoRankModel } from './fixtures';

/** Track events Perfetto makes a slice of: SLICE_BEGIN and INSTANT (CommLens writes no legacy phases). */
function perfettoSliceEvents(bytes: Uint8Array): number {
  return tokenizePerfetto(bytes).events.filter((e) => e.type === EVENT_TYPE.sliceBegin || e.type === EVENT_TYPE.instant)
    .length;
}

test("a written .pftrace holds exactly the model's slices: the run metadata is no slice (Perfetto counted one more than `inspect`)", () => {
  const m = twoRankModel();
  const bytes = writePerfetto(m);
  assert.equal(perfettoSliceEvents(bytes), m.slices.length);
  const back = readPerfetto(bytes);
  assert.equal(back.slices.length, m.slices.length);
  assert.equal(back.meta.format, 'commlens');
  assert.equal(back.meta.originNs, m.meta.originNs);
  assert.equal(back.meta.worldSize, 2);
  assert.deepEqual(back.meta.info, m.meta.info);
  assert.equal(tokenizePerfetto(bytes).runMetadata.length, 1, 'one run metadata entry');
});

test("a run's trace (metadata at the start, its end appended, as runs and the supervisor write) adds no slice and reads back merged", () => {
  const m = twoRankModel();
  const chunks: Uint8Array[] = [];
  const w = new PerfettoStreamWriter((c) => chunks.push(c), { originNs: m.meta.originNs });
  w.metadata(metadataArgs(m));
  for (const p of m.processes) w.process(p);
  for (const t of m.tracks) w.track(t);
  for (const s of m.slices) w.slice(s);
  w.flush();
  // The supervisor appends the end with a writer of its own, as after a SIGKILL.
  const w2 = new PerfettoStreamWriter((c) => chunks.push(c), { originNs: m.meta.originNs });
  w2.metadata(runEndArgs(m.meta.info, { status: 'failed', error: 'killed', signal: 'SIGKILL' }));
  w2.flush();
  const bytes = Buffer.concat(chunks);
  assert.equal(perfettoSliceEvents(bytes), m.slices.length);
  const back = readPerfetto(bytes);
  assert.equal(back.slices.length, m.slices.length);
  assert.equal(back.meta.info?.runStatus, 'failed');
  assert.equal(back.meta.info?.exitSignal, 'SIGKILL');
  assert.equal(back.meta.info?.preset, 'mlp-small', "the first entry's info is kept under the end");
  assert.equal(back.meta.worldSize, 2);
});

test('a CommLens file of the older layout (run metadata in an instant on a "CommLens run" track) still reads as CommLens\'', () => {
  const runUuid = 2 * 2 ** 32;
  const out = new ProtoWriter(1024);
  const desc = new ProtoWriter();
  desc.uint(TRACK_DESCRIPTOR.uuid, runUuid);
  desc.string(TRACK_DESCRIPTOR.name, RUN_TRACK_NAME);
  const p1 = new ProtoWriter();
  p1.uint(PACKET.timestamp, 1000);
  p1.uint(PACKET.trustedPacketSequenceId, 1);
  p1.uint(PACKET.sequenceFlags, SEQ_INCREMENTAL_STATE_CLEARED);
  p1.message(PACKET.trackDescriptor, desc);
  out.message(TRACE.packet, p1);
  const ev = new ProtoWriter();
  ev.uint(TRACK_EVENT.type, EVENT_TYPE.instant);
  ev.uint(TRACK_EVENT.trackUuid, runUuid);
  ev.string(TRACK_EVENT.name, RUN_METADATA_EVENT);
  const a = new ProtoWriter();
  a.string(DEBUG_ANNOTATION.name, 'format');
  a.string(DEBUG_ANNOTATION.stringValue, 'commlens');
  ev.message(TRACK_EVENT.debugAnnotations, a);
  a.reset();
  a.string(DEBUG_ANNOTATION.name, 'worldSize');
  a.int64(DEBUG_ANNOTATION.intValue, 4);
  ev.message(TRACK_EVENT.debugAnnotations, a);
  const p2 = new ProtoWriter();
  p2.uint(PACKET.timestamp, 1000);
  p2.uint(PACKET.trustedPacketSequenceId, 1);
  p2.message(PACKET.trackEvent, ev);
  out.message(TRACE.packet, p2);
  const m = readPerfetto(out.buf.subarray(0, out.pos));
  assert.equal(m.meta.format, 'commlens');
  assert.equal(m.meta.worldSize, 4);
  assert.equal(m.slices.length, 0);
});

test('Chrome JSON: v2 flow ids (bind_id) never take a number Perfetto gives the v1 flows of the same file (it joined wrong slices and counted flow_duplicate_id)', () => {
  const m = twoRankModel();
  const ar = m.slices
    .map((s, i) => [s, i] as const)
    .filter(([s]) => s.name === 'allReduce')
    .map(([, i]) => i);
  // A slice in two flows: one goes out as bind_id, the other as v1 s/f events.
  const backward1 = m.slices.findIndex((s) => s.name === 'backward' && m.tracks[s.track].pid === 1);
  m.flows.push({ id: 9, from: backward1, to: ar[1] });
  const text = writeChromeJson(m);
  const events = (JSON.parse(text) as { traceEvents: { ph: string; id?: string; bind_id?: string }[] }).traceEvents;
  const v1Ids = new Set(events.filter((e) => e.ph === 's' || e.ph === 't' || e.ph === 'f').map((e) => e.id));
  const bindIds = events.filter((e) => e.bind_id !== undefined).map((e) => Number(BigInt(e.bind_id as string)));
  assert.ok(v1Ids.size > 0 && bindIds.length > 0, 'the file mixes both kinds');
  // Perfetto numbers the v1 flows of a file 0, 1, 2... (at most one per distinct id).
  for (const b of bindIds)
    assert.ok(b > v1Ids.size, `bind_id ${b} is among the numbers 0..${v1Ids.size} Perfetto gives v1 flows`);
  const back = readChromeJson(text);
  assert.equal(back.flows.length, m.flows.length);
});

test('a null arg is a debug annotation with a name and no value, never legacy JSON "null" (Perfetto\'s trace processor aborted on it)', () => {
  const m = twoRankModel();
  for (const s of m.slices) s.args = { ...(s.args ?? {}), gone: null, list: [null, 1], dict: { inner: null } };
  const bytes = writePerfetto(m);
  const nullJson = Buffer.from([(DEBUG_ANNOTATION.legacyJsonValue << 3) | 2, 4, ...Buffer.from('null')]);
  assert.equal(Buffer.from(bytes).indexOf(nullJson), -1, 'no legacy_json_value "null" in the file');
  const back = readPerfetto(bytes);
  for (const s of back.slices) {
    assert.equal(s.args?.gone, null);
    assert.deepEqual(s.args?.list, [null, 1]);
    assert.deepEqual(s.args?.dict, { inner: null });
  }
});
