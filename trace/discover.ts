/**
 * Finding the trace files of a job: the one discovery `analyze`, `inspect` and the
 * extension use.
 *
 * Inputs are files or folders. A folder is searched with its sub-folders, one level
 * down (the folder `tensorboard_trace_handler` writes to, or per-worker sub-folders), for files whose
 * names a trace can have (`.json`, `.json.gz`, `.gz`, `.pftrace`, `.perfetto-trace`,
 * `.trace`); a file named on the command line is read whatever its name. Every file's
 * KIND comes from its first bytes (decompressed when gzip), never from its name:
 * - `kineto`: a PyTorch profiler (Kineto) trace, one rank per file, or a rank summary that
 *   `commlens reduce` made of one (`*.summary.commlens`, trace/rankSummaryFile.ts; known by its
 *   magic bytes; its rank, world size and times are those of its trace, so it joins the trace's run);
 * - `pre-kineto`: a JSON array of Chrome events written by PyTorch's legacy profiler
 *   (builds without Kineto, e.g. Debian's python3-torch), one rank per file;
 * - `chrome-json` / `perfetto`: a whole job in one file (CommLens writes these);
 * - anything else found in a folder is listed as skipped, with why.
 * Only regular files are opened (a FIFO would block, /dev/zero never ends).
 *
 * The handler never clears its folder, so one folder often holds several runs. Per-rank
 * files are grouped into RUNS by what they say about themselves: rank (distributedInfo,
 * else the file name), world size, start time (the first event's epoch time; the
 * handler's `<worker>.<ms>.pt.trace.json` export time otherwise; the file's mtime last).
 * Two files with the same rank are never in one run. By default the newest complete run
 * is chosen (all `world_size` ranks present), else the newest; `run` picks another.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import { TraceFormatError } from './errors';
import { knownInfo, learnInfo, loadFacts } from './fileFacts';
import { cacheDirFor } from './parseCache';
import { isSummaryHead, readSummaryHeader, SUMMARY_SUFFIX, type SummaryHeader } from './rankSummaryFile';

export type TraceFileKind = 'kineto' | 'pre-kineto' | 'chrome-json' | 'perfetto' | 'unknown';

/** What one file is, from its first bytes and its name. */
export interface TraceFileInfo {
  path: string;
  kind: TraceFileKind;
  /** For `unknown`: what the start of the file looked like. */
  why?: string;
  rank?: number;
  rankFrom?: 'distributedInfo' | 'file name' | 'flag' | 'summary';
  worldSize?: number;
  backend?: string;
  /** tensorboard_trace_handler's worker name (`host_pid` by default) and export time. */
  worker?: string;
  exportMs?: number;
  /** The first event's time, epoch µs (Kineto traces only; pre-Kineto times are relative). */
  startUs?: number;
  mtimeMs: number;
  size: number;
  /** A rank summary (kind `kineto`): its header, which says what it was made from and with. */
  summary?: SummaryHeader;
}

/** One job's traces: per-rank files of one run, or one whole-job file. */
export interface TraceRun {
  /** `1`, `2`, ... oldest first. */
  id: string;
  /** Per-rank files (kineto, pre-kineto), in rank order; or the one whole-job file. */
  files: TraceFileInfo[];
  kind: TraceFileKind;
  ranks: number[];
  worldSize?: number;
  /** Every rank of worldSize present (a whole-job file is complete). */
  complete: boolean;
  /** Epoch ms of the run, for ordering and display. */
  timeMs: number;
}

export interface TraceDiscovery {
  runs: TraceRun[];
  /** The run to analyse: the one asked for, else the newest complete, else the newest. */
  chosen: TraceRun;
  /** Files found in folders that are not traces, with why. */
  skipped: { path: string; reason: string }[];
  /** Lines for the top of a report when there was a choice (more than one run). */
  notes: string[];
}

export interface DiscoverOptions {
  /** A run id from a previous listing (`--run`). */
  run?: string;
  /** The rank of a single per-rank file whose rank is nowhere in it (`--rank`). */
  rank?: number;
}

const CANDIDATE = /\.(json|json\.gz|gz|pftrace|perfetto-trace|trace|pb|commlens)$/i;
const HEAD_BYTES = 256 * 1024;
/** describeTraceFile's first, short read (see there). */
const SHORT_HEAD_BYTES = 16 * 1024;
const HANDLER_NAME = /^(.+)\.(\d{10,})\.pt\.trace\.json(\.gz)?$/;

