/**
 * bench:strategies — every data-parallel strategy per preset, and every parallel layout of one
 * 4-rank gpt-mini job (DP, TP, DP × TP, DP × PP with GPipe and 1F1B, EP plain and chunked,
 * Ulysses), on the two default links side by side: step time (runtime/summary.ts, the summary's
 * own figure), exposed communication, exposed communication per process group and the pipeline
 * bubble (the analysis' functions, as report.md shows them), bytes per step and peak memory
 * (analysis/runFigures.ts), model states per rank, final loss, and each row's steps and wall time.
 * Prints a table per preset × link with ratios to the group's baseline; writes
 * bench/results/strategies.json (headline keys, the conditions, and one row per preset × link ×
 * row; groups measured by an earlier invocation stay unless measured again).
 *
 * Usage: node out/bench/strategies.js [--quick] [--wan] [--links nvlink4@300,eth-10g@300]
 *        [--presets tiny,gpt-mini] [--strategies ddp,zero3,...] [--layouts dp,tp,...|none]
 *        [--max-steps 8] [--settle-steps 3] [--settle-pct 10] [--rounds 1]
 * A link `name@f` is the named profile slowed f times (config.linkScale): this machine's
 * software GPU is orders of magnitude slower than a datacenter GPU, and slowing the link by
 * the presets' factor (300) keeps the compute-to-communication ratio of a cluster that much
 * faster. `--wan` adds the unscaled WAN link (62.5 MB/s, 30 ms: 36 rows in 3.9 min measured,
 * docs/benchmarks.md).
 *
 * Settling: a row stops once its steady step time has settled — the last `settle-steps` steady
 * steps (after the warm-up of trace/warmup.ts and the strategy's own switch step, e.g. 1-bit
 * Adam's warm-up) lie within `settle-pct` % of their median (max − min ≤ x % of the median);
 * for a strategy that synchronises every H steps, the last `settle-steps` whole periods' means.
 * Otherwise it runs `max-steps` steps. `--quick`: the layouts on the Ethernet-like link only,
 * at most 5 steps — for everyday use (1.4 min measured). Step times compare per step: each
 * layout trains one batch per data-parallel replica (`batches_per_step`).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PRESETS, validateConfig, type ModelSettings, type RunConfig } from '../runtime/config';
import { runTraining, RunHandle, type RunOutcome } from '../runtime/coordinator';
import { LINK_PROFILE_NAMES } from '../runtime/comm';
import { STRATEGY_IDS, validateStrategyConfig } from '../runtime/strategies';
import { estimateParamCount, parseStrategyIds, resolveOptions } from '../runtime/strategies/options';
import { buildSummary } from '../runtime/summary';
import { loadTraceFile } from '../trace/load';
import { median } from '../trace/stats';
import { syncPeriodOf, warmupStepCount } from '../trace/warmup';
import { buildRankViews } from '../analysis/rankView';
import { memoryPerRank } from '../analysis/computeStats';
import { runFigures } from '../analysis/runFigures';
import { groupExposures } from '../analysis/groupExposure';
import { pipelineBubbles } from '../analysis/pipelineBubble';

/** One row of the benchmark: a strategy (with options, and model or world changes) on a preset. */
interface RowSpec {
  id: string;
  /** How the table names it ("DP 2 × TP 2"). */
  label: string;
  preset: string;
  strategy: string;
  options?: Record<string, unknown>;
  model?: Partial<ModelSettings>;
  worldSize?: number;
  /** The row its ratios are to (default: the group's first row, unless this row changes the model: then none). */
  baseline?: string;
  /** Steps before this one are the strategy's own warm-up (a different step): not counted for settling. */
  countFromStep?: number;
  /** Batches trained per step, for a strategy batchesPerStep does not know (one per data-parallel replica). */
  batches?: number;
}

/** The layout job: the gpt-mini preset on 4 ranks (heads 4, seqLen 32, batch 8, layers 2 fit every layout below). */
const LAYOUT_PRESET = 'gpt-mini';
const LAYOUT_WORLD = 4;
const MOE = { experts: 4, topK: 2, capacityFactor: 1.25 };

/**
 * The layouts of the 4-rank gpt-mini job, one line each (a new strategy is one more line; `batches`
 * when batchesPerStep does not know it).
 */
