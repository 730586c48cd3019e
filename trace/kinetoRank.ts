/**
 * One rank of a PyTorch profiler (Kineto) job, reduced where it was scanned: from the rank's
 * columns (trace/kinetoScan.ts), a TraceModel of only the events the analysis reads, built by
 * the importer's own steps (trace/kineto.ts importKinetoColumns: its pass over the events read
 * from the kept rows, no event objects) so that every figure is the one the whole file gives.
 *
 * Kept: GPU work (kernels, memcpy, memset, GPU annotations), the runtime calls that launched it
 * (joined by `correlation`; for a rank that is only digested, most of them as a launch table
 * rather than slices: RankModelOptions.launchTable), ProfilerStep#N, comm launchers (nccl:*, record_param_comms,
 * c10d::*) and gloo ops, CPU ops that carry `flops`, the profiler's Trace span, memory
 * instants, metadata, and the first slice of every thread (so that the tracks are the whole
 * file's). A rank without GPU work keeps every event (its CPU timeline is what
 * is analysed). What the importer says about the whole file stays true: the events left out
 * that it would have counted (skipped phases, times that are not numbers) are added to its
 * counts, and nesting on host threads (clipping a slice that overlaps its parent) is worked out
 * over every host event, so the clipped durations and the warning's count are the whole
 * file's.
 */
import { idNumber, idValue, PH, type KinetoColumns } from './kinetoScan';
import { COMM_LAUNCHER, importKinetoColumns, RUNTIME_CATEGORIES, STEP_NAME, type LaunchTable } from './kineto';
import { isNcclKernelName } from './kinetoCollectives';
import { clipWarning, isClipWarning, type TraceModel } from './model';
import { NumberMap } from './numberMap';
import { groupRows, sortRowsBy } from './rowGroups';

const GPU_WORK = new Set(['kernel', 'gpu_memcpy', 'gpu_memset']);
const GLOO = /^gloo:/;
/**
 * Host ops the job-settings reading (analysis/jobSettings.ts) looks for by name anywhere in a
 * rank: the data-parallel wrapper and optimizer (DDP, FSDP, ZeRO-1) and PowerSGD's QR.
 */
const SETTINGS_NAME =
  /DistributedDataParallel|ddp\.reducer|FullyShardedDataParallel|FSDP|ZeroRedundancyOptimizer|linalg_qr|orthogonalize|aten::geqrf/;
/**
 * How many host events before each comm launcher on its thread are kept: a compress hook's cast
 * and division run right before the launch (jobSettings reads the 8 nearest that end before it).
 */
const BEFORE_LAUNCHER = 16;

export interface RankModelOptions {
  fileName?: string;
  rank?: number;
  /**
   * For a rank digested in its worker (analysis/rankDigest.ts), which reads a runtime call only
   * for its launch time: the runtime calls that launched GPU work become a launch table instead
   * of slices (about half the slices of a GPU rank, and their flows). Kept as slices still: the
   * launches of collectives (their launcher is found from them), each thread's first slice, the
   * host events before comm launchers, and all of them when two runtime calls share a
   * correlation (which one a kernel joins then depends on the slices' order).
   */
  launchTable?: boolean;
}

/** What rankModelFromColumns makes of a rank. */
export interface RankModel {
  model: TraceModel;
  eventsIn: number;
  eventsKept: number;
  sliceOrigin: Int32Array;
  fullSlices: number;
  /** With the launchTable option: the runtime calls kept as launch times only, and their distinct names. */
  launches?: LaunchTable & { names: string[] };
}

