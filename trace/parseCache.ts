/**
 * The parse cache: each rank's reduced model (trace/kinetoRank.ts), serialised (node:v8), in a
 * folder beside the traces (`.commlens-cache/`), or `--cache-dir` / `COMMLENS_CACHE_DIR`.
 *
 * An entry is keyed by the trace file's path, size, mtime and a SHA-256 of its first 64 KiB, the
 * rank it was read as, and the code that reduced it (a hash of the worker's script and the
 * trace modules beside it): a trace rewritten in place, or a new CommLens, misses. (The head's
 * hash is kept per file while the file is the same file: trace/fileFacts.ts.) An entry holds a
 * header (its key, and the payload's CRC-32, or SHA-1 on a Node without zlib.crc32), the
 * payload, and optionally a tail read only when asked for; one whose header does not match, or
 * whose payload does not check, is stale or corrupt: it is ignored and rewritten. Entries are written to a temporary file and renamed into place, so
 * a reader never sees half an entry. A job's analysis is kept beside its ranks (JobKey).
 *
 * `analyze` keeps each rank digested as its workers post it (CacheKey.digest, a `.digest` file),
 * not the whole reduced rank: writing the whole one (packing a 500 MB rank's 800,000 slices,
 * serialising and hashing 56 MB) cost about a fifth of a cold open. A digested entry serves a
 * re-open with the same digest options (--include-last-step, and the steps kept, which depend
 * on the number of ranks), each options' entry in a file of its own; other options read the
 * traces again. The whole rank is kept when it
 * is what was asked for (the analysis of whole ranks, a reader without a digest).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import * as zlib from 'node:zlib';
import { knownHead, learnHead, loadFacts } from './fileFacts';

/** Bumped when the reduced form changes in a way the code hash would not show. */
export const CACHE_FORMAT = 1;
// 64 KiB: enough to tell two traces of the same size and mtime apart (their headers and first
// events differ), and a 1,024-rank job's keys read 64 MiB, not 1 GiB (its re-open took 2.1 s).
const HEAD_BYTES = 1 << 16;
const MAGIC = Buffer.from('CLRANK1\n', 'latin1');

/** The cache folder for a trace file: the one given, else COMMLENS_CACHE_DIR, else `.commlens-cache` beside it. */
export function cacheDirFor(tracePath: string, cacheDir?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (cacheDir) return resolve(cacheDir);
  if (env.COMMLENS_CACHE_DIR) return resolve(env.COMMLENS_CACHE_DIR);
  return join(dirname(resolve(tracePath)), '.commlens-cache');
}

export interface CacheKey {
  format: number;
  code: string;
  file: string;
  size: number;
  mtimeMs: number;
  /** SHA-256 of the first 64 KiB. */
  head: string;
  rank: number | null;
  /**
   * A digested rank's entry (what `analyze` posts from the worker: analysis/rankDigest.ts), not
   * the whole reduced rank: the digest's options and the code that digests. It is kept in a file
   * of its own (`.digest`), beside the whole rank's (`.rank`).
   */
  digest?: { options: unknown; code: string };
}

/**
 * A hash of the code in `files` that exist (missing ones are skipped); a folder stands for
 * the .js files under it.
 */
export function codeHash(files: string[]): string {
  const expand = (f: string): string[] => {
    try {
      if (!fs.statSync(f).isDirectory()) return [f];
    } catch {
      return [];
    }
    return fs
      .readdirSync(f, { withFileTypes: true })
      .flatMap((e) => (e.isDirectory() ? expand(join(f, e.name)) : e.name.endsWith('.js') ? [join(f, e.name)] : []))
      .sort();
  };
  files = files.flatMap(expand);
  const h = createHash('sha256');
  for (const f of files) {
    try {
      h.update(f.slice(f.lastIndexOf('/') + 1));
      h.update(fs.readFileSync(f));
    } catch {
      // not there in this layout (the bundle holds everything in the worker script)
    }
  }
  return h.digest('hex').slice(0, 16);
}

const scanCodes = new Map<string, string>();
/**
 * The `code` of the rank entries made by the scan worker `workerScript` (trace/kinetoScanWorker.ts):
 * a hash of the script and, unbundled, the modules beside it that make a rank's reduced form and
 * level-of-detail index. The worker and the threads that look its entries up compute the same.
 */