const LAYOUTS: Omit<RowSpec, 'preset' | 'worldSize'>[] = [
  { id: 'dp', label: 'DP 4', strategy: 'ddp' },
  { id: 'tp', label: 'TP 4', strategy: 'tp', options: { tensorParallelSize: 4 }, baseline: 'dp' },
  { id: 'dp2-tp2', label: 'DP 2 × TP 2', strategy: 'tp', options: { tensorParallelSize: 2 }, baseline: 'dp' },
  {
    id: 'dp2-pp2-gpipe',
    label: 'DP 2 × PP 2, GPipe, 4 micro-batches',
    strategy: 'pp',
    options: { pipelineParallelSize: 2, microBatches: 4, schedule: 'gpipe' },
    baseline: 'dp',
  },
  {
    id: 'dp2-pp2-1f1b',
    label: 'DP 2 × PP 2, 1F1B, 4 micro-batches',
    strategy: 'pp',
    options: { pipelineParallelSize: 2, microBatches: 4, schedule: '1f1b' },
    baseline: 'dp',
  },
  { id: 'ep', label: 'EP 4 (MoE, 4 experts)', strategy: 'ep', model: MOE, options: { expertParallelSize: 4 } },
  {
    id: 'ep-chunked',
    label: 'EP 4, all-to-all in 4 chunks',
    strategy: 'ep',
    model: MOE,
    options: { expertParallelSize: 4, overlapChunks: 4 },
    baseline: 'ep',
  },
  {
    id: 'ulysses',
    label: 'CP 4 (Ulysses)',
    strategy: 'ulysses',
    options: { sequenceParallelSize: 4 },
    baseline: 'dp',
  },
  { id: 'ring', label: 'CP 4 (ring attention)', strategy: 'ring', options: { contextParallelSize: 4 }, baseline: 'dp' },
];

/** Ids the layouts cover: the data-parallel rows leave them out. */
const LAYOUT_STRATEGIES = new Set(['tp', 'pp', 'ep', 'ulysses', 'ring']);

/** Options that make each data-parallel strategy meaningful on a preset (e.g. several buckets on a small model). */
function dataParallelRow(strategy: string, preset: string): RowSpec {
  const base = PRESETS[preset];
  const modelMb = (estimateParamCount(base.model) * 4) / (1024 * 1024);
  const buckets = {
    bucketCapMb: Number((modelMb / 4).toPrecision(3)),
    firstBucketCapMb: Number((modelMb / 16).toPrecision(3)),
  };
  const row = (options?: Record<string, unknown>, countFromStep?: number): RowSpec => ({
    id: strategy,
    label: strategy,
    preset,
    strategy,
    ...(options ? { options } : {}),
    baseline: 'ddp',
    ...(countFromStep ? { countFromStep } : {}),
  });
  switch (strategy) {
    case 'ddp-bucketed':
    case 'zero2':
      return row(modelMb / 4 < 25 ? buckets : undefined);
    case 'topk-dgc':
      return row({ density: 0.01, dgcWarmupSteps: 1 }, 2);
    case 'powersgd':
      return row({ powerSgdRank: 2, powerSgdStartStep: 1 }, 2);
    case 'onebit-adam':
      // The variance freezes after the warm-up: one step of it is too noisy to freeze.
      return row({ onebitWarmupSteps: 2 }, 2);
    case 'localsgd':
    case 'diloco':
      return row({ localSteps: 2 });
    case 'streaming-diloco':
      return row({ localSteps: 2, fragments: 2, overlapSteps: 1 });
    default:
      return row();
  }
}

interface Row {
  preset: string;
  world_size: number;
  link: string;
  row: string;
  label: string;
  /** The row its ratios are to (same preset, world size and link), when it has one. */
  baseline?: string;
  strategy: string;
  options?: Record<string, unknown>;
  /** Steady step time (runtime/summary.ts steadyStepTimeNs: trace/warmup.ts steadyStepTime). */
  step_ms: number;
  step_basis: string;
  exposed_comm_ms: number;
  /** Exposed communication per process group (analysis/groupExposure.ts), largest first. */
  exposed_comm_by_group_ms: Record<string, number>;
  /** Mean over pipelines and stages of the bubble's share of the flush-to-flush window (pp rows). */
  bubble_fraction?: number;
  /** The schedule's (p−1)/(m+p−1). */
  bubble_theory?: number;
  bytes_per_step: number;
  /**
   * Batches (of model.batchSize) trained per step: one per data-parallel replica, so DP 4 and
   * EP 4 train 4, DP 2 × TP 2 and DP 2 × PP 2 train 2, TP 4 and CP 4 train 1. Step times of
   * layouts compare per step; per batch, divide by this.
   */
  batches_per_step: number;
  peak_mem_bytes_per_rank: number;
  /** Parameters + gradients + optimizer state (what ZeRO shards), peak per rank. */
  model_state_bytes_per_rank: number;
  final_loss: number;
  steps_run: number;
  /** True when the row stopped early because its step time had settled. */
  settled: boolean;
  wall_s: number;
  load_avg_1m: number;
}

