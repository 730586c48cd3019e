/**
 * First pass of the Perfetto importer: packets in file order, as Perfetto's tokenizer
 * sees them. Per packet sequence it keeps the incremental state (interned names,
 * categories and annotation names, trace_packet_defaults, delta-encoded counter values)
 * and clears it on SEQ_INCREMENTAL_STATE_CLEARED / incremental_state_cleared. Output:
 * track descriptors and events with names, categories, args and counter values resolved,
 * timestamps relative to the first packet's (exact: 64-bit times are split in halves).
 * Unknown packet kinds and fields are skipped and counted; a malformed packet is skipped
 * with a warning; a break in the top-level framing ends the read with a warning.
 */
import type { ArgValue, Args } from './model';
import { ProtoCursor, WireError, decodeUtf8, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT } from './protoWire';
import {
  COUNTER_DESCRIPTOR,
  DEBUG_ANNOTATION,
  DEFAULTS,
  INTERNED_DATA,
  INTERNED_ENTRY,
  LEGACY_EVENT,
  NESTED_VALUE,
  PACKET,
  PROCESS_DESCRIPTOR,
  SEQ_INCREMENTAL_STATE_CLEARED,
  THREAD_DESCRIPTOR,
  TRACE,
  TRACK_DESCRIPTOR,
  TRACK_EVENT,
  TRACK_EVENT_DEFAULTS,
} from './perfettoFields';

const TWO_32 = 4294967296;
/** Nesting deeper than this in a debug annotation is cut (hostile files nest without end). */
const MAX_ANNOTATION_DEPTH = 32;

/** A track uuid: a number when exact, else "hi:lo". */
export type UuidKey = number | string;

export function uuidKey(lo: number, hi: number): UuidKey {
  return hi < 0x200000 ? hi * TWO_32 + lo : `${hi}:${lo}`;
}

export interface RawDescriptor {
  uuid: UuidKey;
  order: number;
  ts: number;
  name?: string;
  parent?: UuidKey;
  process?: { pid: number; name?: string; labels: string[] };
  thread?: { pid: number; tid: number; name?: string };
  counter?: { type: number; unit: number; unitName?: string; multiplier: number; incremental: boolean };
  childOrdering?: number;
  siblingOrderRank?: number;
  description?: string;
}

export interface RawLegacy {
  phase: number;
  durationNs?: number;
  id?: string;
  idIsGlobal?: boolean;
  instantScope?: number;
  pidOverride?: number;
  tidOverride?: number;
}

export interface RawEvent {
  ts: number;
  order: number;
  sequence: number;
  /** track_uuid (explicit) or the sequence default; undefined when neither. */
  track?: UuidKey;
  explicitTrack: boolean;
  /** The sequence's default track (legacy events route through its thread). */
  defaultTrack?: UuidKey;
  type: number;
  name?: string;
  categories: string[];
  args?: Args;
  flowIds?: number[];
  terminatingFlowIds?: number[];
  counterValue?: number;
  extraCounters?: { track: UuidKey; value: number }[];
  threadTimeNs?: number;
  threadInstructions?: number;
  legacy?: RawLegacy;
}

export interface Tokenized {
  descriptors: RawDescriptor[];
  events: RawEvent[];
  /** The first packet's timestamp: relative times are from it. */
  baseLo: number;
  baseHi: number;
  packets: number;
  warnings: string[];
  /** Set when the top-level framing broke: where and why. */
  stoppedAt?: { offset: number; message: string; expected: string };
}

interface SequenceState {
  names: Map<number, string>;
  categories: Map<number, string>;
  argNames: Map<number, string>;
  argStrings: Map<number, string>;
  defaultTrack?: UuidKey;
  defaultExtraCounters?: UuidKey[];
  defaultExtraDoubleCounters?: UuidKey[];
  counterTotals: Map<UuidKey, number>;
}

function newSequence(): SequenceState {
  return { names: new Map(), categories: new Map(), argNames: new Map(), argStrings: new Map(), counterTotals: new Map() };
}

