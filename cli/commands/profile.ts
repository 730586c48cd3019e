/**
 * `commlens profile`: validate the run config, train on N WebGPU ranks, write the
 * trace and summary, print progress (human lines, or JSON events with --events).
 */
import { OTHER_PROGRAMS_NOTE_CORES } from '../../analysis/otherPrograms';
import { availableParallelism } from 'node:os';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { SUPERVISED_ENV, tellSupervisor, writeFileAtomic } from '../supervisor';
import { currentRunProcesses, installRunGuards, onStopRequest } from '../../runtime/lifeline';
import { prepareRunsDir } from '../../runtime/runsDir';
import { join, resolve, relative } from 'node:path';
import {
  ConfigError,
  readConfigFile,
  resolveRawConfig,
  validateConfig,
  PRESETS,
  type RunConfig,
} from '../../runtime/config';
import { GPU_PEAK_FLOPS, LINK_PROFILES, slowedProfile } from '../../runtime/comm';
import { probeComputeFlops, targetFlopsOf, type ComputeProbe } from '../../runtime/computeProbe';
import { probeHost, type HostProbe } from '../../runtime/hostProbe';
import { STRATEGY_IDS, validateStrategyConfig } from '../../runtime/strategies';
import { validateModelConfig } from '../../runtime/engine';
import { requestAdapter, summarizeAdapter } from '../../runtime/gpu/dawn';
import { runTraining, RunHandle, type RunOutcome } from '../../runtime/coordinator';
import { buildSummary, type RunSummary } from '../../runtime/summary';
import { EXIT } from '../protocol';
import { checkRunConfig } from '../runConfigCheck';
import { Output, STDIO, type Io } from '../output';
import { parseArgs, parseFiniteNumber, flag, num, str, UsageError, type OptionSpecs } from '../args';
import type { Command } from '../command';
import { newRunId } from '../../trace/runIds';
import { NO_ADAPTER_HELP } from './doctor';
import { analyze, markdownReport } from '../../analysis/index';
import { formatBytes, formatDurationNs, groupDigits } from '../../trace/format';
import { etaFromSteadySteps, warmupStepCount } from '../../trace/warmup';
import { figuresOfSummary } from '../../analysis/verify';
import { finalizeModel } from '../../trace/model';

export interface ProfileArgs {
  preset?: string;
  configPath?: string;
  events: boolean;
  runsDir: string;
  overrides: Record<string, unknown>;
}

export const PROFILE_USAGE = `usage: commlens profile [--preset NAME | --config FILE] [options]
  --preset NAME        ${Object.keys(PRESETS).join(', ')} (default mlp-small)
  --config FILE        a commlens.json run config (may name a preset and override fields)
  --runs-dir DIR       where runs are written (default ./runs)
  --steps N  --world-size N  --link NAME  --strategy ID  --seed N   override the config
  --link-scale F       slow the link F times (keeps a faster GPU's compute-to-communication ratio)
  --scale-link-to GPU  measure local compute at start-up and slow the link by GPU's FLOP/s over it
                       (${Object.keys(GPU_PEAK_FLOPS).join(', ')}, or a FLOP/s figure)
  --no-gpu-timing      host timing only (no GPU timestamp queries)
  --events             print line-delimited JSON events (for the VS Code extension)`;

const OPTIONS: OptionSpecs = {
  preset: { kind: 'string' },
  config: { kind: 'string' },
  'runs-dir': { kind: 'string' },
  events: { kind: 'flag' },
  steps: { kind: 'int' },
  'world-size': { kind: 'int' },
  seed: { kind: 'int' },
  link: { kind: 'string' },
  strategy: { kind: 'string' },
  'link-scale': { kind: 'number', min: 1 },
  'scale-link-to': { kind: 'string' },
  'no-gpu-timing': { kind: 'flag' },
};

