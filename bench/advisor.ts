/**
 * Advisor benchmark: for each preset, profile a baseline, then verify every verifiable
 * suggestion the advisor made as `commlens verify` does by default: rounds of a fresh run of
 * the baseline, then the changed run (analysis/verify.ts measureInRounds), with the predicted
 * speed-up (predicted.baselineStepTimeNs / predicted.stepTimeNs) judged against the speed-up
 * measured over those rounds and its 95 % interval (judgeRounds). Prints the table and writes
 * bench/results/advisor.json with `median_abs_pred_error`, `max_abs_pred_error`,
 * `worst_slowdown_of_predicted_win` and the rows behind them.
 *
 * Why speed-ups against a baseline run beside the change: the advisor's promise is a speed-up
 * ("this change makes your step X % faster"). Judged against the one baseline measured at the
 * start of the pass, minutes before most re-runs, the machine's drift between runs (the same
 * baseline reads ±15 % between passes on a shared 2-core machine) is counted as prediction
 * error; verify measures beside a fresh baseline, and so does this bench. The headline
 * `*_abs_pred_error` is therefore |predicted speed-up − measured speed-up| / measured speed-up,
 * the measured speed-up being the interval's estimate (the pooled ratio of step times), and
 * `worst_slowdown_of_predicted_win` uses that measured speed-up. The earlier definition stays
 * beside it: the step-time error of the prediction against the changed run, |measured −
 * predicted| / measured, with the prediction derived from the pass's first baseline
 * (`*_abs_step_error_vs_pass_baseline`, `worst_slowdown_of_predicted_win_vs_pass_baseline`).
 * A third figure scales the predicted step to the interleaved baseline (predicted step ×
 * measured interleaved baseline / predicted.baselineStepTimeNs) and compares it with the
 * changed run (`abs_scaled_step_error`): it equals 1 − measured/predicted speed-up, not the
 * speed-up error (which divides the same difference by the measured speed-up), so both are
 * reported; they agree to first order when the error is small.
 *
 * `--max-rounds N` (default VERIFY_DEFAULTS.maxRounds, 3, as `commlens verify`, stopping early
 * once the interval is within ± 3 %): rounds per suggestion. One round per suggestion (the default
 * until 2026-12-07) is a single pair of runs, and a pair's speed-up is itself noisy: in a pass
 * beside two busy threads (2026-12-06, late night, docs/benchmarks.md) a row's three rounds read
 * speed-ups up to 21 % apart, and the first round alone gave a median error of 5.9 % and a worst of
 * 41.2 % where the three rounds pooled gave 4.9 % and 22.0 % (quiet: 5.2 / 29.5 % against 4.9 /
 * 21.2 %). Each row with more than one round also records the error from its first round alone
 * (`abs_pred_error_first_round`; the headline's `*_abs_pred_error_first_round`), so every pass
 * shows that difference side by side. Each row also records how far its baselines beside the
 * change ran from the pass baseline the prediction came from (`baseline_drift`, verify's
 * `baselineDrift.relative`; the headline's `*_abs_baseline_drift`), and the prediction re-made
 * from those baselines (`repredicted_speedup`, verify's `baselineDrift.repredictedSpeedup`: the
 * median of their own analyses' speed-ups for the same suggestion) with its error
 * (`abs_repredicted_error`; the headline's `*_abs_repredicted_error`; each baseline's own in
 * `repredicted_speedups`, their range over their median the headline's `median_repredicted_spread`): the replay's error from
 * baselines run at the time of each change, beside the headline's (it leaves out the machine's
 * drift through the pass and adds those runs' own noise: on a steady machine, 12-07, no better).
 * At the end of each preset, every row is also judged from every baseline run of that preset in
 * the pass (the pass baseline and all the baselines beside every change: ~30 runs at 3 rounds),
 * each run's own analysis predicting the suggestion (everyBaselineFigures): the median |error| over
 * all (row, baseline) pairs with the share more than 15 % off (`median_abs_error_every_baseline`,
 * `share_over_15pct_every_baseline`), and per row the error of those predictions' median
 * (`abs_error_of_median_prediction`; the headline's median and worst of it). The headline error
 * judges one baseline run a preset, and on this machine gpt-mini's pass baseline ran at 0.87–1.05×
 * the median of the baselines beside its changes over six conditions (2026-12-07, docs/benchmarks.md),
 * so it moves with that run's luck from pass to pass; the
 * pairs measure the same promise over many runs a user could have started from, and the median
 * prediction's error is what the replay itself gets wrong.
 * On this 2-core machine a pass takes ~25 min quiet and ~30 min beside two busy threads at three
 * rounds (measured: 23.9 and 29.9 min on 12-06, 25.4 and 32.8 min on 12-07), against 8.3–8.6 min
 * quiet at one.
 * `--reuse-baseline`: the quick pass of before (verify --reuse-baseline): each suggestion runs
 * once, judged against the pass's first baseline alone. `--keep-runs DIR`: the runs (traces,
 * summaries, comparisons) are written there and kept, to read a row's runs afterwards.
 *
 * Presets and steps can be narrowed: BENCH_ADVISOR_PRESETS=tiny,mlp-small BENCH_ADVISOR_STEPS=12,
 * and the suggestions re-run: BENCH_ADVISOR_SUGGESTIONS=compression-fp16,zero1 (ids, or prefixes of them).
 * `NAME@N` runs a preset on N ranks (e.g. gpt-mini@4, where the layouts DP 2 × TP 2 and DP 2 × PP 2
 * exist). A suggestion that changes the strategy (a parallel layout) is re-run like any other
 * (the strategy's own options replace the baseline's); its row says the strategy change and
 * the peak memory per rank predicted, of the baseline and measured.
 *
 * Each row also prints where the prediction came from: the replay's components (compute,
 * staging, wire, codec, wait, host, exposed communication) without → with the change, beside what
 * the baseline and the re-run measured of them and the re-runs' own replayed split
 * (`measured_split`, analysis.replay.components: the same split of their measured steps).
 *
 * `--repeats N` runs the whole pass N times (fresh baselines, fresh suggestions) and reports
 * the median |error| of each pass and their median and spread; `--load N` then runs the
 * same passes again with N busy threads spinning beside them, in a process of their own (a
 * machine shared with other work), reported beside the quiet passes; with `--load-only` without
 * them (figures in bench/results/advisor-load-only.json: the headline keys are the quiet rows').
 * The 1-minute load average is printed at the start and end of each condition.
 */
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { PRESETS, validateConfig, type RunConfig } from '../runtime/config';
import { LINK_PROFILES } from '../runtime/comm';
import { STRATEGY_IDS, validateStrategyConfig } from '../runtime/strategies';
import { executeRun } from '../cli/commands/profile';
import type { RunSummary } from '../runtime/summary';
import { Output } from '../cli/output';
import {
  baselineDriftOf,
  repredictedSpeedupsOf,
  judge,
  judgeRounds,
  measureInRounds,
  measuredOf,
  measuredSpeedupInterval,
  measuredSpeedupText,
  pooledComponents,
  verificationConfig,
  stepSamplesOf,
  VERIFY_DEFAULTS,
  type RoundRun,
  type RoundsMeasured,
  type RunRecord,
  type VerifiableSuggestion,
} from '../analysis/verify';
import { median } from '../trace/stats';
import type { StepComponents } from '../analysis/replay/simulate';
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
  /** The pass's first baseline: the run whose trace the prediction came from. */
  baseline_step_ms: number;
  predicted_step_ms: number;
  predicted_speedup: number;
  /** How the row's baseline was measured: 're-measured' beside the change in each round (verify's default), or 'pass baseline' (--reuse-baseline). */
  baseline_source: 're-measured' | 'pass baseline';
  /** Rounds run for this suggestion (each: the baseline again unless reused, then the change). */
  rounds: number;
  /** The baseline's step time pooled over the rounds' baseline runs (the pass baseline with --reuse-baseline). */
  interleaved_baseline_step_ms: number;
  /**
   * How far that pooled baseline ran from the pass baseline the prediction came from:
   * pooled / pass baseline − 1 (analysis/verify.ts baselineDriftOf, comparison.json's
   * `baselineDrift.relative`); 0 with the pass baseline reused.
   */
  baseline_drift: number;
  /**
   * The prediction re-made from the baselines beside the change: the median of the same
   * suggestion's predicted speed-up in each baseline run's own analysis (verify's
   * `baselineDrift.repredictedSpeedup`), and its error against the measured speed-up, as
   * abs_pred_error; absent when none of those analyses made the suggestion.
   */
  repredicted_speedup?: number;
  abs_repredicted_error?: number;
  /**
   * Each baseline beside the change's own predicted speed-up (verify's
   * `baselineDrift.repredictedSpeedups`, in round order): how far one baseline run moves the prediction.
   */
  repredicted_speedups?: number[];
  /**
   * The same suggestion's predicted speed-up in the analysis of every baseline run of the preset in
   * the pass (the pass baseline first, then every round's, in order; everyBaselineFigures): each is a
   * run a user could have started from. Absent when none of them made the suggestion.
   */
  every_baseline_speedups?: number[];
  /** |p − measured speed-up| / measured speed-up over every_baseline_speedups: their median. */
  median_abs_error_every_baseline?: number;
  /** |median of every_baseline_speedups − measured speed-up| / measured speed-up: the replay's own error, with one run's luck taken out. */
  abs_error_of_median_prediction?: number;
  /** The changed run's step time pooled over the rounds. */
  measured_step_ms: number;
  measured_basis: string;
  /** The measured speed-up against the interleaved baseline: the interval's estimate (pooled ratio), else the step times' ratio. */
  measured_speedup: number;
  /** |predicted speed-up − measured speed-up| / measured speed-up: the headline error (median_abs_pred_error). */
  abs_pred_error: number;
  /**
   * The headline error from the first round's pair of runs alone (rows of more than one round with
   * the baseline re-measured): what one round would have read, beside the pooled figure.
   */
  abs_pred_error_first_round?: number;
  /** |measured step − predicted step scaled to the interleaved baseline| / measured step (= |1 − measured / predicted speed-up|). */
  abs_scaled_step_error: number;
  /** verify's verdict on the interleaved measurement. */
  verdict: string;
  /**
   * The measured speed-up's 95 % interval over the rounds' runs (analysis/verify.ts, as
   * `commlens verify` states it), and whether the predicted speed-up lies within it widened by
   * the 5 % target error; absent when the runs were too short for an interval.
   */
  measured_speedup_low?: number;
  measured_speedup_high?: number;
  speedup_right?: boolean;
  /** The earlier definition: |measured − predicted step| / measured step, the prediction derived from the pass's first baseline. */
  abs_step_error_vs_pass_baseline: number;
  /** The pass's first baseline step / the measured changed step. */
  measured_speedup_vs_pass_baseline: number;
  /** quiet, or `load N` (N busy threads), and the pass (0-based). */
  condition: string;
  pass: number;
  predicted_components?: ComponentPredictions;
  baseline_measured_components?: MeasuredComponents;
  measured_components?: MeasuredComponents;
  /**
   * The changed runs' steps split as the prediction splits the changed step (each run's
   * analysis.replay.components, median over the runs: analysis/verify.ts Measured.components),
   * compared with predicted_components component by component.
   */
  measured_split?: StepComponents;
  /**
   * Cores the machine's other programs used, median over each run's steady steps
   * (analysis.source.otherProgramsCores), over the round's baseline runs and changed runs: the
   * load each side was measured beside.
   */
  baseline_other_programs_cores?: number;
  measured_other_programs_cores?: number;
  /**
   * This process after the row's runs (the bench makes every run inside its one process): its
   * threads and resident memory, so a pass whose runs slow down through it can be checked
   * against the process's own growth (threads or memory left behind by earlier runs).
   */
  process_threads?: number;
  process_rss_bytes?: number;
}

