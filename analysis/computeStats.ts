/**
 * Achieved FLOP/s, model FLOPs utilisation (MFU) and memory per rank by kind.
 */
import type { TraceModel } from '../trace/model';
import type { RankView } from './rankView';
import type { RunInfo } from './runInfo';
import { median } from '../trace/stats';
import type { MemoryKind, RankFlopsBase, RankMemory } from './rankFigures';

export type { MemoryKind, RankFlopsBase, RankMemory } from './rankFigures';

/**
 * FLOPs of one slice: `args.flops` when the producer recorded it (CommLens kernels, PyTorch
 * ops profiled with `with_flops=True`), else 2·M·N·K for a name like `matmul 64x128x32 …`.
 */
export function flopsOfSlice(name: string, args: Record<string, unknown> | undefined): number | undefined {
  const f = args?.flops;
  if (typeof f === 'number' && Number.isFinite(f)) return f;
  const m = /matmul\s+(\d+)x(\d+)x(\d+)/i.exec(name);
  if (m) return 2 * Number(m[1]) * Number(m[2]) * Number(m[3]);
  return undefined;
}

export interface RankFlops {
  rank: number;
  /** FLOPs counted over the analysed window. */
  flops: number;
  /** Where the count came from. */
  source: 'kernels' | 'cpu_ops' | 'config';
  /** Steps × median step time, the denominator (or the analysed span without steps). */
  timeNs: number;
  /** flops / time. */
  achievedFlops: number;
  /** achieved / peak, when the device's peak is known. */
  mfu?: number;
}

/**
 * Achieved FLOP/s per rank = FLOPs of the analysed steps / (their number × the median step
 * duration), with FLOPs
 * from the GPU kernels, else from CPU ops that carry `flops`, else flopsPerStep × steps from
 * the run config. MFU = achieved / peak FLOP/s of the device (run config).
 */
export function flopsPerRank(model: TraceModel, views: RankView[], info: RunInfo): RankFlops[] {
  const out: RankFlops[] = [];
  // CPU ops that carry `flops`, gathered in one pass over the slices when a rank first needs them.
  let cpuOps: { pid: number; startNs: number; flops: number }[] | undefined;
  const cpuOpsOf = () => (cpuOps ??= cpuOpsWithFlops(model));
  for (const v of views) {
    const base = v.partial ? v.partial.digest.flops : rankFlopsBase(model, v, cpuOpsOf);
    if (!base) continue;
    let flops = base.flops;
    let source: RankFlops['source'] = base.source;
    if (flops === 0 && info.flopsPerStep && base.steps > 0) {
      flops = info.flopsPerStep * base.steps;
      source = 'config';
    }
    if (flops === 0) continue;
    const achievedFlops = flops / (base.timeNs / 1e9);
    out.push({
      rank: v.rank,
      flops,
      source,
      timeNs: base.timeNs,
      achievedFlops,
      mfu: info.peakFlops ? achievedFlops / info.peakFlops : undefined,
    });
  }
  return out;
}

