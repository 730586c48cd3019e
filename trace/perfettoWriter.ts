/**
 * Perfetto TrackEvent writer: the CommLens trace model as a `.pftrace` (perfetto.protos.Trace).
 *
 * Layout of a CommLens file (what Perfetto's trace processor and UI show):
 * - one packet sequence (trusted_packet_sequence_id 1); its first packet clears the
 *   incremental state, every packet that defines or uses interned names sets
 *   SEQ_NEEDS_INCREMENTAL_STATE;
 * - one process track per rank (its own pid, child ordering explicit), child tracks per
 *   stream (compute, communication, staging, host, wait) and counter tracks with units,
 *   all with sibling_merge_behavior NONE so same-named streams of a rank stay apart;
 * - slices as SLICE_BEGIN/SLICE_END pairs with interned names and categories, args as
 *   debug annotations with interned names; flows as fixed64 flow ids (never packed);
 * - the run metadata as a Chrome metadata entry named "commlens.run" (a ChromeEventBundle
 *   packet whose string value is the JSON of `meta`), so the reader can restore `meta`
 *   exactly. Perfetto lists it in its `metadata` table (`cr-commlens.run`, then
 *   `cr-2-commlens.run`... for later entries), not on the timeline: every slice Perfetto
 *   finds in a CommLens file is a slice of the model. (Files written before this kept the
 *   metadata in an instant on a global "CommLens run" track; the reader still takes those.)
 * Timestamps are absolute nanoseconds: originNs (a decimal string, BigInt-exact) plus the
 * model's relative time; no timestamp_clock_id (no clock snapshot is written).
 */
import type { Args, ProcessInfo, Slice, TraceModel, TrackInfo } from './model';
import { flowsInTimeOrder } from './model';
import { ProtoCursor, ProtoWriter, varint64Size, varintSize } from './protoWire';
import { writeAnnotation } from './perfettoAnnotations';
import {
  CHILD_ORDERING_EXPLICIT,
  CHROME_EVENT_BUNDLE,
  CHROME_METADATA,
  COUNTER_DESCRIPTOR,
  COUNTER_UNIT,
  DEBUG_ANNOTATION,
  EVENT_TYPE,
  INTERNED_DATA,
  INTERNED_ENTRY,
  PACKET,
  PROCESS_DESCRIPTOR,
  SEQ_INCREMENTAL_STATE_CLEARED,
  SEQ_NEEDS_INCREMENTAL_STATE,
  SIBLING_MERGE_NONE,
  TRACE,
  TRACK_DESCRIPTOR,
  TRACK_EVENT,
} from './perfettoFields';

/** Name of the global track that carried the run metadata instant in older CommLens files. */
export const RUN_TRACK_NAME = 'CommLens run';
/**
 * Name of the Chrome metadata entry whose string value is the JSON of `meta`; in older
 * files, of the instant (on RUN_TRACK_NAME) whose debug annotations held it.
 */
export const RUN_METADATA_EVENT = 'commlens.run';
const SEQUENCE_ID = 1;
const TWO_32 = 4294967296;
/** Process tracks live above 2^32 so they never collide with slice tracks (id + 1). */
const PROCESS_UUID_BASE = TWO_32;
/** Chunks handed to the sink are at most about this big (whole packets each). */
const CHUNK_BYTES = 64 * 1024;

/** Uuid of the Perfetto track of model track `id` (small, so events encode it in one or two bytes). */
export function trackUuidOf(trackId: number): number {
  return trackId + 1;
}

/** Uuid of the process track of pid `pid`. */
export function processUuidOf(pid: number): number {
  return PROCESS_UUID_BASE + (pid >>> 0);
}

/**
 * The machine-readable track description CommLens writes: `CommLens <stream> track[ (GPU)][ · source <json>]`.
 * It doubles as the tooltip Perfetto's UI shows for the track.
 */
export function describeTrack(t: TrackInfo): string {
  let d = `CommLens ${t.stream} track${t.gpu ? ' (GPU)' : ''}`;
  if (t.sourceId !== undefined) d += ` · source ${JSON.stringify(t.sourceId)}`;
  return d;
}

const UNIT_ENUM: Record<string, number> = {
  ns: COUNTER_UNIT.timeNs,
  bytes: COUNTER_UNIT.sizeBytes,
  count: COUNTER_UNIT.count,
};

type FlowSpec = { out?: number[]; in?: number[] };

interface PendingTrack {
  slices: Slice[];
  /** Flows of `slices[i]` (sparse: most slices have none). */
  flows: (FlowSpec | undefined)[];
  maxEndNs: number;
}

