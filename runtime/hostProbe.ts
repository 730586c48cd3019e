/**
 * Measures, at the start of every run, what the replay needs to price host work it cannot
 * read off the trace of the run itself: how fast this machine's cores run each gradient
 * codec the runtime has, and how fast (fixed latency + bytes / speed) a staging copy
 * moves data between the GPU and the host. Kept well under a second.
 *
 * Codecs: the runtime's own hooks (runtime/strategies), configured as this run's options
 * would configure them, each run on one bucket of gradients against a loopback group of
 * the run's world size (every collective returns at once with data of the right shape),
 * so the timed work is exactly a rank's encode + decode work for one exchange, on one
 * core, once V8 has compiled it as it will have by a run's steady state (CODEC_WARMUP_CALLS).
 * Σ of the hooks' own encode/decode spans over the bucket's f32 bytes.
 *
 * Outer step: the host loops of DiLoCo's outer step (runtime/strategies/localUpdates.ts),
 * timed on a quarter million parameters.
 *
 * Host share: what each rank gets of a core when every rank runs such loops at once
 * (runtime/hostShare.ts), for pricing all of the above in the run.
 *
 * Staging: the calls runtime/strategies/staging.ts and runtime/comm/gpuStaging.ts make,
 * timed the way their trace spans are: device-to-host from the copy's submission to the
 * mapped data copied out; host-to-device the `writeBuffer` call. Several sizes, fitted by
 * least squares to latency + bytes / speed.
 *
 * Dispatch: the fixed time of one kernel dispatch apart from its work (runtime/dispatchProbe.ts),
 * on one device per rank at once, for the layout model's pipeline-parallel micro-batches; then,
 * on the same devices, how much faster a rank's kernels run alone than with every rank
 * dispatching at once (its `sharing`, 0.29–0.32 s more on 2 lavapipe ranks and 0.43–0.51 s on
 * 4, quiet).
 *
 * Load: the cores the machine's other programs use while this process sleeps (IDLE_WINDOW_MS
 * first, before anything else runs) and while the dispatch probe keeps the ranks' devices
 * computing without a pause: what they take when the run leaves them the machine (the load
 * analysis/replay/load.ts prices host loops beside when the run's own split counter is absent),
 * and when the run wants all of it (recorded for reference).
 */
import { requestAdapter, requestDevice } from './gpu/dawn';
import { quietly } from './gpu/quietWait';
import type { RunConfig } from './config';
import type { Collectives, ReduceOp } from './strategies/collectives';
import { Bf16Hook, Fp16Hook, Int8EfHook, type GradientHook, type HookEnv } from './strategies/hooks';
import { TopKDgcHook } from './strategies/topkDgc';
import { PowerSgdHook } from './strategies/powerSgd';
import { SignCodec } from './strategies/codecs';
import { compressedAllReduce, newErrorFeedback } from './strategies/compressedAllReduce';
import { resolveOptions } from './strategies/options';
import { mixInto, nesterovStep, outerGradient } from './strategies/localUpdates';
import { foldMomentum, frozenVarianceUpdate } from './strategies/onebitAdam';
import type { Bucket } from './strategies/buckets';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { hostNowNs } from './clock';
import { otherCoresDuring } from './hostCpu';
import { fitLatencyAndSpeed, median } from '../trace/stats';
import { probeDispatch, type DispatchProbe } from './dispatchProbe';
import { probeHostShare, type HostShare } from './hostShare';

/** A copy cost: fixed latency plus bytes over speed. */
export interface CopyCost {
  latencyNs: number;
  bytesPerNs: number;
}

