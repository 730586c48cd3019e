/**
 * The profiling workflows: pick a preset or a config, check the config, run it, open the
 * trace; apply a suggestion (verify it by re-running with the change); re-run a run.
 * Profiling runs code and configs from the workspace, so every entry point here asks
 * for workspace trust first.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { checkConfigText, positionOf, type SchemaNode } from './configCheck';
import { traceOf, type RunController, type JobResult } from './runController';
import { describeCrash } from './runtimeProcess';
import type { TracePanels } from './tracePanel';
import { isInside, listRuns, readValidRunRecord, type RunInfo, type RunRecord } from './runsStore';
import { isSuggestionId } from './webviewGuard';
import { verificationViewOf } from './analysisView';
import type { VerificationView } from '../webview/protocol';
import { confirmExternalRerun } from './externalVerify';
import { defaultPreset, linkProfile, presets, readSchema, runsFolder } from './settings';

export const UNTRUSTED_MESSAGE =
  'CommLens does not profile in an untrusted workspace: a run executes training code and configs from the workspace. Trust the workspace to profile; opening and analysing traces works without it.';

/** True when the workspace is trusted; otherwise explains why profiling is off. */
export function requireTrust(): boolean {
  if (vscode.workspace.isTrusted) return true;
  void vscode.window.showWarningMessage(UNTRUSTED_MESSAGE, 'Manage Workspace Trust').then((pick) => {
    if (pick) void vscode.commands.executeCommand('workbench.trust.manage');
  });
  return false;
}

