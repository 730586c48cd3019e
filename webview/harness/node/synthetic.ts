/**
 * Synthetic CommLens-shaped runs for the harness, the tests and the benchmark: data-parallel
 * training on `worldSize` ranks, each with a compute stream (forward/backward kernels), a
 * communication stream (bucketed allReduce of the gradients, ring algorithm, real busbw
 * arithmetic), a staging stream (D2H/H2D copies around each collective), a host stream
 * (nested step/forward/backward/optimizer spans), flows joining each collective across ranks,
 * and loss and memory counters. Deterministic for a given seed.
 *
 * The `overlap` variant launches each bucket's allReduce during backward (as DDP does)
 * instead of after it, so comparing the two shows what the overlap suggestion buys.
 */
import { addTrack, emptyModel, finalizeModel, type TraceModel } from '../../../trace/model';

export interface SyntheticOptions {
  worldSize?: number;
  steps?: number;
  /** Forward kernels per step (backward gets twice as many). */
  kernelsPerStep?: number;
  /** Gradient buckets (= allReduce calls) per step. */
  buckets?: number;
  bucketBytes?: number;
  /** Link bandwidth in GB/s used to time the collectives. */
  linkGBps?: number;
  variant?: 'baseline' | 'overlap';
  seed?: number;
}

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

const KERNELS = ['matmul_fwd', 'gelu_fwd', 'layernorm_fwd', 'softmax_fwd', 'attention_fwd'];

