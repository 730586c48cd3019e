/**
 * `commlens verify <run dir> <suggestion id>`: re-runs a finished run with the change a
 * suggestion names, then writes what the advisor predicted beside what the re-run
 * measured (step time, exposed communication, memory, bytes on the wire, loss curves)
 * and a verdict. The comparison lands in the new run's folder as comparison.json.
 */
import { otherProgramsVerifyLine } from '../../analysis/otherPrograms';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { ConfigError, validateConfig, type RunConfig } from '../../runtime/config';
import { LINK_PROFILES } from '../../runtime/comm';
import { STRATEGY_IDS, validateStrategyConfig } from '../../runtime/strategies';
import type { RunSummary } from '../../runtime/summary';
import {
  COMPARISON_SCHEMA_VERSION,
  comparisonText,
  baselineDriftOf,
  baselineDriftText,
  judgeRounds,
  measureInRounds,
  measuredSpeedupText,
  TARGET_ERROR,
  verificationConfig,
  VERIFY_DEFAULTS,
  type AnalysisLike,
  type Comparison,
} from '../../analysis/verify';
import { formatBytes, formatDurationNs } from '../../trace/format';
import { componentRows, componentTable } from '../../analysis/predictionReport';
import { runLiveness, unfinishedRunMessage } from '../../trace/runLiveness';
import { executeRun } from './profile';
import { externalRunOf, verifyExternal } from '../externalVerify';
import { Output, type Io } from '../output';
import { EXIT } from '../protocol';
import { flag, num, parseArgs, str, UsageError, type OptionSpecs } from '../args';
import type { Command } from '../command';

const USAGE = `usage: commlens verify <run dir> <suggestion id> [--runs-dir DIR] [--max-rounds N]
                      [--interval-target PCT] [--reuse-baseline] [--events]
       commlens verify <trace folder> <suggestion id> --command "CMD" [--cwd DIR] [--runs-dir DIR]
                      [--timeout MIN]
  Re-runs the run in <run dir> with the change the suggestion names, beside a fresh run of
  the baseline, and writes comparison.json (predicted vs measured, the measured speed-up
  with its 95 % interval) into the last changed run's folder. Each round runs the baseline,
  then the change; rounds repeat until the interval is tight enough (after at least
  ${VERIFY_DEFAULTS.minRounds} rounds: one pair of runs cannot show how much runs differ) or
  --max-rounds.
  A PyTorch job (an external run's folder, or its traces with --command) is re-run with
  its own command and COMMLENS_APPLY naming the change, which the commlens_torch helper
  applies in the script (DDP bucket_cap_mb, the fp16, bf16 and PowerSGD comm hooks).
  --runs-dir DIR         where the runs are written (default: beside the run it verifies)
  --max-rounds N         at most N rounds (default ${VERIFY_DEFAULTS.maxRounds})
  --interval-target PCT  stop once the interval's half-width is at most PCT % of the
                         measured speed-up (default ${VERIFY_DEFAULTS.intervalTarget * 100})
  --reuse-baseline       take the verified run itself as the baseline instead of running it
                         again (quicker; but it ran at another time, under another load)
  --command CMD           the PyTorch job's command (default: the one its run record names)
  --cwd DIR              where the command runs (default: the recorded folder, else here)
  --timeout MIN          stop the PyTorch job's re-run after MIN minutes (default: 3 × as long
                         as the job took, at least 5 min more; 60 without a record of it)
  --events               print line-delimited JSON events (for the VS Code extension)`;

const OPTIONS: OptionSpecs = {
  'runs-dir': { kind: 'string' },
  'max-rounds': { kind: 'int', min: 1, max: 20 },
  'interval-target': { kind: 'number', min: 0.1, max: 100 },
  'reuse-baseline': { kind: 'flag' },
  events: { kind: 'flag' },
  command: { kind: 'string' },
  cwd: { kind: 'string' },
  timeout: { kind: 'number', min: 0.05, max: 10080 },
};