/** The first `n` bytes of a regular file, gunzipped when it is gzip (a partial stream is fine). */
export function readHeadSync(file: string, n = HEAD_BYTES): Uint8Array {
  const fd = fs.openSync(file, 'r');
  let raw: Buffer;
  try {
    raw = Buffer.alloc(n);
    raw = raw.subarray(0, fs.readSync(fd, raw, 0, n, 0));
  } finally {
    fs.closeSync(fd);
  }
  if (raw[0] === 0x1f && raw[1] === 0x8b) {
    // Inflate growing prefixes of the compressed bytes, stopping before the output passes n
    // (a prefix of a highly compressed file can expand a thousandfold).
    let best: Uint8Array = new Uint8Array(0);
    for (let k = 256; ; k *= 4) {
      const part = raw.subarray(0, Math.min(k, raw.length));
      try {
        best = zlib.gunzipSync(part, { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: n });
      } catch {
        break; // over n, or corrupt: what came before is the head
      }
      if (best.length >= n / 4 || part.length === raw.length) break;
    }
    return best;
  }
  return raw;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** The kind of trace a file's first bytes show, with what was found in them. */
export function sniffHead(head: Uint8Array): { kind: TraceFileKind; why?: string; text?: string } {
  let i = 0;
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) i = 3;
  while (i < head.length && isSpace(head[i])) i++;
  if (i >= head.length)
    return head[0] === 0x0a && head.length > 1
      ? { kind: 'perfetto' }
      : { kind: 'unknown', why: 'empty (or only whitespace)' };
  const c = head[i];
  if (c === 0x7b || c === 0x5b) {
    const text = new TextDecoder().decode(head.subarray(i, Math.min(head.length, i + HEAD_BYTES)));
    if (c === 0x5b) {
      // An array of events: PyTorch's legacy profiler writes `"pid": "CPU functions"` and aten:: names.
      if (/^\[\s*(\]|\{)/.test(text) && /"ph"\s*:/.test(text)) {
        const legacy =
          /"pid"\s*:\s*"CPU functions"/.test(text) ||
          /"name"\s*:\s*"(aten::|ProfilerStep#|c10d::|gloo:|nccl:)/.test(text);
        return { kind: legacy ? 'pre-kineto' : 'chrome-json', text };
      }
      return { kind: 'unknown', why: 'a JSON array that is not of trace events' };
    }
    const events = text.search(/"traceEvents"\s*:/);
    const kineto = text.search(/"(distributedInfo|deviceProperties)"\s*:/);
    if (kineto >= 0 && (events < 0 || kineto < events)) return { kind: 'kineto', text };
    // Kineto without deviceProperties (some builds): schemaVersion first, PyTorch op names inside.
    if (
      events >= 0 &&
      /^\{\s*"schemaVersion"/.test(text) &&
      /"cat"\s*:\s*"(cpu_op|user_annotation|python_function|kernel)"/.test(text)
    )
      return { kind: 'kineto', text };
    // PyTorch's events with traceEvents first (a legacy trace wrapped in an object, its
    // distributedInfo after the events): aten:: ops, ProfilerStep#N, Kineto's CPU categories.
    if (
      events >= 0 &&
      (/"pid"\s*:\s*"CPU functions"/.test(text) ||
        /"name"\s*:\s*"(aten::|ProfilerStep#)/.test(text) ||
        /"cat"\s*:\s*"(cpu_op|python_function|cuda_runtime)"/.test(text))
    )
      return { kind: 'kineto', text };
    if (events >= 0) return { kind: 'chrome-json', text };
    return { kind: 'unknown', why: 'JSON without "traceEvents"' };
  }
  // Perfetto: a perfetto.protos.Trace starts with field 1 (packet), length-delimited: 0x0a.
  // (0x0a is also a newline, skipped above: a file starting with it and no JSON after is protobuf.)
  if (head[0] === 0x0a) return { kind: 'perfetto' };
  return {
    kind: 'unknown',
    why: `starts with byte 0x${c.toString(16).padStart(2, '0')}, not JSON or a Perfetto protobuf`,
  };
}

/** The rank in a file name: `rank3`, `rank-3`, `rank_3`, `worker3`, `_3.json`. */
export function rankFromName(name: string): number | undefined {
  const base = path.basename(name);
  const m =
    /rank[-_]?(\d+)/i.exec(base) ??
    /worker[-_]?(\d+)(?=\.|_|$)/i.exec(base) ??
    /[-_](\d+)\.(pt\.trace\.)?json/i.exec(base);
  return m ? Number(m[1]) : undefined;
}

/** Describes one regular file. Throws TraceFormatError for paths that are not regular files. */
export function describeTraceFile(file: string, st?: fs.Stats): TraceFileInfo {
  st ??= statOrThrow(file);
  if (!st.isFile()) throw notRegular(file, st);
  const info: TraceFileInfo = { path: file, kind: 'unknown', mtimeMs: st.mtimeMs, size: st.size };
  if (st.size === 0) {
    info.why = 'empty file';
    return info;
  }
  // Known from an earlier read of this very file (trace/fileFacts.ts): a job of 1,024 gzip ranks
  // is listed on every open, ~0.15 s of reading and gunzipping heads.
  const code = describeCode();
  loadFacts(cacheDirFor(file));
  const known = knownInfo(file, st, code) as Omit<TraceFileInfo, 'path'> | undefined;
  if (typeof known === 'object' && known !== null && typeof known.kind === 'string') return { ...known, path: file };
  // A Kineto file says what it is, its rank and its first time in its first kilobytes: a short
  // head is read first, the full one when the short one leaves any of them open, so the
  // description is the full head's either way.
  const short = describeFromHead(info, file, SHORT_HEAD_BYTES);
  const described =
    short.summary || (short.kind === 'kineto' && short.rankFrom === 'distributedInfo' && short.eventsSeen)
      ? short.info
      : describeFromHead(info, file, HEAD_BYTES).info;
  if (!described.why?.startsWith('cannot read')) {
    const { path: _, ...value } = described;
    learnInfo(file, st, code, value);
  }
  return described;
}

let describeCodeId: string | undefined;
/**
 * What tells descriptions made by this code from others' (a kept description is used only by the
 * code that made it): the text of the functions that describe and the sizes they read.
 */
function describeCode(): string {
  describeCodeId ??= createHash('sha256')
    .update(
      [
        describeTraceFile,
        describeFromHead,
        readHeadSync,
        sniffHead,
        rankFromName,
        describeSummary,
        isSummaryHead,
        readSummaryHeader,
      ]
        .map(String)
        .join('\n'),
    )
    .update(`${SHORT_HEAD_BYTES} ${HEAD_BYTES} ${HANDLER_NAME.source}`)
    .digest('hex')
    .slice(0, 16);
  return describeCodeId;
}

/**
 * The description from the first `n` bytes (gunzipped) of `file`, and whether they hold the first
 * event's time (`eventsSeen`: the start of traceEvents and a time after it). When they cannot be
 * read, the description says why.
 */
function describeFromHead(
  base: TraceFileInfo,
  file: string,
  n: number,
): { info: TraceFileInfo; kind: TraceFileKind; rankFrom?: string; summary: boolean; eventsSeen: boolean } {
  const info: TraceFileInfo = { ...base };
  let eventsSeen = false;
  const done = () => ({
    info,
    kind: info.kind,
    rankFrom: info.rankFrom,
    summary: info.summary !== undefined,
    eventsSeen,
  });
  let sniff: ReturnType<typeof sniffHead>;
  let head: Uint8Array;
  try {
    head = readHeadSync(file, n);
    sniff = sniffHead(head);
  } catch (e) {
    info.why = `cannot read: ${(e as Error).message}`;
    return done();
  }
  if (isSummaryHead(head)) {
    describeSummary(info);
    return done();
  }
  if (file.endsWith(SUMMARY_SUFFIX)) {
    info.why = `named like a CommLens rank summary, but does not start with its magic bytes; expected a file written by \`commlens reduce\``;
    return done();
  }
  info.kind = sniff.kind;
  if (sniff.why) info.why = sniff.why;
  const name = path.basename(file);
  const h = HANDLER_NAME.exec(name);
  if (h) {
    info.worker = h[1];
    info.exportMs = Number(h[2]);
  }
  const text = sniff.text;
  if (text && (info.kind === 'kineto' || info.kind === 'pre-kineto')) {
    const d = /"distributedInfo"\s*:\s*(\{[^{}]*\})/.exec(text);
    if (d) {
      try {
        const dist = JSON.parse(d[1]) as Record<string, unknown>;
        if (typeof dist.rank === 'number') {
          info.rank = dist.rank;
          info.rankFrom = 'distributedInfo';
        }
        if (typeof dist.world_size === 'number') info.worldSize = dist.world_size;
        if (typeof dist.backend === 'string') info.backend = dist.backend;
      } catch {
        // A distributedInfo cut by the head's end: ranks come from the names.
      }
    }
    if (info.rank === undefined) {
      const r = rankFromName(name);
      if (r !== undefined) {
        info.rank = r;
        info.rankFrom = 'file name';
      }
    }
    if (info.kind === 'kineto') {
      const at = text.search(/"traceEvents"\s*:/);
      const after = at >= 0 ? text.slice(at) : text;
      const ts = /"ts"\s*:\s*(\d+(?:\.\d+)?)/.exec(after);
      // Seen whole: not cut by the head's end (a character that cannot continue the number follows it).
      const end = ts ? ts.index + ts[0].length : -1;
      eventsSeen = at >= 0 && ts !== null && end < after.length && !/[0-9.eE]/.test(after[end]);
      // Epoch µs are ~1.7e15; smaller values are relative times that order nothing.
      if (ts && Number(ts[1]) > 1e14) info.startUs = Number(ts[1]);
    }
  }
  return done();
}

/** A rank summary's description: its trace's rank, world size and times (kind `unknown`, with why, when its header is not one this code reads). */
function describeSummary(info: TraceFileInfo): TraceFileInfo {
  let h: SummaryHeader;
  try {
    h = readSummaryHeader(info.path);
  } catch (e) {
    const m = (e as Error).message;
    info.why = m.startsWith(`${info.path}: `) ? m.slice(info.path.length + 2) : m;
    return info;
  }
  const s = h.source;
  info.kind = 'kineto';
  info.summary = h;
  if (s.rank !== undefined) {
    info.rank = s.rank;
    info.rankFrom = 'summary';
  }
  if (s.worldSize !== undefined) info.worldSize = s.worldSize;
  if (s.backend !== undefined) info.backend = s.backend;
  if (s.startUs !== undefined) info.startUs = s.startUs;
  if (s.worker !== undefined) info.worker = s.worker;
  if (s.exportMs !== undefined) info.exportMs = s.exportMs;
  return info;
}

function statOrThrow(p: string): fs.Stats {
  try {
    return fs.statSync(p);
  } catch {
    throw new TraceFormatError('no such file or folder', { file: p, expected: 'a trace file or a folder of traces' });
  }
}

function notRegular(p: string, st: fs.Stats): TraceFormatError {
  const what = st.isFIFO()
    ? 'a FIFO (named pipe)'
    : st.isCharacterDevice()
      ? 'a character device'
      : st.isBlockDevice()
        ? 'a block device'
        : st.isSocket()
          ? 'a socket'
          : 'not a regular file';
  return new TraceFormatError(`is ${what}, not a trace file`, {
    file: p,
    expected: 'a regular trace file; copy the trace to a file first',
  });
}

/**
 * File names in natural order (`rank-2` before `rank-10`): runs of digits compare as
 * numbers, the rest by code unit. Written out because an ICU collator costs ~5 ms to start
 * in a fresh process, a tenth of analysing a trace pair.
 */
export function naturalCompare(a: string, b: string): number {
  const pa = a.match(/\d+|\D+/g) ?? [];
  const pb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i],
      y = pb[i];
    const dx = x.charCodeAt(0) <= 57 && x.charCodeAt(0) >= 48,
      dy = y.charCodeAt(0) <= 57 && y.charCodeAt(0) >= 48;
    if (dx && dy) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d;
      if (x.length !== y.length) return x.length - y.length;
    } else if (x !== y) return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

const natural = naturalCompare;

/** Candidate files under a folder and its sub-folders, in natural order; hidden entries left out. */
function walk(dir: string, depth: number, out: string[]): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  entries.sort((a, b) => natural(a.name, b.name));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (depth < 1) walk(p, depth + 1, out);
    } else if (CANDIDATE.test(e.name)) out.push(p);
  }
}

