/**
 * The subset of Perfetto's trace schema CommLens reads and writes, as field numbers.
 * Written from Perfetto's public `.proto` definitions (perfetto.protos.Trace and what it
 * nests); the fixtures' `.textproto` files show each in use. Enum values are Perfetto's.
 */

export const TRACE = { packet: 1 } as const;

export const PACKET = {
  /** ChromeEventBundle: CommLens writes its run metadata there (Perfetto's `metadata` table). */
  chromeEvents: 5,
  timestamp: 8,
  trustedPacketSequenceId: 10,
  trackEvent: 11,
  internedData: 12,
  sequenceFlags: 13,
  incrementalStateCleared: 41,
  timestampClockId: 58,
  tracePacketDefaults: 59,
  trackDescriptor: 60,
  /** zlib-deflated bytes of whole Trace.packet fields. */
  compressedPackets: 50,
  firstPacketOnSequence: 87,
} as const;

/** ChromeEventBundle.metadata, and ChromeMetadata's name and string value. */
export const CHROME_EVENT_BUNDLE = { metadata: 2 } as const;
export const CHROME_METADATA = { name: 1, stringValue: 2 } as const;

/** TracePacket.SequenceFlags. */
export const SEQ_INCREMENTAL_STATE_CLEARED = 1;
export const SEQ_NEEDS_INCREMENTAL_STATE = 2;

export const DEFAULTS = { timestampClockId: 58, trackEventDefaults: 11 } as const;
export const TRACK_EVENT_DEFAULTS = {
  trackUuid: 11,
  extraCounterTrackUuids: 31,
  extraDoubleCounterTrackUuids: 45,
} as const;

export const TRACK_DESCRIPTOR = {
  uuid: 1,
  name: 2,
  process: 3,
  thread: 4,
  parentUuid: 5,
  counter: 8,
  staticName: 10,
  childOrdering: 11,
  siblingOrderRank: 12,
  atraceName: 13,
  description: 14,
  siblingMergeBehavior: 15,
} as const;
/** TrackDescriptor.ChildTracksOrdering: EXPLICIT sorts children by sibling_order_rank. */
export const CHILD_ORDERING_EXPLICIT = 3;
/** TrackDescriptor.SiblingMergeBehavior: NONE keeps same-named siblings apart. */
export const SIBLING_MERGE_NONE = 2;

export const PROCESS_DESCRIPTOR = { pid: 1, processName: 6, processLabels: 8 } as const;
export const THREAD_DESCRIPTOR = { pid: 1, tid: 2, threadName: 5 } as const;

export const COUNTER_DESCRIPTOR = { type: 1, unit: 3, unitMultiplier: 4, isIncremental: 5, unitName: 6 } as const;
/** CounterDescriptor.Unit. */
export const COUNTER_UNIT = { timeNs: 1, count: 2, sizeBytes: 3 } as const;
/** CounterDescriptor.BuiltinCounterType, with the track names Perfetto gives them. */
export const BUILTIN_COUNTER_NAMES: Record<number, { name: string; unit?: string }> = {
  1: { name: 'thread_time', unit: 'ns' },
  2: { name: 'thread_instruction_count' },
};

export const TRACK_EVENT = {
  timestampDeltaUs: 1,
  threadTimeDeltaUs: 2,
  categoryIids: 3,
  debugAnnotations: 4,
  legacyEvent: 6,
  threadInstructionCountDelta: 8,
  type: 9,
  nameIid: 10,
  trackUuid: 11,
  extraCounterValues: 12,
  timestampAbsoluteUs: 16,
  threadTimeAbsoluteUs: 17,
  threadInstructionCountAbsolute: 20,
  categories: 22,
  name: 23,
  counterValue: 30,
  extraCounterTrackUuids: 31,
  flowIdsOld: 36,
  terminatingFlowIdsOld: 42,
  doubleCounterValue: 44,
  extraDoubleCounterTrackUuids: 45,
  extraDoubleCounterValues: 46,
  flowIds: 47,
  terminatingFlowIds: 48,
} as const;

/** TrackEvent.Type. */
export const EVENT_TYPE = { unspecified: 0, sliceBegin: 1, sliceEnd: 2, instant: 3, counter: 4 } as const;

export const LEGACY_EVENT = {
  nameIid: 1,
  phase: 2,
  durationUs: 3,
  unscopedId: 6,
  idScope: 7,
  bindId: 8,
  localId: 10,
  flowDirection: 13,
  instantEventScope: 14,
  pidOverride: 18,
  tidOverride: 19,
  globalId: 20,
} as const;

export const INTERNED_DATA = {
  eventCategories: 1,
  eventNames: 2,
  debugAnnotationNames: 3,
  debugAnnotationStringValues: 29,
} as const;
/** EventCategory, EventName, DebugAnnotationName: iid then name. InternedString: iid then str. */
export const INTERNED_ENTRY = { iid: 1, name: 2 } as const;

export const DEBUG_ANNOTATION = {
  nameIid: 1,
  boolValue: 2,
  uintValue: 3,
  intValue: 4,
  doubleValue: 5,
  stringValue: 6,
  pointerValue: 7,
  nestedValue: 8,
  legacyJsonValue: 9,
  name: 10,
  dictEntries: 11,
  arrayValues: 12,
  stringValueIid: 17,
} as const;

export const NESTED_VALUE = {
  nestedType: 1,
  dictKeys: 2,
  dictValues: 3,
  arrayValues: 4,
  intValue: 5,
  doubleValue: 6,
  boolValue: 7,
  stringValue: 8,
} as const;
