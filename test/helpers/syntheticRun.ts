/**
 * The one synthetic-trace generator: the trace a CommLens data-parallel run of a given shape
 * would write, for the analysis tests (exact times), the webview tests and harness (a
 * realistic-looking run: jitter, host phases, loss and memory counters, flows) and the trace
 * benchmarks (a run of about N slices).
 *
 * One process per rank (pid = rank) with tracks compute / communication / staging / host;
 * `step N` host slices; forward kernels, twice as many backward kernels, one optimizer kernel;
 * the gradients all-reduced in `buckets` collectives with CollectiveArgs (ring transfer time
 * 2(R−1)α + 2(R−1)/R · S/β, the emulated link's charge); optional D2H/H2D staging copies around
 * each bucket; the run config in meta.info as cli/commands/profile.ts writes it.
 *
 * Without `jitterSeed` every time is exact, so tests can derive the expected figures by hand.
 */
import { addTrack, emptyModel, finalizeModel, type Args, type Slice, type TraceModel } from '../../trace/model';

export interface SyntheticOptions {
  ranks?: number;
  /** Steps; with `targetSlices`, the least number of steps (more are added until the target). */
  steps?: number;
  /** Keep adding steps until the trace has at least this many slices (benchmarks). */
  targetSlices?: number;
  /** Forward kernels per step, each fwdNs long; backward kernels are twice as many. */
  kernels?: number;
  fwdNs?: number;
  optimizerNs?: number;
  /** Gradient bytes, all-reduced after backward in `buckets` collectives (non-overlapped DDP). */
  gradBytes?: number;
  buckets?: number;
  /** Link: bytes per ns (= GB/s) and α. */
  bytesPerNs?: number;
  alphaNs?: number;
  /** Extra compute ns per kernel on one rank (a straggler). */
  slowRank?: number;
  slowExtraNs?: number;
  /** Overlap: launch each bucket as soon as its share of backward is done. */
  overlap?: boolean;
  /**
   * The runtime's byte counters (runtime/runTrace.ts): true for all of them (bytes per step and on the wire,
   * parameters, gradients, optimizer state, activations), or the names of those to write.
   */
  memory?: boolean | readonly CounterName[];
  stepGapNs?: number;
  /** D2H staging before each bucket's all-reduce, ns per byte (CommLens stages on the GPU's staging track). */
  stagingNsPerByte?: number;
  /** H2D copy back after each bucket's all-reduce, ns per byte; the optimizer waits for the last. */
  h2dNsPerByte?: number;
  /** The host probe's figures in the run metadata (runtime/hostProbe.ts). */
  hostProbe?: Args;
  hostCores?: number;
  /** Vary kernel and transfer times deterministically (xorshift seeded with this); absent: exact times. */
  jitterSeed?: number;
  /** forward / backward / optimizer host slices inside each step. */
  hostPhases?: boolean;
  /** A loss counter per rank, one sample per step. */
  loss?: boolean;
  /** Flows joining each collective across ranks (earliest start first). */
  flows?: boolean;
  /** A `device` label on each rank's process. */
  device?: string;
  /** Extra time at the start of step 0 before its first kernel (a warm-up step: pipeline compilation). */
  warmupNs?: number;
  /**
   * The runtime's track set, as runtime/runTrace.ts names and orders it: five slice tracks per
   * rank (host, compute (GPU), staging D2H/H2D, communication, host blocked on collectives,
   * with a `wait allReduce` slice while the host waits on each bucket) and its eight counters
   * (RUNTIME_COUNTERS), each sampled at every step's start. Replaces `loss` and `memory`.
   */
  runtimeTracks?: boolean;
  /**
   * A DP × PP layout (runtime/comm/layout.ts: rank = dp + DP·stage) instead of plain data
   * parallelism: `ranks` / `stages` pipelines, each step a GPipe schedule of `microBatches`
   * micro-batches (a forward kernel of fwdNs and a backward kernel of 2·fwdNs per micro-batch
   * and stage; stage s+1 starts a micro-batch when stage s's send has arrived, stage s starts its
   * backward when stage s+1's gradient send has arrived), activations and gradients sent as p2p
   * `send` / `recv` spans of `p2pNs` on both ends (args as runtime/commSpans.ts writes them) on
   * the "pp group g (ranks …)" track, then each stage's gradients (`gradBytes` / stages)
   * all-reduced over its "dp group s (ranks …)" (ring time as above) and the optimizer. The
   * config says strategy 'pp' with pipelineParallelSize, microBatches and schedule 'gpipe'.
   * Uses steps, fwdNs, optimizerNs, gradBytes, bytesPerNs, alphaNs, loss, flows, warmupNs; the
   * DDP options (kernels, buckets, overlap, staging, jitter) are not used, and runtimeTracks is refused.
   */
  pipeline?: { stages: number; microBatches: number; p2pNs?: number; p2pBytes?: number };
  /**
   * Model parallelism beside data parallelism (worldSize = size × dp): per step, `perPhase`
   * blocking collectives of `bytes` after as many forward kernels and again after as many
   * backward kernels (perPhase ≤ kernels), on each rank's model-parallel group; the gradient
   * all-reduces then go over the rank's data-parallel group. TP, EP and CP groups are
   * neighbouring ranks (Megatron's order), PP's the ranks dp apart (its stages outermost).
   * Ops: TP all-reduce, EP and CP all-to-all, PP a send in forward and a recv in backward on
   * every rank (the ops and groups a pipeline leaves, not its schedule).
   */
  modelParallel?: {
    kind: 'tp' | 'pp' | 'ep' | 'cp';
    size: number;
    perPhase: number;
    bytes: number;
    /** Idle time between forward and backward on every rank (a pipeline's bubble), ns. */
    idleNs?: number;
  };
  /**
   * 'kineto': the trace a PyTorch job would leave instead of a CommLens run's: format kineto,
   * no run config, process groups named by number as PyTorch names them ("0" the world, then
   * the model-parallel groups, then the data-parallel ones) with their sizes, dtype "Float".
   */
  format?: 'commlens' | 'kineto';
}