export interface HostProbe {
  /**
   * Per codec (the advisor's compressor names: fp16, bf16, int8-ef, topk-dgc, powersgd,
   * onebit-adam): encode + decode throughput of one core, in bytes of f32 gradient per ns
   * (= GB/s), as the runtime's hook does it for one exchange of one bucket.
   */
  codecBytesPerNs: Record<string, number>;
  /** The same over the wall time the probe saw (lower when other processes shared the core). */
  codecWallBytesPerNs: Record<string, number>;
  /** Staging copies GPU → host (copy + map + read) and host → GPU (writeBuffer call). */
  d2h: CopyCost;
  h2d: CopyCost;
  /**
   * The host loops of DiLoCo's outer step (runtime/strategies/localUpdates.ts), one core,
   * bytes of f32 parameters per ns: the outer gradient, the Nesterov step, the merge into
   * parameters that moved on.
   */
  outerStepBytesPerNs: OuterStepSpeeds;
  /** The same over the wall time the probe saw (lower when other processes shared the core). */
  outerStepWallBytesPerNs: OuterStepSpeeds;
  /**
   * 1-bit Adam's optimizer in its compressed phase runs on the host instead of the GPU
   * (runtime/strategies/onebitAdam.ts): its two loops, one core, bytes of f32 parameters per
   * ns: folding the gradient into the momentum before the exchange, the update after it.
   */
  onebitAdamBytesPerNs: OnebitAdamSpeeds;
  onebitAdamWallBytesPerNs: OnebitAdamSpeeds;
  /**
   * Where the host loops above were timed: `worker` (a fresh worker thread, as the ranks run
   * them), else why not and `main` (the probe's own thread). Absent in runs before 2026-12-06.
   */
  hostLoopsThread?: string;
  /**
   * The share of a core each rank's host loops get when all the run's ranks run them at once
   * (runtime/hostShare.ts); `hostShareError` instead when it could not be measured.
   */
  hostShare?: HostShare;
  hostShareError?: string;
  /** Bucket size the codecs were timed on (bytes of f32), the world size they were timed for. */
  codecBytes: number;
  worldSize: number;
  /**
   * The fixed time of one kernel dispatch apart from its work, on the run's ranks at once
   * (runtime/dispatchProbe.ts); `dispatchError` instead when it could not be measured.
   */
  dispatch?: DispatchProbe;
  dispatchError?: string;
  /** The cores other programs used while the probe's process slept, and while its ranks computed (LoadProbe). */
  load?: LoadProbe;
  /** The machine's 1-minute load average when the probe ran. */
  loadAverage: number;
  /** Wall time of the whole probe, ns. */
  wallNs: number;
}

/**
 * The cores the machine's other programs used (the machine's busy time, every core, less this
 * process's CPU time, over the wall time; never below 0), in two windows of the probe.
 */
export interface LoadProbe {
  /** While this process slept (IDLE_WINDOW_MS): what they take when a run leaves them the machine. */
  idleOtherCores: number;
  idleWindowNs: number;
  /** This process's own CPU meanwhile (its threads are not all asleep: V8, the GPU driver's). */
  idleProcessCores: number;
  /**
   * While the dispatch probe kept every rank's device computing without a pause (its wall time,
   * devices and pipelines made included): what they take from a run that always computes.
   * Absent when the dispatch probe failed.
   */
  computingOtherCores?: number;
  computingWindowNs?: number;
}

/** How long the probe's process sleeps to read the other programs' load alone (os.cpus() counts 10 ms ticks per core). */
export const IDLE_WINDOW_MS = 300;

export interface OuterStepSpeeds {
  gradient: number;
  nesterov: number;
  mix: number;
}

export interface OnebitAdamSpeeds {
  momentum: number;
  update: number;
}

/**
 * Timed repetitions of each codec and host loop. Its speed on a core of its own is the fastest
 * of them: a repetition the scheduler interrupted took longer, and the CPU-time correction
 * cannot always see that (`process.cpuUsage` counts every thread of the process, so beside
 * busy threads of the same process it reads a whole core). With two busy worker threads in
 * the probing process, as bench:advisor's loaded passes had then, 1-bit Adam's codec read
 * 0.041 GB/s per core in 2 of 10 probes by the median of 3 (0.103–0.111 in the others):
 * priced at that, the codec of a 4-rank mlp-small step came to 306 ms instead of ~114.
 */
