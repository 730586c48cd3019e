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
  /** D2H staging before each bucket's all-reduce, ns per byte (CommLens stages on the GPU's staging track). */
  stagingNsPerByte?: number;
  /** H2D copy back after each bucket's all-reduce, ns per byte; the optimizer waits for the last. */
  h2dNsPerByte?: number;
  /** The host probe's figures in the run metadata (runtime/hostProbe.ts). */
  hostProbe?: Args;
  hostCores?: number;
}

/** Builds the trace a CommLens DDP run of this shape would write. Times are exact. */
export function syntheticRun(o: SyntheticOptions = {}): TraceModel {
  const R = o.ranks ?? 2,
    steps = o.steps ?? 3,
    K = o.kernels ?? 4,
    fwd = o.fwdNs ?? 100_000,
    opt = o.optimizerNs ?? 50_000;
  const grad = o.gradBytes ?? 4 * 1024 * 1024,
    B = o.buckets ?? 1,
    bw = o.bytesPerNs ?? 1,
    alpha = o.alphaNs ?? 10_000;
  const m = emptyModel('commlens', '1700000000000000000');
  m.meta.worldSize = R;
  // As cli/commands/profile.ts writes it: the config as a JSON string, the link's α and β beside its name.
  const strategy = o.overlap ? 'ddp-bucketed' : 'ddp';
  const config = {
    model: { kind: 'mlp', batchSize: 32, inputDim: 64, hiddenDims: [grad / 4 / 64 - 1], classes: 1 },
    optimizer: { kind: 'adam', lr: 0.01 },
    worldSize: R,
    steps,
    seed: 1,
    strategy,
    ...(o.overlap ? { strategyOptions: { bucketCapMb: grad / B / 1048576 } } : {}),
    link: 'test-link',
    gpuTiming: true,
    collectiveTimeoutMs: 60000,
    peakFlops: 1e10,
  };
  m.meta.info = {
    tool: 'commlens',
    runId: 'synthetic',
    config: JSON.stringify(config),
    strategy,
    worldSize: R,
    link: 'test-link',
    linkAlphaNs: alpha,
    linkBytesPerNs: bw,
    ...(o.hostProbe ? { hostProbe: o.hostProbe } : {}),
    ...(o.hostCores ? { hostCores: o.hostCores } : {}),
  } as Args;
  // Transfer time of one bucket all-reduce on a ring (what the runtime's emulated link charges).
  const bucketBytes = grad / B;
  const transfer = 2 * (R - 1) * alpha + (2 * ((R - 1) / R) * bucketBytes) / bw;
  const tracks = new Map<number, { compute: number; comm: number; staging: number; host: number }>();
  for (let r = 0; r < R; r++) {
    m.processes.push({ pid: r, rank: r, name: `rank ${r}` });
    tracks.set(r, {
      compute: addTrack(m, {
        pid: r,
        name: 'compute',
        type: 'slice',
        stream: 'compute',
        gpu: true,
        sourceId: 'compute',
      }),
      comm: addTrack(m, {
        pid: r,
        name: 'communication',
        type: 'slice',
        stream: 'communication',
        gpu: true,
        sourceId: 'communication',
      }),
      staging: addTrack(m, {
        pid: r,
        name: 'staging',
        type: 'slice',
        stream: 'staging',
        gpu: true,
        sourceId: 'staging',
      }),
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
      const k = fwd + (r === o.slowRank ? (o.slowExtraNs ?? 0) : 0);
      let c = stepStart;
      for (let i = 0; i < K; i++) {
        m.slices.push({
          track: tr.compute,
          name: `matmul 64x128x32 fwd fc${i}`,
          category: 'kernel',
          startNs: c,
          durNs: k,
          args: { phase: 'forward', flops: 2 * 64 * 128 * 32 },
        });
        c += k;
      }
      readyAt.push([]);
      for (let i = 0; i < 2 * K; i++) {
        m.slices.push({
          track: tr.compute,
          name: `matmul 64x128x32 bwd fc${K - 1 - (i >> 1)}`,
          category: 'kernel',
          startNs: c,
          durNs: k,
          args: { phase: 'backward', flops: 2 * 64 * 128 * 32 },
        });
        c += k;
        const done = (i + 1) / (2 * K);
        for (let b = readyAt[r].length; b < B && done >= (b + 1) / B - 1e-9; b++) readyAt[r].push(c);
      }
      bwdEnd.push(c);
    }
    let commFree = stepStart;
    let lastEnd = 0;
    const staging = (o.stagingNsPerByte ?? 0) * bucketBytes;
    for (let b = 0; b < B; b++) {
      // A rank arrives once its bucket's gradients are ready and copied to the host.
      const ready = (r: number) => (o.overlap ? readyAt[r][b] : bwdEnd[r]);
      // Copies run in queue order: without overlap every bucket is ready at once and bucket b's copy follows the others'.
      const copyStart = (r: number) => ready(r) + (o.overlap ? 0 : b * staging);
      const arrive = (r: number) => copyStart(r) + staging;
      const start = Math.max(commFree, ...Array.from({ length: R }, (_, r) => arrive(r)));
      const end = start + transfer;
      for (let r = 0; r < R; r++) {
        const tr = tracks.get(r)!;
        if (staging > 0)
          m.slices.push({
            track: tr.staging,
            name: 'D2H',
            category: 'staging',
            startNs: copyStart(r),
            durNs: staging,
            args: { direction: 'd2h', bytes: bucketBytes },
          });
        const a = Math.max(arrive(r), commFree);
        m.slices.push({
          track: tr.comm,
          name: 'allReduce',
          category: 'collective',
          startNs: a,
          durNs: end - a,
          args: {
            op: 'allReduce',
            seq,
            group: 'world',
            bytes: bucketBytes,
            dtype: 'f32',
            algorithm: 'ring',
            waitNs: start - a,
            transferNs: transfer,
          },
        });
      }
      seq++;
      commFree = end;
      lastEnd = end;
      const back = (o.h2dNsPerByte ?? 0) * bucketBytes;
      if (back > 0) {
        for (let r = 0; r < R; r++)
          m.slices.push({
            track: tracks.get(r)!.staging,
            name: 'H2D',
            category: 'staging',
            startNs: end,
            durNs: back,
            args: { direction: 'h2d', bytes: bucketBytes },
          });
        lastEnd = end + back;
      }
    }
    let stepEnd = 0;
    for (let r = 0; r < R; r++) {
      const tr = tracks.get(r)!;
      const os = Math.max(lastEnd, bwdEnd[r]);
      m.slices.push({
        track: tr.compute,
        name: 'adam update',
        category: 'kernel',
        startNs: os,
        durNs: opt,
        args: { phase: 'optimizer' },
      });
      stepEnd = Math.max(stepEnd, os + opt);
    }
    for (let r = 0; r < R; r++)
      m.slices.push({
        track: tracks.get(r)!.host,
        name: `step ${s}`,
        category: 'step',
        startNs: stepStart,
        durNs: stepEnd - stepStart,
        args: { step: s },
      });
    stepLen.push(stepEnd - stepStart);
    t = stepEnd + (o.stepGapNs ?? 5_000);
  }
  if (o.memory) {
    // fp32 Adam: 4 bytes of parameters, 4 of gradients, 8 of optimizer state per parameter of the config's MLP.
    const h = grad / 4 / 64 - 1;
    const psi = 64 * h + h + h + 1;
    for (let r = 0; r < R; r++) {
      for (const [kind, v] of [
        ['memory: parameters', 4 * psi],
        ['memory: gradients', 4 * psi],
        ['memory: optimizer state', 8 * psi],
        ['memory: activations', 1024 * 1024],
        ['bytes sent per step', 3 * grad],
      ] as const) {
        const track = addTrack(m, { pid: r, name: kind, type: 'counter', stream: 'other', gpu: false, unit: 'bytes' });
        m.counters.push({ track, tsNs: [0, t], values: [v, v] });
      }
    }
  }
  return finalizeModel(m);
}
