/**
 * The runs folder: one sub-folder per run, as the runtime writes it (trace.pftrace,
 * summary.json) plus the extension's own record of the run (commlens-run.json: status,
 * how it was started, the error if it failed). Pure Node, no `vscode`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { figuresOfSummary, type RunRecord as SummaryRecord } from '../analysis/verify';

export const RUN_RECORD = 'commlens-run.json';

export type RunStatus = 'running' | 'done' | 'cancelled' | 'failed' | 'crashed';

/** What the extension records about a run it started. */
export interface RunRecord {
  runId: string;
  status: RunStatus;
  /** How the run was started: a preset, a config file, an external command, a verify. */
  source: { kind: 'preset'; preset: string } | { kind: 'config'; configPath: string; preset?: string } | { kind: 'external'; command: string; cwd: string } | { kind: 'verify'; baseRunDir: string; suggestionId: string };
  startedAt: string;
  endedAt?: string;
  link?: string;
  worldSize?: number;
  steps?: number;
  tracePath?: string;
  /** Per-rank trace files (external PyTorch jobs). */
  traceFiles?: string[];
  message?: string;
}

/** One row of the runs view. */
export interface RunInfo {
  runId: string;
  runDir: string;
  status: RunStatus;
  startedAtMs: number;
  record?: RunRecord;
  /** The runtime's summary.json, when there is one (shape owned by the runtime). */
  summary?: Record<string, unknown>;
  tracePath?: string;
  traceFiles?: string[];
  stepTimeNs?: number;
  link?: string;
  topSuggestion?: string;
}

/** Makes the runs folder (and its parents) when missing; returns its absolute path. */
export function ensureRunsFolder(dir: string): string {
  const abs = path.resolve(dir);
  fs.mkdirSync(abs, { recursive: true });
  return abs;
}

