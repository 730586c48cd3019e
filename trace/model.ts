/**
 * The in-memory trace model shared by every part of CommLens.
 *
 * One model whatever the source: CommLens' own runs, Perfetto TrackEvent files from
 * other producers, Chrome JSON, and PyTorch profiler (Kineto) traces all import into it,
 * and the writers, the analysis and the viewer all read it. Pure data, no classes, so it
 * can be built in Node, in the webview and in tests alike.
 *
 * Time: every timestamp is a float64 number of nanoseconds relative to `originNs`
 * (epoch nanoseconds exceed JavaScript's safe integers; offsets within a trace do not).
 */

/** A value attached to a slice: what Perfetto calls a debug annotation, Chrome JSON `args`. */
export type ArgValue = string | number | boolean | null | ArgValue[] | { [key: string]: ArgValue };
export type Args = Record<string, ArgValue>;

/**
 * What a track carries. `compute`/`communication`/`staging` tracks hold GPU-side work
 * (kernels, collectives, device↔host copies); `host` holds CPU-side spans (steps, data,
 * optimizer bookkeeping, CPU ops of a PyTorch trace); `wait` holds blocked-on-peer spans.
 * Imported traces use `other` for anything that does not map.
 */
export type StreamKind = 'compute' | 'communication' | 'staging' | 'host' | 'wait' | 'other';

/**
 * Slice categories with a defined meaning to the analysis. Importers map their own
 * categories onto these; the original category is kept in `Slice.rawCategory` when it differs.
 * - kernel: GPU computation (a WGSL dispatch, a CUDA kernel)
 * - collective: a communication operation (our collectives, NCCL kernels)
 * - memcpy / memset: memory kernels (HTA's MEMORY class)
 * - staging: device↔host transfer done for communication (D2H, H2D)
 * - wait: time blocked on peers
 * - step: one training step / ProfilerStep#N
 * - cpu_op: a framework operator on the CPU
 * - runtime: a GPU runtime call (cudaLaunchKernel, queue.submit)
 * - host: any other host-side span
 */
export type SliceCategory =
  'kernel' | 'collective' | 'memcpy' | 'memset' | 'staging' | 'wait' | 'step' | 'cpu_op' | 'runtime' | 'host';

export interface ProcessInfo {
  /** Unique within the trace; one process per rank. */
  pid: number;
  /** Rank in the world group, when known. */
  rank?: number;
  name: string;
  /** Free-form labels shown in the UI (hostname, device name...). */
  labels?: Record<string, string>;
}

export interface TrackInfo {
  /** Index of this track in `TraceModel.tracks` (tracks are referenced by index). */
  id: number;
  /** The process (rank) this track belongs to. */
  pid: number;
  name: string;
  type: 'slice' | 'counter';
  stream: StreamKind;
  /** True for tracks of GPU-side work (kernels, copies, collectives). */
  gpu: boolean;
  /** Stream / thread id in the source (CUDA stream 7, a Chrome tid...), when there is one. */
  sourceId?: number | string;
  /** Counter unit (`bytes`, `ms`, `1`...) for counter tracks. */
  unit?: string;
  /** Ordering among siblings in the UI (lower first). */
  order?: number;
}

export interface Slice {
  /** Index into `TraceModel.tracks`. */
  track: number;
  name: string;
  category: SliceCategory;
  /** The producer's own category string, if it differs from `category`. */
  rawCategory?: string;
  startNs: number;
  durNs: number;
  /** Nesting depth on its track (0 = top level); filled by `finalizeModel`. */
  depth?: number;
  args?: Args;
}

export interface CounterSeries {
  /** Index into `TraceModel.tracks` (a counter track). */
  track: number;
  tsNs: number[];
  values: number[];
}

/** A flow arrow from one slice to another (indexes into `TraceModel.slices`). */
export interface Flow {
  id: number;
  from: number;
  to: number;
}

/** Arguments every collective slice carries (CommLens runs and imported NCCL kernels alike). */
export interface CollectiveArgs {
  op:
    | 'allReduce'
    | 'reduceScatter'
    | 'allGather'
    | 'broadcast'
    | 'reduce'
    | 'allToAll'
    | 'send'
    | 'recv'
    | 'barrier'
    | string;
  /** Sequence number within its group: the i-th collective joins across ranks by it. */
  seq?: number;
  group?: string;
  groupSize?: number;
  bytes?: number;
  dtype?: string;
  algorithm?: string;
  algbwGBps?: number;
  busbwGBps?: number;
  waitNs?: number;
  transferNs?: number;
}

export interface TraceMetadata {
  /** Where the model came from. */
  format: 'commlens' | 'perfetto' | 'chrome-json' | 'kineto';
  /** Absolute origin of the relative timestamps, epoch (or producer clock) nanoseconds, as a decimal string. */
  originNs: string;
  worldSize?: number;
  /** Producer / run metadata (config, adapter, link profile, versions...). */
  info?: Args;
}

export interface TraceModel {
  meta: TraceMetadata;
  processes: ProcessInfo[];
  tracks: TrackInfo[];
  slices: Slice[];
  counters: CounterSeries[];
  flows: Flow[];
  /** Things an importer skipped or could not understand; shown to the user, never thrown. */
  warnings: string[];
}

