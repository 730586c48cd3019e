/**
 * Run configuration: what `commlens profile` runs. Presets are complete configs; a
 * config file may name a preset and override any field. Validation names the field,
 * what was given and what is allowed, and happens before any GPU work.
 */
import { readFileSync } from 'node:fs';
import { validateModelConfig, validateOptimizerConfig, type ModelConfig, type OptimizerConfig } from './engine';
import { GPU_PEAK_FLOPS } from './comm/profiles';
import { parseStrategyIds } from '../trace/strategyIds';
import { safeText } from '../trace/safeText';

/** The model and optimizer settings are the engine's own types (runtime/engine). */
export type ModelSettings = ModelConfig;
export type OptimizerSettings = OptimizerConfig;

export interface RunConfig {
  /** Name of the preset this config started from, if any. */
  preset?: string;
  /** One line shown in pickers. */
  description?: string;
  model: ModelSettings;
  optimizer: OptimizerSettings;
  worldSize: number;
  steps: number;
  seed: number;
  /** Strategy id(s), joined with '+': `ddp`, `ddp-bucketed`, `fp16`, ... */
  strategy: string;
  /** Options of the strategy (bucket size, compression rank, local steps...): validated by runtime/strategies. */
  strategyOptions?: Record<string, unknown>;
  /** Link profile name (see runtime/comm): `none`, `nvlink4`, `ib-ndr`, `eth-10g`, ... */
  link: string;
  /** Collective algorithm to force (`ring`, `tree`, ...); automatic when absent. */
  algorithm?: string;
  /** Record GPU timestamps per kernel (off = host timing only, for overhead comparisons). */
  gpuTiming: boolean;
  /** A collective that waits longer than this fails the run, naming the missing ranks. */
  collectiveTimeoutMs: number;
  /** Peak FLOP/s per rank used for MFU; measured locally when absent. */
  peakFlops?: number;
  /**
   * Slows the link by this factor (bandwidth ÷ f, latency × f; comm's scaledProfile), to
   * keep the compute-to-communication ratio of a cluster whose GPUs are f times faster
   * than this machine. 1 or absent = the real link.
   */
  linkScale?: number;
  /**
   * Scale the link to a target GPU instead: a name of GPU_PEAK_FLOPS (`h100-sxm`, `a100`,
   * ...) or its FLOP/s. Local compute is measured at start-up (runtime/computeProbe.ts) and
   * the link slowed by target ÷ local FLOP/s; the factor goes into the trace. Not together
   * with linkScale.
   */
  scaleLinkTo?: string | number;
}

const BASE: Omit<RunConfig, 'model' | 'optimizer'> = {
  worldSize: 2,
  steps: 20,
  seed: 1,
  strategy: 'ddp',
  link: 'eth-25g',
  gpuTiming: true,
  collectiveTimeoutMs: 60_000,
};

export const PRESETS: Record<string, RunConfig> = {
  tiny: {
    ...BASE,
    preset: 'tiny',
    description: 'MLP 64-128-10 on 2 ranks, 6 steps: finishes in seconds (used by tests)',
    model: { kind: 'mlp', batchSize: 32, inputDim: 64, hiddenDims: [128], classes: 10 },
    optimizer: { kind: 'adam', lr: 0.01 },
    steps: 6,
    link: 'eth-10g',
  },
  'mlp-small': {
    ...BASE,
    preset: 'mlp-small',
    description:
      'MLP 256-1024-1024-10 (1.3M params) on 4 ranks over 25 GbE slowed 300x (a GPU ~300x faster than lavapipe would see this ratio), 20 steps',
    model: { kind: 'mlp', batchSize: 64, inputDim: 256, hiddenDims: [1024, 1024], classes: 10 },
    optimizer: { kind: 'adam', lr: 0.002 },
    worldSize: 4,
    steps: 20,
    link: 'eth-25g',
    // Local software compute is ~1000x slower than a datacenter GPU: unscaled, the
    // link would be idle and there would be nothing to see. The factor is in the trace.
    linkScale: 300,
  },
  'gpt-mini': {
    ...BASE,
    preset: 'gpt-mini',
    description: 'GPT-style decoder, 2 layers, width 128, 4 heads, seq 32, copy task, 2 ranks over 10 GbE slowed 300x',
    model: { kind: 'gpt-mini', batchSize: 8, layers: 2, heads: 4, dModel: 128, seqLen: 32, vocab: 32, task: 'copy' },
    optimizer: { kind: 'adamw', lr: 0.003, weightDecay: 0.01 },
    worldSize: 2,
    steps: 20,
    link: 'eth-10g',
    linkScale: 300,
  },
};

