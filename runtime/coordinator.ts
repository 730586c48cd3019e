/**
 * The coordinator: starts one worker thread per rank, gathers their steps into the
 * run's trace, and ends the run cleanly whatever happens. If a rank fails, the world is
 * aborted (every rank blocked in a collective wakes and stops) and any worker still
 * alive after a grace period is terminated, so a run never hangs and never leaves a
 * thread behind.
 */
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { hostNowNs } from './clock';
import { createWorld, abortWorld, worldMetadata, type WorldInit } from './comm';
import type { RunConfig } from './config';
import type { RankInit, RankMessage, RankReady, RankStep, RankDone } from './rankMessages';
import { RunTrace } from './runTrace';
import { warmupStepCount } from '../trace/warmup';
import { tuneSoftwareRasterizerThreads } from './gpu/dawn';

export interface RunProgress {
  onStep?(step: number, steps: number, meanLoss: number, stepTimeNs: number): void;
  onProgress?(message: string): void;
  /** After each step that every rank finished, with the outcome so far (for checkpoints). */
  onCheckpoint?(outcome: RunOutcome): void;
}

export interface RunOutcome {
  runDir: string;
  tracePath: string;
  trace: RunTrace;
  ready: RankReady[];
  steps: { step: number; meanLoss: number; stepTimeNs: number; perRank: RankStep[] }[];
  done: RankDone[];
  /** Set when the run did not finish: cancelled, or a rank failed. */
  failure?: { rank?: number; message: string; cancelled: boolean };
  wallNs: number;
}

/** How long ranks get to stop on their own after an abort before they are terminated. */
const STOP_GRACE_MS = 1500;

export class RunHandle {
  private cancelReason: string | undefined;
  private failed = false;
  private abortFn: ((reason: string, cancelled: boolean) => void) | undefined;
  /** Stops the run: every rank is aborted; finished steps stay in the trace. */
  cancel(reason = 'cancelled'): void {
    this.stop(reason, false);
  }
  /** Stops the run as failed (an error outside the ranks, e.g. its folder was removed). */
  fail(reason: string): void {
    this.stop(reason, true);
  }
  private stop(reason: string, failed: boolean): void {
    if (this.cancelReason !== undefined) return;
    this.cancelReason = reason;
    this.failed = failed;
    this.abortFn?.(reason, !failed);
  }
  get cancelled(): string | undefined {
    return this.cancelReason;
  }
  /** @internal */
  bind(fn: (reason: string, cancelled: boolean) => void): void {
    this.abortFn = fn;
    if (this.cancelReason) fn(this.cancelReason, !this.failed);
  }
}

export function workerPath(name: string): string {
  return join(__dirname, name);
}

export interface RunOptions {
  /** Record and write the trace (default true). Off only for the tracing-overhead benchmark. */
  tracing?: boolean;
}

