/**
 * PyTorch profiler (Kineto) traces → TraceModel.
 *
 * One Kineto file holds one rank: `distributedInfo` says which (rank, world_size), GPU
 * work sits on `pid = device, tid = stream` with `args.stream`, CPU work on real pids
 * and tids. Mapping:
 * - `kernel` → category `kernel`, or `collective` for NCCL kernels (with CollectiveArgs
 *   read from the kernel, its `record_param_comms` / `nccl:*` launcher and its name);
 *   `gpu_memcpy` / `gpu_memset` → `memcpy` / `memset`; one GPU track per (rank, stream),
 *   `sourceId` = the stream id.
 * - `cpu_op` → `cpu_op`; `ProfilerStep#N` → `step` (args.step = N); `cuda_runtime` /
 *   `cuda_driver` → `runtime`; other CPU categories → `host`. One host track per thread.
 * - Timestamps are µs, possibly fractional, and are rounded the way Holistic Trace
 *   Analysis does (start = ceil(ts), end = floor(ts + dur)), then converted to ns exactly
 *   (× 1000), so metrics computed on the model equal HTA's to the microsecond.
 * - Every original arg is kept (`correlation`, `External id`, `stream`...): the analysis
 *   joins a kernel to the runtime call that launched it through `correlation`.
 */
import { groupRows, sortRowsBy } from './rowGroups';
import {
  addTrack,
  assignDepths,
  emptyModel,
  type Args,
  type ArgValue,
  type Slice,
  type SliceCategory,
  type StreamKind,
  type TraceModel,
} from './model';
import { collectiveArgsOf, isNcclKernelName } from './kinetoCollectives';
import { mergeRankModels } from './kinetoMerge';
import { markCpuCollectives } from './cpuCollectives';
import { rankFromName } from './discover';
import { readKinetoFile } from './kinetoRead';
import { EVENT_COST, JSON_BYTE_COST, LoadBudget, type LoadOptions } from './budget';
import { idValue, PH, type KinetoColumns } from './kinetoScan';
import { NumberMap } from './numberMap';

export { mergeRankModels } from './kinetoMerge';

/** Error for input that is not a Kineto trace at all (the message says what was expected). */
export class KinetoFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KinetoFormatError';
  }
}

export interface KinetoImportOptions {
  /** Shown in warnings and kept in meta.info.fileName; also a fallback for the rank (`rank-3`, `rank_3`). */
  fileName?: string;
  /** The rank, when the trace does not say it (trace discovery found it in the file name, or --rank). */
  rank?: number;
  /**
   * Events of the file left out before import (trace/kinetoRank.ts) that the importer would have
   * counted as skipped or as without a numeric "ts": added to its counts, so that its warnings
   * say the same as for the whole file.
   */
  uncounted?: { skipped: number; badTimes: number };
}

interface RawEvent {
  ph?: unknown;
  cat?: unknown;
  name?: unknown;
  pid?: unknown;
  tid?: unknown;
  ts?: unknown;
  dur?: unknown;
  args?: unknown;
}

const GPU_CATEGORIES: Record<string, SliceCategory> = { kernel: 'kernel', gpu_memcpy: 'memcpy', gpu_memset: 'memset' };
export const RUNTIME_CATEGORIES = new Set([
  'cuda_runtime',
  'cuda_driver',
  'runtime',
  'hip_runtime',
  'xpu_runtime',
  'privateuse1_runtime',
  'mtia_runtime',
]);
export const STEP_NAME = /^ProfilerStep\s*#\s*(\d+)/;
const EXPECTED_OTHER_PHASES = new Set(['s', 't', 'f', 'i', 'I']);
export const COMM_LAUNCHER = /^(nccl:|record_param_comms$|c10d::)/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function rankFromFileName(fileName: string | undefined): number | undefined {
  return fileName ? rankFromName(fileName) : undefined;
}

/** A track found while reading: GPU stream (optionally its annotations) or host thread. */
interface TrackKey {
  gpu: boolean;
  annotation: boolean;
  stream: number;
  pid: string;
  tid: number | string;
  kind?: StreamKind;
  /** Comm launchers (record_param_comms, nccl:*, c10d::*) on this host thread: slice indexes. */
  launchers?: number[];
}

/**
 * Imports one rank's Kineto trace (the parsed JSON object). Throws KinetoFormatError only
 * when the input has no `traceEvents` array; anything odd inside it becomes a warning.
 */
/** What the header of a Kineto file says about its rank (and the problems found in it). */
interface KinetoHeader {
  label: string;
  events: unknown[];
  root: Record<string, unknown>;
  dist?: Record<string, unknown>;
  rank: number;
  worldSize?: number;
  preKineto: boolean;
  warnings: string[];
}

/** What one pass over the events finds: slices on provisional tracks (TrackKey ids), times in µs. */
interface EventScan {
  slices: Slice[];
  keys: TrackKey[];
  /** GPU slices with a correlation id, and collectives, in slice order. */
  linked: number[];
  /** Each linked slice's correlation id, NaN when it has none (read here, not from the slices' args, which are scattered in memory). */
  linkedCorr: number[];
  /** Indexes into `linked` of the collectives. */
  linkedCollectives: number[];
  runtimeByCorrelation: NumberMap;
  processNames: Map<string, string>;
  threadNames: Map<string, string>;
  memory: { tsUs: number; bytes: number; device: string }[];
  skipped: number;
  badTimes: number;
  gpuWork: number;
  minUs: number;
  profilerSpan?: { startUs: number; durUs: number };
  /** The launch-only rows (keep 2, see importKinetoColumns): each one's correlation and start (µs, rounded up). */
  launchCorr: Float64Array;
  launchStartUs: Float64Array;
}

