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
import { addTrack, emptyModel, finalizeModel, type Args, type ArgValue, type SliceCategory, type StreamKind, type TraceModel } from './model';
import { collectiveArgsOf, isNcclKernelName } from './kinetoCollectives';
import { mergeRankModels } from './kinetoMerge';
import { readKinetoFile } from './kinetoRead';

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
const RUNTIME_CATEGORIES = new Set(['cuda_runtime', 'cuda_driver', 'runtime', 'hip_runtime', 'xpu_runtime', 'privateuse1_runtime', 'mtia_runtime']);
const STEP_NAME = /^ProfilerStep\s*#\s*(\d+)/;
const COMM_LAUNCHER = /^(nccl:|record_param_comms$|c10d::)/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function rankFromFileName(fileName: string | undefined): number | undefined {
  if (!fileName) return undefined;
  const m = /rank[-_]?(\d+)/i.exec(fileName.split(/[\\/]/).pop() ?? '');
  return m ? Number(m[1]) : undefined;
}

interface PendingSlice {
  trackKey: string;
  gpu: boolean;
  name: string;
  category: SliceCategory;
  rawCategory: string;
  startUs: number;
  endUs: number;
  args: Args;
  tid: number | string;
}

/**
 * Imports one rank's Kineto trace (the parsed JSON object). Throws KinetoFormatError only
 * when the input has no `traceEvents` array; anything odd inside it becomes a warning.
 */
