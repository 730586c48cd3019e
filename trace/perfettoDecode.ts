/**
 * Field decoders shared by the Perfetto tokenizer: track descriptors, legacy events, debug
 * annotations (typed, nested and legacy JSON values, with a depth limit for hostile
 * files) and the repeated-field forms Perfetto writers use (packed or not). Every read is
 * bounds-checked by ProtoCursor; strings are decoded strictly and counted when invalid.
 */
import type { ArgValue, Args } from './model';
import { ProtoCursor, decodeUtf8, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT } from './protoWire';
import {
  COUNTER_DESCRIPTOR,
  DEBUG_ANNOTATION,
  LEGACY_EVENT,
  NESTED_VALUE,
  PROCESS_DESCRIPTOR,
  THREAD_DESCRIPTOR,
  TRACK_DESCRIPTOR,
} from './perfettoFields';

const TWO_32 = 4294967296;
/** Nesting deeper than this in a debug annotation is cut (hostile files nest without end). */
export const MAX_ANNOTATION_DEPTH = 32;

/** A track uuid: a number when exact, else "hi:lo". */
export type UuidKey = number | string;

/** The key of the 64-bit uuid hi·2^32 + lo: the number itself below 2^53 (exact), else "hi:lo". */
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

/** Incremental state of one packet sequence. */
export interface SequenceState {
  names: Map<number, string>;
  categories: Map<number, string>;
  argNames: Map<number, string>;
  argStrings: Map<number, string>;
  defaultTrack?: UuidKey;
  defaultExtraCounters?: UuidKey[];
  defaultExtraDoubleCounters?: UuidKey[];
  counterTotals: Map<UuidKey, number>;
}

/** Fresh incremental state: what a sequence has after SEQ_INCREMENTAL_STATE_CLEARED (defaults are carried by the caller). */
export function newSequence(): SequenceState {
  return {
    names: new Map(),
    categories: new Map(),
    argNames: new Map(),
    argStrings: new Map(),
    counterTotals: new Map(),
  };
}

/** Decoders over one buffer; the tokenizer extends this with the packet loop and sequence state. */
export class FieldDecoder {
  protected readonly skipped = new Map<string, number>();
  protected invalidUtf8 = 0;
  protected deepAnnotations = 0;
  protected order = 0;
  protected readonly descriptors: RawDescriptor[] = [];
  protected readonly counterDescriptors = new Map<UuidKey, { multiplier: number; incremental: boolean }>();

  constructor(protected buf: Uint8Array) {}

  /** Counts something skipped, for the summary warning. */
  protected skip(what: string): void {
    this.skipped.set(what, (this.skipped.get(what) ?? 0) + 1);
  }

  protected str(s: number, e: number): string {
    const r = decodeUtf8(this.buf, s, e);
    if (!r.valid) this.invalidUtf8++;
    return r.text;
  }