/**
 * Runtime calls kept for their launch time only (importKinetoColumns' keep 2), in the model's
 * time base: each one's correlation and start (ns from the origin), as its slice would have had.
 */
export interface LaunchTable {
  correlation: Float64Array;
  startNs: Float64Array;
}

/**
 * Imports one rank's PyTorch profiler trace (Kineto JSON, or the JSON array of PyTorch's
 * legacy profiler) into the trace model, in named phases: the header (rank, world size),
 * one pass over the events (the hot loop), the tracks, the flows and collectives' args, the
 * slices in the model's order, the memory counters.
 */
export function importKineto(json: unknown, opts: KinetoImportOptions = {}): TraceModel {
  const h = readHeader(json, opts);
  return finishImport(h, scanEvents(h.events), opts).model;
}

/**
 * One rank's model straight from its scanned columns (trace/kinetoScan.ts), for the events
 * that `keep` marks: what `importKineto` makes of a Kineto object holding the file's top-level
 * members and those events (their args being the columns' correlation, External id and stream
 * over the sparse args), without building the events. `clippedEndUs` gives, per event index, a
 * host slice's end (whole µs) clipped on its thread in the whole file (trace/kinetoRank.ts):
 * such a slice starts at its rounded start and ends there. A row marked 2 in `keep` (a runtime
 * call, trace/kinetoRank.ts launchTable) makes no slice: its correlation and start go in the
 * returned launch table, and its start counts for the origin as its slice's would. Returns, per
 * slice of the model, the index of the event (column row) it came from, and how many events
 * were kept (launch-only rows included).
 */
export function importKinetoColumns(
  c: KinetoColumns,
  keep: Uint8Array,
  clippedEndUs: Map<number, number>,
  opts: KinetoImportOptions = {},
): { model: TraceModel; sliceEvent: Int32Array; eventsKept: number; launches: LaunchTable } {
  const h = readHeader({ ...c.top, traceEvents: [] }, opts);
  const { scan, eventOf, eventsKept } = scanColumns(c, keep, clippedEndUs);
  const { model, newIndex } = finishImport(h, scan, opts);
  const sliceEvent = new Int32Array(model.slices.length);
  for (let i = 0; i < newIndex.length; i++) sliceEvent[newIndex[i]] = eventOf[i];
  // The launch-only rows' starts in the slices' time base (orderSlices' formula).
  const minUs = Number.isFinite(scan.minUs) ? scan.minUs : 0;
  const startNs = new Float64Array(scan.launchStartUs.length);
  for (let k = 0; k < startNs.length; k++) startNs[k] = small((scan.launchStartUs[k] - minUs) * 1000);
  return { model, sliceEvent, eventsKept, launches: { correlation: scan.launchCorr, startNs } };
}

/** The model from one pass's findings: tracks, flows, collectives' args, slice order, counters, warnings, depths. Returns each scanned slice's index in the model. */
function finishImport(
  h: KinetoHeader,
  scan: EventScan,
  opts: KinetoImportOptions,
): { model: TraceModel; newIndex: Int32Array } {
  if (opts.uncounted) {
    scan.skipped += opts.uncounted.skipped;
    scan.badTimes += opts.uncounted.badTimes;
  }
  const { slices, keys } = scan;
  const cpuComm = markCpuCollectives(slices, (k) => !keys[k].gpu, h.worldSize);
  if (scan.skipped > 0)
    h.warnings.push(
      `${h.label}: ${scan.skipped} event(s) that are not complete (X), metadata (M), flow or instant events were skipped`,
    );
  if (scan.badTimes > 0) h.warnings.push(`${h.label}: ${scan.badTimes} event(s) without a numeric "ts" were skipped`);
  const minUs = Number.isFinite(scan.minUs) ? scan.minUs : 0;

  const model = emptyModel('kineto', (BigInt(minUs) * 1000n).toString());
  model.warnings.push(...h.warnings);
  model.meta.worldSize = h.worldSize;
  const info: Args = { rank: h.rank };
  if (opts.fileName) info.fileName = opts.fileName;
  if (h.dist) info.distributedInfo = h.dist as Args;
  if (scan.profilerSpan) info.profilerSpanUs = scan.profilerSpan;
  if (typeof h.root.schemaVersion === 'number') info.kinetoSchemaVersion = h.root.schemaVersion;
  if (h.preKineto) info.preKineto = true;
  // What commlens_torch recorded of the job (python/commlens_torch: the change applied, each DDP's settings).
  if (isObject(h.root.commlens_torch)) info.commlensTorch = h.root.commlens_torch as Args;
  model.meta.info = info;
  const pid = h.rank;
  const hostName = [...scan.processNames.values()][0];
  model.processes.push({
    pid,
    rank: h.rank,
    name: `rank ${h.rank}`,
    labels: hostName ? { process: hostName } : undefined,
  });

  const trackOfKey = buildTracks(model, pid, keys, scan.threadNames);
  const flows = linkFlowsAndCollectives(scan, h.worldSize);
  const newIndex = orderSlices(model, slices, trackOfKey, minUs, flows);
  assignCollectiveSeq(model);
  addMemoryCounters(model, pid, scan.memory, minUs);
  if (scan.gpuWork === 0 && cpuComm.count > 0) {
    model.warnings.push(
      `${h.label} has no GPU activity: its ${cpuComm.count} ${cpuComm.source === 'gloo' ? 'gloo' : 'c10d'} collective(s) are analysed on the CPU timeline; kernel metrics need a trace recorded with ProfilerActivity.CUDA`,
    );
  } else if (scan.gpuWork === 0)
    model.warnings.push(`${h.label} has no GPU kernels (was the profiler run with ProfilerActivity.CUDA?)`);
  // The slices were put in finalizeModel's order (by track, then by start, longer first,
  // ties in event order), so only depths are left to assign.
  return { model: assignDepths(model), newIndex };
}