export class Profiler {
  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly runs: RunController,
    private readonly panels: TracePanels,
    private readonly diagnostics: vscode.DiagnosticCollection,
  ) {}

  /** "Profile Training Run": a quick pick of presets, plus editing a run config. */
  async pickAndProfile(): Promise<void> {
    if (!requireTrust()) return;
    const def = defaultPreset();
    const list = presets(this.context);
    list.sort((a, b) => (a.name === def ? -1 : b.name === def ? 1 : 0));
    type Item = vscode.QuickPickItem & { preset?: string; edit?: boolean };
    const items: Item[] = list.map((p) => ({
      label: p.name,
      description: p.name === def ? 'default' : undefined,
      detail: p.description,
      preset: p.name,
    }));
    items.push(
      { label: '', kind: vscode.QuickPickItemKind.Separator },
      {
        label: '$(edit) Edit run config…',
        detail: 'Open commlens.json (created from the default preset when missing) with completion and checks',
        edit: true,
      },
    );
    const pick = await vscode.window.showQuickPick(items, {
      title: 'CommLens: Profile Training Run',
      placeHolder: 'Choose a preset to run',
      matchOnDetail: true,
    });
    if (!pick) return;
    if (pick.edit) return this.editConfig();
    await this.profile({ preset: pick.preset! });
  }

  /** Opens the workspace's commlens.json, creating it from the default preset when missing. */
  async editConfig(): Promise<void> {
    const ws = vscode.workspace.workspaceFolders?.[0];
    if (!ws) {
      void vscode.window.showWarningMessage(
        'Open a folder first: the run config (commlens.json) lives in the workspace.',
      );
      return;
    }
    const file = path.join(ws.uri.fsPath, 'commlens.json');
    if (!fs.existsSync(file))
      fs.writeFileSync(file, `{\n  "preset": ${JSON.stringify(defaultPreset())},\n  "steps": 20\n}\n`);
    await vscode.window.showTextDocument(vscode.Uri.file(file));
  }

  /** "Profile with Config File…": the given file, the active commlens*.json, or one picked. */
  async profileWithConfig(uri?: vscode.Uri): Promise<void> {
    if (!requireTrust()) return;
    let file = uri?.fsPath;
    const active = vscode.window.activeTextEditor?.document;
    if (!file && active && /\.json$/i.test(active.fileName) && /commlens/i.test(path.basename(active.fileName)))
      file = active.fileName;
    if (!file) {
      const picked = await vscode.window.showOpenDialog({
        title: 'CommLens: run config',
        canSelectMany: false,
        filters: { 'CommLens run config': ['json'] },
        defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
      });
      file = picked?.[0]?.fsPath;
    }
    if (!file) return;
    const doc = vscode.workspace.textDocuments.find((d) => d.fileName === file);
    if (doc?.isDirty) await doc.save();
    await this.profile({ configPath: file });
  }

  /**
   * Checks the config file against the schema. Problems go to the Problems view and the
   * run is refused with a message saying so.
   */
  checkConfig(configPath: string): { ok: true; config: Record<string, unknown> } | { ok: false } {
    let text: string;
    try {
      text = fs.readFileSync(configPath, 'utf8');
    } catch (e) {
      void vscode.window.showErrorMessage(
        `Cannot read the run config ${configPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
      return { ok: false };
    }
    const problems = checkConfigText(text, readSchema(this.context) as SchemaNode);
    const uri = vscode.Uri.file(configPath);
    if (problems.length === 0) {
      this.diagnostics.delete(uri);
      return { ok: true, config: JSON.parse(text.replace(/^\uFEFF/, '')) as Record<string, unknown> };
    }
    this.diagnostics.set(
      uri,
      problems.map((p) => {
        const a = positionOf(text, p.offset);
        const b = positionOf(text, p.offset + p.length);
        const d = new vscode.Diagnostic(
          new vscode.Range(a.line, a.character, b.line, b.character),
          p.message,
          vscode.DiagnosticSeverity.Error,
        );
        d.source = 'commlens';
        return d;
      }),
    );
    void vscode.window
      .showErrorMessage(
        `${path.basename(configPath)} has ${problems.length} problem(s), so the run was not started: ${problems[0].message}${problems.length > 1 ? ' …' : ''}`,
        'Show Problems',
      )
      .then((pick) => {
        if (pick) void vscode.commands.executeCommand('workbench.actions.view.problems');
      });
    return { ok: false };
  }

  /** Runs a preset or a config file and opens its trace. */
  async profile(opts: { preset?: string; configPath?: string }): Promise<JobResult | undefined> {
    if (!requireTrust()) return undefined;
    const link = linkProfile();
    let args: string[];
    let source: RunRecord['source'];
    if (opts.configPath) {
      const checked = this.checkConfig(opts.configPath);
      if (!checked.ok) return undefined;
      source = {
        kind: 'config',
        configPath: opts.configPath,
        preset: typeof checked.config.preset === 'string' ? checked.config.preset : undefined,
      };
      args = ['profile', '--events', '--config', opts.configPath];
      // The link setting applies where the config does not choose a link itself.
      if (link && checked.config.link === undefined) args.push('--link', link);
    } else {
      const preset = opts.preset ?? defaultPreset();
      source = { kind: 'preset', preset };
      args = ['profile', '--events', '--preset', preset, ...(link ? ['--link', link] : [])];
    }
    const title = opts.configPath
      ? `profiling ${path.basename(opts.configPath)}`
      : `profiling preset ${(source as { preset: string }).preset}`;
    const result = await this.runs.run({ title, args, source, configPath: opts.configPath });
    if (result) await this.afterRun(result, 'The run');
    return result;
  }

  private async afterRun(result: JobResult, what: string): Promise<void> {
    const action = await this.runs.report(result, what);
    const trace = traceOf(result);
    if ((action === 'open' || action === 'openPartial') && trace) this.panels.show([trace]);
  }

  /**
   * Applies a suggestion: `commlens verify <runDir> <suggestionId>` re-runs the job with
   * the change and writes predicted against measured (comparison.json). From the palette
   * the new trace opens beside the old one; from a trace panel, `status` mirrors the
   * progress there and the panel shows the comparison itself.
   */
  async applySuggestion(
    runDir: string,
    suggestionId: string,
    opts: { status?: (message: string, busy: boolean) => void; openBeside?: boolean } = {},
  ): Promise<{ ok: boolean; message?: string; tracePath?: string; verification?: VerificationView }> {
    if (!vscode.workspace.isTrusted) {
      requireTrust();
      return { ok: false, message: UNTRUSTED_MESSAGE };
    }
    opts.status?.(`Re-running with ${suggestionId}…`, true);
    let runs = 0;
    const result = await this.runs.run({
      title: `verifying suggestion ${suggestionId}`,
      args: ['verify', runDir, suggestionId, '--events'],
      source: { kind: 'verify', baseRunDir: runDir, suggestionId },
      onEvent: (ev) => {
        // verify runs the baseline again beside the change, in rounds: say which run this is.
        if (ev.kind === 'start')
          opts.status?.(`Re-running with ${suggestionId}: run ${++runs} (${ev.strategy}, ${ev.steps} steps)`, true);
        else if (ev.kind === 'step')
          opts.status?.(
            `Re-running with ${suggestionId}: step ${ev.step}/${ev.steps}, loss ${ev.loss.toPrecision(4)}`,
            true,
          );
        else if (ev.kind === 'progress') opts.status?.(`Re-running with ${suggestionId}: ${ev.message}`, true);
      },
    });
    if (!result) return { ok: false, message: 'not started: another run is in progress' };
    const o = result.outcome;
    if (o.kind !== 'done' || o.cancelled) {
      // Not awaited: the notification waits for the user, the caller (a panel) must not.
      void this.runs.report(result, `Verifying ${suggestionId}`);
      return {
        ok: false,
        message: o.kind === 'error' ? o.error.message : o.kind === 'crash' ? describeCrash(o) : 'cancelled',
      };
    }
    if (opts.openBeside !== false) this.panels.show([o.done.tracePath], vscode.ViewColumn.Beside);
    const verification = verificationView(o.done.runDir);
    const verdict = verification?.text;
    if (verdict) {
      void vscode.window.showInformationMessage(`${suggestionId}: ${verdict}`, 'Open Comparison').then((pick) => {
        if (pick)
          void vscode.window.showTextDocument(vscode.Uri.file(path.join(o.done.runDir, 'comparison.json')), {
            viewColumn: vscode.ViewColumn.Beside,
          });
      });
    }
    return { ok: true, message: verdict, tracePath: o.done.tracePath, ...(verification ? { verification } : {}) };
  }

  /** The command palette form: pick a run, then one of its suggestions. */
  async applySuggestionInteractive(run?: RunInfo): Promise<void> {
    if (!requireTrust()) return;
    const candidates = run ? [run] : listRuns(runsFolder(this.context)).filter((r) => suggestionsOf(r).length > 0);
    if (candidates.length === 0) {
      void vscode.window.showInformationMessage('No run with suggestions yet. Profile a training run first.');
      return;
    }
    const chosenRun =
      candidates.length === 1
        ? candidates[0]
        : (
            await vscode.window.showQuickPick(
              candidates.map((r) => ({ label: r.runId, description: r.topSuggestion, run: r })),
              { title: 'Apply a suggestion of which run?' },
            )
          )?.run;
    if (!chosenRun) return;
    const sugg = suggestionsOf(chosenRun);
    const pick = await vscode.window.showQuickPick(
      sugg.map((s) => ({ label: s.title, description: s.id, detail: s.detail, id: s.id })),
      { title: 'Apply which suggestion and re-run?' },
    );
    if (pick) await this.applySuggestion(chosenRun.runDir, pick.id);
  }

  /** Re-runs a run the way it was started. */
  async rerun(run: RunInfo): Promise<void> {
    if (!requireTrust()) return;
    const { record, problems } = readValidRunRecord(run.runDir);
    const s = record?.source;
    if (!s) {
      void vscode.window.showWarningMessage(
        problems.length
          ? `${run.runId} cannot be re-run: its record (commlens-run.json) is not valid: ${problems.join('; ')}`
          : `${run.runId} has no record of how it was started, so it cannot be re-run.`,
      );
      return;
    }
    switch (s.kind) {
      case 'preset':
        await this.profile({ preset: s.preset });
        return;
      case 'config': {
        // Paths from the record are data: the config must be a file of the workspace.
        const inWorkspace = (vscode.workspace.workspaceFolders ?? []).some((f) => isInside(f.uri.fsPath, s.configPath));
        if (!inWorkspace || !isRegularFile(s.configPath)) {
          void vscode.window.showWarningMessage(
            `${run.runId} cannot be re-run: its record names the config ${s.configPath}, which is not a file in this workspace.`,
          );
          return;
        }
        await this.profile({ configPath: s.configPath });
        return;
      }
      case 'verify': {
        // The base run must be another run of the same runs folder.
        const runsDir = path.dirname(run.runDir);
        if (
          !isInside(runsDir, s.baseRunDir) ||
          path.dirname(path.resolve(s.baseRunDir)) !== path.resolve(runsDir) ||
          !isSuggestionId(s.suggestionId)
        ) {
          void vscode.window.showWarningMessage(
            `${run.runId} cannot be re-run: its record names the base run ${s.baseRunDir}, which is not a run of ${runsDir}.`,
          );
          return;
        }
        await this.applySuggestion(s.baseRunDir, s.suggestionId);
        return;
      }
      case 'external': {
        // The command comes from a file in the workspace: show it whole and ask first.
        if (!(await confirmExternalRerun(this.context, run.runId, run.runDir, s.command, s.cwd))) return;
        await vscode.commands.executeCommand('commlens.profileExternal', s.command, s.cwd);
        return;
      }
    }
  }
}

/** The suggestions listed in a run's summary (id, title, one-line detail). */
export function suggestionsOf(run: RunInfo | undefined): { id: string; title: string; detail?: string }[] {
  const s = run?.summary;
  const list = (s?.suggestions ?? (s?.analysis as Record<string, unknown> | undefined)?.suggestions) as unknown;
  if (!Array.isArray(list)) return [];
  return list
    .filter(
      (x): x is Record<string, unknown> =>
        typeof x === 'object' && x !== null && typeof (x as Record<string, unknown>).id === 'string',
    )
    .map((x) => {
      const evidence = (x.evidence as { text?: unknown } | undefined)?.text;
      return {
        id: x.id as string,
        title: typeof x.title === 'string' ? x.title : (x.id as string),
        detail: typeof evidence === 'string' ? evidence : undefined,
      };
    });
}

/**
 * The comparison.json a verify run writes, as the toolbar, the notification and the Compare pane
 * show it: the verdict line (analysis/verify.ts comparisonText, as the CLI prints it, and the
 * baseline's drift clause) and the figures behind it, each taken from the file as written (a
 * field of the wrong type is left out).
 */
export function verificationView(runDir: string): VerificationView | undefined {
  let c: unknown;
  try {
    c = JSON.parse(fs.readFileSync(path.join(runDir, 'comparison.json'), 'utf8'));
  } catch {
    return undefined;
  }
  return verificationViewOf(c);
}

function isRegularFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}