export async function runTraining(
  config: RunConfig,
  runDir: string,
  info: Record<string, unknown>,
  progress: RunProgress,
  handle: RunHandle,
  opts: RunOptions = {},
): Promise<RunOutcome> {
  const tracing = opts.tracing ?? true;
  mkdirSync(runDir, { recursive: true });
  const tracePath = join(runDir, 'trace.pftrace');
  const world: WorldInit = createWorld(config.worldSize, {
    topology: { link: config.link, ...(config.linkScale !== undefined ? { scale: config.linkScale } : {}) },
    timeoutMs: config.collectiveTimeoutMs,
  });
  const t0 = hostNowNs();
  const epoch0 = BigInt(Date.now()) * 1_000_000n;
  // The trace says what the interconnect was: profiles, topology and any slow-down factor.
  const w = worldMetadata(world);
  // Before any rank creates its device (see tuneSoftwareRasterizerThreads); recorded so a
  // trace says how the software rasterizer ran.
  const lavapipeThreads = tuneSoftwareRasterizerThreads();
  const traceInfo = {
    ...info,
    lavapipeThreads,
    linkScaleFactor: w.linkScaleFactor as number,
    topology: JSON.stringify(w.topology),
    links: JSON.stringify(w.links),
    transport: String(w.transport),
  };
  const trace = new RunTrace(tracing ? tracePath : undefined, config.worldSize, t0, epoch0, traceInfo as never);
  const outcome: RunOutcome = { runDir, tracePath, trace, ready: [], steps: [], done: [], wallNs: 0 };
  const workers: Worker[] = [];
  const exited = new Set<number>();
  const stepLists = new Map<number, RankStep[]>();
  let lastStepEnd = t0;

  progress.onProgress?.(`starting ${config.worldSize} ranks`);
  await new Promise<void>((resolve) => {
    let finished = false;
    let graceTimer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      if (finished) return;
      if (exited.size < workers.length) return;
      finished = true;
      if (graceTimer) clearTimeout(graceTimer);
      resolve();
    };
    let failureIsEcho = false;
    const fail = (rank: number | undefined, message: string, cancelled: boolean, echo = false): void => {
      // An 'aborted' error from a rank only echoes someone else's failure: keep it only
      // until the real cause arrives.
      if (!outcome.failure || (failureIsEcho && !echo)) {
        outcome.failure = { rank, message, cancelled };
        failureIsEcho = echo;
      }
      try {
        abortWorld(world, message, rank ?? -1);
      } catch {
        // already aborted
      }
      if (!graceTimer) {
        graceTimer = setTimeout(() => {
          for (const w of workers) void w.terminate();
        }, STOP_GRACE_MS);
      }
    };
    handle.bind((reason, cancelled) => fail(undefined, reason, cancelled));
    for (let rank = 0; rank < config.worldSize; rank++) {
      const init: RankInit = { rank, worldSize: config.worldSize, config, world, tracing };
      const w = new Worker(workerPath('rankWorker.js'), { workerData: init, stdout: false, stderr: false });
      workers.push(w);
      w.on('message', (m: RankMessage) => {
        switch (m.type) {
          case 'ready':
            outcome.ready.push(m);
            if (outcome.ready.length === config.worldSize)
              progress.onProgress?.('warm-up: first step (compiling GPU pipelines, first allocations)');
            break;
          case 'step': {
            trace.addStep(m);
            const list = stepLists.get(m.step) ?? [];
            list.push(m);
            stepLists.set(m.step, list);
            if (list.length === config.worldSize) {
              stepLists.delete(m.step);
              const end = Math.max(...list.map((s) => s.endNs));
              const stepTimeNs = end - Math.max(lastStepEnd, Math.min(...list.map((s) => s.startNs)));
              lastStepEnd = end;
              const meanLoss = list.reduce((a, s) => a + s.loss, 0) / list.length;
              outcome.steps.push({ step: m.step, meanLoss, stepTimeNs, perRank: list.sort((a, b) => a.rank - b.rank) });
              progress.onStep?.(m.step, config.steps, meanLoss, stepTimeNs);
              outcome.wallNs = hostNowNs() - t0;
              progress.onCheckpoint?.(outcome);
            }
            break;
          }
          case 'done':
            outcome.done.push(m);
            break;
          case 'error':
            fail(m.rank, m.message, false, m.aborted === true);
            break;
        }
      });
      w.on('error', (e) => fail(rank, `rank ${rank} crashed: ${e.message}`, false));
      w.on('exit', (code) => {
        exited.add(rank);
        if (code !== 0 && !outcome.failure) fail(rank, `rank ${rank} exited with code ${code}`, false);
        finish();
      });
    }
  });
  outcome.wallNs = hostNowNs() - t0;
  if (!outcome.failure && outcome.steps.length < config.steps) {
    outcome.failure = { message: `only ${outcome.steps.length} of ${config.steps} steps finished`, cancelled: false };
  }
  const f = outcome.failure;
  // The warm-up steps by the shared rule (trace/warmup.ts), recorded so that the analysis uses the same set.
  const ordered = [...outcome.steps].sort((a, b) => a.step - b.step);
  const warmupSteps = ordered.slice(0, warmupStepCount(ordered.map((s) => s.stepTimeNs))).map((s) => s.step);
  trace.close(
    !f
      ? { status: 'completed', warmupSteps }
      : { status: f.cancelled ? 'cancelled' : 'failed', error: f.message, rank: f.rank, warmupSteps },
  );
  return outcome;
}