/** The file's rank and world size (distributedInfo, else the file name or the caller), with a warning when they are missing or do not fit. */
function readHeader(json: unknown, opts: KinetoImportOptions): KinetoHeader {
  const label = opts.fileName ?? 'the trace';
  const warnings: string[] = [];
  // PyTorch without Kineto (the legacy profiler) writes a JSON array of events with times
  // relative to the profiler's start and no category: its ops are taken as cpu_op.
  // commlens_torch wraps that array in an object (with distributedInfo and its own record):
  // the events still say "pid": "CPU functions", which Kineto never writes.
  const wrapped =
    isObject(json) &&
    Array.isArray(json.traceEvents) &&
    json.traceEvents.some((e) => isObject(e) && e.pid === 'CPU functions' && typeof e.ph === 'string');
  const preKineto = wrapped || (Array.isArray(json) && json.some((e) => isObject(e) && typeof e.ph === 'string'));
  if (preKineto) {
    const events = (wrapped ? (json as { traceEvents: unknown[] }).traceEvents : json) as unknown[];
    json = {
      ...(wrapped ? (json as Record<string, unknown>) : {}),
      traceEvents: events.map((e) => (isObject(e) && e.cat === undefined ? { ...e, cat: 'cpu_op' } : e)),
    };
    warnings.push(
      `${label} is a pre-Kineto trace (PyTorch without Kineto: a JSON array of events): its times are relative to this rank's profiler start, so ranks are aligned on their first collective; no GPU activity is recorded`,
    );
  }
  if (!isObject(json) || !Array.isArray(json.traceEvents)) {
    throw new KinetoFormatError(
      `${label} is not a PyTorch profiler (Kineto) trace: expected a JSON object with a "traceEvents" array, or the JSON array of events of PyTorch's legacy profiler`,
    );
  }
  const events = json.traceEvents as unknown[];
  const dist = isObject(json.distributedInfo) ? json.distributedInfo : undefined;
  let rank = dist && typeof dist.rank === 'number' ? dist.rank : undefined;
  const worldSize = dist && typeof dist.world_size === 'number' ? dist.world_size : undefined;
  if (rank === undefined) {
    const given = opts.rank;
    rank = given ?? rankFromFileName(opts.fileName);
    warnings.push(
      `${label} has no distributedInfo: rank ${rank === undefined ? 'unknown (taken as 0)' : `${rank} taken from ${given !== undefined ? 'trace discovery (file name or --rank)' : 'the file name'}`}, world size unknown`,
    );
    rank ??= 0;
  }
  // A rank outside 0..world_size-1 means the file is not what it says (or was edited).
  if (
    !Number.isInteger(rank) ||
    rank < 0 ||
    (worldSize !== undefined && (!Number.isInteger(worldSize) || worldSize < 1 || rank >= worldSize))
  ) {
    warnings.push(
      `${label}: distributedInfo rank ${rank} is not valid for world_size ${worldSize ?? 'unknown'} (expected an integer from 0 to ${worldSize !== undefined && worldSize >= 1 ? Math.floor(worldSize) - 1 : 'world_size - 1'})`,
    );
  }

  return { label, events, root: json, dist, rank, worldSize, preKineto, warnings };
}

/**
 * One pass over the events: every complete event becomes a slice on a provisional track
 * (a TrackKey per GPU stream, annotation stream or host thread), with its start rounded up
 * and its end rounded down to whole µs (HTA's rounding); metadata, memory instants and the
 * profiler's own span are collected on the way.
 */