/** The rank's reduced model (see the module comment), and how many of its events it holds. */
export function rankModelFromColumns(c: KinetoColumns, opts: RankModelOptions = {}): RankModel {
  const n = c.count;
  // Per distinct string: 0 unknown, 1 no, 2 yes (strings repeat: each test runs once).
  const catKind = new Uint8Array(c.strings.length); // 1 other, 2 GPU work, 3 gpu_user_annotation, 4 runtime, 5 Trace
  const nameKeep = new Uint8Array(c.strings.length);
  const kindOfCat = (id: number): number => {
    if (id < 0) return 1;
    let k = catKind[id];
    if (k === 0) {
      const s = c.strings[id];
      k = catKind[id] = GPU_WORK.has(s)
        ? 2
        : s === 'gpu_user_annotation'
          ? 3
          : RUNTIME_CATEGORIES.has(s)
            ? 4
            : s === 'Trace'
              ? 5
              : 1;
    }
    return k;
  };
  const keepName = (id: number): boolean => {
    if (id < 0) return false;
    let k = nameKeep[id];
    if (k === 0) {
      const s = c.strings[id];
      k = nameKeep[id] = STEP_NAME.test(s) || COMM_LAUNCHER.test(s) || GLOO.test(s) || SETTINGS_NAME.test(s) ? 2 : 1;
    }
    return k === 2;
  };
  // Per distinct name: 0 not tested, 1 no, 2 an NCCL kernel's name (trace/kineto.ts makes it a collective).
  const ncclNames = new Uint8Array(c.strings.length);
  const ncclName = (id: number): boolean => {
    if (id < 0) return isNcclKernelName('');
    if (ncclNames[id] === 0) ncclNames[id] = isNcclKernelName(c.strings[id]) ? 2 : 1;
    return ncclNames[id] === 2;
  };
  const { gpuCorrelations, gpuWork, skipped, badTimes } = gpuCorrelationsOf(
    c,
    kindOfCat,
    ncclName,
    opts.launchTable === true,
  );
  const keepAll = gpuWork === 0;
  const keep = new Uint8Array(n);
  // launchTable: the launch-only rows' distinct names (the job settings read every slice's name,
  // analysis/jobSettings.ts nameSignsOf), and whether two runtime calls share a correlation.
  const launchTable = opts.launchTable === true && !keepAll;
  const launchNameSeen = new Uint8Array(launchTable ? c.strings.length + 1 : 0);
  const launchNames: string[] = [];
  const sharedCorrelation = markKept(c, keep, {
    keepAll,
    launchTable,
    gpuCorrelations,
    kindOfCat,
    keepName,
    launchNameSeen,
    launchNames,
  });
  if (!keepAll) keepBeforeLaunchers(c, keep);
  const nest = hostNesting(c, keep);
  // Which runtime call a kernel joins then depends on the slices' order: all stay slices.
  if (sharedCorrelation) launchRowsAsSlices(keep);
  // The kept rows become the model's slices straight from the columns (no event objects).
  const { model, sliceEvent, eventsKept, launches } = importKinetoColumns(c, keep, nest.clippedEndUs, {
    fileName: opts.fileName,
    rank: opts.rank,
    uncounted: { skipped, badTimes },
  });
  // The importer counted the clipping among the kept slices (its last warning); the whole file's count replaces it.
  const last = model.warnings.length - 1;
  if (last >= 0 && isClipWarning(model.warnings[last])) model.warnings.pop();
  const clipped = nest.hostClipped + nest.gpuClipped;
  if (clipped > 0) model.warnings.push(clipWarning(clipped));
  // Each kept slice's index in the whole file's model (the importer's order), through the row it came from.
  const sliceOrigin = originsOf(model, sliceEvent, nest.fullIndex);
  return {
    model,
    eventsIn: n,
    eventsKept,
    sliceOrigin,
    fullSlices: nest.fullSlices,
    ...(launchTable ? { launches: { ...launches, names: sharedCorrelation ? [] : launchNames } } : {}),
  };
}

function launchRowsAsSlices(keep: Uint8Array): void {
  for (let i = 0; i < keep.length; i++) if (keep[i] === 2) keep[i] = 1;
}

/** Each kept slice's index in the whole file's model (the importer's order), through the row it came from. */
function originsOf(model: TraceModel, sliceEvent: Int32Array, fullIndex: Int32Array): Int32Array {
  const sliceOrigin = new Int32Array(model.slices.length);
  for (let k = 0; k < model.slices.length; k++) {
    const full = fullIndex[sliceEvent[k]];
    if (full < 0)
      throw new Error(`kinetoRank: slice ${k} (${model.slices[k].name}) has no event of the file behind it`);
    sliceOrigin[k] = full;
  }
  return sliceOrigin;
}

/**
 * rankModelFromColumns' first pass (a function of its own: see markKept): the correlations of
 * the GPU work (1; with launchTable, 2 for a collective kernel's), in a map sized for every GPU
 * event (grown from empty, it was rehashed and reallocated a dozen times), how many GPU events
 * there are, and what the importer would skip.
 */