/**
 * Streams a trace as whole packets. The sink receives chunks that each hold one or more
 * complete `Trace.packet` fields, so a file made by appending them is a valid trace at
 * every chunk boundary (a SIGKILL loses at most what was not yet handed to the sink).
 *
 * Slices of one track are held back while they may still nest: a slice is written once
 * a later slice on its track starts at or after its end, or on `flush()`. This puts a
 * parent's BEGIN before its children's even when the caller reports the child first (the
 * usual order when spans are recorded as they end), which Perfetto needs because it
 * matches each END to the innermost open slice. Call `flush()` at each step boundary so
 * the step is on disk.
 *
 * Flows: `slice(s, { out: [id] })` starts (or continues) flow `id` at this slice and
 * `slice(s, { in: [id] })` ends it here. Perfetto processes events in time order and
 * ignores an end whose flow is not yet active, so the slice carrying `out` must start
 * first (put the start on the rank whose span begins first) and each collective needs a
 * fresh id. An id in both `out` and `in` passes through the slice.
 */
export class PerfettoStreamWriter {
  private readonly out = new ProtoWriter(CHUNK_BYTES + 4096);
  private readonly packet = new ProtoWriter(512);
  private readonly event = new ProtoWriter(512);
  private readonly interned = new ProtoWriter(256);
  private readonly entry = new ProtoWriter(128);
  private readonly annotation = new ProtoWriter(256);
  private readonly names = new Map<string, number>();
  private readonly categories = new Map<string, number>();
  private readonly argNames = new Map<string, number>();
  private readonly pending = new Map<number, PendingTrack>();
  private readonly originLo: number;
  private readonly originHi: number;
  private started = false;
  private internedEntries = false;
  /** Packets written so far. */
  packets = 0;
  /** Slices and counter samples refused for non-finite or negative times. */
  dropped = 0;

  private readonly compress?: (packets: Uint8Array) => Uint8Array;

  /**
   * `opts.compress`: a zlib deflate function (e.g. `(b) => zlib.deflateSync(b, { level: 1 })`).
   * When given, each chunk is one TracePacket whose `compressed_packets` field holds the
   * deflated packets, as Perfetto's own service writes compressed traces; its trace
   * processor and UI inflate them. Smaller files, slower writing.
   */
  constructor(
    private readonly sink: (chunk: Uint8Array) => void,
    opts: { originNs?: string; compress?: (packets: Uint8Array) => Uint8Array } = {},
  ) {
    this.compress = opts.compress;
    const origin = BigInt(opts.originNs ?? '0');
    if (origin < 0n || origin >= 1n << 64n)
      throw new RangeError(`originNs ${opts.originNs} is not an unsigned 64-bit nanosecond time`);
    this.originLo = Number(origin & 0xffffffffn);
    this.originHi = Number(origin >> 32n);
  }

  /** Declares the process track of one rank. */
  process(p: ProcessInfo): void {
    const d = this.entry;
    d.reset();
    d.int64(PROCESS_DESCRIPTOR.pid, p.pid);
    d.string(PROCESS_DESCRIPTOR.processName, p.name);
    if (p.rank !== undefined) d.string(PROCESS_DESCRIPTOR.processLabels, `rank=${p.rank}`);
    for (const [k, v] of Object.entries(p.labels ?? {})) d.string(PROCESS_DESCRIPTOR.processLabels, `${k}=${v}`);
    const t = this.annotation;
    t.reset();
    t.uint(TRACK_DESCRIPTOR.uuid, processUuidOf(p.pid));
    t.message(TRACK_DESCRIPTOR.process, d);
    t.uint(TRACK_DESCRIPTOR.childOrdering, CHILD_ORDERING_EXPLICIT);
    this.descriptorPacket(t);
  }

  /** Declares a child track (slice or counter) of a process already declared. */
  track(t: TrackInfo): void {
    const d = this.annotation;
    d.reset();
    d.uint(TRACK_DESCRIPTOR.uuid, trackUuidOf(t.id));
    d.string(TRACK_DESCRIPTOR.name, t.name);
    d.uint(TRACK_DESCRIPTOR.parentUuid, processUuidOf(t.pid));
    if (t.type === 'counter') {
      const c = this.entry;
      c.reset();
      const unit = t.unit ?? '';
      if (UNIT_ENUM[unit] !== undefined) c.uint(COUNTER_DESCRIPTOR.unit, UNIT_ENUM[unit]);
      else if (unit) c.string(COUNTER_DESCRIPTOR.unitName, unit);
      d.message(TRACK_DESCRIPTOR.counter, c);
    }
    d.int64(TRACK_DESCRIPTOR.siblingOrderRank, t.order ?? t.id);
    d.string(TRACK_DESCRIPTOR.description, describeTrack(t));
    d.uint(TRACK_DESCRIPTOR.siblingMergeBehavior, SIBLING_MERGE_NONE);
    this.descriptorPacket(d);
  }