function scanEvents(events: unknown[]): EventScan {
  // Slices are built directly; until the tracks exist, `track` holds the index of a TrackKey
  // and times are in rounded µs (start) and µs (duration).
  const slices: Slice[] = [];
  const keys: TrackKey[] = [];
  const keyIds = new Map<string, number>();
  /** Adds a TrackKey under the name `k` (not yet known) and returns its id. */
  const addKey = (k: string, key: TrackKey): number => {
    keys.push(key);
    keyIds.set(k, keys.length - 1);
    return keys.length - 1;
  };
  // Host events come in long runs from one thread: the last thread's key id is remembered,
  // so most events find their track without building its string key.
  let lastPid: unknown,
    lastTid: unknown,
    lastHostKid = -1;
  // GPU slices with a correlation id, and collectives, in slice order: the only slices the
  // flow and collective pass below looks at.
  const linked: number[] = [];
  const linkedCorr: number[] = [];
  const linkedCollectives: number[] = [];
  const runtimeByCorrelation = new NumberMap();
  const processNames = new Map<string, string>();
  const threadNames = new Map<string, string>();
  const memory: { tsUs: number; bytes: number; device: string }[] = [];
  let skipped = 0;
  let badTimes = 0;
  let gpuWork = 0;
  let minUs = Infinity;
  let profilerSpan: { startUs: number; durUs: number } | undefined;

  // The loop below runs once per event, mostly before V8 has optimised it: it is kept free
  // of calls and allocations that are not needed (isObject is written out, for instance),
  // and of closures, since one that captured the event would cost an allocation per event.
  for (let ei = 0; ei < events.length; ei++) {
    const e0 = events[ei];
    if (typeof e0 !== 'object' || e0 === null || Array.isArray(e0)) {
      skipped++;
      continue;
    }
    const e = e0 as RawEvent;
    const a0 = e.args;
    const args = (typeof a0 === 'object' && a0 !== null && !Array.isArray(a0) ? a0 : {}) as Args;
    if (e.ph === 'M') {
      const n = (args as Record<string, ArgValue>).name;
      if (typeof n === 'string') {
        if (e.name === 'process_name') processNames.set(String(e.pid), n);
        else if (e.name === 'thread_name') threadNames.set(`${String(e.pid)}:${String(e.tid)}`, n.trim());
      }
      continue;
    }
    if ((e.ph === 'i' || e.ph === 'I') && e.name === '[memory]') {
      const total = args['Total Allocated'];
      if (typeof e.ts === 'number' && typeof total === 'number') {
        const dev =
          args['Device Type'] === 0 ? 'cpu' : `gpu${typeof args['Device Id'] === 'number' ? args['Device Id'] : ''}`;
        memory.push({ tsUs: Math.ceil(e.ts), bytes: total, device: dev });
        minUs = Math.min(minUs, Math.ceil(e.ts));
      }
      continue;
    }
    if (e.ph !== 'X') {
      // Kineto's own flow arrows (ac2g, fwdbwd) and instants are expected: flows are rebuilt
      // from `correlation`; anything else is reported.
      if (!EXPECTED_OTHER_PHASES.has(String(e.ph))) skipped++;
      continue;
    }
    const cat = typeof e.cat === 'string' ? e.cat : '';
    if (cat === 'Trace') {
      if (typeof e.ts === 'number' && typeof e.dur === 'number') profilerSpan = { startUs: e.ts, durUs: e.dur };
      continue;
    }
    if (typeof e.ts !== 'number' || !Number.isFinite(e.ts)) {
      badTimes++;
      continue;
    }
    const durUs = typeof e.dur === 'number' && Number.isFinite(e.dur) && e.dur > 0 ? e.dur : 0;
    // HTA's rounding of fractional µs: the start moves up, the end moves down.
    const startUs = Math.ceil(e.ts);
    const endUs = Math.max(startUs, Math.floor(e.ts + durUs));
    if (startUs < minUs) minUs = startUs;
    const name = typeof e.name === 'string' ? e.name : String(e.name ?? '');
    const gpuCategory = GPU_CATEGORIES[cat];
    const streamArg = args.stream;
    if (gpuCategory !== undefined || (cat === 'gpu_user_annotation' && typeof streamArg === 'number')) {
      const stream = typeof streamArg === 'number' ? streamArg : typeof e.tid === 'number' ? e.tid : 0;
      const annotation = gpuCategory === undefined;
      let category: SliceCategory = gpuCategory ?? 'host';
      if (category === 'kernel' && isNcclKernelName(name)) category = 'collective';
      const k = annotation ? `a${stream}` : `g${stream}`;
      const kid = keyIds.get(k) ?? addKey(k, { gpu: true, annotation, stream, pid: String(e.pid), tid: stream });
      const key = keys[kid];
      const kind: StreamKind = category === 'collective' ? 'communication' : annotation ? 'other' : 'compute';
      key.kind = key.kind === undefined || key.kind === kind ? kind : 'compute';
      if (!annotation) gpuWork++;
      if (category === 'collective' || typeof args.correlation === 'number') {
        if (category === 'collective') linkedCollectives.push(linked.length);
        linked.push(slices.length);
        linkedCorr.push(typeof args.correlation === 'number' ? args.correlation : NaN);
      }
      slices.push(newSlice(kid, name, category, cat, startUs, endUs - startUs, args));
      continue;
    }
    let category: SliceCategory = 'host';
    if (cat === 'cpu_op') category = 'cpu_op';
    else if (RUNTIME_CATEGORIES.has(cat)) category = 'runtime';
    const step = name.charCodeAt(0) === 80 /* P */ ? STEP_NAME.exec(name) : null;
    if (step) category = 'step';
    const tid = typeof e.tid === 'number' || typeof e.tid === 'string' ? e.tid : 0;
    let kid = lastHostKid;
    if (kid < 0 || e.pid !== lastPid || tid !== lastTid) {
      const k = `c${String(e.pid)}|${String(tid)}`;
      kid = keyIds.get(k) ?? addKey(k, { gpu: false, annotation: false, stream: 0, pid: String(e.pid), tid });
      lastHostKid = kid;
      lastPid = e.pid;
      lastTid = tid;
    }
    const index = slices.length;
    if (category === 'runtime' && typeof args.correlation === 'number')
      runtimeByCorrelation.set(args.correlation, index);
    // COMM_LAUNCHER's names start with n, r or c: other names skip the regular expression.
    const c0 = name.charCodeAt(0);
    if ((c0 === 110 || c0 === 114 || c0 === 99) && COMM_LAUNCHER.test(name)) (keys[kid].launchers ??= []).push(index);
    slices.push(
      newSlice(kid, name, category, cat, startUs, endUs - startUs, step ? { ...args, step: Number(step[1]) } : args),
    );
  }
  return {
    slices,
    keys,
    linked,
    linkedCorr,
    linkedCollectives,
    runtimeByCorrelation,
    processNames,
    threadNames,
    memory,
    skipped,
    badTimes,
    gpuWork,
    minUs,
    profilerSpan,
    launchCorr: new Float64Array(0),
    launchStartUs: new Float64Array(0),
  };
}

/**
 * scanEvents over the kept rows of a rank's columns: the same slices, tracks and findings as
 * scanEvents gives for those events written out as objects (see importKinetoColumns), and the
 * row each slice came from. Kept in step with scanEvents line by line.
 */
/**
 * A number as the JSON text would have given it: an integer of 32 bits as a small integer
 * (what JSON.parse makes of one), not a boxed double. The columns are float64, and a double
 * stored as it is takes a 16-byte box per field: on a 100 MB rank, 4 boxes per slice (a third
 * of the reduced model's heap, and garbage collection's work) went to integers such as
 * correlations and stream ids. The value is the same (−0 stays −0).
 */
function small(v: number): number {
  const i = v | 0;
  return i === v && (i !== 0 || 1 / v > 0) ? i : v;
}

/**
 * A new slice with every field the model gives it in place, `depth` included (assigned at the
 * end of the import): a field added to an object after it is made goes to a separate property
 * array, one more object per slice.
 */
