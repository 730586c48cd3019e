/**
 * Hosts the trace webview: as a panel (Open Trace, after a run), as the custom editor for
 * trace files, and restored after a reload (WebviewPanelSerializer). The webview keeps
 * its own view state with getState/setState; this side only needs to know which files
 * a panel shows, kept in the panel's state and, as a fallback, by panel title.
 *
 * Strict CSP, scripts by nonce, only dist/webview as a local resource root; no
 * retainContextWhenHidden (the webview asks again with 'ready' when it is re-created).
 */
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { backend, jobName, jobProgressMessage, traceTitle } from './traceService';
import { openTrace, type RemoteTrace } from './traceHost';
import type { HostToWebview, VerificationView, WebviewToHost } from '../webview/protocol';
import { isMessageId, isSuggestionId, locationTarget, viewRequestOf } from './webviewGuard';

export const TRACE_PANEL_VIEW_TYPE = 'commlens.trace';
export const TRACE_EDITOR_VIEW_TYPE = 'commlens.traceEditor';
const SOURCES_KEY = 'commlens.panelSources';

/** What the webview needs to answer for the host when the user acts on a suggestion. */
export interface PanelActions {
  /** Re-runs the job of `source` with the suggestion applied; `tracePath` (or, for a PyTorch job, `traceFiles`) is the re-run's trace. */
  applySuggestion(
    source: string[],
    suggestionId: string,
    status: (message: string, busy: boolean) => void,
  ): Promise<{
    ok: boolean;
    message?: string;
    tracePath?: string;
    traceFiles?: string[];
    /** verify's judgement of the re-run (its comparison.json), for the Compare pane. */
    verification?: VerificationView;
  }>;
  /** True when `source` is an imported job CommLens can re-run (an external run's traces): its suggestions get "Apply & re-run". */
  canRerunImported?(source: string[]): boolean;
}

