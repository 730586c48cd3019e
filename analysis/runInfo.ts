/**
 * What the analysis needs to know about the run beyond its spans: world size, strategy,
 * link profile, FLOPs per step, peak FLOP/s, parameter count, sequence shape. CommLens
 * runs write these in `meta.info` (usually under `config`); imported traces mostly do not
 * have them, and every consumer must cope with `undefined`.
 */
import type { ArgValue, TraceModel } from '../trace/model';
import { median } from '../trace/stats';

export interface LinkProfile {
  name?: string;
  /** Per-message latency α, ns. */
  alphaNs: number;
  /** Bandwidth β in bytes per ns (= GB/s). */
  bytesPerNs: number;
  /**
   * Every ordered pair of ranks has a wire of its own at β (CommLens' emulated links,
   * runtime/comm/channel.ts), instead of each rank one port (a NIC) shared by its peers: an
   * all-to-all's rounds then move at once (replay/costModel.ts).
   */
  pairWires?: boolean;
}

/** A copy's cost: fixed latency plus bytes over speed. */
export interface CopyCost {
  latencyNs: number;
  bytesPerNs: number;
}

/** What CommLens' host probe (runtime/hostProbe.ts) measured at the start of the run. */
export interface HostProbeInfo {
  /** Encode + decode throughput per codec (compressor name), one core, bytes of f32 gradient per ns. */
  codecBytesPerNs: Record<string, number>;
  /** Staging copies GPU → host and host → GPU. */
  d2h?: CopyCost;
  h2d?: CopyCost;
  /** DiLoCo's outer-step host loops, one core, bytes of f32 parameters per ns (runs recorded since it was measured). */
  outerStepBytesPerNs?: { gradient: number; nesterov: number; mix: number };
  /** 1-bit Adam's host optimizer loops of its compressed phase, one core, bytes of f32 parameters per ns (runs recorded since it was measured). */
  onebitAdamBytesPerNs?: { momentum: number; update: number };
  /**
   * The share of a core the probe's thread got while it ran (median over what it timed of
   * speed over the wall / speed per core, ≤ 1): below 1 when other processes loaded the machine.
   */
  cpuShare?: number;
  /**
   * The fixed time of one kernel dispatch apart from its work (ns), measured on the run's ranks
   * at once by timing the same kernels at two sizes (runtime/dispatchProbe.ts; runs recorded since).
   */
  dispatchNs?: number;
  /**
   * How much faster one rank's kernels ran alone than with every rank computing at once
   * (runtime/dispatchProbe.ts sharing: the same kernels on one rank while the others wait; runs
   * recorded since). ~2 on lavapipe, whose ranks share the machine's cores; ~1 with a GPU per rank.
   */
  sharingSpeedup?: number;
  /**
   * The share of a core each of `threads` threads got running the same host loop at once,
   * against one thread alone (runtime/hostShare.ts; runs recorded since 2026-12-05).
   */
  hostShare?: { threads: number; share: number };
  /**
   * The cores the machine's other programs used while the probe's process slept, at the run's
   * start (runtime/hostProbe.ts LoadProbe; runs recorded since 2026-12-06): the load model's E
   * (analysis/replay/load.ts). Their cores while the dispatch probe computed, for reference.
   */
  idleOtherCores?: number;
  computingOtherCores?: number;
  loadAverage?: number;
}