interface Args {
  repeats: number;
  load: number;
  maxRounds: number;
  reuseBaseline: boolean;
  /** --load-only: the passes beside the busy threads alone, without the quiet ones first. */
  loadOnly?: boolean;
  /** Where the pass's runs are written and kept (default: a temporary folder, removed at the end). */
  keepRuns?: string;
}

/** Rounds per suggestion unless --max-rounds says otherwise: verify's own default (the header says why). */
export const BENCH_MAX_ROUNDS = VERIFY_DEFAULTS.maxRounds;

/** Bad options or settings: printed as their message alone, without a stack. */
export class BenchArgError extends Error {}

export function parseArgs(argv: string[]): Args {
  const a: Args = { repeats: 1, load: 0, maxRounds: BENCH_MAX_ROUNDS, reuseBaseline: false };
  const mins: Record<string, number> = { '--repeats': 1, '--load': 0, '--max-rounds': 1 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--reuse-baseline') {
      a.reuseBaseline = true;
      continue;
    }
    if (flag === '--load-only') {
      a.loadOnly = true;
      continue;
    }
    if (flag === '--keep-runs') {
      const d = argv[++i];
      if (!d || d.startsWith('--'))
        throw new BenchArgError(`--keep-runs ${d ?? '(missing)'}: expected a folder to keep the runs in`);
      a.keepRuns = d;
      continue;
    }
    if (!Object.hasOwn(mins, flag))
      throw new BenchArgError(
        `unknown option ${flag}: expected --repeats N (passes, default 1), --load N (busy threads beside a second set of passes, default 0), --max-rounds N (rounds of baseline and change per suggestion, default ${BENCH_MAX_ROUNDS}, as verify), --reuse-baseline (judge against the pass's first baseline alone), --load-only (with --load N: no quiet passes) or --keep-runs DIR (write the runs there and keep them)`,
      );
    const v = Number(argv[++i]);
    if (!Number.isInteger(v) || v < mins[flag] || v > 64)
      throw new BenchArgError(`${flag} ${argv[i] ?? '(missing)'}: expected an integer from ${mins[flag]} to 64`);
    if (flag === '--repeats') a.repeats = v;
    else if (flag === '--load') a.load = v;
    else a.maxRounds = v;
  }
  if (a.loadOnly && a.load === 0)
    throw new BenchArgError(
      '--load-only: expected --load N too (N busy threads, 1 or more): the passes it keeps are those beside them',
    );
  return a;
}

