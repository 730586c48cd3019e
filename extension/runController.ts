/**
 * Runs the CommLens runtime for the editor: one job at a time, with a cancellable
 * progress notification (step k/N, loss, ETA), a status bar item, the runtime's log in
 * the output channel, and a clear report of how it ended (done, cancelled with a partial
 * trace, failed with the runtime's message, crashed with its last lines).
 */
import * as path from 'node:path';
import { hostname } from 'node:os';
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { RuntimeProcess, describeCrash, type RunOutcome } from './runtimeProcess';
import { writeRunRecord, readRunRecord, pruneRuns, type RunRecord } from './runsStore';
import { formatDurationNs } from '../trace/format';
import { cliPath, runtimeEnv, runsFolder, keepRuns } from './settings';
import { EXIT, type RuntimeEvent } from '../cli/protocol';
import { processStartTime } from '../trace/runLiveness';
import { locateField, positionOf } from './configCheck';

export interface RuntimeJob {
  /** Shown in the progress notification and the status bar. */
  title: string;
  /** CLI arguments after `commlens.js` (e.g. `profile --events --preset tiny`). */
  args: string[];
  /** Recorded in the run folder when the runtime announces the run. */
  source?: RunRecord['source'];
  /** A config file the run uses: a refused config is shown on it in the Problems view. */
  configPath?: string;
  /** Sees every event too (e.g. to mirror progress in a webview). */
  onEvent?(event: RuntimeEvent): void;
}

export interface JobResult {
  outcome: RunOutcome;
  /** The run folder, when the runtime announced one. */
  runDir?: string;
}

/** How long a cancelled run may take to finish its files before its process group is killed. */
const CANCEL_GRACE_MS = 5000;

export class RunController implements vscode.Disposable {
  private active: { proc: RuntimeProcess; title: string } | undefined;
  private readonly statusBar: vscode.StatusBarItem;
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires when a run starts, announces its folder, or ends. */
  readonly onDidChangeRuns = this.changed.event;

  constructor(
    private readonly context: vscode.ExtensionContext,
    readonly output: vscode.OutputChannel,
    private readonly diagnostics: vscode.DiagnosticCollection,
  ) {
    this.statusBar = vscode.window.createStatusBarItem('commlens.run', vscode.StatusBarAlignment.Left, 50);
    this.statusBar.name = 'CommLens run';
    this.statusBar.command = 'commlens.cancelRun';
  }

  get isRunning(): boolean {
    return this.active !== undefined;
  }

  /** Cancels the job in progress; true when there was one. */
  async cancel(): Promise<boolean> {
    if (!this.active) return false;
    this.output.appendLine(`[commlens] cancelling ${this.active.title}`);
    // The runtime stops at the next step boundary, then writes the summary, the analysis and
    // report.md: mlp-small took 1.3 s of that on lavapipe (2 s steps). SIGKILL comes only
    // after CANCEL_GRACE_MS; a run killed then reads as interrupted.
    await this.active.proc.cancel(CANCEL_GRACE_MS);
    return true;
  }