/** The runtime's counters per rank, in its order and with its names (runtime/runTrace.ts). */
export const RUNTIME_COUNTERS = [
  'loss',
  'step time',
  'bytes per step',
  'bytes on the wire per step',
  'memory: parameters',
  'memory: gradients',
  'memory: optimizer state',
  'memory: activations',
  'memory: communication buffers',
] as const;

export type CounterName =
  | 'bytes per step'
  | 'bytes on the wire per step'
  | 'memory: parameters'
  | 'memory: gradients'
  | 'memory: optimizer state'
  | 'memory: activations';

/** The webview's and harness's run: 4 ranks, 6 steps, 4 buckets of 25 MiB on a 12.5 GB/s link, every kind of track. */
export const VIEWER_RUN: Readonly<SyntheticOptions> = {
  ranks: 4,
  steps: 6,
  kernels: 40,
  fwdNs: 40_000,
  optimizerNs: 60_000,
  gradBytes: 4 * 25 * 1024 * 1024,
  buckets: 4,
  bytesPerNs: 12.5,
  alphaNs: 5_000,
  stagingNsPerByte: 0.05,
  h2dNsPerByte: 0.05,
  jitterSeed: 7,
  hostPhases: true,
  loss: true,
  memory: ['memory: parameters', 'memory: gradients', 'memory: activations'],
  flows: true,
  device: 'lavapipe (synthetic)',
};

/** VIEWER_RUN with some options changed. */
export function viewerRun(o: SyntheticOptions = {}): TraceModel {
  return syntheticRun({ ...VIEWER_RUN, ...o });
}