function gpuCorrelationsOf(
  c: KinetoColumns,
  kindOfCat: (id: number) => number,
  ncclName: (id: number) => boolean,
  launchTable: boolean,
): { gpuCorrelations: NumberMap; gpuWork: number; skipped: number; badTimes: number } {
  const n = c.count;
  let gpuEvents = 0;
  for (let i = 0; i < n; i++) if (c.ph[i] === PH.X && c.cat[i] >= 0) gpuEvents += kindOfCat(c.cat[i]) === 2 ? 1 : 0;
  const gpuCorrelations = new NumberMap(gpuEvents);
  let gpuWork = 0,
    skipped = c.nonObjects ?? 0,
    badTimes = 0;
  for (let i = 0; i < n; i++) {
    const ph = c.ph[i];
    if (ph === PH.X) {
      const k = kindOfCat(c.cat[i]);
      if (k !== 5 && !Number.isFinite(c.ts[i])) badTimes++;
      else if (k === 2 || k === 3) {
        if (k === 2) gpuWork++;
        if (Number.isFinite(c.correlation[i]))
          gpuCorrelations.set(
            c.correlation[i],
            !launchTable ? 1 : k === 2 && ncclName(c.name[i]) ? 2 : (gpuCorrelations.get(c.correlation[i]) ?? 1),
          );
      }
    } else if (ph !== PH.M && ph !== PH.i && ph !== PH.I && ph !== PH.s && ph !== PH.t && ph !== PH.f) skipped++;
  }
  return { gpuCorrelations, gpuWork, skipped, badTimes };
}

/**
 * rankModelFromColumns' keep pass: marks each row kept (1) or kept as a launch time only (2).
 * Returns whether two runtime calls share a correlation. Each of rankModelFromColumns' loops is
 * a function of its own: V8 compiles a loop that runs long by on-stack replacement of the
 * function it is in, and with the loops inline rankModelFromColumns (the whole function) was
 * compiled again for each.
 */
function markKept(
  c: KinetoColumns,
  keep: Uint8Array,
  o: {
    keepAll: boolean;
    launchTable: boolean;
    gpuCorrelations: NumberMap;
    kindOfCat: (id: number) => number;
    keepName: (id: number) => boolean;
    launchNameSeen: Uint8Array;
    launchNames: string[];
  },
): boolean {
  const n = c.count;
  const { keepAll, launchTable, gpuCorrelations, kindOfCat, keepName, launchNameSeen, launchNames } = o;
  const str = (id: number) => (id >= 0 ? c.strings[id] : undefined);
  // A runtime call with a correlation makes the importer's rank "have launch times" even when
  // it launched nothing kept: the first is kept so that the view decides the same way.
  let runtimeKept = false;
  let sharedCorrelation = false;
  for (let i = 0; i < n; i++) {
    const ph = c.ph[i];
    if (ph === PH.M) keep[i] = 1;
    else if (ph === PH.i || ph === PH.I) keep[i] = str(c.name[i]) === '[memory]' ? 1 : 0;
    else if (ph === PH.X) {
      if (!Number.isFinite(c.ts[i]) && kindOfCat(c.cat[i]) !== 5) continue;
      if (keepAll) {
        keep[i] = 1;
        continue;
      }
      const k = kindOfCat(c.cat[i]);
      if (k === 2 || k === 3 || k === 5) keep[i] = 1;
      else if (k === 4 && Number.isFinite(c.correlation[i])) {
        const corr = c.correlation[i];
        const launched = gpuCorrelations.get(corr);
        if (launchTable && launched !== undefined && launched !== 2) {
          // 3: a runtime call with this correlation was seen; a second one means shared correlations.
          if (launched === 3) sharedCorrelation = true;
          else gpuCorrelations.set(corr, 3);
        }
        if (launched === 1 && launchTable && runtimeKept) {
          keep[i] = 2;
          const id = c.name[i];
          if (launchNameSeen[id + 1] === 0) {
            launchNameSeen[id + 1] = 1;
            launchNames.push(id >= 0 ? c.strings[id] : '');
          }
        } else if (launched !== undefined || !runtimeKept) keep[i] = 1;
        runtimeKept = true;
      } else if (keepName(c.name[i])) keep[i] = 1;
      else if (str(c.cat[i]) === 'cpu_op' && c.extraArgs.get(i)?.flops !== undefined) keep[i] = 1;
    }
  }
  return sharedCorrelation;
}

