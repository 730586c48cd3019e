/**
 * What the analysis needs to know about the run beyond its spans: world size, strategy,
 * link profile, FLOPs per step, peak FLOP/s, parameter count, sequence shape. CommLens
 * runs write these in `meta.info` (usually under `config`); imported traces mostly do not
 * have them, and every consumer must cope with `undefined`.
 */
import type { ArgValue, TraceModel } from '../trace/model';

export interface LinkProfile {
  name?: string;
  /** Per-message latency α, ns. */
  alphaNs: number;
  /** Bandwidth β in bytes per ns (= GB/s). */
  bytesPerNs: number;
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

const num = (v: ArgValue | undefined): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function linkOf(v: ArgValue | undefined): LinkProfile | undefined {
  if (!isObj(v)) return undefined;
  const bytesPerNs = num(v.bytesPerNs) ?? (num(v.gbps) !== undefined ? (num(v.gbps) as number) / 8 : undefined) ?? num(v.GBps);
  if (bytesPerNs === undefined || bytesPerNs <= 0) return undefined;
  return { name: typeof v.name === 'string' ? v.name : undefined, alphaNs: num(v.alphaNs) ?? (num(v.latencyUs) ?? 0) * 1000, bytesPerNs };
}

/** Reads RunInfo from the model's metadata, accepting the names CommLens' runtime writes and common aliases. */
export function runInfoOf(model: TraceModel): RunInfo {
  const info = model.meta.info as Obj | undefined;
  const config = isObj(info?.config) ? info?.config : undefined;
  const objs = [config, info];
  const strategy = find(objs, ['strategy']);
  const modelCfg = find(objs, ['model']);
  const m = isObj(modelCfg) ? modelCfg : undefined;
  return {
    worldSize: num(find(objs, ['worldSize', 'world_size'])) ?? model.meta.worldSize,
    strategy: typeof strategy === 'string' ? strategy : isObj(strategy) && typeof strategy.name === 'string' ? strategy.name : undefined,
    link: linkOf(find(objs, ['link', 'linkProfile', 'interconnect'])),
    flopsPerStep: num(find(objs, ['flopsPerStep'])),
    peakFlops: num(find(objs, ['peakFlops', 'peakFlopsPerSec', 'peakFlopS'])),
    paramCount: num(find([m, ...objs], ['paramCount', 'params', 'numParams', 'parameters'])),
    gradBytesPerElement: num(find(objs, ['gradBytesPerElement'])),
    bucketCapMb: num(find(objs, ['bucketCapMb'])),
    localSteps: num(find(objs, ['localSteps'])),
    seqLen: num(find([m, ...objs], ['seqLen', 'sequenceLength', 'seq_len'])),
    hidden: num(find([m, ...objs], ['hidden', 'hiddenSize', 'dModel', 'd_model'])),
    layers: num(find([m, ...objs], ['layers', 'numLayers', 'nLayers'])),
    deviceMemoryBytes: num(find(objs, ['deviceMemoryBytes'])),
  };
}
