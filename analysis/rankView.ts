/**
 * The per-rank view every metric reads: the rank's GPU operations classified the way
 * Holistic Trace Analysis classes kernels, its steps, and which operations fall in the
 * analysed window. Built once per analysis, in one pass over the slices.
 */
import type { Slice, TraceModel } from '../trace/model';
import { NumberMap } from '../trace/numberMap';
import type { LaunchTable } from '../trace/kineto';
import type { RankDigest } from './rankFigures';

/** HTA's kernel classes: communication (NCCL), memory (memcpy / memset), computation (the rest). */
export type KernelClass = 'computation' | 'communication' | 'memory';

/** One GPU operation (a kernel, a collective, a copy) of a rank. */
export interface GpuOp {
  /** Index into model.slices. */
  index: number;
  track: number;
  startNs: number;
  endNs: number;
  cls: KernelClass;
  /** Start of the host call that launched it (Kineto's runtime event joined by `correlation`), when known. */
  launchNs?: number;
  /** Step number this op belongs to (by its launch time, else its start), or undefined outside steps. */
  step?: number;
  /** A digested rank's communication op: collectives.ts computeBeforeComm, computed from all the rank's ops. */
  computeBeforeNs?: number;
}

export interface StepWindow {
  step: number;
  startNs: number;
  endNs: number;
  /** Index into model.slices of the step slice. */
  index: number;
}

export interface RankView {
  pid: number;
  rank: number;
  /** Every GPU op of the rank, sorted by start. */
  allOps: GpuOp[];
  /** The ops in the analysed window (see selectAnalysedOps), sorted by start. */
  ops: GpuOp[];
  steps: StepWindow[];
  /** Steps whose ops are analysed (all but the last by default). */
  analysedSteps: StepWindow[];
  /** True when kernels could be joined to their launch calls. */
  hasLaunchTimes: boolean;
  /** Notes on what could not be computed for this rank. */
  notes: string[];
  /**
   * True when the rank has no GPU activity and its ops are its CPU timeline instead: its
   * CPU collectives (gloo, c10d) as communication, its outermost aten:: ops as computation.
   */
  cpuTimeline?: boolean;
  /**
   * Set on the view of a rank digested where it was read (trace/rankDigest.ts): `ops` then holds
   * only its communication ops, the ops outside every step, and every op of `fullSteps`; what
   * the other ops contribute was computed from all of them and travels here
   * (analysis/rankDigest.ts). Asking for the ops of another step throws PartialViewError.
   */
  partial?: RankPartial;
}

/** What a digested rank's view carries besides its kept ops (analysis/rankDigest.ts makes it). */
export interface RankPartial {
  /** Analysed steps whose ops are all in `ops`: the last `keptStepCount` that have ops. */
  fullSteps: ReadonlySet<number>;
  keptStepCount: number;
  /** Analysed steps that have any op (of the whole rank). */
  stepsWithOps: ReadonlySet<number>;
  /** Number of ops in the analysed window (of the whole rank). */
  opCount: number;
  digest: RankDigest;
}

/**
 * Thrown when an analysis step needs the ops of a step that a digested rank did not keep
 * (ranks whose steps do not line up): the caller analyses the job again from whole ranks.
 */
export class PartialViewError extends Error {
  constructor(rank: number, step: number | undefined) {
    super(
      `rank ${rank}'s ops of ${step === undefined ? 'its whole window' : `step ${step}`} were not kept where it was read`,
    );
    this.name = 'PartialViewError';
  }
}

/** True when the rank has analysed ops in `step` (of the whole rank, also for a digested view). */
export function stepHasOps(v: RankView, step: number): boolean {
  return v.partial ? v.partial.stepsWithOps.has(step) : opsOfStep(v, step).length > 0;
}

const COMM_NAME = /ncclKernel|ncclDevKernel|^nccl|^hccl|^rccl/;
const MEMORY_NAME = /Memcpy|Memset|^dma/;

/**
 * Classifies a GPU slice as HTA does: communication if its category is `collective` or its
 * name contains `ncclKernel` (or starts with nccl/hccl/rccl); memory if it is a memcpy/memset/
 * staging copy or its name contains `Memcpy`/`Memset`; computation otherwise. Returns
 * undefined for slices that are not GPU work (annotations, waits).
 */
export function classifyGpuSlice(s: Slice): KernelClass | undefined {
  switch (s.category) {
    case 'collective':
      return 'communication';
    case 'memcpy':
    case 'memset':
    case 'staging':
      return 'memory';
    case 'kernel':
      if (COMM_NAME.test(s.name)) return 'communication';
      if (MEMORY_NAME.test(s.name)) return 'memory';
      return 'computation';
    default:
      return undefined;
  }
}