  protected uuidList(c: ProtoCursor, wire: number): UuidKey[] {
    const out: UuidKey[] = [];
    if (wire === WIRE_LEN) {
      c.len();
      const s = c.segStart;
      const e = c.segEnd;
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

  /** One TrackDescriptor (its counter descriptor, if any, is remembered for counter values). */
  protected descriptor(ts: number, start: number, end: number): void {
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
      } else if (
        (field === TRACK_DESCRIPTOR.name ||
          field === TRACK_DESCRIPTOR.staticName ||
          field === TRACK_DESCRIPTOR.atraceName) &&
        wire === WIRE_LEN
      ) {
        c.len();
        const s = c.segStart;
        const e = c.segEnd;
        d.name = this.str(s, e);
      } else if (field === TRACK_DESCRIPTOR.description && wire === WIRE_LEN) {
        c.len();
        const s = c.segStart;
        const e = c.segEnd;
        d.description = this.str(s, e);
      } else if (field === TRACK_DESCRIPTOR.childOrdering && wire === WIRE_VARINT) d.childOrdering = c.varint();
      else if (field === TRACK_DESCRIPTOR.siblingOrderRank && wire === WIRE_VARINT) d.siblingOrderRank = c.int64();
      else if (field === TRACK_DESCRIPTOR.process && wire === WIRE_LEN) {
        c.len();
        const s = c.segStart;
        const e = c.segEnd;
        const p = { pid: 0, name: undefined as string | undefined, labels: [] as string[] };
        const pc = new ProtoCursor(this.buf, s, e);
        while (!pc.atEnd()) {
          const t2 = pc.varint();
          if (t2 === PROCESS_DESCRIPTOR.pid * 8 + WIRE_VARINT) p.pid = pc.int64();
          else if (t2 === PROCESS_DESCRIPTOR.processName * 8 + WIRE_LEN) {
            pc.len();
            const a = pc.segStart;
            const b = pc.segEnd;
            p.name = this.str(a, b);
          } else if (t2 === PROCESS_DESCRIPTOR.processLabels * 8 + WIRE_LEN) {
            pc.len();
            const a = pc.segStart;
            const b = pc.segEnd;
            p.labels.push(this.str(a, b));
          } else pc.skip(t2 & 7);
        }
        d.process = p;
      } else if (field === TRACK_DESCRIPTOR.thread && wire === WIRE_LEN) {
        c.len();
        const s = c.segStart;
        const e = c.segEnd;
        const th = { pid: 0, tid: 0, name: undefined as string | undefined };
        const tc = new ProtoCursor(this.buf, s, e);
        while (!tc.atEnd()) {
          const t2 = tc.varint();
          if (t2 === THREAD_DESCRIPTOR.pid * 8 + WIRE_VARINT) th.pid = tc.int64();
          else if (t2 === THREAD_DESCRIPTOR.tid * 8 + WIRE_VARINT) th.tid = tc.int64();
          else if (t2 === THREAD_DESCRIPTOR.threadName * 8 + WIRE_LEN) {
            tc.len();
            const a = tc.segStart;
            const b = tc.segEnd;
            th.name = this.str(a, b);
          } else tc.skip(t2 & 7);
        }
        d.thread = th;
      } else if (field === TRACK_DESCRIPTOR.counter && wire === WIRE_LEN) {
        c.len();
        const s = c.segStart;
        const e = c.segEnd;
        const k = { type: 0, unit: 0, unitName: undefined as string | undefined, multiplier: 1, incremental: false };
        const kc = new ProtoCursor(this.buf, s, e);
        while (!kc.atEnd()) {
          const t2 = kc.varint();
          if (t2 === COUNTER_DESCRIPTOR.type * 8 + WIRE_VARINT) k.type = kc.varint();
          else if (t2 === COUNTER_DESCRIPTOR.unit * 8 + WIRE_VARINT) k.unit = kc.varint();
          else if (t2 === COUNTER_DESCRIPTOR.unitMultiplier * 8 + WIRE_VARINT) k.multiplier = kc.int64() || 1;
          else if (t2 === COUNTER_DESCRIPTOR.isIncremental * 8 + WIRE_VARINT) k.incremental = kc.varint() !== 0;
          else if (t2 === COUNTER_DESCRIPTOR.unitName * 8 + WIRE_LEN) {
            kc.len();
            const a = kc.segStart;
            const b = kc.segEnd;
            k.unitName = this.str(a, b);
          } else kc.skip(t2 & 7);
        }
        d.counter = k;
        this.counterDescriptors.set(d.uuid, { multiplier: k.multiplier, incremental: k.incremental });
      } else c.skip(wire);
    }
    this.descriptors.push(d);
  }

  protected numberList(c: ProtoCursor, wire: number, signed = false): number[] {
    if (wire !== WIRE_LEN) return [signed ? c.int64() : c.varint()];
    c.len();
    const s = c.segStart;
    const e = c.segEnd;
    const p = new ProtoCursor(this.buf, s, e);
    const out: number[] = [];
    while (!p.atEnd()) out.push(signed ? p.int64() : p.varint());
    return out;
  }

  protected doubleList(c: ProtoCursor, wire: number): number[] {
    if (wire === WIRE_FIXED64) return [c.double()];
    if (wire !== WIRE_LEN) {
      c.skip(wire);
      return [];
    }
    c.len();
    const s = c.segStart;
    const e = c.segEnd;
    const p = new ProtoCursor(this.buf, s, e);
    const out: number[] = [];
    while (!p.atEnd()) out.push(p.double());
    return out;
  }

  /** Flow ids: fixed64 as Perfetto writes them; varint (the deprecated uint64 fields) and packed accepted too. */
  protected flowList(c: ProtoCursor, wire: number): number[] {
    if (wire === WIRE_FIXED64) return [c.fixed64()];
    if (wire === WIRE_VARINT) return [c.varint()];
    c.len();
    const s = c.segStart;
    const e = c.segEnd;
    const p = new ProtoCursor(this.buf, s, e);
    const out: number[] = [];
    while (!p.atEnd()) out.push(p.fixed64());
    return out;
  }