export const DEFAULT_PRESET = 'mlp-small';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

export const TOP_KEYS = new Set([
  '$schema',
  'preset',
  'description',
  'model',
  'optimizer',
  'worldSize',
  'steps',
  'seed',
  'strategy',
  'link',
  'algorithm',
  'gpuTiming',
  'collectiveTimeoutMs',
  'peakFlops',
  'strategyOptions',
  'linkScale',
  'scaleLinkTo',
]);
const MODEL_KEYS = new Set([
  'kind',
  'batchSize',
  'dtype',
  'inputDim',
  'hiddenDims',
  'classes',
  'layers',
  'heads',
  'dModel',
  'seqLen',
  'maxSeqLen',
  'vocab',
  'task',
  'experts',
  'topK',
  'capacityFactor',
]);
const OPT_KEYS = new Set([
  'kind',
  'lr',
  'momentum',
  'beta1',
  'beta2',
  'eps',
  'weightDecay',
  'clipGradNorm',
  'lossScale',
]);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Deep-merges `over` onto `base` (objects merge, everything else replaces) into objects
 * without a prototype, so a key such as "__proto__" or "constructor" from a file is an
 * ordinary own key: the unknown-key checks then see it.
 */
function merge<T>(base: T, over: unknown): T {
  if (!isObject(base) || !isObject(over)) return (over === undefined ? base : over) as T;
  const out: Record<string, unknown> = Object.assign(Object.create(null) as Record<string, unknown>, base);
  for (const k of Object.keys(over)) {
    const v = over[k];
    const cur = Object.hasOwn(out, k) ? out[k] : undefined;
    out[k] = isObject(v) && isObject(cur) ? merge(cur, v) : v;
  }
  return out as T;
}

/** A value as the user wrote it: JSON, except numbers JSON cannot hold (Infinity, NaN). */
function shown(v: unknown): string {
  return typeof v === 'number' ? String(v) : safeText(JSON.stringify(v) ?? String(v));
}

function checkInt(problems: string[], field: string, v: unknown, min: number, max: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    problems.push(`${field}: got ${shown(v)}, expected an integer from ${min} to ${max}`);
  }
}

function checkNum(problems: string[], field: string, v: unknown, min: number, max: number, optional = false): void {
  if (v === undefined && optional) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    problems.push(`${field}: got ${shown(v)}, expected a finite number from ${min} to ${max}`);
  }
}

function unknownKeys(problems: string[], prefix: string, obj: Record<string, unknown>, allowed: Set<string>): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.has(k))
      problems.push(
        `${prefix}${k}: unknown setting; allowed: ${[...allowed].filter((a) => a !== '$schema').join(', ')}`,
      );
  }
}

/**
 * Validates a raw config object (already merged onto its preset). `knownLinks` and
 * `knownStrategies` come from the modules that implement them.
 */