interface Options {
  links: string[];
  presets: string[];
  strategies: string[];
  layouts: string[];
  maxSteps: number;
  settleSteps: number;
  settlePct: number;
  rounds: number;
}

const DEFAULT_LINKS = ['nvlink4@300', 'eth-10g@300'];

function parseOptions(argv: string[]): Options {
  const flags = new Map<string, string>();
  const switches = new Set<string>();
  const valued = [
    'links',
    'presets',
    'strategies',
    'layouts',
    'max-steps',
    'settle-steps',
    'settle-pct',
    'rounds',
  ] as const;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const name = a.replace(/^--/, '');
    if (a === '--quick' || a === '--wan') switches.add(name);
    else if (a.startsWith('--') && (valued as readonly string[]).includes(name)) {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new Error(`${a}: expected a value after it`);
      flags.set(name, v);
    } else
      throw new Error(
        `unknown option ${a}: expected --quick, --wan, or ${valued.map((v) => `--${v} VALUE`).join(', ')}`,
      );
  }
  const quick = switches.has('quick');
  const list = (name: string, fallback: string[]): string[] =>
    flags.has(name)
      ? flags
          .get(name)!
          .split(',')
          .map((x) => x.trim())
          .filter((x) => x.length > 0 && x !== 'none')
      : fallback;
  const int = (name: string, fallback: number, min: number, max: number): number => {
    if (!flags.has(name)) return fallback;
    const v = Number(flags.get(name));
    if (!Number.isInteger(v) || v < min || v > max)
      throw new Error(`--${name} ${flags.get(name)}: expected an integer from ${min} to ${max}`);
    return v;
  };
  const links = list('links', quick ? ['eth-10g@300'] : DEFAULT_LINKS);
  if (switches.has('wan') && !links.includes('wan')) links.push('wan');
  for (const l of links) {
    const [name, f] = l.split('@');
    if (!LINK_PROFILE_NAMES.includes(name) || (f !== undefined && !(Number(f) > 0)))
      throw new Error(
        `--links: '${l}' is not a link; expected NAME or NAME@FACTOR with NAME one of ${LINK_PROFILE_NAMES.join(', ')} and FACTOR > 0`,
      );
  }
  const presets = list('presets', quick ? [] : ['tiny', 'gpt-mini']);
  for (const p of presets)
    if (!Object.hasOwn(PRESETS, p))
      throw new Error(`--presets: unknown preset '${p}'; known: ${Object.keys(PRESETS).join(', ')}`);
  const dpIds = STRATEGY_IDS.filter((s) => !LAYOUT_STRATEGIES.has(s));
  const strategies = list('strategies', dpIds);
  for (const s of strategies)
    if (!(dpIds as readonly string[]).includes(s))
      throw new Error(
        `--strategies: '${s}' is not a data-parallel strategy; expected some of ${dpIds.join(', ')} (the layouts go through --layouts)`,
      );
  const layouts = list(
    'layouts',
    LAYOUTS.map((l) => l.id),
  );
  for (const l of layouts)
    if (!LAYOUTS.some((x) => x.id === l))
      throw new Error(
        `--layouts: unknown layout '${l}'; expected some of ${LAYOUTS.map((x) => x.id).join(', ')} or none`,
      );
  return {
    links,
    presets,
    strategies,
    layouts,
    maxSteps: int('max-steps', quick ? 5 : 8, 3, 1000),
    settleSteps: int('settle-steps', 3, 2, 100),
    settlePct: flags.has('settle-pct') ? Number(flags.get('settle-pct')) : 10,
    rounds: int('rounds', 1, 1, 10),
  };
}

/**
 * The settling rule: true once the last `k` samples lie within `pct` % of their median. The
 * samples are the steady step times (warm-up by trace/warmup.ts left out, and steps before
 * `countFromStep`), or with a synchronisation every H steps the means of the last whole periods.
 */
