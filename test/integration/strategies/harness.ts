/**
 * Runs a real multi-rank training through the coordinator (worker threads, WebGPU,
 * runtime/comm) and collects what the strategy tests check: per-step loss and wire
 * bytes, memory counters, the trace, and (through the rank worker's debug hook) the
 * parameters every rank ends with.
 */
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { PRESETS, validateConfig, type RunConfig } from '../../../runtime/config';
import { runTraining, RunHandle, type RunOutcome } from '../../../runtime/coordinator';
import { LINK_PROFILE_NAMES } from '../../../runtime/comm';
import { STRATEGY_IDS, validateStrategyConfig } from '../../../runtime/strategies';

export interface StrategyRun {
  outcome: RunOutcome;
  loss: number[];
  /** Median over steps of rank 0's wire bytes, and each step's. */
  wireBytesPerStep: number[];
  memory: RunOutcome['steps'][number]['perRank'][number]['memory'][];
  params: Float32Array[];
}

export function tinyConfig(over: Partial<RunConfig>): RunConfig {
  return presetConfig('tiny', over);
}

/** A preset with `over` applied, on no simulated link (no pacing, no link scale) and without GPU timing: for tests of what a strategy computes. */
/** A gpt-mini small enough for the exactness tests of model parallelism (2 layers, 2 heads, width 32). */
export const TINY_GPT = {
  kind: 'gpt-mini' as const,
  batchSize: 2,
  layers: 2,
  heads: 2,
  dModel: 32,
  seqLen: 8,
  vocab: 16,
  task: 'copy' as const,
};

/**
 * TINY_GPT trained `steps` steps with SGD and momentum on no link, host timing only: the
 * config the tensor-, pipeline- and sequence-parallel tests compare against one rank.
 */
export function tinyGptConfig(over: Partial<RunConfig>, steps = 3): RunConfig {
  const raw = {
    ...PRESETS['gpt-mini'],
    link: 'none',
    gpuTiming: false,
    steps,
    optimizer: { kind: 'sgd', lr: 0.2, momentum: 0.9 },
    ...over,
    model: { ...TINY_GPT, ...(over.model ?? {}) },
  };
  delete (raw as Record<string, unknown>).linkScale;
  return validateConfig(raw, [...LINK_PROFILE_NAMES], STRATEGY_IDS, validateStrategyConfig);
}

export function presetConfig(preset: string, over: Partial<RunConfig>): RunConfig {
  const base = PRESETS[preset];
  if (!base) throw new Error(`preset ${JSON.stringify(preset)}: expected one of ${Object.keys(PRESETS).join(', ')}`);
  const raw: Record<string, unknown> = {
    ...base,
    link: 'none',
    gpuTiming: false,
    ...over,
    model: { ...base.model, ...(over.model ?? {}) },
    optimizer: { ...base.optimizer, ...(over.optimizer ?? {}) },
  };
  if (!('linkScale' in over)) delete raw.linkScale;
  return validateConfig(raw, [...LINK_PROFILE_NAMES], STRATEGY_IDS, validateStrategyConfig);
}

export async function runStrategy(config: RunConfig, dumpParams = true): Promise<StrategyRun> {
  const dir = mkdtempSync(join(tmpdir(), 'commlens-strategy-'));
  const before = process.env.COMMLENS_DEBUG_PARAMS_DIR;
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  if (dumpParams) process.env.COMMLENS_DEBUG_PARAMS_DIR = dir;
  try {
    const outcome = await runTraining(config, dir, { test: 'strategies' }, {}, new RunHandle());
    if (outcome.failure) throw new Error(`run failed: ${outcome.failure.message}`);
    const steps = [...outcome.steps].sort((a, b) => a.step - b.step);
    const params: Float32Array[] = [];
    for (let r = 0; r < config.worldSize; r++) {
      const f = join(dir, `params-rank${r}.f32`);
      if (existsSync(f)) {
        const b = readFileSync(f);
        params.push(new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));
      }
    }
    return {
      outcome,
      loss: steps.map((s) => s.meanLoss),
      wireBytesPerStep: steps.map((s) => s.perRank[0].wireBytes),
      memory: steps.map((s) => s.perRank[0].memory),
      params,
    };
  } finally {
    if (before === undefined) delete process.env.COMMLENS_DEBUG_PARAMS_DIR;
    else process.env.COMMLENS_DEBUG_PARAMS_DIR = before;
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Largest |a − b| over two parameter vectors. */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