/**
 * Nesting of the slices on each track as the importer does it (trace/model.ts assignDepths: by
 * start, longer first, then event order; a slice that ends after its parent is clipped to the
 * parent's end), in whole µs after HTA's rounding, over every event of the file: the clipped
 * ends of the kept host slices, how many slices were clipped on host and GPU tracks, and each
 * slice's index in the whole file's model. Also keeps (in `keep`) the first slice of every track.
 */
function hostNesting(
  c: KinetoColumns,
  keep: Uint8Array,
): {
  clippedEndUs: Map<number, number>;
  hostClipped: number;
  gpuClipped: number;
  fullIndex: Int32Array;
  fullSlices: number;
} {
  const n = c.count;
  const { start, end, track, trackCount, gpu, trackStream, trackAnnotation } = trackEvents(c, keep);
  // Each track's slices in the importer's order: event order, sorted (by start, longer first,
  // then event order) only where a track's events are not already in that order.
  const { rows, start: groupStart } = groupRows(track, trackCount);
  sortTracks(rows, groupStart, trackCount, start, end);
  const clippedEndUs = new Map<number, number>();
  /** assignDepths over the slices of the tracks that are (or are not) GPU tracks; `onClip` sees each clipped slice and its new end. */
  const nestPass = (gpuTracks: boolean, onClip: ((i: number, e: number) => void) | undefined) => {
    let clipped = 0;
    const stack: number[] = [];
    for (let t = 0; t < trackCount; t++) {
      if (gpu[t] !== gpuTracks) continue;
      stack.length = 0;
      for (let k = groupStart[t]; k < groupStart[t + 1]; k++) {
        const i = rows[k];
        while (stack.length > 0 && stack[stack.length - 1] <= start[i]) stack.pop();
        let e = end[i];
        if (stack.length > 0 && e > stack[stack.length - 1]) {
          e = stack[stack.length - 1];
          clipped++;
          onClip?.(i, e);
        }
        stack.push(e);
      }
    }
    return clipped;
  };
  const gpuClipped = nestPass(true, undefined);
  const hostClipped = nestPass(false, (i, e) => {
    if (keep[i] !== 0) clippedEndUs.set(i, e);
  });
  // The whole model's slice order: tracks as the importer orders them (GPU streams by stream,
  // annotations after their stream, then host threads as they first appear), each track's slices
  // in group order.
  const trackOrder = Array.from({ length: trackCount }, (_, t) => t);
  trackOrder.sort((x, y) => {
    if (gpu[x] !== gpu[y]) return gpu[x] ? -1 : 1;
    if (gpu[x]) return trackStream[x] - trackStream[y] || Number(trackAnnotation[x]) - Number(trackAnnotation[y]);
    return x - y;
  });
  const { fullIndex, fullSlices } = fullIndexOf(n, trackOrder, rows, groupStart);
  return { clippedEndUs, hostClipped, gpuClipped, fullIndex, fullSlices };
}

// hostNesting's loops, each a function of its own (V8 compiles a long-running loop by on-stack
// replacement of the function it is in: inline, the whole of hostNesting was compiled again
// for each loop).

/**
 * Every complete event's track (the importer's: a GPU stream, a stream's annotations or a host
 * thread; −1 for none) and its start and end in whole µs after HTA's rounding; keeps (in `keep`)
 * the first slice of every track.
 */
