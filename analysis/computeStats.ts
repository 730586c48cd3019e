/**
 * Achieved FLOP/s, model FLOPs utilisation (MFU) and memory per rank by kind.
 */
import type { TraceModel } from '../trace/model';
import type { RankView } from './rankView';
import type { RunInfo } from './runInfo';

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
  /** Mean step time used as the denominator (or the analysed span without steps). */
  timeNs: number;
  /** flops / time. */
  achievedFlops: number;
  /** achieved / peak, when the device's peak is known. */
  mfu?: number;
}

/**
 * Achieved FLOP/s per rank = FLOPs of the analysed steps / their total duration, with FLOPs
 * from the GPU kernels, else from CPU ops that carry `flops`, else flopsPerStep × steps from
 * the run config. MFU = achieved / peak FLOP/s of the device (run config).
 */
export function flopsPerRank(model: TraceModel, views: RankView[], info: RunInfo): RankFlops[] {
  const out: RankFlops[] = [];
  for (const v of views) {
    const steps = v.analysedSteps;
    const timeNs = steps.length > 0 ? steps.reduce((t, s) => t + (s.endNs - s.startNs), 0) : v.ops.length > 0 ? v.ops[v.ops.length - 1].endNs - v.ops[0].startNs : 0;
    if (timeNs <= 0) continue;
    let flops = 0;
    let source: RankFlops['source'] = 'kernels';
    for (const op of v.ops) {
      const s = model.slices[op.index];
      flops += flopsOfSlice(s.name, s.args) ?? 0;
    }
    if (flops === 0 && steps.length > 0) {
      // PyTorch's with_flops puts `flops` on CPU ops; count those inside the analysed steps.
      const windows = steps.map((s) => [s.startNs, s.endNs] as const);
      for (const s of model.slices) {
        if (s.category !== 'cpu_op' || typeof s.args?.flops !== 'number') continue;
        if (model.tracks[s.track].pid !== v.pid) continue;
        if (windows.some(([a, b]) => s.startNs >= a && s.startNs < b)) flops += s.args.flops as number;
      }
      source = 'cpu_ops';
    }
    if (flops === 0 && info.flopsPerStep && steps.length > 0) {
      flops = info.flopsPerStep * steps.length;
      source = 'config';
    }
    if (flops === 0) continue;
    const achievedFlops = flops / (timeNs / 1e9);
    out.push({ rank: v.rank, flops, source, timeNs, achievedFlops, mfu: info.peakFlops ? achievedFlops / info.peakFlops : undefined });
  }
  return out;
}

export interface MemoryKind {
  /** The counter's name (`params`, `grads`, `optimizer`, `activations`, `memory allocated (gpu0)`...). */
  kind: string;
  peakBytes: number;
  lastBytes: number;
}

export interface RankMemory {
  rank: number;
  kinds: MemoryKind[];
  /** Peak of a `total` counter if there is one, else the sum of the kinds' peaks (an upper bound). */
  peakBytes: number;
}

/** Memory per rank by kind, from the counter tracks whose unit is bytes. */
export function memoryPerRank(model: TraceModel, views: RankView[]): RankMemory[] {
  const out: RankMemory[] = [];
  for (const v of views) {
    const kinds: MemoryKind[] = [];
    for (const c of model.counters) {
      const t = model.tracks[c.track];
      if (!t || t.pid !== v.pid || t.unit !== 'bytes' || c.values.length === 0) continue;
      let peak = -Infinity;
      for (const x of c.values) if (x > peak) peak = x;
      kinds.push({ kind: t.name, peakBytes: peak, lastBytes: c.values[c.values.length - 1] });
    }
    if (kinds.length === 0) continue;
    const total = kinds.find((k) => /total/i.test(k.kind));
    const peakBytes = total ? total.peakBytes : kinds.reduce((s, k) => s + k.peakBytes, 0);
    out.push({ rank: v.rank, kinds, peakBytes });
  }
  return out;
}