export function settled(
  stepTimesNs: readonly number[],
  k: number,
  pct: number,
  syncPeriod?: number,
  countFromStep = 0,
): boolean {
  const warm = Math.max(1, warmupStepCount(stepTimesNs), countFromStep);
  const steady = stepTimesNs.slice(warm);
  let samples = steady;
  if (syncPeriod && syncPeriod > 1) {
    samples = [];
    for (let i = 0; i + syncPeriod <= steady.length; i += syncPeriod)
      samples.push(steady.slice(i, i + syncPeriod).reduce((a, b) => a + b, 0) / syncPeriod);
  }
  if (samples.length < k) return false;
  const last = samples.slice(-k);
  const m = median(last);
  return m > 0 && ((Math.max(...last) - Math.min(...last)) / m) * 100 <= pct;
}

function configOf(spec: RowSpec, link: string, steps: number): Record<string, unknown> {
  const base = PRESETS[spec.preset];
  const [linkName, scale] = link.split('@');
  const raw: Record<string, unknown> = {
    ...base,
    model: { ...base.model, ...(spec.model ?? {}) },
    ...(spec.worldSize ? { worldSize: spec.worldSize } : {}),
    link: linkName,
    strategy: spec.strategy,
    steps,
    gpuTiming: true,
    ...(spec.options ? { strategyOptions: spec.options } : {}),
  };
  // The link is this row's: a preset's own slow-down gives way to the row's (none for an unscaled name).
  delete raw.linkScale;
  if (scale) raw.linkScale = Number(scale);
  return raw;
}

async function measure(
  spec: RowSpec,
  link: string,
  o: Options,
  dir: string,
  baseline: string | undefined,
): Promise<Row | string> {
  const raw = configOf(spec, link, o.maxSteps);
  const refused = validateStrategyConfig(raw as unknown as RunConfig);
  if (refused.length) return `skipped (${refused[0]})`;
  const config = validateConfig(raw, [...LINK_PROFILE_NAMES], STRATEGY_IDS, validateStrategyConfig);
  const H = syncPeriodOf(config.strategy, config.strategyOptions as Record<string, unknown> | undefined);
  const handle = new RunHandle();
  const times: number[] = [];
  let early = false;
  const load = loadavg()[0];
  const t0 = process.hrtime.bigint();
  const outcome: RunOutcome = await runTraining(
    config,
    dir,
    { bench: 'strategies' },
    {
      onStep: (_step, _steps, _loss, stepTimeNs) => {
        times.push(stepTimeNs);
        if (times.length < o.maxSteps && settled(times, o.settleSteps, o.settlePct, H, spec.countFromStep)) {
          early = true;
          handle.cancel(`settled after ${times.length} steps`);
        }
      },
    },
    handle,
  );
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  if (outcome.failure && !(early && outcome.failure.cancelled)) return `failed: ${outcome.failure.message}`;
  const summary = buildSummary('bench', config, outcome);
  const model = await loadTraceFile(outcome.tracePath);
  const views = buildRankViews(model);
  const memory = memoryPerRank(model, views);
  const run = { strategy: config.strategy, strategyOptions: config.strategyOptions as Record<string, unknown> };
  const figures = runFigures(model, views, memory, run);
  const steady = new Set(figures.steadySteps);
  const groups = groupExposures(model, views, steady, H);
  const pipes = pipelineBubbles(model, views, figures.steadySteps, run);
  let states = 0;
  for (const s of outcome.steps)
    for (const r of s.perRank)
      states = Math.max(states, r.memory.parameters + r.memory.gradients + r.memory.optimizerState);
  const steps = [...outcome.steps].sort((a, b) => a.step - b.step);
  return {
    preset: spec.preset,
    world_size: config.worldSize,
    link,
    row: spec.id,
    label: spec.label,
    ...(baseline !== undefined && baseline !== spec.id ? { baseline } : {}),
    strategy: spec.strategy,
    ...(spec.options ? { options: spec.options } : {}),
    step_ms: summary.steadyStepTimeNs / 1e6,
    step_basis: summary.steadyStepTimeBasis,
    exposed_comm_ms: (figures.exposedCommNs ?? NaN) / 1e6,
    exposed_comm_by_group_ms: Object.fromEntries(groups.map((g) => [g.group, g.exposedCommNs / 1e6])),
    ...(pipes.length
      ? {
          bubble_fraction: pipes.reduce((a, p) => a + p.meanFraction, 0) / pipes.length,
          ...(pipes[0].theoreticalFraction !== undefined ? { bubble_theory: pipes[0].theoreticalFraction } : {}),
        }
      : {}),
    bytes_per_step: bytesPerStep(figures.bytesPerStep, steps, H),
    batches_per_step: spec.batches ?? batchesPerStep(config),
    peak_mem_bytes_per_rank: figures.peakMemoryBytes ?? NaN,
    model_state_bytes_per_rank: states,
    final_loss: steps[steps.length - 1]?.meanLoss ?? NaN,
    steps_run: steps.length,
    settled: early,
    wall_s: wallS,
    load_avg_1m: load,
  };
}