function xorshift(seed: number): () => number {
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

interface RankTracks {
  compute: number;
  comm: number;
  staging: number;
  host: number;
  /** The host blocked on collectives (runtimeTracks only). */
  wait?: number;
}

/** Builds the trace a CommLens DDP run of this shape would write. Times are exact unless `jitterSeed` is set. */
export function syntheticRun(o: SyntheticOptions = {}): TraceModel {
  const R = o.ranks ?? 2,
    minSteps = o.steps ?? 3,
    K = o.kernels ?? 4,
    fwd = o.fwdNs ?? 100_000,
    opt = o.optimizerNs ?? 50_000;
  const grad = o.gradBytes ?? 4 * 1024 * 1024,
    B = o.buckets ?? 1,
    bw = o.bytesPerNs ?? 1,
    alpha = o.alphaNs ?? 10_000;
  const rand = o.jitterSeed === undefined ? undefined : xorshift(o.jitterSeed);
  /** A duration: exact, or varied by up to ±`spread` around it. */
  const vary = (ns: number, spread: number): number =>
    rand ? Math.round(ns * (1 - spread + 2 * spread * rand())) : ns;
  const kineto = o.format === 'kineto';
  const m = emptyModel(kineto ? 'kineto' : 'commlens', '1700000000000000000');
  m.meta.worldSize = R;
  const mp = o.modelParallel;
  const mpSize = mp?.size ?? 1;
  if (R % mpSize !== 0) throw new Error(`syntheticRun: modelParallel.size ${mpSize} does not divide ranks ${R}`);
  if (mp && mp.perPhase > K)
    throw new Error(`syntheticRun: modelParallel.perPhase ${mp.perPhase} exceeds kernels ${K}`);
  const dpSize = R / mpSize;
  /** Rank r's model-parallel group (index and ranks) and data-parallel group. */
  const mpGroupOf = (r: number): { index: number; ranks: number[] } =>
    mp?.kind === 'pp'
      ? { index: r % dpSize, ranks: Array.from({ length: mpSize }, (_, i) => (r % dpSize) + dpSize * i) }
      : {
          index: Math.floor(r / mpSize),
          ranks: Array.from({ length: mpSize }, (_, i) => Math.floor(r / mpSize) * mpSize + i),
        };
  const dpGroupOf = (r: number): { index: number; ranks: number[] } => {
    const others = mpGroupOf(r).ranks;
    const at = others.indexOf(r);
    const ranks = Array.from({ length: R }, (_, x) => x).filter((x) => mpGroupOf(x).ranks.indexOf(x) === at);
    return { index: at, ranks };
  };
  const groupName = (kind: string, g: { index: number; ranks: number[] }, offset: number): string =>
    kineto ? String(1 + offset + g.index) : `${kind} group ${g.index} (ranks ${g.ranks.join(',')})`;
  const dpGroupName = (r: number): string =>
    !mp ? (kineto ? '0' : 'world') : groupName('dp', dpGroupOf(r), dpSize === R ? 0 : R / mpSize);
  // As cli/commands/profile.ts writes it: the config as a JSON string, the link's α and β beside its name.
  const pipe = o.pipeline;
  if (pipe && mp) throw new Error('syntheticRun: pipeline and modelParallel are two layouts; give one');
  if (pipe && o.runtimeTracks)
    throw new Error('syntheticRun: pipeline writes its own tracks; leave runtimeTracks out of a pipeline run');
  if (pipe && (!(pipe.stages >= 2) || R % pipe.stages !== 0 || !(pipe.microBatches >= 1)))
    throw new Error(
      `syntheticRun: pipeline needs stages ≥ 2 dividing ranks ${R} and microBatches ≥ 1, got ${JSON.stringify(pipe)}`,
    );
  const strategy = pipe ? 'pp' : o.overlap ? 'ddp-bucketed' : 'ddp';
  const config = {
    model: pipe
      ? {
          kind: 'gpt-mini',
          batchSize: 8 * pipe.microBatches,
          layers: 2 * pipe.stages,
          heads: 4,
          dModel: 128,
          seqLen: 32,
        }
      : { kind: 'mlp', batchSize: 32, inputDim: 64, hiddenDims: [grad / 4 / 64 - 1], classes: 1 },
    optimizer: { kind: 'adam', lr: 0.01 },
    worldSize: R,
    steps: minSteps,
    seed: 1,
    strategy,
    ...(pipe
      ? {
          strategyOptions: {
            pipelineParallelSize: pipe.stages,
            microBatches: pipe.microBatches,
            schedule: 'gpipe',
          },
        }
      : o.overlap
        ? { strategyOptions: { bucketCapMb: grad / B / 1048576 } }
        : {}),
    link: 'test-link',
    gpuTiming: true,
    collectiveTimeoutMs: 60000,
    peakFlops: 1e10,
  };
  if (kineto) m.meta.info = { ranks: Array.from({ length: R }, (_, r) => ({ rank: r })) } as Args;
  else
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
  const transfer = 2 * (dpSize - 1) * alpha + (2 * ((dpSize - 1) / dpSize) * bucketBytes) / bw;
  const mpOp = mp?.kind === 'tp' ? 'allReduce' : 'allToAll';
  const mpTransfer = mp
    ? mp.kind === 'pp'
      ? alpha + mp.bytes / bw
      : (mpOp === 'allReduce' ? 2 : 1) * (mpSize - 1) * alpha +
        ((mpOp === 'allReduce' ? 2 : 1) * ((mpSize - 1) / mpSize) * mp.bytes) / bw
    : 0;
  const tracks: RankTracks[] = [];
  for (let r = 0; r < R; r++) {
    m.processes.push({ pid: r, rank: r, name: `rank ${r}`, ...(o.device ? { labels: { device: o.device } } : {}) });
    const gpuTrack = (name: string, stream: 'compute' | 'communication' | 'staging') =>
      addTrack(m, { pid: r, name, type: 'slice', stream, gpu: true, sourceId: stream });
    if (o.runtimeTracks) {
      // The runtime's names and order (runtime/runTrace.ts STREAMS).
      const host = addTrack(m, { pid: r, name: 'host', type: 'slice', stream: 'host', gpu: false, order: 0 });
      const on = (name: string, stream: 'compute' | 'communication' | 'staging', order: number): number =>
        addTrack(m, { pid: r, name, type: 'slice', stream, gpu: true, order });
      tracks.push({
        host,
        compute: on('compute (GPU)', 'compute', 1),
        staging: on('staging D2H/H2D', 'staging', 2),
        comm: on('communication', 'communication', 3),
        wait: addTrack(m, {
          pid: r,
          name: 'host blocked on collectives',
          type: 'slice',
          stream: 'wait',
          gpu: false,
          order: 4,
        }),
      });
      continue;
    }
    // A pipeline run's communication goes on its groups' own tracks (made below), and it stages nothing.
    tracks.push({
      compute: gpuTrack('compute', 'compute'),
      comm: pipe ? -1 : gpuTrack('communication', 'communication'),
      staging: pipe ? -1 : gpuTrack('staging', 'staging'),
      host: addTrack(m, { pid: r, name: 'host', type: 'slice', stream: 'host', gpu: false }),
    });
  }
  const samples = new Map<number, { tsNs: number[]; values: number[] }>();
  const sample = (track: number, tsNs: number, value: number): void => {
    let c = samples.get(track);
    if (!c) samples.set(track, (c = { tsNs: [], values: [] }));
    c.tsNs.push(tsNs);
    c.values.push(value);
  };
  /** A counter track; its samples are listed in the order the tracks were made, as the runtime writes them. */
  const counterTrack = (pid: number, name: string, unit: string): number => {
    const track = addTrack(m, { pid, name, type: 'counter', stream: 'other', gpu: false, unit });
    samples.set(track, { tsNs: [], values: [] });
    return track;
  };
  // The runtime's nine counters (runTrace.ts COUNTERS), one sample each per step at its start.
  const runtimeCounters = o.runtimeTracks
    ? tracks.map((_, r) =>
        RUNTIME_COUNTERS.map((name, i) => {
          const track = addTrack(m, {
            pid: r,
            name,
            type: 'counter',
            stream: 'other',
            gpu: false,
            unit: name === 'loss' ? '1' : name === 'step time' ? 'ms' : 'bytes',
            order: 5 + i,
          });
          samples.set(track, { tsNs: [], values: [] });
          return track;
        }),
      )
    : [];
  const lossTracks = o.loss && !o.runtimeTracks ? tracks.map((_, r) => counterTrack(r, 'loss', '1')) : [];
  // The runtime's counters, in its order (runtime/runTrace.ts): fp32 Adam holds 4 bytes of parameters,
  // 4 of gradients and 8 of optimizer state per parameter of the config's MLP.
  const h = grad / 4 / 64 - 1;
  const psi = 64 * h + h + h + 1;
  const wanted = (name: CounterName): boolean =>
    !o.runtimeTracks && (o.memory === true || (Array.isArray(o.memory) && o.memory.includes(name)));
  const constantCounters = (
    [
      // Σ S of the step's collectives (the gradient, in buckets), and on the wire 2(n−1)/n of it.
      ['bytes per step', grad],
      ['bytes on the wire per step', (2 * (R - 1) * grad) / R],
      ['memory: parameters', 4 * psi],
      ['memory: gradients', 4 * psi],
      ['memory: optimizer state', 8 * psi],
    ] as const
  ).filter(([name]) => wanted(name));
  const constantTracks = tracks.map((_, r) => constantCounters.map(([name]) => counterTrack(r, name, 'bytes')));
  const activationTracks = wanted('memory: activations')
    ? tracks.map((_, r) => counterTrack(r, 'memory: activations', 'bytes'))
    : [];
  const slice = (s: Slice): number => m.slices.push(s) - 1;
  /** Rank r's i-th model-parallel collective of a phase of step `step`, from `at`; returns when it ends (every rank alike). */
  const modelParallelCollective = (
    r: number,
    step: number,
    i: number,
    phase: 'forward' | 'backward',
    at: number,
  ): number => {
    if (!mp) return at;
    const op = mp.kind === 'pp' ? (phase === 'forward' ? 'send' : 'recv') : mpOp;
    slice({
      track: tracks[r].comm,
      name: op,
      category: 'collective',
      startNs: at,
      durNs: mpTransfer,
      args: {
        op,
        seq: (step * 2 + (phase === 'forward' ? 0 : 1)) * mp.perPhase + i,
        group: groupName(mp.kind, mpGroupOf(r), 0),
        groupSize: mpSize,
        bytes: mp.bytes,
        dtype: kineto ? 'Float' : 'f32',
        transferNs: mpTransfer,
        waitNs: 0,
      },
    });
    return at + mpTransfer;
  };
  const collectives: number[][] = [];
  let t = 0;
  let seq = 0;
  let steps = 0;
  // DP × PP (o.pipeline): each rank's pp and dp group, on tracks named as the runtime names them.
  const S = pipe?.stages ?? 1,
    D = R / S;
  const stageOf = (r: number) => Math.floor(r / D);
  const ppGroupName = (r: number) =>
    `pp group ${r % D} (ranks ${Array.from({ length: S }, (_, k) => (r % D) + D * k).join(',')})`;
  const stageDpGroupName = (r: number) =>
    `dp group ${stageOf(r)} (ranks ${Array.from({ length: D }, (_, k) => stageOf(r) * D + k).join(',')})`;
  const groupTracks = pipe
    ? tracks.map((_, r) => ({
        pp: addTrack(m, { pid: r, name: ppGroupName(r), type: 'slice', stream: 'communication', gpu: true }),
        dp: addTrack(m, { pid: r, name: stageDpGroupName(r), type: 'slice', stream: 'communication', gpu: true }),
      }))
    : [];
  const p2pSeq = new Map<string, number>();
  const groupSeq = new Map<string, number>();
  const nextSeq = (map: Map<string, number>, key: string): number => {
    const n = map.get(key) ?? 0;
    map.set(key, n + 1);
    return n;
  };
  /**
   * One GPipe step of every pipeline from `stepStart` (see SyntheticOptions.pipeline); returns
   * each rank's forward end, backward end and optimizer start, and the step's end.
   */
  const pipelineStep = (s: number, stepStart: number) => {
    const M = pipe!.microBatches,
      P = pipe!.p2pNs ?? 0,
      bytes = pipe!.p2pBytes ?? 32 * 1024;
    const f = o.fwdNs ?? 100_000;
    const fwdEnd = new Array<number>(R).fill(0),
      bwdEnd = new Array<number>(R).fill(0),
      optStart = new Array<number>(R).fill(0);
    /** A message from rank `from` to `to` leaving at `at`: both ends' spans; returns its arrival. */
    const send = (from: number, to: number, at: number): number => {
      const group = ppGroupName(from);
      const k = nextSeq(p2pSeq, `${from}>${to}`);
      const common = { group, bytes, dtype: 'f32', algorithm: 'direct', transferNs: P, waitNs: 0 };
      const a = slice({
        track: groupTracks[from].pp,
        name: 'send',
        category: 'collective',
        startNs: at,
        durNs: P,
        args: { op: 'send', seq: nextSeq(groupSeq, `${from}|${group}`), ...common, sendTo: to, sendSeq: k },
      });
      const b = slice({
        track: groupTracks[to].pp,
        name: 'recv',
        category: 'collective',
        startNs: at,
        durNs: P,
        args: { op: 'recv', seq: nextSeq(groupSeq, `${to}|${group}`), ...common, recvFrom: from, recvSeq: k },
      });
      if (o.flows) m.flows.push({ id: m.flows.length + 1, from: a, to: b });
      return at + P;
    };
    const kernel = (r: number, phase: 'forward' | 'backward', mb: number, startNs: number, durNs: number): number => {
      slice({
        track: tracks[r].compute,
        name: `${phase === 'forward' ? 'fwd' : 'bwd'} stage ${stageOf(r)} micro-batch ${mb}`,
        category: 'kernel',
        startNs,
        durNs,
        args: { phase, microBatch: mb },
      });
      return startNs + durNs;
    };
    for (let d = 0; d < D; d++) {
      const rank = (stage: number) => d + D * stage;
      // Forward: stage k runs micro-batch i when it is free and the activations have arrived.
      let arrive = new Array<number>(M).fill(stepStart + (s === 0 ? (o.warmupNs ?? 0) : 0));
      for (let k = 0; k < S; k++) {
        const r = rank(k);
        let free = stepStart;
        const next: number[] = [];
        for (let i = 0; i < M; i++) {
          free = kernel(r, 'forward', i, Math.max(free, arrive[i]), f);
          if (k + 1 < S) next.push(send(r, rank(k + 1), free));
        }
        fwdEnd[r] = free;
        arrive = next;
      }
      // Backward, last micro-batch first, from the last stage down.
      let grads: number[] = [];
      for (let k = S - 1; k >= 0; k--) {
        const r = rank(k);
        let free = fwdEnd[r];
        const next: number[] = [];
        for (let i = M - 1; i >= 0; i--) {
          free = kernel(r, 'backward', i, Math.max(free, k === S - 1 ? free : grads[M - 1 - i]), 2 * f);
          if (k > 0) next.push(send(r, rank(k - 1), free));
        }
        bwdEnd[r] = free;
        grads = next;
      }
    }
    // Each stage's gradients all-reduced over its dp group (ring time on the emulated link), then the optimizer.
    const stageBytes = grad / S;
    const ring = D > 1 ? 2 * (D - 1) * alpha + (2 * ((D - 1) / D) * stageBytes) / bw : 0;
    let stepEnd = 0;
    for (let k = 0; k < S; k++) {
      const members = Array.from({ length: D }, (_, d) => d + D * k);
      const start = Math.max(...members.map((r) => bwdEnd[r]));
      for (const r of members) {
        if (D > 1)
          slice({
            track: groupTracks[r].dp,
            name: 'allReduce',
            category: 'collective',
            startNs: bwdEnd[r],
            durNs: start + ring - bwdEnd[r],
            args: {
              op: 'allReduce',
              seq: nextSeq(groupSeq, `${r}|${stageDpGroupName(r)}`),
              group: stageDpGroupName(r),
              bytes: stageBytes,
              dtype: 'f32',
              algorithm: 'ring',
              waitNs: start - bwdEnd[r],
              transferNs: ring,
            },
          });
        optStart[r] = start + ring;
        slice({
          track: tracks[r].compute,
          name: 'adam update',
          category: 'kernel',
          startNs: optStart[r],
          durNs: opt,
          args: { phase: 'optimizer' },
        });
        stepEnd = Math.max(stepEnd, optStart[r] + opt);
      }
    }
    return { fwdEnd, bwdEnd, optStart, stepEnd };
  };
  for (let s = 0; s < minSteps || (o.targetSlices !== undefined && m.slices.length < o.targetSlices); s++) {
    steps++;
    const stepStart = t;
    if (pipe) {
      const { fwdEnd, bwdEnd, optStart, stepEnd } = pipelineStep(s, stepStart);
      for (let r = 0; r < R; r++) {
        slice({
          track: tracks[r].host,
          name: `step ${s}`,
          category: 'step',
          startNs: stepStart,
          durNs: stepEnd - stepStart,
          args: { step: s },
        });
        if (o.hostPhases) {
          const host = tracks[r].host;
          slice({ track: host, name: 'forward', category: 'host', startNs: stepStart, durNs: fwdEnd[r] - stepStart });
          slice({ track: host, name: 'backward', category: 'host', startNs: fwdEnd[r], durNs: bwdEnd[r] - fwdEnd[r] });
          slice({ track: host, name: 'optimizer', category: 'host', startNs: optStart[r], durNs: opt });
        }
        if (lossTracks[r] !== undefined)
          sample(lossTracks[r], stepEnd, Number((2.5 * Math.exp(-s / (minSteps / 2 + 1)) + 0.3).toFixed(4)));
      }
      t = stepEnd + (o.stepGapNs ?? 5_000);
      continue;
    }
    // Each rank computes forward + backward; bucket b is ready when its share of backward is done.
    const readyAt: number[][] = [];
    const fwdEnd: number[] = [];
    const bwdEnd: number[] = [];
    for (let r = 0; r < R; r++) {
      const tr = tracks[r];
      const k = fwd + (r === o.slowRank ? (o.slowExtraNs ?? 0) : 0);
      let c = stepStart + (s === 0 ? (o.warmupNs ?? 0) : 0);
      for (let i = 0; i < K; i++) {
        const d = vary(k, 0.5);
        slice({
          track: tr.compute,
          name: `matmul 64x128x32 fwd fc${i}`,
          category: 'kernel',
          startNs: c,
          durNs: d,
          args: { phase: 'forward', flops: 2 * 64 * 128 * 32 },
        });
        c += d;
        if (mp && i < mp.perPhase) c = modelParallelCollective(r, s, i, 'forward', c);
      }
      fwdEnd.push(c);
      c += mp?.idleNs ?? 0;
      readyAt.push([]);
      for (let i = 0; i < 2 * K; i++) {
        const d = vary(k, 0.5);
        slice({
          track: tr.compute,
          name: `matmul 64x128x32 bwd fc${K - 1 - (i >> 1)}`,
          category: 'kernel',
          startNs: c,
          durNs: d,
          args: { phase: 'backward', flops: 2 * 64 * 128 * 32 },
        });
        c += d;
        if (mp && i < mp.perPhase) c = modelParallelCollective(r, s, i, 'backward', c);
        const done = (i + 1) / (2 * K);
        for (let b = readyAt[r].length; b < B && done >= (b + 1) / B - 1e-9; b++) readyAt[r].push(c);
      }
      bwdEnd.push(c);
    }
    let commFree = stepStart;
    let lastEnd = 0;
    const staging = (o.stagingNsPerByte ?? 0) * bucketBytes;
    const back = (o.h2dNsPerByte ?? 0) * bucketBytes;
    // Each rank's copies share one queue and run one at a time in the order they are issued:
    // bucket b's D2H when its gradients are ready, its H2D when its all-reduce ends.
    const queueFree = new Array<number>(R).fill(stepStart);
    const pendingH2D: number[][] = Array.from({ length: R }, () => []);
    const copy = (r: number, name: 'D2H' | 'H2D', issuedNs: number, durNs: number): number => {
      const startNs = Math.max(issuedNs, queueFree[r]);
      slice({
        track: tracks[r].staging,
        name,
        category: 'staging',
        startNs,
        durNs,
        args: { direction: name === 'D2H' ? 'd2h' : 'h2d', bytes: bucketBytes },
      });
      queueFree[r] = startNs + durNs;
      return startNs;
    };
    /** Runs the H2D copies issued by `issuedBy` (all when undefined); returns when the last ends. */
    const flushH2D = (r: number, issuedBy = Infinity): number => {
      let endNs = 0;
      while (pendingH2D[r].length > 0 && pendingH2D[r][0] <= issuedBy)
        endNs = copy(r, 'H2D', pendingH2D[r].shift()!, back) + back;
      return endNs;
    };
    for (let b = 0; b < B; b++) {
      // A rank arrives once its bucket's gradients are ready and copied to the host. Without
      // overlap every bucket is ready when backward ends, and the copies follow each other.
      const arrive: number[] = [];
      for (let r = 0; r < R; r++) {
        const ready = o.overlap ? readyAt[r][b] : bwdEnd[r];
        if (staging > 0) {
          lastEnd = Math.max(lastEnd, flushH2D(r, ready));
          arrive.push(copy(r, 'D2H', ready, staging) + staging);
        } else arrive.push(ready);
      }
      let start = commFree;
      for (let r = 0; r < R; r++) start = Math.max(start, arrive[r]);
      const transferNs = vary(transfer, 0.05);
      const end = start + transferNs;
      const ids: number[] = [];
      for (let r = 0; r < R; r++) {
        const a = Math.max(arrive[r], commFree);
        ids.push(
          slice({
            track: tracks[r].comm,
            name: 'allReduce',
            category: 'collective',
            startNs: a,
            durNs: end - a,
            args: {
              op: 'allReduce',
              seq,
              group: dpGroupName(r),
              ...(mp ? { groupSize: dpSize } : {}),
              bytes: bucketBytes,
              dtype: kineto ? 'Float' : 'f32',
              algorithm: 'ring',
              // As the runtime writes them (runtime/commSpans.ts): bandwidths over the transfer time.
              algbwGBps: Number((bucketBytes / transferNs).toFixed(3)),
              busbwGBps: Number(((bucketBytes / transferNs) * ((2 * (dpSize - 1)) / dpSize)).toFixed(3)),
              waitNs: start - a,
              transferNs,
            },
          }),
        );
        if (back > 0) pendingH2D[r].push(end);
        const wait = tracks[r].wait;
        if (wait !== undefined)
          slice({
            track: wait,
            name: 'wait allReduce',
            category: 'wait',
            startNs: a,
            durNs: end - a,
            args: {
              op: 'allReduce',
              seq,
              group: dpGroupName(r),
              blockedNs: end - a,
              peerWaitNs: start - a,
              transferNs,
            },
          });
      }
      collectives.push(ids);
      seq++;
      commFree = end;
      lastEnd = Math.max(lastEnd, end);
    }
    // The optimizer waits for the last copy back.
    for (let r = 0; r < R; r++) lastEnd = Math.max(lastEnd, flushH2D(r));
    let stepEnd = 0;
    const optStart: number[] = [];
    for (let r = 0; r < R; r++) {
      const os = Math.max(lastEnd, bwdEnd[r]);
      optStart.push(os);
      slice({
        track: tracks[r].compute,
        name: 'adam update',
        category: 'kernel',
        startNs: os,
        durNs: opt,
        args: { phase: 'optimizer' },
      });
      stepEnd = Math.max(stepEnd, os + opt);
    }
    for (let r = 0; r < R; r++) {
      const host = tracks[r].host;
      slice({
        track: host,
        name: `step ${s}`,
        category: 'step',
        startNs: stepStart,
        durNs: stepEnd - stepStart,
        args: { step: s },
      });
      if (o.hostPhases) {
        slice({ track: host, name: 'forward', category: 'host', startNs: stepStart, durNs: fwdEnd[r] - stepStart });
        slice({ track: host, name: 'backward', category: 'host', startNs: fwdEnd[r], durNs: bwdEnd[r] - fwdEnd[r] });
        slice({ track: host, name: 'optimizer', category: 'host', startNs: optStart[r], durNs: opt });
      }
      if (o.loss) {
        const loss = 2.5 * Math.exp(-s / (minSteps / 2 + 1)) + 0.3 + (rand ? rand() * 0.05 : 0);
        sample(lossTracks[r], stepEnd, Number(loss.toFixed(4)));
      }
      if (o.runtimeTracks) {
        // As the runtime samples them: at the step's start, each step's figures; memory does not change.
        const loss = 2.5 * Math.exp(-s / (minSteps / 2 + 1)) + 0.3 + (rand ? rand() * 0.05 : 0);
        const values = [
          Number(loss.toFixed(4)),
          (stepEnd - stepStart) / 1e6,
          grad,
          (2 * (R - 1) * grad) / R,
          4 * psi,
          4 * psi,
          8 * psi,
          1024 * 1024,
          grad,
        ];
        runtimeCounters[r].forEach((track, i) => sample(track, stepStart, values[i]));
      }
      if (activationTracks.length > 0) {
        // Activations grow through forward and are freed by backward.
        sample(activationTracks[r], stepStart, 256 * 1024);
        sample(activationTracks[r], fwdEnd[r], 1024 * 1024);
        sample(activationTracks[r], bwdEnd[r], 256 * 1024);
      }
    }
    t = stepEnd + (o.stepGapNs ?? 5_000);
  }
  for (const ids of constantTracks)
    ids.forEach((track, i) => {
      sample(track, 0, constantCounters[i][1]);
      sample(track, t, constantCounters[i][1]);
    });
  for (const [track, c] of samples) m.counters.push({ track, ...c });
  if (o.flows) {
    let id = 1;
    for (const ids of collectives) {
      const order = [...ids].sort((a, b) => m.slices[a].startNs - m.slices[b].startNs);
      for (let i = 0; i + 1 < order.length; i++) m.flows.push({ id: id++, from: order[i], to: order[i + 1] });
    }
  }
  if (steps !== minSteps) config.steps = steps;
  if (!kineto) m.meta.info.config = JSON.stringify(config);
  return finalizeModel(m);
}