/** Reads a `.pftrace` byte array (perfetto.protos.Trace) into descriptors and events. */
export function tokenizePerfetto(buf: Uint8Array): Tokenized {
  const t = new Tokenizer(buf);
  t.run();
  return t.result;
}

class Tokenizer {
  readonly result: Tokenized = { descriptors: [], events: [], baseLo: 0, baseHi: 0, packets: 0, warnings: [] };
  private readonly sequences = new Map<number, SequenceState>();
  private readonly counterDescriptors = new Map<UuidKey, { multiplier: number; incremental: boolean }>();
  private readonly skipped = new Map<string, number>();
  private badPackets = 0;
  private firstBadPacket = '';
  private invalidUtf8 = 0;
  private deepAnnotations = 0;
  private haveBase = false;
  private order = 0;

  constructor(private readonly buf: Uint8Array) {}

  run(): void {
    const c = new ProtoCursor(this.buf);
    while (!c.atEnd()) {
      const at = c.pos;
      try {
        const tag = c.varint();
        const field = Math.floor(tag / 8);
        const wire = tag & 7;
        if (field === TRACE.packet && wire === WIRE_LEN) {
          const [s, e] = c.lengthDelimited();
          this.packet(s, e);
        } else {
          if (field === 0) throw new WireError('field number 0', at, 'a Trace.packet field (tag 0x0a)');
          c.skip(wire);
          this.skip(`Trace field ${field}`);
        }
      } catch (err) {
        if (!(err instanceof WireError)) throw err;
        this.result.stoppedAt = { offset: err.offset, message: err.message, expected: err.expected };
        break;
      }
    }
    this.summarize();
  }

  private skip(what: string): void {
    this.skipped.set(what, (this.skipped.get(what) ?? 0) + 1);
  }