export const PROBE_REPS = 5;

/** Bytes per ns on a core of its own: the fastest of the repetitions' CPU-corrected times. */
export function perCoreSpeed(bytes: number, cpuNs: readonly number[]): number {
  return bytes / Math.max(1, Math.min(...cpuNs));
}

/**
 * Times a host loop over `values` f32 parameters: `warmup` untimed calls (V8 compiles it by
 * the run's steady state), then `reps` timed ones: per core the fastest (corrected by the CPU
 * time the process got), over the wall the median, in bytes of f32 parameters per ns.
 */
function timeLoop(values: number, reps: number, warmup: number, loop: () => void): { perCore: number; wall: number } {
  for (let i = 0; i < warmup; i++) loop();
  const cpu: number[] = [],
    wall: number[] = [];
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const w0 = hostNowNs();
    loop();
    const wallNs = hostNowNs() - w0;
    const c = process.cpuUsage(c0);
    const share = Math.min(1, ((c.user + c.system) * 1000) / Math.max(1, wallNs));
    // cpuUsage counts in µs: a loop shorter than that reads as no CPU at all; keep its wall time then.
    cpu.push(share > 0 ? wallNs * share : wallNs);
    wall.push(wallNs);
  }
  return { perCore: perCoreSpeed(values * 4, cpu), wall: (values * 4) / Math.max(1, median(wall)) };
}

/** Times 1-bit Adam's two host loops of the compressed phase on `values` parameters. */
export function probeOnebitAdam(opts: { values?: number; reps?: number; warmup?: number } = {}): {
  perCore: OnebitAdamSpeeds;
  wall: OnebitAdamSpeeds;
} {
  const values = opts.values ?? 256 * 1024;
  const reps = opts.reps ?? PROBE_REPS;
  const warmup = opts.warmup ?? 3;
  const g = gradients(values, 5);
  const p = gradients(values, 6);
  const m = gradients(values, 7);
  const inv = gradients(values, 8).map((x) => 1 / (Math.abs(x) + 1e-3));
  const u = new Float32Array(values);
  const momentum = timeLoop(values, reps, warmup, () =>
    foldMomentum(u, m, g, p, inv, { beta1: 0.9, lossScale: 1, weightDecay: 0.01 }),
  );
  // The update moves p and m a little on each call; nothing it branches on (inv = 0) changes.
  const update = timeLoop(values, reps, warmup, () =>
    frozenVarianceUpdate(p, m, u, inv, { lr: 1e-3, decoupledWeightDecay: 0.01, bc1: 0.5 }),
  );
  return {
    perCore: { momentum: momentum.perCore, update: update.perCore },
    wall: { momentum: momentum.wall, update: update.wall },
  };
}

/**
 * Times the outer step's host loops on `values` parameters (a warm-up call, then `reps`: per
 * core the fastest, corrected to a core of its own by the CPU time the process got, as the codecs).
 */
export function probeOuterStep(opts: { values?: number; reps?: number } = {}): {
  perCore: OuterStepSpeeds;
  wall: OuterStepSpeeds;
} {
  const values = opts.values ?? 256 * 1024;
  const reps = opts.reps ?? PROBE_REPS;
  const g = gradients(values, 3);
  const local = gradients(values, 4);
  const delta = new Float32Array(values);
  const momentum = new Float32Array(values);
  const time = (loop: () => void): { perCore: number; wall: number } => {
    const cpu: number[] = [],
      wall: number[] = [];
    for (let i = 0; i <= reps; i++) {
      const c0 = process.cpuUsage();
      const w0 = hostNowNs();
      loop();
      const wallNs = hostNowNs() - w0;
      const c = process.cpuUsage(c0);
      if (i === 0) continue;
      const share = Math.min(1, ((c.user + c.system) * 1000) / Math.max(1, wallNs));
      // cpuUsage counts in µs: a loop shorter than that reads as no CPU at all; keep its wall time then.
      cpu.push(share > 0 ? wallNs * share : wallNs);
      wall.push(wallNs);
    }
    return { perCore: perCoreSpeed(values * 4, cpu), wall: (values * 4) / Math.max(1, median(wall)) };
  };
  const gradient = time(() => outerGradient(g, local, delta));
  const nesterov = time(() => nesterovStep(g, momentum, delta, 0.9, 0.7));
  const mix = time(() => mixInto(local, g, 0.5));
  return {
    perCore: { gradient: gradient.perCore, nesterov: nesterov.perCore, mix: mix.perCore },
    wall: { gradient: gradient.wall, nesterov: nesterov.wall, mix: mix.wall },
  };
}