export interface RunInfo {
  worldSize?: number;
  strategy?: string;
  link?: LinkProfile;
  flopsPerStep?: number;
  /** Peak FLOP/s of one rank's device. */
  peakFlops?: number;
  /** Number of model parameters Ψ. */
  paramCount?: number;
  /** Bytes per gradient element as communicated (4 for fp32). */
  gradBytesPerElement?: number;
  bucketCapMb?: number;
  localSteps?: number;
  seqLen?: number;
  hidden?: number;
  layers?: number;
  /** Device memory per rank in bytes, when known. */
  deviceMemoryBytes?: number;
  /** CPU cores of the machine the ranks ran on (CommLens runs: all ranks on one host). */
  hostCores?: number;
  /** The run's strategy options (CommLens `strategyOptions`), as given. */
  strategyOptions?: Record<string, ArgValue>;
  /** Optimizer kind (`sgd`, `adam`, `adamw`), when known. */
  optimizerKind?: string;
  /** Model kind (`mlp`, `gpt-mini`) and attention heads, when known. */
  modelKind?: string;
  heads?: number;
  /** gpt-mini's batch per data-parallel replica, vocabulary and position table (model.batchSize, vocab, maxSeqLen), when known. */
  batchSize?: number;
  vocab?: number;
  maxSeqLen?: number;
  /** Mixture of experts (model.experts, topK, capacityFactor), when the model has them. */
  experts?: number;
  topK?: number;
  capacityFactor?: number;
  /** Weight matrices of the model as [rows, cols] (for PowerSGD's volume), when the config describes them. */
  matrices?: [number, number][];
  /** 1-D parameters (biases, norms) in elements, sent uncompressed by PowerSGD. */
  vectorParams?: number;
  /** Parameters per engine layer in forward order (the units Streaming DiLoCo's fragments are cut from), when the config describes them. */
  layerParams?: number[];
  /** Codec and staging-copy speeds measured at the start of the run (CommLens runs since the host probe). */
  hostProbe?: HostProbeInfo;
  /** The run config as the trace carries it (CommLens runs): what a suggested change is applied to. */
  runConfig?: Record<string, ArgValue>;
}

type Obj = { [key: string]: ArgValue };
const isObj = (v: ArgValue | undefined): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Looks a key up (first match wins) in the given objects and their nested objects, depth ≤ 3. */
function find(objs: (Obj | undefined)[], keys: string[], depth = 0): ArgValue | undefined {
  for (const o of objs) {
    if (!o) continue;
    for (const k of keys) if (o[k] !== undefined && o[k] !== null) return o[k];
  }
  if (depth >= 3) return undefined;
  for (const o of objs) {
    if (!o) continue;
    for (const v of Object.values(o)) {
      if (isObj(v)) {
        const r = find([v], keys, depth + 1);
        if (r !== undefined) return r;
      }
    }
  }
  return undefined;
}

const num = (v: ArgValue | undefined): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) ? v : undefined;

function copyCostOf(v: ArgValue | undefined): CopyCost | undefined {
  if (!isObj(v)) return undefined;
  const latencyNs = num(v.latencyNs),
    bytesPerNs = num(v.bytesPerNs);
  return latencyNs !== undefined && latencyNs >= 0 && bytesPerNs !== undefined && bytesPerNs > 0
    ? { latencyNs, bytesPerNs }
    : undefined;
}

