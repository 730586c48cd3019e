/**
 * Compare: what changed between two analysed jobs (CommLens runs, PyTorch profiler traces,
 * or folders of rank traces), per step and per collective, beyond Holistic Trace Analysis'
 * trace diff (which gives per-name counts and total durations; that table is here too).
 *
 * - Steps: the steady-state steps of each job (warm-up left out, trace/warmup.ts), paired
 *   by step number when the jobs share step numbers, else in order; the pairing is said.
 * - Figures: step time, exposed communication, bytes per step and peak memory come from
 *   analysis.figures (analysis/runFigures.ts, one definition each); the speed-up is
 *   runFigures' speedupOf, always shown with its direction.
 * - Collectives: within each pair of steps, by kind (op) and process group, then by size
 *   and order within the step (the k-th 4 MiB all-reduce of A with the k-th 4 MiB one of
 *   B), then what is left of the same kind and group in order (its size changed). Per kind:
 *   count, bytes, total and median time, bus bandwidth (trace/collectives.ts definitions).
 * - Ops and kernels (needs the trace models): per name, count and total duration on one
 *   rank over the paired steps, each event in the step HTA puts it in (host events by their
 *   start, GPU events by the step of the runtime call that launched them), so the table
 *   equals HTA's TraceDiff.compare_traces on the same rank and steps.
 *
 * Works from the Analysis alone (a run's summary.json holds one) for everything but the
 * per-name table, so the extension's Compare Runs and the CLI share this code.
 */
import type { TraceModel } from '../trace/model';
import { median } from '../trace/stats';
import { busBandwidthFactor } from '../trace/collectives';
import { formatBytes, formatDurationNs, formatSpeedup, groupDigits } from '../trace/format';
import { speedupOf, type RunFigures } from './runFigures';
import { stepNumberOf } from './rankView';
import type { Analysis } from './types';

/** Version of the comparison's JSON (schemas/compare.schema.json); bump on breaking changes. */
export const COMPARE_SCHEMA_VERSION = 1;

/** Two jobs that cannot be compared, or an option that does not fit them: the message says what would. */
export class CompareError extends Error {}

/** One side of a comparison. */
export interface CompareInput {
  /** What this job is, in words (its path, and the run chosen in a folder). */
  label: string;
  analysis: Analysis;
  /** Its trace: the per-name table (HTA's trace diff) needs both models, else it is left out. */
  model?: TraceModel;
}

export interface CompareOptions {
  /** The rank of the per-rank parts (the per-name table; collective times): default, the lowest rank both have. */
  rank?: number;
  /** Rows of the per-name table and of the changed-collectives list (all when undefined). */
  top?: number;
}

export interface SideInfo {
  label: string;
  format: string;
  worldSize: number;
  ranks: number[];
  strategy?: string;
  warmupSteps: number[];
  steadySteps: number[];
}

/** A figure of both jobs and its change (b − a); a side without it leaves its fields out. */
export interface FigureDelta {
  a?: number;
  b?: number;
  delta?: number;
  /** b / a. */
  ratio?: number;
}

export interface StepPair {
  a: number;
  b: number;
  stepTimeNsA?: number;
  stepTimeNsB?: number;
  deltaNs?: number;
  /** Exposed communication of the step, mean over ranks (analysis.ranks[].steps). */
  exposedCommNsA?: number;
  exposedCommNsB?: number;
}

export interface KindStats {
  count: number;
  /** How many of them say their size (bytes and bus bandwidth are over these). */
  sizedCount: number;
  /** Σ buffer bytes (nccl-tests' S) of the collectives that say their size. */
  totalBytes: number;
  /** Σ time in the collective: on the chosen rank, else the mean over its participants. */
  totalTimeNs: number;
  medianTimeNs: number;
  /** Σ bytes × busBandwidthFactor / Σ transfer time (docs/figures.md); absent without sizes. */
  busbwGBps?: number;
  countPerStep: number;
  bytesPerStep: number;
  timePerStepNs: number;
}

export interface KindRow {
  op: string;
  group: string;
  a?: KindStats;
  b?: KindStats;
  /** b − a of timePerStepNs (a missing side counts 0). */
  deltaTimePerStepNs: number;
  status: 'both' | 'appeared' | 'disappeared';
}

export interface CollectivePair {
  stepA: number;
  stepB: number;
  op: string;
  group: string;
  bytesA?: number;
  bytesB?: number;
  timeNsA: number;
  timeNsB: number;
  deltaNs: number;
  /** How the two were paired: same size and order, or the same order once the sizes changed. */
  alignedBy: 'size and order' | 'order';
}

export interface OpRow {
  name: string;
  countA: number;
  countB: number;
  deltaCount: number;
  totalNsA: number;
  totalNsB: number;
  deltaNs: number;
  status: 'both' | 'appeared' | 'disappeared';
}

