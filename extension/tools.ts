/**
 * The commands around the runs: open and import traces, compare runs, the collective
 * benchmark, the environment report, and the runs view's item actions. Opening and
 * analysing traces needs no workspace trust; anything that runs code does.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import * as vscode from 'vscode';
import { compareMarkdown } from './compare';
import { environmentMarkdown } from './environmentReport';
import { findTraceFiles } from './externalJob';
import type { RunController } from './runController';
import type { TracePanels } from './tracePanel';
import { listRuns, type RunInfo } from './runsStore';
import { cliPath, runsFolder, runtimeEnv } from './settings';
import { requireTrust } from './profile';

const TRACE_FILTERS = { Traces: ['pftrace', 'perfetto-trace', 'json', 'gz'], 'All files': ['*'] };

export class Tools {
  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly runs: RunController,
    private readonly panels: TracePanels,
    private readonly output: vscode.OutputChannel,
  ) {}

  /** "Open Trace…": one file, or several per-rank files of one job. */
  async openTrace(uri?: vscode.Uri, uris?: vscode.Uri[]): Promise<void> {
    let files = (uris && uris.length > 0 ? uris : uri ? [uri] : []).map((u) => u.fsPath);
    if (files.length === 0) {
      const picked = await vscode.window.showOpenDialog({
        title: 'CommLens: Open Trace',
        canSelectMany: true,
        filters: TRACE_FILTERS,
        defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
      });
      files = picked?.map((u) => u.fsPath) ?? [];
    }
    if (files.length === 0) return;
    const dir = files.find((f) => fs.existsSync(f) && fs.statSync(f).isDirectory());
    if (dir) return this.importFolder(vscode.Uri.file(dir));
    this.panels.show(files);
  }

  /** "Import PyTorch Profiler Traces…": every per-rank trace of a folder as one job. */
  async importFolder(uri?: vscode.Uri): Promise<void> {
    let dir = uri?.fsPath;
    if (!dir) {
      const picked = await vscode.window.showOpenDialog({
        title: 'CommLens: a folder of per-rank PyTorch profiler traces',
        canSelectFiles: false,
        canSelectFolders: true,
        canSelectMany: false,
        defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
      });
      dir = picked?.[0]?.fsPath;
    }
    if (!dir) return;
    const files = findTraceFiles(dir);
    if (files.length === 0) {
      void vscode.window.showErrorMessage(
        `No PyTorch profiler traces (*.json, *.json.gz) in ${dir}. Point CommLens at the folder torch.profiler wrote, one file per rank.`,
      );
      return;
    }
    this.panels.show(files);
  }

  /** Opens a run's trace (one file for CommLens runs, per-rank files for PyTorch jobs). */
  openRun(run: RunInfo, column?: vscode.ViewColumn): void {
    const files = run.traceFiles && run.traceFiles.length > 0 ? run.traceFiles : run.tracePath ? [run.tracePath] : [];
    if (files.length === 0) {
      void vscode.window.showWarningMessage(
        `${run.runId} has no trace (${run.status}${run.record?.message ? `: ${run.record.message}` : ''}).`,
      );
      return;
    }
    this.panels.show(files, column);
  }

  /** "Compare Runs…": a table of the chosen runs, with their traces beside it on request. */
  async compareRuns(first?: RunInfo): Promise<void> {
    const all = listRuns(runsFolder(this.context));
    const pool = first ? all.filter((r) => r.runDir !== first.runDir) : all;
    if (pool.length < (first ? 1 : 2)) {
      void vscode.window.showInformationMessage('Comparing needs at least two runs in the runs folder.');
      return;
    }
    const picks = await vscode.window.showQuickPick(
      pool.map((r) => ({
        label: r.runId,
        description: [r.status, r.link].filter(Boolean).join(' · '),
        detail: r.topSuggestion,
        run: r,
      })),
      {
        title: first ? `Compare ${first.runId} with…` : 'CommLens: pick two or more runs to compare',
        canPickMany: true,
      },
    );
    if (!picks) return;
    const chosen = [...(first ? [first] : []), ...picks.map((p) => p.run)];
    if (chosen.length < 2) {
      void vscode.window.showInformationMessage('Pick at least two runs to compare.');
      return;
    }
    await this.showReport(`compare-${Date.now()}.md`, compareMarkdown(chosen));
    const pick = await vscode.window.showInformationMessage(
      `Compared ${chosen.length} runs.`,
      'Open Traces Side by Side',
    );
    if (pick) chosen.slice(0, 3).forEach((r, i) => this.openRun(r, vscode.ViewColumn.One + i + (i > 0 ? 0 : 0)));
  }

  /** "Run Collective Benchmark": the runtime's collectives over the emulated links. */
  async benchCollectives(): Promise<void> {
    if (!requireTrust()) return;
    this.output.show(true);
    const result = await this.runs.run({ title: 'collective benchmark', args: ['bench-collectives', '--events'] });
    if (!result) return;
    const o = result.outcome;
    if (o.kind === 'done' && !o.cancelled) {
      const file = [o.done.summaryPath, o.done.tracePath].find((f) => f && fs.existsSync(f));
      if (file) {
        if (/\.json$/i.test(file)) await vscode.window.showTextDocument(vscode.Uri.file(file), { preview: true });
        else this.panels.show([file]);
      }
      void vscode.window.showInformationMessage(
        'Collective benchmark finished; the figures are in the CommLens output.',
      );
    } else await this.runs.report(result, 'The collective benchmark');
  }

  /** "Show Environment": `commlens doctor --json` plus what the extension itself uses. */
  async showEnvironment(): Promise<void> {
    const cli = cliPath(this.context);
    const doctor = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [cli, 'doctor', '--json'],
        { env: runtimeEnv(), timeout: 60_000, maxBuffer: 4 << 20 },
        (err, stdout, stderr) => {
          const code = err
            ? (((err as NodeJS.ErrnoException & { code?: unknown }).code as number | undefined) ?? 1)
            : 0;
          resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
        },
      );
    });
    const md = environmentMarkdown(
      [
        `extension: ${this.context.extension.packageJSON.version as string} at \`${this.context.extensionPath}\``,
        `editor: ${vscode.env.appName} ${vscode.version} (${vscode.env.appHost}), Node ${process.versions.node} (${process.platform}-${process.arch})`,
        `runtime CLI: \`${cli}\`${fs.existsSync(cli) ? '' : ' (missing: rebuild the extension)'}`,
        `runs folder: \`${runsFolder(this.context)}\``,
        `workspace trusted: ${vscode.workspace.isTrusted ? 'yes' : 'no (profiling is off; traces still open)'}`,
      ],
      doctor,
    );
    this.output.appendLine(md);
    await this.showReport('environment.md', md);
  }

  /**
   * Shows a generated Markdown report, rendered. It is written to the extension's storage and
   * opened as a file, so closing it never asks to save an untitled document.
   */
  private async showReport(name: string, markdown: string): Promise<void> {
    const dir = path.join(this.context.globalStorageUri.fsPath, 'reports');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, name);
    fs.writeFileSync(file, markdown);
    // Rendered (VS Code's built-in Markdown preview), not the raw text; the text if there is no preview.
    try {
      await vscode.commands.executeCommand('markdown.showPreview', vscode.Uri.file(file));
    } catch {
      await vscode.window.showTextDocument(vscode.Uri.file(file), { preview: true });
    }
  }

  async revealRun(run: RunInfo): Promise<void> {
    const uri = vscode.Uri.file(run.runDir);
    const inWorkspace = vscode.workspace.getWorkspaceFolder(uri) !== undefined;
    await vscode.commands.executeCommand(inWorkspace ? 'revealInExplorer' : 'revealFileInOS', uri);
  }

  async deleteRun(run: RunInfo): Promise<boolean> {
    if (run.status === 'running') {
      void vscode.window.showWarningMessage('Cancel the run before deleting it.');
      return false;
    }
    const ok = await vscode.window.showWarningMessage(
      `Delete run ${run.runId} and everything in ${path.basename(run.runDir)}?`,
      { modal: true },
      'Delete',
    );
    if (ok !== 'Delete') return false;
    fs.rmSync(run.runDir, { recursive: true, force: true });
    return true;
  }
}