/** Step number of a step slice: args.step, else the last number in its name (`ProfilerStep#12`, `step 3`). */
export function stepNumberOf(s: Slice): number | undefined {
  const a = s.args?.step;
  if (typeof a === 'number') return a;
  const m = /(\d+)\s*$/.exec(s.name) ?? /(\d+)/.exec(s.name);
  return m ? Number(m[1]) : undefined;
}

export interface RankViewOptions {
  includeLastStep?: boolean;
  /**
   * A one-process model's runtime calls kept as launch times instead of slices (trace/kinetoRank.ts
   * launchTable): the process's launches besides its runtime slices.
   */
  launches?: LaunchTable;
}

/**
 * Builds the view of every rank. The analysed window follows HTA: with two or more steps,
 * the ops whose launch (or, when launches are unknown, whose start) is before the last
 * step's start are analysed, or up to the last step's end with includeLastStep; ops whose
 * launch call is missing from a trace that has launch calls are left out as HTA leaves
 * them out. With fewer than two steps, every op is analysed (and a note says so).
 */
export function buildRankViews(model: TraceModel, opts: RankViewOptions = {}): RankView[] {
  // Kernel names repeat (and C++ ones are long): classify each distinct name once.
  const classOfName = new Map<string, KernelClass | undefined>();
  const classify = (s: Slice): KernelClass | undefined => {
    if (s.category !== 'kernel') return classifyGpuSlice(s);
    let c = classOfName.get(s.name);
    if (c === undefined && !classOfName.has(s.name)) {
      c = classifyGpuSlice(s);
      classOfName.set(s.name, c);
    }
    return c;
  };
  const pidOfTrack = model.tracks.map((t) => t.pid);
  const gpuTrack = model.tracks.map((t) => t.gpu && t.type === 'slice');
  const byPid = new Map<number, RankEntry>();
  // Each process's launch map is sized for its runtime calls (grown from empty, a rank's map was
  // rehashed and reallocated a dozen times).
  const runtimeOnTrack = runtimeCallsOnTracks(model.slices, model.tracks.length);
  const runtimeOfPid = new Map<number, number>();
  pidOfTrack.forEach((pid, t) => {
    if (runtimeOnTrack[t] > 0) runtimeOfPid.set(pid, (runtimeOfPid.get(pid) ?? 0) + runtimeOnTrack[t]);
  });
  const table = opts.launches;
  if (table && model.processes.length !== 1)
    throw new Error(`buildRankViews: a launch table is for a model of one process, not ${model.processes.length}`);
  const tablePid = table ? model.processes[0].pid : undefined;
  if (tablePid !== undefined) runtimeOfPid.set(tablePid, (runtimeOfPid.get(tablePid) ?? 0) + table!.correlation.length);
  const entry = (pid: number) => {
    let e = byPid.get(pid);
    if (!e) {
      e = { ops: [], steps: [], launch: new NumberMap(runtimeOfPid.get(pid) ?? 0), cpu: [], cpuComm: 0 };
      byPid.set(pid, e);
    }
    return e;
  };
  for (const p of model.processes) entry(p.pid);
  if (table) {
    // No correlation is both here and on a runtime slice (kinetoRank.ts keeps them all as slices then).
    const launch = entry(tablePid!).launch;
    for (let k = 0; k < table.correlation.length; k++) launch.set(table.correlation[k], table.startNs[k]);
  }
  const slices = model.slices;
  collectRankSlices(slices, pidOfTrack, gpuTrack, byPid, entry, classify);
  const cpuOnly = new Set([...byPid].filter(([, e]) => e.ops.length === 0 && e.cpuComm > 0).map(([pid]) => pid));
  if (cpuOnly.size > 0) collectCpuTimeline(model, pidOfTrack, cpuOnly, (pid) => entry(pid).cpu);
  const rankOf = new Map(model.processes.map((p) => [p.pid, p.rank ?? p.pid]));
  const views: RankView[] = [];
  for (const [pid, e] of byPid) {
    const notes: string[] = [];
    const rank = rankOf.get(pid) ?? pid;
    const cpuTimeline = e.ops.length === 0 && e.cpuComm > 0;
    if (cpuTimeline) {
      e.ops = e.cpu;
      notes.push(
        `rank ${rank}: no GPU activity in the trace: communication is analysed on the CPU timeline (${e.cpuComm} CPU collective(s) as communication, outermost aten:: ops as computation); GPU kernel metrics need a trace recorded with ProfilerActivity.CUDA`,
      );
    }
    const hasLaunchTimes = e.launch.size > 0 && !cpuTimeline;
    setLaunchTimes(e.ops, slices, e.launch);
    e.ops.sort((a, b) => a.startNs - b.startNs || a.endNs - b.endNs);
    e.steps.sort((a, b) => a.startNs - b.startNs);
    assignSteps(e.ops, slices, stepFinder(e.steps), hasLaunchTimes);
    let ops = e.ops;
    let analysedSteps = e.steps;
    if (hasLaunchTimes) {
      const missing = ops.filter((o) => o.launchNs === undefined).length;
      if (missing > 0 && e.steps.length >= 2)
        notes.push(
          `rank ${rank}: ${missing} GPU op(s) have no launch call in the trace and are left out (as HTA does)`,
        );
    }
    if (e.ops.length === 0) {
      notes.push(`rank ${rank}: no GPU kernels in the trace, so the GPU time metrics cannot be computed`);
    } else if (e.steps.length >= 2) {
      const lastStart = Math.max(...e.steps.map((s) => s.startNs));
      const lastEnd = Math.max(...e.steps.map((s) => s.endNs));
      ops = e.ops.filter((o) => {
        const t = hasLaunchTimes ? o.launchNs : o.startNs;
        if (t === undefined) return false;
        return opts.includeLastStep ? t <= lastEnd : t < lastStart;
      });
      if (!opts.includeLastStep) analysedSteps = e.steps.filter((s) => s.startNs < lastStart);
    } else {
      notes.push(
        e.steps.length === 0
          ? `rank ${rank}: no step markers (ProfilerStep#N / step N), so every kernel is analysed as one window and per-step metrics are not available`
          : `rank ${rank}: only one step marker, so the last step cannot be left out; every kernel is analysed`,
      );
    }
    views.push({
      pid,
      rank,
      allOps: e.ops,
      ops,
      steps: e.steps,
      analysedSteps,
      hasLaunchTimes,
      notes,
      ...(cpuTimeline ? { cpuTimeline } : {}),
    });
  }
  views.sort((a, b) => a.rank - b.rank);
  return views;
}