/**
 * A row's error figures from the runs behind it: the rounds' runs judged as verify judges them
 * (judgeRounds: the interleaved measurement), and the changed runs' step time against the
 * prediction derived from the pass's first baseline (the earlier definition). Pure: the runs'
 * summaries in, the figures out.
 */
export function rowFigures(
  predicted: VerifiableSuggestion['predicted'],
  passBaseline: RunRecord,
  m: Pick<RoundsMeasured<RoundRun>, 'baselineRuns' | 'changedRuns' | 'interval'>,
  suggestionId?: string,
): Pick<
  Row,
  | 'baseline_step_ms'
  | 'predicted_step_ms'
  | 'predicted_speedup'
  | 'interleaved_baseline_step_ms'
  | 'baseline_drift'
  | 'repredicted_speedup'
  | 'repredicted_speedups'
  | 'abs_repredicted_error'
  | 'measured_step_ms'
  | 'measured_basis'
  | 'measured_speedup'
  | 'abs_pred_error'
  | 'abs_pred_error_first_round'
  | 'abs_scaled_step_error'
  | 'verdict'
  | 'measured_speedup_low'
  | 'measured_speedup_high'
  | 'speedup_right'
  | 'abs_step_error_vs_pass_baseline'
  | 'measured_speedup_vs_pass_baseline'
