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
import { ProtoCursor, WireError, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT } from './protoWire';
import {
  CHROME_EVENT_BUNDLE,
  CHROME_METADATA,
  DEFAULTS,
  INTERNED_DATA,
  INTERNED_ENTRY,
  PACKET,
  SEQ_INCREMENTAL_STATE_CLEARED,
  TRACE,
  TRACK_EVENT,
  TRACK_EVENT_DEFAULTS,
} from './perfettoFields';
import { RUN_METADATA_EVENT as RUN_METADATA_NAME } from './perfettoWriter';
import type { Args } from './model';
import {
  FieldDecoder,
  MAX_ANNOTATION_DEPTH,
  newSequence,
  uuidKey,
  type RawEvent,
  type RawDescriptor,
  type SequenceState,
  type UuidKey,
} from './perfettoDecode';

export type { RawDescriptor, RawEvent, RawLegacy, UuidKey } from './perfettoDecode';

const TWO_32 = 4294967296;
/** Shared empty category list (most END events have none); replaced, never mutated. */
const NO_CATEGORIES: string[] = [];

export interface Tokenized {
  descriptors: RawDescriptor[];
  events: RawEvent[];
  /** The first packet's timestamp: relative times are from it. */
  baseLo: number;
  baseHi: number;
  packets: number;
  /** CommLens run metadata entries ("commlens.run" Chrome metadata, JSON-decoded), in file order. */
  runMetadata: Args[];
  warnings: string[];
  /** Set when the top-level framing broke: where and why. */
  stoppedAt?: { offset: number; message: string; expected: string };
}

/** Reads a `.pftrace` byte array (perfetto.protos.Trace) into descriptors and events. */
export function tokenizePerfetto(buf: Uint8Array, opts: TokenizeOptions = {}): Tokenized {
  const t = new Tokenizer(buf, opts);
  t.run();
  return t.result;
}

export interface TokenizeOptions {
  /**
   * zlib inflate for `compressed_packets` (e.g. node's zlib.inflateSync with a
   * maxOutputLength); without it such packets are skipped with a warning.
   */
  inflate?: (bytes: Uint8Array) => Uint8Array;
  /** Called for every event as it is decoded (a load budget's meter; may throw to stop the read). */
  onEvent?: () => void;
}

class Tokenizer extends FieldDecoder {
  readonly result: Tokenized = {
    descriptors: [],
    events: [],
    baseLo: 0,
    baseHi: 0,
    packets: 0,
    runMetadata: [],
    warnings: [],
  };
  private readonly sequences = new Map<number, SequenceState>();
  private badPackets = 0;
  private firstBadPacket = '';
  private haveBase = false;
  private compressedDepth = 0;
  private lastTs = 0;

  constructor(
    buf: Uint8Array,
    private readonly opts: TokenizeOptions,
  ) {
    super(buf);
    this.result.descriptors = this.descriptors;
  }