// buildRankViews' loops, each a function of its own (index loops: thousands of slices and ops
// per rank, run before V8 optimises this code). V8 compiles a loop that runs long by on-stack
// replacement of the function it is in: with the loops inline, buildRankViews (the whole
// function) was compiled again for each of them, 70–170 ms a time on a 20 MB rank.

function runtimeCallsOnTracks(slices: readonly Slice[], tracks: number): Int32Array {
  const n = new Int32Array(tracks);
  for (let i = 0; i < slices.length; i++) if (slices[i].category === 'runtime') n[slices[i].track]++;
  return n;
}

interface RankEntry {
  ops: GpuOp[];
  steps: StepWindow[];
  launch: NumberMap;
  cpu: GpuOp[];
  cpuComm: number;
}

/** Each process's GPU ops, CPU collectives, launch times and step markers, from its slices. */
function collectRankSlices(
  slices: readonly Slice[],
  pidOfTrack: readonly number[],
  gpuTrack: readonly boolean[],
  byPid: Map<number, RankEntry>,
  entry: (pid: number) => RankEntry,
  classify: (s: Slice) => KernelClass | undefined,
): void {
  // Slices come track by track: the process's entry is looked up when the track changes.
  let lastTrack = -1;
  let pid: number | undefined;
  // The entry of `pid`, made (as before) only when a slice of it counts.
  let e: RankEntry | undefined;
  for (let i = 0; i < slices.length; i++) {
    const s = slices[i];
    if (s.track !== lastTrack) {
      lastTrack = s.track;
      pid = pidOfTrack[s.track];
      e = pid === undefined ? undefined : byPid.get(pid);
    }
    if (pid === undefined) continue;
    if (gpuTrack[s.track]) {
      const cls = classify(s);
      if (cls)
        (e ??= entry(pid)).ops.push({ index: i, track: s.track, startNs: s.startNs, endNs: s.startNs + s.durNs, cls });
    } else if (s.category === 'collective') {
      (e ??= entry(pid)).cpuComm++;
    } else if (s.category === 'runtime') {
      const c = s.args?.correlation;
      if (typeof c === 'number') (e ??= entry(pid)).launch.set(c, s.startNs);
    } else if (s.category === 'step') {
      const n = stepNumberOf(s);
      if (n !== undefined)
        (e ??= entry(pid)).steps.push({ step: n, startNs: s.startNs, endNs: s.startNs + s.durNs, index: i });
    }
  }
}

