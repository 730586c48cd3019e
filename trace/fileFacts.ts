/**
 * What CommLens learns of a trace file from its first bytes: the hash of its head (the parse
 * cache's key, trace/parseCache.ts) and its description (kind, rank, first time: trace/discover.ts).
 * Both cost a read of the head (and a gunzip, and a SHA-256), which across a 1,024-rank job is
 * ~0.4 s of every re-open; so they are kept per file, in the process and in a small file of the
 * cache folder (`files.v1.json`), and used again while the file is the same file.
 *
 * "The same file": the same device, inode, size, mtime and ctime as when its head was read. A
 * write changes the mtime and the ctime, and setting the mtime back (touch -r, cp -p) changes the
 * ctime, which no user can set. One race is left, the one git's index has: a file written again
 * within the filesystem's timestamp tick of the read keeps its times. So a fact is used only when
 * it was learnt at least 2 s (`racyMs`) after the file's last change (mtime and ctime); a fact learnt
 * sooner is learnt again at the next read, which then stands.
 *
 * The facts are a speed-up, never a source of truth: a store that is missing, corrupt, from
 * another version or cannot be written is ignored without a word.
 */
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';

/** The store's file in a cache folder. */
export const FACTS_FILE = 'files.v1.json';
/** How many files the store keeps (the most recently read): ~0.5 kB each (1,024 ranks: 492 kB). */
const KEPT = 16_384;
/** A store larger than this is not one this code wrote (KEPT entries are ~8 MB): not read. */
const MAX_STORE_BYTES = 64 * 2 ** 20;
let racyMs = 2000;
let enabled = true;

/**
 * Whether facts are used, read and kept (`analyze --no-cache` turns them off: nothing of the
 * cache folder is read or written); returns what it was.
 */
export function useFacts(on: boolean): boolean {
  const was = enabled;
  enabled = on;
  return was;
}

/** For tests: how long after a file's last change a fact about it must have been learnt to be used. */
export function setRacyWindowMs(ms: number): void {
  racyMs = ms;
}