/** The host probe's figures, when the run recorded them (not an `{ error }` left by a probe that failed). */
function hostProbeOf(v: ArgValue | undefined): HostProbeInfo | undefined {
  if (!isObj(v) || !isObj(v.codecBytesPerNs)) return undefined;
  const codecBytesPerNs: Record<string, number> = {};
  for (const [k, x] of Object.entries(v.codecBytesPerNs)) {
    const n = num(x);
    if (n !== undefined && n > 0) codecBytesPerNs[k] = n;
  }
  const o = v.outerStepBytesPerNs;
  const speeds = isObj(o) ? [num(o.gradient), num(o.nesterov), num(o.mix)] : [];
  const outer =
    speeds.length === 3 && speeds.every((x) => x !== undefined && x > 0)
      ? { gradient: speeds[0]!, nesterov: speeds[1]!, mix: speeds[2]! }
      : undefined;
  const ob = v.onebitAdamBytesPerNs;
  const obSpeeds = isObj(ob) ? [num(ob.momentum), num(ob.update)] : [];
  const onebit =
    obSpeeds.length === 2 && obSpeeds.every((x) => x !== undefined && x > 0)
      ? { momentum: obSpeeds[0]!, update: obSpeeds[1]! }
      : undefined;
  // What the probe's thread got of a core: its speeds over the wall against per core, each timing alike.
  const shares: number[] = [];
  const ratios = (perCore: ArgValue | undefined, wall: ArgValue | undefined): void => {
    if (!isObj(perCore) || !isObj(wall)) return;
    for (const [k, x] of Object.entries(perCore)) {
      const c = num(x),
        w = num(wall[k]);
      if (c !== undefined && w !== undefined && c > 0 && w > 0) shares.push(Math.min(1, w / c));
    }
  };
  ratios(v.codecBytesPerNs, v.codecWallBytesPerNs);
  ratios(v.outerStepBytesPerNs, v.outerStepWallBytesPerNs);
  ratios(v.onebitAdamBytesPerNs, v.onebitAdamWallBytesPerNs);
  const cpuShare = shares.length > 0 ? median(shares) : undefined;
  const dispatchNs = isObj(v.dispatch) ? num(v.dispatch.fixedNs) : undefined;
  const sharingSpeedup = isObj(v.dispatch) && isObj(v.dispatch.sharing) ? num(v.dispatch.sharing.speedup) : undefined;
  const hs = isObj(v.hostShare) ? { threads: num(v.hostShare.threads), share: num(v.hostShare.share) } : undefined;
  const hostShare =
    hs && hs.threads !== undefined && hs.threads >= 1 && hs.share !== undefined && hs.share > 0 && hs.share <= 1
      ? { threads: hs.threads, share: hs.share }
      : undefined;
  const idleOtherCores = isObj(v.load) ? num(v.load.idleOtherCores) : undefined;
  const computingOtherCores = isObj(v.load) ? num(v.load.computingOtherCores) : undefined;
  return {
    codecBytesPerNs,
    ...(cpuShare !== undefined ? { cpuShare } : {}),
    ...(idleOtherCores !== undefined && idleOtherCores >= 0 ? { idleOtherCores } : {}),
    ...(computingOtherCores !== undefined && computingOtherCores >= 0 ? { computingOtherCores } : {}),
    d2h: copyCostOf(v.d2h),
    h2d: copyCostOf(v.h2d),
    ...(outer ? { outerStepBytesPerNs: outer } : {}),
    ...(onebit ? { onebitAdamBytesPerNs: onebit } : {}),
    ...(dispatchNs !== undefined && dispatchNs >= 0 ? { dispatchNs } : {}),
    ...(sharingSpeedup !== undefined && sharingSpeedup > 0 ? { sharingSpeedup } : {}),
    ...(hostShare ? { hostShare } : {}),
    loadAverage: num(v.loadAverage),
  };
}

function linkOf(v: ArgValue | undefined): LinkProfile | undefined {
  if (!isObj(v)) return undefined;
  const bytesPerNs =
    num(v.bytesPerNs) ?? (num(v.gbps) !== undefined ? (num(v.gbps) as number) / 8 : undefined) ?? num(v.GBps);
  if (bytesPerNs === undefined || bytesPerNs <= 0) return undefined;
  return {
    name: typeof v.name === 'string' ? v.name : undefined,
    alphaNs: num(v.alphaNs) ?? (num(v.latencyUs) ?? 0) * 1000,
    bytesPerNs,
  };
}

/** The model's weight matrices and 1-D parameters, for the CommLens model kinds (same layout as the engine's). */
function modelShapes(
  m: Obj | undefined,
): { matrices: [number, number][]; vectors: number; layers: number[] } | undefined {
  if (!m) return undefined;
  if (m.kind === 'mlp') {
    const dims = [
      num(m.inputDim) ?? 0,
      ...(Array.isArray(m.hiddenDims) ? m.hiddenDims.map((d) => num(d) ?? 0) : []),
      num(m.classes) ?? 0,
    ];
    if (dims.some((d) => d <= 0)) return undefined;
    const matrices: [number, number][] = [];
    const layers: number[] = [];
    let vectors = 0;
    for (let i = 0; i + 1 < dims.length; i++) {
      matrices.push([dims[i], dims[i + 1]]);
      vectors += dims[i + 1];
      layers.push(dims[i] * dims[i + 1] + dims[i + 1]);
    }
    return { matrices, vectors, layers };
  }
  if (m.kind === 'gpt-mini') {
    const d = num(m.dModel),
      L = num(m.layers),
      V = num(m.vocab),
      T = num(m.seqLen);
    if (!d || !L || !V || !T) return undefined;
    const matrices: [number, number][] = [
      [V, d],
      [T, d],
    ];
    for (let l = 0; l < L; l++) matrices.push([d, 3 * d], [d, d], [d, 4 * d], [4 * d, d]);
    matrices.push([d, V]);
    // The engine's layers: embeddings (token, position up to maxSeqLen), each block, and the head (final norm and output).
    const P = num(m.maxSeqLen) ?? T;
    const layers = [V * d + P * d, ...Array.from({ length: L }, () => 12 * d * d + 13 * d), 2 * d + d * V + V];
    return { matrices, vectors: L * (3 * d + d + 4 * d + d + 4 * d) + 2 * d + V, layers };
  }
  return undefined;
}