function newSlice(
  track: number,
  name: string,
  category: SliceCategory,
  rawCategory: string | undefined,
  startNs: number,
  durNs: number,
  args: Args,
): Slice {
  return { track, name, category, rawCategory, startNs, durNs: small(durNs), args, depth: undefined };
}

function countKept(keep: Uint8Array, n: number): { keptRows: number; launchRows: number } {
  let keptRows = 0,
    launchRows = 0;
  for (let i = 0; i < n; i++) {
    const k = keep[i];
    if (k === 1) keptRows++;
    else if (k === 2) launchRows++;
  }
  return { keptRows, launchRows };
}

function scanColumns(
  c: KinetoColumns,
  keep: Uint8Array,
  clippedEndUs: Map<number, number>,
): { scan: EventScan; eventOf: Int32Array; eventsKept: number } {
  const strings = c.strings;
  const slices: Slice[] = [];
  const keys: TrackKey[] = [];
  const keyIds = new Map<string, number>();
  const addKey = (k: string, key: TrackKey): number => {
    keys.push(key);
    keyIds.set(k, keys.length - 1);
    return keys.length - 1;
  };
  let lastPid: unknown,
    lastTid: unknown,
    lastHostKid = -1;
  const linked: number[] = [];
  const linkedCorr: number[] = [];
  const linkedCollectives: number[] = [];
  // About half the kept rows of a GPU rank are runtime calls with a correlation.
  // (Counted in a function of its own: inline, this loop had V8 compile the whole of scanColumns
  // by on-stack replacement for it, and again for the loop below.)
  const { keptRows, launchRows } = countKept(keep, c.count);
  // Each slice's row, sized for every kept row (the slices are some of them).
  const eventOf = new Int32Array(keptRows);
  const launchCorr = new Float64Array(launchRows);
  const launchStartUs = new Float64Array(launchRows);
  let launches = 0;
  const runtimeByCorrelation = new NumberMap(keptRows >> 1);
  const processNames = new Map<string, string>();
  const threadNames = new Map<string, string>();
  const memory: { tsUs: number; bytes: number; device: string }[] = [];
  let skipped = 0;
  let badTimes = 0;
  let gpuWork = 0;
  let minUs = Infinity;
  let eventsKept = 0;
  let profilerSpan: { startUs: number; durUs: number } | undefined;
  // Strings repeat (and kernel names are long): each distinct name is tested once, lazily.
  // Per name id: 0 not tested, else 1 + (nccl kernel name: 2) + (comm launcher: 4).
  const nameBits = new Uint8Array(strings.length);
  const nameTest = (id: number): number => {
    let v = nameBits[id];
    if (v === 0) {
      const s = strings[id];
      const c0 = s.charCodeAt(0);
      v = nameBits[id] =
        1 | (isNcclKernelName(s) ? 2 : 0) | ((c0 === 110 || c0 === 114 || c0 === 99) && COMM_LAUNCHER.test(s) ? 4 : 0);
    }
    return v;
  };

  for (let i = 0; i < c.count; i++) {
    const kept = keep[i];
    if (kept === 0) continue;
    eventsKept++;
    if (kept === 2) {
      // A runtime call kept for its launch time only: no slice, but its start counts for the origin.
      const startUs = Math.ceil(c.ts[i]);
      if (startUs < minUs) minUs = startUs;
      launchCorr[launches] = c.correlation[i];
      launchStartUs[launches++] = startUs;
      continue;
    }
    const ph = c.ph[i];
    // The event's args: the sparse ones, then the columns' (the order the events were once rebuilt in).
    const extra = c.extraArgs.get(i);
    const args: Args = extra !== undefined ? ({ ...extra } as Args) : {};
    const corr = c.correlation[i];
    if (!Number.isNaN(corr)) args.correlation = small(corr);
    if (!Number.isNaN(c.externalId[i])) args['External id'] = small(c.externalId[i]);
    const streamCol = c.stream[i];
    if (!Number.isNaN(streamCol)) args.stream = small(streamCol);
    // pid and tid as the JSON had them: a string, a number, or absent.
    const pid = idValue(c, c.pid[i]);
    const tid0 = idValue(c, c.tid[i]);
    const name = c.name[i] >= 0 ? strings[c.name[i]] : '';
    const ts = c.ts[i];
    if (ph === PH.M) {
      const n = args.name;
      if (typeof n === 'string') {
        if (name === 'process_name') processNames.set(String(pid), n);
        else if (name === 'thread_name') threadNames.set(`${String(pid)}:${String(tid0)}`, n.trim());
      }
      continue;
    }
    if ((ph === PH.i || ph === PH.I) && name === '[memory]') {
      const total = args['Total Allocated'];
      if (!Number.isNaN(ts) && typeof total === 'number') {
        const dev =
          args['Device Type'] === 0 ? 'cpu' : `gpu${typeof args['Device Id'] === 'number' ? args['Device Id'] : ''}`;
        memory.push({ tsUs: Math.ceil(ts), bytes: total, device: dev });
        minUs = Math.min(minUs, Math.ceil(ts));
      }
      continue;
    }
    if (ph !== PH.X) {
      if (ph !== PH.i && ph !== PH.I && ph !== PH.s && ph !== PH.t && ph !== PH.f) skipped++;
      continue;
    }
    const cat = c.cat[i] >= 0 ? strings[c.cat[i]] : '';
    if (cat === 'Trace') {
      if (!Number.isNaN(ts) && !Number.isNaN(c.dur[i])) profilerSpan = { startUs: ts, durUs: c.dur[i] };
      continue;
    }
    if (!Number.isFinite(ts)) {
      badTimes++;
      continue;
    }
    // HTA's rounding of fractional µs: the start moves up, the end moves down; a host slice
    // clipped on its thread in the whole file ends where it was clipped.
    const startUs = Math.ceil(ts);
    const clipped = clippedEndUs.size > 0 ? clippedEndUs.get(i) : undefined;
    let endUs: number;
    if (clipped !== undefined) endUs = Math.max(startUs, clipped);
    else {
      const d = c.dur[i];
      endUs = Math.max(startUs, Math.floor(ts + (Number.isFinite(d) && d > 0 ? d : 0)));
    }
    if (startUs < minUs) minUs = startUs;
    const gpuCategory = GPU_CATEGORIES[cat];
    const streamArg = args.stream;
    if (gpuCategory !== undefined || (cat === 'gpu_user_annotation' && typeof streamArg === 'number')) {
      const stream = typeof streamArg === 'number' ? streamArg : typeof tid0 === 'number' ? tid0 : 0;
      const annotation = gpuCategory === undefined;
      let category: SliceCategory = gpuCategory ?? 'host';
      if (category === 'kernel' && (c.name[i] >= 0 ? (nameTest(c.name[i]) & 2) !== 0 : isNcclKernelName(name)))
        category = 'collective';
      const k = annotation ? `a${stream}` : `g${stream}`;
      const kid = keyIds.get(k) ?? addKey(k, { gpu: true, annotation, stream, pid: String(pid), tid: stream });
      const key = keys[kid];
      const kind: StreamKind = category === 'collective' ? 'communication' : annotation ? 'other' : 'compute';
      key.kind = key.kind === undefined || key.kind === kind ? kind : 'compute';
      if (!annotation) gpuWork++;
      if (category === 'collective' || typeof args.correlation === 'number') {
        if (category === 'collective') linkedCollectives.push(linked.length);
        linked.push(slices.length);
        linkedCorr.push(typeof args.correlation === 'number' ? args.correlation : NaN);
      }
      eventOf[slices.length] = i;
      slices.push(newSlice(kid, name, category, cat, startUs, endUs - startUs, args));
      continue;
    }
    let category: SliceCategory = 'host';
    if (cat === 'cpu_op') category = 'cpu_op';
    else if (RUNTIME_CATEGORIES.has(cat)) category = 'runtime';
    const step = name.charCodeAt(0) === 80 /* P */ ? STEP_NAME.exec(name) : null;
    if (step) category = 'step';
    const tid = tid0 ?? 0;
    let kid = lastHostKid;
    if (kid < 0 || pid !== lastPid || tid !== lastTid) {
      const k = `c${String(pid)}|${String(tid)}`;
      kid = keyIds.get(k) ?? addKey(k, { gpu: false, annotation: false, stream: 0, pid: String(pid), tid });
      lastHostKid = kid;
      lastPid = pid;
      lastTid = tid;
    }
    const index = slices.length;
    if (category === 'runtime' && typeof args.correlation === 'number')
      runtimeByCorrelation.set(args.correlation, index);
    if (c.name[i] >= 0 && (nameTest(c.name[i]) & 4) !== 0) (keys[kid].launchers ??= []).push(index);
    eventOf[slices.length] = i;
    slices.push(
      newSlice(kid, name, category, cat, startUs, endUs - startUs, step ? { ...args, step: Number(step[1]) } : args),
    );
  }
  return {
    scan: {
      slices,
      keys,
      linked,
      linkedCorr,
      linkedCollectives,
      runtimeByCorrelation,
      processNames,
      threadNames,
      memory,
      skipped,
      badTimes,
      gpuWork,
      minUs,
      profilerSpan,
      launchCorr,
      launchStartUs,
    },
    eventOf: eventOf.subarray(0, slices.length),
    eventsKept,
  };
}