export function validateConfig(
  raw: unknown,
  knownLinks: string[],
  knownStrategies: readonly string[],
  validateStrategy?: (config: RunConfig) => string[],
): RunConfig {
  const problems: string[] = [];
  if (!isObject(raw)) throw new ConfigError(['config: expected a JSON object']);
  unknownKeys(problems, '', raw, TOP_KEYS);
  checkInt(problems, 'worldSize', raw.worldSize, 1, 16);
  checkInt(problems, 'steps', raw.steps, 1, 100_000);
  checkInt(problems, 'seed', raw.seed, 0, 2 ** 31 - 1);
  checkInt(problems, 'collectiveTimeoutMs', raw.collectiveTimeoutMs, 100, 3_600_000);
  if (typeof raw.gpuTiming !== 'boolean')
    problems.push(`gpuTiming: got ${JSON.stringify(raw.gpuTiming)}, expected true or false`);
  checkNum(problems, 'peakFlops', raw.peakFlops, 1, 1e18, true);
  checkNum(problems, 'linkScale', raw.linkScale, 1, 1e9, true);
  if (raw.scaleLinkTo !== undefined) {
    const t = raw.scaleLinkTo;
    const gpus = Object.keys(GPU_PEAK_FLOPS);
    if (
      typeof t === 'string' ? !gpus.includes(t) : typeof t !== 'number' || !Number.isFinite(t) || t < 1e9 || t > 1e18
    ) {
      problems.push(
        `scaleLinkTo: got ${JSON.stringify(t)}, expected one of ${gpus.join(', ')} or the target GPU's FLOP/s (a number from 1e9 to 1e18)`,
      );
    }
    if (raw.linkScale !== undefined)
      problems.push(
        `scaleLinkTo: cannot be combined with linkScale (${JSON.stringify(raw.linkScale)}); give one: a fixed factor, or a target GPU to measure the factor against`,
      );
  }
  if (typeof raw.link !== 'string' || !knownLinks.includes(raw.link)) {
    problems.push(`link: got ${JSON.stringify(raw.link)}, expected one of ${knownLinks.join(', ')}`);
  }
  if (
    typeof raw.strategy !== 'string' ||
    parseStrategyIds(raw.strategy).length === 0 ||
    parseStrategyIds(raw.strategy).some((s) => !knownStrategies.includes(s))
  ) {
    problems.push(
      `strategy: got ${JSON.stringify(raw.strategy)}, expected one of ${knownStrategies.join(', ')} (combine with '+')`,
    );
  }
  // The model and optimizer settings are the engine's: it names every problem (setting,
  // value, what is allowed); the adapter's limits are checked again once it is known.
  const m = raw.model;
  if (!isObject(m)) problems.push('model: expected an object with at least "kind" and "batchSize"');
  else {
    unknownKeys(problems, 'model.', m, MODEL_KEYS);
    if (m.kind === 'mlp' && (!Array.isArray(m.hiddenDims) || m.hiddenDims.length === 0))
      problems.push(
        `model.hiddenDims: got ${JSON.stringify(m.hiddenDims)}, expected a non-empty array of layer widths`,
      );
    problems.push(...validateModelConfig(m as never));
  }
  const o = raw.optimizer;
  if (!isObject(o)) problems.push('optimizer: expected an object with at least "kind" and "lr"');
  else {
    unknownKeys(problems, 'optimizer.', o, OPT_KEYS);
    problems.push(...validateOptimizerConfig(o as never));
  }
  if (raw.strategyOptions !== undefined && !isObject(raw.strategyOptions))
    problems.push('strategyOptions: expected an object');
  if (problems.length) throw new ConfigError(problems);
  if (validateStrategy) {
    const more = validateStrategy(raw as unknown as RunConfig);
    if (more.length) throw new ConfigError(more);
  }
  return raw as unknown as RunConfig;
}

/** Builds the raw (unvalidated) config from a preset name and/or a config file's contents. */
export function resolveRawConfig(opts: { preset?: string; configText?: string; configPath?: string }): unknown {
  let fileObj: Record<string, unknown> = {};
  if (opts.configText !== undefined) {
    try {
      // A leading byte order mark (editors on Windows write one) is not part of the JSON.
      const parsed: unknown = JSON.parse(opts.configText.replace(/^\uFEFF/, ''));
      if (!isObject(parsed))
        throw new ConfigError([`${opts.configPath ?? 'config'}: expected a JSON object at the top level`]);
      fileObj = parsed;
    } catch (e) {
      if (e instanceof ConfigError) throw e;
      throw new ConfigError([`${opts.configPath ?? 'config'}: not valid JSON (${safeText((e as Error).message)})`]);
    }
  }
  const presetName =
    opts.preset ??
    (Object.hasOwn(fileObj, 'preset') && typeof fileObj.preset === 'string' ? fileObj.preset : undefined) ??
    DEFAULT_PRESET;
  const preset = Object.hasOwn(PRESETS, presetName) ? PRESETS[presetName] : undefined;
  if (!preset)
    throw new ConfigError([
      `preset: got ${JSON.stringify(presetName)}, expected one of ${Object.keys(PRESETS).join(', ')}`,
    ]);
  const merged = merge(preset, fileObj) as unknown as Record<string, unknown>;
  // A file that scales the link to a target GPU replaces the preset's fixed factor.
  if (Object.hasOwn(fileObj, 'scaleLinkTo') && !Object.hasOwn(fileObj, 'linkScale')) delete merged.linkScale;
  merged.preset = presetName;
  delete merged.$schema;
  return merged;
}

export function readConfigFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError([
      `--config: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    ]);
  }
}