function setLaunchTimes(ops: GpuOp[], slices: readonly Slice[], launch: NumberMap): void {
  for (let k = 0; k < ops.length; k++) {
    const op = ops[k];
    const c = slices[op.index].args?.correlation;
    if (typeof c === 'number') op.launchNs = launch.get(c);
  }
}

function assignSteps(
  ops: GpuOp[],
  slices: readonly Slice[],
  stepOf: (t: number) => StepWindow | undefined,
  hasLaunchTimes: boolean,
): void {
  for (let k = 0; k < ops.length; k++) {
    const op = ops[k];
    const t = hasLaunchTimes ? op.launchNs : op.startNs;
    if (t === undefined) continue;
    const st = stepOf(t);
    if (st !== undefined) op.step = st.step;
    if (op.step === undefined && !hasLaunchTimes) {
      const fromArgs = slices[op.index].args?.step;
      if (typeof fromArgs === 'number') op.step = fromArgs;
    }
  }
}

/**
 * The step window of a time, as HTA assigns it: of the windows (sorted by start) that contain
 * `t` (start ≤ t < end), the last one wins. A binary search finds the last window that starts
 * at or before `t`; the scan back from it stops once no earlier window reaches past `t` (a
 * running maximum of the ends), so with disjoint windows it looks at one window, not at every
 * step of the rank for every op (which cost seconds on jobs of thousands of steps).
 */
export function stepFinder(steps: readonly StepWindow[]): (t: number) => StepWindow | undefined {
  const maxEnd = new Float64Array(steps.length);
  let m = -Infinity;
  for (let k = 0; k < steps.length; k++) maxEnd[k] = m = Math.max(m, steps[k].endNs);
  return (t) => {
    let lo = 0,
      hi = steps.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (steps[mid].startNs <= t) lo = mid + 1;
      else hi = mid;
    }
    for (let k = lo - 1; k >= 0 && maxEnd[k] > t; k--) {
      const st = steps[k];
      if (st.startNs <= t && t < st.endNs) return st;
    }
    return undefined;
  };
}

const byStepCache = new WeakMap<RankView, Map<number, GpuOp[]>>();

/**
 * The CPU timeline of ranks without GPU activity (a gloo job): their CPU collectives as
 * communication and their outermost aten:: ops as computation. A second pass over the slices,
 * taken only when such ranks exist, so that GPU traces pay nothing for it. Slices come sorted
 * by track, then start, so an aten:: op that starts before the last kept one ends is nested in it.
 */
function collectCpuTimeline(
  model: TraceModel,
  pidOfTrack: readonly number[],
  pids: ReadonlySet<number>,
  cpuOf: (pid: number) => GpuOp[],
): void {
  const slices = model.slices;
  let cpuTrack = -1,
    cpuEnd = -Infinity;
  for (let i = 0; i < slices.length; i++) {
    const s = slices[i];
    const pid = pidOfTrack[s.track];
    if (!pids.has(pid) || model.tracks[s.track].gpu) continue;
    if (s.category === 'collective') {
      cpuOf(pid).push({
        index: i,
        track: s.track,
        startNs: s.startNs,
        endNs: s.startNs + s.durNs,
        cls: 'communication',
      });
    } else if (s.category === 'cpu_op' && s.name.startsWith('aten::')) {
      if (s.track !== cpuTrack) {
        cpuTrack = s.track;
        cpuEnd = -Infinity;
      }
      if (s.startNs >= cpuEnd) {
        cpuOf(pid).push({
          index: i,
          track: s.track,
          startNs: s.startNs,
          endNs: s.startNs + s.durNs,
          cls: 'computation',
        });
        cpuEnd = s.startNs + s.durNs;
      }
    }
  }
}

/** The analysed ops of one step of a rank (all of them when `step` is undefined), grouped once and cached. */
export function opsOfStep(v: RankView, step: number | undefined): GpuOp[] {
  if (v.partial) {
    if (step !== undefined && !v.partial.stepsWithOps.has(step)) return [];
    if (step === undefined || !v.partial.fullSteps.has(step)) throw new PartialViewError(v.rank, step);
  }
  if (step === undefined) return v.ops;
  let m = byStepCache.get(v);
  if (!m) {
    m = new Map();
    for (let i = 0; i < v.ops.length; i++) {
      const o = v.ops[i];
      if (o.step === undefined) continue;
      let l = m.get(o.step);
      if (!l) {
        l = [];
        m.set(o.step, l);
      }
      l.push(o);
    }
    byStepCache.set(v, m);
  }
  return m.get(step) ?? [];
}