/** The run's time in epoch ms. */
function fileTimeMs(f: TraceFileInfo): number {
  if (f.startUs !== undefined) return f.startUs / 1000;
  if (f.exportMs !== undefined) return f.exportMs;
  // A summary's time is its trace's.
  return f.summary?.source.mtimeMs ?? f.mtimeMs;
}

/** Two per-rank files this far apart in time belong to different runs even with different ranks. */
const SAME_RUN_MS = 10 * 60 * 1000;

/** Groups per-rank files into runs: by time, a new run whenever a rank repeats or the world is full. */
export function groupRuns(files: TraceFileInfo[]): TraceRun[] {
  const perRank = files.filter((f) => f.kind === 'kineto' || f.kind === 'pre-kineto');
  const whole = files.filter((f) => f.kind === 'chrome-json' || f.kind === 'perfetto');
  const sorted = [...perRank].sort((a, b) => fileTimeMs(a) - fileTimeMs(b) || natural(a.path, b.path));
  const groups: TraceFileInfo[][] = [];
  // The group being filled, with what the clash test asks of it kept as it grows (a job of 1,024
  // ranks would otherwise scan the group once per file).
  let cur: TraceFileInfo[] = [];
  let kinds = new Set<TraceFileKind>();
  let rankValues = new Set<number | undefined>();
  let world: number | undefined;
  const flush = () => {
    if (cur.length > 0) groups.push(cur);
    cur = [];
    kinds = new Set();
    rankValues = new Set();
    world = undefined;
  };
  for (const f of sorted) {
    const first = cur[0];
    const clash =
      first !== undefined &&
      ((f.rank !== undefined && rankValues.has(f.rank)) ||
        kinds.size > 1 ||
        !kinds.has(f.kind) ||
        (world !== undefined && f.worldSize !== undefined && f.worldSize !== world) ||
        (world !== undefined && rankValues.size >= world) ||
        Math.abs(fileTimeMs(f) - fileTimeMs(first)) > SAME_RUN_MS ||
        (first.worker !== undefined &&
          f.worker !== undefined &&
          first.exportMs !== undefined &&
          f.exportMs !== undefined &&
          Math.abs(f.exportMs - first.exportMs) > SAME_RUN_MS));
    if (clash) flush();
    cur.push(f);
    kinds.add(f.kind);
    rankValues.add(f.rank);
    world ??= f.worldSize;
  }
  flush();
  const runs: Omit<TraceRun, 'id'>[] = groups.map((g) => {
    const filesByRank = [...g].sort((a, b) => (a.rank ?? Infinity) - (b.rank ?? Infinity) || natural(a.path, b.path));
    const worldSize = g.find((x) => x.worldSize !== undefined)?.worldSize;
    const ranks = filesByRank.map((x) => x.rank).filter((r): r is number => r !== undefined);
    const complete =
      worldSize !== undefined
        ? new Set(ranks).size === worldSize && ranks.every((r) => r < worldSize)
        : ranks.length === g.length && ranks.every((r, i) => r === i);
    return { files: filesByRank, kind: g[0].kind, ranks, worldSize, complete, timeMs: Math.min(...g.map(fileTimeMs)) };
  });
  for (const w of whole) runs.push({ files: [w], kind: w.kind, ranks: [], complete: true, timeMs: w.mtimeMs });
  runs.sort((a, b) => a.timeMs - b.timeMs);
  return runs.map((r, i) => ({ id: String(i + 1), ...r }));
}