export interface Comparison {
  schemaVersion: number;
  a: SideInfo;
  b: SideInfo;
  steps: {
    alignedBy: 'step number' | 'order' | 'none';
    /** How the steps were paired, in words. */
    note: string;
    pairs: StepPair[];
  };
  figures: {
    stepTimeNs: FigureDelta;
    /** runFigures' speedupOf(a, b): > 1 is faster; `direction` says it in words (formatSpeedup). */
    speedup?: number;
    direction: string;
    exposedCommNs: FigureDelta;
    bytesPerStep: FigureDelta;
    peakMemoryBytes: FigureDelta;
  };
  collectives: {
    /** The rank whose time in each collective is taken; absent: the mean over participants. */
    rank?: number;
    /** Steps the per-step values are divided by: the paired steps in both analysed windows (1 when none). */
    steps: number;
    alignment: { bySizeAndOrder: number; byOrder: number; onlyA: number; onlyB: number };
    kinds: KindRow[];
    /** Paired collectives whose time changed most (|Δ| first), up to `top`. */
    changed: CollectivePair[];
  };
  /** HTA's trace diff and more: absent when a trace model is missing. */
  ops?: {
    rank: number;
    stepsA: number[];
    stepsB: number[];
    /** Names in either job, before `top` cut the rows. */
    names: number;
    rows: OpRow[];
    appeared: string[];
    disappeared: string[];
  };
  notes: string[];
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function sideInfo(x: CompareInput): SideInfo {
  const a = x.analysis;
  const ranks = Array.isArray(a.source?.ranksPresent) ? a.source.ranksPresent.filter((r) => num(r) !== undefined) : [];
  return {
    label: x.label,
    format: String(a.source?.format ?? 'unknown'),
    worldSize: num(a.source?.worldSize) ?? ranks.length,
    ranks,
    ...(typeof a.source?.strategy === 'string' ? { strategy: a.source.strategy } : {}),
    warmupSteps: (a.figures?.warmupSteps ?? []).filter((s) => num(s) !== undefined),
    steadySteps: (a.figures?.steadySteps ?? []).filter((s) => num(s) !== undefined),
  };
}

function figure(a: number | undefined, b: number | undefined): FigureDelta {
  return {
    ...(a !== undefined ? { a } : {}),
    ...(b !== undefined ? { b } : {}),
    ...(a !== undefined && b !== undefined ? { delta: b - a } : {}),
    ...(a !== undefined && b !== undefined && a !== 0 ? { ratio: b / a } : {}),
  };
}

function rangeText(steps: readonly number[]): string {
  if (steps.length === 0) return 'none';
  const contiguous = steps.every((s, i) => i === 0 || s === steps[i - 1] + 1);
  return steps.length > 2 && contiguous ? `${steps[0]}–${steps[steps.length - 1]}` : steps.join(', ');
}

/** Pairs the steady-state steps of A and B: by number when they share some, else in order. */
function alignSteps(a: SideInfo, b: SideInfo): Comparison['steps'] {
  if (a.steadySteps.length === 0 || b.steadySteps.length === 0) {
    const which = a.steadySteps.length === 0 ? (b.steadySteps.length === 0 ? 'neither job has' : 'A has') : 'B has';
    return {
      alignedBy: 'none',
      note: `${which} no steady-state steps (no step markers): the whole analysed windows are compared`,
      pairs: [],
    };
  }
  const inB = new Set(b.steadySteps);
  const common = a.steadySteps.filter((s) => inB.has(s));
  if (common.length > 0) {
    const left = [
      ...(a.steadySteps.length > common.length
        ? [`A's ${rangeText(a.steadySteps.filter((s) => !common.includes(s)))}`]
        : []),
      ...(b.steadySteps.length > common.length
        ? [`B's ${rangeText(b.steadySteps.filter((s) => !common.includes(s)))}`]
        : []),
    ];
    return {
      alignedBy: 'step number',
      note: `steady-state steps paired by step number: ${rangeText(common)} (${common.length} step${common.length === 1 ? '' : 's'})${left.length ? `; left out, in one job only: ${left.join(', ')}` : ''}`,
      pairs: common.map((s) => ({ a: s, b: s })),
    };
  }
  const n = Math.min(a.steadySteps.length, b.steadySteps.length);
  const pairs = a.steadySteps.slice(0, n).map((s, i) => ({ a: s, b: b.steadySteps[i] }));
  return {
    alignedBy: 'order',
    note: `the jobs share no step numbers (A: ${rangeText(a.steadySteps)}; B: ${rangeText(b.steadySteps)}): steady-state steps paired in order, ${n} pair${n === 1 ? '' : 's'}${a.steadySteps.length !== b.steadySteps.length ? `; the rest of the longer job left out` : ''}`,
    pairs,
  };
}

/** Exposed communication of a step, mean over the ranks that analysed it. */
function exposedOfStep(a: Analysis, step: number): number | undefined {
  const xs: number[] = [];
  for (const r of a.ranks ?? []) {
    const st = (r.steps ?? []).find((s) => s.step === step);
    const v = num(st?.overlap?.exposedCommNs);
    if (v !== undefined) xs.push(v);
  }
  return xs.length > 0 ? xs.reduce((x, y) => x + y, 0) / xs.length : undefined;
}

/** The steps some rank analysed (its ops are in the analysed window). */
function analysedSteps(a: Analysis): Set<number> {
  const out = new Set<number>();
  for (const r of a.ranks ?? []) for (const s of Array.isArray(r.stepsAnalysed) ? r.stepsAnalysed : []) out.add(s);
  return out;
}

function stepTimeOf(a: Analysis, step: number): number | undefined {
  return num((a.figures?.stepTimesNs ?? []).find((s) => s.step === step)?.timeNs);
}

/** A collective of one job as compare reads it (from analysis.collectives.instances). */
interface Coll {
  op: string;
  group: string;
  bytes?: number;
  groupSize: number;
  step?: number;
  start: number;
  timeNs: number;
  transferNs: number;
}

/** The collectives of a job, each with its time (rank `rank`'s, else the participants' mean), in start order. */
function collectivesOf(a: Analysis, rank: number | undefined): Coll[] {
  const out: Coll[] = [];
  const list: unknown = a.collectives?.instances;
  if (!Array.isArray(list)) return out;
  for (const x of list as Record<string, unknown>[]) {
    if (typeof x !== 'object' || x === null) continue;
    const op = x.op,
      participants = x.participants;
    if (typeof op !== 'string' || !Array.isArray(participants)) continue;
    const parts = (participants as Record<string, unknown>[]).filter(
      (p) => typeof p === 'object' && p !== null && num(p.durNs) !== undefined && num(p.startNs) !== undefined,
    );
    const mine = rank === undefined ? parts : parts.filter((p) => p.rank === rank);
    if (mine.length === 0) continue;
    out.push({
      op,
      group: typeof x.group === 'string' ? x.group : 'default',
      ...(num(x.bytes) !== undefined ? { bytes: x.bytes as number } : {}),
      groupSize: num(x.groupSize) ?? parts.length,
      ...(num(x.step) !== undefined ? { step: x.step as number } : {}),
      start: Math.min(...parts.map((p) => p.startNs as number)),
      timeNs: mine.reduce((t, p) => t + (p.durNs as number), 0) / mine.length,
      transferNs: num(x.transferNs) ?? 0,
    });
  }
  return out.sort((p, q) => p.start - q.start);
}

function kindKey(c: { op: string; group: string }): string {
  return `${c.op}\u0000${c.group}`;
}

/** Pairs the collectives of one step of A with one of B: by kind, group, size and order; then by order. */
function pairStep(
  xa: Coll[],
  xb: Coll[],
  stepA: number,
  stepB: number,
  out: CollectivePair[],
  count: Comparison['collectives']['alignment'],
): void {
  const byKind = (xs: Coll[]) => {
    const m = new Map<string, Coll[]>();
    for (const c of xs) m.set(kindKey(c), [...(m.get(kindKey(c)) ?? []), c]);
    return m;
  };
  const ka = byKind(xa),
    kb = byKind(xb);
  const pair = (p: Coll, q: Coll, alignedBy: CollectivePair['alignedBy']) =>
    out.push({
      stepA,
      stepB,
      op: p.op,
      group: p.group,
      ...(p.bytes !== undefined ? { bytesA: p.bytes } : {}),
      ...(q.bytes !== undefined ? { bytesB: q.bytes } : {}),
      timeNsA: p.timeNs,
      timeNsB: q.timeNs,
      deltaNs: q.timeNs - p.timeNs,
      alignedBy,
    });
  for (const key of new Set([...ka.keys(), ...kb.keys()])) {
    const la = ka.get(key) ?? [],
      lb = kb.get(key) ?? [];
    const usedA = new Set<Coll>(),
      usedB = new Set<Coll>();
    // Pass 1: the k-th collective of a size in A with the k-th of that size in B.
    const bySize = new Map<string, Coll[]>();
    for (const c of lb) bySize.set(String(c.bytes), [...(bySize.get(String(c.bytes)) ?? []), c]);
    for (const c of la) {
      const q = bySize.get(String(c.bytes))?.shift();
      if (!q) continue;
      usedA.add(c);
      usedB.add(q);
      pair(c, q, 'size and order');
      count.bySizeAndOrder++;
    }
    // Pass 2: what is left of the kind, in order (its size changed).
    const ra = la.filter((c) => !usedA.has(c)),
      rb = lb.filter((c) => !usedB.has(c));
    const n = Math.min(ra.length, rb.length);
    for (let i = 0; i < n; i++) {
      pair(ra[i], rb[i], 'order');
      count.byOrder++;
    }
    count.onlyA += ra.length - n;
    count.onlyB += rb.length - n;
  }
}

function kindStats(xs: Coll[], steps: number): KindStats {
  let bytes = 0,
    busNum = 0,
    busDen = 0,
    sized = 0;
  for (const c of xs) {
    if (c.bytes === undefined) continue;
    sized++;
    bytes += c.bytes;
    busNum += c.bytes * busBandwidthFactor(c.op, c.groupSize);
    busDen += c.transferNs;
  }
  const total = xs.reduce((t, c) => t + c.timeNs, 0);
  return {
    count: xs.length,
    sizedCount: sized,
    totalBytes: bytes,
    totalTimeNs: total,
    medianTimeNs: median(xs.map((c) => c.timeNs)),
    ...(sized > 0 && busDen > 0 ? { busbwGBps: busNum / busDen } : {}),
    countPerStep: xs.length / steps,
    bytesPerStep: bytes / steps,
    timePerStepNs: total / steps,
  };
}

/** Per-name count and total duration of one rank's events in the given steps (HTA's iteration rule). */
export function opTotalsOfRank(
  model: TraceModel,
  rank: number,
  steps: ReadonlySet<number> | undefined,
): Map<string, { count: number; totalNs: number }> {
  const pids = new Set(model.processes.filter((p) => (p.rank ?? p.pid) === rank).map((p) => p.pid));
  const onRank = (track: number) => {
    const t = model.tracks[track];
    return t !== undefined && pids.has(t.pid);
  };
  // The rank's steps: windows of its step slices, in start order.
  const windows: { step: number; start: number; end: number }[] = [];
  let hasRuntime = false;
  for (const s of model.slices) {
    if (!onRank(s.track)) continue;
    if (s.category === 'runtime' && typeof s.args?.correlation === 'number') hasRuntime = true;
    if (s.category !== 'step') continue;
    const n = stepNumberOf(s);
    if (n !== undefined) windows.push({ step: n, start: s.startNs, end: s.startNs + s.durNs });
  }
  windows.sort((p, q) => p.start - q.start);
  // HTA: the last step window (in order) that holds the time wins.
  const stepAt = (t: number): number | undefined => {
    let found: number | undefined;
    for (const w of windows) if (w.start <= t && t < w.end) found = w.step;
    return found;
  };
  const launchStep = new Map<number, number | undefined>();
  if (hasRuntime)
    for (const s of model.slices) {
      const c = s.args?.correlation;
      if (s.category === 'runtime' && typeof c === 'number' && onRank(s.track)) launchStep.set(c, stepAt(s.startNs));
    }
  const out = new Map<string, { count: number; totalNs: number }>();
  for (const s of model.slices) {
    if (!onRank(s.track)) continue;
    let step: number | undefined;
    if (steps !== undefined) {
      if (model.tracks[s.track].gpu) {
        // A GPU event is in the step of the call that launched it; without launch calls in the
        // trace (CommLens runs), in the step its start falls in, else the one its args name.
        const c = s.args?.correlation;
        if (hasRuntime) step = typeof c === 'number' ? launchStep.get(c) : undefined;
        else step = stepAt(s.startNs) ?? (typeof s.args?.step === 'number' ? s.args.step : undefined);
      } else step = stepAt(s.startNs);
      if (step === undefined || !steps.has(step)) continue;
    }
    const e = out.get(s.name) ?? { count: 0, totalNs: 0 };
    e.count++;
    e.totalNs += s.durNs;
    out.set(s.name, e);
  }
  return out;
}

/** The lowest rank both jobs have, or the asked one when both have it. */
function chooseRank(a: SideInfo, b: SideInfo, asked: number | undefined): number | undefined {
  if (asked !== undefined) {
    if (!a.ranks.includes(asked) || !b.ranks.includes(asked))
      throw new CompareError(
        `--rank ${asked}: A has ranks ${rangeText(a.ranks)} and B has ranks ${rangeText(b.ranks)}; give a rank both have`,
      );
    return asked;
  }
  return a.ranks.filter((r) => b.ranks.includes(r)).sort((x, y) => x - y)[0];
}

/**
 * Compares job B with job A (the baseline). Throws CompareError when the jobs cannot be
 * compared (different world sizes) or `opts.rank` is not a rank of both.
 */
export function compareJobs(A: CompareInput, B: CompareInput, opts: CompareOptions = {}): Comparison {
  const a = sideInfo(A),
    b = sideInfo(B);
  if (a.worldSize !== b.worldSize)
    throw new CompareError(
      `different world sizes: A has ${a.worldSize} rank${a.worldSize === 1 ? '' : 's'}, B has ${b.worldSize}; compare jobs of the same size (per-rank figures and collectives only line up then)`,
    );
  const rank = chooseRank(a, b, opts.rank);
  const notes: string[] = [];
  const steps = alignSteps(a, b);
  for (const p of steps.pairs) {
    const ta = stepTimeOf(A.analysis, p.a),
      tb = stepTimeOf(B.analysis, p.b);
    const ea = exposedOfStep(A.analysis, p.a),
      eb = exposedOfStep(B.analysis, p.b);
    Object.assign(p, {
      ...(ta !== undefined ? { stepTimeNsA: ta } : {}),
      ...(tb !== undefined ? { stepTimeNsB: tb } : {}),
      ...(ta !== undefined && tb !== undefined ? { deltaNs: tb - ta } : {}),
      ...(ea !== undefined ? { exposedCommNsA: ea } : {}),
      ...(eb !== undefined ? { exposedCommNsB: eb } : {}),
    });
  }
  const fa: Partial<RunFigures> = A.analysis.figures ?? {},
    fb: Partial<RunFigures> = B.analysis.figures ?? {};
  const stepTime = figure(num(fa.stepTimeNs), num(fb.stepTimeNs));
  const speedup =
    stepTime.a !== undefined && stepTime.b !== undefined && stepTime.b > 0
      ? speedupOf(stepTime.a, stepTime.b)
      : undefined;

  // Collectives, per pair of steps (or the whole windows when there are no steps).
  const collRank = opts.rank;
  const ca = collectivesOf(A.analysis, collRank),
    cb = collectivesOf(B.analysis, collRank);
  const alignment = { bySizeAndOrder: 0, byOrder: 0, onlyA: 0, onlyB: 0 };
  const pairs: CollectivePair[] = [];
  let inA: Coll[], inB: Coll[];
  // Collectives are those of the analysed window, which leaves out a trace's last step (as
  // HTA does; --include-last-step keeps it): only the pairs of analysed steps count.
  const analysedA = analysedSteps(A.analysis),
    analysedB = analysedSteps(B.analysis);
  const collPairs = steps.pairs.filter((p) => analysedA.has(p.a) && analysedB.has(p.b));
  if (collPairs.length < steps.pairs.length && collPairs.length > 0)
    notes.push(
      `collectives are compared over ${collPairs.length} of the ${steps.pairs.length} paired steps: the others are outside the analysed window (a trace's last step is left out, as HTA does; --include-last-step keeps it)`,
    );
  if (collPairs.length > 0) {
    const sa = new Set(collPairs.map((p) => p.a)),
      sb = new Set(collPairs.map((p) => p.b));
    inA = ca.filter((c) => c.step !== undefined && sa.has(c.step));
    inB = cb.filter((c) => c.step !== undefined && sb.has(c.step));
    for (const p of collPairs)
      pairStep(
        inA.filter((c) => c.step === p.a),
        inB.filter((c) => c.step === p.b),
        p.a,
        p.b,
        pairs,
        alignment,
      );
  } else {
    if (steps.pairs.length > 0)
      notes.push(
        'no paired step is in both analysed windows: collectives are compared over the whole analysed windows',
      );
    inA = ca;
    inB = cb;
    pairStep(inA, inB, -1, -1, pairs, alignment);
  }
  const nSteps = Math.max(1, collPairs.length);
  const kinds: KindRow[] = [];
  const keys = new Map<string, { op: string; group: string }>();
  for (const c of [...inA, ...inB]) keys.set(kindKey(c), { op: c.op, group: c.group });
  for (const [key, k] of keys) {
    const xa = inA.filter((c) => kindKey(c) === key),
      xb = inB.filter((c) => kindKey(c) === key);
    const sa = xa.length > 0 ? kindStats(xa, nSteps) : undefined;
    const sb = xb.length > 0 ? kindStats(xb, nSteps) : undefined;
    kinds.push({
      op: k.op,
      group: k.group,
      ...(sa ? { a: sa } : {}),
      ...(sb ? { b: sb } : {}),
      deltaTimePerStepNs: (sb?.timePerStepNs ?? 0) - (sa?.timePerStepNs ?? 0),
      status: sa && sb ? 'both' : sb ? 'appeared' : 'disappeared',
    });
  }
  kinds.sort(
    (p, q) =>
      Math.abs(q.deltaTimePerStepNs) - Math.abs(p.deltaTimePerStepNs) ||
      (kindKey(p) < kindKey(q) ? -1 : kindKey(p) > kindKey(q) ? 1 : 0),
  );
  const top = opts.top ?? Infinity;
  const changed = pairs
    .filter((p) => p.deltaNs !== 0 || p.bytesA !== p.bytesB)
    .sort((p, q) => Math.abs(q.deltaNs) - Math.abs(p.deltaNs))
    .slice(0, top);
  if (ca.length === 0 && cb.length === 0) notes.push('neither job has collectives in its analysed window');
  if (alignment.byOrder > 0)
    notes.push(
      `${alignment.byOrder} collective(s) paired by order within their step and kind after their size changed`,
    );

  // Per-name counts and durations (HTA's trace diff), on one rank, over the paired steps.
  let ops: Comparison['ops'];
  if (A.model && B.model && rank !== undefined) {
    const stepsA = steps.pairs.map((p) => p.a),
      stepsB = steps.pairs.map((p) => p.b);
    const ta = opTotalsOfRank(A.model, rank, steps.pairs.length > 0 ? new Set(stepsA) : undefined);
    const tb = opTotalsOfRank(B.model, rank, steps.pairs.length > 0 ? new Set(stepsB) : undefined);
    const rows: OpRow[] = [];
    for (const name of new Set([...ta.keys(), ...tb.keys()])) {
      const x = ta.get(name) ?? { count: 0, totalNs: 0 },
        y = tb.get(name) ?? { count: 0, totalNs: 0 };
      rows.push({
        name,
        countA: x.count,
        countB: y.count,
        deltaCount: y.count - x.count,
        totalNsA: x.totalNs,
        totalNsB: y.totalNs,
        deltaNs: y.totalNs - x.totalNs,
        status: x.count === 0 ? 'appeared' : y.count === 0 ? 'disappeared' : 'both',
      });
    }
    rows.sort(
      (p, q) =>
        Math.abs(q.deltaNs) - Math.abs(p.deltaNs) ||
        Math.abs(q.deltaCount) - Math.abs(p.deltaCount) ||
        (p.name < q.name ? -1 : p.name > q.name ? 1 : 0),
    );
    ops = {
      rank,
      stepsA,
      stepsB,
      names: rows.length,
      rows: rows.slice(0, top),
      appeared: rows.filter((r) => r.status === 'appeared').map((r) => r.name),
      disappeared: rows.filter((r) => r.status === 'disappeared').map((r) => r.name),
    };
  } else if (!A.model || !B.model) notes.push('the per-name table needs both traces; it is left out');
  return {
    schemaVersion: COMPARE_SCHEMA_VERSION,
    a,
    b,
    steps,
    figures: {
      stepTimeNs: stepTime,
      ...(speedup !== undefined && Number.isFinite(speedup) ? { speedup } : {}),
      direction: speedup !== undefined ? formatSpeedup(speedup) : '–',
      exposedCommNs: figure(num(fa.exposedCommNs), num(fb.exposedCommNs)),
      bytesPerStep: figure(num(fa.bytesPerStep), num(fb.bytesPerStep)),
      peakMemoryBytes: figure(num(fa.peakMemoryBytes), num(fb.peakMemoryBytes)),
    },
    collectives: {
      ...(collRank !== undefined ? { rank: collRank } : {}),
      steps: nSteps,
      alignment,
      kinds,
      changed,
    },
    ...(ops ? { ops } : {}),
    notes,
  };
}

/**
 * An Analysis read from a file (a run's summary.json): the fields compare reads, checked
 * for their shape; undefined when it is not one.
 */
export function comparableAnalysis(x: unknown): Analysis | undefined {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return undefined;
  const a = x as Record<string, unknown>;
  const f = a.figures as Record<string, unknown> | undefined;
  const s = a.source as Record<string, unknown> | undefined;
  if (typeof f !== 'object' || f === null || !Array.isArray(f.stepTimesNs) || !Array.isArray(f.steadySteps))
    return undefined;
  if (typeof s !== 'object' || s === null || !Array.isArray(s.ranksPresent)) return undefined;
  if (!Array.isArray(a.ranks)) return undefined;
  return x as Analysis;
}

// ---------------------------------------------------------------------------------------
// Text for people: the CLI prints compareText; the extension shows collectiveTableMarkdown.

function signedNs(ns: number): string {
  return ns > 0 ? `+${formatDurationNs(ns)}` : ns < 0 ? `−${formatDurationNs(-ns)}` : '0';
}

function signedBytes(b: number): string {
  return b > 0 ? `+${formatBytes(b)}` : b < 0 ? `−${formatBytes(-b)}` : '0';
}

function pct(d: FigureDelta): string {
  return d.ratio !== undefined && d.a !== 0
    ? ` (${d.ratio >= 1 ? '+' : '−'}${Math.abs((d.ratio - 1) * 100).toFixed(1)} %)`
    : '';
}

function arrow(a: string, b: string): string {
  return `${a} → ${b}`;
}

function table(head: string[], rows: string[][], right: boolean[]): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : right[i] ? c.padStart(w[i]) : c.padEnd(w[i])))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)];
}