  /** Records one complete slice (written as BEGIN + END once it can no longer gain a parent). */
  slice(s: Slice, flow?: FlowSpec): void {
    if (!(s.durNs >= 0) || !Number.isFinite(s.startNs) || !Number.isFinite(s.durNs)) {
      // A span with a negative or non-finite time cannot be placed; count it rather than corrupt the file.
      this.dropped++;
      return;
    }
    let p = this.pending.get(s.track);
    if (!p) {
      p = { slices: [], flows: [], maxEndNs: -Infinity };
      this.pending.set(s.track, p);
    } else if (p.slices.length > 0 && s.startNs >= p.maxEndNs) this.writeTrack(p);
    p.slices.push(s);
    p.flows.push(flow);
    const end = s.startNs + s.durNs;
    if (end > p.maxEndNs) p.maxEndNs = end;
  }

  /** One counter sample on a counter track (non-finite times or values are dropped and counted). */
  counter(track: number, tsNs: number, value: number): void {
    if (!Number.isFinite(tsNs) || !Number.isFinite(value)) {
      this.dropped++;
      return;
    }
    const e = this.event;
    e.reset();
    e.uint(TRACK_EVENT.type, EVENT_TYPE.counter);
    e.uint(TRACK_EVENT.trackUuid, trackUuidOf(track));
    if (Number.isSafeInteger(value)) e.int64(TRACK_EVENT.counterValue, value);
    else e.double(TRACK_EVENT.doubleCounterValue, value);
    this.eventPacket(tsNs, false);
  }

  /**
   * Run metadata, as one Chrome metadata entry "commlens.run" holding the JSON of `info`
   * (non-finite numbers become null). Not a track event, so Perfetto counts no slice for
   * it. May be called more than once; the reader merges the entries in file order.
   */
  metadata(info: Args): void {
    const m = this.entry;
    m.reset();
    m.string(CHROME_METADATA.name, RUN_METADATA_EVENT);
    m.string(CHROME_METADATA.stringValue, JSON.stringify(info));
    const b = this.annotation;
    b.reset();
    b.message(CHROME_EVENT_BUNDLE.metadata, m);
    const pk = this.packet;
    pk.reset();
    pk.message(PACKET.chromeEvents, b);
    // No sequence id and no timestamp: the entry belongs to no sequence and no time.
    this.out.message(TRACE.packet, pk);
    this.afterPacket();
  }

  /** Writes every held-back slice and hands all buffered packets to the sink. */
  flush(): void {
    for (const p of this.pending.values()) if (p.slices.length > 0) this.writeTrack(p);
    if (this.out.pos > 0) {
      this.emitChunk();
    }
  }

  private emitChunk(): void {
    const raw = this.out.buf.subarray(0, this.out.pos);
    if (this.compress) {
      const z = this.compress(raw);
      const w = new ProtoWriter(z.length + 16);
      w.bytes(PACKET.compressedPackets, z);
      const top = new ProtoWriter(w.pos + 16);
      top.message(TRACE.packet, w);
      this.sink(top.buf.slice(0, top.pos));
    } else this.sink(raw.slice());
    this.out.reset();
  }

  private writeTrack(p: PendingTrack): void {
    const { slices, flows } = p;
    if (slices.length === 1) {
      // A lone slice (every kernel of a busy stream): no ordering to do.
      const s = slices[0];
      this.beginSlice(s, flows[0]);
      this.endSlice(s);
    } else {
      const order = slices.map((_, i) => i);
      order.sort((a, b) => slices[a].startNs - slices[b].startNs || slices[b].durNs - slices[a].durNs || a - b);
      // Emit in nesting order: close every open slice that ends at or before the next begin.
      const open: Slice[] = [];
      for (const i of order) {
        const s = slices[i];
        while (open.length > 0 && open[open.length - 1].startNs + open[open.length - 1].durNs <= s.startNs)
          this.endSlice(open.pop() as Slice);
        this.beginSlice(s, flows[i]);
        open.push(s);
      }
      while (open.length > 0) this.endSlice(open.pop() as Slice);
    }
    p.slices = [];
    p.flows = [];
    p.maxEndNs = -Infinity;
  }

  private beginSlice(s: Slice, flow: FlowSpec | undefined): void {
    const cats = s.rawCategory && s.rawCategory !== s.category ? [s.category, s.rawCategory] : s.category;
    this.writeEvent(EVENT_TYPE.sliceBegin, trackUuidOf(s.track), s.startNs, s.name, cats, flow, s.args);
  }