> {
  const j = judgeRounds(predicted, m);
  const pass = judge(predicted, measuredOf(passBaseline), j.measured);
  const scaledPredictionNs = predicted.stepTimeNs * (j.baseline.stepTimeNs / predicted.baselineStepTimeNs);
  const speedupError = (x: { predictedSpeedup: number; measuredSpeedup: number }) =>
    Math.abs(x.predictedSpeedup - x.measuredSpeedup) / x.measuredSpeedup;
  // The first round alone, judged the same way (its own interval, when its steps give one).
  let firstRound: number | undefined;
  if (m.baselineRuns.length > 1 && m.changedRuns.length > 1) {
    const first = { baselineRuns: m.baselineRuns.slice(0, 1), changedRuns: m.changedRuns.slice(0, 1) };
    const { interval } = measuredSpeedupInterval(
      first.baselineRuns.map((r) => stepSamplesOf(r.summary)),
      first.changedRuns.map((r) => stepSamplesOf(r.summary)),
    );
    firstRound = speedupError(judgeRounds(predicted, { ...first, interval }));
  }
  const drift = baselineDriftOf(
    predicted.baselineStepTimeNs,
    m.baselineRuns.map((r) => r.summary),
    j.baseline.stepTimeNs,
    suggestionId,
  );
  const again = drift?.repredictedSpeedup;
  const each = drift?.repredictedSpeedups;
  return {
    baseline_step_ms: measuredOf(passBaseline).stepTimeNs / 1e6,
    predicted_step_ms: predicted.stepTimeNs / 1e6,
    predicted_speedup: j.predictedSpeedup,
    interleaved_baseline_step_ms: j.baseline.stepTimeNs / 1e6,
    baseline_drift: drift?.relative ?? NaN,
    ...(again !== undefined
      ? {
          repredicted_speedup: again,
          abs_repredicted_error: speedupError({ predictedSpeedup: again, measuredSpeedup: j.measuredSpeedup }),
          ...(each && each.length > 0 ? { repredicted_speedups: [...each] } : {}),
        }
      : {}),
    measured_step_ms: j.measured.stepTimeNs / 1e6,
    measured_basis: j.measured.stepTimeBasis,
    measured_speedup: j.measuredSpeedup,
    abs_pred_error: speedupError(j),
    ...(firstRound !== undefined ? { abs_pred_error_first_round: firstRound } : {}),
    abs_scaled_step_error: Math.abs(j.measured.stepTimeNs - scaledPredictionNs) / j.measured.stepTimeNs,
    verdict: j.verdict,
    ...(j.speedupInterval
      ? {
          measured_speedup_low: j.speedupInterval.low,
          measured_speedup_high: j.speedupInterval.high,
          speedup_right: j.right,
        }
      : {}),
    abs_step_error_vs_pass_baseline: Math.abs(pass.stepTimeRelError),
    measured_speedup_vs_pass_baseline: pass.measuredSpeedup,
  };
}

/** The headline figures of a set of rows (bench/results/advisor.json; the header says what each means). */
export function headlineOf(
  rows: readonly Pick<
    Row,
    | 'abs_pred_error'
    | 'abs_pred_error_first_round'
    | 'abs_scaled_step_error'
    | 'abs_step_error_vs_pass_baseline'
    | 'baseline_drift'
    | 'abs_repredicted_error'
    | 'repredicted_speedup'
    | 'repredicted_speedups'
    | 'predicted_speedup'
    | 'measured_speedup'
    | 'measured_speedup_vs_pass_baseline'
    | 'speedup_right'
    | 'every_baseline_speedups'
    | 'abs_error_of_median_prediction'
  >[],
): {
  median_abs_pred_error: number;
  max_abs_pred_error: number;
  median_abs_pred_error_first_round: number;
  max_abs_pred_error_first_round: number;
  /** |baseline_drift| over the rows: how far the baselines beside the changes ran from the pass baseline. */
  median_abs_baseline_drift: number;
  max_abs_baseline_drift: number;
  /**
   * The predictions re-made from the baselines beside the changes (abs_repredicted_error), over
   * the rows that have one: the replay's error had each prediction started from a baseline run
   * at the time of its change (without the pass's drift, with those runs' own noise).
   */
  median_abs_repredicted_error: number;
  max_abs_repredicted_error: number;
  worst_slowdown_of_repredicted_win: number;
  /**
   * How far one baseline run moves a prediction: per row with two or more baselines beside whose
   * analyses made the suggestion, (largest − smallest of their predicted speed-ups) / their median;
   * the median over those rows (NaN when none): about how much a prediction made from a single
   * baseline run moves with which run that was (three baselines a row at most: a rough figure).
   */
  median_repredicted_spread: number;
  /**
   * Every row's prediction made from every baseline run of its preset in the pass (the pass baseline
   * and all the baselines beside every change: ~30 runs a preset at 3 rounds), each judged against
   * the row's measured speed-up: the median |error| over all those (row, baseline) pairs, and the
   * share of pairs more than 15 % off. The headline's median_abs_pred_error judges one baseline run
   * a preset, so it moves with that run's luck; this is the error a user starting from any one run
   * of the job can expect, measured on many. NaN when no row has them.
   */
  median_abs_error_every_baseline: number;
  share_over_15pct_every_baseline: number;
  /** How many (row, baseline) pairs those two figures are over. */
  pairs_every_baseline: number;
  /** Per row, the error of the median of those predictions (abs_error_of_median_prediction): its median and worst over rows. */
  median_abs_error_of_median_prediction: number;
  max_abs_error_of_median_prediction: number;
  worst_slowdown_of_predicted_win: number;
  median_abs_scaled_step_error: number;
  max_abs_scaled_step_error: number;
  median_abs_step_error_vs_pass_baseline: number;
  max_abs_step_error_vs_pass_baseline: number;
  worst_slowdown_of_predicted_win_vs_pass_baseline: number;
  right_within_interval: number;
} {
  // No re-run, no error: NaN (written as null), never the 0 that median() gives for none.
  const med = (xs: number[]) => (xs.length ? median(xs) : NaN);
  const max = (xs: number[]) => (xs.length ? Math.max(...xs) : NaN);
  const wins = rows.filter((r) => r.predicted_speedup > 1);
  // How much slower than its baseline a suggestion predicted to help measured (0 when none was slower).
  const slowdown = (speedups: number[]) => Math.max(0, ...speedups.map((x) => 1 / x - 1));
  const judged = rows.filter((r) => r.speedup_right !== undefined);
  // Over the rows of more than one round only (NaN when none had more).
  const firstRounds = rows.flatMap((r) =>
    r.abs_pred_error_first_round !== undefined ? [r.abs_pred_error_first_round] : [],
  );
  const drifts = rows.flatMap((r) => (Number.isFinite(r.baseline_drift) ? [Math.abs(r.baseline_drift)] : []));
  const remade = rows.filter((r) => r.abs_repredicted_error !== undefined && r.repredicted_speedup !== undefined);
  const pairs = rows.flatMap((r) =>
    (r.every_baseline_speedups ?? []).map((p) => Math.abs(p - r.measured_speedup) / r.measured_speedup),
  );
  const ofMedian = rows.flatMap((r) =>
    r.abs_error_of_median_prediction !== undefined ? [r.abs_error_of_median_prediction] : [],
  );
  return {
    median_abs_pred_error: med(rows.map((r) => r.abs_pred_error)),
    max_abs_pred_error: max(rows.map((r) => r.abs_pred_error)),
    median_abs_pred_error_first_round: med(firstRounds),
    max_abs_pred_error_first_round: max(firstRounds),
    median_abs_baseline_drift: med(drifts),
    max_abs_baseline_drift: max(drifts),
    median_abs_repredicted_error: med(remade.map((r) => r.abs_repredicted_error!)),
    max_abs_repredicted_error: max(remade.map((r) => r.abs_repredicted_error!)),
    worst_slowdown_of_repredicted_win: slowdown(
      remade.filter((r) => r.repredicted_speedup! > 1).map((r) => r.measured_speedup),
    ),
    median_repredicted_spread: med(
      rows.flatMap((r) =>
        r.repredicted_speedups && r.repredicted_speedups.length >= 2
          ? [
              (Math.max(...r.repredicted_speedups) - Math.min(...r.repredicted_speedups)) /
                median(r.repredicted_speedups),
            ]
          : [],
      ),
    ),
    median_abs_error_every_baseline: med(pairs),
    share_over_15pct_every_baseline: pairs.length ? pairs.filter((e) => e > 0.15).length / pairs.length : NaN,
    pairs_every_baseline: pairs.length,
    median_abs_error_of_median_prediction: med(ofMedian),
    max_abs_error_of_median_prediction: max(ofMedian),
    worst_slowdown_of_predicted_win: slowdown(wins.map((r) => r.measured_speedup)),
    median_abs_scaled_step_error: med(rows.map((r) => r.abs_scaled_step_error)),
    max_abs_scaled_step_error: max(rows.map((r) => r.abs_scaled_step_error)),
    median_abs_step_error_vs_pass_baseline: med(rows.map((r) => r.abs_step_error_vs_pass_baseline)),
    max_abs_step_error_vs_pass_baseline: max(rows.map((r) => r.abs_step_error_vs_pass_baseline)),
    worst_slowdown_of_predicted_win_vs_pass_baseline: slowdown(wins.map((r) => r.measured_speedup_vs_pass_baseline)),
    // Rows whose predicted speed-up lies within the measured 95 % interval widened by 5 % (verify's "right").
    right_within_interval: judged.length ? judged.filter((r) => r.speedup_right).length / judged.length : NaN,
  };
}

