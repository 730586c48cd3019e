/**
 * `commlens verify` on a PyTorch job: re-launches the job's own command with the change
 * a suggestion names (COMMLENS_APPLY, applied by commlens_torch in the script; nothing in
 * the script changes), imports the re-run's traces and shows predicted against measured
 * (analysis/externalVerify.ts, the same arithmetic and figures as every verification).
 *
 * The job is an external run of the extension (a run folder whose commlens-run.json says
 * which command ran where, its traces in kineto/), or a folder of per-rank traces given
 * with --command (and --cwd).
 */
import { componentRows, componentTable } from '../analysis/predictionReport';
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { analyseJob, externalComparison } from '../analysis/externalVerify';
import type { Analysis } from '../analysis/types';
import type { Comparison } from '../analysis/verify';
import { formatBytes, formatDurationNs, formatSpeedup } from '../trace/format';
import { newRunId } from '../trace/runIds';
import { APPLY_ENV } from '../trace/torchJob';
import { pythonHelperDir, runExternalCommand } from '../runtime/externalCommand';
import { EXIT } from './protocol';
import type { Output } from './output';

/** The run record the extension keeps beside an external run (extension/runsStore.ts RUN_RECORD). */
const RUN_RECORD = 'commlens-run.json';

/** The command and folder of an external run, and how long it ran when its record says; undefined when `runDir` is not one. */
export function externalRunOf(runDir: string): { command: string; cwd: string; durationMs?: number } | undefined {
  try {
    const r = JSON.parse(readFileSync(join(runDir, RUN_RECORD), 'utf8')) as {
      source?: Record<string, unknown>;
      startedAt?: unknown;
      endedAt?: unknown;
    };
    const s = r.source;
    if (s?.kind !== 'external') return undefined;
    if (typeof s.command !== 'string' || !s.command.trim() || typeof s.cwd !== 'string' || !isAbsolute(s.cwd))
      return undefined;
    const ms =
      typeof r.startedAt === 'string' && typeof r.endedAt === 'string'
        ? Date.parse(r.endedAt) - Date.parse(r.startedAt)
        : NaN;
    return { command: s.command, cwd: s.cwd, ...(Number.isFinite(ms) && ms > 0 ? { durationMs: ms } : {}) };
  } catch {
    return undefined;
  }
}

/** Without a record of how long the job ran, its re-run is stopped after this long (ms) unless --timeout says otherwise. */
export const DEFAULT_RERUN_LIMIT_MS = 60 * 60_000;

/**
 * How long the re-run of a job may take: what --timeout gives, else three times as long as
 * the job took, and at least 5 minutes more than it (start-up varies), else one hour. A job
 * whose ranks wait on a collective that one of them never joins (a rank that refused the
 * change) would otherwise never end.
 */
export function rerunLimitMs(
  timeoutMin: number | undefined,
  baselineMs: number | undefined,
): { ms: number; why: string } {
  if (timeoutMin !== undefined) return { ms: timeoutMin * 60_000, why: '--timeout' };
  if (baselineMs !== undefined)
    return {
      ms: Math.max(3 * baselineMs, baselineMs + 5 * 60_000),
      why: `3 × the job's ${formatDurationNs(baselineMs * 1e6)}, at least 5 min more`,
    };
  return { ms: DEFAULT_RERUN_LIMIT_MS, why: 'its run record does not say how long the job took' };
}

function writeRecord(runDir: string, record: Record<string, unknown>): void {
  const tmp = join(runDir, `.${RUN_RECORD}.tmp`);
  writeFileSync(tmp, JSON.stringify(record, null, 2));
  renameSync(tmp, join(runDir, RUN_RECORD));
}

export interface ExternalVerifyOptions {
  /** An external run's folder, or (with `command`) a folder of per-rank traces. */
  base: string;
  suggestionId: string;
  command?: string;
  cwd?: string;
  runsDir?: string;
  /** Minutes the re-run may take (default: rerunLimitMs). */
  timeoutMin?: number;
}