  private endSlice(s: Slice): void {
    const e = this.event;
    e.reset();
    e.uint(TRACK_EVENT.type, EVENT_TYPE.sliceEnd);
    e.uint(TRACK_EVENT.trackUuid, trackUuidOf(s.track));
    this.eventPacket(s.startNs + s.durNs, false);
  }

  private writeEvent(
    type: number,
    trackUuid: number,
    tsNs: number,
    name: string,
    category: string | string[],
    flow: { out?: number[]; in?: number[] } | undefined,
    args: Args | undefined,
  ): void {
    this.interned.reset();
    this.internedEntries = false;
    const e = this.event;
    e.reset();
    e.uint(TRACK_EVENT.type, type);
    e.uint(TRACK_EVENT.trackUuid, trackUuid);
    e.uint(TRACK_EVENT.nameIid, this.intern(this.names, INTERNED_DATA.eventNames, name));
    if (typeof category === 'string')
      e.uint(TRACK_EVENT.categoryIids, this.intern(this.categories, INTERNED_DATA.eventCategories, category));
    else
      for (const c of category)
        e.uint(TRACK_EVENT.categoryIids, this.intern(this.categories, INTERNED_DATA.eventCategories, c));
    if (args) {
      for (const key in args) {
        const iid = this.intern(this.argNames, INTERNED_DATA.debugAnnotationNames, key);
        writeAnnotation(e, DEBUG_ANNOTATION.nameIid, iid, undefined, args[key], 0);
      }
    }
    if (flow) {
      const out = flow.out ?? [];
      // flow_ids / terminating_flow_ids are proto2 `repeated fixed64`: one tag per id, never packed.
      for (const id of out) e.fixed64(TRACK_EVENT.flowIds, id);
      for (const id of flow.in ?? []) if (!out.includes(id)) e.fixed64(TRACK_EVENT.terminatingFlowIds, id);
    }
    this.eventPacket(tsNs, true);
  }

  private intern(table: Map<string, number>, field: number, value: string): number {
    let iid = table.get(value);
    if (iid !== undefined) return iid;
    iid = table.size + 1;
    table.set(value, iid);
    const en = this.entry;
    en.reset();
    en.uint(INTERNED_ENTRY.iid, iid);
    en.string(INTERNED_ENTRY.name, value);
    this.interned.message(field, en);
    this.internedEntries = true;
    return iid;
  }

  private eventPacket(tsNs: number, usesInterned: boolean): void {
    // Absolute time = origin + round(relative), carried across the 32-bit halves exactly.
    let lo = this.originLo + Math.round(tsNs);
    let hi = this.originHi;
    if (lo >= TWO_32 || lo < 0) {
      const carry = Math.floor(lo / TWO_32);
      lo -= carry * TWO_32;
      hi += carry;
    }
    if (hi < 0) {
      lo = 0;
      hi = 0;
    }
    let flags = usesInterned ? SEQ_NEEDS_INCREMENTAL_STATE : 0;
    if (!this.started) flags |= SEQ_INCREMENTAL_STATE_CLEARED;
    const interned = usesInterned && this.internedEntries ? this.interned : undefined;
    const te = this.event;
    // The packet is sized first and written straight into the output (one copy of the event).
    let body = 1 + varint64Size(lo >>> 0, hi >>> 0) + 2;
    if (flags) body += 2;
    if (interned) body += 1 + varintSize(interned.pos) + interned.pos;
    body += 1 + varintSize(te.pos) + te.pos;
    if (!this.started) body += 3;
    const out = this.out;
    out.tag(TRACE.packet, 2);
    out.varint(body);
    out.tag(PACKET.timestamp, 0);
    out.varint64(lo >>> 0, hi >>> 0);
    out.uint(PACKET.trustedPacketSequenceId, SEQUENCE_ID);
    if (flags) out.uint(PACKET.sequenceFlags, flags);
    if (interned) out.message(PACKET.internedData, interned);
    out.message(PACKET.trackEvent, te);
    if (!this.started) {
      out.bool(PACKET.firstPacketOnSequence, true);
      this.started = true;
    }
    this.afterPacket();
  }

  private descriptorPacket(descriptor: ProtoWriter): void {
    const pk = this.packet;
    pk.reset();
    pk.tag(PACKET.timestamp, 0);
    pk.varint64(this.originLo, this.originHi);
    pk.uint(PACKET.trustedPacketSequenceId, SEQUENCE_ID);
    if (!this.started) pk.uint(PACKET.sequenceFlags, SEQ_INCREMENTAL_STATE_CLEARED);
    pk.message(PACKET.trackDescriptor, descriptor);
    this.finishPacket();
  }