/**
 * The figures of one row from every baseline run of its preset in the pass: the suggestion's
 * predicted speed-up in each run's own analysis (verify's re-made prediction, repredictedSpeedupsOf,
 * over all of them rather than the row's own), the median of their errors against the row's measured
 * speed-up, and the error of their median. Empty when none of the runs made the suggestion.
 */
export function everyBaselineFigures(
  baselineRuns: readonly RunSummary[],
  suggestionId: string,
  measuredSpeedup: number,
): Pick<Row, 'every_baseline_speedups' | 'median_abs_error_every_baseline' | 'abs_error_of_median_prediction'> {
  const each = repredictedSpeedupsOf(baselineRuns, suggestionId);
  if (each.length === 0 || !(measuredSpeedup > 0)) return {};
  const error = (p: number) => Math.abs(p - measuredSpeedup) / measuredSpeedup;
  return {
    every_baseline_speedups: [...each],
    median_abs_error_every_baseline: median(each.map(error)),
    abs_error_of_median_prediction: error(median(each)),
  };
}

const bytesText = (b: number | undefined): string => (b === undefined ? '–' : formatBytes(b));

/** Makes the folder of `--keep-runs` (new or existing), or says why it cannot be one. */
export function makeKeepRunsDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    // EEXIST on a file, ENOTDIR below one, EACCES: the path and what it must be, not Node's code alone.
    throw new BenchArgError(
      `--keep-runs ${dir}: cannot make a folder there (${(e as Error).message}); expected a folder, new or existing, to keep the runs in`,
    );
  }
}