function shortName(name: string, max = 100): string {
  return name.length <= max ? name : `${name.slice(0, max - 1)}…`;
}

function bw(x: number | undefined): string {
  return x === undefined ? '–' : `${Number(x.toPrecision(3))} GB/s`;
}

/** Bytes per step of a kind: '–' when none of its collectives says its size (0 when the kind is absent). */
function kindBytes(k: KindStats | undefined): string {
  return k === undefined ? '0 B' : k.sizedCount === 0 ? '–' : formatBytes(k.bytesPerStep);
}

function kindName(k: { op: string; group: string }, groups: number): string {
  return groups > 1 ? `${k.op} (${k.group})` : k.op;
}

function sideLine(s: SideInfo): string {
  const what = s.format === 'commlens' ? 'CommLens run' : s.format === 'kineto' ? 'PyTorch profiler' : s.format;
  return `${s.label} (${what}, ${s.worldSize} rank${s.worldSize === 1 ? '' : 's'}${s.strategy ? `, ${s.strategy}` : ''}; steady-state steps ${rangeText(s.steadySteps)}${s.warmupSteps.length ? `, warm-up step${s.warmupSteps.length === 1 ? '' : 's'} ${rangeText(s.warmupSteps)} left out` : ''})`;
}

/** The comparison for a terminal: what A and B are, the headline with its direction, then the tables. */
export function compareText(c: Comparison): string {
  const L: string[] = [];
  L.push(`A  ${sideLine(c.a)}`, `B  ${sideLine(c.b)}`, '');
  const f = c.figures;
  const dur = (x?: number) => formatDurationNs(x);
  const byt = (x?: number) => (x === undefined ? '–' : formatBytes(x));
  L.push(
    ...table(
      ['', 'A → B', 'change'],
      [
        ['step time', arrow(dur(f.stepTimeNs.a), dur(f.stepTimeNs.b)), f.direction],
        [
          'exposed communication per step',
          arrow(dur(f.exposedCommNs.a), dur(f.exposedCommNs.b)),
          f.exposedCommNs.delta !== undefined ? `${signedNs(f.exposedCommNs.delta)}${pct(f.exposedCommNs)}` : '–',
        ],
        [
          'bytes per rank per step',
          arrow(byt(f.bytesPerStep.a), byt(f.bytesPerStep.b)),
          f.bytesPerStep.delta !== undefined ? `${signedBytes(f.bytesPerStep.delta)}${pct(f.bytesPerStep)}` : '–',
        ],
        [
          'peak memory (fullest rank)',
          arrow(byt(f.peakMemoryBytes.a), byt(f.peakMemoryBytes.b)),
          f.peakMemoryBytes.delta !== undefined
            ? `${signedBytes(f.peakMemoryBytes.delta)}${pct(f.peakMemoryBytes)}`
            : '–',
        ],
      ],
      [false, false, false],
    ),
  );
  L.push('', `Steps: ${c.steps.note}.`);
  if (c.steps.pairs.length > 0) {
    L.push(
      ...table(
        ['step A ↔ B', 'time A → B', 'Δ', 'exposed comm A → B'],
        c.steps.pairs.map((p) => [
          `${p.a} ↔ ${p.b}`,
          arrow(dur(p.stepTimeNsA), dur(p.stepTimeNsB)),
          p.deltaNs !== undefined ? signedNs(p.deltaNs) : '–',
          arrow(dur(p.exposedCommNsA), dur(p.exposedCommNsB)),
        ]),
        [false, false, true, false],
      ).map((l) => `  ${l}`),
    );
  }
  const k = c.collectives;
  L.push(
    '',
    `Collectives per step (${k.rank !== undefined ? `time on rank ${k.rank}` : 'time: mean over the ranks taking part'}; paired ${k.alignment.bySizeAndOrder} by kind, size and order${k.alignment.byOrder ? `, ${k.alignment.byOrder} by order after a size change` : ''}; only in A ${k.alignment.onlyA}, only in B ${k.alignment.onlyB}):`,
  );
  if (k.kinds.length === 0) L.push('  none');
  else {
    const groups = new Set(k.kinds.map((x) => x.group)).size;
    const n = (x?: number) => (x === undefined ? '0' : String(Number(x.toFixed(2))));
    L.push(
      ...table(
        ['kind', 'count A → B', 'bytes A → B', 'time A → B', 'Δ time', 'median A → B', 'busbw A → B', ''],
        k.kinds.map((x) => [
          kindName(x, groups),
          arrow(n(x.a?.countPerStep), n(x.b?.countPerStep)),
          arrow(kindBytes(x.a), kindBytes(x.b)),
          arrow(dur(x.a?.timePerStepNs ?? 0), dur(x.b?.timePerStepNs ?? 0)),
          signedNs(x.deltaTimePerStepNs),
          arrow(x.a ? dur(x.a.medianTimeNs) : '–', x.b ? dur(x.b.medianTimeNs) : '–'),
          arrow(bw(x.a?.busbwGBps), bw(x.b?.busbwGBps)),
          x.status === 'both' ? '' : x.status,
        ]),
        [false, true, true, true, true, true, true, false],
      ).map((l) => `  ${l}`),
    );
    if (k.changed.length > 0) {
      L.push(
        '',
        `Collectives that changed most (of ${groupDigits(k.alignment.bySizeAndOrder + k.alignment.byOrder)} paired):`,
      );
      L.push(
        ...table(
          ['step A ↔ B', 'kind', 'bytes A → B', 'time A → B', 'Δ'],
          k.changed.map((p) => [
            p.stepA < 0 ? 'window' : `${p.stepA} ↔ ${p.stepB}`,
            kindName(p, groups),
            arrow(
              p.bytesA !== undefined ? formatBytes(p.bytesA) : '–',
              p.bytesB !== undefined ? formatBytes(p.bytesB) : '–',
            ),
            arrow(dur(p.timeNsA), dur(p.timeNsB)),
            signedNs(p.deltaNs),
          ]),
          [false, false, true, true, true],
        ).map((l) => `  ${l}`),
      );
    }
  }
  if (c.ops) {
    const o = c.ops;
    L.push(
      '',
      `Ops and kernels on rank ${o.rank}, count and total time over the paired steps (as HTA's trace diff), ${o.rows.length < o.names ? `top ${o.rows.length} of ${groupDigits(o.names)} names` : `${groupDigits(o.names)} names`} by |Δ time|:`,
    );
    L.push(
      ...table(
        ['Δ time', 'time A → B', 'count A → B', 'name'],
        o.rows.map((r) => [
          signedNs(r.deltaNs),
          arrow(dur(r.totalNsA), dur(r.totalNsB)),
          arrow(String(r.countA), String(r.countB)),
          `${shortName(r.name)}${r.status === 'both' ? '' : ` (${r.status})`}`,
        ]),
        [true, true, true, false],
      ).map((l) => `  ${l}`),
    );
    const list = (xs: string[]) =>
      xs.length === 0
        ? 'none'
        : `${xs
            .slice(0, 5)
            .map((x) => shortName(x, 60))
            .join('; ')}${xs.length > 5 ? `; and ${xs.length - 5} more` : ''}`;
    L.push(`  appeared in B (${o.appeared.length}): ${list(o.appeared)}`);
    L.push(`  disappeared from A (${o.disappeared.length}): ${list(o.disappeared)}`);
  }
  if (c.notes.length > 0) L.push('', ...c.notes.map((n) => `note: ${n}`));
  return L.join('\n') + '\n';
}