/** One line about a run: `run 2: 4 Kineto files, ranks 0-3 of 4, 2026-12-03 11:25:03 UTC, complete`. */
export function describeRun(run: TraceRun): string {
  const kind = {
    kineto: 'Kineto',
    'pre-kineto': 'pre-Kineto',
    'chrome-json': 'Chrome JSON',
    perfetto: 'Perfetto',
    unknown: 'unknown',
  }[run.kind];
  const when = new Date(run.timeMs)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
  if (run.kind === 'chrome-json' || run.kind === 'perfetto')
    return `run ${run.id}: ${run.files[0].path} (${kind}, whole job), ${when}`;
  const ranks = run.ranks.length > 0 ? `ranks ${run.ranks.join(', ')}` : 'ranks unknown';
  const world = run.worldSize !== undefined ? ` of ${run.worldSize}` : '';
  const worker = run.files[0].worker !== undefined ? ` (workers ${run.files.map((f) => f.worker).join(', ')})` : '';
  return `run ${run.id}: ${run.files.length} ${kind} file${run.files.length === 1 ? '' : 's'}, ${ranks}${world}${worker}, ${when}, ${run.complete ? 'complete' : 'INCOMPLETE'}`;
}

/**
 * Finds and groups the traces named by `inputs` (files and folders). Throws
 * TraceFormatError when a path does not exist or is not a regular file or folder, when
 * nothing usable is found, or when `opts.run` names no run.
 */