  /**
   * Starts the runtime with `job.args` and follows it to the end. Returns undefined when
   * another job is running and the user chose not to stop it.
   */
  async run(job: RuntimeJob): Promise<JobResult | undefined> {
    if (this.active) {
      const stop = await vscode.window.showWarningMessage(
        `CommLens is already running ${this.active.title}.`,
        'Cancel It and Start',
        'Keep It',
      );
      if (stop !== 'Cancel It and Start') return undefined;
      await this.cancel();
    }
    const runsDir = runsFolder(this.context);
    const args = [cliPath(this.context), ...job.args];
    if (!args.includes('--runs-dir') && (job.args[0] === 'profile' || job.args[0] === 'verify'))
      args.push('--runs-dir', runsDir);
    this.output.appendLine(
      `[commlens] ${new Date().toISOString()} start: node ${args.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}`,
    );
    if (job.configPath) this.diagnostics.delete(vscode.Uri.file(job.configPath));

    let runDir: string | undefined;
    let record: RunRecord | undefined;
    const startedAt = new Date().toISOString();
    return vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `CommLens: ${job.title}`, cancellable: true },
      async (progress, token) => {
        let lastStep = 0;
        const proc = new RuntimeProcess(
          {
            command: process.execPath,
            args,
            cwd: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? runsDir,
            env: runtimeEnv(),
          },
          {
            onLog: (line) => this.output.appendLine(line),
            onEvent: (ev) => {
              this.logEvent(ev);
              job.onEvent?.(ev);
              if (ev.kind === 'start') {
                runDir = ev.runDir;
                const pid = proc.pid;
                const startTime = pid !== undefined ? processStartTime(pid) : undefined;
                record = {
                  runId: ev.runId,
                  status: 'running',
                  source: job.source ?? { kind: 'preset', preset: ev.preset ?? 'unknown' },
                  startedAt,
                  link: ev.link,
                  worldSize: ev.worldSize,
                  steps: ev.steps,
                  ...(pid !== undefined
                    ? { processes: [{ pid, ...(startTime ? { startTime } : {}), host: hostname() }] }
                    : {}),
                };
                this.saveRecord(runDir, record);
                this.setStatus(`$(sync~spin) CommLens: starting ${ev.worldSize} ranks`, 'Click to cancel the run');
                progress.report({
                  message: `${ev.worldSize} ranks, ${ev.steps} steps, ${ev.strategy} over ${ev.link}`,
                });
                this.changed.fire();
              } else if (ev.kind === 'done' && record && runDir === ev.runDir) {
                // One job may run several runs (verify: the baseline again, then the change,
                // in rounds): each finished one is recorded now, not left 'running'.
                record.status = ev.partial ? 'cancelled' : 'done';
                record.tracePath = ev.tracePath;
                record.endedAt = new Date().toISOString();
                this.saveRecord(runDir, record);
              } else if (ev.kind === 'progress') {
                progress.report({ message: ev.message });
                this.setStatus(`$(sync~spin) CommLens: ${ev.message}`, 'Click to cancel the run');
              } else if (ev.kind === 'step') {
                const text = ev.warmup
                  ? `step ${ev.step}/${ev.steps} · warm-up (compiling GPU pipelines, first allocations) took ${formatDurationNs(ev.stepTimeNs)} · ETA after the first steady-state step`
                  : `step ${ev.step}/${ev.steps} · loss ${formatLoss(ev.loss)} · ${formatDurationNs(ev.stepTimeNs)}/step · ETA ${formatEta(ev.etaNs)}`;
                const increment = ev.steps > 0 ? (100 * Math.max(0, ev.step - lastStep)) / ev.steps : undefined;
                lastStep = ev.step;
                progress.report({ message: text, increment });
                this.setStatus(`$(sync~spin) CommLens ${ev.step}/${ev.steps}`, `${text}\nClick to cancel the run`);
              }
            },
          },
        );
        this.active = { proc, title: job.title };
        void vscode.commands.executeCommand('setContext', 'commlens.running', true);
        this.setStatus('$(sync~spin) CommLens: starting', 'Click to cancel the run');
        const sub = token.onCancellationRequested(() => void this.cancel());
        let outcome: RunOutcome;
        try {
          outcome = await proc.finished;
        } finally {
          sub.dispose();
          this.active = undefined;
          this.statusBar.hide();
          void vscode.commands.executeCommand('setContext', 'commlens.running', false);
        }
        this.output.appendLine(
          `[commlens] ${new Date().toISOString()} ended: ${outcome.kind}, exit code ${outcome.exitCode ?? 'none'}`,
        );
        this.finishRecord(runDir, record, outcome, job);
        if (job.configPath && outcome.kind === 'error' && outcome.error.exitCode === EXIT.badInput)
          this.showConfigErrors(job.configPath, outcome.error.message);
        this.changed.fire();
        return { outcome, runDir };
      },
    );
  }

  private setStatus(text: string, tooltip: string): void {
    this.statusBar.text = text;
    this.statusBar.tooltip = tooltip;
    this.statusBar.show();
  }

  private logEvent(ev: RuntimeEvent): void {
    switch (ev.kind) {
      case 'log':
        this.output.appendLine(`${ev.level}: ${ev.message}`);
        break;
      case 'step':
        this.output.appendLine(
          `step ${ev.step}/${ev.steps} loss ${formatLoss(ev.loss)} step time ${formatDurationNs(ev.stepTimeNs)}`,
        );
        break;
      case 'progress':
        this.output.appendLine(ev.message);
        break;
      case 'start':
        this.output.appendLine(
          `run ${ev.runId}: ${ev.worldSize} ranks, ${ev.steps} steps, strategy ${ev.strategy}, link ${ev.link} -> ${ev.runDir}`,
        );
        break;
      case 'done':
        this.output.appendLine(`done${ev.partial ? ' (partial)' : ''}: ${ev.tracePath}`);
        break;
      case 'error':
        this.output.appendLine(`error${ev.rank !== undefined ? ` on rank ${ev.rank}` : ''}: ${ev.message}`);
        break;
      default:
        this.output.appendLine(JSON.stringify(ev));
    }
  }

  private saveRecord(runDir: string | undefined, record: RunRecord | undefined): void {
    if (!runDir || !record) return;
    try {
      writeRunRecord(runDir, record);
    } catch (e) {
      this.output.appendLine(`[commlens] cannot write the run record in ${runDir}: ${(e as Error).message}`);
    }
  }

  private finishRecord(
    runDir: string | undefined,
    record: RunRecord | undefined,
    outcome: RunOutcome,
    job: RuntimeJob,
  ): void {
    if (outcome.kind === 'done') {
      runDir ??= outcome.done.runDir;
      record ??= readRunRecord(runDir) ?? {
        runId: outcome.done.runId,
        status: 'running',
        source: job.source ?? { kind: 'preset', preset: 'unknown' },
        startedAt: new Date().toISOString(),
      };
    }
    // A run folder removed during the run stays removed (writing the record would re-create it).
    if (!runDir || !record || !fs.existsSync(runDir)) return;
    record.endedAt = new Date().toISOString();
    if (outcome.kind === 'done') {
      record.status = outcome.done.partial || outcome.cancelled ? 'cancelled' : 'done';
      record.tracePath = outcome.done.tracePath;
    } else if (outcome.kind === 'error') {
      record.status =
        outcome.error.exitCode === EXIT.cancelled
          ? 'cancelled'
          : outcome.error.exitCode === EXIT.crashed
            ? 'crashed'
            : 'failed';
      record.message = outcome.error.message;
      if (outcome.error.tracePath) record.tracePath = outcome.error.tracePath;
    } else {
      record.status = outcome.cancelled ? 'cancelled' : 'crashed';
      record.message = describeCrash(outcome);
      const streamed = path.join(runDir, 'trace.pftrace');
      if (fs.existsSync(streamed)) record.tracePath = streamed;
    }
    this.saveRecord(runDir, record);
    try {
      const removed = pruneRuns(path.dirname(runDir), keepRuns());
      if (removed.length > 0)
        this.output.appendLine(`[commlens] removed ${removed.length} old run(s) (commlens.keepRuns = ${keepRuns()})`);
    } catch (e) {
      this.output.appendLine(`[commlens] could not prune old runs: ${(e as Error).message}`);
    }
  }

  /** The runtime refuses a config with one `field: problem` line each; put them on the file. */
  private showConfigErrors(configPath: string, message: string): void {
    let text: string;
    try {
      text = fs.readFileSync(configPath, 'utf8');
    } catch {
      return;
    }
    {
      const diags: vscode.Diagnostic[] = [];
      for (const line of message.split('\n')) {
        const m = /^([\w$.[\]]+): (.*)$/.exec(line.trim());
        const where = m ? locateField(text, m[1]) : undefined;
        const start = positionOf(text, where?.offset ?? 0);
        const end = positionOf(text, (where?.offset ?? 0) + (where?.length ?? 1));
        const d = new vscode.Diagnostic(
          new vscode.Range(start.line, start.character, end.line, end.character),
          line.trim(),
          vscode.DiagnosticSeverity.Error,
        );
        d.source = 'commlens runtime';
        if (line.trim()) diags.push(d);
      }
      this.diagnostics.set(vscode.Uri.file(configPath), diags);
    }
  }

  /** Tells the user how a job ended; returns the button they chose, if any. */
  async report(result: JobResult, what: string): Promise<'open' | 'openPartial' | 'log' | undefined> {
    const o = result.outcome;
    if (o.kind === 'done' && !o.cancelled) return 'open';
    if (
      o.kind === 'done' ||
      (o.kind === 'crash' && o.cancelled) ||
      (o.kind === 'error' && o.error.exitCode === EXIT.cancelled)
    ) {
      if (traceOf(result)) {
        const pick = await vscode.window.showInformationMessage(
          `${what} was cancelled. The trace of the finished steps was kept.`,
          'Open Partial Trace',
        );
        return pick ? 'openPartial' : undefined;
      }
      void vscode.window.showInformationMessage(`${what} was cancelled; no step had finished, so there is no trace.`);
      return undefined;
    }
    const message =
      o.kind === 'error'
        ? `${what} ${o.error.exitCode === EXIT.crashed ? 'crashed' : 'failed'}${o.error.rank !== undefined ? ` on rank ${o.error.rank}` : ''}: ${o.error.message}`
        : `${what} crashed. ${describeCrash(o)}`;
    // A failed or crashed run keeps the trace of the steps it finished: offer it.
    const buttons = traceOf(result) ? ['Open Partial Trace', 'Open Log'] : ['Open Log'];
    const pick = await vscode.window.showErrorMessage(message, ...buttons);
    if (pick === 'Open Partial Trace') return 'openPartial';
    if (pick === 'Open Log') {
      this.output.show(true);
      return 'log';
    }
    return undefined;
  }

  dispose(): void {
    void this.active?.proc.cancel(500);
    this.statusBar.dispose();
    this.changed.dispose();
  }
}

/**
 * The trace a job left: the one its final event names, else the one the runtime streams
 * into its run folder (a run killed during cancel still has the steps it finished).
 */
export function traceOf(result: JobResult): string | undefined {
  const o = result.outcome;
  const named = o.kind === 'done' ? o.done.tracePath : o.kind === 'error' ? o.error.tracePath : undefined;
  const candidates = [named, result.runDir ? path.join(result.runDir, 'trace.pftrace') : undefined];
  return candidates.find((f): f is string => f !== undefined && fs.existsSync(f) && fs.statSync(f).size > 0);
}

function formatLoss(loss: number): string {
  if (!Number.isFinite(loss)) return String(loss);
  return Math.abs(loss) >= 100 ? loss.toFixed(1) : loss.toPrecision(4);
}

function formatEta(etaNs: number | undefined): string {
  if (etaNs === undefined || !Number.isFinite(etaNs) || etaNs < 0) return '–';
  const s = Math.round(etaNs / 1e9);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}
