/**
 * Advisor benchmark: for each preset, profile a baseline, then re-run it with every
 * verifiable suggestion the advisor made (exactly what `commlens verify` does) and
 * compare the predicted step time with the measured one. Prints the table and writes
 * bench/results/advisor.json with `median_abs_pred_error`, `max_abs_pred_error`,
 * `worst_slowdown_of_predicted_win` and the rows behind them.
 *
 * Presets and steps can be narrowed: BENCH_ADVISOR_PRESETS=tiny,mlp-small BENCH_ADVISOR_STEPS=12,
 * and the suggestions re-run: BENCH_ADVISOR_SUGGESTIONS=compression-fp16,zero1 (ids, or prefixes of them).
 * `NAME@N` runs a preset on N ranks (e.g. gpt-mini@4, where the layouts DP 2 × TP 2 and DP 2 × PP 2
 * exist). A suggestion that changes the strategy (a parallel layout) is re-run like any other
 * (the strategy's own options replace the baseline's); its row says the strategy change and
 * the peak memory per rank predicted, of the baseline and measured.
 *
 * Each row also prints where the prediction came from: the replay's components (compute,
 * staging, wire, codec, wait, exposed communication) without → with the change, beside what
 * the baseline and the re-run measured of them.
 *
 * `--repeats N` runs the whole pass N times (fresh baselines, fresh suggestions) and reports
 * the median |error| of each pass and their median and spread; `--load N` then runs the
 * same passes again with N busy threads spinning beside them (a machine shared with other
 * work), reported beside the quiet passes. The 1-minute load average is printed at the
 * start and end of each condition.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { Worker } from 'node:worker_threads';
import { join, resolve } from 'node:path';
import { PRESETS, validateConfig, type RunConfig } from '../runtime/config';
import { LINK_PROFILES } from '../runtime/comm';
import { STRATEGY_IDS, validateStrategyConfig } from '../runtime/strategies';
import { executeRun } from '../cli/commands/profile';
import { Output } from '../cli/output';
import {
  judge,
  measuredOf,
  measuredSpeedupInterval,
  measuredSpeedupText,
  stepSamplesOf,
  verificationConfig,
  type VerifiableSuggestion,
} from '../analysis/verify';
import { median } from '../trace/stats';
import { formatBytes } from '../trace/format';
import {
  componentsLine,
  errorSpread,
  measuredComponentsOf,
  type ComponentPredictions,
  type MeasuredComponents,
} from '../analysis/predictionReport';

interface Row {
  preset: string;
  link: string;
  suggestion: string;
  /** The suggestion's kind (the advisor's catalogue: compression, overlap, shard, layout, …). */
  kind?: string;
  config_change: string;
  /** "ddp → tp (tensorParallelSize 2)" when the change switches the strategy (a layout suggestion). */
  strategy_change?: string;
  /** Peak memory per rank: predicted (when the suggestion predicts it), the baseline's and the re-run's. */
  predicted_peak_mem_bytes?: number;
  baseline_peak_mem_bytes?: number;
  measured_peak_mem_bytes?: number;
  baseline_step_ms: number;
  predicted_step_ms: number;
  measured_step_ms: number;
  measured_basis: string;
  abs_pred_error: number;
  predicted_speedup: number;
  measured_speedup: number;
  verdict: string;
  /**
   * The measured speed-up's 95 % interval over this pass's baseline and re-run (analysis/verify.ts,
   * as `commlens verify` states it), and whether the predicted speed-up lies within it widened by
   * the 5 % target error; absent when the runs were too short for an interval.
   */
  measured_speedup_low?: number;
  measured_speedup_high?: number;
  speedup_right?: boolean;
  /** quiet, or `load N` (N busy threads), and the pass (0-based). */
  condition: string;
  pass: number;
  predicted_components?: ComponentPredictions;
  baseline_measured_components?: MeasuredComponents;
  measured_components?: MeasuredComponents;
}