/**
 * Bytes per step: the run's figure (analysis/runFigures.ts: the median over the steady steps of
 * the fullest rank's "bytes per step"), except for a strategy that synchronises every H
 * steps, whose median is 0 or a sync step's: there the mean over the steady steps of the fullest
 * rank's bytes (the same counter), i.e. the bytes of one sync spread over its H steps.
 */
function bytesPerStep(figure: number | undefined, steps: RunOutcome['steps'], syncPeriod: number | undefined): number {
  if (!syncPeriod) return figure ?? NaN;
  const steady = steps.slice(warmupStepCount(steps.map((s) => s.stepTimeNs)));
  const perStep = steady.map((s) => Math.max(0, ...s.perRank.map((r) => r.bytes)));
  return perStep.length ? perStep.reduce((a, b) => a + b, 0) / perStep.length : NaN;
}

/** Data-parallel replicas of a run, each training one batch per step (the model-parallel sizes divide worldSize). */
function batchesPerStep(config: RunConfig): number {
  const ids = parseStrategyIds(config.strategy);
  const o = resolveOptions(config);
  const split = ids.includes('tp')
    ? o.tensorParallelSize
    : ids.includes('pp')
      ? o.pipelineParallelSize
      : ids.includes('ulysses')
        ? o.sequenceParallelSize
        : ids.includes('ring')
          ? o.contextParallelSize
          : 1;
  return config.worldSize / split;
}

function fmt(x: number | undefined, digits = 1): string {
  return x !== undefined && Number.isFinite(x) ? x.toFixed(digits) : '-';
}

function printTable(rows: Row[]): void {
  const byId = new Map(rows.map((r) => [r.row, r]));
  const baseOf = (r: Row): Row | undefined => (r.baseline ? byId.get(r.baseline) : undefined);
  console.log(`\n${rows[0].preset} on ${rows[0].world_size} ranks, ${rows[0].link}`);
  const header = [
    'row'.padEnd(36),
    'step ms',
    '×base',
    'batches',
    'exposed ms',
    'bubble',
    'bytes/step',
    'peak MiB',
    '×base',
    'states MiB',
    'final loss',
    'steps',
    'wall s',
  ];
  console.log(header.join('  '));
  for (const r of rows) {
    const b = baseOf(r);
    console.log(
      [
        r.label.slice(0, 36).padEnd(36),
        fmt(r.step_ms).padStart(7),
        (b && b !== r ? fmt(r.step_ms / b.step_ms, 2) : '').padStart(5),
        String(r.batches_per_step).padStart(7),
        fmt(r.exposed_comm_ms).padStart(10),
        (r.bubble_fraction !== undefined ? `${fmt(100 * r.bubble_fraction, 0)} %` : '').padStart(6),
        String(Math.round(r.bytes_per_step)).padStart(10),
        fmt(r.peak_mem_bytes_per_rank / 2 ** 20, 2).padStart(8),
        (b && b !== r ? fmt(r.peak_mem_bytes_per_rank / b.peak_mem_bytes_per_rank, 2) : '').padStart(5),
        fmt(r.model_state_bytes_per_rank / 2 ** 20, 2).padStart(10),
        fmt(r.final_loss, 4).padStart(10),
        `${r.steps_run}${r.settled ? ' s' : ''}`.padStart(5),
        fmt(r.wall_s, 1).padStart(6),
      ].join('  '),
    );
  }
  // Per group, for the rows that have more than the world group.
  for (const r of rows) {
    const groups = Object.entries(r.exposed_comm_by_group_ms);
    if (groups.length < 2 && !groups.some(([g]) => g !== 'world')) continue;
    const theory =
      r.bubble_theory !== undefined
        ? `; bubble ${fmt(100 * r.bubble_fraction!, 0)} % of the window (schedule ${fmt(100 * r.bubble_theory, 0)} %)`
        : '';
    console.log(`  ${r.label}: exposed per group ${groups.map(([g, ms]) => `${g} ${fmt(ms)} ms`).join(', ')}${theory}`);
  }
}