/** The per-collective table as Markdown (Compare Runs in the extension). */
export function collectiveTableMarkdown(c: Comparison): string {
  const k = c.collectives;
  const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = [
    `Steps: ${esc(c.steps.note)}. Collectives ${k.rank !== undefined ? `on rank ${k.rank}` : '(time: mean over the ranks taking part)'}, per step; paired ${k.alignment.bySizeAndOrder} by kind, size and order, ${k.alignment.byOrder} by order after a size change; only in A ${k.alignment.onlyA}, only in B ${k.alignment.onlyB}.`,
    '',
  ];
  if (k.kinds.length === 0) return [...lines, 'No collectives in either run.', ''].join('\n');
  const groups = new Set(k.kinds.map((x) => x.group)).size;
  const n = (x?: number) => (x === undefined ? '0' : String(Number(x.toFixed(2))));
  lines.push('| collective | count | bytes | time | Δ time | median | busbw | |', '|---|---|---|---|---|---|---|---|');
  for (const x of k.kinds)
    lines.push(
      `| ${esc(kindName(x, groups))} | ${n(x.a?.countPerStep)} → ${n(x.b?.countPerStep)} | ${kindBytes(x.a)} → ${kindBytes(x.b)} | ${formatDurationNs(x.a?.timePerStepNs ?? 0)} → ${formatDurationNs(x.b?.timePerStepNs ?? 0)} | ${signedNs(x.deltaTimePerStepNs)} | ${x.a ? formatDurationNs(x.a.medianTimeNs) : '–'} → ${x.b ? formatDurationNs(x.b.medianTimeNs) : '–'} | ${bw(x.a?.busbwGBps)} → ${bw(x.b?.busbwGBps)} | ${x.status === 'both' ? '' : x.status} |`,
    );
  return lines.join('\n') + '\n';
}
