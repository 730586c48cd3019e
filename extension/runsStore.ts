/**
 * The runs folder: one sub-folder per run, as the runtime writes it (trace.pftrace,
 * summary.json) plus the extension's own record of the run (commlens-run.json: status,
 * how it was started, the error if it failed). Pure Node, no `vscode`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runLiveness, type RunProcess } from '../trace/runLiveness';
import { figuresOfSummary, type RunRecord as SummaryRecord } from '../analysis/verify';

export const RUN_RECORD = 'commlens-run.json';

/** 'interrupted': recorded as running, but every process that ran it is gone. */
export type RunStatus = 'running' | 'done' | 'cancelled' | 'failed' | 'crashed' | 'interrupted';

const RECORD_STATUSES: readonly RunStatus[] = ['running', 'done', 'cancelled', 'failed', 'crashed'];

/** What the extension records about a run it started. */
export interface RunRecord {
  runId: string;
  status: RunStatus;
  /** How the run was started: a preset, a config file, an external command, a verify. */
  source:
    | { kind: 'preset'; preset: string }
    | { kind: 'config'; configPath: string; preset?: string }
    | { kind: 'external'; command: string; cwd: string }
    | { kind: 'verify'; baseRunDir: string; suggestionId: string };
  startedAt: string;
  endedAt?: string;
  link?: string;
  worldSize?: number;
  steps?: number;
  tracePath?: string;
  /** Per-rank trace files (external PyTorch jobs). */
  traceFiles?: string[];
  message?: string;
  /** The processes running it (pid, start time), so a reader can tell an interrupted run. */
  processes?: RunProcess[];
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
  /** Why the run record (or part of it) was not used: it failed validation. */
  recordProblem?: string;
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
  return readValidRunRecord(runDir).record;
}

/** The run record of `runDir` once validated (validateRunRecord), and what was wrong with it. */
export function readValidRunRecord(runDir: string): { record?: RunRecord; problems: string[] } {
  const file = path.join(runDir, RUN_RECORD);
  if (!fs.existsSync(file)) return { problems: [] };
  const raw = readJson(file);
  if (!raw) return { problems: [`${RUN_RECORD}: not a JSON object`] };
  return validateRunRecord(raw, runDir);
}

