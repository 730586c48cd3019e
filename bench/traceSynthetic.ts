/**
 * Synthetic CommLens spans for the trace benchmarks: what a data-parallel run records,
 * per rank and step: a step on the host track with forward/backward/optimizer spans,
 * kernels on the compute stream (with their shapes), bucketed allReduce collectives on
 * the communication stream (op, bytes, algorithm, busbw, shape, seq), device→host staging
 * copies, and a bytes-in-flight counter. Deterministic; no randomness, so runs compare.
 */
import type { Args, ProcessInfo, Slice, TrackInfo } from '../trace/model';

export interface SyntheticRun {
  processes: ProcessInfo[];
  tracks: TrackInfo[];
  slices: Slice[];
  /** For each slice index, the flow it starts/ends (collectives joined across ranks). */
  flows: Map<number, { out?: number[]; in?: number[] }>;
  counters: { track: number; tsNs: number; value: number }[];
}

const KERNELS = [
  'matmul_fwd',
  'bias_gelu_fwd',
  'layernorm_fwd',
  'softmax_fwd',
  'matmul_bwd_data',
  'matmul_bwd_weight',
  'gelu_bwd',
  'layernorm_bwd',
  'adam_update',
];

/** About `target` slices over `worldSize` ranks. */
export function syntheticRun(target: number, worldSize = 4): SyntheticRun {
  const run: SyntheticRun = { processes: [], tracks: [], slices: [], flows: new Map(), counters: [] };
  const tracks: { host: number; compute: number; comm: number; staging: number; inflight: number }[] = [];
  for (let rank = 0; rank < worldSize; rank++) {
    run.processes.push({ pid: rank, rank, name: `rank ${rank}`, labels: { device: 'lavapipe' } });
    const add = (t: Omit<TrackInfo, 'id' | 'pid'>) => {
      run.tracks.push({ id: run.tracks.length, pid: rank, ...t });
      return run.tracks.length - 1;
    };
    tracks.push({
      host: add({ name: 'host', type: 'slice', stream: 'host', gpu: false }),
      compute: add({ name: 'compute', type: 'slice', stream: 'compute', gpu: true }),
      comm: add({ name: 'communication', type: 'slice', stream: 'communication', gpu: true }),
      staging: add({ name: 'staging', type: 'slice', stream: 'staging', gpu: true }),
      inflight: add({ name: 'bytes in flight', type: 'counter', stream: 'communication', gpu: false, unit: 'bytes' }),
    });
  }
  const shapes: Args[] = [];
  for (let i = 0; i < 64; i++) shapes.push({ shape: [64 * (1 + (i % 8)), 128 * (1 + (i >> 3))] });
  const buckets = 8;
  const kernelsPerStep = 60;
  let flowId = 1;
  let seq = 0;
  for (let step = 0; run.slices.length < target; step++) {
    const stepStart = step * 5_000_000;
    for (let rank = 0; rank < worldSize; rank++) {
      const t = tracks[rank];
      const skew = rank * 1_337;
      const slices = run.slices;
      slices.push({
        track: t.host,
        name: 'step',
        category: 'step',
        startNs: stepStart + skew,
        durNs: 4_800_000,
        args: { step },
      });
      slices.push({
        track: t.host,
        name: 'forward',
        category: 'host',
        startNs: stepStart + skew + 10_000,
        durNs: 1_500_000,
      });
      slices.push({
        track: t.host,
        name: 'backward',
        category: 'host',
        startNs: stepStart + skew + 1_600_000,
        durNs: 2_800_000,
      });
      for (let k = 0; k < kernelsPerStep; k++) {
        slices.push({
          track: t.compute,
          name: KERNELS[k % KERNELS.length],
          category: 'kernel',
          startNs: stepStart + skew + 20_000 + k * 70_000 + (k % 7) * 13,
          durNs: 55_000 + (k % 5) * 1_111,
          args: shapes[(k * 7 + step) % shapes.length],
        });
      }
      for (let b = 0; b < buckets; b++) {
        const start = stepStart + 2_000_000 + b * 300_000 + skew;
        const bytes = 4_194_304 >> (b % 3);
        slices.push({
          track: t.staging,
          name: 'copy D2H',
          category: 'staging',
          startNs: start - 40_000,
          durNs: 35_000,
          args: { bytes },
        });
        const i = slices.length;
        slices.push({
          track: t.comm,
          name: 'allReduce',
          category: 'collective',
          startNs: start,
          durNs: 250_000 + (b % 4) * 977,
          args: {
            op: 'allReduce',
            seq: seq + b,
            bytes,
            algorithm: 'ring',
            busbwGBps: 11.5 + (b % 5) * 0.25,
            shape: [bytes / 4],
          },
        });
        // Rank 0 starts each collective's flow; later ranks pass it on; the last ends it.
        const id = flowId + b;
        run.flows.set(i, rank === 0 ? { out: [id] } : rank === worldSize - 1 ? { in: [id] } : { in: [id], out: [id] });
        run.counters.push(
          { track: t.inflight, tsNs: start, value: bytes },
          { track: t.inflight, tsNs: start + 250_000, value: 0 },
        );
      }
    }
    flowId += buckets;
    seq += buckets;
  }
  return run;
}