export function scanCodeId(workerScript: string): string {
  let id = scanCodes.get(workerScript);
  if (id === undefined) {
    const dir = dirname(workerScript);
    const beside = [
      'kinetoScanService.js',
      'kinetoRank.js',
      'kineto.js',
      'kinetoScan.js',
      'model.js',
      'kinetoCollectives.js',
      'cpuCollectives.js',
      'rankPack.js',
      'rankLod.js',
      'lod.js',
      'binary.js',
    ].map((f) => join(dir, f));
    id = codeHash([workerScript, ...beside].filter((f, i, all) => all.indexOf(f) === i));
    scanCodes.set(workerScript, id);
  }
  return id;
}

/** The key of one trace file now (its size, mtime and first 64 KiB). */
export function cacheKeyOf(path: string, rank: number | undefined, code: string): CacheKey {
  const file = resolve(path);
  // Kept per file while it is the same file (trace/fileFacts.ts): a 1,024-rank job's keys read
  // 64 MiB and hash it (~0.25 s here) on every open otherwise. Known, the file is only stat'ed.
  loadFacts(cacheDirFor(file));
  let st = fs.statSync(file);
  let head = st.isFile() ? knownHead(file, st, HEAD_BYTES) : undefined;
  if (head === undefined) {
    const fd = fs.openSync(file, 'r');
    try {
      // The bytes hashed are those of the file stat'ed with them.
      st = fs.fstatSync(fd);
      const bytes = Buffer.allocUnsafe(Math.min(HEAD_BYTES, st.size));
      let got = 0;
      while (got < bytes.length) {
        const r = fs.readSync(fd, bytes, got, bytes.length - got, got);
        if (r === 0) break;
        got += r;
      }
      head = createHash('sha256').update(bytes.subarray(0, got)).digest('hex');
      learnHead(file, st, HEAD_BYTES, head);
    } finally {
      fs.closeSync(fd);
    }
  }
  return {
    format: CACHE_FORMAT,
    code,
    file,
    size: st.size,
    mtimeMs: st.mtimeMs,
    head,
    rank: rank ?? null,
  };
}

/** Where the entry of `key` lives in `dir`. */
export function entryPath(dir: string, key: CacheKey | JobKey): string {
  if ('ranks' in key) {
    const id = createHash('sha256').update(JSON.stringify(key.ranks)).digest('hex').slice(0, 24);
    return join(dir, `job.${id}.analysis`);
  }
  // A digested entry per digest options, so that re-opening with either of two keeps both.
  const id = createHash('sha256')
    .update(`${key.file}\0${key.rank ?? ''}${key.digest ? `\0${JSON.stringify(key.digest.options)}` : ''}`)
    .digest('hex')
    .slice(0, 20);
  const name = basename(key.file)
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .slice(0, 80);
  return join(dir, `${name}.${id}.${key.digest ? 'digest' : 'rank'}`);
}

/**
 * The key of a whole job's analysis: its ranks' keys, the analysis options and the code that
 * analysed it. A re-opened job whose files, options and CommLens are the same is answered
 * from it without reading a rank.
 */
export interface JobKey {
  format: number;
  ranks: CacheKey[];
  options: unknown;
  code: string;
}

/** The entry's payload when it is there and matches `key`; undefined when missing, stale or corrupt. */
export function readEntry(dir: string, key: CacheKey | JobKey): Buffer | undefined {
  return readEntryParts(dir, key)?.payload;
}

/**
 * The entry's payload, and its tail (writeEntry's `tail`) to be read when asked for: an entry's
 * tail is not read with it (a 1,024-rank job's collective instances, 13 of its 21 MB). Reading
 * the tail throws, saying so, when it does not check (the entry replaced since by one with
 * another tail, removed, or damaged), and removes the entry so that the next run makes it again.
 */