/** The model's tracks, GPU streams first (in stream order, annotations after their stream), then host threads; returns the track of each TrackKey. */
function buildTracks(model: TraceModel, pid: number, keys: TrackKey[], threadNames: Map<string, string>): Int32Array {
  const order = keys
    .map((_, i) => i)
    .sort((x, y) => {
      const a = keys[x],
        b = keys[y];
      if (a.gpu !== b.gpu) return a.gpu ? -1 : 1;
      if (a.gpu) return a.stream - b.stream || Number(a.annotation) - Number(b.annotation);
      return x - y;
    });
  const trackOfKey = new Int32Array(keys.length);
  for (const k of order) {
    const key = keys[k];
    const tidNum = Number(key.tid);
    trackOfKey[k] = key.gpu
      ? addTrack(model, {
          pid,
          name: key.annotation ? `stream ${key.stream} annotations` : `stream ${key.stream}`,
          type: 'slice',
          stream: key.kind ?? 'compute',
          gpu: true,
          sourceId: key.stream,
          order: model.tracks.length,
        })
      : addTrack(model, {
          pid,
          name: threadNames.get(`${key.pid}:${String(key.tid)}`) ?? `thread ${String(key.tid)}`,
          type: 'slice',
          stream: 'host',
          gpu: false,
          sourceId: Number.isFinite(tidNum) ? tidNum : key.tid,
          order: 1000 + model.tracks.length,
        });
  }

  return trackOfKey;
}

/**
 * Flows from each CPU launch to the GPU work it launched (by `correlation`), and every
 * collective's args (op, bytes, dtype, group, algorithm) from its kernel and the comm
 * launcher that enclosed its launch.
 */
/** A thread's comm launchers sorted by start, with the running maximum of their ends. */
interface LauncherIndex {
  /** Slice indexes, by start (then list order); launchers whose times are not numbers are left out (they contain nothing). */
  byStart: number[];
  /** Position of each in the thread's list. */
  position: number[];
  startNs: Float64Array;
  endNs: Float64Array;
  maxEndNs: Float64Array;
}