export function discoverTraces(inputs: string[], opts: DiscoverOptions = {}): TraceDiscovery {
  const infos: TraceFileInfo[] = [];
  const skipped: { path: string; reason: string }[] = [];
  const seen = new Set<string>();
  for (const input of inputs) {
    const p = path.resolve(input);
    const st = statOrThrow(input);
    if (st.isDirectory()) {
      const found: string[] = [];
      walk(p, 0, found);
      let usable = 0;
      for (const f of found) {
        if (seen.has(f)) continue;
        seen.add(f);
        let fst: fs.Stats;
        try {
          fst = fs.statSync(f);
        } catch {
          continue;
        }
        if (!fst.isFile()) {
          skipped.push({ path: f, reason: notRegular(f, fst).message });
          continue;
        }
        const info = describeTraceFile(f, fst);
        if (info.kind === 'unknown') skipped.push({ path: f, reason: info.why ?? 'not a trace' });
        else {
          infos.push(info);
          usable++;
        }
      }
      if (usable === 0) {
        const why =
          skipped.length > 0
            ? ` (${skipped
                .slice(0, 3)
                .map((s) => `${path.basename(s.path)}: ${s.reason}`)
                .join('; ')})`
            : '';
        throw new TraceFormatError(`holds no trace files${why}`, {
          file: input,
          expected:
            'PyTorch profiler traces (*.json, *.json.gz, *.pt.trace.json), CommLens or Perfetto traces (*.pftrace)',
        });
      }
    } else {
      if (!st.isFile()) throw notRegular(input, st);
      if (seen.has(p)) continue;
      seen.add(p);
      const info = describeTraceFile(p, st);
      // A summary this code cannot read: said now, with what would be right.
      if (info.kind === 'unknown' && (p.endsWith('.commlens') || isSummaryHead(readHeadSync(p, 64))))
        throw new TraceFormatError(info.why ?? 'not a rank summary', { file: input });
      // A file named explicitly is passed on even when unrecognised: its loader says exactly what is wrong.
      if (info.kind === 'unknown') info.kind = /\.(pftrace|perfetto-trace|pb)$/i.test(p) ? 'perfetto' : 'chrome-json';
      infos.push(info);
    }
  }
  if (opts.rank !== undefined) {
    const perRank = infos.filter((f) => f.kind === 'kineto' || f.kind === 'pre-kineto');
    if (perRank.length !== 1)
      throw new TraceFormatError(`--rank applies to one per-rank trace file; ${perRank.length} were given`, {
        expected: 'one PyTorch profiler trace with --rank',
      });
    perRank[0].rank = opts.rank;
    perRank[0].rankFrom = 'flag';
  }
  const runs = groupRuns(infos);
  let chosen: TraceRun | undefined;
  if (opts.run !== undefined) {
    chosen = runs.find((r) => r.id === opts.run);
    if (!chosen)
      throw new TraceFormatError(`no run '${opts.run}' among the traces found: ${runs.map(describeRun).join('; ')}`, {
        expected: `--run ${runs.map((r) => r.id).join(' | ')}`,
      });
  } else {
    chosen = [...runs].reverse().find((r) => r.complete) ?? runs[runs.length - 1];
  }
  const notes: string[] = [];
  // A summary left out is a rank missing from the job: said (other files that are not traces are not).
  for (const s of skipped) if (s.path.endsWith('.commlens')) notes.push(`skipped ${s.path}: ${s.reason}`);
  if (runs.length > 1) {
    notes.push(
      `${runs.length} runs found; analysing ${describeRun(chosen)}${opts.run === undefined ? ' (the newest complete one)' : ''}.`,
    );
    for (const r of runs) if (r !== chosen) notes.push(`  also found ${describeRun(r)}; analyse it with --run ${r.id}`);
  } else if (!chosen.complete) {
    notes.push(`${describeRun(chosen)}: not every rank's trace is there.`);
  }
  return { runs, chosen, skipped, notes };
}