/**
 * The shapes the methods promise, read off one preset's data-parallel rows (all links):
 * printed as measured, not asserted, because timings on a shared machine are noisy.
 */
function printShapes(rows: Row[]): void {
  const by = (link: string, id: string): Row | undefined => rows.find((r) => r.link === link && r.row === id);
  const links = [...new Set(rows.map((r) => r.link))];
  console.log(`\nshapes for ${rows[0].preset}:`);
  for (const link of links) {
    const ddp = by(link, 'ddp');
    if (!ddp) continue;
    const best = (ids: string[]): Row | undefined =>
      ids
        .map((id) => by(link, id))
        .filter((r): r is Row => !!r)
        .sort((a, b) => a.step_ms - b.step_ms)[0];
    const comp = best(['fp16', 'bf16', 'int8-ef', 'topk-dgc', 'powersgd', 'onebit-adam']);
    const local = best(['localsgd', 'diloco', 'streaming-diloco']);
    const bucketed = by(link, 'ddp-bucketed');
    const zero3 = by(link, 'zero3');
    const parts = [
      `${link}: DDP ${fmt(ddp.step_ms)} ms/step, ${fmt((100 * ddp.exposed_comm_ms) / ddp.step_ms, 0)}% exposed communication`,
    ];
    if (comp) parts.push(`best compression ${comp.strategy} ${fmt(comp.step_ms / ddp.step_ms, 2)}× DDP's step`);
    if (local) parts.push(`best local update ${local.strategy} ${fmt(local.step_ms / ddp.step_ms, 2)}×`);
    if (bucketed)
      parts.push(`bucketing exposes ${fmt(bucketed.exposed_comm_ms, 0)} of DDP's ${fmt(ddp.exposed_comm_ms, 0)} ms`);
    if (zero3)
      parts.push(
        `ZeRO-3 ${fmt(zero3.step_ms / ddp.step_ms, 2)}× step, ${fmt(zero3.peak_mem_bytes_per_rank / ddp.peak_mem_bytes_per_rank, 2)}× peak memory, ${fmt(zero3.model_state_bytes_per_rank / ddp.model_state_bytes_per_rank, 2)}× model states`,
      );
    console.log(`  ${parts.join('; ')}`);
  }
}

