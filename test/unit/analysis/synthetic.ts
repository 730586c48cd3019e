// Hand-built CommLens-shaped traces: one process per rank; tracks compute / communication /
// staging / host; `step N` host slices; matmul kernels named like the runtime names them;
// allReduce slices with CollectiveArgs; memory counters; meta.info.config.
import { addTrack, emptyModel, finalizeModel, type Args, type TraceModel } from '../../../trace/model';

export interface SyntheticOptions {
  ranks?: number;
  steps?: number;
  /** Forward kernels per step, each fwdNs long; backward kernels are twice as many. */
  kernels?: number;
  fwdNs?: number;
  optimizerNs?: number;
  /** Gradient bytes, all-reduced after backward in `buckets` collectives (non-overlapped DDP). */
  gradBytes?: number;
  buckets?: number;
  /** Link: bytes per ns and α. */
  bytesPerNs?: number;
  alphaNs?: number;
  /** Extra compute ns per kernel on one rank (a straggler). */
  slowRank?: number;
  slowExtraNs?: number;
  /** Overlap: launch each bucket as soon as its share of backward is done. */
  overlap?: boolean;
  memory?: boolean;
  stepGapNs?: number;
}

/** Builds the trace a CommLens DDP run of this shape would write. Times are exact. */
export function syntheticRun(o: SyntheticOptions = {}): TraceModel {
  const R = o.ranks ?? 2, steps = o.steps ?? 3, K = o.kernels ?? 4, fwd = o.fwdNs ?? 100_000, opt = o.optimizerNs ?? 50_000;
  const grad = o.gradBytes ?? 4 * 1024 * 1024, B = o.buckets ?? 1, bw = o.bytesPerNs ?? 1, alpha = o.alphaNs ?? 10_000;
  const m = emptyModel('commlens', '1700000000000000000');
  m.meta.worldSize = R;
  m.meta.info = {
    config: {
      model: { name: 'mlp', paramCount: grad / 4 },
      worldSize: R, strategy: o.overlap ? 'ddp-bucketed' : 'ddp',
      link: { name: 'test-link', alphaNs: alpha, bytesPerNs: bw },
      flopsPerStep: 3 * K * 2 * 64 * 128 * 32, peakFlops: 1e10,
    },
  } as Args;
  // Transfer time of one bucket all-reduce on a ring (what the runtime's emulated link charges).
  const bucketBytes = grad / B;
  const transfer = 2 * (R - 1) * alpha + (2 * ((R - 1) / R) * bucketBytes) / bw;
  const tracks = new Map<number, { compute: number; comm: number; staging: number; host: number }>();
  for (let r = 0; r < R; r++) {
    m.processes.push({ pid: r, rank: r, name: `rank ${r}` });
    tracks.set(r, {
      compute: addTrack(m, { pid: r, name: 'compute', type: 'slice', stream: 'compute', gpu: true, sourceId: 'compute' }),
      comm: addTrack(m, { pid: r, name: 'communication', type: 'slice', stream: 'communication', gpu: true, sourceId: 'communication' }),
      staging: addTrack(m, { pid: r, name: 'staging', type: 'slice', stream: 'staging', gpu: true, sourceId: 'staging' }),
      host: addTrack(m, { pid: r, name: 'host', type: 'slice', stream: 'host', gpu: false }),
    });
  }
  const stepLen: number[] = [];
  let t = 0;
  let seq = 0;
  for (let s = 0; s < steps; s++) {
    const stepStart = t;
    // Each rank computes forward + backward; bucket b is ready when its share of backward is done.
    const readyAt: number[][] = [];
    const bwdEnd: number[] = [];
    for (let r = 0; r < R; r++) {
      const tr = tracks.get(r)!;
      const k = fwd + (r === o.slowRank ? o.slowExtraNs ?? 0 : 0);
      let c = stepStart;
      for (let i = 0; i < K; i++) {
        m.slices.push({ track: tr.compute, name: `matmul 64x128x32 fwd fc${i}`, category: 'kernel', startNs: c, durNs: k, args: { step: s } });
        c += k;
      }
      readyAt.push([]);
      for (let i = 0; i < 2 * K; i++) {
        m.slices.push({ track: tr.compute, name: `matmul 64x128x32 bwd fc${K - 1 - (i >> 1)}`, category: 'kernel', startNs: c, durNs: k, args: { step: s } });
        c += k;
        const done = (i + 1) / (2 * K);
        for (let b = readyAt[r].length; b < B && done >= (b + 1) / B - 1e-9; b++) readyAt[r].push(c);
      }
      bwdEnd.push(c);
    }
    let commFree = stepStart;
    let lastEnd = 0;
    for (let b = 0; b < B; b++) {
      const arrive = (r: number) => (o.overlap ? readyAt[r][b] : bwdEnd[r]);
      const start = Math.max(commFree, ...Array.from({ length: R }, (_, r) => arrive(r)));
      const end = start + transfer;
      for (let r = 0; r < R; r++) {
        const tr = tracks.get(r)!;
        const a = Math.max(arrive(r), commFree);
        m.slices.push({
          track: tr.comm, name: 'allReduce', category: 'collective', startNs: a, durNs: end - a,
          args: { op: 'allReduce', seq, group: 'world', groupSize: R, bytes: bucketBytes, dtype: 'f32', algorithm: 'ring', waitNs: start - a, transferNs: transfer, step: s },
        });
      }
      seq++;
      commFree = end;
      lastEnd = end;
    }
    let stepEnd = 0;
    for (let r = 0; r < R; r++) {
      const tr = tracks.get(r)!;
      const os = Math.max(lastEnd, bwdEnd[r]);
      m.slices.push({ track: tr.compute, name: 'adam update', category: 'kernel', startNs: os, durNs: opt, args: { step: s } });
      stepEnd = Math.max(stepEnd, os + opt);
    }
    for (let r = 0; r < R; r++) m.slices.push({ track: tracks.get(r)!.host, name: `step ${s}`, category: 'step', startNs: stepStart, durNs: stepEnd - stepStart, args: { step: s } });
    stepLen.push(stepEnd - stepStart);
    t = stepEnd + (o.stepGapNs ?? 5_000);
  }
  if (o.memory) {
    for (let r = 0; r < R; r++) {
      for (const [kind, v] of [['params', grad], ['grads', grad], ['optimizer', 2 * grad], ['activations', 1024 * 1024]] as const) {
        const track = addTrack(m, { pid: r, name: kind, type: 'counter', stream: 'other', gpu: true, unit: 'bytes' });
        m.counters.push({ track, tsNs: [0, t], values: [v, v] });
      }
    }
  }
  return finalizeModel(m);
}