/** The part of flopsPerRank that reads the rank's ops (all of them): see flopsPerRank. */
export function rankFlopsBase(
  model: TraceModel,
  v: RankView,
  cpuOpsOf: () => { pid: number; startNs: number; flops: number }[] = () => cpuOpsWithFlops(model),
): RankFlopsBase | undefined {
  const steps = v.analysedSteps;
  // Time: the median step × the number of steps, so a warm-up step does not drag the rate down.
  const medianStep = median(steps.map((s) => s.endNs - s.startNs));
  const timeNs =
    steps.length > 0
      ? medianStep * steps.length
      : v.ops.length > 0
        ? v.ops[v.ops.length - 1].endNs - v.ops[0].startNs
        : 0;
  if (timeNs <= 0) return undefined;
  let flops = 0;
  let source: RankFlopsBase['source'] = 'kernels';
  const byName = new Map<string, number>();
  // Index loops over ops and slices: this runs mostly unoptimised, where for…of allocates per element.
  for (let k = 0; k < v.ops.length; k++) {
    const s = model.slices[v.ops[k].index];
    if (typeof s.args?.flops === 'number') {
      flops += s.args.flops;
      continue;
    }
    let f = byName.get(s.name);
    if (f === undefined) {
      f = flopsOfSlice(s.name, undefined) ?? 0;
      byName.set(s.name, f);
    }
    flops += f;
  }
  if (flops === 0 && steps.length > 0) {
    // PyTorch's with_flops puts `flops` on CPU ops; count those inside the analysed steps.
    for (const c of cpuOpsOf()) {
      if (c.pid !== v.pid) continue;
      let inStep = false;
      for (let k = 0; k < steps.length && !inStep; k++)
        inStep = c.startNs >= steps[k].startNs && c.startNs < steps[k].endNs;
      if (inStep) flops += c.flops;
    }
    source = 'cpu_ops';
  }
  return { flops, source, timeNs, steps: steps.length };
}

/** The CPU ops that carry a numeric `flops` arg, in slice order, with their rank's pid. */
function cpuOpsWithFlops(model: TraceModel): { pid: number; startNs: number; flops: number }[] {
  const out: { pid: number; startNs: number; flops: number }[] = [];
  // An index loop without closures: this visits every slice, mostly before V8 optimises it.
  for (let i = 0; i < model.slices.length; i++) {
    const s = model.slices[i];
    const flops = s.category === 'cpu_op' ? s.args?.flops : undefined;
    if (typeof flops === 'number') out.push({ pid: model.tracks[s.track].pid, startNs: s.startNs, flops });
  }
  return out;
}

/** max over t of Σ_k value_k(t), each series a step function of its samples. */
function peakOfSum(series: { tsNs: number[]; values: number[] }[]): number {
  const times = [...new Set(series.flatMap((s) => s.tsNs))].sort((a, b) => a - b);
  const idx = series.map(() => -1);
  let peak = 0;
  for (const t of times) {
    let sum = 0;
    series.forEach((s, k) => {
      while (idx[k] + 1 < s.tsNs.length && s.tsNs[idx[k] + 1] <= t) idx[k]++;
      if (idx[k] >= 0) sum += s.values[idx[k]];
    });
    if (sum > peak) peak = sum;
  }
  return peak;
}

/**
 * Memory per rank by kind, from the rank's counter tracks in bytes whose name says memory
 * (CommLens' `memory: parameters`, `memory: gradients`…, Kineto's `memory allocated (gpu0)`).
 */
export function memoryPerRank(model: TraceModel, views: RankView[]): RankMemory[] {
  const out: RankMemory[] = [];
  for (const v of views) {
    const m = v.partial ? v.partial.digest.memory : rankMemory(model, v);
    if (m) out.push(m);
  }
  return out;
}

/** One rank's memory (memoryPerRank), undefined when it has no memory counters. */
export function rankMemory(model: TraceModel, v: RankView): RankMemory | undefined {
  const kinds: MemoryKind[] = [];
  const series: { tsNs: number[]; values: number[] }[] = [];
  let total: number | undefined;
  for (const c of model.counters) {
    const t = model.tracks[c.track];
    if (!t || t.pid !== v.pid || !isMemoryCounter(t.unit, t.name) || c.values.length === 0) continue;
    let peak = -Infinity;
    for (const x of c.values) if (x > peak) peak = x;
    kinds.push({ kind: t.name, peakBytes: peak, lastBytes: c.values[c.values.length - 1] });
    if (/total/i.test(t.name)) total = peak;
    else series.push(c);
  }
  if (kinds.length === 0) return undefined;
  return { rank: v.rank, kinds, peakBytes: total ?? peakOfSum(series) };
}

/** The counters memoryPerRank reads: in bytes, named for memory. */
export function isMemoryCounter(unit: string | undefined, name: string): boolean {
  return unit === 'bytes' && /mem/i.test(name);
}