export function syntheticRun(o: SyntheticOptions = {}): TraceModel {
  const worldSize = o.worldSize ?? 4,
    steps = o.steps ?? 6,
    kernels = o.kernelsPerStep ?? 40,
    buckets = o.buckets ?? 4;
  const bucketBytes = o.bucketBytes ?? 25 * 1024 * 1024,
    linkGBps = o.linkGBps ?? 12.5,
    overlap = o.variant === 'overlap';
  const rand = rng(o.seed ?? 7);
  const m = emptyModel('commlens', '1700000000000000000');
  m.meta.worldSize = worldSize;
  m.meta.info = { preset: 'synthetic', strategy: overlap ? 'ddp-overlap' : 'ddp', link: `${linkGBps} GB/s` };
  const tracks = [];
  for (let r = 0; r < worldSize; r++) {
    const pid = r + 1;
    m.processes.push({ pid, rank: r, name: `rank ${r}`, labels: { device: 'lavapipe (synthetic)' } });
    tracks.push({
      compute: addTrack(m, { pid, name: 'compute', type: 'slice', stream: 'compute', gpu: true }),
      comm: addTrack(m, { pid, name: 'communication', type: 'slice', stream: 'communication', gpu: true }),
      staging: addTrack(m, { pid, name: 'staging', type: 'slice', stream: 'staging', gpu: true }),
      host: addTrack(m, { pid, name: 'host', type: 'slice', stream: 'host', gpu: false }),
      loss: addTrack(m, { pid, name: 'loss', type: 'counter', stream: 'other', gpu: false, unit: '1' }),
      memParams: addTrack(m, { pid, name: 'mem/params', type: 'counter', stream: 'other', gpu: false, unit: 'bytes' }),
      memGrads: addTrack(m, {
        pid,
        name: 'mem/gradients',
        type: 'counter',
        stream: 'other',
        gpu: false,
        unit: 'bytes',
      }),
      memAct: addTrack(m, {
        pid,
        name: 'mem/activations',
        type: 'counter',
        stream: 'other',
        gpu: false,
        unit: 'bytes',
      }),
    });
  }
  const counters = new Map<number, { tsNs: number[]; values: number[] }>();
  const sample = (track: number, t: number, v: number): void => {
    let c = counters.get(track);
    if (!c) {
      c = { tsNs: [], values: [] };
      counters.set(track, c);
    }
    c.tsNs.push(t);
    c.values.push(v);
  };
  const n = worldSize;
  const allReduceNs = (((2 * (n - 1)) / n) * bucketBytes) / linkGBps; // ring: 2(n−1)/n · S / β (bytes / (GB/s) = ns)
  const collectives: { seq: number; slices: number[] }[] = [];
  let seq = 0;
  const stepStart = new Array(n).fill(0);
  const slice = (
    track: number,
    name: string,
    category: TraceModel['slices'][number]['category'],
    startNs: number,
    durNs: number,
    args?: TraceModel['slices'][number]['args'],
  ): number => {
    m.slices.push({ track, name, category, startNs, durNs, args });
    return m.slices.length - 1;
  };
  for (let step = 0; step < steps; step++) {
    const perRank: { fwdEnd: number; bwdEnd: number; bucketReady: number[]; t0: number }[] = [];
    for (let r = 0; r < n; r++) {
      const tr = tracks[r];
      let t = stepStart[r] + 20_000 + rand() * 30_000;
      const t0 = t;
      for (let k = 0; k < kernels; k++) {
        const d = 15_000 + rand() * 60_000 * (1 + (k % 5 === 0 ? 2 : 0));
        slice(tr.compute, KERNELS[k % KERNELS.length], 'kernel', t, d, {
          workgroups: 64 + (k % 7) * 32,
          shape: `[${256 << (k % 3)}, 1024]`,
        });
        t += d + 2_000 + rand() * 4_000;
      }
      const fwdEnd = t;
      const bucketReady: number[] = [];
      const bwdKernels = kernels * 2;
      for (let k = 0; k < bwdKernels; k++) {
        const d = 15_000 + rand() * 70_000 * (1 + (k % 5 === 0 ? 2 : 0));
        slice(tr.compute, KERNELS[k % KERNELS.length].replace('fwd', 'bwd'), 'kernel', t, d, {
          workgroups: 64 + (k % 5) * 32,
        });
        t += d + 2_000 + rand() * 4_000;
        if ((k + 1) % Math.ceil(bwdKernels / buckets) === 0 || k === bwdKernels - 1) bucketReady.push(t);
      }
      perRank.push({ fwdEnd, bwdEnd: t, bucketReady: bucketReady.slice(0, buckets), t0 });
      slice(tr.host, 'forward', 'host', t0 - 5_000, fwdEnd - t0 + 5_000);
      slice(tr.host, 'backward', 'host', fwdEnd, t - fwdEnd);
    }
    // Collectives: bucket b starts on every rank when the slowest rank has it ready.
    const commFree = new Array(n).fill(0);
    for (let b = 0; b < buckets; b++) {
      const readyEach = perRank.map((p) => (overlap ? (p.bucketReady[b] ?? p.bwdEnd) : p.bwdEnd));
      const ids: number[] = [];
      const launch = readyEach.map((ready, r) => Math.max(ready + 5_000, commFree[r]));
      const begin = Math.max(...launch);
      for (let r = 0; r < n; r++) {
        const tr = tracks[r];
        const d2h = bucketBytes / 20; // staging copy at ~20 GB/s
        slice(tr.staging, 'copy D2H', 'staging', launch[r], d2h, { bytes: bucketBytes, direction: 'D2H' });
        const waitNs = Math.max(0, begin - launch[r]);
        const startNs = launch[r] + d2h;
        const transfer = allReduceNs * (0.95 + rand() * 0.1);
        const durNs = waitNs + transfer;
        const algbw = bucketBytes / transfer;
        ids.push(
          slice(tr.comm, 'allReduce', 'collective', startNs, durNs, {
            op: 'allReduce',
            seq,
            group: 'world',
            groupSize: n,
            bytes: bucketBytes,
            dtype: 'f32',
            algorithm: 'ring',
            algbwGBps: Number(algbw.toFixed(3)),
            busbwGBps: Number(((algbw * 2 * (n - 1)) / n).toFixed(3)),
            waitNs: Math.round(waitNs),
            transferNs: Math.round(transfer),
          }),
        );
        slice(tr.staging, 'copy H2D', 'staging', startNs + durNs, d2h, { bytes: bucketBytes, direction: 'H2D' });
        commFree[r] = startNs + durNs + d2h;
      }
      collectives.push({ seq, slices: ids });
      seq++;
    }
    for (let r = 0; r < n; r++) {
      const tr = tracks[r];
      const optStart = Math.max(perRank[r].bwdEnd, commFree[r]) + 3_000;
      const optDur = 60_000 + rand() * 20_000;
      slice(tr.compute, 'adam_update', 'kernel', optStart, optDur);
      slice(tr.host, 'optimizer', 'host', optStart, optDur);
      const end = optStart + optDur + 10_000;
      slice(tr.host, `step ${step}`, 'step', stepStart[r] + 10_000, end - stepStart[r] - 10_000, { step });
      const loss = 2.5 * Math.exp(-step / (steps / 2 + 1)) + 0.3 + rand() * 0.05 + (overlap ? 0.005 : 0);
      sample(tr.loss, end - 5_000, Number(loss.toFixed(4)));
      sample(tr.memParams, stepStart[r] + 10_000, 4 * 25_000_000);
      sample(tr.memGrads, stepStart[r] + 10_000, 4 * 25_000_000);
      sample(tr.memAct, perRank[r].t0, 150_000_000 + rand() * 10_000_000);
      sample(tr.memAct, perRank[r].fwdEnd, 600_000_000 + r * 5_000_000);
      sample(tr.memAct, perRank[r].bwdEnd, 160_000_000);
      stepStart[r] = end;
    }
  }
  for (const [track, c] of counters) m.counters.push({ track, ...c });
  // Flows: rank order by start time (the earliest rank starts the flow), chained across ranks.
  let flowId = 1;
  for (const c of collectives) {
    const order = [...c.slices].sort((a, b) => m.slices[a].startNs - m.slices[b].startNs);
    for (let i = 0; i + 1 < order.length; i++) m.flows.push({ id: flowId++, from: order[i], to: order[i + 1] });
  }
  return finalizeModel(m);
}
