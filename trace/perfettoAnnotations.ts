/**
 * Args as Perfetto debug annotations: integers as int_value, other numbers as
 * double_value, strings, booleans, null as a name without a value, arrays as array_values and
 * objects as dict_entries (named children), nested up to MAX_NESTING levels, beyond
 * which the rest is written as JSON text. Top-level names are interned by the caller.
 */
import type { ArgValue } from './model';
import { ProtoWriter, varintSize } from './protoWire';
import { DEBUG_ANNOTATION, TRACK_EVENT } from './perfettoFields';

/** Scratch writers for nested annotations, one per depth, so encoding allocates nothing. */
const NESTED: ProtoWriter[] = [];
/** Args nested deeper than this are written as JSON text (legacy_json_value). */
const MAX_NESTING = 16;

/**
 * Writes one DebugAnnotation as field `field` of `w`: its name (interned iid, or a plain
 * name for dict entries), then the value. Scalars are sized up front and written in place;
 * arrays and dicts go through the per-depth scratch writers.
 */
export function writeAnnotation(
  w: ProtoWriter,
  nameField: number,
  nameIid: number,
  name: string | undefined,
  v: ArgValue,
  depth: number,
): void {
  const field =
    depth === 0
      ? TRACK_EVENT.debugAnnotations
      : nameField === DEBUG_ANNOTATION.name
        ? DEBUG_ANNOTATION.dictEntries
        : DEBUG_ANNOTATION.arrayValues;
  if (
    typeof v === 'number' &&
    Number.isSafeInteger(v) &&
    v >= 0 &&
    name === undefined &&
    nameField === DEBUG_ANNOTATION.nameIid
  ) {
    // The common case (a count, a byte size, an id): tag, length, name iid, int value.
    const body = 1 + varintSize(nameIid) + 1 + varintSize(v);
    w.tag(field, 2);
    w.varint(body);
    w.uint(DEBUG_ANNOTATION.nameIid, nameIid);
    w.uint(DEBUG_ANNOTATION.intValue, v);
    return;
  }
  const a = (NESTED[depth] ??= new ProtoWriter(128));
  a.reset();
  if (name !== undefined) a.string(DEBUG_ANNOTATION.name, name);
  else if (nameField === DEBUG_ANNOTATION.nameIid) a.uint(DEBUG_ANNOTATION.nameIid, nameIid);
  writeAnnotationValue(a, v, depth);
  w.message(field, a);
}

/** Encodes one arg value into a DebugAnnotation whose name is already written. */
function writeAnnotationValue(a: ProtoWriter, v: ArgValue, depth: number): void {
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) a.int64(DEBUG_ANNOTATION.intValue, v);
    else a.double(DEBUG_ANNOTATION.doubleValue, v);
  } else if (typeof v === 'string') a.string(DEBUG_ANNOTATION.stringValue, v);
  else if (typeof v === 'boolean') a.bool(DEBUG_ANNOTATION.boolValue, v);
  else if (v === null) {
    // A name with no value: DebugAnnotation has no null. Not legacy JSON "null": Perfetto's
    // trace processor (v58) aborts on it (json_args.cc "Unreachable"); a valueless
    // annotation it skips, and CommLens reads back as null.
  } else if (depth >= MAX_NESTING) a.string(DEBUG_ANNOTATION.legacyJsonValue, JSON.stringify(v));
  else if (Array.isArray(v)) {
    if (v.length === 0) a.string(DEBUG_ANNOTATION.legacyJsonValue, '[]');
    for (const item of v) writeAnnotation(a, DEBUG_ANNOTATION.arrayValues, 0, undefined, item, depth + 1);
  } else {
    const keys = Object.keys(v);
    if (keys.length === 0) a.string(DEBUG_ANNOTATION.legacyJsonValue, '{}');
    for (const key of keys) writeAnnotation(a, DEBUG_ANNOTATION.name, 0, key, v[key], depth + 1);
  }
}