  private summarize(): void {
    const w = this.result.warnings;
    if (this.badPackets > 0) w.push(`${this.badPackets} malformed packet(s) skipped (first: ${this.firstBadPacket})`);
    if (this.invalidUtf8 > 0) w.push(`${this.invalidUtf8} string(s) with invalid UTF-8 (shown with U+FFFD)`);
    if (this.deepAnnotations > 0) w.push(`${this.deepAnnotations} debug annotation(s) nested deeper than ${MAX_ANNOTATION_DEPTH} levels were cut`);
    if (this.skipped.size > 0) {
      const list = [...this.skipped.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ×${n}`);
      w.push(`skipped unsupported data: ${list.join(', ')}`);
    }
  }

  private str(s: number, e: number): string {
    const r = decodeUtf8(this.buf, s, e);
    if (!r.valid) this.invalidUtf8++;
    return r.text;
  }

  private packet(start: number, end: number): void {
    this.result.packets++;
    // Fields are gathered first, then applied in Perfetto's order: clear, intern, defaults, payload.
    let tsLo = 0;
    let tsHi = 0;
    let seqId = 0;
    let flags = 0;
    let cleared = false;
    let interned: [number, number] | undefined;
    let defaults: [number, number] | undefined;
    let descriptor: [number, number] | undefined;
    let event: [number, number] | undefined;
    try {
      const c = new ProtoCursor(this.buf, start, end);
      while (!c.atEnd()) {
        const tag = c.varint();
        const field = Math.floor(tag / 8);
        const wire = tag & 7;
        if (field === PACKET.timestamp && wire === WIRE_VARINT) {
          c.varint64();
          tsLo = c.lo;
          tsHi = c.hi;
        } else if (field === PACKET.trustedPacketSequenceId && wire === WIRE_VARINT) seqId = c.varint();
        else if (field === PACKET.sequenceFlags && wire === WIRE_VARINT) flags = c.varint();
        else if (field === PACKET.incrementalStateCleared && wire === WIRE_VARINT) cleared = c.varint() !== 0;
        else if (field === PACKET.internedData && wire === WIRE_LEN) interned = c.lengthDelimited();
        else if (field === PACKET.tracePacketDefaults && wire === WIRE_LEN) defaults = c.lengthDelimited();
        else if (field === PACKET.trackDescriptor && wire === WIRE_LEN) descriptor = c.lengthDelimited();
        else if (field === PACKET.trackEvent && wire === WIRE_LEN) event = c.lengthDelimited();
        else if (field === PACKET.firstPacketOnSequence && wire === WIRE_VARINT) c.varint64();
        else if (field === PACKET.timestampClockId && wire === WIRE_VARINT) {
          c.varint64();
          this.skip('timestamp_clock_id (clock conversion not supported; times taken as is)');
        } else {
          c.skip(wire);
          this.skip(`TracePacket field ${field}`);
        }
      }
      if (!this.haveBase) {
        this.haveBase = true;
        this.result.baseLo = tsLo;
        this.result.baseHi = tsHi;
      }
      const ts = (tsHi - this.result.baseHi) * TWO_32 + (tsLo - this.result.baseLo);
      let seq = this.sequences.get(seqId);
      if (!seq || cleared || flags & SEQ_INCREMENTAL_STATE_CLEARED) {
        // Clearing drops interned data and counter totals; Perfetto keeps the packet defaults.
        const next = newSequence();
        if (seq) {
          next.defaultTrack = seq.defaultTrack;
          next.defaultExtraCounters = seq.defaultExtraCounters;
          next.defaultExtraDoubleCounters = seq.defaultExtraDoubleCounters;
        }
        seq = next;
        this.sequences.set(seqId, seq);
      }
      if (interned) this.internedData(seq, interned[0], interned[1]);
      if (defaults) this.defaults(seq, defaults[0], defaults[1]);
      if (descriptor) this.descriptor(ts, descriptor[0], descriptor[1]);
      if (event) this.trackEvent(seq, seqId, ts, event[0], event[1]);
    } catch (err) {
      if (!(err instanceof WireError)) throw err;
      if (this.badPackets++ === 0) this.firstBadPacket = `packet at byte ${start}: ${err.message} at byte ${err.offset}, expected ${err.expected}`;
    }
  }

  private internedData(seq: SequenceState, start: number, end: number): void {
    const c = new ProtoCursor(this.buf, start, end);
    while (!c.atEnd()) {
      const tag = c.varint();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      const table =
        field === INTERNED_DATA.eventCategories ? seq.categories
        : field === INTERNED_DATA.eventNames ? seq.names
        : field === INTERNED_DATA.debugAnnotationNames ? seq.argNames
        : field === INTERNED_DATA.debugAnnotationStringValues ? seq.argStrings
        : undefined;
      if (!table || wire !== WIRE_LEN) {
        c.skip(wire);
        if (table === undefined) this.skip(`InternedData field ${field}`);
        continue;
      }
      const [s, e] = c.lengthDelimited();
      const ec = new ProtoCursor(this.buf, s, e);
      let iid = 0;
      let name = '';
      while (!ec.atEnd()) {
        const t2 = ec.varint();
        if (t2 === INTERNED_ENTRY.iid * 8 + WIRE_VARINT) iid = ec.varint();
        else if (t2 === INTERNED_ENTRY.name * 8 + WIRE_LEN) {
          const [ns, ne] = ec.lengthDelimited();
          name = this.str(ns, ne);
        } else ec.skip(t2 & 7);
      }
      table.set(iid, name);
    }
  }

  private uuidList(c: ProtoCursor, wire: number): UuidKey[] {
    const out: UuidKey[] = [];
    if (wire === WIRE_LEN) {
      const [s, e] = c.lengthDelimited();
      const p = new ProtoCursor(this.buf, s, e);
      while (!p.atEnd()) {
        p.varint64();
        out.push(uuidKey(p.lo, p.hi));
      }
    } else {
      c.varint64();
      out.push(uuidKey(c.lo, c.hi));
    }
    return out;
  }

  private defaults(seq: SequenceState, start: number, end: number): void {
    const c = new ProtoCursor(this.buf, start, end);
    while (!c.atEnd()) {
      const tag = c.varint();
      if (tag === DEFAULTS.trackEventDefaults * 8 + WIRE_LEN) {
        const [s, e] = c.lengthDelimited();
        const d = new ProtoCursor(this.buf, s, e);
        seq.defaultTrack = undefined;
        seq.defaultExtraCounters = undefined;
        seq.defaultExtraDoubleCounters = undefined;
        while (!d.atEnd()) {
          const t2 = d.varint();
          const f = Math.floor(t2 / 8);
          if (f === TRACK_EVENT_DEFAULTS.trackUuid && (t2 & 7) === WIRE_VARINT) {
            d.varint64();
            seq.defaultTrack = uuidKey(d.lo, d.hi);
          } else if (f === TRACK_EVENT_DEFAULTS.extraCounterTrackUuids) (seq.defaultExtraCounters ??= []).push(...this.uuidList(d, t2 & 7));
          else if (f === TRACK_EVENT_DEFAULTS.extraDoubleCounterTrackUuids) (seq.defaultExtraDoubleCounters ??= []).push(...this.uuidList(d, t2 & 7));
          else d.skip(t2 & 7);
        }
      } else {
        if (tag === DEFAULTS.timestampClockId * 8 + WIRE_VARINT) this.skip('timestamp_clock_id default (clock conversion not supported)');
        c.skip(tag & 7);
      }
    }
  }

  private descriptor(ts: number, start: number, end: number): void {
    const d: RawDescriptor = { uuid: 0, order: this.order++, ts };
    const c = new ProtoCursor(this.buf, start, end);
    while (!c.atEnd()) {
      const tag = c.varint();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (field === TRACK_DESCRIPTOR.uuid && wire === WIRE_VARINT) {
        c.varint64();
        d.uuid = uuidKey(c.lo, c.hi);
      } else if (field === TRACK_DESCRIPTOR.parentUuid && wire === WIRE_VARINT) {
        c.varint64();
        d.parent = uuidKey(c.lo, c.hi);
      } else if ((field === TRACK_DESCRIPTOR.name || field === TRACK_DESCRIPTOR.staticName || field === TRACK_DESCRIPTOR.atraceName) && wire === WIRE_LEN) {
        const [s, e] = c.lengthDelimited();
        d.name = this.str(s, e);
      } else if (field === TRACK_DESCRIPTOR.description && wire === WIRE_LEN) {
        const [s, e] = c.lengthDelimited();
        d.description = this.str(s, e);
      } else if (field === TRACK_DESCRIPTOR.childOrdering && wire === WIRE_VARINT) d.childOrdering = c.varint();
      else if (field === TRACK_DESCRIPTOR.siblingOrderRank && wire === WIRE_VARINT) d.siblingOrderRank = c.int64();
      else if (field === TRACK_DESCRIPTOR.process && wire === WIRE_LEN) {
        const [s, e] = c.lengthDelimited();
        const p = { pid: 0, name: undefined as string | undefined, labels: [] as string[] };
        const pc = new ProtoCursor(this.buf, s, e);
        while (!pc.atEnd()) {
          const t2 = pc.varint();
          if (t2 === PROCESS_DESCRIPTOR.pid * 8 + WIRE_VARINT) p.pid = pc.int64();
          else if (t2 === PROCESS_DESCRIPTOR.processName * 8 + WIRE_LEN) {
            const [a, b] = pc.lengthDelimited();
            p.name = this.str(a, b);
          } else if (t2 === PROCESS_DESCRIPTOR.processLabels * 8 + WIRE_LEN) {
            const [a, b] = pc.lengthDelimited();
            p.labels.push(this.str(a, b));
          } else pc.skip(t2 & 7);
        }
        d.process = p;
      } else if (field === TRACK_DESCRIPTOR.thread && wire === WIRE_LEN) {
        const [s, e] = c.lengthDelimited();
        const th = { pid: 0, tid: 0, name: undefined as string | undefined };
        const tc = new ProtoCursor(this.buf, s, e);
        while (!tc.atEnd()) {
          const t2 = tc.varint();
          if (t2 === THREAD_DESCRIPTOR.pid * 8 + WIRE_VARINT) th.pid = tc.int64();
          else if (t2 === THREAD_DESCRIPTOR.tid * 8 + WIRE_VARINT) th.tid = tc.int64();
          else if (t2 === THREAD_DESCRIPTOR.threadName * 8 + WIRE_LEN) {
            const [a, b] = tc.lengthDelimited();
            th.name = this.str(a, b);
          } else tc.skip(t2 & 7);
        }
        d.thread = th;
      } else if (field === TRACK_DESCRIPTOR.counter && wire === WIRE_LEN) {
        const [s, e] = c.lengthDelimited();
        const k = { type: 0, unit: 0, unitName: undefined as string | undefined, multiplier: 1, incremental: false };
        const kc = new ProtoCursor(this.buf, s, e);
        while (!kc.atEnd()) {
          const t2 = kc.varint();
          if (t2 === COUNTER_DESCRIPTOR.type * 8 + WIRE_VARINT) k.type = kc.varint();
          else if (t2 === COUNTER_DESCRIPTOR.unit * 8 + WIRE_VARINT) k.unit = kc.varint();
          else if (t2 === COUNTER_DESCRIPTOR.unitMultiplier * 8 + WIRE_VARINT) k.multiplier = kc.int64() || 1;
          else if (t2 === COUNTER_DESCRIPTOR.isIncremental * 8 + WIRE_VARINT) k.incremental = kc.varint() !== 0;
          else if (t2 === COUNTER_DESCRIPTOR.unitName * 8 + WIRE_LEN) {
            const [a, b] = kc.lengthDelimited();
            k.unitName = this.str(a, b);
          } else kc.skip(t2 & 7);
        }
        d.counter = k;
        this.counterDescriptors.set(d.uuid, { multiplier: k.multiplier, incremental: k.incremental });
      } else c.skip(wire);
    }
    this.result.descriptors.push(d);
  }

  private trackEvent(seq: SequenceState, seqId: number, ts: number, start: number, end: number): void {
    const ev: RawEvent = { ts, order: this.order++, sequence: seqId, explicitTrack: false, type: 0, categories: [], defaultTrack: seq.defaultTrack };
    let extraUuids: UuidKey[] | undefined;
    let extraDoubleUuids: UuidKey[] | undefined;
    const extraValues: number[] = [];
    const extraDoubleValues: number[] = [];
    const c = new ProtoCursor(this.buf, start, end);
    while (!c.atEnd()) {
      const tag = c.varint();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      switch (field) {
        case TRACK_EVENT.type:
          ev.type = c.varint();
          break;
        case TRACK_EVENT.trackUuid:
          c.varint64();
          ev.track = uuidKey(c.lo, c.hi);
          ev.explicitTrack = true;
          break;
        case TRACK_EVENT.name:
          if (wire !== WIRE_LEN) c.skip(wire);
          else {
            const [s, e] = c.lengthDelimited();
            ev.name = this.str(s, e);
          }
          break;
        case TRACK_EVENT.nameIid:
          ev.name = seq.names.get(c.varint()) ?? ev.name;
          break;
        case TRACK_EVENT.categories:
          if (wire !== WIRE_LEN) c.skip(wire);
          else {
            const [s, e] = c.lengthDelimited();
            ev.categories.push(this.str(s, e));
          }
          break;
        case TRACK_EVENT.categoryIids:
          for (const iid of this.numberList(c, wire)) {
            const cat = seq.categories.get(iid);
            if (cat !== undefined) ev.categories.push(cat);
          }
          break;
        case TRACK_EVENT.debugAnnotations:
          if (wire !== WIRE_LEN) c.skip(wire);
          else {
            const [s, e] = c.lengthDelimited();
            const [k, v] = this.annotation(seq, s, e, 0);
            (ev.args ??= {})[k] = v;
          }
          break;
        case TRACK_EVENT.flowIds:
        case TRACK_EVENT.flowIdsOld:
          (ev.flowIds ??= []).push(...this.flowList(c, wire));
          break;
        case TRACK_EVENT.terminatingFlowIds:
        case TRACK_EVENT.terminatingFlowIdsOld:
          (ev.terminatingFlowIds ??= []).push(...this.flowList(c, wire));
          break;
        case TRACK_EVENT.counterValue:
          ev.counterValue = c.int64();
          break;
        case TRACK_EVENT.doubleCounterValue:
          ev.counterValue = wire === WIRE_FIXED64 ? c.double() : (c.skip(wire), undefined);
          break;
        case TRACK_EVENT.extraCounterTrackUuids:
          (extraUuids ??= []).push(...this.uuidList(c, wire));
          break;
        case TRACK_EVENT.extraDoubleCounterTrackUuids:
          (extraDoubleUuids ??= []).push(...this.uuidList(c, wire));
          break;
        case TRACK_EVENT.extraCounterValues:
          extraValues.push(...this.numberList(c, wire, true));
          break;
        case TRACK_EVENT.extraDoubleCounterValues:
          extraDoubleValues.push(...this.doubleList(c, wire));
          break;
        case TRACK_EVENT.threadTimeAbsoluteUs:
          ev.threadTimeNs = c.int64() * 1000;
          break;
        case TRACK_EVENT.threadInstructionCountAbsolute:
          ev.threadInstructions = c.int64();
          break;
        case TRACK_EVENT.legacyEvent:
          if (wire !== WIRE_LEN) c.skip(wire);
          else {
            const [s, e] = c.lengthDelimited();
            ev.legacy = this.legacyEvent(seq, s, e, ev);
          }
          break;
        default:
          c.skip(wire);
          this.skip(`TrackEvent field ${field}`);
      }
    }
    if (!ev.explicitTrack) ev.track = seq.defaultTrack;
    // Counter values: apply the descriptor's unit multiplier and undo delta encoding per sequence.
    if (ev.counterValue !== undefined && ev.track !== undefined) ev.counterValue = this.counterValue(seq, ev.track, ev.counterValue);
    const uuids = extraUuids ?? seq.defaultExtraCounters ?? [];
    const doubleUuids = extraDoubleUuids ?? seq.defaultExtraDoubleCounters ?? [];
    if (extraValues.length > 0 || extraDoubleValues.length > 0) {
      ev.extraCounters = [];
      extraValues.forEach((v, i) => {
        if (i < uuids.length) ev.extraCounters?.push({ track: uuids[i], value: this.counterValue(seq, uuids[i], v) });
      });
      extraDoubleValues.forEach((v, i) => {
        if (i < doubleUuids.length) ev.extraCounters?.push({ track: doubleUuids[i], value: this.counterValue(seq, doubleUuids[i], v) });
      });
      if (extraValues.length > uuids.length || extraDoubleValues.length > doubleUuids.length) this.skip('extra counter value without a counter track');
    }
    this.result.events.push(ev);
  }

  private counterValue(seq: SequenceState, track: UuidKey, raw: number): number {
    const d = this.counterDescriptors.get(track);
    let v = raw * (d?.multiplier ?? 1);
    if (d?.incremental) {
      v += seq.counterTotals.get(track) ?? 0;
      seq.counterTotals.set(track, v);
    }
    return v;
  }

  private numberList(c: ProtoCursor, wire: number, signed = false): number[] {
    if (wire !== WIRE_LEN) return [signed ? c.int64() : c.varint()];
    const [s, e] = c.lengthDelimited();
    const p = new ProtoCursor(this.buf, s, e);
    const out: number[] = [];
    while (!p.atEnd()) out.push(signed ? p.int64() : p.varint());
    return out;
  }

  private doubleList(c: ProtoCursor, wire: number): number[] {
    if (wire === WIRE_FIXED64) return [c.double()];
    if (wire !== WIRE_LEN) {
      c.skip(wire);
      return [];
    }
    const [s, e] = c.lengthDelimited();
    const p = new ProtoCursor(this.buf, s, e);
    const out: number[] = [];
    while (!p.atEnd()) out.push(p.double());
    return out;
  }

  /** Flow ids: fixed64 as Perfetto writes them; varint (the deprecated uint64 fields) and packed accepted too. */
  private flowList(c: ProtoCursor, wire: number): number[] {
    if (wire === WIRE_FIXED64) return [c.fixed64()];
    if (wire === WIRE_VARINT) return [c.varint()];
    const [s, e] = c.lengthDelimited();
    const p = new ProtoCursor(this.buf, s, e);
    const out: number[] = [];
    while (!p.atEnd()) out.push(p.fixed64());
    return out;
  }

  private legacyEvent(seq: SequenceState, start: number, end: number, ev: RawEvent): RawLegacy {
    const l: RawLegacy = { phase: 0 };
    const c = new ProtoCursor(this.buf, start, end);
    while (!c.atEnd()) {
      const tag = c.varint();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (wire !== WIRE_VARINT) {
        c.skip(wire);
        continue;
      }
      c.varint64();
      const v = c.hi * TWO_32 + c.lo;
      if (field === LEGACY_EVENT.phase) l.phase = v;
      else if (field === LEGACY_EVENT.durationUs) l.durationNs = v * 1000;
      else if (field === LEGACY_EVENT.nameIid) ev.name = seq.names.get(v) ?? ev.name;
      else if (field === LEGACY_EVENT.unscopedId || field === LEGACY_EVENT.localId) l.id = String(v);
      else if (field === LEGACY_EVENT.globalId) {
        l.id = String(v);
        l.idIsGlobal = true;
      } else if (field === LEGACY_EVENT.instantEventScope) l.instantScope = v;
      else if (field === LEGACY_EVENT.pidOverride) l.pidOverride = c.lo | 0;
      else if (field === LEGACY_EVENT.tidOverride) l.tidOverride = c.lo | 0;
      else if (field === LEGACY_EVENT.bindId || field === LEGACY_EVENT.flowDirection) this.skip('legacy (v1) flow binding');
    }
    return l;
  }

  /** One DebugAnnotation as [name, value]. */
  private annotation(seq: SequenceState, start: number, end: number, depth: number): [string, ArgValue] {
    let name = '';
    let value: ArgValue = null;
    let dict: Record<string, ArgValue> | undefined;
    let array: ArgValue[] | undefined;
    const c = new ProtoCursor(this.buf, start, end);
    while (!c.atEnd()) {
      const tag = c.varint();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (field === DEBUG_ANNOTATION.nameIid && wire === WIRE_VARINT) name = seq.argNames.get(c.varint()) ?? name;
      else if (field === DEBUG_ANNOTATION.name && wire === WIRE_LEN) {
        const [s, e] = c.lengthDelimited();
        name = this.str(s, e);
      } else if (field === DEBUG_ANNOTATION.boolValue && wire === WIRE_VARINT) value = c.varint() !== 0;
      else if (field === DEBUG_ANNOTATION.uintValue && wire === WIRE_VARINT) value = this.bigValue(c, false);
      else if (field === DEBUG_ANNOTATION.intValue && wire === WIRE_VARINT) value = this.bigValue(c, true);
      else if (field === DEBUG_ANNOTATION.pointerValue && wire === WIRE_VARINT) {
        c.varint64();
        value = `0x${((BigInt(c.hi) << 32n) | BigInt(c.lo)).toString(16)}`;
      } else if (field === DEBUG_ANNOTATION.doubleValue && wire === WIRE_FIXED64) value = c.double();
      else if ((field === DEBUG_ANNOTATION.stringValue || field === DEBUG_ANNOTATION.legacyJsonValue) && wire === WIRE_LEN) {
        const [s, e] = c.lengthDelimited();
        const text = this.str(s, e);
        value = field === DEBUG_ANNOTATION.stringValue ? text : parseLegacyJson(text);
      } else if (field === DEBUG_ANNOTATION.stringValueIid && wire === WIRE_VARINT) value = seq.argStrings.get(c.varint()) ?? '';
      else if (field === DEBUG_ANNOTATION.nestedValue && wire === WIRE_LEN) {
        const [s, e] = c.lengthDelimited();
        value = this.nested(s, e, depth + 1);
      } else if ((field === DEBUG_ANNOTATION.dictEntries || field === DEBUG_ANNOTATION.arrayValues) && wire === WIRE_LEN) {
        const [s, e] = c.lengthDelimited();
        if (depth >= MAX_ANNOTATION_DEPTH) {
          this.deepAnnotations++;
          continue;
        }
        const [k, v] = this.annotation(seq, s, e, depth + 1);
        if (field === DEBUG_ANNOTATION.dictEntries) (dict ??= {})[k] = v;
        else (array ??= []).push(v);
      } else {
        c.skip(wire);
        this.skip(`DebugAnnotation field ${field}`);
      }
    }
    return [name, dict ?? array ?? value];
  }

  private bigValue(c: ProtoCursor, signed: boolean): number | string {
    c.varint64();
    const negative = signed && (c.hi & 0x80000000) !== 0;
    const v = negative ? (c.hi | 0) * TWO_32 + c.lo : c.hi * TWO_32 + c.lo;
    if (Number.isSafeInteger(v)) return v;
    const big = (BigInt(c.hi) << 32n) | BigInt(c.lo);
    return (negative ? BigInt.asIntN(64, big) : big).toString();
  }

  private nested(start: number, end: number, depth: number): ArgValue {
    if (depth > MAX_ANNOTATION_DEPTH) {
      this.deepAnnotations++;
      return null;
    }
    let type = 0;
    const keys: string[] = [];
    const dictValues: ArgValue[] = [];
    const arrayValues: ArgValue[] = [];
    let leaf: ArgValue = null;
    const c = new ProtoCursor(this.buf, start, end);
    while (!c.atEnd()) {
      const tag = c.varint();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (field === NESTED_VALUE.nestedType && wire === WIRE_VARINT) type = c.varint();
      else if (field === NESTED_VALUE.dictKeys && wire === WIRE_LEN) {
        const [s, e] = c.lengthDelimited();
        keys.push(this.str(s, e));
      } else if ((field === NESTED_VALUE.dictValues || field === NESTED_VALUE.arrayValues) && wire === WIRE_LEN) {
        const [s, e] = c.lengthDelimited();
        (field === NESTED_VALUE.dictValues ? dictValues : arrayValues).push(this.nested(s, e, depth + 1));
      } else if (field === NESTED_VALUE.intValue && wire === WIRE_VARINT) leaf = this.bigValue(c, true);
      else if (field === NESTED_VALUE.doubleValue && wire === WIRE_FIXED64) leaf = c.double();
      else if (field === NESTED_VALUE.boolValue && wire === WIRE_VARINT) leaf = c.varint() !== 0;
      else if (field === NESTED_VALUE.stringValue && wire === WIRE_LEN) {
        const [s, e] = c.lengthDelimited();
        leaf = this.str(s, e);
      } else c.skip(wire);
    }
    if (type === 1) {
      const d: Record<string, ArgValue> = {};
      keys.forEach((k, i) => (d[k] = dictValues[i] ?? null));
      return d;
    }
    if (type === 2) return arrayValues;
    return leaf;
  }
}

/** legacy_json_value holds JSON text; keep it as text when it does not parse. */
function parseLegacyJson(text: string): ArgValue {
  try {
    return JSON.parse(text) as ArgValue;
  } catch {
    return text;
  }
}