/**
 * A group of `worldSize` whose collectives return at once with data of the right shape: isolates a
 * rank's own host work. `onReturn` is called as each collective returns, after its copies.
 */
export function loopbackCollectives(worldSize: number, onReturn: () => void = () => undefined): Collectives {
  const done = <T>(value: T): T => {
    onReturn();
    return value;
  };
  return {
    rank: 0,
    worldSize,
    allReduceF32: async (_d: Float32Array, _op: ReduceOp) => done(undefined),
    allReduceF16: async (_b: Uint16Array, _op: ReduceOp) => done(undefined),
    allGatherBytes: async (mine: Uint8Array, into?: Uint8Array) => {
      const out = into ?? new Uint8Array(mine.length * worldSize);
      for (let r = 0; r < worldSize; r++) out.set(mine, r * mine.length);
      return done(out);
    },
    allGatherF32: async (mine: Float32Array) => {
      const out = new Float32Array(mine.length * worldSize);
      for (let r = 0; r < worldSize; r++) out.set(mine, r * mine.length);
      return done(out);
    },
    allToAllBytes: async (send: Uint8Array, into?: Uint8Array) => {
      if (!into) return done(send.slice());
      into.set(send);
      return done(into);
    },
    reduceScatterF32: async (data: Float32Array) => done(data.slice(0, data.length / worldSize)),
  };
}

/** Gradient-like values (deterministic, mixed signs and magnitudes). */
function gradients(n: number, seed: number): Float32Array {
  const g = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    g[i] = (s / 4294967296 - 0.5) * 1e-2 * (1 + (i % 7));
  }
  return g;
}

type Exchange = (grads: Float32Array, step: number) => Promise<void>;

/** The exchanges to time, by compressor name, as `config` would configure them. */
function exchanges(
  config: RunConfig,
  worldSize: number,
  values: number,
  sink: HookEnv['span'],
  onReturn?: () => void,
): Record<string, Exchange> {
  const o = resolveOptions(config);
  const env: HookEnv = { coll: loopbackCollectives(worldSize, onReturn), span: sink };
  const bucket: Bucket = { index: 0, offset: 0, length: values, layers: [0] };
  // PowerSGD on one square matrix filling the bucket: its host work per value (P = MQ,
  // Q = MᵀP, M̂ = PQᵀ) is ~3r multiply-adds whatever the shape.
  const side = Math.floor(Math.sqrt(values));
  const hook =
    (h: GradientHook): Exchange =>
    (g, step) =>
      h.exchange(bucket, g, step);
  const signEf = newErrorFeedback(values, worldSize);
  const sign = new SignCodec(o.onebitChunkSize);
  return {
    fp16: hook(new Fp16Hook(env)),
    bf16: hook(new Bf16Hook(env)),
    'int8-ef': hook(new Int8EfHook(env, o.int8ChunkSize)),
    'topk-dgc': hook(
      new TopKDgcHook(env, { density: o.density, momentum: o.dgcMomentum, warmupSteps: 0, clipNorm: o.dgcClipNorm }),
    ),
    powersgd: hook(
      new PowerSgdHook(env, o.powerSgdRank, () => [{ offset: 0, rows: side, cols: side }], 0, config.seed),
    ),
    'onebit-adam': (g) => compressedAllReduce(env.coll, g, sign, signEf, sink),
  };
}

