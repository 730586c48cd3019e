/**
 * The CommLens view in the activity bar: the runs in the runs folder, newest first, with
 * status, step time, link profile and top suggestion; context actions open, compare,
 * re-run, reveal and delete them.
 */
import * as vscode from 'vscode';
import { listRuns, sourceText, type RunInfo, type RunStatus } from './runsStore';
import { formatDurationNs } from '../trace/format';

const STATUS_ICON: Record<RunStatus, vscode.ThemeIcon> = {
  running: new vscode.ThemeIcon('sync~spin'),
  done: new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed')),
  cancelled: new vscode.ThemeIcon('circle-slash'),
  failed: new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed')),
  crashed: new vscode.ThemeIcon('flame', new vscode.ThemeColor('testing.iconFailed')),
  interrupted: new vscode.ThemeIcon('debug-disconnect', new vscode.ThemeColor('testing.iconFailed')),
};

const INTERRUPTED_TEXT =
  'its processes ended without finishing the run (killed, or the machine restarted); the steps it finished are in its folder';

export type RunsNode =
  { kind: 'run'; run: RunInfo } | { kind: 'detail'; run: RunInfo; label: string; value: string; icon: string };

export class RunsView implements vscode.TreeDataProvider<RunsNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<RunsNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private watcher: vscode.FileSystemWatcher | undefined;
  private watchedDir: string | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly runsDir: () => string) {}

  refresh(): void {
    // File events come in bursts while a run writes its folder; refresh once.
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.changed.fire(undefined), 150);
  }

  runs(): RunInfo[] {
    const dir = this.runsDir();
    this.watch(dir);
    return listRuns(dir);
  }

  private watch(dir: string): void {
    if (this.watchedDir === dir) return;
    this.watcher?.dispose();
    this.watchedDir = dir;
    this.watcher = vscode.workspace.createFileSystemWatcher(
      new vscode.RelativePattern(vscode.Uri.file(dir), '*/{commlens-run.json,summary.json,trace.pftrace}'),
    );
    const r = () => this.refresh();
    this.watcher.onDidCreate(r);
    this.watcher.onDidChange(r);
    this.watcher.onDidDelete(r);
  }

  getChildren(node?: RunsNode): RunsNode[] {
    if (!node) return this.runs().map((run) => ({ kind: 'run', run }));
    if (node.kind !== 'run') return [];
    const r = node.run;
    const details: RunsNode[] = [
      {
        kind: 'detail',
        run: r,
        label: 'Status',
        value:
          r.status +
          (r.status === 'interrupted' ? `: ${INTERRUPTED_TEXT}` : r.record?.message ? `: ${r.record.message}` : ''),
        icon: 'info',
      },
      { kind: 'detail', run: r, label: 'Step time', value: formatDurationNs(r.stepTimeNs), icon: 'watch' },
      { kind: 'detail', run: r, label: 'Link', value: r.link ?? '–', icon: 'plug' },
    ];
    if (r.topSuggestion)
      details.push({ kind: 'detail', run: r, label: 'Top suggestion', value: r.topSuggestion, icon: 'lightbulb' });
    if (r.record?.source.kind === 'external')
      details.push({ kind: 'detail', run: r, label: 'Command', value: r.record.source.command, icon: 'terminal' });
    if (r.recordProblem)
      details.push({ kind: 'detail', run: r, label: 'Record', value: r.recordProblem, icon: 'warning' });
    return details;
  }

  getTreeItem(node: RunsNode): vscode.TreeItem {
    if (node.kind === 'detail') {
      const item = new vscode.TreeItem(`${node.label}: ${node.value}`, vscode.TreeItemCollapsibleState.None);
      item.iconPath = new vscode.ThemeIcon(node.icon);
      item.tooltip = `${node.label}: ${node.value}`;
      item.contextValue = 'detail';
      return item;
    }
    const r = node.run;
    const when = new Date(r.startedAtMs);
    // The sidebar is narrow: the time of day is enough for today's runs.
    const today = new Date().toDateString() === when.toDateString();
    const label = `${sourceText(r)} · ${today ? '' : `${when.toLocaleDateString()} `}${when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}`;
    const item = new vscode.TreeItem(label, vscode.TreeItemCollapsibleState.Collapsed);
    item.id = r.runDir;
    item.iconPath = STATUS_ICON[r.status];
    item.description = [
      r.status,
      r.stepTimeNs !== undefined ? `${formatDurationNs(r.stepTimeNs)}/step` : undefined,
      r.link,
      r.topSuggestion ? `→ ${r.topSuggestion}` : undefined,
    ]
      .filter(Boolean)
      .join(' · ');
    const md = new vscode.MarkdownString();
    md.appendMarkdown(`**${r.runId}** (${r.status}), started ${when.toLocaleString()}\n\n`);
    md.appendMarkdown(
      `- step time: ${formatDurationNs(r.stepTimeNs)}\n- link: ${r.link ?? '–'}\n- top suggestion: ${r.topSuggestion ?? '–'}\n`,
    );
    if (r.status === 'interrupted') md.appendText(`\nInterrupted: ${INTERRUPTED_TEXT}.`);
    else if (r.record?.message) md.appendText(`\n${r.record.message}`);
    // The whole command, never cut: re-running it runs exactly this.
    if (r.record?.source.kind === 'external')
      md.appendText(`\n\nCommand (in ${r.record.source.cwd}):\n${r.record.source.command}`);
    if (r.recordProblem) md.appendText(`\n\n${r.recordProblem}`);
    item.tooltip = md;
    item.contextValue = `run.${r.status}`;
    if (r.tracePath || (r.traceFiles && r.traceFiles.length > 0))
      item.command = { command: 'commlens.runs.open', title: 'Open Run', arguments: [node] };
    return item;
  }

  dispose(): void {
    this.watcher?.dispose();
    this.changed.dispose();
    if (this.timer) clearTimeout(this.timer);
  }
}