/** The command line of `profile` (and of runs the extension starts); throws ConfigError with the usage. */
export function parseProfileArgs(args: string[]): ProfileArgs {
  let p;
  try {
    p = parseArgs(args, OPTIONS);
  } catch (e) {
    if (e instanceof UsageError) throw new ConfigError([e.showUsage ? `${e.message}\n${PROFILE_USAGE}` : e.message]);
    throw e;
  }
  if (p.positional.length) throw new ConfigError([`unexpected argument '${p.positional[0]}'\n${PROFILE_USAGE}`]);
  const out: ProfileArgs = {
    events: flag(p, 'events'),
    runsDir: str(p, 'runs-dir') ?? 'runs',
    overrides: {},
    preset: str(p, 'preset'),
    configPath: str(p, 'config'),
  };
  const o = out.overrides;
  if (num(p, 'steps') !== undefined) o.steps = num(p, 'steps');
  if (num(p, 'world-size') !== undefined) o.worldSize = num(p, 'world-size');
  if (num(p, 'seed') !== undefined) o.seed = num(p, 'seed');
  if (str(p, 'link') !== undefined) o.link = str(p, 'link');
  if (str(p, 'strategy') !== undefined) o.strategy = str(p, 'strategy');
  if (num(p, 'link-scale') !== undefined) o.linkScale = num(p, 'link-scale');
  const target = str(p, 'scale-link-to');
  // A number (2e13, 2e+13, 20000000000000) is a FLOP/s figure; anything else a GPU name.
  if (target !== undefined) o.scaleLinkTo = parseFiniteNumber(target) ?? target;
  if (flag(p, 'no-gpu-timing')) o.gpuTiming = false;
  return out;
}

/** Loads, merges and validates the config (no GPU work, nothing written). */
export function loadRunConfig(p: ProfileArgs): RunConfig {
  const configText = p.configPath ? readConfigFile(p.configPath) : undefined;
  const raw = resolveRawConfig({ preset: p.preset, configText, configPath: p.configPath }) as Record<string, unknown>;
  Object.assign(raw, p.overrides);
  // A fixed factor and a measured one exclude each other: the command line's choice wins.
  if (p.overrides.scaleLinkTo !== undefined && p.overrides.linkScale === undefined) delete raw.linkScale;
  if (p.overrides.linkScale !== undefined && p.overrides.scaleLinkTo === undefined) delete raw.scaleLinkTo;
  return validateConfig(raw, Object.keys(LINK_PROFILES), STRATEGY_IDS, validateStrategyConfig);
}

/**
 * Test hook: COMMLENS_DEBUG_CRASH_AFTER_STEPS=N[:SIGNAL] makes the process kill itself with
 * SIGNAL (default SIGSEGV) once N steps have finished, as a driver crash would, so the
 * supervisor's handling of it can be tested for real; N:throw throws an uncaught error.
 */
function debugCrashAfter(): { steps: number; signal: NodeJS.Signals | 'throw' } | undefined {
  const v = process.env.COMMLENS_DEBUG_CRASH_AFTER_STEPS;
  const m = v ? /^(\d+)(?::(SIG[A-Z0-9]+|throw))?$/.exec(v) : null;
  return m ? { steps: Number(m[1]), signal: (m[2] ?? 'SIGSEGV') as NodeJS.Signals | 'throw' } : undefined;
}

export interface ExecutedRun {
  exitCode: number;
  runDir?: string;
  summary?: RunSummary;
}

/**
 * Runs a validated config: checks the model against the adapter, trains, writes
 * config.json, trace.pftrace, summary.json (with the analysis) and report.md under
 * `<runsDir>/<run id>/`. Nothing is written when the config is refused. The phases, in
 * order: adapter check, link-scale probe, run folder, train, report, print.
 */
