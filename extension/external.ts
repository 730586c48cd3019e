/**
 * "Profile External Command…": runs the user's own (PyTorch) training command in a
 * terminal with COMMLENS_TRACE_DIR set and the commlens_torch helper on PYTHONPATH,
 * then imports every rank's Kineto trace it wrote and opens the analysis.
 *
 * The terminal is an extension terminal driving the process itself, so the extension
 * knows exactly when the command ends and with what status; Ctrl+C in it interrupts the
 * whole process tree.
 */
import * as path from 'node:path';
import { hostname } from 'node:os';
import * as vscode from 'vscode';
import { ExternalJob, writeExternalSummary, type ExternalJobResult } from './externalJob';
import { writeRunRecord, type RunRecord } from './runsStore';
import { newRunId } from '../trace/runIds';
import { config, runsFolder } from './settings';
import { processStartTime } from '../trace/runLiveness';
import {
  APPLY_ENV,
  defaultExternalCommand,
  launcherSpellingProblem,
  torchVersion,
  type TorchApply,
} from '../trace/torchJob';

export interface ExternalRun {
  runDir: string;
  result: ExternalJobResult;
}

const LAST_COMMAND_KEY = 'commlens.lastExternalCommand';

export class ExternalRunner {
  private active: ExternalJob | undefined;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly output: vscode.OutputChannel,
  ) {}

  get isRunning(): boolean {
    return this.active !== undefined;
  }

  async cancel(): Promise<boolean> {
    if (!this.active) return false;
    await this.active.stop();
    return true;
  }

  /**
   * Asks for the command (remembering the last one) and runs it. The command first proposed
   * spells torchrun's option for the installed PyTorch (--nproc_per_node before 2.0), and
   * a command with the spelling it rejects gets a warning (trace/torchJob.ts).
   */
  async prompt(): Promise<string | undefined> {
    // Asked once per interpreter (cached); a Python slow to import torch does not hold the box up for long.
    const version = await Promise.race([
      torchVersion(config().get<string>('pythonPath', '').trim() || 'python3'),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 10_000)),
    ]);
    const last =
      this.context.workspaceState.get<string>(LAST_COMMAND_KEY) ??
      (config().get<string>('externalCommand', '').trim() || defaultExternalCommand(version));
    const command = await vscode.window.showInputBox({
      title: 'CommLens: Profile External Command',
      prompt:
        'A training command whose script imports commlens_torch (it writes one trace per rank to $COMMLENS_TRACE_DIR)',
      value: last,
      ignoreFocusOut: true,
      validateInput: (v) => {
        if (v.trim().length === 0) return `Enter a command, e.g. ${defaultExternalCommand(version)}`;
        const problem = launcherSpellingProblem(v, version);
        return problem ? { message: problem, severity: vscode.InputBoxValidationSeverity.Warning } : undefined;
      },
    });
    if (command) await this.context.workspaceState.update(LAST_COMMAND_KEY, command);
    return command?.trim();
  }

  /**
   * Runs `command` in a CommLens terminal and resolves when it has ended. With `apply`, the
   * job runs with COMMLENS_APPLY naming that change (commlens_torch applies it: verifying a suggestion).
   */
  run(
    command: string,
    cwd = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? process.cwd(),
    opts: { apply?: TorchApply } = {},
  ): Promise<ExternalRun | undefined> {
    if (this.active) {
      void vscode.window.showWarningMessage(
        'An external command is already being profiled; cancel it first (CommLens: Cancel Run).',
      );
      return Promise.resolve(undefined);
    }
    const runsDir = runsFolder(this.context);
    const runId = newRunId('pytorch');
    const runDir = path.join(runsDir, runId);
    const traceDir = path.join(runDir, 'kineto');
    const record: RunRecord = {
      runId,
      status: 'running',
      source: { kind: 'external', command, cwd },
      startedAt: new Date().toISOString(),
    };
    writeRunRecord(runDir, record);
    const python = config().get<string>('pythonPath', '').trim();
    const applyText = opts.apply ? `${APPLY_ENV}=${JSON.stringify(opts.apply)}` : undefined;

    return new Promise((resolve) => {
      const writeEmitter = new vscode.EventEmitter<string>();
      const closeEmitter = new vscode.EventEmitter<number | void>();
      const crlf = (t: string) => t.replace(/\r?\n/g, '\r\n');
      const pty: vscode.Pseudoterminal = {
        onDidWrite: writeEmitter.event,
        onDidClose: closeEmitter.event,
        open: () => {
          writeEmitter.fire(
            crlf(
              `\x1b[1mCommLens\x1b[0m: ${command}\nCOMMLENS_TRACE_DIR=${traceDir}\n${applyText ? `${applyText}\n` : ''}\n`,
            ),
          );
          this.output.appendLine(`[commlens] external command in ${cwd}: ${command} (COMMLENS_TRACE_DIR=${traceDir})`);
          const job = new ExternalJob({
            command,
            cwd,
            traceDir,
            pythonHelperDir: path.join(this.context.extensionPath, 'python'),
            env: applyEnv(opts.apply),
            pathPrefix: python ? path.dirname(python) : undefined,
            onOutput: (t) => writeEmitter.fire(crlf(t)),
          });
          this.active = job;
          // The shell's pid and start time: if the editor goes away with the job, the run reads as interrupted later.
          const pid = job.child.pid;
          if (pid !== undefined) {
            const startTime = processStartTime(pid);
            record.processes = [{ pid, ...(startTime ? { startTime } : {}), host: hostname() }];
            writeRunRecord(runDir, record);
          }
          void vscode.commands.executeCommand('setContext', 'commlens.running', true);
          void job.finished.then((result) => {
            this.active = undefined;
            void vscode.commands.executeCommand('setContext', 'commlens.running', false);
            const how = result.signal ? `killed by ${result.signal}` : `exited with code ${result.exitCode ?? 'none'}`;
            writeEmitter.fire(
              crlf(
                `\n\x1b[1mCommLens\x1b[0m: the command ${how}; ${result.traceFiles.length} trace file(s) in ${traceDir}\n`,
              ),
            );
            this.output.appendLine(
              `[commlens] external command ${how}; traces: ${result.traceFiles.join(', ') || 'none'}`,
            );
            record.endedAt = new Date().toISOString();
            record.traceFiles = result.traceFiles;
            record.status =
              result.traceFiles.length === 0
                ? result.signal
                  ? 'cancelled'
                  : 'failed'
                : result.exitCode === 0
                  ? 'done'
                  : result.signal
                    ? 'cancelled'
                    : 'failed';
            if (result.traceFiles.length === 0)
              record.message = `The command ${how} and wrote no trace into COMMLENS_TRACE_DIR`;
            else if (result.exitCode !== 0) record.message = `The command ${how}; the traces it wrote were kept`;
            writeRunRecord(runDir, record);
            if (result.traceFiles.length === 0) return resolve({ runDir, result });
            // summary.json with the analysis and its figures, as a CommLens run has: the runs view and Compare Runs read it.
            void writeExternalSummary(
              runDir,
              { runId, command, cwd, exitCode: result.exitCode, signal: result.signal, createdAt: record.endedAt },
              result.traceFiles,
            ).then((s) => {
              this.output.appendLine(
                s.summaryPath
                  ? `[commlens] wrote ${s.summaryPath}`
                  : `[commlens] no summary.json for ${runId}: ${s.error ?? 'unknown error'}`,
              );
              resolve({ runDir, result });
            });
          });
        },
        close: () => {
          void this.active?.stop();
        },
        handleInput: (data) => {
          if (data === '\x03') {
            writeEmitter.fire('^C\r\n');
            void this.active?.stop();
          }
        },
      };
      const terminal = vscode.window.createTerminal({
        name: 'CommLens: external command',
        pty,
        iconPath: new vscode.ThemeIcon('pulse'),
      });
      terminal.show(true);
    });
  }
}

/** The environment of an external job: this one, with COMMLENS_APPLY naming `apply` (or removed, for a plain run). */
export function applyEnv(apply: TorchApply | undefined, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env = { ...base };
  if (apply) env[APPLY_ENV] = JSON.stringify(apply);
  else delete env[APPLY_ENV];
  return env;
}