export function launcherIndex(list: readonly number[], slices: readonly Slice[]): LauncherIndex {
  const order: number[] = [];
  for (let p = 0; p < list.length; p++) {
    const s = slices[list[p]];
    if (Number.isFinite(s.startNs) && Number.isFinite(s.startNs + s.durNs)) order.push(p);
  }
  order.sort((a, b) => slices[list[a]].startNs - slices[list[b]].startNs || a - b);
  const startNs = new Float64Array(order.length);
  const endNs = new Float64Array(order.length);
  const maxEndNs = new Float64Array(order.length);
  let m = -Infinity;
  for (let k = 0; k < order.length; k++) {
    const s = slices[list[order[k]]];
    startNs[k] = s.startNs;
    endNs[k] = s.startNs + s.durNs;
    maxEndNs[k] = m = Math.max(m, endNs[k]);
  }
  return { byStart: order.map((p) => list[p]), position: order, startNs, endNs, maxEndNs };
}

/**
 * The launchers of an index that contain `t` (start ≤ t ≤ end), in the thread's list order: a
 * binary search for the last that starts at or before `t`, then back while an earlier one
 * still reaches `t`. A job's collectives each look at the few launchers around their launch,
 * not at every launcher of the thread (quadratic in a long trace: seconds per rank).
 */
export function containing(ix: LauncherIndex, t: number): number[] {
  let lo = 0,
    hi = ix.startNs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ix.startNs[mid] <= t) lo = mid + 1;
    else hi = mid;
  }
  const found: number[] = [];
  for (let k = lo - 1; k >= 0 && ix.maxEndNs[k] >= t; k--) if (t <= ix.endNs[k]) found.push(k);
  if (found.length > 1) found.sort((a, b) => ix.position[a] - ix.position[b]);
  return found.map((k) => ix.byStart[k]);
}

/** The flows as pairs of scan indexes, flat: [from0, to0, from1, to1, …] (no object per flow before orderSlices makes the model's). */
function linkFlowsAndCollectives(scan: EventScan, worldSize: number | undefined): number[] {
  const { slices, keys, linked, linkedCorr, linkedCollectives, runtimeByCorrelation } = scan;
  // The comm launcher enclosing a runtime call: the innermost that carries collective args, else the innermost.
  // The launchers that contain a time are found through an index per thread (launcherIndex),
  // then weighed in the thread's list order, as a scan of the whole list would.
  const indexes = new Map<number, LauncherIndex>();
  const findLauncher = (launch: Slice): Slice | undefined => {
    const list = keys[launch.track].launchers;
    if (!list) return undefined;
    let ix = indexes.get(launch.track);
    if (!ix) indexes.set(launch.track, (ix = launcherIndex(list, slices)));
    let best: Slice | undefined;
    const rich = (x: Slice) => x.args?.['Collective name'] !== undefined || x.args?.['Input Dims'] !== undefined;
    for (const i of containing(ix, launch.startNs)) {
      const c = slices[i];
      if (!best || (rich(c) && !rich(best)) || (rich(c) === rich(best) && c.startNs >= best.startNs)) best = c;
    }
    return best;
  };
  const flows: number[] = [];
  for (let li = 0; li < linked.length; li++) {
    const corr = linkedCorr[li];
    if (corr !== corr) continue;
    const launchIdx = runtimeByCorrelation.get(corr);
    if (launchIdx !== undefined) flows.push(launchIdx, linked[li]);
  }
  for (const li of linkedCollectives) {
    const i = linked[li];
    const sl = slices[i];
    const args = sl.args as Args;
    const corr = linkedCorr[li];
    if (corr === corr) {
      const launchIdx = runtimeByCorrelation.get(corr);
      const launcher = launchIdx !== undefined ? findLauncher(slices[launchIdx]) : undefined;
      sl.args = {
        ...args,
        ...collectiveArgsOf(
          sl.name,
          args,
          launcher ? { name: launcher.name, args: launcher.args ?? {} } : undefined,
          worldSize,
        ),
      };
    } else sl.args = { ...args, ...collectiveArgsOf(sl.name, args, undefined, worldSize) };
  }
  return flows;
}

/**
 * Final tracks and times (ns from the origin), the slices in finalizeModel's order (track,
 * start, longer first) and the flows renumbered to match; returns each slice's new index.
 */
function orderSlices(
  model: TraceModel,
  slices: Slice[],
  trackOfKey: Int32Array,
  minUs: number,
  flows: number[],
): Int32Array {
  // The slices grouped by track to put them in finalizeModel's order (track, start, longer
  // first). Kineto writes a thread's events in order, so most tracks need no sort: `inOrder`
  // says which, from each slice compared with the one before it on its track by `byStart`
  // (written out).
  const trackOf = new Int32Array(slices.length);
  const lastOfTrack = new Int32Array(model.tracks.length).fill(-1);
  const inOrder = new Uint8Array(model.tracks.length).fill(1);
  for (let i = 0; i < slices.length; i++) {
    const sl = slices[i];
    const track = trackOfKey[sl.track];
    sl.track = track;
    sl.startNs = small((sl.startNs - minUs) * 1000);
    sl.durNs = small(sl.durNs * 1000);
    if (sl.rawCategory === sl.category) sl.rawCategory = undefined;
    const last = lastOfTrack[track];
    if (last >= 0 && inOrder[track] === 1) {
      const prev = slices[last];
      // byStart(i, previous) ≥ 0; its last term, i − previous index, is positive.
      if (!((sl.startNs - prev.startNs || prev.durNs - sl.durNs || 1) >= 0)) inOrder[track] = 0;
    }
    lastOfTrack[track] = i;
    trackOf[i] = track;
  }
  const { rows, start } = groupRows(trackOf, model.tracks.length);
  const newIndex = new Int32Array(slices.length);
  const sorted: Slice[] = [];
  // By start, longer first, then index, on the slices' times (copied out when a track needs a sort).
  let startNs: Float64Array | undefined, durNs: Float64Array | undefined;
  for (let t = 0; t + 1 < start.length; t++) {
    if (inOrder[t] === 0) {
      if (!startNs || !durNs) {
        startNs = new Float64Array(slices.length);
        durNs = new Float64Array(slices.length);
        for (let i = 0; i < slices.length; i++) {
          startNs[i] = slices[i].startNs;
          durNs[i] = slices[i].durNs;
        }
      }
      sortRowsBy(rows, start[t], start[t + 1], startNs, durNs);
    }
    for (let k = start[t]; k < start[t + 1]; k++) {
      const i = rows[k];
      newIndex[i] = sorted.length;
      sorted.push(slices[i]);
    }
  }
  model.slices = sorted;
  const out: TraceModel['flows'] = new Array(flows.length >> 1);
  for (let k = 0; k < out.length; k++)
    out[k] = { id: k + 1, from: newIndex[flows[2 * k]], to: newIndex[flows[2 * k + 1]] };
  model.flows = out;
  return newIndex;
}