export class TracePanels implements vscode.WebviewPanelSerializer, vscode.CustomReadonlyEditorProvider {
  private readonly open = new Set<vscode.WebviewPanel>();

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly output: vscode.OutputChannel,
    private readonly actions: PanelActions,
  ) {}

  register(): vscode.Disposable[] {
    return [
      vscode.window.registerWebviewPanelSerializer(TRACE_PANEL_VIEW_TYPE, this),
      vscode.window.registerCustomEditorProvider(TRACE_EDITOR_VIEW_TYPE, this, {
        supportsMultipleEditorsPerDocument: true,
      }),
    ];
  }

  /** Opens a panel showing one trace file, or several per-rank files as one job. */
  show(files: string[], column: vscode.ViewColumn = vscode.ViewColumn.Active): vscode.WebviewPanel {
    const title =
      files.length === 1
        ? `CommLens: ${path.basename(path.dirname(files[0]))}/${path.basename(files[0])}`
        : `CommLens: ${jobName(path.dirname(files[0]))} (${files.length} ranks)`;
    const panel = vscode.window.createWebviewPanel(TRACE_PANEL_VIEW_TYPE, title, column, this.webviewOptions());
    this.attach(panel, files);
    return panel;
  }

  /** The panels currently open (for tests and for Compare). */
  get panelCount(): number {
    return this.open.size;
  }

  // WebviewPanelSerializer
  async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: unknown): Promise<void> {
    const fromState = (state as { source?: unknown } | undefined)?.source;
    const byTitle = this.context.workspaceState.get<Record<string, string[]>>(SOURCES_KEY, {})[panel.title];
    const files =
      Array.isArray(fromState) && fromState.every((f) => typeof f === 'string') ? (fromState as string[]) : byTitle;
    panel.webview.options = this.webviewOptions();
    if (!files) {
      panel.webview.html = this.messageHtml(
        panel.webview,
        'Nothing to restore',
        'This CommLens panel was open before the window reloaded, but which trace it showed was not kept. Open the trace again.',
      );
      return;
    }
    this.attach(panel, files);
  }

  // CustomReadonlyEditorProvider
  openCustomDocument(uri: vscode.Uri): vscode.CustomDocument {
    return { uri, dispose: () => undefined };
  }

  resolveCustomEditor(document: vscode.CustomDocument, panel: vscode.WebviewPanel): void {
    panel.webview.options = this.webviewOptions();
    this.attach(panel, [document.uri.fsPath], false);
  }

  private webviewOptions(): vscode.WebviewOptions & vscode.WebviewPanelOptions {
    return {
      enableScripts: true,
      enableFindWidget: true,
      localResourceRoots: [vscode.Uri.joinPath(this.context.extensionUri, 'dist', 'webview')],
    };
  }

  private attach(panel: vscode.WebviewPanel, files: string[], remember = true): void {
    this.open.add(panel);
    if (remember) {
      const map = {
        ...this.context.workspaceState.get<Record<string, string[]>>(SOURCES_KEY, {}),
        [panel.title]: files,
      };
      // Keep the map small: only panels that can still be restored matter.
      const entries = Object.entries(map).slice(-50);
      void this.context.workspaceState.update(SOURCES_KEY, Object.fromEntries(entries));
    }
    panel.iconPath = vscode.Uri.joinPath(this.context.extensionUri, 'media', 'commlens.svg');
    panel.webview.html = this.pageHtml(panel.webview);
    // Load while the view starts. A trace that cannot be read replaces the page with one
    // that says which file and why (the parser's message carries the offset), so the
    // user never looks at an empty timeline.
    // Loading and analysis run in a worker thread of their own (extension/traceHost.ts).
    const post = (m: HostToWebview, transfer?: ArrayBuffer) => {
      // Transfer the trace buffer instead of copying it where the API allows it.
      void (transfer
        ? (panel.webview.postMessage as (m: unknown, t?: unknown[]) => Thenable<boolean>)(m, [transfer])
        : panel.webview.postMessage(m));
    };
    // A job read for the first time takes a while (about a minute for 4 GB of JSON): the page
    // says how far the reading has got.
    const loaded: Promise<RemoteTrace> = openTrace(files, traceTitle(files), {
      onProgress: (p) => {
        if (this.open.has(panel)) post({ type: 'status', message: jobProgressMessage(p), busy: false });
      },
    });
    void loaded.then((t) => {
      if (t.ok || !this.open.has(panel)) return;
      this.output.appendLine(`[commlens] ${t.message}`);
      panel.webview.html = this.messageHtml(panel.webview, `CommLens cannot show ${t.title}`, t.message);
    });
    const sub = panel.webview.onDidReceiveMessage(async (raw: WebviewToHost) => {
      switch (raw?.type) {
        case 'ready': {
          const t = await loaded;
          if (!t.ok) return; // the error page replaces the view
          const data = await this.encode(t, post);
          if (!data) return;
          post({ type: 'trace', title: t.title, data }, data);
          if (t.analysisError)
            post({
              type: 'error',
              title: t.title,
              message: `The trace opened, but its analysis failed: ${t.analysisError}`,
            });
          else if (t.analysis)
            post({
              type: 'analysis',
              analysis:
                t.analysis.imported && this.actions.canRerunImported?.(files)
                  ? { ...t.analysis, externalRun: true }
                  : t.analysis,
            });
          for (const w of t.warnings.slice(0, 20)) this.output.appendLine(`[commlens] ${t.title}: ${w}`);
          break;
        }
        case 'requestRange': {
          // A window of a trace sent with short slices left out, at the detail asked for.
          const t = await loaded;
          if (!t.ok) {
            post({ type: 'reply', replyTo: raw.id, ok: false, message: t.message });
            return;
          }
          try {
            const data = await t.encode({ window: { startNs: raw.startNs, endNs: raw.endNs }, minDurNs: raw.minDurNs });
            post({ type: 'traceRange', replyTo: raw.id, data }, data);
          } catch (e) {
            post({ type: 'reply', replyTo: raw.id, ok: false, message: (e as Error).message });
          }
          break;
        }
        case 'requestView':
        case 'search': {
          // Step 10/11: a windowed trace answers from the worker's level-of-detail index.
          if (!isMessageId(raw.id)) return;
          const t = await loaded;
          const fail = (message: string) => post({ type: 'reply', replyTo: raw.id, ok: false, message });
          if (!t.ok) return fail(t.message);
          try {
            if (raw.type === 'search') {
              if (typeof raw.query !== 'string' || raw.query.length > 1000)
                return fail('search: expected a query of at most 1000 characters');
              post({ type: 'searchResult', replyTo: raw.id, ...(await t.search(raw.query)) });
              return;
            }
            const v = viewRequestOf(raw as unknown as Record<string, unknown>);
            if (!v.ok) return fail(v.message);
            const data = await t.view(v.request);
            post({ type: 'traceView', replyTo: raw.id, data }, data);
          } catch (e) {
            fail((e as Error).message);
          }
          break;
        }
        case 'applySuggestion': {
          if (!isMessageId(raw.id)) return;
          if (!isSuggestionId(raw.suggestionId)) {
            post({ type: 'reply', replyTo: raw.id, ok: false, message: 'applySuggestion: expected a suggestion id' });
            return;
          }
          const status = (message: string, busy: boolean) => post({ type: 'status', message, busy });
          const r = await this.actions.applySuggestion(files, raw.suggestionId, status).catch((e: Error) => ({
            ok: false,
            message: e.message,
            tracePath: undefined,
            traceFiles: undefined,
            verification: undefined,
          }));
          const rerunFiles = r.traceFiles ?? (r.tracePath ? [r.tracePath] : []);
          if (r.ok && rerunFiles.length > 0) {
            // The re-run opens in this panel as the comparison; the loaded trace is the baseline.
            const other = await openTrace(rerunFiles, traceTitle(rerunFiles));
            const data = other.ok ? await this.encode(other, post) : undefined;
            // The comparison is sent whole: its worker is not needed after this.
            other.dispose();
            const title = `${jobName(path.dirname(rerunFiles[0]))} (${raw.suggestionId})`;
            // The toolbar keeps the last status line: end the re-run's progress with its verdict.
            status(
              r.message ? `${raw.suggestionId}: ${r.message}` : `Re-run with ${raw.suggestionId} finished.`,
              false,
            );
            if (other.ok && data)
              post(
                {
                  type: 'comparison',
                  suggestionId: raw.suggestionId,
                  title,
                  data,
                  analysis: other.analysis ?? { ranks: [], suggestions: [] },
                  ...(r.verification ? { verification: r.verification } : {}),
                },
                data,
              );
            else if (!other.ok) status(other.message, false);
          }
          post({ type: 'reply', replyTo: raw.id, ok: r.ok, message: r.message });
          break;
        }
        case 'openLocation': {
          if (!isMessageId(raw.id)) return;
          // Only files inside the workspace or the trace's own folder (the run folder).
          const roots = [
            ...(vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath),
            ...files.map((f) => path.dirname(f)),
          ];
          const where = locationTarget(raw.path, path.dirname(files[0]), roots);
          if (where.ok)
            void vscode.window.showTextDocument(vscode.Uri.file(where.path), {
              preview: true,
              viewColumn: vscode.ViewColumn.Beside,
            });
          post({ type: 'reply', replyTo: raw.id, ok: where.ok, message: where.ok ? undefined : where.message });
          break;
        }
        case 'log':
          this.output.appendLine(`[webview ${raw.level}] ${raw.message}`);
          break;
        case 'viewSync':
          // "Link views": the other trace views show the same window from their own origin.
          for (const other of this.open)
            if (other !== panel)
              void other.webview.postMessage({
                type: 'syncView',
                startNs: raw.startNs,
                endNs: raw.endNs,
                originLabel: raw.originLabel,
              } satisfies HostToWebview);
          break;
      }
    });
    panel.onDidDispose(() => {
      sub.dispose();
      this.open.delete(panel);
      // Ends the trace's worker and frees its memory.
      void loaded.then((t) => t.dispose());
    });
  }

  /**
   * The transfer encoding of a loaded trace: the whole trace, or above WINDOWED_ABOVE_SLICES
   * the overview of the worker's level-of-detail index (the webview then asks for views).
   */
  private async encode(t: RemoteTrace, post: (m: HostToWebview) => void): Promise<ArrayBuffer | undefined> {
    try {
      return await t.encodeWhole();
    } catch (e) {
      post({ type: 'error', title: t.title, message: `Cannot send the trace to the view: ${(e as Error).message}` });
      return undefined;
    }
  }

  private pageHtml(webview: vscode.Webview): string {
    const root = vscode.Uri.joinPath(this.context.extensionUri, 'dist', 'webview');
    const nonce = randomBytes(16).toString('base64');
    try {
      return backend.renderWebviewHtml({
        title: 'CommLens trace',
        scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(root, 'main.js')).toString(),
        styleUri: webview.asWebviewUri(vscode.Uri.joinPath(root, 'main.css')).toString(),
        cspSource: webview.cspSource,
        nonce,
      });
    } catch (e) {
      this.output.appendLine(`[commlens] ${(e as Error).message}`);
      return this.messageHtml(webview, 'The trace view is missing', (e as Error).message);
    }
  }

  /** A page with one message and no script at all (used when the view itself cannot load). */
  private messageHtml(webview: vscode.Webview, title: string, message: string): string {
    const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    return `<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${webview.cspSource} 'unsafe-inline';">
<meta name="viewport" content="width=device-width, initial-scale=1.0"><title>${esc(title)}</title></head>
<body style="font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 1em">
<h2 role="alert">${esc(title)}</h2><p style="white-space: pre-wrap">${esc(message)}</p></body></html>`;
  }
}