export async function executeRun(
  config: RunConfig,
  runsDir: string,
  out: Output,
  extraInfo: Record<string, string> = {},
): Promise<ExecutedRun> {
  try {
    runsDir = prepareRunsDir(runsDir);
  } catch (e) {
    if (e instanceof ConfigError) return { exitCode: out.fail(e.problems.join('\n'), EXIT.badInput) };
    throw e;
  }
  installRunGuards();
  const adapter = await checkAdapter(config, out);
  if ('exitCode' in adapter) return adapter;
  const probed = await probeLinkScale(config, out);
  if ('exitCode' in probed) return probed;
  const hostProbe = await measureHost(probed.config);
  const folder = createRunFolder(config, probed.config, runsDir, out, adapter.info, probed.probe);
  const handle = new RunHandle();
  // A signal during training cancels it; later ones (a second Ctrl-C, or the supervisor
  // passing on a signal the whole process group got) are absorbed so that the summary and
  // report of the cancelled run still get written.
  let training = true;
  const progress = { stepsDone: 0 };
  const stopAt = (reason: string): string => `${reason} after step ${progress.stepsDone} of ${probed.config.steps}`;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (training) handle.cancel(stopAt(`cancelled by ${sig}`));
  };
  // The supervisor going away, stdout closing, an uncaught error (runtime/lifeline.ts).
  const offStop = onStopRequest((reason, failed) => {
    if (!training) return;
    if (failed) handle.fail(stopAt(reason));
    else handle.cancel(stopAt(`cancelled: ${reason}`));
  });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const info = { ...runInfo(probed.config, folder, adapter.info, probed.probe, extraInfo), hostProbe };
    const outcome = await train(probed.config, folder, out, handle, info, progress, stopAt);
    training = false;
    const summary = writeReport(probed.config, folder, outcome, out);
    if ('exitCode' in summary) return summary;
    return printResult(probed.config, folder, outcome, summary, out);
  } finally {
    offStop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Codec and staging-copy speeds of this machine, for the replay's predictions (runtime/hostProbe.ts); a failed probe is recorded, not fatal. */
async function measureHost(config: RunConfig): Promise<HostProbe | { error: string }> {
  try {
    return await probeHost(config);
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/** Says the run folder went away while the run was going on. */
function folderGone(folder: RunFolder): string {
  return `the run folder ${folder.runDir} was removed while the run was going on`;
}

type AdapterInfo = ReturnType<typeof summarizeAdapter>;
type LinkProbe = { result: ComputeProbe; targetFlops: number; target: string | number };
interface RunFolder {
  runId: string;
  runDir: string;
  summaryPath: string;
  /** The link the ranks really see (a scaled profile is slowed by linkScale). */
  link: ReturnType<typeof slowedProfile>;
}

/** Phase 1, adapter check: a WebGPU adapter exists and the model fits its limits. */
async function checkAdapter(config: RunConfig, out: Output): Promise<{ info: AdapterInfo } | ExecutedRun> {
  let adapter: GPUAdapter | undefined;
  try {
    adapter = await requestAdapter();
  } catch (e) {
    return { exitCode: out.fail(`${(e as Error).message}\n${NO_ADAPTER_HELP}`, EXIT.noAdapter) };
  }
  if (!adapter) return { exitCode: out.fail(NO_ADAPTER_HELP, EXIT.noAdapter) };
  const info = summarizeAdapter(adapter);
  const modelProblems = validateModelConfig(config.model as never, adapter.limits);
  if (modelProblems.length)
    return { exitCode: out.fail(`invalid run config:\n  ${modelProblems.join('\n  ')}`, EXIT.badInput) };
  return { info };
}

/** Phase 2, link-scale probe: a link scaled to a target GPU measures this machine's compute now, on every rank at once. */
async function probeLinkScale(
  config: RunConfig,
  out: Output,
): Promise<{ config: RunConfig; probe?: LinkProbe } | ExecutedRun> {
  if (config.scaleLinkTo === undefined) return { config };
  const targetFlops = targetFlopsOf(config.scaleLinkTo)!;
  out.emit({ kind: 'progress', message: `measuring local compute to scale the link to ${config.scaleLinkTo}` });
  let result: ComputeProbe;
  try {
    result = await probeComputeFlops(config.worldSize);
  } catch (e) {
    return {
      exitCode: out.fail(`cannot measure local compute for scaleLinkTo: ${(e as Error).message}`, EXIT.failure),
    };
  }
  // The run goes on with the measured factor, as if it had been given (verify re-runs it so).
  const { scaleLinkTo: _target, ...rest } = config;
  return {
    config: { ...rest, linkScale: Math.max(1, targetFlops / result.flopsPerRank) },
    probe: { result, targetFlops, target: config.scaleLinkTo },
  };
}

/** Phase 3, run folder: `<runsDir>/<run id>/` with config.json (the config as asked for), and the start lines. */
function createRunFolder(
  requested: RunConfig,
  config: RunConfig,
  runsDir: string,
  out: Output,
  adapterInfo: AdapterInfo,
  probe: LinkProbe | undefined,
): RunFolder {
  const runId = newRunId(`${config.preset ?? 'custom'}-${config.strategy}`);
  const runDir = resolve(runsDir, runId);
  mkdirSync(runDir, { recursive: true });
  tellSupervisor(runDir);
  // The config as asked for (a measured link scale is measured again on a re-run).
  writeFileSync(join(runDir, 'config.json'), JSON.stringify(requested, null, 2) + '\n');
  const link = slowedProfile(LINK_PROFILES[config.link], config.linkScale ?? 1);
  out.emit({
    kind: 'start',
    runId,
    runDir,
    worldSize: config.worldSize,
    steps: config.steps,
    preset: config.preset,
    strategy: config.strategy,
    link: config.link,
  });
  out.say(
    `CommLens profile · preset ${config.preset ?? 'custom'} · ${config.worldSize} ranks · strategy ${config.strategy} · link ${config.link} (${link.description}) · ${config.steps} steps`,
  );
  out.say(`adapter: ${adapterInfo.description || adapterInfo.device} (${adapterInfo.backend})`);
  if (probe) {
    const p = probe.result;
    const f = config.linkScale!;
    out.say(
      `link scaled ${f >= 10 ? groupDigits(Math.round(f)) : f.toFixed(2)}× to ${typeof probe.target === 'string' ? `${probe.target} (${(probe.targetFlops / 1e12).toFixed(1)} TFLOP/s)` : `${(probe.targetFlops / 1e12).toFixed(1)} TFLOP/s`}: this machine measured ${(p.flopsPerRank / 1e9).toFixed(2)} GFLOP/s per rank (${config.worldSize} ranks at once, ${p.variant} ${p.n}³ matmul)`,
    );
  }
  return { runId, runDir, summaryPath: join(runDir, 'summary.json'), link };
}

/** The run metadata the trace carries (the analysis reads the config, link and host from it). */
function runInfo(
  config: RunConfig,
  folder: RunFolder,
  adapterInfo: AdapterInfo,
  probe: LinkProbe | undefined,
  extraInfo: Record<string, string>,
): Record<string, unknown> {
  return {
    tool: 'commlens',
    runId: folder.runId,
    config: JSON.stringify(config),
    preset: config.preset ?? 'custom',
    strategy: config.strategy,
    worldSize: config.worldSize,
    link: config.link,
    linkAlphaNs: folder.link.alphaNs,
    linkBytesPerNs: folder.link.bytesPerNs,
    adapter: adapterInfo.description || adapterInfo.device,
    node: process.version,
    // Ranks' host work (staging, codecs) shares these cores: the replay prices codecs by it.
    hostCores: availableParallelism(),
    ...(probe
      ? {
          linkScaleSource: 'measured',
          scaleLinkTo: String(probe.target),
          targetFlops: probe.targetFlops,
          localFlopsPerRank: probe.result.flopsPerRank,
          computeProbe: `${probe.result.variant} ${probe.result.n}^3 x ${probe.result.rounds} on ${config.worldSize} ranks in ${(probe.result.wallNs / 1e6).toFixed(1)} ms`,
        }
      : {}),
    ...extraInfo,
  };
}

/**
 * Phase 4, train: runs the ranks, printing progress; warm-up steps (trace/warmup.ts) are
 * named as such and the ETA comes from the steady-state steps only.
 */
async function train(
  config: RunConfig,
  folder: RunFolder,
  out: Output,
  handle: RunHandle,
  info: Record<string, unknown>,
  progress: { stepsDone: number },
  stopAt: (reason: string) => string,
): Promise<RunOutcome> {
  const crashAfter = debugCrashAfter();
  // Who runs it, so that a reader can tell a run still going from one interrupted (trace/runLiveness.ts).
  const processes = currentRunProcesses(process.env[SUPERVISED_ENV] === '1');
  const tty = !out.events && !out.isQuiet && out.io === STDIO && process.stdout.isTTY;
  const times: number[] = [];
  const outcome = await runTraining(
    config,
    folder.runDir,
    info as never,
    {
      onProgress: (message) => {
        out.emit({ kind: 'progress', message });
        if (tty) out.io.out(`\r\x1b[K${message}…`);
      },
      // summary.json after every finished step (status 'running'), replaced atomically, so a
      // process that dies leaves a summary of what it finished (the supervisor completes it).
      onCheckpoint: (o) => {
        progress.stepsDone = o.steps.length;
        try {
          writeFileAtomic(
            folder.summaryPath,
            JSON.stringify({ ...buildSummary(folder.runId, config, o, true), processes }, null, 2) + '\n',
          );
        } catch (e) {
          handle.fail(
            stopAt(
              existsSync(folder.runDir)
                ? `cannot write ${folder.summaryPath}: ${(e as Error).message}`
                : folderGone(folder),
            ),
          );
        }
        if (crashAfter && o.steps.length === crashAfter.steps) {
          const how = crashAfter.signal;
          if (how === 'throw') {
            setImmediate(() => {
              throw new TypeError(`debug: thrown after ${o.steps.length} steps`);
            });
          } else process.kill(process.pid, how);
        }
      },
      onStep: (step, steps, loss, stepTimeNs) => {
        times.push(stepTimeNs);
        const etaNs = etaFromSteadySteps(times, steps - step - 1);
        // By the rule so far (trace/warmup.ts): the first step is always warm-up; a later one while it is far slower than the steps after it.
        const warmup = times.length <= Math.max(1, warmupStepCount(times));
        out.emit({
          kind: 'step',
          step: step + 1,
          steps,
          loss,
          stepTimeNs,
          warmup,
          ...(etaNs !== undefined ? { etaNs } : {}),
        });
        const line = warmup
          ? `step ${String(step + 1).padStart(String(steps).length)}/${steps}  loss ${loss.toFixed(4)}  warm-up (compiling GPU pipelines, first allocations) ${formatDurationNs(stepTimeNs)}`
          : `step ${String(step + 1).padStart(String(steps).length)}/${steps}  loss ${loss.toFixed(4)}  step ${formatDurationNs(stepTimeNs)}  eta ${formatDurationNs(etaNs)}`;
        if (tty) out.io.out(`\r\x1b[K${line}`);
        else out.say(line);
      },
    },
    handle,
  );
  if (tty) out.io.out('\n');
  return outcome;
}

/** Phase 5, report: summary.json with the analysis (the authority for every figure) and report.md. */
function writeReport(config: RunConfig, folder: RunFolder, outcome: RunOutcome, out: Output): RunSummary | ExecutedRun {
  const summary = buildSummary(folder.runId, config, outcome);
  if (!existsSync(folder.runDir)) {
    return {
      exitCode: out.fail(
        `${folderGone(folder)}; stopped after ${summary.stepsCompleted} of ${config.steps} steps, nothing kept`,
        EXIT.failure,
      ),
    };
  }
  // The analysis reads the same model the trace file holds (steps every rank finished).
  const analysis = analyze(finalizeModel(outcome.trace.model), {
    linkPeakGBps: folder.link.bytesPerNs,
    checkRunConfig,
  });
  summary.analysis = analysis;
  writeFileSync(join(folder.runDir, 'report.md'), markdownReport(analysis, { traceLink: './trace.pftrace' }));
  writeFileAtomic(folder.summaryPath, JSON.stringify(summary, null, 2) + '\n');
  return summary;
}

/** Phase 6, print: the outcome, with the run's figures (analysis/runFigures.ts) over its steady-state steps. */
function printResult(
  config: RunConfig,
  folder: RunFolder,
  outcome: RunOutcome,
  summary: RunSummary,
  out: Output,
): ExecutedRun {
  const { runId, runDir, summaryPath } = folder;
  const relTrace = relative(process.cwd(), outcome.tracePath) || outcome.tracePath;
  const relSummary = relative(process.cwd(), summaryPath) || summaryPath;
  if (outcome.failure?.cancelled) {
    out.emit({ kind: 'done', runId, runDir, tracePath: outcome.tracePath, summaryPath, partial: true });
    out.say(
      `${outcome.failure.message}; ${summary.stepsCompleted} of ${config.steps} steps finished; partial trace: ${relTrace}`,
    );
    return { exitCode: EXIT.cancelled, runDir, summary };
  }
  if (outcome.failure) {
    const who =
      outcome.failure.rank !== undefined && outcome.failure.rank >= 0 ? `rank ${outcome.failure.rank} failed: ` : '';
    const code = out.fail(
      `${who}${outcome.failure.message} (${summary.stepsCompleted} steps finished; trace: ${relTrace})`,
      EXIT.failure,
      { rank: outcome.failure.rank, tracePath: outcome.tracePath },
    );
    return { exitCode: code, runDir, summary };
  }
  // What the strategy decided (1-bit Adam: when its variance froze): a note, or a log event for the extension.
  for (const note of summary.strategyNotes ?? []) out.warn(note, 'info');
  out.emit({ kind: 'done', runId, runDir, tracePath: outcome.tracePath, summaryPath, partial: false });
  const f = figuresOfSummary(summary);
  const gflops = summary.achievedFlopsPerRank / 1e9;
  out.say(
    `done in ${formatDurationNs(summary.wallTimeNs)}: loss ${summary.loss[0].toFixed(4)} → ${summary.loss[summary.loss.length - 1].toFixed(4)}, step time ${formatDurationNs(f.stepTimeNs)} (${f.stepTimeBasis}), ${gflops >= 0.1 ? `${gflops.toFixed(2)} GFLOP/s` : `${(gflops * 1e3).toFixed(2)} MFLOP/s`} per rank${f.bytesPerStep !== undefined ? `, ${formatBytes(f.bytesPerStep)} of collectives per rank per step` : ''}`,
  );
  if (f.warmupSteps.length > 0)
    out.say(
      `warm-up: step${f.warmupSteps.length > 1 ? 's' : ''} ${f.warmupSteps.join(', ')} (${formatDurationNs(f.warmupNs)}), left out of every figure`,
    );
  const src = (
    summary.analysis as
      | {
          source?: {
            otherProgramsCores?: number;
            otherProgramsWhileWaitingCores?: number;
            otherProgramsWhileWorkingCores?: number;
          };
        }
      | undefined
  )?.source;
  const others = src?.otherProgramsCores;
  if (others !== undefined && others >= OTHER_PROGRAMS_NOTE_CORES) {
    const waiting = src?.otherProgramsWhileWaitingCores,
      working = src?.otherProgramsWhileWorkingCores;
    const split =
      waiting !== undefined && working !== undefined
        ? `: ${waiting.toFixed(2)} while rank 0 waited on collectives, ${working.toFixed(2)} while it worked`
        : '';
    out.say(
      `load:    other programs used ${others.toFixed(2)} cores beside this run (median of the steady steps${split}); on a software GPU its steps are slower and noisier than on a quiet machine`,
    );
  }
  out.say(`trace:   ${relTrace}`);
  out.say(`summary: ${relSummary}`);
  return { exitCode: EXIT.ok, runDir, summary };
}

export async function profileCommand(args: string[], io?: Io): Promise<number> {
  const out = new Output('profile', { events: args.includes('--events'), io });
  let config: RunConfig;
  let p: ProfileArgs;
  try {
    p = parseProfileArgs(args);
    config = loadRunConfig(p);
  } catch (e) {
    if (e instanceof ConfigError) return out.fail(`invalid run config:\n  ${e.problems.join('\n  ')}`, EXIT.badInput);
    throw e;
  }
  return (await executeRun(config, p.runsDir, out)).exitCode;
}

export const profile: Command = {
  name: 'profile',
  synopsis: 'profile [--preset NAME | --config FILE] [--events] [--runs-dir DIR]',
  summary: 'train data-parallel on WebGPU ranks and write a trace',
  usage: PROFILE_USAGE,
  run: profileCommand,
};