  private finishPacket(): void {
    if (!this.started) {
      this.packet.bool(PACKET.firstPacketOnSequence, true);
      this.started = true;
    }
    this.out.message(TRACE.packet, this.packet);
    this.afterPacket();
  }

  private afterPacket(): void {
    this.packets++;
    if (this.out.pos >= CHUNK_BYTES) this.emitChunk();
  }
}

/**
 * The whole model as one `.pftrace` byte array, through PerfettoStreamWriter. Model flows
 * become flow ids (a fresh id per flow edge, started on whichever endpoint begins first,
 * so Perfetto never sees an end before its start); `meta` goes into the run metadata entry.
 */
export function writePerfetto(
  model: TraceModel,
  opts: { compress?: (packets: Uint8Array) => Uint8Array } = {},
): Uint8Array {
  const chunks: Uint8Array[] = [];
  const w = new PerfettoStreamWriter((c) => chunks.push(c), { originNs: model.meta.originNs, compress: opts.compress });
  w.metadata(metadataArgs(model));
  for (const p of model.processes) w.process(p);
  for (const t of model.tracks) w.track(t);
  const flowOf = new Map<number, { out?: number[]; in?: number[] }>();
  const add = (slice: number, key: 'out' | 'in', id: number) => {
    let f = flowOf.get(slice);
    if (!f) flowOf.set(slice, (f = {}));
    (f[key] ??= []).push(id);
  };
  for (const f of flowsInTimeOrder(model)) {
    add(f.from, 'out', f.id);
    add(f.to, 'in', f.id);
  }
  const order = model.slices.map((_, i) => i);
  order.sort(
    (x, y) =>
      model.slices[x].startNs - model.slices[y].startNs || model.slices[y].durNs - model.slices[x].durNs || x - y,
  );
  for (const i of order) w.slice(model.slices[i], flowOf.get(i));
  for (const c of model.counters) for (let i = 0; i < c.tsNs.length; i++) w.counter(c.track, c.tsNs[i], c.values[i]);
  w.flush();
  let n = 0;
  for (const c of chunks) n += c.length;
  const bytes = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return bytes;
}

/**
 * Length of the longest prefix of `bytes` made of whole top-level packets (field 1,
 * length-delimited). A process killed while writing leaves at most one cut packet at the
 * end; cutting the file to this length keeps every packet written before it.
 */
export function intactPrefixLength(bytes: Uint8Array): number {
  const c = new ProtoCursor(bytes);
  let intact = 0;
  try {
    while (!c.atEnd()) {
      c.varint64();
      if (c.hi !== 0 || c.lo !== ((TRACE.packet << 3) | 2)) break;
      c.varint64();
      if (c.hi !== 0 || c.pos + c.lo > bytes.length) break;
      c.pos += c.lo;
      intact = c.pos;
    }
  } catch {
    // a cut varint: the prefix so far is what is intact
  }
  return intact;
}

/** How a run ended, as its trace records it (in the run metadata's `info`). */
export interface RunEnd {
  status: 'completed' | 'cancelled' | 'failed';
  /** Why it did not complete. */
  error?: string;
  /** The rank that failed, when one did. */
  rank?: number;
  /** The signal the runtime process died of, when it did (recorded by the supervisor). */
  signal?: string;
  /** The warm-up steps (trace/warmup.ts), left out of every statistic. */
  warmupSteps?: number[];
}

/**
 * The run metadata that records `end`: the run's `info` with runStatus, runError,
 * failedRank and exitSignal added. Written as a second run metadata entry at the end of the
 * trace; readers merge it over the first (its `info` replaces the first one's).
 */
export function runEndArgs(info: Args | undefined, end: RunEnd): Args {
  const i: Args = { ...(info ?? {}), runStatus: end.status };
  if (end.error !== undefined) i.runError = end.error;
  if (end.rank !== undefined && end.rank >= 0) i.failedRank = end.rank;
  if (end.signal !== undefined) i.exitSignal = end.signal;
  if (end.warmupSteps !== undefined) i.warmupSteps = end.warmupSteps;
  return { info: i };
}

/** The run metadata: the format, origin, world size and run info. */
export function metadataArgs(model: TraceModel): Args {
  const a: Args = { format: model.meta.format, originNs: model.meta.originNs };
  if (model.meta.worldSize !== undefined) a.worldSize = model.meta.worldSize;
  if (model.meta.info) a.info = model.meta.info;
  return a;
}