/** The headline keys: per link, each layout's step time over DP's, and the run's wall time and load. */
function headline(
  rows: Row[],
  now: Row[],
  wallS: number,
  loadStart: number[],
  loadEnd: number[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {
    total_wall_s: Number(wallS.toFixed(1)),
    rows_measured: now.length,
    rows_settled_early: now.filter((r) => r.settled).length,
    load_avg_start: loadStart,
    load_avg_end: loadEnd,
  };
  for (const link of new Set(rows.map((r) => r.link))) {
    const layoutRows = rows.filter(
      (r) => r.link === link && r.world_size === LAYOUT_WORLD && r.preset === LAYOUT_PRESET,
    );
    const key = link.replace(/[^a-z0-9]+/gi, '_');
    const id = (x: string) => x.replace(/-/g, '_');
    for (const r of layoutRows) {
      const b = layoutRows.find((x) => x.row === r.baseline);
      if (b) out[`${id(r.row)}_step_over_${id(b.row)}_${key}`] = Number((r.step_ms / b.step_ms).toFixed(3));
    }
    const pp = layoutRows.filter((r) => r.bubble_fraction !== undefined);
    for (const r of pp) out[`${r.row.replace(/-/g, '_')}_bubble_${key}`] = Number(r.bubble_fraction!.toFixed(3));
  }
  return out;
}

async function main(): Promise<void> {
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  const o = parseOptions(process.argv.slice(2));
  const la = (): number[] => loadavg().map((x) => Number(x.toFixed(2)));
  const loadStart = la();
  console.log(
    `bench:strategies on ${o.links.join(', ')}: up to ${o.maxSteps} steps a row, stopping once the last ${o.settleSteps} steady steps lie within ${o.settlePct} % of their median; load average ${loadStart.join(' ')} on this machine`,
  );
  const groups: { preset: string; specs: RowSpec[] }[] = [
    ...o.presets.map((preset) => ({
      preset,
      specs: o.strategies.map((s) => dataParallelRow(s, preset)),
    })),
    ...(o.layouts.length
      ? [
          {
            preset: LAYOUT_PRESET,
            specs: LAYOUTS.filter((l) => o.layouts.includes(l.id)).map((l) => ({
              ...l,
              preset: LAYOUT_PRESET,
              worldSize: LAYOUT_WORLD,
            })),
          },
        ]
      : []),
  ];
  const rows: Row[] = [];
  const t0 = process.hrtime.bigint();
  const work = mkdtempSync(join(tmpdir(), 'commlens-bench-strategies-'));
  try {
    for (const g of groups) {
      const measured: Row[] = [];
      for (const link of o.links) {
        // Rounds in alternating order; each row keeps its fastest round, the one least disturbed by other load.
        const best = new Map<string, Row>();
        for (let round = 0; round < o.rounds; round++) {
          const order = round % 2 === 0 ? g.specs : [...g.specs].reverse();
          for (const spec of order) {
            const dir = join(work, `${g.preset}-${link}-${spec.id}-${round}`);
            const baseline = spec.baseline ?? (spec.model ? undefined : g.specs[0].id);
            const r = await measure(spec, link, o, dir, baseline);
            rmSync(dir, { recursive: true, force: true });
            if (typeof r === 'string') {
              if (round === 0) console.log(`${g.preset}/${link}/${spec.id}: ${r}`);
              continue;
            }
            process.stderr.write(
              `  ${g.preset}/${link}/${spec.id}: ${fmt(r.step_ms)} ms/step, ${r.steps_run} steps${r.settled ? ' (settled)' : ''}, ${fmt(r.wall_s)} s wall, load ${fmt(r.load_avg_1m, 2)}\n`,
            );
            const prev = best.get(spec.id);
            if (!prev || r.step_ms < prev.step_ms) best.set(spec.id, r);
          }
        }
        const got = g.specs.map((s) => best.get(s.id)).filter((r): r is Row => !!r);
        measured.push(...got);
        if (got.length) printTable(got);
      }
      rows.push(...measured);
      const dpRows = measured.filter((r) => r.world_size === PRESETS[g.preset].worldSize);
      if (dpRows.some((r) => r.row === 'ddp')) printShapes(dpRows);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const loadEnd = la();
  console.log(
    `\n${rows.length} rows in ${fmt(wallS / 60)} min (${rows.filter((r) => r.settled).length} settled before ${o.maxSteps} steps); load average ${loadStart.join(' ')} → ${loadEnd.join(' ')}`,
  );
  const out = resolve(__dirname, '..', '..', 'bench', 'results');
  mkdirSync(out, { recursive: true });
  // Rows of a group (preset × world size × link) measured by an earlier invocation stay, unless measured again now.
  const file = join(out, 'strategies.json');
  const groupKey = (r: Pick<Row, 'preset' | 'world_size' | 'link'>) => `${r.preset}/${r.world_size}/${r.link}`;
  let kept: Row[] = [];
  try {
    const old = JSON.parse(readFileSync(file, 'utf8')) as { rows?: Row[] };
    const fresh = new Set(rows.map(groupKey));
    kept = Array.isArray(old.rows) ? old.rows.filter((r) => !fresh.has(groupKey(r))) : [];
  } catch {
    // no earlier results (or the older format, a bare array without world sizes): start afresh
  }
  const all = [...kept, ...rows];
  writeFileSync(
    file,
    JSON.stringify(
      {
        ...headline(all, rows, wallS, loadStart, loadEnd),
        conditions: {
          links: o.links,
          max_steps: o.maxSteps,
          settle_rule: `last ${o.settleSteps} steady steps within ${o.settlePct} % of their median`,
          rounds: o.rounds,
          measured_at: new Date().toISOString(),
        },
        rows: all,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`wrote ${file} (${rows.length} rows measured now, ${kept.length} kept from earlier runs)`);
}

if (require.main === module)
  main().catch((e: unknown) => {
    console.error((e as Error).message ?? e);
    process.exit(1);
  });