export async function verifyExternal(out: Output, o: ExternalVerifyOptions): Promise<number> {
  const baseDir = resolve(o.base);
  const recorded = o.command === undefined ? externalRunOf(baseDir) : undefined;
  const command = o.command ?? recorded?.command;
  if (!command)
    return out.fail(
      `${baseDir} is not an external run (its ${RUN_RECORD} names no command): give the job's command with --command "torchrun ... train.py" (and --cwd)`,
      EXIT.badInput,
    );
  const cwd = resolve(o.cwd ?? recorded?.cwd ?? process.cwd());
  if (!existsSync(cwd)) return out.fail(`--cwd ${cwd}: no such folder`, EXIT.badInput);
  const traceInput = recorded && existsSync(join(baseDir, 'kineto')) ? join(baseDir, 'kineto') : baseDir;
  let base: { analysis: Analysis; files: string[] };
  try {
    base = await analyseJob([traceInput]);
  } catch (e) {
    return out.fail(`cannot analyse the job's traces in ${traceInput}: ${(e as Error).message}`, EXIT.badInput);
  }
  const suggestions = base.analysis.suggestions;
  const s = suggestions.find((x) => x.id === o.suggestionId);
  if (!s) {
    const ids = suggestions.map((x) => `${x.id}${x.torchApply ? '' : ' (not applicable by commlens_torch)'}`);
    return out.fail(
      `no suggestion '${o.suggestionId}' for the job in ${traceInput}; ${ids.length ? `its suggestions: ${ids.join(', ')}` : 'the analysis has no suggestions for it'}`,
      EXIT.badInput,
    );
  }
  if (!s.torchApply)
    return out.fail(
      `'${s.id}' is not a change commlens_torch can apply on a re-run (it applies DDP's bucket_cap_mb and the fp16, bf16 and PowerSGD comm hooks): make it in the script${s.pytorchHint ? ` (${s.pytorchHint})` : ''} and profile the job again`,
      EXIT.badInput,
    );
  const helperDir = pythonHelperDir();
  if (!helperDir) return out.fail('cannot find python/commlens_torch beside this CommLens', EXIT.failure);
  const torchApply = s.torchApply;
  const runsDir = resolve(o.runsDir ?? (recorded ? dirname(baseDir) : 'runs'));
  const runId = newRunId('pytorch');
  const runDir = join(runsDir, runId);
  const traceDir = join(runDir, 'kineto');
  mkdirSync(traceDir, { recursive: true });
  const record: Record<string, unknown> = {
    runId,
    status: 'running',
    source: { kind: 'external', command, cwd },
    startedAt: new Date().toISOString(),
  };
  writeRecord(runDir, record);
  const env = `${APPLY_ENV}='${JSON.stringify(torchApply)}'`;
  out.say(`verifying '${s.title}' (${s.id}) on ${basename(baseDir)}: re-running the job's command with ${env}`);
  out.say(`  command: ${command}`);
  out.say(`  in:      ${cwd}`);
  out.say(`  traces:  ${traceDir}`);
  const limit = rerunLimitMs(o.timeoutMin, recorded?.durationMs);
  out.say(`  limit:   ${formatDurationNs(limit.ms * 1e6)} (${limit.why}; --timeout MIN to change it)`);
  out.emit({ kind: 'progress', message: `re-running ${command} with ${env}` });
  const tail: string[] = [];
  // What commlens_torch refused (python/commlens_torch ApplyError), said once at the end rather than lost in the job's output.
  let refusal: string | undefined;
  const res = await runExternalCommand({
    command,
    cwd,
    traceDir,
    apply: torchApply,
    helperDir,
    timeoutMs: limit.ms,
    onLine: (line) => {
      tail.push(line);
      const m = /(?:^|\s|:)(?:commlens_torch\.)?ApplyError: (.*)$/.exec(line);
      if (m && !refusal) refusal = m[1];
      if (tail.length > 20) tail.shift();
      if (out.events) out.emit({ kind: 'log', level: 'info', message: line });
      else out.say(`  | ${line}`);
    },
  });
  record.endedAt = new Date().toISOString();
  let rerun: { analysis: Analysis; files: string[] } | undefined;
  let why: string | undefined;
  if (res.exitCode !== 0)
    why = res.timedOut
      ? `the re-run ran past its time limit of ${formatDurationNs(limit.ms * 1e6)} (${limit.why}) and was stopped${refusal ? `; commlens_torch could not apply the change: ${refusal}` : ': ranks waiting on a collective that another never joins look like this'}; --timeout MIN allows longer`
      : res.interrupted
        ? 'the re-run was interrupted'
        : `the command ${res.signal ? `was killed by ${res.signal}` : `exited with code ${res.exitCode ?? 'none'}`}${refusal ? `: commlens_torch could not apply the change: ${refusal}` : ''}`;
  else {
    try {
      rerun = await analyseJob([traceDir]);
    } catch (e) {
      why = `its traces cannot be analysed: ${(e as Error).message}`;
    }
  }
  if (!rerun) {
    record.status = res.interrupted && !res.timedOut ? 'cancelled' : 'failed';
    record.message = why;
    writeRecord(runDir, record);
    return out.fail(
      `${why}${tail.length && !refusal ? `; its last lines:\n  ${tail.slice(-8).join('\n  ')}` : ''}`,
      res.interrupted && !res.timedOut ? EXIT.cancelled : EXIT.failure,
    );
  }
  record.status = 'done';
  record.traceFiles = rerun.files;
  writeRecord(runDir, record);
  let comparison: Comparison;
  try {
    comparison = externalComparison(
      { ...s, torchApply },
      { runDir: baseDir, runId: basename(baseDir), analysis: base.analysis },
      { runDir, runId, analysis: rerun.analysis },
    );
  } catch (e) {
    return out.fail(`cannot compare the runs: ${(e as Error).message}`, EXIT.failure);
  }
  const comparisonPath = join(runDir, 'comparison.json');
  writeFileSync(comparisonPath, JSON.stringify(comparison, null, 2) + '\n');
  out.emit({
    kind: 'log',
    level: 'info',
    message: `verification: ${comparison.verdict}; comparison at ${comparisonPath}`,
  });
  sayComparison(out, comparison);
  out.say(`comparison: ${comparisonPath}`);
  if (!comparison.applied?.ok) {
    out.warn(`the re-run does not show the change it was asked for: ${comparison.applied?.message}`);
    return EXIT.failure;
  }
  return EXIT.ok;
}

