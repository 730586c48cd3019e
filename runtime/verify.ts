/**
 * `commlens verify <run dir> <suggestion id>`: re-runs a finished run with the change a
 * suggestion names, then writes what the advisor predicted beside what the re-run
 * measured (step time, exposed communication, memory, bytes on the wire, loss curves)
 * and a verdict. The comparison lands in the new run's folder as comparison.json.
 */
import { runLiveness, unfinishedRunMessage } from './lifeline';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { ConfigError, validateConfig, type RunConfig } from './config';
import { LINK_PROFILES } from './comm';
import { parseStrategyIds, STRATEGY_IDS, validateStrategyConfig } from './strategies';
import { LOCAL_IDS, resolveOptions } from './strategies/options';
import { executeRun } from './profile';
import { RunOutput } from './runOutput';
import type { RunSummary } from './summary';
import { EXIT } from './protocol';

export const COMPARISON_SCHEMA_VERSION = 1;

/** The parts of an advisor suggestion that verification reads. */
export interface VerifiableSuggestion {
  id: string;
  title: string;
  predicted: {
    stepTimeNs: number;
    baselineStepTimeNs: number;
    exposedCommNs?: number;
    peakMemoryBytes?: number;
    bytesPerStep?: number;
  };
  configChange: Record<string, unknown>;
}

export interface Measured {
  /**
   * The step time predictions are compared with: the median step (after the first), or for
   * a strategy that synchronises every H steps (DiLoCo family) the mean over the last whole
   * periods of H steps, since its prediction is the average over a period.
   */
  stepTimeNs: number;
  /** How stepTimeNs was taken, in words. */
  stepTimeBasis: string;
  medianStepTimeNs: number;
  exposedCommNsPerStep: number;
  peakMemoryBytesPerRank: number;
  wireBytesPerStepPerRank: number;
  loss: number[];
}

export type Verdict = 'as predicted' | 'better than predicted' | 'worse than predicted' | 'predicted a win, measured a slowdown';

export interface Comparison {
  schemaVersion: number;
  suggestion: { id: string; title: string; configChange: Record<string, unknown> };
  baselineRun: { runDir: string; runId: string };
  verifyRun: { runDir: string; runId: string };
  predicted: VerifiableSuggestion['predicted'];
  baseline: Measured;
  measured: Measured;
  /** (measured − predicted) / measured step time. */
  stepTimeRelError: number;
  /** measured step time / baseline step time. */
  measuredSpeedup: number;
  predictedSpeedup: number;
  verdict: Verdict;
}

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

interface AnalysisLike {
  ranks?: { steps?: { step: number; overlap: { exposedCommNs: number } }[] }[];
  suggestions?: VerifiableSuggestion[];
}

/** Measured figures of a run, from its summary (and the analysis stored in it). */
export function measuredOf(s: RunSummary): Measured {
  const a = s.analysis as AnalysisLike | undefined;
  // Exposed communication per step: mean over ranks, median over steps after the first
  // (the first step compiles pipelines and fills pools).
  const perStep = new Map<number, number[]>();
  for (const r of a?.ranks ?? []) for (const st of r.steps ?? []) {
    const l = perStep.get(st.step) ?? [];
    l.push(st.overlap.exposedCommNs);
    perStep.set(st.step, l);
  }
  const stepsSorted = [...perStep.keys()].sort((x, y) => x - y);
  const usable = stepsSorted.length > 1 ? stepsSorted.slice(1) : stepsSorted;
  const H = s.config ? syncPeriodOf(s.config) : undefined;
  const exposed = comparable(usable.map((k) => perStep.get(k)!.reduce((x, y) => x + y, 0) / perStep.get(k)!.length), H);
  const mem = s.memoryPerRank.map((m) => m.parameters + m.gradients + m.optimizerState + m.activations + m.communication);
  const step = comparable(s.stepTimeNs.length > 1 ? s.stepTimeNs.slice(1) : s.stepTimeNs, H);
  return {
    stepTimeNs: step.value,
    stepTimeBasis: step.basis,
    medianStepTimeNs: s.medianStepTimeNs,
    exposedCommNsPerStep: exposed.value,
    peakMemoryBytesPerRank: Math.max(0, ...mem),
    wireBytesPerStepPerRank: Math.max(0, ...s.wireBytesPerStepPerRank),
    loss: s.loss,
  };
}