export function importKineto(json: unknown, opts: KinetoImportOptions = {}): TraceModel {
  const label = opts.fileName ?? 'the trace';
  if (!isObject(json) || !Array.isArray(json.traceEvents)) {
    throw new KinetoFormatError(`${label} is not a PyTorch profiler (Kineto) trace: expected a JSON object with a "traceEvents" array`);
  }
  const events = json.traceEvents as unknown[];
  const warnings: string[] = [];
  const dist = isObject(json.distributedInfo) ? json.distributedInfo : undefined;
  let rank = dist && typeof dist.rank === 'number' ? dist.rank : undefined;
  const worldSize = dist && typeof dist.world_size === 'number' ? dist.world_size : undefined;
  if (rank === undefined) {
    rank = rankFromFileName(opts.fileName);
    warnings.push(
      `${label} has no distributedInfo: rank ${rank === undefined ? 'unknown (taken as 0)' : `${rank} taken from the file name`}, world size unknown`,
    );
    rank ??= 0;
  }

  const pending: PendingSlice[] = [];
  const processNames = new Map<string, string>();
  const threadNames = new Map<string, string>();
  const memory: { tsUs: number; bytes: number; device: string }[] = [];
  let skipped = 0;
  let badTimes = 0;
  let minUs = Infinity;
  let profilerSpan: { startUs: number; durUs: number } | undefined;

  for (const e0 of events) {
    if (!isObject(e0)) { skipped++; continue; }
    const e = e0 as RawEvent;
    const args = (isObject(e.args) ? e.args : {}) as Args;
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
        const dev = args['Device Type'] === 0 ? 'cpu' : `gpu${typeof args['Device Id'] === 'number' ? args['Device Id'] : ''}`;
        memory.push({ tsUs: Math.ceil(e.ts), bytes: total, device: dev });
        minUs = Math.min(minUs, Math.ceil(e.ts));
      }
      continue;
    }
    if (e.ph !== 'X') { skipped++; continue; }
    const cat = typeof e.cat === 'string' ? e.cat : '';
    if (cat === 'Trace') {
      if (typeof e.ts === 'number' && typeof e.dur === 'number') profilerSpan = { startUs: e.ts, durUs: e.dur };
      continue;
    }
    if (typeof e.ts !== 'number' || !Number.isFinite(e.ts)) { badTimes++; continue; }
    const durUs = typeof e.dur === 'number' && Number.isFinite(e.dur) && e.dur > 0 ? e.dur : 0;
    // HTA's rounding of fractional µs: the start moves up, the end moves down.
    const startUs = Math.ceil(e.ts);
    const endUs = Math.max(startUs, Math.floor(e.ts + durUs));
    minUs = Math.min(minUs, startUs);
    const name = typeof e.name === 'string' ? e.name : String(e.name ?? '');
    const gpuCategory = GPU_CATEGORIES[cat];
    const streamArg = args.stream;
    if (gpuCategory !== undefined || (cat === 'gpu_user_annotation' && typeof streamArg === 'number')) {
      const stream = typeof streamArg === 'number' ? streamArg : typeof e.tid === 'number' ? e.tid : 0;
      const annotation = gpuCategory === undefined;
      let category: SliceCategory = gpuCategory ?? 'host';
      if (category === 'kernel' && isNcclKernelName(name)) category = 'collective';
      pending.push({
        trackKey: annotation ? `gpu-annotation:${stream}` : `gpu:${stream}`,
        gpu: true, name, category, rawCategory: cat, startUs, endUs, args, tid: stream,
      });
      continue;
    }
    let category: SliceCategory = 'host';
    if (cat === 'cpu_op') category = 'cpu_op';
    else if (RUNTIME_CATEGORIES.has(cat)) category = 'runtime';
    const step = STEP_NAME.exec(name);
    if (step) category = 'step';
    const tid = typeof e.tid === 'number' || typeof e.tid === 'string' ? e.tid : 0;
    const sliceArgs: Args = step ? { ...args, step: Number(step[1]) } : args;
    pending.push({ trackKey: `cpu:${String(e.pid)}:${String(tid)}`, gpu: false, name, category, rawCategory: cat, startUs, endUs, args: sliceArgs, tid });
  }
  if (skipped > 0) warnings.push(`${label}: ${skipped} event(s) of phases other than complete (X), metadata (M) and memory instants were skipped`);
  if (badTimes > 0) warnings.push(`${label}: ${badTimes} event(s) without a numeric "ts" were skipped`);
  if (!Number.isFinite(minUs)) minUs = 0;

  const model = emptyModel('kineto', (BigInt(minUs) * 1000n).toString());
  model.warnings.push(...warnings);
  model.meta.worldSize = worldSize;
  const info: Args = { rank };
  if (opts.fileName) info.fileName = opts.fileName;
  if (dist) info.distributedInfo = dist as Args;
  if (profilerSpan) info.profilerSpanUs = profilerSpan;
  if (typeof json.schemaVersion === 'number') info.kinetoSchemaVersion = json.schemaVersion;
  model.meta.info = info;
  const pid = rank;
  const hostName = [...processNames.values()][0];
  model.processes.push({ pid, rank, name: `rank ${rank}`, labels: hostName ? { process: hostName } : undefined });

  // Tracks: GPU streams first (in stream order), then host threads.
  const trackOf = new Map<string, number>();
  const gpuKeys = [...new Set(pending.filter((p) => p.gpu).map((p) => p.trackKey))];
  const streamIdOf = (k: string) => Number(k.split(':')[1]);
  gpuKeys.sort((a, b) => streamIdOf(a) - streamIdOf(b) || a.localeCompare(b));
  const kindOf = new Map<string, StreamKind>();
  for (const p of pending) {
    if (!p.gpu) continue;
    const prev = kindOf.get(p.trackKey);
    const k: StreamKind = p.category === 'collective' ? 'communication' : p.category === 'host' ? 'other' : 'compute';
    kindOf.set(p.trackKey, prev === undefined || prev === k ? k : 'compute');
  }
  for (const k of gpuKeys) {
    const stream = streamIdOf(k);
    const annotation = k.startsWith('gpu-annotation');
    trackOf.set(k, addTrack(model, {
      pid, name: annotation ? `stream ${stream} annotations` : `stream ${stream}`, type: 'slice',
      stream: kindOf.get(k) ?? 'compute', gpu: true, sourceId: stream, order: trackOf.size,
    }));
  }
  const cpuKeys = [...new Set(pending.filter((p) => !p.gpu).map((p) => p.trackKey))];
  for (const k of cpuKeys) {
    const [, p, t] = k.split(':');
    const tidNum = Number(t);
    trackOf.set(k, addTrack(model, {
      pid, name: threadNames.get(`${p}:${t}`) ?? `thread ${t}`, type: 'slice', stream: 'host', gpu: false,
      sourceId: Number.isFinite(tidNum) ? tidNum : t, order: 1000 + trackOf.size,
    }));
  }

  // Runtime calls by correlation, and the comm launchers per host track, to describe NCCL kernels.
  const runtimeByCorrelation = new Map<number, number>();
  const launchers = new Map<string, PendingSlice[]>();
  pending.forEach((p, i) => {
    if (p.category === 'runtime' && typeof p.args.correlation === 'number') runtimeByCorrelation.set(p.args.correlation, i);
    if (!p.gpu && COMM_LAUNCHER.test(p.name)) {
      const list = launchers.get(p.trackKey) ?? [];
      list.push(p);
      launchers.set(p.trackKey, list);
    }
  });
  const findLauncher = (launch: PendingSlice): PendingSlice | undefined => {
    let best: PendingSlice | undefined;
    for (const c of launchers.get(launch.trackKey) ?? []) {
      if (c.startUs <= launch.startUs && launch.startUs <= c.endUs) {
        // Prefer the innermost op that carries collective args, then the innermost at all.
        const rich = (s: PendingSlice) => s.args['Collective name'] !== undefined || s.args['Input Dims'] !== undefined;
        if (!best || (rich(c) && !rich(best)) || (rich(c) === rich(best) && c.startUs >= best.startUs)) best = c;
      }
    }
    return best;
  };

  const flows: { from: number; to: number }[] = [];
  for (const p of pending) {
    let args = p.args;
    const idx = model.slices.length;
    if (p.category === 'collective') {
      const corr = typeof p.args.correlation === 'number' ? p.args.correlation : undefined;
      const launchIdx = corr !== undefined ? runtimeByCorrelation.get(corr) : undefined;
      const launcher = launchIdx !== undefined ? findLauncher(pending[launchIdx]) : undefined;
      args = { ...p.args, ...collectiveArgsOf(p.name, p.args, launcher, worldSize) };
    }
    if (p.gpu && typeof p.args.correlation === 'number') {
      const launchIdx = runtimeByCorrelation.get(p.args.correlation);
      if (launchIdx !== undefined) flows.push({ from: launchIdx, to: idx });
    }
    model.slices.push({
      track: trackOf.get(p.trackKey) as number, name: p.name, category: p.category,
      rawCategory: p.rawCategory !== p.category ? p.rawCategory : undefined,
      startNs: (p.startUs - minUs) * 1000, durNs: (p.endUs - p.startUs) * 1000, args,
    });
  }
  // Pending indexes equal slice indexes (one slice per pending entry, in order).
  model.flows = flows.map((f, i) => ({ id: i + 1, from: f.from, to: f.to }));
  assignCollectiveSeq(model);

  if (memory.length > 0) {
    const byDevice = new Map<string, { tsUs: number; bytes: number }[]>();
    for (const m of memory) byDevice.set(m.device, [...(byDevice.get(m.device) ?? []), m]);
    for (const [device, series] of byDevice) {
      series.sort((a, b) => a.tsUs - b.tsUs);
      const track = addTrack(model, { pid, name: `memory allocated (${device})`, type: 'counter', stream: 'other', gpu: device !== 'cpu', unit: 'bytes' });
      model.counters.push({ track, tsNs: series.map((s) => (s.tsUs - minUs) * 1000), values: series.map((s) => s.bytes) });
    }
  }
  if (!pending.some((p) => p.gpu && p.category !== 'host')) model.warnings.push(`${label} has no GPU kernels (was the profiler run with ProfilerActivity.CUDA?)`);
  return finalizeModel(model);
}

/**
 * Gives every collective without a `seq` its ordinal within (rank, group, op) in start order,
 * so that the i-th collective of a group can be joined across ranks.
 */
function assignCollectiveSeq(model: TraceModel): void {
  const order = model.slices.map((s, i) => ({ s, i })).filter(({ s }) => s.category === 'collective');
  order.sort((a, b) => a.s.startNs - b.s.startNs);
  const counters = new Map<string, number>();
  for (const { s } of order) {
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

/** Reads and imports one Kineto file (`.json` or `.json.gz`, gunzipped as a stream). */
export async function importKinetoFile(path: string): Promise<TraceModel> {
  const json = await readKinetoFile(path);
  return importKineto(json, { fileName: path });
}

/**
 * Imports one file per rank and merges them into one model (one process per rank, a
 * common time origin). Mismatches (duplicate ranks, different world sizes, windows that
 * do not overlap in time) become warnings.
 */
export async function importKinetoFolder(paths: string[]): Promise<TraceModel> {
  const models: TraceModel[] = [];
  for (const p of paths) models.push(await importKinetoFile(p));
  return mergeRankModels(models);
}
