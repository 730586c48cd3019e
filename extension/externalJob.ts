/**
 * A user's own training command (torchrun, deepspeed, python ...) run with
 * COMMLENS_TRACE_DIR set, so that the commlens_torch helper (python/commlens_torch) in
 * the training script writes one PyTorch profiler (Kineto) trace per rank there.
 * When the command ends, the traces it left are what CommLens imports.
 *
 * Pure Node: the VS Code side shows the output in a terminal (extension/external.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { discoverTraces } from '../trace/discover';
import { loadRun } from '../trace/load';
import { analyze } from '../analysis/index';
import { externalRunSummary, type ExternalRunFacts } from '../analysis/externalSummary';

export interface ExternalJobOptions {
  command: string;
  cwd: string;
  traceDir: string;
  /** Folder holding the commlens_torch package, prepended to PYTHONPATH. */
  pythonHelperDir?: string;
  /** Extra folder prepended to PATH (a chosen Python's bin folder). */
  pathPrefix?: string;
  env?: NodeJS.ProcessEnv;
  onOutput?(text: string): void;
}

export interface ExternalJobResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Per-rank trace files found in the trace folder, sorted by rank. */
  traceFiles: string[];
}

/** The environment an external job runs with. */
export function externalEnv(opts: ExternalJobOptions): NodeJS.ProcessEnv {
  const base = { ...(opts.env ?? process.env) };
  const sep = path.delimiter;
  const env: NodeJS.ProcessEnv = { ...base, COMMLENS_TRACE_DIR: opts.traceDir };
  if (opts.pythonHelperDir)
    env.PYTHONPATH = base.PYTHONPATH ? `${opts.pythonHelperDir}${sep}${base.PYTHONPATH}` : opts.pythonHelperDir;
  if (opts.pathPrefix) env.PATH = `${opts.pathPrefix}${sep}${base.PATH ?? ''}`;
  // Python buffers stdout when it is not a terminal; the user wants to see progress.
  env.PYTHONUNBUFFERED = '1';
  return env;
}

/**
 * The trace files of the newest complete run in the trace folder (trace/discover.ts: every
 * format by content, tensorboard_trace_handler sub-folders, several runs kept apart), in
 * rank order; none when the folder holds no traces.
 */
export function findTraceFiles(traceDir: string): string[] {
  try {
    return discoverTraces([traceDir]).chosen.files.map((f) => f.path);
  } catch {
    return [];
  }
}

export class ExternalJob {
  readonly child: ChildProcess;
  readonly finished: Promise<ExternalJobResult>;
  private exited = false;

  constructor(readonly opts: ExternalJobOptions) {
    fs.mkdirSync(opts.traceDir, { recursive: true });
    const shell =
      process.platform === 'win32'
        ? { cmd: process.env.ComSpec ?? 'cmd.exe', args: ['/d', '/s', '/c', opts.command] }
        : { cmd: '/bin/sh', args: ['-c', opts.command] };
    this.child = spawn(shell.cmd, shell.args, {
      cwd: opts.cwd,
      env: externalEnv(opts),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: process.platform !== 'win32',
      windowsHide: true,
    });
    this.child.stdout!.setEncoding('utf8');
    this.child.stderr!.setEncoding('utf8');
    this.child.stdout!.on('data', (t: string) => opts.onOutput?.(t));
    this.child.stderr!.on('data', (t: string) => opts.onOutput?.(t));
    this.finished = new Promise((resolve) => {
      this.child.on('error', (e) => {
        if (this.child.pid === undefined) {
          this.exited = true;
          opts.onOutput?.(`cannot start the command: ${e.message}\n`);
          resolve({ exitCode: null, signal: null, traceFiles: findTraceFiles(opts.traceDir) });
        }
      });
      this.child.on('close', (code, signal) => {
        this.exited = true;
        resolve({ exitCode: code, signal, traceFiles: findTraceFiles(opts.traceDir) });
      });
    });
  }

  /** Interrupts the whole process tree (like Ctrl+C), then kills it after `graceMs`. */
  stop(graceMs = 1500): Promise<ExternalJobResult> {
    const pid = this.child.pid;
    if (pid !== undefined && !this.exited) {
      const send = (s: NodeJS.Signals) => {
        if (this.exited) return;
        try {
          if (process.platform === 'win32') this.child.kill(s);
          else process.kill(-pid, s);
        } catch {
          // already gone
        }
      };
      send('SIGINT');
      const t = setTimeout(() => send('SIGKILL'), graceMs);
      void this.finished.then(() => clearTimeout(t));
    }
    return this.finished;
  }
}

/**
 * Imports the traces an external run left and writes its summary.json (analysis/externalSummary.ts:
 * the same shape as a CommLens run's, with the analysis and its figures), so that the runs
 * view and Compare Runs show its figures. Never throws: a trace that cannot be read gives
 * `error`, and no summary is written.
 */
export async function writeExternalSummary(
  runDir: string,
  facts: Omit<ExternalRunFacts, 'traceFiles'>,
  traceFiles: string[],
): Promise<{ summaryPath?: string; error?: string }> {
  if (traceFiles.length === 0) return { error: 'no trace files to import' };
  try {
    const found = discoverTraces(traceFiles);
    const model = await loadRun(found.chosen);
    const analysis = analyze(model);
    if (analysis.source.ranksPresent.length === 0)
      return {
        error: `${found.chosen.files.map((f) => f.path).join(', ')}: no ranks in the traces, nothing to summarise`,
      };
    const rel = (f: string) => {
      const r = path.relative(runDir, f);
      return r.startsWith('..') || path.isAbsolute(r) ? f : r;
    };
    const summary = externalRunSummary({ ...facts, traceFiles: found.chosen.files.map((f) => rel(f.path)) }, analysis);
    const file = path.join(runDir, 'summary.json');
    const tmp = path.join(runDir, '.summary.json.tmp');
    fs.writeFileSync(tmp, JSON.stringify(summary, null, 2));
    fs.renameSync(tmp, file);
    return { summaryPath: file };
  } catch (e) {
    return { error: (e as Error)?.message ?? String(e) };
  }
}