/** Inner steps between synchronisations when the run's strategy averages only every H steps. */
export function syncPeriodOf(config: RunConfig): number | undefined {
  let ids: string[];
  try {
    ids = parseStrategyIds(config.strategy);
  } catch {
    return undefined;
  }
  if (!ids.some((id) => (LOCAL_IDS as readonly string[]).includes(id))) return undefined;
  const H = resolveOptions(config).localSteps;
  // A hand-edited summary may hold anything here; validation reports it, this only must not misread it.
  return Number.isInteger(H) && H > 1 ? H : undefined;
}

/**
 * A per-step figure (steps after the first, in order) as predictions are made: the median
 * step, or with a sync period H the mean over the last whole periods (each holds one sync).
 */
function comparable(perStep: number[], H: number | undefined): { value: number; basis: string } {
  const periods = H ? Math.floor(perStep.length / H) : 0;
  if (!H || periods < 1) return { value: median(perStep), basis: 'median step after the first' };
  const last = perStep.slice(perStep.length - periods * H);
  return { value: last.reduce((a, b) => a + b, 0) / last.length, basis: `mean of the last ${last.length} steps (${periods} period${periods > 1 ? 's' : ''} of ${H} steps, each with its synchronisation)` };
}

/** Compares a prediction with the measurement; a predicted win that measures >5% slower is called out. */
export function judge(predicted: VerifiableSuggestion['predicted'], baseline: Measured, measured: Measured): Pick<Comparison, 'stepTimeRelError' | 'measuredSpeedup' | 'predictedSpeedup' | 'verdict'> {
  const stepTimeRelError = (measured.stepTimeNs - predicted.stepTimeNs) / measured.stepTimeNs;
  const measuredSpeedup = baseline.stepTimeNs / measured.stepTimeNs;
  const predictedSpeedup = predicted.baselineStepTimeNs / predicted.stepTimeNs;
  let verdict: Verdict;
  if (predictedSpeedup > 1 && measured.stepTimeNs > baseline.stepTimeNs * 1.05) verdict = 'predicted a win, measured a slowdown';
  else if (Math.abs(stepTimeRelError) <= 0.1) verdict = 'as predicted';
  else verdict = stepTimeRelError < 0 ? 'better than predicted' : 'worse than predicted';
  return { stepTimeRelError, measuredSpeedup, predictedSpeedup, verdict };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Applies a suggestion's config change (objects merge, values replace). */
export function applyConfigChange(config: RunConfig, change: Record<string, unknown>): RunConfig {
  const merge = (base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> => {
    // Null-prototype objects and own keys: a "__proto__" key from summary.json stays a key (and is refused).
    const out: Record<string, unknown> = Object.assign(Object.create(null) as Record<string, unknown>, base);
    for (const [k, v] of Object.entries(over)) out[k] = isObject(v) && isObject(Object.hasOwn(out, k) ? out[k] : undefined) ? merge(out[k] as Record<string, unknown>, v) : v;
    return out;
  };
  const next = merge(config as unknown as Record<string, unknown>, change);
  // A new strategy starts from its own defaults unless the change names options.
  if (Object.hasOwn(change, 'strategy') && !Object.hasOwn(change, 'strategyOptions')) delete next.strategyOptions;
  return next as unknown as RunConfig;
}

/**
 * The run that verifies a change: the base config with the change applied, lengthened
 * when the change synchronises only every H steps so that the comparison covers a whole
 * period between the warm-up step and the last step, which the analysis leaves out (HTA's
 * default) — else a short run would never synchronise and measure only the cheap inner
 * steps. Returns a note when it lengthened the run.
 */
export function verificationConfig(base: RunConfig, change: Record<string, unknown>): { config: RunConfig; note?: string } {
  const config = applyConfigChange(base, change);
  const H = syncPeriodOf(config);
  if (H === undefined || config.steps >= H + 2) return { config };
  const steps = H + 2;
  const note = `running ${steps} steps instead of ${config.steps}: the change synchronises every ${H} steps, and the comparison needs one whole period between the first step and the last (which the analysis leaves out)`;
  return { config: { ...config, steps }, note };
}

const USAGE = `usage: commlens verify <run dir> <suggestion id> [--runs-dir DIR] [--events]
  Re-runs the run in <run dir> with the change the suggestion names and writes
  comparison.json (predicted vs measured) into the new run's folder.`;

export async function verifyCommand(args: string[]): Promise<number> {
  const out = new RunOutput(args.includes('--events'), 'verify');
  const pos: string[] = [];
  let runsDir: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--events') continue;
    if (args[i] === '--runs-dir') runsDir = args[++i];
    else if (args[i].startsWith('--')) return out.fail(`unknown option '${args[i]}'\n${USAGE}`, EXIT.badInput);
    else pos.push(args[i]);
  }
  if (pos.length !== 2) return out.fail(`expected a run folder and a suggestion id\n${USAGE}`, EXIT.badInput);
  const baseDir = resolve(pos[0]);
  const summaryPath = join(baseDir, 'summary.json');
  if (!existsSync(summaryPath)) return out.fail(`${summaryPath} not found: give the folder of a finished CommLens run (it holds summary.json)`, EXIT.badInput);
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
    return out.fail(`no suggestion '${pos[1]}' in ${summaryPath}; ${ids.length ? `available: ${ids.join(', ')}` : 'that run has no suggestions'}`, EXIT.badInput);
  }
  let config: RunConfig;
  const planned = verificationConfig(base.config, s.configChange);
  try {
    config = validateConfig(planned.config, Object.keys(LINK_PROFILES), STRATEGY_IDS, validateStrategyConfig);
  } catch (e) {
    if (e instanceof ConfigError) return out.fail(`suggestion '${s.id}' cannot run here:\n  ${e.problems.join('\n  ')}`, EXIT.badInput);
    throw e;
  }
  out.say(`verifying '${s.title}' (${s.id}) against ${base.runId}: ${JSON.stringify(s.configChange)}`);
  if (planned.note) out.say(planned.note);
  const run = await executeRun(config, runsDir ?? dirname(baseDir), out, { verifies: base.runId, suggestionId: s.id });
  if (run.exitCode !== EXIT.ok || !run.summary || !run.runDir) return run.exitCode;
  const baseline = measuredOf(base);
  const measured = measuredOf(run.summary);
  const comparison: Comparison = {
    schemaVersion: COMPARISON_SCHEMA_VERSION,
    suggestion: { id: s.id, title: s.title, configChange: s.configChange },
    baselineRun: { runDir: baseDir, runId: base.runId },
    verifyRun: { runDir: run.runDir, runId: run.summary.runId },
    predicted: s.predicted,
    baseline,
    measured,
    ...judge(s.predicted, baseline, measured),
  };
  const comparisonPath = join(run.runDir, 'comparison.json');
  writeFileSync(comparisonPath, JSON.stringify(comparison, null, 2) + '\n');
  out.emit({ kind: 'log', level: 'info', message: `verification: ${comparison.verdict}; comparison at ${comparisonPath}` });
  const ms = (ns: number | undefined): string => (ns === undefined ? '—' : `${(ns / 1e6).toFixed(1)} ms`);
  out.say('');
  out.say(`                      baseline   predicted   measured`);
  out.say(`step time          ${ms(baseline.stepTimeNs).padStart(10)}  ${ms(s.predicted.stepTimeNs).padStart(10)}  ${ms(measured.stepTimeNs).padStart(9)}`);
  out.say(`exposed comm/step  ${ms(baseline.exposedCommNsPerStep).padStart(10)}  ${ms(s.predicted.exposedCommNs).padStart(10)}  ${ms(measured.exposedCommNsPerStep).padStart(9)}`);
  out.say(`final loss         ${baseline.loss.at(-1)?.toFixed(4).padStart(10)}  ${'—'.padStart(10)}  ${measured.loss.at(-1)?.toFixed(4).padStart(9)}`);
  if (measured.stepTimeNs !== measured.medianStepTimeNs) out.say(`measured per step (step time, exposed comm): ${measured.stepTimeBasis}`);
  out.say(`verdict: ${comparison.verdict} (step-time error ${(comparison.stepTimeRelError * 100).toFixed(1)} %, measured speed-up ${comparison.measuredSpeedup.toFixed(2)}×, predicted ${comparison.predictedSpeedup.toFixed(2)}×)`);
  out.say(`comparison: ${comparisonPath}`);
  return EXIT.ok;
}