interface Identity {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

interface Entry extends Identity {
  /** When the facts were learnt (epoch ms). */
  seenAt: number;
  /** SHA-256 (hex) of the first `headBytes` bytes. */
  head?: { bytes: number; sha256: string };
  /**
   * The description by the code that made it (trace/discover.ts describeTraceFile): the
   * extension host's bundle and the trace worker's may tell their code apart, so a few are kept.
   */
  info?: Record<string, unknown>;
}
const INFO_CODES_KEPT = 4;

const facts = new Map<string, Entry>();
/** The stores read, by folder: when the store was looked at, and its mtime then. */
const loaded = new Map<string, { checkedAt: number; mtimeMs: number | undefined }>();
const RECHECK_MS = 1000;
/** The `seenAt` of each file's facts in the store of a folder, by folder and file: what a save need not write again. */
const onDisk = new Map<string, number>();

const sameFile = (e: Identity, st: fs.Stats): boolean =>
  e.ino === st.ino && e.dev === st.dev && e.size === st.size && e.mtimeMs === st.mtimeMs && e.ctimeMs === st.ctimeMs;

/** Learnt late enough after the file's last change that a change in the same timestamp tick cannot hide. */
const settled = (e: Entry): boolean => e.seenAt - Math.max(e.mtimeMs, e.ctimeMs) >= racyMs;

function usable(file: string, st: fs.Stats): Entry | undefined {
  if (!enabled) return undefined;
  const e = facts.get(resolve(file));
  return e && sameFile(e, st) && settled(e) ? e : undefined;
}

function entryFor(file: string, st: fs.Stats): Entry {
  const key = resolve(file);
  let e = facts.get(key);
  if (!e || !sameFile(e, st) || !settled(e)) {
    e = { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, seenAt: Date.now() };
    if (facts.size >= KEPT * 2) trim(KEPT);
    facts.set(key, e);
  } else e.seenAt = Date.now();
  return e;
}

function trim(keep: number): void {
  const byAge = [...facts].sort((a, b) => b[1].seenAt - a[1].seenAt);
  facts.clear();
  for (const [k, e] of byAge.slice(0, keep)) facts.set(k, e);
}

/** The hash of the file's first `bytes` bytes when known for the file `st` describes. */
export function knownHead(file: string, st: fs.Stats, bytes: number): string | undefined {
  const h = usable(file, st)?.head;
  // A store's values are checked: it could have been edited, or made by another version.
  return h && h.bytes === bytes && typeof h.sha256 === 'string' && /^[0-9a-f]{64}$/.test(h.sha256)
    ? h.sha256
    : undefined;
}

export function learnHead(file: string, st: fs.Stats, bytes: number, sha256: string): void {
  if (!enabled) return;
  entryFor(file, st).head = { bytes, sha256 };
}

/** The file's description made by `code` when known for the file `st` describes. */
export function knownInfo(file: string, st: fs.Stats, code: string): unknown {
  return usable(file, st)?.info?.[code];
}

export function learnInfo(file: string, st: fs.Stats, code: string, value: unknown): void {
  if (!enabled) return;
  const e = entryFor(file, st);
  const codes = Object.keys(e.info ?? {}).filter((c) => c !== code);
  e.info = Object.fromEntries([...codes.slice(-(INFO_CODES_KEPT - 1)).map((c) => [c, e.info![c]]), [code, value]]);
}

const isIdentity = (e: unknown): e is Entry => {
  const o = e as Record<string, unknown> | null;
  return (
    typeof o === 'object' &&
    o !== null &&
    ['dev', 'ino', 'size', 'mtimeMs', 'ctimeMs', 'seenAt'].every((k) => typeof o[k] === 'number')
  );
};

/**
 * Reads the store of the cache folder `dir` into the process (again when it has changed, looked at
 * at most once a second; a file known in the process keeps the newer facts). Quiet when there is none.
 */
export function loadFacts(dir: string): void {
  if (!enabled) return;
  dir = resolve(dir);
  // Looked at again when another process (the trace worker, `analyze`) may have written it since.
  const now = Date.now();
  const seen = loaded.get(dir);
  if (seen && now - seen.checkedAt < RECHECK_MS) return;
  let stored: unknown;
  try {
    const file = join(dir, FACTS_FILE);
    const mtimeMs = fs.statSync(file).mtimeMs;
    loaded.set(dir, { checkedAt: now, mtimeMs });
    if (seen?.mtimeMs === mtimeMs) return;
    stored = readStore(file);
  } catch {
    loaded.set(dir, { checkedAt: now, mtimeMs: undefined });
    return;
  }
  if (!stored) return;
  // Both maps stay bounded however many stores a long-lived process reads (the extension host).
  if (onDisk.size >= KEPT * 4) onDisk.clear();
  for (const [k, e] of Object.entries(stored)) {
    if (!isIdentity(e)) continue;
    onDisk.set(`${dir}\0${k}`, e.seenAt);
    const mine = facts.get(k);
    if (!mine || mine.seenAt < e.seenAt) facts.set(k, e);
  }
  if (facts.size >= KEPT * 2) trim(KEPT);
}

/** The files of the store `file`; undefined when there is none, it is too large, or it is not one. */
function readStore(file: string): Record<string, unknown> | undefined {
  try {
    if (fs.statSync(file).size > MAX_STORE_BYTES) return undefined;
    const files = (JSON.parse(fs.readFileSync(file, 'utf8')) as { files?: unknown } | null)?.files;
    return typeof files === 'object' && files !== null && !Array.isArray(files)
      ? (files as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Writes what the process knows of `files` into the store of `dir` (with what the store held
 * of others), when something was learnt since the last write. A temporary file renamed into
 * place, so that a reader sees the old store or the new one; a failure is ignored.
 */
export function saveFacts(dir: string, files: readonly string[]): void {
  if (!enabled) return;
  dir = resolve(dir);
  const news = files.flatMap((f) => {
    const k = resolve(f);
    const e = facts.get(k);
    return e && settled(e) && onDisk.get(`${dir}\0${k}`) !== e.seenAt ? [[k, e] as const] : [];
  });
  if (news.length === 0) return;
  const file = join(dir, FACTS_FILE);
  // What the store holds of other files is kept (none yet, or unreadable: written anew).
  let out: Record<string, Entry> = {};
  for (const [k, e] of Object.entries(readStore(file) ?? {})) if (isIdentity(e)) out[k] = e;
  for (const [k, e] of news) out[k] = e;
  const names = Object.keys(out);
  if (names.length > KEPT) {
    names.sort((a, b) => out[b].seenAt - out[a].seenAt);
    out = Object.fromEntries(names.slice(0, KEPT).map((k) => [k, out[k]]));
  }
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    fs.writeFileSync(tmp, JSON.stringify({ format: 1, files: out }));
    fs.renameSync(tmp, file);
    for (const [k, e] of news) onDisk.set(`${dir}\0${k}`, e.seenAt);
  } catch {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // nothing to remove
    }
  }
}