interface Args {
  repeats: number;
  load: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { repeats: 1, load: 0 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag !== '--repeats' && flag !== '--load')
      throw new Error(
        `unknown option ${flag}: expected --repeats N (passes, default 1) or --load N (busy threads beside a second set of passes, default 0)`,
      );
    const v = Number(argv[++i]);
    if (!Number.isInteger(v) || v < (flag === '--repeats' ? 1 : 0) || v > 64)
      throw new Error(
        `${flag} ${argv[i] ?? '(missing)'}: expected an integer from ${flag === '--repeats' ? 1 : 0} to 64`,
      );
    if (flag === '--repeats') a.repeats = v;
    else a.load = v;
  }
  return a;
}

const bytesText = (b: number | undefined): string => (b === undefined ? '–' : formatBytes(b));

/** A preset's config for `steps` steps; `NAME@N` on N ranks (e.g. gpt-mini@4 for the layouts of 4 ranks). */
export function presetConfig(spec: string, steps: number): RunConfig {
  const [name, ranks] = spec.split('@');
  const base = Object.hasOwn(PRESETS, name) ? PRESETS[name] : undefined;
  const n = ranks === undefined ? undefined : Number(ranks);
  if (!base || (n !== undefined && !(Number.isInteger(n) && n >= 1 && n <= 16)))
    throw new Error(
      `BENCH_ADVISOR_PRESETS: '${spec}' is not a preset; expected NAME or NAME@RANKS with NAME one of ${Object.keys(PRESETS).join(', ')} and RANKS from 1 to 16`,
    );
  return { ...base, steps, ...(n !== undefined ? { worldSize: n } : {}) };
}

/**
 * The re-run of a suggestion, as `commlens verify` makes it (analysis/verify.ts
 * verificationConfig), validated; or why it cannot run. A change of strategy (a parallel
 * layout) brings its own options: they replace the baseline's, which belong to the strategy
 * being left (a pp run's micro-batches mean nothing to tp).
 */
export function rerunConfig(base: RunConfig, change: Record<string, unknown>): RunConfig | string {
  const switches = typeof change.strategy === 'string' && change.strategy !== base.strategy;
  const from: RunConfig = { ...base };
  if (switches) delete from.strategyOptions;
  try {
    return validateConfig(
      verificationConfig(from, change).config,
      Object.keys(LINK_PROFILES),
      STRATEGY_IDS,
      validateStrategyConfig,
    );
  } catch (e) {
    return (e as Error).message;
  }
}

/** `strategy_change` of a row: "ddp → tp (tensorParallelSize 2)" when the re-run's strategy differs. */
export function strategyChange(base: RunConfig, rerun: RunConfig): { strategy_change?: string } {
  if (rerun.strategy === base.strategy) return {};
  const opts = Object.entries(rerun.strategyOptions ?? {}).map(([k, v]) => `${k} ${String(v)}`);
  return { strategy_change: `${base.strategy} → ${rerun.strategy}${opts.length ? ` (${opts.join(', ')})` : ''}` };
}