function trackEvents(
  c: KinetoColumns,
  keep: Uint8Array,
): {
  start: Float64Array;
  end: Float64Array;
  track: Int32Array;
  trackCount: number;
  gpu: boolean[];
  trackStream: number[];
  trackAnnotation: boolean[];
} {
  const n = c.count;
  const start = new Float64Array(n);
  const end = new Float64Array(n);
  const track = new Int32Array(n).fill(-1);
  const trackIds = new Map<string, number>();
  let lastTrack = -1;
  // The last event's track fields: an event on the same stream or thread (most are) finds its
  // track without building the importer's string key.
  let lastKind = -1,
    lastStream = 0,
    lastPid = -1,
    lastTid = -1;
  // Per category string (slot id + 1; 0 is "no category"): 0 not seen, 1 Trace, 2 GPU work, 3 GPU annotation, 4 host.
  const catCode = new Uint8Array(c.strings.length + 1);
  const gpu: boolean[] = [];
  const trackStream: number[] = [];
  const trackAnnotation: boolean[] = [];
  for (let i = 0; i < n; i++) {
    if (c.ph[i] !== PH.X || !Number.isFinite(c.ts[i])) continue;
    const cid = c.cat[i];
    let code = catCode[cid + 1];
    if (code === 0) {
      const cat = cid >= 0 ? c.strings[cid] : '';
      code = catCode[cid + 1] = cat === 'Trace' ? 1 : GPU_WORK.has(cat) ? 2 : cat === 'gpu_user_annotation' ? 3 : 4;
    }
    if (code === 1) continue;
    const stream = c.stream[i];
    let gpuStream = 0;
    // 0 host thread, 1 GPU stream, 2 a stream's annotations.
    let kind = 0;
    if (code === 2) {
      const tidNumber = idNumber(c, c.tid[i]);
      gpuStream = Number.isFinite(stream) ? stream : Number.isFinite(tidNumber) ? tidNumber : 0;
      kind = 1;
    } else if (code === 3 && Number.isFinite(stream)) {
      gpuStream = stream;
      kind = 2;
    }
    const same =
      kind === lastKind && (kind !== 0 ? gpuStream === lastStream : c.pid[i] === lastPid && c.tid[i] === lastTid);
    if (!same) {
      let key: string;
      if (kind === 1) key = `g${gpuStream}`;
      else if (kind === 2) key = `a${gpuStream}`;
      else {
        // The importer's key: String(pid) and String(tid), a tid that is neither a number nor a string being 0.
        const pid = String(idValue(c, c.pid[i]));
        const tid = String(idValue(c, c.tid[i]) ?? 0);
        key = `c${pid}|${tid}`;
      }
      let t = trackIds.get(key);
      if (t === undefined) {
        t = trackIds.size;
        trackIds.set(key, t);
        gpu.push(kind !== 0);
        // Each host thread's first slice is kept, so that the reduced model has the whole file's
        // tracks, in the same order (tracks are numbered, and the analysis names them by number).
        keep[i] = 1;
        trackStream.push(gpuStream);
        trackAnnotation.push(kind === 2);
      }
      lastTrack = t;
      lastKind = kind;
      lastStream = gpuStream;
      lastPid = c.pid[i];
      lastTid = c.tid[i];
    }
    track[i] = lastTrack;
    const s = Math.ceil(c.ts[i]);
    const d = Number.isFinite(c.dur[i]) && c.dur[i] > 0 ? c.dur[i] : 0;
    start[i] = s;
    end[i] = Math.max(s, Math.floor(c.ts[i] + d));
  }
  return { start, end, track, trackCount: trackIds.size, gpu, trackStream, trackAnnotation };
}

/** Sorts each track's rows by start, then longer first, where they are not in that order already (each slice's length made when a track needs a sort). */
function sortTracks(
  rows: Int32Array,
  groupStart: Int32Array,
  tracks: number,
  start: Float64Array,
  end: Float64Array,
): void {
  let length: Float64Array | undefined;
  for (let t = 0; t < tracks; t++) {
    let sorted = true;
    for (let k = groupStart[t] + 1; k < groupStart[t + 1] && sorted; k++) {
      const a = rows[k],
        b = rows[k - 1];
      // In the order: a starts after b, or with it and is not longer.
      sorted = start[a] > start[b] || (start[a] === start[b] && end[a] - start[a] <= end[b] - start[b]);
    }
    if (sorted) continue;
    if (!length) {
      length = new Float64Array(start.length);
      for (let i = 0; i < start.length; i++) length[i] = end[i] - start[i];
    }
    sortRowsBy(rows, groupStart[t], groupStart[t + 1], start, length);
  }
}

/** Each row's index in the whole model's slice order (tracks in `trackOrder`, each track's rows in group order); −1: no slice. */
function fullIndexOf(
  n: number,
  trackOrder: readonly number[],
  rows: Int32Array,
  groupStart: Int32Array,
): { fullIndex: Int32Array; fullSlices: number } {
  const fullIndex = new Int32Array(n).fill(-1);
  let next = 0;
  for (const t of trackOrder) for (let k = groupStart[t]; k < groupStart[t + 1]; k++) fullIndex[rows[k]] = next++;
  return { fullIndex, fullSlices: next };
}