/** An empty model, the starting point of every importer. */
export function emptyModel(format: TraceMetadata['format'], originNs = '0'): TraceModel {
  return { meta: { format, originNs }, processes: [], tracks: [], slices: [], counters: [], flows: [], warnings: [] };
}

/** Adds a track and returns its id (its index). */
export function addTrack(model: TraceModel, track: Omit<TrackInfo, 'id'>): number {
  const id = model.tracks.length;
  model.tracks.push({ id, ...track });
  return id;
}

/**
 * Sorts each track's slices by start (longer first on ties, so parents precede children)
 * and assigns nesting depths. A slice that starts inside another on the same track but
 * ends after it does not nest; it is kept, clipped to its parent's end, with a warning,
 * because Perfetto drops improperly nested slices and the analysis must not double-count.
 * Returns the same model; slice indexes change, so flows are remapped.
 */
export function finalizeModel(model: TraceModel): TraceModel {
  // Slices already in order skip the sort: it would not move anything.
  if (!inFinalOrder(model.slices)) {
    const order = model.slices.map((_, i) => i);
    order.sort((a, b) => {
      const sa = model.slices[a],
        sb = model.slices[b];
      return sa.track - sb.track || sa.startNs - sb.startNs || sb.durNs - sa.durNs || a - b;
    });
    const remap = new Int32Array(model.slices.length);
    const sorted: Slice[] = new Array(model.slices.length);
    order.forEach((oldIndex, newIndex) => {
      remap[oldIndex] = newIndex;
      sorted[newIndex] = model.slices[oldIndex];
    });
    model.slices = sorted;
    model.flows = model.flows.map((f) => ({ id: f.id, from: remap[f.from], to: remap[f.to] }));
  }
  return assignDepths(model);
}

/**
 * finalizeModel for slices already in its order (each track's slices by start, longer first,
 * ties in the order given): assigns the nesting depths and clips slices that overlap a
 * sibling. For importers that build slices in that order, such as Kineto's.
 */
export function assignDepths(model: TraceModel): TraceModel {
  const sorted = model.slices;
  let clipped = 0;
  const stack: number[] = [];
  let currentTrack = -1;
  for (let i = 0; i < sorted.length; i++) {
    const s = sorted[i];
    if (s.track !== currentTrack) {
      currentTrack = s.track;
      stack.length = 0;
    }
    while (stack.length > 0 && stack[stack.length - 1] <= s.startNs) stack.pop();
    if (stack.length > 0) {
      const parentEnd = stack[stack.length - 1];
      if (s.startNs + s.durNs > parentEnd) {
        s.durNs = parentEnd - s.startNs;
        clipped++;
      }
    }
    s.depth = stack.length;
    stack.push(s.startNs + s.durNs);
  }
  if (clipped > 0) model.warnings.push(clipWarning(clipped));
  return model;
}

/** assignDepths' warning when `clipped` slices were clipped to nest. */
export function clipWarning(clipped: number): string {
  return `${clipped} slice(s) overlapped a sibling on the same track and were clipped to nest`;
}

/** True for assignDepths' warning (clipWarning). */
export function isClipWarning(w: string): boolean {
  return /^\d+ slice\(s\) overlapped a sibling on the same track and were clipped to nest$/.test(w);
}

/**
 * True when the slices are already in finalizeModel's order (track, start, longer first,
 * then index): each slice compares at or after its predecessor by the sort's own comparator,
 * which is exactly when Array.prototype.sort would leave them where they are.
 */
function inFinalOrder(slices: readonly Slice[]): boolean {
  for (let i = 1; i < slices.length; i++) {
    const a = slices[i],
      b = slices[i - 1];
    // The comparator's last term (index i − (i − 1)) is 1.
    if (!((a.track - b.track || a.startNs - b.startNs || b.durNs - a.durNs || 1) >= 0)) return false;
  }
  return true;
}

/**
 * True when `xs` is in ascending order by `cmp` (each element compares at or after its
 * predecessor), i.e. when `xs.sort(cmp)` would leave it unchanged: a linear check that
 * lets nearly always sorted inputs skip the sort.
 */
export function isAscending<T>(xs: readonly T[], cmp: (a: T, b: T) => number): boolean {
  for (let i = 1; i < xs.length; i++) if (!(cmp(xs[i], xs[i - 1]) >= 0)) return false;
  return true;
}

/**
 * The model's flows oriented in time: `from` is whichever end starts first, as Perfetto's
 * importer requires (a flow's end that arrives before its start is dropped). Flows whose
 * slices are missing are left out. Ids are the flow's position + 1, stable for writers.
 */
export function flowsInTimeOrder(model: TraceModel): Flow[] {
  const out: Flow[] = [];
  model.flows.forEach((f, i) => {
    const a = model.slices[f.from];
    const b = model.slices[f.to];
    if (!a || !b) return;
    const forward = a.startNs <= b.startNs;
    out.push({ id: i + 1, from: forward ? f.from : f.to, to: forward ? f.to : f.from });
  });
  return out;
}