/**
 * Untimed calls of each codec before any is timed. A rank runs its codec on every step, so
 * by the steps the replay predicts, V8 has compiled it with its optimizing tier; a fresh
 * probe's first calls run it in the baseline tiers instead, 2-4x slower on this machine
 * (1-bit Adam's sign codec 0.023 GB/s per core on a first probe timed from its second call,
 * 0.07 on a second probe in the same process). Every codec is warmed before the first is timed, as they share functions
 * (the compressed all-reduce) whose compiled code a later codec would otherwise change.
 * Ten calls were enough on one machine and not on another: there the bf16 codec's first probe
 * read 0.27-0.29 of its warmed speed after 10 calls in every fresh process, 0.95-1.05 after 20
 * (which cost the probe about 50 ms more).
 */
export const CODEC_WARMUP_CALLS = 20;

/**
 * The CPU time of a codec's spans within an exchange: the process's CPU from the last boundary
 * (the exchange's start, a span's end, a collective's return) to each counted span's end, at most
 * the span's wall time (one thread; the hook's work before the span, when the thread ran it all,
 * is left out so). A span's own CPU, wherever the scheduler preempted its thread, and nothing of
 * the collectives' copies between spans. The probe used to scale the spans' wall time by the
 * share of a core the thread got over the whole exchange, copies included, so a preemption in
 * the copies counted against the spans: the first run of a pass beside two busy threads read
 * int8-EF at 0.297 GB/s per core where its spans over the wall read 0.134, the quiet machine's
 * figure (2026-12-06), and the fastest of five repetitions picks such a one out. `cpuNowNs` is
 * the process's CPU (cpuUsage, µs): at the probe its only busy thread is the codec's.
 */
export class SpanCpuMeter {
  spanNs = 0;
  cpuNs = 0;
  private markCpuNs = 0;
  constructor(
    private readonly cpuNowNs: () => number,
    private readonly counted: (name: string) => boolean,
  ) {}
  /** A repetition starts: zero the sums, mark the start. */
  reset(): void {
    this.spanNs = this.cpuNs = 0;
    this.boundary();
  }
  /** The CPU up to here is not a span's (a collective returned). */
  readonly boundary = (): void => {
    this.markCpuNs = this.cpuNowNs();
  };
  /** A span ended (the hooks' sink). */
  readonly span: HookEnv['span'] = (name, startNs, endNs) => {
    if (this.counted(name)) {
      this.spanNs += endNs - startNs;
      this.cpuNs += Math.max(0, Math.min(this.cpuNowNs() - this.markCpuNs, endNs - startNs));
    }
    this.boundary();
  };
}

/** Times every codec on one bucket of `values` f32 (warm-up calls, then `reps`: per core the fastest, over the wall the median). */
export async function probeCodecs(
  config: RunConfig,
  opts: { values?: number; reps?: number; worldSize?: number; warmupCalls?: number } = {},
): Promise<{ perCore: Record<string, number>; wall: Record<string, number> }> {
  const values = opts.values ?? 64 * 1024;
  const reps = opts.reps ?? PROBE_REPS;
  const warmup = opts.warmupCalls ?? CODEC_WARMUP_CALLS;
  const worldSize = Math.max(2, opts.worldSize ?? config.worldSize);
  const meter = new SpanCpuMeter(
    () => {
      const c = process.cpuUsage();
      return (c.user + c.system) * 1000;
    },
    (name) => /^(encode|decode)/.test(name),
  );
  const perCore: Record<string, number> = {};
  const wall: Record<string, number> = {};
  const src = gradients(values, 1);
  const all = Object.entries(exchanges(config, worldSize, values, meter.span, meter.boundary));
  for (let i = 0; i < warmup; i++) for (const [, run] of all) await run(src.slice(), i);
  for (const [name, run] of all) {
    const spans: number[] = [],
      cpu: number[] = [];
    for (let i = 0; i < reps; i++) {
      const g = src.slice();
      meter.reset();
      await run(g, 1000 + i);
      spans.push(meter.spanNs);
      // The spans' CPU: the same work on a core of its own (other programs took the rest of the
      // wall time). Spans under cpuUsage's µs read as no CPU at all: their wall time then.
      cpu.push(meter.cpuNs > 0 ? meter.cpuNs : meter.spanNs);
    }
    wall[name] = (values * 4) / Math.max(1, median(spans));
    perCore[name] = perCoreSpeed(values * 4, cpu);
  }
  return { perCore, wall };
}