/** The comparison as a table: baseline → predicted → measured, then what was applied and the verdict. */
function sayComparison(out: Output, c: Comparison): void {
  const t = (ns: number | undefined): string => (ns === undefined ? '—' : formatDurationNs(ns));
  const b = (x: number | undefined): string => (x === undefined ? '—' : formatBytes(x));
  const p = c.predicted;
  // A figure the traces do not hold at all (sizes and memory in pre-Kineto traces) is named once below, not shown as a row of dashes.
  const absent: string[] = [];
  const row = (name: string, a: string, pr: string, m: string) => {
    if (a === '—' && pr === '—' && m === '—') absent.push(name);
    else out.say(`${name.padEnd(19)}${a.padStart(10)}  ${pr.padStart(10)}  ${m.padStart(10)}`);
  };
  out.say('');
  out.say(`                     baseline   predicted    measured   (steady-state steps; docs/figures.md)`);
  row('step time', t(c.baseline.stepTimeNs), t(p.stepTimeNs), t(c.measured.stepTimeNs));
  row('exposed comm/step', t(c.baseline.exposedCommNsPerStep), t(p.exposedCommNs), t(c.measured.exposedCommNsPerStep));
  // Without sizes in the baseline's traces (pre-Kineto PyTorch) the replay has no bytes to predict from.
  row(
    'bytes/rank/step',
    b(c.baseline.bytesPerStepPerRank),
    c.baseline.bytesPerStepPerRank === undefined ? '—' : b(p.bytesPerStep),
    b(c.measured.bytesPerStepPerRank),
  );
  row('peak memory', b(c.baseline.peakMemoryBytesPerRank), b(p.peakMemoryBytes), b(c.measured.peakMemoryBytesPerRank));
  if (absent.length)
    out.say(
      `not in these traces: ${absent.join(', ')} (collective sizes come with Kineto's record_param_comms, memory with profile_memory=True)`,
    );
  out.say(
    `step time: ${c.measured.stepTimeBasis}; warm-up left out: baseline step(s) ${c.baseline.warmupSteps.join(', ') || 'none'}, re-run step(s) ${c.measured.warmupSteps.join(', ') || 'none'}`,
  );
  const split = componentTable(componentRows(p.components, c.measured.components));
  if (split.length > 0) out.say(split.join('\n'));
  if (c.applied) out.say(`applied: ${c.applied.ok ? '' : 'NOT AS ASKED: '}${c.applied.message}`);
  out.say(
    `verdict: ${c.verdict} (step-time error ${(c.stepTimeRelError * 100).toFixed(1)} %; measured ${formatSpeedup(c.measuredSpeedup)}, predicted ${formatSpeedup(c.predictedSpeedup)})`,
  );
}
