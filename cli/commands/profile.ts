/**
 * `commlens profile`: validate the run config, train on N WebGPU ranks, write the
 * trace and summary, print progress (human lines, or JSON events with --events).
 */
import { availableParallelism } from 'node:os';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { SUPERVISED_ENV, tellSupervisor, writeFileAtomic } from '../supervisor';
import { currentRunProcesses, installRunGuards, onStopRequest } from '../../runtime/lifeline';
import { prepareRunsDir } from '../../runtime/runsDir';
import { join, resolve, relative } from 'node:path';
import { ConfigError, readConfigFile, resolveRawConfig, validateConfig, PRESETS, type RunConfig } from '../../runtime/config';
import { GPU_PEAK_FLOPS, LINK_PROFILES, slowedProfile } from '../../runtime/comm';
import { probeComputeFlops, targetFlopsOf, type ComputeProbe } from '../../runtime/computeProbe';
import { probeHost, type HostProbe } from '../../runtime/hostProbe';
import { STRATEGY_IDS, validateStrategyConfig } from '../../runtime/strategies';
import { validateModelConfig } from '../../runtime/engine';
import { requestAdapter, summarizeAdapter } from '../../runtime/gpu/dawn';
import { runTraining, RunHandle } from '../../runtime/coordinator';
import { buildSummary, type RunSummary } from '../../runtime/summary';
import { EXIT } from '../protocol';
import { Output, STDIO, type Io } from '../output';
import { parseArgs, parseFiniteNumber, flag, num, str, UsageError, type OptionSpecs } from '../args';
import type { Command } from '../command';
import { newRunId } from '../../trace/runIds';
import { NO_ADAPTER_HELP } from './doctor';
import { analyze, markdownReport } from '../../analysis/index';
import { formatBytes, formatDurationNs, groupDigits } from '../../trace/format';
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
  const out: ProfileArgs = { events: flag(p, 'events'), runsDir: str(p, 'runs-dir') ?? 'runs', overrides: {}, preset: str(p, 'preset'), configPath: str(p, 'config') };
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
 * `<runsDir>/<run id>/`. Nothing is written when the config is refused.
 */