  protected legacyEvent(seq: SequenceState, start: number, end: number, ev: RawEvent): RawLegacy {
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
      else if (field === LEGACY_EVENT.bindId || field === LEGACY_EVENT.flowDirection)
        this.skip('legacy (v1) flow binding');
    }
    return l;
  }

  /** Name of the annotation `annotation()` just read (a field, not a tuple: this runs per arg). */
  protected annotationName = '';

  /** One DebugAnnotation's value; its name is left in `annotationName`. */
  protected annotation(seq: SequenceState, start: number, end: number, depth: number): ArgValue {
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
        c.len();
        const s = c.segStart;
        const e = c.segEnd;
        name = this.str(s, e);
      } else if (field === DEBUG_ANNOTATION.boolValue && wire === WIRE_VARINT) value = c.varint() !== 0;
      else if (field === DEBUG_ANNOTATION.uintValue && wire === WIRE_VARINT) value = this.bigValue(c, false);
      else if (field === DEBUG_ANNOTATION.intValue && wire === WIRE_VARINT) value = this.bigValue(c, true);
      else if (field === DEBUG_ANNOTATION.pointerValue && wire === WIRE_VARINT) {
        c.varint64();
        value = `0x${((BigInt(c.hi) << 32n) | BigInt(c.lo)).toString(16)}`;
      } else if (field === DEBUG_ANNOTATION.doubleValue && wire === WIRE_FIXED64) value = c.double();
      else if (
        (field === DEBUG_ANNOTATION.stringValue || field === DEBUG_ANNOTATION.legacyJsonValue) &&
        wire === WIRE_LEN
      ) {
        c.len();
        const s = c.segStart;
        const e = c.segEnd;
        const text = this.str(s, e);
        value = field === DEBUG_ANNOTATION.stringValue ? text : parseLegacyJson(text);
      } else if (field === DEBUG_ANNOTATION.stringValueIid && wire === WIRE_VARINT)
        value = seq.argStrings.get(c.varint()) ?? '';
      else if (field === DEBUG_ANNOTATION.nestedValue && wire === WIRE_LEN) {
        c.len();
        const s = c.segStart;
        const e = c.segEnd;
        value = this.nested(s, e, depth + 1);
      } else if (
        (field === DEBUG_ANNOTATION.dictEntries || field === DEBUG_ANNOTATION.arrayValues) &&
        wire === WIRE_LEN
      ) {
        c.len();
        const s = c.segStart;
        const e = c.segEnd;
        if (depth >= MAX_ANNOTATION_DEPTH) {
          this.deepAnnotations++;
          continue;
        }
        const v = this.annotation(seq, s, e, depth + 1);
        const k = this.annotationName;
        if (field === DEBUG_ANNOTATION.dictEntries) (dict ??= {})[k] = v;
        else (array ??= []).push(v);
      } else {
        c.skip(wire);
        this.skip(`DebugAnnotation field ${field}`);
      }
    }
    this.annotationName = name;
    return dict ?? array ?? value;
  }

  protected bigValue(c: ProtoCursor, signed: boolean): number | string {
    c.varint64();
    const negative = signed && (c.hi & 0x80000000) !== 0;
    const v = negative ? (c.hi | 0) * TWO_32 + c.lo : c.hi * TWO_32 + c.lo;
    if (Number.isSafeInteger(v)) return v;
    const big = (BigInt(c.hi) << 32n) | BigInt(c.lo);
    return (negative ? BigInt.asIntN(64, big) : big).toString();
  }

  protected nested(start: number, end: number, depth: number): ArgValue {
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
        c.len();
        const s = c.segStart;
        const e = c.segEnd;
        keys.push(this.str(s, e));
      } else if ((field === NESTED_VALUE.dictValues || field === NESTED_VALUE.arrayValues) && wire === WIRE_LEN) {
        c.len();
        const s = c.segStart;
        const e = c.segEnd;
        (field === NESTED_VALUE.dictValues ? dictValues : arrayValues).push(this.nested(s, e, depth + 1));
      } else if (field === NESTED_VALUE.intValue && wire === WIRE_VARINT) leaf = this.bigValue(c, true);
      else if (field === NESTED_VALUE.doubleValue && wire === WIRE_FIXED64) leaf = c.double();
      else if (field === NESTED_VALUE.boolValue && wire === WIRE_VARINT) leaf = c.varint() !== 0;
      else if (field === NESTED_VALUE.stringValue && wire === WIRE_LEN) {
        c.len();
        const s = c.segStart;
        const e = c.segEnd;
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