/** N threads that spin until terminated: background load on the machine's cores. */
function startLoad(n: number): Worker[] {
  return Array.from({ length: n }, () => new Worker('let x = 0; for (;;) x = (x + 1) | 0;', { eval: true }));
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const presets = (process.env.BENCH_ADVISOR_PRESETS ?? 'mlp-small,gpt-mini').split(',');
  const steps = Number(process.env.BENCH_ADVISOR_STEPS ?? 12);
  const only = process.env.BENCH_ADVISOR_SUGGESTIONS?.split(',').filter((x) => x.length > 0);
  const dir = mkdtempSync(join(tmpdir(), 'commlens-advisor-'));
  const out = new Output('bench:advisor', { quiet: true });
  const rows: Row[] = [];
  const skipped: string[] = [];
  const conditions: { name: string; threads: number; loadBefore: number; loadAfter: number }[] = [];
  const pass = async (condition: string, passIndex: number): Promise<void> => {
    for (const preset of presets) {
      const base: RunConfig = presetConfig(preset, steps);
      const b = await executeRun(base, dir, out);
      if (!b.summary) throw new Error(`baseline of ${preset} failed (exit ${b.exitCode})`);
      const suggestions = (
        (b.summary.analysis as { suggestions?: (VerifiableSuggestion & { verifiable?: boolean; kind?: string })[] })
          .suggestions ?? []
      ).filter(
        (s) =>
          s.verifiable !== false &&
          Object.keys(s.configChange).length > 0 &&
          (!only || only.some((o) => s.id.startsWith(o))),
      );
      process.stdout.write(
        `${preset}: baseline ${(measuredOf(b.summary).stepTimeNs / 1e6).toFixed(1)} ms per step (steady state), ${suggestions.length} verifiable suggestion(s)\n`,
      );
      const baseline = measuredOf(b.summary);
      const baselineComponents = measuredComponentsOf(b.summary.analysis);
      for (const s of suggestions) {
        const config = rerunConfig(b.summary.config, s.configChange);
        if (typeof config === 'string') {
          skipped.push(`${preset}/${s.id}: ${config}`);
          continue;
        }
        const r = await executeRun(config, dir, out);
        if (!r.summary || r.exitCode !== 0) {
          skipped.push(`${preset}/${s.id}: re-run failed (exit ${r.exitCode})`);
          continue;
        }
        const measured = measuredOf(r.summary);
        const j = judge(s.predicted, baseline, measured);
        // The same pair judged on speed-ups with their interval (verify's verdict), beside the step-time error.
        const iv = measuredSpeedupInterval([stepSamplesOf(b.summary)], [stepSamplesOf(r.summary)]).interval;
        const ij = iv ? judge(s.predicted, baseline, measured, iv) : undefined;
        rows.push({
          preset,
          link: base.link,
          suggestion: s.id,
          ...(typeof s.kind === 'string' ? { kind: s.kind } : {}),
          config_change: JSON.stringify(s.configChange),
          ...strategyChange(b.summary.config, config),
          ...(s.predicted.peakMemoryBytes !== undefined
            ? { predicted_peak_mem_bytes: s.predicted.peakMemoryBytes }
            : {}),
          ...(baseline.peakMemoryBytesPerRank !== undefined
            ? { baseline_peak_mem_bytes: baseline.peakMemoryBytesPerRank }
            : {}),
          ...(measured.peakMemoryBytesPerRank !== undefined
            ? { measured_peak_mem_bytes: measured.peakMemoryBytesPerRank }
            : {}),
          baseline_step_ms: baseline.stepTimeNs / 1e6,
          predicted_step_ms: s.predicted.stepTimeNs / 1e6,
          measured_step_ms: measured.stepTimeNs / 1e6,
          measured_basis: measured.stepTimeBasis,
          abs_pred_error: Math.abs(j.stepTimeRelError),
          predicted_speedup: j.predictedSpeedup,
          measured_speedup: j.measuredSpeedup,
          verdict: j.verdict,
          ...(iv && ij
            ? { measured_speedup_low: iv.low, measured_speedup_high: iv.high, speedup_right: ij.right }
            : {}),
          condition,
          pass: passIndex,
          predicted_components: (s.predicted as { components?: ComponentPredictions }).components,
          baseline_measured_components: baselineComponents,
          measured_components: measuredComponentsOf(r.summary.analysis),
        });
        const x = rows[rows.length - 1];
        process.stdout.write(
          `  ${s.id.padEnd(28)} predicted ${x.predicted_step_ms.toFixed(1).padStart(8)} ms  measured ${x.measured_step_ms.toFixed(1).padStart(8)} ms  error ${(x.abs_pred_error * 100).toFixed(1).padStart(5)} %  ${x.verdict}${iv ? `; ${measuredSpeedupText(iv)}, predicted ${x.predicted_speedup.toFixed(2)}×` : ''}\n`,
        );
        if (x.strategy_change)
          process.stdout.write(
            `      strategy ${x.strategy_change}; peak memory per rank ${bytesText(x.baseline_peak_mem_bytes)} → predicted ${bytesText(x.predicted_peak_mem_bytes)}, measured ${bytesText(x.measured_peak_mem_bytes)}\n`,
          );
        if (x.predicted_components)
          process.stdout.write(
            `      ${componentsLine(x.predicted_components, x.measured_components, x.baseline_measured_components)}\n`,
          );
      }
    }
  };
  const runCondition = async (name: string, threads: number): Promise<void> => {
    const workers = startLoad(threads);
    const loadBefore = loadavg()[0];
    try {
      for (let i = 0; i < args.repeats; i++) {
        process.stdout.write(`— ${name}, pass ${i + 1}/${args.repeats} (load average ${loadavg()[0].toFixed(2)})\n`);
        await pass(name, i);
      }
    } finally {
      conditions.push({ name, threads, loadBefore, loadAfter: loadavg()[0] });
      await Promise.all(workers.map((w) => w.terminate()));
    }
  };
  try {
    await runCondition('quiet', 0);
    if (args.load > 0) await runCondition(`load ${args.load}`, args.load);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const spreads = conditions.map((c) => {
    const byPass = Array.from({ length: args.repeats }, (_, i) =>
      rows.filter((r) => r.condition === c.name && r.pass === i).map((r) => r.abs_pred_error),
    );
    return { ...c, ...errorSpread(byPass) };
  });
  const errors = rows.filter((r) => r.condition === 'quiet').map((r) => r.abs_pred_error);
  const wins = rows.filter((r) => r.condition === 'quiet' && r.predicted_speedup > 1);
  const judged = rows.filter((r) => r.condition === 'quiet' && r.speedup_right !== undefined);
  const result = {
    // No re-run, no error: NaN (written as null), never the 0 that median() gives for none.
    median_abs_pred_error: errors.length ? median(errors) : NaN,
    max_abs_pred_error: errors.length ? Math.max(...errors) : NaN,
    // How much slower than the baseline a suggestion predicted to help measured (0 when none was slower).
    worst_slowdown_of_predicted_win: wins.length ? Math.max(0, ...wins.map((r) => 1 / r.measured_speedup - 1)) : 0,
    // Quiet rows whose predicted speed-up lies within the measured 95 % interval widened by 5 % (verify's "right").
    right_within_interval: judged.length ? judged.filter((r) => r.speedup_right).length / judged.length : NaN,
    // Per condition (quiet, and with --load N busy threads): the median |error| of each pass, their median and spread.
    conditions: spreads,
    rows,
    skipped,
    measuredAt: new Date().toISOString(),
  };
  if (errors.length === 0) process.stdout.write('\nno suggestion was re-run: no prediction error to report\n');
  else
    process.stdout.write(
      `\nmedian |error| ${(result.median_abs_pred_error * 100).toFixed(1)} % (target <= 5 % quiet, <= 8 % under load), worst ${(result.max_abs_pred_error * 100).toFixed(1)} % (target <= 15 %), worst slowdown of a predicted win ${(result.worst_slowdown_of_predicted_win * 100).toFixed(1)} % (target <= 3 %); predicted speed-up within the measured 95 % interval widened by 5 %: ${judged.length ? `${judged.filter((r) => r.speedup_right).length} of ${judged.length} rows` : 'no row had an interval'}\n`,
    );
  for (const c of spreads) {
    const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
    const errors =
      c.passes > 0
        ? `median |error| ${pct(c.median)} over ${c.passes} pass(es) (min ${pct(c.min)}, quartiles ${pct(c.q1)}–${pct(c.q3)}, max ${pct(c.max)})`
        : 'no suggestion was re-run';
    process.stdout.write(
      `${c.name.padEnd(8)} ${errors}; load average ${c.loadBefore.toFixed(2)} → ${c.loadAfter.toFixed(2)}\n`,
    );
  }
  for (const s of skipped) process.stdout.write(`skipped: ${s}\n`);
  const file = resolve(__dirname, '..', '..', 'bench', 'results', 'advisor.json');
  mkdirSync(resolve(file, '..'), { recursive: true });
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(`wrote ${file}\n`);
}

if (require.main === module)
  void main().catch((e: unknown) => {
    process.stderr.write(`bench:advisor: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