/** The `[memory]` instants as one counter of allocated bytes per device. */
function addMemoryCounters(model: TraceModel, pid: number, memory: EventScan['memory'], minUs: number): void {
  if (memory.length === 0) return;
  {
    const byDevice = new Map<string, { tsUs: number; bytes: number }[]>();
    for (const m of memory) byDevice.set(m.device, [...(byDevice.get(m.device) ?? []), m]);
    for (const [device, series] of byDevice) {
      series.sort((a, b) => a.tsUs - b.tsUs);
      const track = addTrack(model, {
        pid,
        name: `memory allocated (${device})`,
        type: 'counter',
        stream: 'other',
        gpu: device !== 'cpu',
        unit: 'bytes',
      });
      model.counters.push({
        track,
        tsNs: series.map((s) => (s.tsUs - minUs) * 1000),
        values: series.map((s) => s.bytes),
      });
    }
  }
}

/**
 * Gives every collective without a `seq` its ordinal within (rank, group, op) in start order,
 * so that the i-th collective of a group can be joined across ranks.
 */
function assignCollectiveSeq(model: TraceModel): void {
  const order: Slice[] = [];
  for (let i = 0; i < model.slices.length; i++)
    if (model.slices[i].category === 'collective') order.push(model.slices[i]);
  order.sort((a, b) => a.startNs - b.startNs);
  const counters = new Map<string, number>();
  for (const s of order) {
    const args = s.args as Args;
    if (typeof args.seq === 'number') continue;
    // Without PyTorch's own sequence number, count per (rank, group, op): a sampled or
    // multi-group trace interleaves groups, and the op at least must agree across ranks.
    const key = `${model.tracks[s.track].pid}|${String(args.group ?? 'default')}|${String(args.op)}`;
    const n = counters.get(key) ?? 0;
    args.seq = n;
    counters.set(key, n + 1);
  }
}

/** Reads and imports one Kineto file (`.json` or `.json.gz`, gunzipped as a stream) within the load budget. */
export async function importKinetoFile(path: string, opts: LoadOptions & { rank?: number } = {}): Promise<TraceModel> {
  const json = await readKinetoFile(path, opts);
  return importKineto(json, { fileName: path, rank: opts.rank });
}

/**
 * Imports one file per rank and merges them into one model (one process per rank, a
 * common time origin). Mismatches (duplicate ranks, different world sizes, windows that
 * do not overlap in time) become warnings.
 */
export async function importKinetoFolder(
  paths: string[],
  opts: LoadOptions & { ranks?: (number | undefined)[] } = {},
): Promise<TraceModel> {
  const models: TraceModel[] = [];
  // The budget covers the whole job: each file is charged with what the ranks before it took
  // (known while reading it, except for the read-ahead file, which is checked once imported).
  let used = 0;
  const read = (p: string) => readKinetoFile(p, { ...opts, usedBytes: used });
  // Read ahead one file: the next file's read and gunzip run while this one is parsed.
  let next: Promise<unknown> | undefined = paths.length > 0 ? read(paths[0]) : undefined;
  for (let i = 0; i < paths.length; i++) {
    const current = next as Promise<unknown>;
    next = i + 1 < paths.length ? read(paths[i + 1]) : undefined;
    // A failed read-ahead must not surface as an unhandled rejection before its turn.
    next?.catch(() => undefined);
    const model = importKineto(await current, { fileName: paths[i], rank: opts.ranks?.[i] });
    new LoadBudget(paths[i], JSON_BYTE_COST, { ...opts, usedBytes: used }).events(model.slices.length);
    used += model.slices.length * EVENT_COST;
    models.push(model);
  }
  alignPreKinetoRanks(models);
  return mergeRankModels(models);
}

/**
 * Pre-Kineto traces have times relative to each rank's profiler start, which differ by
 * milliseconds between ranks. A collective ends at about the same moment on every rank,
 * so each rank's origin is moved to make the end of its first collective meet rank 0's.
 */
function alignPreKinetoRanks(models: TraceModel[]): void {
  if (models.length < 2 || !models.every((m) => m.meta.info?.preKineto === true)) return;
  const firstEnd = (m: TraceModel) => {
    let best = Infinity;
    for (const s of m.slices) if (s.category === 'collective' && s.startNs + s.durNs < best) best = s.startNs + s.durNs;
    return Number.isFinite(best) ? BigInt(m.meta.originNs) + BigInt(Math.round(best)) : undefined;
  };
  const ref = firstEnd(models[0]);
  if (ref === undefined) return;
  for (const m of models.slice(1)) {
    const end = firstEnd(m);
    if (end !== undefined) m.meta.originNs = (BigInt(m.meta.originNs) + ref - end).toString();
  }
}