export async function verifyCommand(args: string[], io?: Io): Promise<number> {
  const out = new Output('verify', { events: args.includes('--events'), io });
  let pos: string[];
  let runsDir: string | undefined;
  let maxRounds: number, intervalTarget: number, reuseBaseline: boolean;
  let command: string | undefined;
  let cwd: string | undefined;
  let timeoutMin: number | undefined;
  try {
    const p = parseArgs(args, OPTIONS);
    pos = p.positional;
    runsDir = str(p, 'runs-dir');
    maxRounds = num(p, 'max-rounds') ?? VERIFY_DEFAULTS.maxRounds;
    intervalTarget = (num(p, 'interval-target') ?? VERIFY_DEFAULTS.intervalTarget * 100) / 100;
    reuseBaseline = flag(p, 'reuse-baseline');
    command = str(p, 'command');
    cwd = str(p, 'cwd');
    timeoutMin = num(p, 'timeout');
  } catch (e) {
    if (e instanceof UsageError) return out.fail(e.showUsage ? `${e.message}\n${USAGE}` : e.message, EXIT.badInput);
    throw e;
  }
  if (pos.length !== 2) return out.fail(`expected a run folder and a suggestion id\n${USAGE}`, EXIT.badInput);
  const baseDir = resolve(pos[0]);
  // A PyTorch job: re-run its own command with the change applied by commlens_torch (cli/externalVerify.ts).
  if (command !== undefined || externalRunOf(baseDir))
    return verifyExternal(out, { base: baseDir, suggestionId: pos[1], command, cwd, runsDir, timeoutMin });
  if (timeoutMin !== undefined)
    return out.fail(
      `--timeout limits the re-run of a PyTorch job (an external run, or traces with --command); ${baseDir} is not one: a CommLens run's re-runs stop with their own steps`,
      EXIT.badInput,
    );
  const summaryPath = join(baseDir, 'summary.json');
  if (!existsSync(summaryPath))
    return out.fail(
      `${summaryPath} not found: give the folder of a finished CommLens run (it holds summary.json), or of a PyTorch job: an external run, or its traces with --command`,
      EXIT.badInput,
    );
  let base: RunSummary;
  try {
    base = JSON.parse(readFileSync(summaryPath, 'utf8')) as RunSummary;
  } catch (e) {
    return out.fail(`${summaryPath}: not valid JSON (${(e as Error).message})`, EXIT.badInput);
  }
  const state = runLiveness(base);
  if (state) return out.fail(unfinishedRunMessage(baseDir, state, base.stepsCompleted), EXIT.badInput);
  const suggestions = (base.analysis as AnalysisLike | undefined)?.suggestions ?? [];
  const s = suggestions.find((x) => x.id === pos[1]);
  if (!s) {
    const ids = suggestions.map((x) => x.id);
    return out.fail(
      `no suggestion '${pos[1]}' in ${summaryPath}; ${ids.length ? `available: ${ids.join(', ')}` : 'that run has no suggestions'}`,
      EXIT.badInput,
    );
  }
  let config: RunConfig;
  let baseConfig: RunConfig | undefined;
  const planned = verificationConfig(base.config, s.configChange);
  try {
    config = validateConfig(planned.config, Object.keys(LINK_PROFILES), STRATEGY_IDS, validateStrategyConfig);
  } catch (e) {
    if (e instanceof ConfigError)
      return out.fail(`suggestion '${s.id}' cannot run here:\n  ${e.problems.join('\n  ')}`, EXIT.badInput);
    throw e;
  }
  try {
    if (!reuseBaseline)
      baseConfig = validateConfig(base.config, Object.keys(LINK_PROFILES), STRATEGY_IDS, validateStrategyConfig);
  } catch (e) {
    if (e instanceof ConfigError)
      return out.fail(
        `the baseline config of ${base.runId} cannot run again here (or pass --reuse-baseline):\n  ${e.problems.join('\n  ')}`,
        EXIT.badInput,
      );
    throw e;
  }
  out.say(`verifying '${s.title}' (${s.id}) against ${base.runId}: ${JSON.stringify(s.configChange)}`);
  if (planned.note) out.say(planned.note);
  out.say(
    reuseBaseline
      ? `baseline: ${base.runId} itself (--reuse-baseline); the change runs up to ${maxRounds} time(s)`
      : `each round runs the baseline again, then the change (up to ${maxRounds} rounds, until the speed-up's 95 % interval is within ± ${(intervalTarget * 100).toFixed(1)} %${maxRounds >= VERIFY_DEFAULTS.minRounds ? `, at least ${VERIFY_DEFAULTS.minRounds}` : ''})`,
  );
  const dir = runsDir ?? dirname(baseDir);
  let failedExit: number = EXIT.failure;
  const rounds = await measureInRounds<{ summary: RunSummary }, { summary: RunSummary; runDir: string }>({
    maxRounds,
    intervalTarget,
    baselineRuns: reuseBaseline ? [{ summary: base }] : [],
    runBaseline: baseConfig
      ? async () => {
          const b = await executeRun(baseConfig, dir, out, { remeasures: base.runId, suggestionId: s.id });
          if (b.exitCode !== EXIT.ok || !b.summary) {
            failedExit = b.exitCode || EXIT.failure;
            return undefined;
          }
          return { summary: b.summary };
        }
      : undefined,
    runChanged: async () => {
      const run = await executeRun(config, dir, out, { verifies: base.runId, suggestionId: s.id });
      if (run.exitCode !== EXIT.ok || !run.summary || !run.runDir) {
        failedExit = run.exitCode || EXIT.failure;
        return undefined;
      }
      return { summary: run.summary, runDir: run.runDir };
    },
    onRound: (round, m) => out.say(`round ${round}: ${m.interval ? measuredSpeedupText(m.interval) : m.problem}`),
  });
  if ('failed' in rounds) return failedExit;
  const baselineRuns = rounds.baselineRuns.map((r) => r.summary);
  const changedRuns = rounds.changedRuns;
  const last = changedRuns[changedRuns.length - 1];
  const judged = judgeRounds(s.predicted, rounds);
  const { baseline, measured } = judged;
  const drift = reuseBaseline
    ? undefined
    : baselineDriftOf(s.predicted.baselineStepTimeNs, baselineRuns, baseline.stepTimeNs, s.id);
  const comparison: Comparison = {
    schemaVersion: COMPARISON_SCHEMA_VERSION,
    suggestion: { id: s.id, title: s.title, configChange: s.configChange },
    baselineRun: { runDir: baseDir, runId: base.runId },
    verifyRun: { runDir: last.runDir, runId: last.summary.runId },
    predicted: s.predicted,
    ...judged,
    rounds: {
      baselineSource: reuseBaseline ? 'original run' : 're-measured',
      baselineRunIds: baselineRuns.map((r) => r.runId),
      changedRunIds: changedRuns.map((r) => r.summary.runId),
    },
    ...(drift ? { baselineDrift: drift } : {}),
  };
  const comparisonPath = join(last.runDir, 'comparison.json');
  writeFileSync(comparisonPath, JSON.stringify(comparison, null, 2) + '\n');
  out.emit({
    kind: 'log',
    level: 'info',
    message: `verification: ${comparison.verdict}; comparison at ${comparisonPath}`,
  });
  const t = (ns: number | undefined): string => (ns === undefined ? '—' : formatDurationNs(ns));
  const b = (x: number | undefined): string => (x === undefined ? '—' : formatBytes(x));
  const p = s.predicted;
  out.say('');
  out.say(`                    baseline  →  predicted  →  measured     (steady-state steps; docs/figures.md)`);
  out.say(
    `step time          ${t(baseline.stepTimeNs).padStart(10)}  ${t(p.stepTimeNs).padStart(10)}  ${t(measured.stepTimeNs).padStart(10)}`,
  );
  out.say(
    `exposed comm/step  ${t(baseline.exposedCommNsPerStep).padStart(10)}  ${t(p.exposedCommNs).padStart(10)}  ${t(measured.exposedCommNsPerStep).padStart(10)}`,
  );
  out.say(
    `bytes/rank/step    ${b(baseline.bytesPerStepPerRank).padStart(10)}  ${b(p.bytesPerStep).padStart(10)}  ${b(measured.bytesPerStepPerRank).padStart(10)}`,
  );
  out.say(
    `peak memory        ${b(baseline.peakMemoryBytesPerRank).padStart(10)}  ${b(p.peakMemoryBytes).padStart(10)}  ${b(measured.peakMemoryBytesPerRank).padStart(10)}`,
  );
  out.say(
    `final loss         ${baseline.loss.at(-1)?.toFixed(4).padStart(10)}  ${'—'.padStart(10)}  ${measured.loss.at(-1)?.toFixed(4).padStart(10)}`,
  );
  out.say(
    `step time: baseline ${baseline.stepTimeBasis}; re-run ${measured.stepTimeBasis}; warm-up left out: baseline step(s) ${baseline.warmupSteps.join(', ') || 'none'}, re-run step(s) ${measured.warmupSteps.join(', ') || 'none'}`,
  );
  // Where the step went, component by component (analysis/predictionReport.ts).
  const split = componentTable(componentRows(p.components, measured.components));
  if (split.length > 0) out.say(['', ...split].join('\n'));
  const othersOf = (r: RunSummary) =>
    (r.analysis as { source?: { otherProgramsCores?: number } } | undefined)?.source?.otherProgramsCores;
  const load = otherProgramsVerifyLine(
    baselineRuns.map(othersOf),
    changedRuns.map((r) => othersOf(r.summary)),
  );
  if (load) out.say(load);
  const driftLine = drift ? baselineDriftText(drift, { fromRun: base.runId }) : undefined;
  if (driftLine) out.say(driftLine);
  // The same sentence the extension shows (analysis/verify.ts comparisonText).
  out.say(`verdict: ${comparisonText(comparison)}`);
  out.say(
    comparison.speedupInterval
      ? `the prediction is ${comparison.right ? 'right' : 'off'}: ${comparison.right ? 'within' : 'outside'} the measured interval widened by the ${TARGET_ERROR * 100} % target error (step-time error ${(comparison.stepTimeRelError * 100).toFixed(1)} %)`
      : `no interval: too few steady-state steps for one; judged on the step times (step-time error ${(comparison.stepTimeRelError * 100).toFixed(1)} %)`,
  );
  out.say(`comparison: ${comparisonPath}`);
  return EXIT.ok;
}

export const verify: Command = {
  name: 'verify',
  synopsis: 'verify <run dir> <suggestion id> [--max-rounds N] [--reuse-baseline] [--events]',
  summary: "re-run with a suggestion's change; predicted vs measured",
  usage: USAGE,
  run: verifyCommand,
};