/**
 * Keeps the BEFORE_LAUNCHER host events that start before each comm launcher on its thread.
 * Runs over every row of the rank: names are tested once per distinct name, a thread's key is
 * built only when the thread changes from the row before, and nothing is gathered unless the
 * rank has a comm launcher at all.
 */
function keepBeforeLaunchers(c: KinetoColumns, keep: Uint8Array): void {
  // Host events of every category (cpu_op, user annotations, runtime calls), as jobSettings reads a
  // host thread; a category is tested once.
  const hostCat = new Int8Array(c.strings.length); // 0: not tested yet, 1: GPU, 2: host
  const launcherName = new Int8Array(c.strings.length); // 0: not tested yet, 1: no, 2: a launcher
  const isLauncher = (i: number): boolean => {
    const id = c.name[i];
    if (id < 0) return false;
    if (launcherName[id] === 0) launcherName[id] = COMM_LAUNCHER.test(c.strings[id]) ? 2 : 1;
    return launcherName[id] === 2;
  };
  const isHostOp = (i: number): boolean => {
    const cat = c.cat[i];
    if (c.ph[i] !== PH.X || cat < 0 || !Number.isFinite(c.ts[i])) return false;
    if (hostCat[cat] === 0)
      hostCat[cat] = GPU_WORK.has(c.strings[cat]) || c.strings[cat] === 'gpu_user_annotation' ? 1 : 2;
    return hostCat[cat] === 2;
  };
  if (!anyLauncher(c.count, isHostOp, isLauncher)) return;
  const { threadOf, threads } = hostThreadsOf(c, isHostOp);
  const { rows, start } = groupRows(threadOf, threads);
  sortThreads(rows, start, threads, c.ts, c.dur);
  keepBefore(rows, start, threads, isLauncher, keep);
}

// keepBeforeLaunchers' loops, each a function of its own (as hostNesting's).

function anyLauncher(n: number, isHostOp: (i: number) => boolean, isLauncher: (i: number) => boolean): boolean {
  for (let i = 0; i < n; i++) if (isHostOp(i) && isLauncher(i)) return true;
  return false;
}

/** Each host event's thread (a number per distinct pid/tid; −1: not a host event), and how many threads. */
function hostThreadsOf(c: KinetoColumns, isHostOp: (i: number) => boolean): { threadOf: Int32Array; threads: number } {
  const threadIds = new Map<string, number>();
  const threadOf = new Int32Array(c.count).fill(-1);
  let thread = -1;
  // NaN: no event yet (every code differs from it).
  let pid = NaN,
    tid = NaN;
  for (let i = 0; i < c.count; i++) {
    if (!isHostOp(i)) continue;
    if (c.pid[i] !== pid || c.tid[i] !== tid) {
      pid = c.pid[i];
      tid = c.tid[i];
      // An absent pid or tid reads NaN here, as it always has (a thread of its own).
      const key = `${idValue(c, pid) ?? NaN}/${idValue(c, tid) ?? NaN}`;
      let t = threadIds.get(key);
      if (t === undefined) threadIds.set(key, (t = threadIds.size));
      thread = t;
    }
    threadOf[i] = thread;
  }
  return { threadOf, threads: threadIds.size };
}

/** Sorts each thread's rows by time, longer first, then event order, where they are not in that order already. */
function sortThreads(rows: Int32Array, start: Int32Array, threads: number, ts: Float64Array, dur: Float64Array): void {
  const byTime = (a: number, b: number) => ts[a] - ts[b] || dur[b] - dur[a] || a - b;
  for (let t = 0; t < threads; t++) {
    let sorted = true;
    for (let k = start[t] + 1; k < start[t + 1] && sorted; k++) sorted = byTime(rows[k], rows[k - 1]) >= 0;
    if (!sorted) sortRowsBy(rows, start[t], start[t + 1], ts, dur);
  }
}

/** Keeps the BEFORE_LAUNCHER events before each comm launcher on its thread. */
function keepBefore(
  rows: Int32Array,
  start: Int32Array,
  threads: number,
  isLauncher: (i: number) => boolean,
  keep: Uint8Array,
): void {
  for (let t = 0; t < threads; t++) {
    for (let k = start[t]; k < start[t + 1]; k++) {
      if (!isLauncher(rows[k])) continue;
      for (let j = Math.max(start[t], k - BEFORE_LAUNCHER); j < k; j++) keep[rows[j]] = 1;
    }
  }
}
