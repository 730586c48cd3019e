/**
 * Advisor benchmark: for each preset, profile a baseline, then re-run it with every
 * verifiable suggestion the advisor made (exactly what `commlens verify` does) and
 * compare the predicted step time with the measured one. Prints the table and writes
 * bench/results/advisor.json with `median_abs_pred_error`, `max_abs_pred_error`,
 * `worst_slowdown_of_predicted_win` and the rows behind them.
 *
 * Presets and steps can be narrowed: BENCH_ADVISOR_PRESETS=tiny,mlp-small BENCH_ADVISOR_STEPS=12
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PRESETS, validateConfig, type RunConfig } from '../runtime/config';
import { LINK_PROFILES } from '../runtime/comm';
import { STRATEGY_IDS, validateStrategyConfig } from '../runtime/strategies';
import { executeRun } from '../cli/commands/profile';
import { Output } from '../cli/output';
import { judge, measuredOf, verificationConfig, type VerifiableSuggestion } from '../analysis/verify';
import { median } from '../trace/stats';

interface Row {
  preset: string;
  link: string;
  suggestion: string;
  config_change: string;
  baseline_step_ms: number;
  predicted_step_ms: number;
  measured_step_ms: number;
  measured_basis: string;
  abs_pred_error: number;
  predicted_speedup: number;
  measured_speedup: number;
  verdict: string;
}


async function main(): Promise<void> {
  const presets = (process.env.BENCH_ADVISOR_PRESETS ?? 'mlp-small,gpt-mini').split(',');
  const steps = Number(process.env.BENCH_ADVISOR_STEPS ?? 12);
  const dir = mkdtempSync(join(tmpdir(), 'commlens-advisor-'));
  const out = new Output('bench:advisor', { quiet: true });
  const rows: Row[] = [];
  const skipped: string[] = [];
  try {
    for (const preset of presets) {
      const base: RunConfig = { ...PRESETS[preset], steps };
      const b = await executeRun(base, dir, out);
      if (!b.summary) throw new Error(`baseline of ${preset} failed (exit ${b.exitCode})`);
      const suggestions = ((b.summary.analysis as { suggestions?: (VerifiableSuggestion & { verifiable?: boolean })[] }).suggestions ?? []).filter((s) => s.verifiable !== false && Object.keys(s.configChange).length > 0);
      process.stdout.write(`${preset}: baseline ${(measuredOf(b.summary).stepTimeNs / 1e6).toFixed(1)} ms per step (steady state), ${suggestions.length} verifiable suggestion(s)\n`);
      const baseline = measuredOf(b.summary);
      for (const s of suggestions) {
        let config: RunConfig;
        try {
          config = validateConfig(verificationConfig(b.summary.config, s.configChange).config, Object.keys(LINK_PROFILES), STRATEGY_IDS, validateStrategyConfig);
        } catch (e) {
          skipped.push(`${preset}/${s.id}: ${(e as Error).message}`);
          continue;
        }
        const r = await executeRun(config, dir, out);
        if (!r.summary || r.exitCode !== 0) {
          skipped.push(`${preset}/${s.id}: re-run failed (exit ${r.exitCode})`);
          continue;
        }
        const measured = measuredOf(r.summary);
        const j = judge(s.predicted, baseline, measured);
        rows.push({
          preset,
          link: base.link,
          suggestion: s.id,
          config_change: JSON.stringify(s.configChange),
          baseline_step_ms: baseline.stepTimeNs / 1e6,
          predicted_step_ms: s.predicted.stepTimeNs / 1e6,
          measured_step_ms: measured.stepTimeNs / 1e6,
          measured_basis: measured.stepTimeBasis,
          abs_pred_error: Math.abs(j.stepTimeRelError),
          predicted_speedup: j.predictedSpeedup,
          measured_speedup: j.measuredSpeedup,
          verdict: j.verdict,
        });
        const x = rows[rows.length - 1];
        process.stdout.write(`  ${s.id.padEnd(28)} predicted ${x.predicted_step_ms.toFixed(1).padStart(8)} ms  measured ${x.measured_step_ms.toFixed(1).padStart(8)} ms  error ${(x.abs_pred_error * 100).toFixed(1).padStart(5)} %  ${x.verdict}\n`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const errors = rows.map((r) => r.abs_pred_error);
  const wins = rows.filter((r) => r.predicted_speedup > 1);
  const result = {
    median_abs_pred_error: median(errors),
    max_abs_pred_error: errors.length ? Math.max(...errors) : NaN,
    // How much slower than the baseline a suggestion predicted to help measured (0 when none was slower).
    worst_slowdown_of_predicted_win: wins.length ? Math.max(0, ...wins.map((r) => 1 / r.measured_speedup - 1)) : 0,
    rows,
    skipped,
    measuredAt: new Date().toISOString(),
  };
  process.stdout.write(`\nmedian |error| ${(result.median_abs_pred_error * 100).toFixed(1)} % (target <= 10 %), worst ${(result.max_abs_pred_error * 100).toFixed(1)} %, worst slowdown of a predicted win ${(result.worst_slowdown_of_predicted_win * 100).toFixed(1)} % (target <= 5 %)\n`);
  for (const s of skipped) process.stdout.write(`skipped: ${s}\n`);
  const file = resolve(__dirname, '..', '..', 'bench', 'results', 'advisor.json');
  mkdirSync(resolve(file, '..'), { recursive: true });
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(`wrote ${file}\n`);
}

void main().catch((e: unknown) => {
  process.stderr.write(`bench:advisor: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