/** True when `p` lies inside `dir` (after resolving both; `dir` itself does not count). */
export function isInside(dir: string, p: string): boolean {
  const rel = path.relative(path.resolve(dir), path.resolve(p));
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/**
 * A path a run record names, accepted only when it is a regular file inside the run's
 * folder, symbolic links resolved (a record is data from the workspace: it must not point
 * the extension at files elsewhere). Relative paths are taken from the run folder.
 */
export function runFilePath(runDir: string, p: unknown): string | undefined {
  if (typeof p !== 'string' || p.length === 0 || p.length > 4096 || p.includes('\0')) return undefined;
  const abs = path.resolve(runDir, p);
  try {
    const real = fs.realpathSync(abs);
    const realDir = fs.realpathSync(runDir);
    if (!isInside(realDir, real) || !fs.statSync(real).isFile()) return undefined;
    return abs;
  } catch {
    return undefined;
  }
}

const SOURCE_KINDS = ['preset', 'config', 'external', 'verify'] as const;
/** Every field a run record may hold (schemas/run-record.schema.json says the same). */
export const RUN_RECORD_FIELDS = [
  'runId',
  'status',
  'source',
  'startedAt',
  'endedAt',
  'link',
  'worldSize',
  'steps',
  'tracePath',
  'traceFiles',
  'message',
  'processes',
] as const;

const str = (v: unknown, max = 4096): v is string =>
  typeof v === 'string' && v.length > 0 && v.length <= max && !v.includes('\0');
const int = (v: unknown, min: number, max: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

/** An ISO time no later than a day from `now` (a record from the future would sort first for ever). */
function validTime(v: unknown, now: number): v is string {
  if (!str(v, 64)) return false;
  const t = Date.parse(v);
  return Number.isFinite(t) && t > Date.UTC(2000, 0, 1) && t <= now + 86_400_000;
}

/**
 * Checks a run record (commlens-run.json, data from the workspace) before any field is
 * used: the shape of schemas/run-record.schema.json, and every path a regular file inside
 * the run folder. A record with a bad core field (runId, status, source, startedAt) is
 * refused whole; a bad optional field is dropped. Returns the record and the problems.
 */
export function validateRunRecord(
  raw: unknown,
  runDir: string,
  now = Date.now(),
): { record?: RunRecord; problems: string[] } {
  const problems: string[] = [];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return { problems: [`${RUN_RECORD}: expected a JSON object`] };
  const r = raw as Record<string, unknown>;
  const has = (k: string): boolean => Object.hasOwn(r, k);
  for (const k of Object.keys(r))
    if (!(RUN_RECORD_FIELDS as readonly string[]).includes(k)) problems.push(`${k}: unknown field (ignored)`);
  if (!has('runId') || !str(r.runId, 200)) problems.push('runId: expected a non-empty string');
  if (!has('status') || !(RECORD_STATUSES as readonly unknown[]).includes(r.status))
    problems.push(`status: expected one of ${RECORD_STATUSES.join(', ')}`);
  if (!has('startedAt') || !validTime(r.startedAt, now))
    problems.push('startedAt: expected an ISO date and time, not in the future');
  let source: RunRecord['source'] | undefined;
  const s = has('source') ? r.source : undefined;
  if (typeof s !== 'object' || s === null || Array.isArray(s))
    problems.push(`source: expected an object with "kind" (${SOURCE_KINDS.join(', ')})`);
  else {
    const o = s as Record<string, unknown>;
    const own = (k: string): unknown => (Object.hasOwn(o, k) ? o[k] : undefined);
    switch (own('kind')) {
      case 'preset':
        if (str(own('preset'), 200)) source = { kind: 'preset', preset: own('preset') as string };
        else problems.push('source.preset: expected a preset name');
        break;
      case 'config': {
        const preset = own('preset');
        if (str(own('configPath')) && (preset === undefined || str(preset, 200)))
          source = {
            kind: 'config',
            configPath: own('configPath') as string,
            ...(preset !== undefined ? { preset: preset as string } : {}),
          };
        else problems.push('source.configPath: expected a file path');
        break;
      }
      case 'external':
        if (str(own('command'), 65_536) && str(own('cwd')) && path.isAbsolute(own('cwd') as string))
          source = { kind: 'external', command: own('command') as string, cwd: own('cwd') as string };
        else problems.push('source: an external run needs "command" (a string) and "cwd" (an absolute path)');
        break;
      case 'verify':
        if (str(own('baseRunDir')) && path.isAbsolute(own('baseRunDir') as string) && str(own('suggestionId'), 200))
          source = {
            kind: 'verify',
            baseRunDir: own('baseRunDir') as string,
            suggestionId: own('suggestionId') as string,
          };
        else problems.push('source: a verify run needs "baseRunDir" (an absolute path) and "suggestionId"');
        break;
      default:
        problems.push(`source.kind: expected one of ${SOURCE_KINDS.join(', ')}`);
    }
  }
  if (problems.some((p) => /^(runId|status|startedAt|source)/.test(p))) return { problems };
  const record: RunRecord = {
    runId: r.runId as string,
    status: r.status as RunStatus,
    source: source!,
    startedAt: r.startedAt as string,
  };
  if (has('endedAt')) {
    if (validTime(r.endedAt, now)) record.endedAt = r.endedAt as string;
    else problems.push('endedAt: expected an ISO date and time (ignored)');
  }
  if (has('link')) {
    if (str(r.link, 100)) record.link = r.link as string;
    else problems.push('link: expected a string (ignored)');
  }
  for (const k of ['worldSize', 'steps'] as const) {
    if (!has(k)) continue;
    if (int(r[k], 1, 1e9)) record[k] = r[k] as number;
    else problems.push(`${k}: expected a positive integer (ignored)`);
  }
  if (has('message')) {
    if (typeof r.message === 'string') record.message = r.message.slice(0, 2000);
    else problems.push('message: expected a string (ignored)');
  }
  if (has('tracePath')) {
    const p = runFilePath(runDir, r.tracePath);
    if (p) record.tracePath = p;
    else problems.push('tracePath: expected a regular file inside the run folder (ignored)');
  }
  if (has('traceFiles')) {
    const list = Array.isArray(r.traceFiles) ? r.traceFiles.slice(0, 4096) : undefined;
    const files = list?.map((f) => runFilePath(runDir, f));
    if (files && files.every((f): f is string => f !== undefined)) record.traceFiles = files;
    else problems.push('traceFiles: expected a list of regular files inside the run folder (ignored)');
  }
  if (has('processes')) {
    const list = Array.isArray(r.processes) ? r.processes : undefined;
    const procs = list?.filter(
      (p): p is RunProcess =>
        typeof p === 'object' &&
        p !== null &&
        int((p as RunProcess).pid, 1, 2 ** 31) &&
        ((p as RunProcess).startTime === undefined || str((p as RunProcess).startTime, 200)) &&
        ((p as RunProcess).host === undefined || str((p as RunProcess).host, 255)),
    );
    if (procs && procs.length === list!.length && procs.length <= 16)
      record.processes = procs.map((p) => ({
        pid: p.pid,
        ...(p.startTime ? { startTime: p.startTime } : {}),
        ...(p.host ? { host: p.host } : {}),
      }));
    else problems.push('processes: expected a list of { pid, startTime, host } (ignored)');
  }
  return { record, problems };
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function pick(obj: Record<string, unknown> | undefined, ...paths: string[]): unknown {
  for (const p of paths) {
    let cur: unknown = obj;
    for (const k of p.split('.'))
      cur = typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[k] : undefined;
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
  const { record, problems } = readValidRunRecord(runDir);
  const summary = readJson(path.join(runDir, 'summary.json'));
  const defaultTrace = runFilePath(runDir, 'trace.pftrace');
  const tracePath = record?.tracePath ?? defaultTrace;
  if (!record && !summary && !tracePath && problems.length === 0) return undefined;
  const startedAtMs = record ? Date.parse(record.startedAt) : stat.mtimeMs;
  // A record that failed validation, with nothing else in the folder: listed (so it can be
  // deleted) as failed, with the problem shown.
  let status: RunStatus = record?.status ?? (problems.length && !summary && !tracePath ? 'failed' : 'done');
  // A run the CLI made on its own has no record; its summary says how it ended.
  if (!record && summary && (summary.partial === true || summary.status === 'cancelled')) status = 'cancelled';
  if (!record && summary && summary.status === 'failed') status = 'failed';
  // The CLI rewrites summary.json after every step while it trains.
  if (!record && summary && summary.status === 'running') status = 'running';
  // A run whose processes are all gone (killed with their process group, a reboot) stays
  // 'running' in its files for ever: the recorded pids and start times tell.
  if (status === 'running' && isInterrupted(record, summary)) status = 'interrupted';
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
    ...(problems.length
      ? { recordProblem: `${RUN_RECORD} ${record ? 'partly ignored' : 'ignored'}: ${problems.join('; ')}` }
      : {}),
  };
}

/** True when the processes the record or the summary name are all gone (and at least one is named). */
function isInterrupted(record: RunRecord | undefined, summary: Record<string, unknown> | undefined): boolean {
  const states = [
    record?.processes ? runLiveness({ status: 'running', processes: record.processes }) : undefined,
    summary?.status === 'running' ? runLiveness(summary) : undefined,
  ];
  // A summary naming no process says 'running' on its word alone: it decides nothing here.
  const named = [
    record?.processes ? states[0] : undefined,
    Array.isArray(summary?.processes) ? states[1] : undefined,
  ].filter((x) => x !== undefined);
  return named.length > 0 && named.every((x) => x === 'interrupted');
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
  return num(
    pick(summary, 'medianStepTimeNs', 'stepTimeNs', 'meanStepTimeNs', 'metrics.stepTimeNs', 'metrics.meanStepTimeNs'),
  );
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
      const preset = typeof cfg.preset === 'string' ? cfg.preset : (s.preset ?? 'custom');
      const strategy = typeof cfg.strategy === 'string' ? ` · ${cfg.strategy}` : '';
      const parts = s.configPath.split(/[\\/]/).filter(Boolean);
      return `${preset}${strategy} (${parts.slice(-2).join('/') || 'config'})`;
    }
    case 'external': {
      // Paths make a command long and say little: keep the file names.
      const short = s.command
        .split(/\s+/)
        .map((w) => (w.includes('/') || w.includes('\\') ? w.split(/[\\/]/).pop() || w : w))
        .join(' ');
      return short.length > 48 ? `${short.slice(0, 47)}…` : short;
    }
    case 'verify':
      return `verify ${s.suggestionId}`;
  }
}