/** Times staging copies of several sizes on `device` and fits latency + bytes / speed for each direction. */
export async function probeStaging(
  device: GPUDevice,
  sizes = [16 * 1024, 256 * 1024, 1024 * 1024, 2 * 1024 * 1024],
): Promise<{ d2h: CopyCost; h2d: CopyCost }> {
  const max = Math.max(...sizes);
  // WebGPU flag values (the globals exist once dawn-node is loaded).
  const src = device.createBuffer({
    size: max,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    label: 'host probe source',
  });
  const dst = device.createBuffer({
    size: max,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    label: 'host probe readback',
  });
  const host = gradients(max / 4, 2);
  // One host array for every readback, as the run's buckets keep theirs (Staging.read's `into`).
  const readback = new Float32Array(max / 4);
  try {
    const d2h: { bytes: number; ns: number }[] = [];
    const h2d: { bytes: number; ns: number }[] = [];
    for (const size of sizes) {
      const dn: number[] = [],
        hn: number[] = [];
      for (let i = 0; i < 4; i++) {
        let t = hostNowNs();
        device.queue.writeBuffer(src, 0, host.buffer, 0, size);
        const h = hostNowNs() - t;
        await quietly(device.queue.onSubmittedWorkDone());
        t = hostNowNs();
        const enc = device.createCommandEncoder();
        enc.copyBufferToBuffer(src, 0, dst, 0, size);
        device.queue.submit([enc.finish()]);
        await quietly(dst.mapAsync(GPUMapMode.READ, 0, size));
        readback.set(new Float32Array(dst.getMappedRange(0, size)));
        dst.unmap();
        const d = hostNowNs() - t;
        if (i > 0) {
          dn.push(d);
          hn.push(h);
        }
      }
      d2h.push({ bytes: size, ns: median(dn) });
      h2d.push({ bytes: size, ns: median(hn) });
    }
    return { d2h: fitLatencyAndSpeed(d2h), h2d: fitLatencyAndSpeed(h2d) };
  } finally {
    src.destroy();
    dst.destroy();
  }
}

export interface HostLoopsRequest {
  config: RunConfig;
  /** f32 values of the codecs' bucket. */
  values: number;
}

export interface HostLoops {
  codecs: { perCore: Record<string, number>; wall: Record<string, number> };
  outer: { perCore: OuterStepSpeeds; wall: OuterStepSpeeds };
  onebit: { perCore: OnebitAdamSpeeds; wall: OnebitAdamSpeeds };
}

/** Times the host loops on this thread: the codecs, DiLoCo's outer step, 1-bit Adam's two loops. */
export async function timeHostLoops(r: HostLoopsRequest): Promise<HostLoops> {
  const codecs = await probeCodecs(r.config, { values: r.values });
  return { codecs, outer: probeOuterStep(), onebit: probeOnebitAdam() };
}