/** A preset's config for `steps` steps; `NAME@N` on N ranks (e.g. gpt-mini@4 for the layouts of 4 ranks). */
export function presetConfig(spec: string, steps: number): RunConfig {
  const [name, ranks] = spec.split('@');
  const base = Object.hasOwn(PRESETS, name) ? PRESETS[name] : undefined;
  const n = ranks === undefined ? undefined : Number(ranks);
  if (!base || (n !== undefined && !(Number.isInteger(n) && n >= 1 && n <= 16)))
    throw new BenchArgError(
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

/** The median over `runs` of the cores other programs used while each was measured, under `key`; nothing when no run has it. */
function otherProgramsOf<K extends string>(
  key: K,
  runs: readonly { summary: RunSummary }[],
): Partial<Record<K, number>> {
  const xs = runs
    .map((r) => (r.summary.analysis as { source?: { otherProgramsCores?: number } }).source?.otherProgramsCores)
    .filter((x): x is number => typeof x === 'number');
  return xs.length > 0 ? ({ [key]: median(xs) } as Partial<Record<K, number>>) : {};
}

/** This process's threads (from /proc, where there is one) and resident memory now. */
function processGrowth(): { process_threads?: number; process_rss_bytes: number } {
  let threads: number | undefined;
  try {
    const m = /^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) threads = Number(m[1]);
  } catch {
    // No /proc (not Linux): the memory alone.
  }
  return {
    ...(threads !== undefined ? { process_threads: threads } : {}),
    process_rss_bytes: process.memoryUsage().rss,
  };
}

/** The changed runs' replayed split (measured_split), when their analyses have one. */
function splitOf(runs: readonly { summary: RunSummary }[]): { measured_split?: StepComponents } {
  const split = pooledComponents(runs.map((r) => measuredOf(r.summary).components));
  return split ? { measured_split: split } : {};
}

/**
 * N threads that spin until stopped: background load on the machine's cores, in a process of
 * its own as other programs on a user's machine are (until 2026-12-06 they were threads of this
 * process, where the runs' "process CPU busy" counter counted them as the run's own work).
 */
function startLoad(n: number): { stop(): Promise<void> } {
  if (n <= 0) return { stop: async () => undefined };
  // The spinning threads are workers; the child's main thread only watches that this process
  // is alive, and ends the child when it is not (a bench killed before it could stop the load).
  const code = `const { Worker } = require('node:worker_threads');
for (let i = 0; i < ${n}; i++) new Worker('let x = 0; for (;;) x = (x + 1) | 0;', { eval: true });
setInterval(() => { if (process.ppid !== ${process.pid}) process.exit(0); }, 500);`;
  const child = spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
  // 'error' without 'exit' when the child could not start: stop() must not wait for it.
  const exited = new Promise<void>((done) => {
    child.once('exit', () => done());
    child.once('error', () => done());
  });
  const kill = (): void => void child.kill('SIGKILL');
  process.once('exit', kill);
  return {
    stop: async () => {
      process.off('exit', kill);
      kill();
      await exited;
    },
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const presets = (process.env.BENCH_ADVISOR_PRESETS ?? 'mlp-small,gpt-mini').split(',');
  const steps = Number(process.env.BENCH_ADVISOR_STEPS ?? 12);
  const only = process.env.BENCH_ADVISOR_SUGGESTIONS?.split(',').filter((x) => x.length > 0);
  const dir = args.keepRuns ?? mkdtempSync(join(tmpdir(), 'commlens-advisor-'));
  if (args.keepRuns) makeKeepRunsDir(args.keepRuns);
  const out = new Output('bench:advisor', { quiet: true });
  const rows: Row[] = [];
  const skipped: string[] = [];
  const conditions: { name: string; threads: number; loadBefore: number; loadAfter: number; seconds: number }[] = [];
  const ran = async (c: RunConfig): Promise<{ summary: RunSummary } | undefined> => {
    const r = await executeRun(c, dir, out);
    return r.summary && r.exitCode === 0 ? { summary: r.summary } : undefined;
  };
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
      // The baseline runs again as verify runs it: its recorded config, validated.
      const baseConfig = validateConfig(
        b.summary.config,
        Object.keys(LINK_PROFILES),
        STRATEGY_IDS,
        validateStrategyConfig,
      );
      const baselineComponents = measuredComponentsOf(b.summary.analysis);
      // Every baseline run of this preset in the pass, and its rows: each row is judged afterwards
      // from all of them too (everyBaselineFigures).
      const presetBaselines: RunSummary[] = [b.summary];
      const presetRows: Row[] = [];
      for (const s of suggestions) {
        const config = rerunConfig(b.summary.config, s.configChange);
        if (typeof config === 'string') {
          skipped.push(`${preset}/${s.id}: ${config}`);
          continue;
        }
        const m = await measureInRounds<{ summary: RunSummary }>({
          maxRounds: args.maxRounds,
          intervalTarget: VERIFY_DEFAULTS.intervalTarget,
          baselineRuns: args.reuseBaseline ? [{ summary: b.summary }] : [],
          runBaseline: args.reuseBaseline ? undefined : () => ran(baseConfig),
          runChanged: () => ran(config),
        });
        if ('failed' in m) {
          skipped.push(
            `${preset}/${s.id}: ${m.failed === 'change' ? 're-run' : 'baseline re-run'} failed in round ${m.round}`,
          );
          continue;
        }
        const measured = measuredOf(m.changedRuns[m.changedRuns.length - 1].summary);
        for (const r of m.baselineRuns) if (!presetBaselines.includes(r.summary)) presetBaselines.push(r.summary);
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
          baseline_source: args.reuseBaseline ? 'pass baseline' : 're-measured',
          rounds: m.rounds,
          ...rowFigures(s.predicted, b.summary, m, s.id),
          condition,
          pass: passIndex,
          predicted_components: (s.predicted as { components?: ComponentPredictions }).components,
          baseline_measured_components: baselineComponents,
          measured_components: measuredComponentsOf(m.changedRuns[m.changedRuns.length - 1].summary.analysis),
          ...splitOf(m.changedRuns),
          ...otherProgramsOf('baseline_other_programs_cores', m.baselineRuns),
          ...otherProgramsOf('measured_other_programs_cores', m.changedRuns),
          ...processGrowth(),
        });
        const x = rows[rows.length - 1];
        presetRows.push(x);
        const pct = (v: number) => `${(v * 100).toFixed(1).padStart(5)} %`;
        process.stdout.write(
          `  ${s.id.padEnd(28)} speed-up predicted ${x.predicted_speedup.toFixed(3)}×, measured ${x.measured_speedup.toFixed(3)}× (${x.interleaved_baseline_step_ms.toFixed(1)} → ${x.measured_step_ms.toFixed(1)} ms, ${x.rounds} round(s), baseline ${x.baseline_drift >= 0 ? '+' : '−'}${pct(Math.abs(x.baseline_drift)).trim()} on the pass's${m.interval ? `; ${measuredSpeedupText(m.interval)}` : ''})  error ${pct(x.abs_pred_error)}${x.abs_pred_error_first_round !== undefined ? ` (first round alone ${pct(x.abs_pred_error_first_round).trim()})` : ''}  scaled step error ${pct(x.abs_scaled_step_error)}  ${x.verdict}\n` +
            `      against the pass baseline ${x.baseline_step_ms.toFixed(1)} ms: predicted ${x.predicted_step_ms.toFixed(1)} ms, measured ${x.measured_step_ms.toFixed(1)} ms, step error ${pct(x.abs_step_error_vs_pass_baseline)}\n` +
            (x.repredicted_speedup !== undefined && x.abs_repredicted_error !== undefined
              ? `      re-made from the baselines beside (the median of their own analyses): predicted ${x.repredicted_speedup.toFixed(3)}×${x.repredicted_speedups && x.repredicted_speedups.length > 1 ? ` (each: ${x.repredicted_speedups.map((v) => v.toFixed(3)).join(', ')})` : ''}, error ${pct(x.abs_repredicted_error).trim()}\n`
              : ''),
        );
        if (x.strategy_change)
          process.stdout.write(
            `      strategy ${x.strategy_change}; peak memory per rank ${bytesText(x.baseline_peak_mem_bytes)} → predicted ${bytesText(x.predicted_peak_mem_bytes)}, measured ${bytesText(x.measured_peak_mem_bytes)}\n`,
          );
        if (x.predicted_components)
          process.stdout.write(
            `      ${componentsLine(x.predicted_components, x.measured_components, x.baseline_measured_components, x.measured_split)}\n`,
          );
        if (x.baseline_other_programs_cores !== undefined || x.measured_other_programs_cores !== undefined) {
          const cores = (v: number | undefined) => (v === undefined ? 'not recorded' : `${v.toFixed(2)} cores`);
          process.stdout.write(
            `      other programs beside the runs: baseline ${cores(x.baseline_other_programs_cores)}, change ${cores(x.measured_other_programs_cores)}` +
              `; this process after them: ${x.process_threads ?? '?'} threads, ${bytesText(x.process_rss_bytes)} resident\n`,
          );
        }
      }
      for (const x of presetRows)
        Object.assign(x, everyBaselineFigures(presetBaselines, x.suggestion, x.measured_speedup));
      const f = headlineOf(presetRows);
      if (f.pairs_every_baseline > 0) {
        const pct = (v: number) => `${(v * 100).toFixed(1)} %`;
        const worst = presetRows.reduce<Row | undefined>(
          (w, r) =>
            r.abs_error_of_median_prediction !== undefined &&
            (w === undefined || r.abs_error_of_median_prediction > w.abs_error_of_median_prediction!)
              ? r
              : w,
          undefined,
        );
        process.stdout.write(
          `  ${preset}, every one of its ${presetBaselines.length} baseline runs in this pass as the prediction's start: median error ${pct(f.median_abs_error_every_baseline)} over ${f.pairs_every_baseline} (suggestion, baseline) pairs, ${pct(f.share_over_15pct_every_baseline)} of them more than 15 % off; ` +
            `the median prediction of each suggestion: median error ${pct(f.median_abs_error_of_median_prediction)}, worst ${pct(f.max_abs_error_of_median_prediction)}${worst ? ` (${worst.suggestion}: ${median(worst.every_baseline_speedups!).toFixed(3)}× against ${worst.measured_speedup.toFixed(3)}× measured)` : ''}\n`,
        );
      }
    }
  };
  const runCondition = async (name: string, threads: number): Promise<void> => {
    const load = startLoad(threads);
    const loadBefore = loadavg()[0];
    const started = Date.now();
    try {
      for (let i = 0; i < args.repeats; i++) {
        process.stdout.write(`— ${name}, pass ${i + 1}/${args.repeats} (load average ${loadavg()[0].toFixed(2)})\n`);
        await pass(name, i);
      }
    } finally {
      conditions.push({ name, threads, loadBefore, loadAfter: loadavg()[0], seconds: (Date.now() - started) / 1000 });
      await load.stop();
    }
  };
  try {
    if (!args.loadOnly) await runCondition('quiet', 0);
    if (args.load > 0) await runCondition(`load ${args.load}`, args.load);
  } finally {
    if (args.keepRuns) console.log(`runs kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
  const spreads = conditions.map((c) => {
    const mine = rows.filter((r) => r.condition === c.name);
    const byPass = (pick: (r: Row) => number) =>
      errorSpread(Array.from({ length: args.repeats }, (_, i) => mine.filter((r) => r.pass === i).map(pick)));
    return {
      ...c,
      ...byPass((r) => r.abs_pred_error),
      vs_pass_baseline: byPass((r) => r.abs_step_error_vs_pass_baseline),
      figures: headlineOf(mine),
    };
  });
  const quiet = rows.filter((r) => r.condition === 'quiet');
  const result = {
    // Quiet rows; the header says what each figure means (speed-up error against the interleaved baseline).
    ...headlineOf(quiet),
    settings: {
      max_rounds: args.maxRounds,
      interval_target: VERIFY_DEFAULTS.intervalTarget,
      baseline: args.reuseBaseline
        ? 'pass baseline (--reuse-baseline)'
        : 're-measured in each round, before the change',
    },
    // Per condition (quiet, and with --load N busy threads): the median |error| of each pass, their median and
    // spread (on both definitions), its headline figures, and how long its passes took.
    conditions: spreads,
    rows,
    skipped,
    measuredAt: new Date().toISOString(),
  };
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  const line = (f: ReturnType<typeof headlineOf>, of: readonly Row[]) =>
    `speed-up error (against the baseline run beside each change): median ${pct(f.median_abs_pred_error)}, worst ${pct(f.max_abs_pred_error)}, worst slowdown of a predicted win ${pct(f.worst_slowdown_of_predicted_win)}` +
    (Number.isNaN(f.median_abs_pred_error_first_round)
      ? '; '
      : ` (the first round alone, ${of.filter((r) => r.abs_pred_error_first_round !== undefined).length} rows: median ${pct(f.median_abs_pred_error_first_round)}, worst ${pct(f.max_abs_pred_error_first_round)}); `) +
    `step error against the pass's first baseline: median ${pct(f.median_abs_step_error_vs_pass_baseline)}, worst ${pct(f.max_abs_step_error_vs_pass_baseline)}, worst slowdown of a predicted win ${pct(f.worst_slowdown_of_predicted_win_vs_pass_baseline)}; ` +
    `step error scaled to the baseline beside: median ${pct(f.median_abs_scaled_step_error)}, worst ${pct(f.max_abs_scaled_step_error)}; ` +
    `the baselines beside the changes against the pass baseline: median ${pct(f.median_abs_baseline_drift)}, worst ${pct(f.max_abs_baseline_drift)} apart; ` +
    (Number.isNaN(f.median_abs_repredicted_error)
      ? ''
      : `predictions re-made from those baselines (${of.filter((r) => r.abs_repredicted_error !== undefined).length} rows): median ${pct(f.median_abs_repredicted_error)}, worst ${pct(f.max_abs_repredicted_error)}, worst slowdown of a predicted win ${pct(f.worst_slowdown_of_repredicted_win)}${Number.isNaN(f.median_repredicted_spread) ? '' : `, one baseline run to the next moving a prediction by ${pct(f.median_repredicted_spread)} (median range over its own)`}; `) +
    (f.pairs_every_baseline > 0
      ? `every baseline run of the pass as the prediction's start (${f.pairs_every_baseline} pairs): median ${pct(f.median_abs_error_every_baseline)}, ${pct(f.share_over_15pct_every_baseline)} more than 15 % off; their median prediction per row: median ${pct(f.median_abs_error_of_median_prediction)}, worst ${pct(f.max_abs_error_of_median_prediction)}; `
      : '') +
    `within the measured 95 % interval widened by 5 %: ${Number.isNaN(f.right_within_interval) ? 'no row had an interval' : `${of.filter((r) => r.speedup_right).length} of ${of.filter((r) => r.speedup_right !== undefined).length} rows`}`;
  if (args.loadOnly)
    process.stdout.write(
      '\n--load-only: no quiet passes, so no headline figures (written to advisor-load-only.json, not advisor.json)\n',
    );
  else if (quiet.length === 0) process.stdout.write('\nno suggestion was re-run: no prediction error to report\n');
  else
    process.stdout.write(
      `\nquiet: ${line(result, quiet)} (targets: median <= 5 % quiet, <= 8 % under load; worst <= 15 %; slowdown <= 3 %)\n`,
    );
  for (const c of spreads) {
    const errors =
      c.passes > 0
        ? `median speed-up error ${pct(c.median)} over ${c.passes} pass(es) (min ${pct(c.min)}, quartiles ${pct(c.q1)}–${pct(c.q3)}, max ${pct(c.max)}); median step error against the pass baseline ${pct(c.vs_pass_baseline.median)} (min ${pct(c.vs_pass_baseline.min)}, max ${pct(c.vs_pass_baseline.max)})`
        : 'no suggestion was re-run';
    process.stdout.write(
      `${c.name.padEnd(8)} ${errors}; load average ${c.loadBefore.toFixed(2)} → ${c.loadAfter.toFixed(2)}; ${(c.seconds / 60).toFixed(1)} min\n` +
        (c.passes > 0
          ? `         ${line(
              c.figures,
              rows.filter((r) => r.condition === c.name),
            )}\n`
          : ''),
    );
  }
  for (const s of skipped) process.stdout.write(`skipped: ${s}\n`);
  // A --load-only run has no quiet rows, the headline's: it leaves advisor.json to the runs that do.
  const file = resolve(
    __dirname,
    '..',
    '..',
    'bench',
    'results',
    args.loadOnly ? 'advisor-load-only.json' : 'advisor.json',
  );
  mkdirSync(resolve(file, '..'), { recursive: true });
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(`wrote ${file}\n`);
}

if (require.main === module)
  void main().catch((e: unknown) => {
    // A bad option says what was wrong and what would be right; anything else keeps its stack.
    const text = e instanceof BenchArgError ? e.message : ((e as Error).stack ?? String(e));
    process.stderr.write(`bench:advisor: ${text}\n`);
    process.exit(1);
  });