/** Reads RunInfo from the model's metadata, accepting the names CommLens' runtime writes and common aliases. */
export function runInfoOf(model: TraceModel): RunInfo {
  const info = model.meta.info as Obj | undefined;
  let config = isObj(info?.config) ? info?.config : undefined;
  if (!config && typeof info?.config === 'string') {
    // CommLens writes the run config as a JSON string in the trace metadata.
    try {
      const parsed = JSON.parse(info.config) as ArgValue;
      if (isObj(parsed)) config = parsed;
    } catch {
      config = undefined;
    }
  }
  const objs = [config, info];
  const strategy = find(objs, ['strategy']);
  const modelCfg = find(objs, ['model']);
  const m = isObj(modelCfg) ? modelCfg : undefined;
  const shapes = modelShapes(m);
  const strategyOptions = isObj(config?.strategyOptions) ? config?.strategyOptions : undefined;
  // CommLens names its link profile and writes α and β beside it.
  const flatLink =
    info && typeof num(info.linkBytesPerNs) === 'number'
      ? {
          name: typeof info.link === 'string' ? info.link : undefined,
          alphaNs: num(info.linkAlphaNs) ?? 0,
          bytesPerNs: num(info.linkBytesPerNs) as number,
        }
      : undefined;
  const paramsFromShapes = shapes ? shapes.matrices.reduce((t, [a, b]) => t + a * b, 0) + shapes.vectors : undefined;
  return {
    worldSize: num(find(objs, ['worldSize', 'world_size'])) ?? model.meta.worldSize,
    strategy:
      typeof strategy === 'string'
        ? strategy
        : isObj(strategy) && typeof strategy.name === 'string'
          ? strategy.name
          : undefined,
    link: linkOf(find(objs, ['link', 'linkProfile', 'interconnect'])) ?? flatLink,
    flopsPerStep: num(find(objs, ['flopsPerStep'])),
    peakFlops: num(find(objs, ['peakFlops', 'peakFlopsPerSec', 'peakFlopS'])),
    paramCount: num(find([m, ...objs], ['paramCount', 'params', 'numParams', 'parameters'])) ?? paramsFromShapes,
    gradBytesPerElement: num(find(objs, ['gradBytesPerElement'])),
    bucketCapMb: num(find([strategyOptions, ...objs], ['bucketCapMb'])),
    localSteps: num(find([strategyOptions, ...objs], ['localSteps'])),
    seqLen: num(find([m, ...objs], ['seqLen', 'sequenceLength', 'seq_len'])),
    hidden: num(find([m, ...objs], ['hidden', 'hiddenSize', 'dModel', 'd_model'])),
    layers: num(find([m, ...objs], ['layers', 'numLayers', 'nLayers'])),
    deviceMemoryBytes: num(find(objs, ['deviceMemoryBytes'])),
    hostCores: num(find(objs, ['hostCores'])),
    strategyOptions,
    modelKind: typeof m?.kind === 'string' ? m.kind : undefined,
    optimizerKind:
      isObj(config?.optimizer) && typeof config?.optimizer.kind === 'string' ? config.optimizer.kind : undefined,
    heads: num(m?.heads),
    batchSize: num(m?.batchSize),
    vocab: num(m?.vocab),
    maxSeqLen: num(m?.maxSeqLen),
    experts: num(m?.experts),
    topK: num(m?.topK),
    capacityFactor: num(m?.capacityFactor),
    matrices: shapes?.matrices,
    vectorParams: shapes?.vectors,
    layerParams: shapes?.layers,
    hostProbe: hostProbeOf(info?.hostProbe),
    ...(config ? { runConfig: config } : {}),
  };
}
