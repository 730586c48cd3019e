/**
 * CommLens in VS Code: registers the commands, the runs view, the trace panels and the
 * custom editor. The runtime is never imported: runs are child processes of the CLI
 * that speak runtime/protocol.ts.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { RunController } from './runController';
import { TracePanels } from './tracePanel';
import { Profiler, requireTrust, UNTRUSTED_MESSAGE } from './profile';
import { verifyOnExternalRun } from './externalVerify';
import { externalRunOfTraces } from './rerunGuard';
import { Tools } from './tools';
import { RunsView, type RunsNode } from './runsView';
import { ExternalRunner } from './external';
import { readRun, type RunInfo } from './runsStore';
import { applyMaxTraceBytes, runsFolder } from './settings';

/** What the extension hands to tests and other extensions. */
export interface CommLensApi {
  runsFolder(): string;
  openTracePanelCount(): number;
}

export function activate(context: vscode.ExtensionContext): CommLensApi {
  applyMaxTraceBytes();
  const output = vscode.window.createOutputChannel('CommLens');
  const diagnostics = vscode.languages.createDiagnosticCollection('commlens');
  const runs = new RunController(context, output, diagnostics);
  const external = new ExternalRunner(context, output);
  const panels = new TracePanels(context, output, {
    applySuggestion: async (files, suggestionId, status) => {
      // An external PyTorch run: its command is re-launched with COMMLENS_APPLY (externalVerify.ts).
      const externalRun = externalRunOfTraces(files);
      if (externalRun) {
        if (!requireTrust()) return { ok: false, message: UNTRUSTED_MESSAGE };
        const r = await verifyOnExternalRun(context, external, externalRun, suggestionId, status);
        void vscode.commands.executeCommand('commlens.runs.refresh');
        return r;
      }
      // A CommLens run's trace lives in its run folder; verify re-runs that folder's job.
      const runDir = path.dirname(files[0]);
      if (!readRun(runDir)?.summary)
        return {
          ok: false,
          message:
            'This trace is not a CommLens run, so CommLens cannot re-run it: apply the suggestion to your own training job and profile it again.',
        };
      return profiler.applySuggestion(runDir, suggestionId, { status, openBeside: false });
    },
    canRerunImported: (files) => externalRunOfTraces(files) !== undefined,
  });
  const profiler: Profiler = new Profiler(context, runs, panels, diagnostics);
  const tools = new Tools(context, runs, panels, output);
  const runsView = new RunsView(() => runsFolder(context));
  const tree = vscode.window.createTreeView('commlens.runs', { treeDataProvider: runsView, showCollapseAll: true });

  const runOf = (arg: unknown): RunInfo | undefined => {
    const node = arg as RunsNode | undefined;
    if (node && (node.kind === 'run' || node.kind === 'detail')) return readRun(node.run.runDir) ?? node.run;
    return tree.selection[0]?.run;
  };
  const cmd = (id: string, f: (...args: unknown[]) => unknown) => vscode.commands.registerCommand(id, f);

  context.subscriptions.push(
    output,
    diagnostics,
    runs,
    runsView,
    tree,
    ...panels.register(),
    runs.onDidChangeRuns(() => runsView.refresh()),
    cmd('commlens.profile', (preset?: unknown) =>
      typeof preset === 'string' ? profiler.profile({ preset }) : profiler.pickAndProfile(),
    ),
    cmd('commlens.profileWithConfig', (uri?: unknown) =>
      profiler.profileWithConfig(uri instanceof vscode.Uri ? uri : undefined),
    ),
    cmd('commlens.openTrace', (uri?: unknown, uris?: unknown) =>
      tools.openTrace(
        uri instanceof vscode.Uri ? uri : undefined,
        Array.isArray(uris) ? (uris as vscode.Uri[]) : undefined,
      ),
    ),
    cmd('commlens.importPytorch', (uri?: unknown) => tools.importFolder(uri instanceof vscode.Uri ? uri : undefined)),
    cmd('commlens.profileExternal', async (command?: unknown, cwd?: unknown) => {
      if (!requireTrust()) return;
      const c = typeof command === 'string' ? command : await external.prompt();
      if (!c) return;
      runsView.refresh();
      const r = await external.run(c, typeof cwd === 'string' ? cwd : undefined);
      runsView.refresh();
      if (!r) return;
      if (r.result.traceFiles.length === 0) {
        const how = r.result.signal ? `was stopped (${r.result.signal})` : `exited with code ${r.result.exitCode}`;
        const pick = await vscode.window.showErrorMessage(
          `The command ${how} and wrote no trace into COMMLENS_TRACE_DIR. Does the training script wrap its loop with commlens_torch? (See the CommLens docs.)`,
          'Open Log',
        );
        if (pick) output.show(true);
        return;
      }
      if (r.result.exitCode !== 0)
        void vscode.window.showWarningMessage(
          `The command exited with ${r.result.signal ?? `code ${r.result.exitCode}`}; opening the ${r.result.traceFiles.length} trace(s) it wrote.`,
        );
      panels.show(r.result.traceFiles);
    }),
    cmd('commlens.compareRuns', () => tools.compareRuns()),
    cmd('commlens.applySuggestion', (arg?: unknown) => profiler.applySuggestionInteractive(runOf(arg))),
    cmd('commlens.cancelRun', async () => {
      const a = await runs.cancel();
      const b = await external.cancel();
      if (!a && !b) void vscode.window.showInformationMessage('No CommLens run is in progress.');
    }),
    cmd('commlens.benchCollectives', () => tools.benchCollectives()),
    cmd('commlens.showEnvironment', () => tools.showEnvironment()),
    cmd('commlens.runs.refresh', () => runsView.refresh()),
    cmd('commlens.runs.open', (arg?: unknown) => {
      const r = runOf(arg);
      if (r) tools.openRun(r);
    }),
    cmd('commlens.runs.compare', (arg?: unknown) => tools.compareRuns(runOf(arg))),
    cmd('commlens.runs.rerun', (arg?: unknown) => {
      const r = runOf(arg);
      if (r) return profiler.rerun(r);
    }),
    cmd('commlens.runs.reveal', (arg?: unknown) => {
      const r = runOf(arg);
      if (r) return tools.revealRun(r);
    }),
    cmd('commlens.runs.delete', async (arg?: unknown) => {
      const r = runOf(arg);
      if (r && (await tools.deleteRun(r))) runsView.refresh();
    }),
    // A run config edited after a refused run: the refusal's markers are stale.
    vscode.workspace.onDidChangeTextDocument((e) => {
      if (diagnostics.has(e.document.uri)) diagnostics.delete(e.document.uri);
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => runsView.refresh()),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('commlens.runsFolder')) runsView.refresh();
      if (e.affectsConfiguration('commlens.maxTraceBytes')) applyMaxTraceBytes();
    }),
  );
  void vscode.commands.executeCommand('setContext', 'commlens.running', false);
  return { runsFolder: () => runsFolder(context), openTracePanelCount: () => panels.panelCount };
}

export function deactivate(): void {
  // Disposables end running jobs (RunController.dispose cancels its process group).
}