export async function executeRun(config: RunConfig, runsDir: string, out: Output, extraInfo: Record<string, string> = {}): Promise<ExecutedRun> {
  try {
    runsDir = prepareRunsDir(runsDir);
  } catch (e) {
    if (e instanceof ConfigError) return { exitCode: out.fail(e.problems.join('\n'), EXIT.badInput) };
    throw e;
  }
  installRunGuards();
  let adapter: GPUAdapter | undefined;
  try {
    adapter = await requestAdapter();
  } catch (e) {
    return { exitCode: out.fail(`${(e as Error).message}\n${NO_ADAPTER_HELP}`, EXIT.noAdapter) };
  }
  if (!adapter) return { exitCode: out.fail(NO_ADAPTER_HELP, EXIT.noAdapter) };
  const adapterInfo = summarizeAdapter(adapter);
  const modelProblems = validateModelConfig(config.model as never, adapter.limits);
  if (modelProblems.length) return { exitCode: out.fail(`invalid run config:\n  ${modelProblems.join('\n  ')}`, EXIT.badInput) };

  // A link scaled to a target GPU: measure this machine's compute now, on every rank at once.
  const requested = config;
  let probe: { result: ComputeProbe; targetFlops: number; target: string | number } | undefined;
  if (config.scaleLinkTo !== undefined) {
    const targetFlops = targetFlopsOf(config.scaleLinkTo)!;
    out.emit({ kind: 'progress', message: `measuring local compute to scale the link to ${config.scaleLinkTo}` });
    let result: ComputeProbe;
    try {
      result = await probeComputeFlops(config.worldSize);
    } catch (e) {
      return { exitCode: out.fail(`cannot measure local compute for scaleLinkTo: ${(e as Error).message}`, EXIT.failure) };
    }
    probe = { result, targetFlops, target: config.scaleLinkTo };
    // The run goes on with the measured factor, as if it had been given (verify re-runs it so).
    const { scaleLinkTo: _target, ...rest } = config;
    config = { ...rest, linkScale: Math.max(1, targetFlops / result.flopsPerRank) };
  }
  // Codec and staging-copy speeds of this machine, for the replay's predictions (runtime/hostProbe.ts).
  let hostProbe: HostProbe | { error: string };
  try {
    hostProbe = await probeHost(config);
  } catch (e) {
    hostProbe = { error: (e as Error).message };
  }
  const runId = newRunId(`${config.preset ?? 'custom'}-${config.strategy}`);
  const runDir = resolve(runsDir, runId);
  mkdirSync(runDir, { recursive: true });
  tellSupervisor(runDir);
  // The config as asked for (a measured link scale is measured again on a re-run).
  writeFileSync(join(runDir, 'config.json'), JSON.stringify(requested, null, 2) + '\n');
  // The link the ranks really see: a scaled profile is slowed by linkScale (comm paces it so).
  const link = slowedProfile(LINK_PROFILES[config.link], config.linkScale ?? 1);
  out.emit({ kind: 'start', runId, runDir, worldSize: config.worldSize, steps: config.steps, preset: config.preset, strategy: config.strategy, link: config.link });
  out.say(`CommLens profile · preset ${config.preset ?? 'custom'} · ${config.worldSize} ranks · strategy ${config.strategy} · link ${config.link} (${link.description}) · ${config.steps} steps`);
  out.say(`adapter: ${adapterInfo.description || adapterInfo.device} (${adapterInfo.backend})`);
  if (probe) {
    const p = probe.result;
    const f = config.linkScale!;
    out.say(`link scaled ${f >= 10 ? groupDigits(Math.round(f)) : f.toFixed(2)}× to ${typeof probe.target === 'string' ? `${probe.target} (${(probe.targetFlops / 1e12).toFixed(1)} TFLOP/s)` : `${(probe.targetFlops / 1e12).toFixed(1)} TFLOP/s`}: this machine measured ${(p.flopsPerRank / 1e9).toFixed(2)} GFLOP/s per rank (${config.worldSize} ranks at once, ${p.variant} ${p.n}³ matmul)`);
  }

  const handle = new RunHandle();
  // A signal during training cancels it; later ones (a second Ctrl-C, or the supervisor
  // passing on a signal the whole process group got) are absorbed so that the summary and
  // report of the cancelled run still get written.
  let training = true;
  let stepsDone = 0;
  const stopAt = (reason: string): string => `${reason} after step ${stepsDone} of ${config.steps}`;
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
    return await trainAndReport();
  } finally {
    offStop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  async function trainAndReport(): Promise<ExecutedRun> {
    const startWall = Date.now();
    const summaryPath = join(runDir, 'summary.json');
    const crashAfter = debugCrashAfter();
    const processes = currentRunProcesses(process.env[SUPERVISED_ENV] === '1');
    const folderGone = (): string => `the run folder ${runDir} was removed while the run was going on`;
    const tty = !out.events && !out.isQuiet && out.io === STDIO && process.stdout.isTTY;
    const info = {
      tool: 'commlens',
      runId,
      config: JSON.stringify(config),
      preset: config.preset ?? 'custom',
      strategy: config.strategy,
      worldSize: config.worldSize,
      link: config.link,
      linkAlphaNs: link.alphaNs,
      linkBytesPerNs: link.bytesPerNs,
      adapter: adapterInfo.description || adapterInfo.device,
      node: process.version,
      // Ranks' host work (staging, codecs) shares these cores: the replay prices codecs by it.
      hostCores: availableParallelism(),
      hostProbe,
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
    const outcome = await runTraining(config, runDir, info, {
      onProgress: (message) => {
        out.emit({ kind: 'progress', message });
        if (tty) out.io.out(`\r\x1b[K${message}…`);
      },
      // summary.json after every finished step (status 'running'), replaced atomically, so a
      // process that dies leaves a summary of what it finished (the supervisor completes it).
      onCheckpoint: (o) => {
        stepsDone = o.steps.length;
        try {
          writeFileAtomic(summaryPath, JSON.stringify({ ...buildSummary(runId, config, o, true), processes }, null, 2) + '\n');
        } catch (e) {
          handle.fail(stopAt(existsSync(runDir) ? `cannot write ${summaryPath}: ${(e as Error).message}` : folderGone()));
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
        const elapsedNs = (Date.now() - startWall) * 1e6;
        const etaNs = ((steps - step - 1) * elapsedNs) / (step + 1);
        out.emit({ kind: 'step', step: step + 1, steps, loss, stepTimeNs, etaNs });
        const line = `step ${String(step + 1).padStart(String(steps).length)}/${steps}  loss ${loss.toFixed(4)}  step ${formatDurationNs(stepTimeNs)}  eta ${formatDurationNs(etaNs)}`;
        if (tty) out.io.out(`\r\x1b[K${line}`);
        else out.say(line);
      },
    }, handle);
    training = false;
    if (tty) out.io.out('\n');

    const summary = buildSummary(runId, config, outcome);
    if (!existsSync(runDir)) {
      return { exitCode: out.fail(`${folderGone()}; stopped after ${summary.stepsCompleted} of ${config.steps} steps, nothing kept`, EXIT.failure) };
    }
    // The analysis reads the same model the trace file holds (steps every rank finished).
    const analysis = analyze(finalizeModel(outcome.trace.model), { linkPeakGBps: link.bytesPerNs });
    summary.analysis = analysis;
    writeFileSync(join(runDir, 'report.md'), markdownReport(analysis, { traceLink: './trace.pftrace' }));
    writeFileAtomic(summaryPath, JSON.stringify(summary, null, 2) + '\n');
    const relTrace = relative(process.cwd(), outcome.tracePath) || outcome.tracePath;
    const relSummary = relative(process.cwd(), summaryPath) || summaryPath;

    if (outcome.failure?.cancelled) {
      out.emit({ kind: 'done', runId, runDir, tracePath: outcome.tracePath, summaryPath, partial: true });
      out.say(`${outcome.failure.message}; ${summary.stepsCompleted} of ${config.steps} steps finished; partial trace: ${relTrace}`);
      return { exitCode: EXIT.cancelled, runDir, summary };
    }
    if (outcome.failure) {
      const who = outcome.failure.rank !== undefined && outcome.failure.rank >= 0 ? `rank ${outcome.failure.rank} failed: ` : '';
      const code = out.fail(`${who}${outcome.failure.message} (${summary.stepsCompleted} steps finished; trace: ${relTrace})`, EXIT.failure, { rank: outcome.failure.rank, tracePath: outcome.tracePath });
      return { exitCode: code, runDir, summary };
    }
    out.emit({ kind: 'done', runId, runDir, tracePath: outcome.tracePath, summaryPath, partial: false });
    const gflops = summary.achievedFlopsPerRank / 1e9;
    out.say(`done in ${formatDurationNs(summary.wallTimeNs)}: loss ${summary.loss[0].toFixed(4)} → ${summary.loss[summary.loss.length - 1].toFixed(4)}, median step ${formatDurationNs(summary.medianStepTimeNs)}, ${gflops >= 0.1 ? `${gflops.toFixed(2)} GFLOP/s` : `${(gflops * 1e3).toFixed(2)} MFLOP/s`} per rank, ${formatBytes(Math.max(...summary.wireBytesPerStepPerRank))} on the wire per rank per step`);
    out.say(`trace:   ${relTrace}`);
    out.say(`summary: ${relSummary}`);
    return { exitCode: EXIT.ok, runDir, summary };
  }
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