function readJson(file: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export function writeRunRecord(runDir: string, record: RunRecord): void {
  fs.mkdirSync(runDir, { recursive: true });
  const tmp = path.join(runDir, `.${RUN_RECORD}.tmp`);
  fs.writeFileSync(tmp, JSON.stringify(record, null, 2));
  fs.renameSync(tmp, path.join(runDir, RUN_RECORD));
}

export function readRunRecord(runDir: string): RunRecord | undefined {
  return readJson(path.join(runDir, RUN_RECORD)) as RunRecord | undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function pick(obj: Record<string, unknown> | undefined, ...paths: string[]): unknown {
  for (const p of paths) {
    let cur: unknown = obj;
    for (const k of p.split('.')) cur = typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[k] : undefined;
    if (cur !== undefined) return cur;
  }
  return undefined;
}

/** The title of the best suggestion in a summary, whatever list it is kept in. */
function topSuggestionOf(summary: Record<string, unknown> | undefined): string | undefined {
  const list = pick(summary, 'suggestions', 'analysis.suggestions', 'advisor.suggestions');
  if (!Array.isArray(list) || list.length === 0) return undefined;
  const s = list[0] as Record<string, unknown>;
  const t = s.title ?? s.summary ?? s.id;
  return typeof t === 'string' ? t : undefined;
}

/** Reads one run folder; undefined when it holds neither a record nor a trace nor a summary. */
export function readRun(runDir: string): RunInfo | undefined {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(runDir);
  } catch {
    return undefined;
  }
  if (!stat.isDirectory()) return undefined;
  const record = readRunRecord(runDir);
  const summary = readJson(path.join(runDir, 'summary.json'));
  const defaultTrace = path.join(runDir, 'trace.pftrace');
  const tracePath = record?.tracePath ?? (fs.existsSync(defaultTrace) ? defaultTrace : undefined);
  if (!record && !summary && !tracePath) return undefined;
  const startedAtMs = record ? Date.parse(record.startedAt) : stat.mtimeMs;
  let status: RunStatus = record?.status ?? 'done';
  // A run the CLI made on its own has no record; its summary says how it ended.
  if (!record && summary && (summary.partial === true || summary.status === 'cancelled')) status = 'cancelled';
  if (!record && summary && summary.status === 'failed') status = 'failed';
  // The CLI rewrites summary.json after every step while it trains.
  if (!record && summary && summary.status === 'running') status = 'running';
  return {
    runId: record?.runId ?? path.basename(runDir),
    runDir,
    status,
    startedAtMs: Number.isFinite(startedAtMs) ? startedAtMs : stat.mtimeMs,
    record,
    summary,
    tracePath,
    traceFiles: record?.traceFiles,
    stepTimeNs: stepTimeOf(summary),
    link: (pick(summary, 'link', 'config.link') as string | undefined) ?? record?.link,
    topSuggestion: topSuggestionOf(summary),
  };
}

/**
 * The run's step time as every surface shows it (analysis/runFigures.ts via the analysis
 * stored in summary.json, steady-state steps only); other summaries' own field otherwise.
 */
function stepTimeOf(summary: Record<string, unknown> | undefined): number | undefined {
  if (summary && Array.isArray(summary.stepTimeNs)) {
    try {
      const t = figuresOfSummary(summary as unknown as SummaryRecord).stepTimeNs;
      if (Number.isFinite(t) && t > 0) return t;
    } catch {
      // a hand-edited summary: fall back to its own field
    }
  }
  return num(pick(summary, 'medianStepTimeNs', 'stepTimeNs', 'meanStepTimeNs', 'metrics.stepTimeNs', 'metrics.meanStepTimeNs'));
}

/** Every run in the folder, newest first. A missing folder has no runs. */
export function listRuns(runsDir: string): RunInfo[] {
  let names: string[];
  try {
    names = fs.readdirSync(runsDir);
  } catch {
    return [];
  }
  const runs: RunInfo[] = [];
  for (const n of names) {
    if (n.startsWith('.')) continue;
    const r = readRun(path.join(runsDir, n));
    if (r) runs.push(r);
  }
  return runs.sort((a, b) => b.startedAtMs - a.startedAtMs || b.runId.localeCompare(a.runId));
}

/**
 * Deletes the oldest finished runs so that at most `keep` remain; running ones are
 * never deleted and do not count against the limit. Returns the deleted folders.
 */
export function pruneRuns(runsDir: string, keep: number): string[] {
  const finished = listRuns(runsDir).filter((r) => r.status !== 'running');
  const doomed = finished.slice(Math.max(0, keep));
  for (const r of doomed) fs.rmSync(r.runDir, { recursive: true, force: true });
  return doomed.map((r) => r.runDir);
}


/** How the runs view names a run: its preset (and strategy), the file or command it came from, or the suggestion it verifies. */
export function sourceText(run: RunInfo): string {
  const s = run.record?.source;
  if (!s) return 'run';
  switch (s.kind) {
    case 'preset':
      return s.preset;
    case 'config': {
      // What ran (preset and strategy), then the file it came from with its folder: many projects name theirs commlens.json.
      const cfg = (run.summary?.config ?? {}) as { preset?: unknown; strategy?: unknown };
      const preset = typeof cfg.preset === 'string' ? cfg.preset : s.preset ?? 'custom';
      const strategy = typeof cfg.strategy === 'string' ? ` · ${cfg.strategy}` : '';
      const parts = s.configPath.split(/[\\/]/).filter(Boolean);
      return `${preset}${strategy} (${parts.slice(-2).join('/') || 'config'})`;
    }
    case 'external': {
      // Paths make a command long and say little: keep the file names.
      const short = s.command.split(/\s+/).map((w) => (w.includes('/') || w.includes('\\') ? w.split(/[\\/]/).pop() || w : w)).join(' ');
      return short.length > 48 ? `${short.slice(0, 47)}…` : short;
    }
    case 'verify':
      return `verify ${s.suggestionId}`;
  }
}