/**
 * The host loops timed in a worker thread of its own (hostLoopsWorker.ts), else, when it cannot
 * start, on this thread (`thread` says which, and why). Each rank runs its loops in a worker of
 * its own, a fresh V8 isolate. The probe's thread is the coordinator's, which in one process
 * may have run earlier runs (verify's rounds, bench:advisor's passes), and after a run it read
 * the codecs slower than a fresh isolate does; why is not pinned down (probing again and again in
 * one process does not do it, a run does). On this project's 2-core machine (2026-12-06, two
 * bench:advisor passes of 10 mlp-small DDP baselines each, one process per pass): int8-EF 0.132
 * and 0.297 GB/s per core in each pass's first run (the second a misreading, SpanCpuMeter),
 * 0.103-0.106 in 17 of the 18 after them (0.161 in one); 1-bit Adam's 0.108-0.109, then
 * 0.087-0.090. docs/benchmarks.md.
 */
export async function probeHostLoops(
  r: HostLoopsRequest,
  workerFile = join(__dirname, 'hostLoopsWorker.js'),
): Promise<HostLoops & { thread: string }> {
  let why: string;
  try {
    const result = await new Promise<HostLoops>((resolve, reject) => {
      const w = new Worker(workerFile, { workerData: r, stdout: false, stderr: false });
      w.once('message', (m: { result?: HostLoops; error?: string }) => {
        void w.terminate();
        if (m.result) resolve(m.result);
        else reject(new Error(m.error ?? 'no result'));
      });
      w.once('error', reject);
      w.once('exit', (code) => reject(new Error(`the worker exited with code ${code} before it reported`)));
    });
    return { ...result, thread: 'worker' };
  } catch (e) {
    why = (e as Error).message;
  }
  return { ...(await timeHostLoops(r)), thread: `main (the probe's worker failed: ${why})` };
}

/** The whole probe: the host loops in a worker of their own, staging on a device of its own (destroyed after), then the dispatch probe on the ranks' devices. */
export async function probeHost(config: RunConfig): Promise<HostProbe> {
  const t0 = hostNowNs();
  const values = 64 * 1024;
  const loadAverage = loadavg()[0];
  // First, before this process does anything: the other programs' load alone.
  const idle = await otherCoresDuring(() => new Promise<void>((resolve) => setTimeout(resolve, IDLE_WINDOW_MS)));
  const { codecs, outer, onebit, thread } = await probeHostLoops({ config, values });
  let share: { hostShare: HostShare } | { hostShareError: string };
  try {
    share = { hostShare: await probeHostShare(config.worldSize) };
  } catch (e) {
    share = { hostShareError: (e as Error).message };
  }
  const adapter = await requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter for the host probe (run `commlens doctor`)');
  const device = await requestDevice(adapter);
  let staging: { d2h: CopyCost; h2d: CopyCost };
  try {
    staging = await probeStaging(device);
  } finally {
    device.destroy();
  }
  // Its devices of its own, after the staging device is gone; a failure leaves the other figures.
  let dispatch: { dispatch: DispatchProbe } | { dispatchError: string };
  const load: LoadProbe = {
    idleOtherCores: idle.cores,
    idleWindowNs: idle.wallNs,
    idleProcessCores: idle.processCores,
  };
  try {
    const computing = await otherCoresDuring(() => probeDispatch(config.worldSize));
    dispatch = { dispatch: computing.result };
    load.computingOtherCores = computing.cores;
    load.computingWindowNs = computing.wallNs;
  } catch (e) {
    dispatch = { dispatchError: (e as Error).message };
  }
  return {
    codecBytesPerNs: codecs.perCore,
    codecWallBytesPerNs: codecs.wall,
    ...staging,
    outerStepBytesPerNs: outer.perCore,
    outerStepWallBytesPerNs: outer.wall,
    onebitAdamBytesPerNs: onebit.perCore,
    onebitAdamWallBytesPerNs: onebit.wall,
    hostLoopsThread: thread,
    ...share,
    codecBytes: values * 4,
    worldSize: Math.max(2, config.worldSize),
    ...dispatch,
    load,
    loadAverage,
    wallNs: hostNowNs() - t0,
  };
}