  run(): void {
    const c = new ProtoCursor(this.buf);
    while (!c.atEnd()) {
      const at = c.pos;
      try {
        const tag = c.varint();
        const field = Math.floor(tag / 8);
        const wire = tag & 7;
        if (field === TRACE.packet && wire === WIRE_LEN) {
          c.len();
          const s = c.segStart;
          const e = c.segEnd;
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

  private summarize(): void {
    const w = this.result.warnings;
    if (this.badPackets > 0) w.push(`${this.badPackets} malformed packet(s) skipped (first: ${this.firstBadPacket})`);
    if (this.invalidUtf8 > 0) w.push(`${this.invalidUtf8} string(s) with invalid UTF-8 (shown with U+FFFD)`);
    if (this.deepAnnotations > 0)
      w.push(`${this.deepAnnotations} debug annotation(s) nested deeper than ${MAX_ANNOTATION_DEPTH} levels were cut`);
    if (this.skipped.size > 0) {
      const list = [...this.skipped.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ×${n}`);
      w.push(`skipped unsupported data: ${list.join(', ')}`);
    }
  }

  private packet(start: number, end: number): void {
    this.result.packets++;
    // Fields are gathered first, then applied in Perfetto's order: clear, intern, defaults, payload.
    let tsLo = 0;
    let tsHi = 0;
    let hasTs = false;
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
          hasTs = true;
        } else if (field === PACKET.trustedPacketSequenceId && wire === WIRE_VARINT) seqId = c.varint();
        else if (field === PACKET.sequenceFlags && wire === WIRE_VARINT) flags = c.varint();
        else if (field === PACKET.incrementalStateCleared && wire === WIRE_VARINT) cleared = c.varint() !== 0;
        else if (field === PACKET.internedData && wire === WIRE_LEN) interned = c.lengthDelimited();
        else if (field === PACKET.tracePacketDefaults && wire === WIRE_LEN) defaults = c.lengthDelimited();
        else if (field === PACKET.trackDescriptor && wire === WIRE_LEN) descriptor = c.lengthDelimited();
        else if (field === PACKET.trackEvent && wire === WIRE_LEN) event = c.lengthDelimited();
        else if (field === PACKET.firstPacketOnSequence && wire === WIRE_VARINT) c.varint64();
        else if (field === PACKET.chromeEvents && wire === WIRE_LEN) {
          c.len();
          this.chromeEvents(c.segStart, c.segEnd);
        } else if (field === PACKET.compressedPackets && wire === WIRE_LEN) {
          c.len();
          const s = c.segStart;
          const e = c.segEnd;
          this.compressed(s, e);
        } else if (field === PACKET.timestampClockId && wire === WIRE_VARINT) {
          c.varint64();
          this.skip('timestamp_clock_id (clock conversion not supported; times taken as is)');
        } else {
          c.skip(wire);
          this.skip(`TracePacket field ${field}`);
        }
      }
      if (!this.haveBase && hasTs) {
        this.haveBase = true;
        this.result.baseLo = tsLo;
        this.result.baseHi = tsHi;
      }
      // A packet without a timestamp (a container, a late descriptor) takes the last one seen.
      const ts = hasTs ? (tsHi - this.result.baseHi) * TWO_32 + (tsLo - this.result.baseLo) : this.lastTs;
      this.lastTs = ts;
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
      if (this.badPackets++ === 0)
        this.firstBadPacket = `packet at byte ${start}: ${err.message} at byte ${err.offset}, expected ${err.expected}`;
    }
  }

  /**
   * A ChromeEventBundle: its "commlens.run" metadata entries are CommLens' run metadata;
   * anything else in it (other producers' metadata, legacy JSON events) is counted as skipped.
   */
  private chromeEvents(start: number, end: number): void {
    const c = new ProtoCursor(this.buf, start, end);
    while (!c.atEnd()) {
      const tag = c.varint();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (field !== CHROME_EVENT_BUNDLE.metadata || wire !== WIRE_LEN) {
        c.skip(wire);
        this.skip(`ChromeEventBundle field ${field}`);
        continue;
      }
      c.len();
      const m = new ProtoCursor(this.buf, c.segStart, c.segEnd);
      let name: string | undefined;
      let value: string | undefined;
      while (!m.atEnd()) {
        const t = m.varint();
        const f = Math.floor(t / 8);
        if (f === CHROME_METADATA.name && (t & 7) === WIRE_LEN) {
          m.len();
          name = this.str(m.segStart, m.segEnd);
        } else if (f === CHROME_METADATA.stringValue && (t & 7) === WIRE_LEN) {
          m.len();
          value = this.str(m.segStart, m.segEnd);
        } else m.skip(t & 7);
      }
      if (name !== RUN_METADATA_NAME || value === undefined) {
        this.skip('Chrome metadata');
        continue;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch (e) {
        this.result.warnings.push(`run metadata "${RUN_METADATA_NAME}" is not JSON (${(e as Error).message}); ignored`);
        continue;
      }
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) this.result.runMetadata.push(parsed as Args);
      else this.result.warnings.push(`run metadata "${RUN_METADATA_NAME}" is not a JSON object; ignored`);
    }
  }

  /** Inflates compressed_packets and reads the packets inside in place (their offsets are within the inflated bytes). */
  private compressed(start: number, end: number): void {
    if (!this.opts.inflate) {
      this.skip('compressed_packets (no inflate function given)');
      return;
    }
    if (this.compressedDepth > 0)
      throw new WireError(
        'compressed_packets inside compressed_packets',
        start,
        'plain packets inside compressed_packets',
      );
    let inner: Uint8Array;
    try {
      inner = this.opts.inflate(this.buf.subarray(start, end));
    } catch (e) {
      if ((e as Error).name === 'TraceTooLargeError') throw e;
      throw new WireError(
        `compressed_packets do not inflate: ${(e as Error).message}`,
        start,
        'a complete zlib stream',
      );
    }
    const outer = this.buf;
    this.buf = inner;
    this.compressedDepth++;
    try {
      const c = new ProtoCursor(inner);
      while (!c.atEnd()) {
        const tag = c.varint();
        if (tag !== TRACE.packet * 8 + WIRE_LEN) {
          c.skip(tag & 7);
          continue;
        }
        c.len();
        const s = c.segStart;
        const e = c.segEnd;
        this.packet(s, e);
      }
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      throw new WireError(`in compressed_packets (inflated byte ${e.offset}): ${e.message}`, start, e.expected);
    } finally {
      this.buf = outer;
      this.compressedDepth--;
    }
  }

  private internedData(seq: SequenceState, start: number, end: number): void {
    const c = new ProtoCursor(this.buf, start, end);
    while (!c.atEnd()) {
      const tag = c.varint();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      const table =
        field === INTERNED_DATA.eventCategories
          ? seq.categories
          : field === INTERNED_DATA.eventNames
            ? seq.names
            : field === INTERNED_DATA.debugAnnotationNames
              ? seq.argNames
              : field === INTERNED_DATA.debugAnnotationStringValues
                ? seq.argStrings
                : undefined;
      if (!table || wire !== WIRE_LEN) {
        c.skip(wire);
        if (table === undefined) this.skip(`InternedData field ${field}`);
        continue;
      }
      c.len();
      const s = c.segStart;
      const e = c.segEnd;
      const ec = new ProtoCursor(this.buf, s, e);
      let iid = 0;
      let name = '';
      while (!ec.atEnd()) {
        const t2 = ec.varint();
        if (t2 === INTERNED_ENTRY.iid * 8 + WIRE_VARINT) iid = ec.varint();
        else if (t2 === INTERNED_ENTRY.name * 8 + WIRE_LEN) {
          ec.len();
          const ns = ec.segStart;
          const ne = ec.segEnd;
          name = this.str(ns, ne);
        } else ec.skip(t2 & 7);
      }
      table.set(iid, name);
    }
  }

  private defaults(seq: SequenceState, start: number, end: number): void {
    const c = new ProtoCursor(this.buf, start, end);
    while (!c.atEnd()) {
      const tag = c.varint();
      if (tag === DEFAULTS.trackEventDefaults * 8 + WIRE_LEN) {
        c.len();
        const s = c.segStart;
        const e = c.segEnd;
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
          } else if (f === TRACK_EVENT_DEFAULTS.extraCounterTrackUuids)
            (seq.defaultExtraCounters ??= []).push(...this.uuidList(d, t2 & 7));
          else if (f === TRACK_EVENT_DEFAULTS.extraDoubleCounterTrackUuids)
            (seq.defaultExtraDoubleCounters ??= []).push(...this.uuidList(d, t2 & 7));
          else d.skip(t2 & 7);
        }
      } else {
        if (tag === DEFAULTS.timestampClockId * 8 + WIRE_VARINT)
          this.skip('timestamp_clock_id default (clock conversion not supported)');
        c.skip(tag & 7);
      }
    }
  }

  private trackEvent(seq: SequenceState, seqId: number, ts: number, start: number, end: number): void {
    // Every field present from the start: one object shape for all events keeps V8's access fast.
    const ev: RawEvent = {
      ts,
      order: this.order++,
      sequence: seqId,
      track: undefined,
      explicitTrack: false,
      defaultTrack: seq.defaultTrack,
      type: 0,
      name: undefined,
      categories: NO_CATEGORIES,
      args: undefined,
      flowIds: undefined,
      terminatingFlowIds: undefined,
      counterValue: undefined,
      extraCounters: undefined,
      threadTimeNs: undefined,
      threadInstructions: undefined,
      legacy: undefined,
    };
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
            c.len();
            const s = c.segStart;
            const e = c.segEnd;
            ev.name = this.str(s, e);
          }
          break;
        case TRACK_EVENT.nameIid:
          ev.name = seq.names.get(c.varint()) ?? ev.name;
          break;
        case TRACK_EVENT.categories:
          if (wire !== WIRE_LEN) c.skip(wire);
          else {
            c.len();
            const s = c.segStart;
            const e = c.segEnd;
            if (ev.categories === NO_CATEGORIES) ev.categories = [];
            ev.categories.push(this.str(s, e));
          }
          break;
        case TRACK_EVENT.categoryIids:
          for (const iid of this.numberList(c, wire)) {
            const cat = seq.categories.get(iid);
            if (cat === undefined) continue;
            if (ev.categories === NO_CATEGORIES) ev.categories = [];
            ev.categories.push(cat);
          }
          break;
        case TRACK_EVENT.debugAnnotations:
          if (wire !== WIRE_LEN) c.skip(wire);
          else {
            c.len();
            const s = c.segStart;
            const e = c.segEnd;
            const v = this.annotation(seq, s, e, 0);
            const k = this.annotationName;
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
            c.len();
            const s = c.segStart;
            const e = c.segEnd;
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
    if (ev.counterValue !== undefined && ev.track !== undefined)
      ev.counterValue = this.counterValue(seq, ev.track, ev.counterValue);
    const uuids = extraUuids ?? seq.defaultExtraCounters ?? [];
    const doubleUuids = extraDoubleUuids ?? seq.defaultExtraDoubleCounters ?? [];
    if (extraValues.length > 0 || extraDoubleValues.length > 0) {
      ev.extraCounters = [];
      extraValues.forEach((v, i) => {
        if (i < uuids.length) ev.extraCounters?.push({ track: uuids[i], value: this.counterValue(seq, uuids[i], v) });
      });
      extraDoubleValues.forEach((v, i) => {
        if (i < doubleUuids.length)
          ev.extraCounters?.push({ track: doubleUuids[i], value: this.counterValue(seq, doubleUuids[i], v) });
      });
      if (extraValues.length > uuids.length || extraDoubleValues.length > doubleUuids.length)
        this.skip('extra counter value without a counter track');
    }
    this.opts.onEvent?.();
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
}