export function readEntryParts(
  dir: string,
  key: CacheKey | JobKey,
): { payload: Buffer; tail?: () => Buffer } | undefined {
  const file = entryPath(dir, key);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = fs.fstatSync(fd).size;
    const lead = readExactly(fd, MAGIC.length + 4, 0);
    if (!lead || !lead.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
    const headerLen = lead.readUInt32LE(MAGIC.length);
    const start = MAGIC.length + 4 + headerLen;
    if (start > size) return undefined;
    let header: { key?: unknown; bytes?: unknown; tail?: { bytes?: unknown } } & Check;
    try {
      header = JSON.parse(readExactly(fd, headerLen, MAGIC.length + 4)!.toString('utf8')) as typeof header;
    } catch {
      return undefined;
    }
    if (JSON.stringify(header.key) !== JSON.stringify(key)) return undefined;
    const bytes = header.bytes;
    const tailBytes = header.tail?.bytes ?? 0;
    if (typeof bytes !== 'number' || typeof tailBytes !== 'number' || start + bytes + tailBytes !== size)
      return undefined;
    const payload = readExactly(fd, bytes, start);
    if (!payload || !checks(payload, header)) return undefined;
    if (!header.tail) return { payload };
    const tail = header.tail as Check;
    const at = start + bytes;
    return {
      payload,
      tail: () => {
        let got: Buffer | undefined;
        try {
          const t = fs.openSync(file, 'r');
          try {
            got = readExactly(t, tailBytes, at);
          } finally {
            fs.closeSync(t);
          }
        } catch {
          // said below
        }
        if (!got || !checks(got, tail)) {
          // Cut short or corrupt where the read did not look: gone, so that the next run makes it again.
          fs.rmSync(file, { force: true });
          throw new Error(
            `the parse cache entry ${file} was removed, replaced or damaged since it was read, and is dropped: run again to make it anew (--no-cache skips the cache)`,
          );
        }
        return got;
      },
    };
  } finally {
    fs.closeSync(fd);
  }
}

/** A part's check: its CRC-32 (Node 20.15 and later), else its SHA-1. */
interface Check {
  crc32?: unknown;
  sha1?: unknown;
}

/**
 * zlib's CRC-32 (Node 20.15 and later; `value`: the CRC so far, to run over several parts): the
 * cache's checks, with SHA-1 where it is missing. Also the level-of-detail indexes' (trace/rankLod.ts).
 */
export const CRC32: ((data: Uint8Array, value?: number) => number) | undefined = (
  zlib as { crc32?: (data: Uint8Array, value?: number) => number }
).crc32;

function checkOf(b: Uint8Array): Check {
  return CRC32 ? { crc32: CRC32(b) } : { sha1: createHash('sha1').update(b).digest('hex') };
}

function checks(b: Uint8Array, c: Check): boolean {
  if (typeof c.crc32 === 'number' && CRC32) return CRC32(b) === c.crc32;
  if (typeof c.sha1 === 'string') return createHash('sha1').update(b).digest('hex') === c.sha1;
  return false;
}

/** `length` bytes of `fd` from `position`; undefined when the file ends first. */
function readExactly(fd: number, length: number, position: number): Buffer | undefined {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const r = fs.readSync(fd, buf, got, length - got, position + got);
    if (r === 0) return undefined;
    got += r;
  }
  return buf;
}

/**
 * Writes the entry of `key` (temporary file, then rename): magic, u32 header length, header JSON
 * (the key, the payload's bytes and check, the tail's), the payload, the tail. `tail`: bytes read
 * only when asked for (readEntryParts). Throws when the folder or the file cannot be written.
 */
export function writeEntry(dir: string, key: CacheKey | JobKey, payload: Uint8Array, tail?: Uint8Array): void {
  const header = Buffer.from(
    JSON.stringify({
      key,
      ...checkOf(payload),
      bytes: payload.length,
      ...(tail ? { tail: { bytes: tail.length, ...checkOf(tail) } } : {}),
    }),
    'utf8',
  );
  const len = Buffer.alloc(4);
  len.writeUInt32LE(header.length);
  const file = entryPath(dir, key);
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    let fd: number;
    try {
      fd = fs.openSync(tmp, 'w');
    } catch (e) {
      // The folder is made when it is missing, not before every entry (a job's ranks write theirs
      // into the same one).
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      fs.mkdirSync(dir, { recursive: true });
      fd = fs.openSync(tmp, 'w');
    }
    try {
      for (const b of [MAGIC, len, header, payload, ...(tail ? [tail] : [])]) {
        let off = 0;
        while (off < b.length) off += fs.writeSync(fd, b, off, b.length - off);
      }
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}
