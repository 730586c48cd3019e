/**
 * Large Kineto jobs for bench:scale, built from the real HTA-sampled pair
 * (shared/fixtures/kineto/hta-sampled: ranks 0 and 1 of a 128-rank NCCL job, steps 551–552).
 *
 * Rank r of a job is built from fixture rank r % 2:
 * - larger than the fixture: its whole window is tiled `copies` times, each copy shifted by
 *   the window's length (+ 1 ms), its ProfilerStep#N renumbered (N + 2k) and its ids
 *   (`External id`, `correlation`, `Ev Idx`) offset so that kernel ↔ runtime joins stay one
 *   to one;
 * - smaller: one copy thinned to a time window at the start of each step (and of the part
 *   before the first step) of the wanted fraction; a kernel is kept with the runtime call
 *   that launched it (by `correlation`), ProfilerStep, metadata and Trace events always.
 * Every event kind of the fixture stays (cpu_op, user_annotation with nccl:* launchers,
 * kernel including the NCCL SendRecv kernels, cuda_runtime, gpu_memcpy, gpu_memset, M).
 * Jitter, deterministic per (rank, copy): a clock offset of up to 200 µs per rank, and
 * computation-kernel durations shortened by up to 2 % (never lengthened, so kernels on one
 * stream cannot start to overlap). `distributedInfo` says the job's rank and world size.
 *
 * Jobs are written once into a cache folder (never into the repository) and reused: a
 * folder counts as built when its manifest (FOLDER.manifest.json) exists.
 */
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { gunzipSync, createGzip } from 'node:zlib';
import { once } from 'node:events';
import type { Writable } from 'node:stream';

export interface JobSpec {
  name: string;
  ranks: number;
  /** Wanted JSON bytes per rank (the result is within one fixture window of it). */
  bytesPerRank: number;
  gzip: boolean;
}

export interface JobManifest {
  spec: JobSpec;
  dir: string;
  files: string[];
  /** Uncompressed JSON bytes of the whole job. */
  jsonBytes: number;
  /** Bytes on disk (compressed when gzip). */
  diskBytes: number;
  events: number;
  copies: number;
  fraction: number;
  generator: string;
}

const GENERATOR = 'scaleJobs v2';

interface Ev {
  ph: string;
  cat?: string;
  name: string;
  pid: number | string;
  tid: number | string;
  ts: number;
  dur?: number;
  args?: Record<string, unknown>;
}

interface Base {
  head: { schemaVersion: unknown; record_shapes: unknown };
  events: Ev[];
  t0: number;
  period: number;
  idStride: number;
  stepBase: number;
  jsonBytes: number;
}

export function cacheRoot(): string {
  return process.env.COMMLENS_SCALE_CACHE ?? join(tmpdir(), 'commlens-scale-cache');
}

function loadBase(path: string): Base {
  const j = JSON.parse(gunzipSync(readFileSync(path)).toString('utf8')) as {
    schemaVersion: unknown;
    record_shapes: unknown;
    traceEvents: Ev[];
  };
  let t0 = Infinity,
    t1 = -Infinity,
    maxId = 0,
    stepBase = Infinity;
  for (const e of j.traceEvents) {
    if (e.ph === 'M') continue;
    t0 = Math.min(t0, e.ts);
    t1 = Math.max(t1, e.ts + (e.dur ?? 0));
    const a = e.args ?? {};
    for (const k of ['External id', 'correlation', 'Ev Idx'])
      if (typeof a[k] === 'number') maxId = Math.max(maxId, a[k] as number);
    const m = /^ProfilerStep#(\d+)$/.exec(e.name);
    if (m) stepBase = Math.min(stepBase, Number(m[1]));
  }
  if (!Number.isFinite(stepBase)) throw new Error(`${path} has no ProfilerStep#N events`);
  const text = JSON.stringify(j);
  return {
    head: { schemaVersion: j.schemaVersion, record_shapes: j.record_shapes },
    events: j.traceEvents,
    t0,
    period: Math.ceil(t1 - t0) + 1000,
    idStride: Math.pow(10, Math.ceil(Math.log10(maxId + 1))),
    stepBase,
    jsonBytes: Buffer.byteLength(text),
  };
}

/** The events of a thinned copy: a window of `fraction` at the start of each step. */
function thin(base: Base, fraction: number): Ev[] {
  if (fraction >= 1) return base.events;
  const steps = base.events
    .filter((e) => /^ProfilerStep#\d+$/.test(e.name))
    .map((e) => [e.ts, e.ts + (e.dur ?? 0)] as const)
    .sort((a, b) => a[0] - b[0]);
  const windows: (readonly [number, number])[] = [[base.t0, steps[0][0]], ...steps];
  const inWindow = (ts: number) => windows.some(([a, b]) => ts >= a && ts < a + fraction * (b - a));
  const keptCorrelation = new Set<number>();
  const out: Ev[] = [];
  for (const e of base.events) {
    if (e.cat === 'kernel' || e.cat === 'gpu_memcpy' || e.cat === 'gpu_memset') continue;
    const keep = e.ph !== 'X' || e.cat === 'Trace' || /^ProfilerStep#/.test(e.name) || inWindow(e.ts);
    if (!keep) continue;
    out.push(e);
    if (e.cat === 'cuda_runtime' && typeof e.args?.correlation === 'number') keptCorrelation.add(e.args.correlation);
  }
  for (const e of base.events) {
    if (
      (e.cat === 'kernel' || e.cat === 'gpu_memcpy' || e.cat === 'gpu_memset') &&
      typeof e.args?.correlation === 'number' &&
      keptCorrelation.has(e.args.correlation)
    )
      out.push(e);
  }
  return out;
}

/** Deterministic hash to [0, 1). */
function unit(a: number, b: number, c: number): number {
  let h = (a * 0x9e3779b1) ^ (b * 0x85ebca77) ^ (c * 0xc2b2ae3d);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
  return ((h ^ (h >>> 15)) >>> 0) / 4294967296;
}

const ID_KEYS = ['External id', 'correlation', 'Ev Idx'];

function shiftedEvent(e: Ev, base: Base, rank: number, copy: number, clockOffset: number): string {
  const args = e.args ? { ...e.args } : undefined;
  if (args)
    for (const k of ID_KEYS) if (typeof args[k] === 'number') args[k] = (args[k] as number) + copy * base.idStride;
  let name = e.name;
  const m = /^ProfilerStep#(\d+)$/.exec(name);
  if (m) name = `ProfilerStep#${Number(m[1]) + 2 * copy}`;
  if (e.ph === 'M') return JSON.stringify({ ...e, args });
  let dur = e.dur;
  if (e.cat === 'kernel' && dur !== undefined && !/nccl/i.test(e.name))
    dur = Math.max(1, Math.round(dur * (1 - 0.02 * unit(rank, copy, e.ts % 1000003))));
  return JSON.stringify({ ...e, name, ts: e.ts + copy * base.period + clockOffset, dur, args });
}

async function write(out: Writable, s: string): Promise<void> {
  if (!out.write(s)) await once(out, 'drain');
}

/** Builds (or finds in the cache) the job; returns its manifest. */
export async function buildJob(
  spec: JobSpec,
  fixtureDir: string,
  log: (s: string) => void = () => {},
): Promise<JobManifest> {
  const dir = join(
    cacheRoot(),
    `${spec.name}-${spec.ranks}r-${Math.round(spec.bytesPerRank / 1e3)}kB${spec.gzip ? '-gz' : ''}`,
  );
  // Beside the folder, not in it: HTA takes every .json in the folder for a trace (and one
  // without a rank for rank 0).
  const manifestPath = `${dir}.manifest.json`;
  if (existsSync(manifestPath)) {
    const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as JobManifest;
    if (m.generator === GENERATOR) return m;
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const bases = [0, 1].map((r) => loadBase(join(fixtureDir, `sampled_rank-${r}.json.gz`)));
  const meanBase = (bases[0].jsonBytes + bases[1].jsonBytes) / 2;
  const copies = Math.max(1, Math.round(spec.bytesPerRank / meanBase));
  // Thinning keeps whole kernels with their launches, metadata and steps, so the bytes kept
  // are not proportional to the window: the fraction is corrected until the size is near.
  let fraction = Math.min(1, spec.bytesPerRank / meanBase);
  let thinned = bases.map((b) => thin(b, fraction));
  for (let k = 0; k < 4 && fraction < 1; k++) {
    const got = thinned.reduce((t, evs) => t + evs.reduce((u, e) => u + JSON.stringify(e).length + 2, 0), 0) / 2;
    if (Math.abs(got - spec.bytesPerRank) < 0.05 * spec.bytesPerRank) break;
    fraction = Math.min(1, fraction * (spec.bytesPerRank / got));
    thinned = bases.map((b) => thin(b, fraction));
  }
  log(
    `building ${spec.name}: ${spec.ranks} ranks × ${copies} cop${copies === 1 ? 'y' : 'ies'}${fraction < 1 ? ` of ${(fraction * 100).toFixed(1)} % of the window` : ''} in ${dir}`,
  );
  const files: string[] = [];
  let jsonBytes = 0,
    diskBytes = 0,
    events = 0;
  for (let rank = 0; rank < spec.ranks; rank++) {
    const base = bases[rank % 2];
    const evs = thinned[rank % 2];
    const file = join(dir, `rank-${rank}.json${spec.gzip ? '.gz' : ''}`);
    const fileStream = createWriteStream(file);
    let out: Writable = fileStream;
    let gz: ReturnType<typeof createGzip> | undefined;
    if (spec.gzip) {
      gz = createGzip({ level: 6 });
      gz.pipe(fileStream);
      out = gz;
    }
    const clockOffset = Math.round(200 * unit(rank, 7, 11));
    const head = `{"schemaVersion": ${JSON.stringify(base.head.schemaVersion)}, "record_shapes": ${JSON.stringify(base.head.record_shapes)}, "distributedInfo": {"backend": "nccl", "rank": ${rank}, "world_size": ${spec.ranks}}, "traceEvents": [`;
    let bytes = Buffer.byteLength(head);
    await write(out, head);
    let first = true;
    for (let copy = 0; copy < copies; copy++) {
      const parts: string[] = [];
      for (const e of evs) {
        if (e.ph === 'M' && copy > 0) continue;
        const s = shiftedEvent(e, base, rank, copy, clockOffset);
        parts.push(first ? s : `, ${s}`);
        first = false;
        events++;
      }
      const chunk = parts.join('');
      bytes += Buffer.byteLength(chunk);
      await write(out, chunk);
    }
    const tail = ']}';
    bytes += tail.length;
    out.end(tail);
    await once(fileStream, 'close');
    jsonBytes += bytes;
    diskBytes += fileStream.bytesWritten;
    files.push(file);
  }
  const manifest: JobManifest = {
    spec,
    dir,
    files,
    jsonBytes,
    diskBytes,
    events,
    copies,
    fraction,
    generator: GENERATOR,
  };
  writeFileSync(manifestPath, JSON.stringify(manifest));
  return manifest;
}

/**
 * A 2-rank job of the real HTA-sampled pair tiled ten times (20 steps per rank, ~11 MB each),
 * in a fresh folder of its own: the job the digest and rank-summary tests use, where most of a
 * rank's ops are pruned.
 */
export async function tiledPairJob(name: string, fixtureDir: string): Promise<string[]> {
  const prev = process.env.COMMLENS_SCALE_CACHE;
  process.env.COMMLENS_SCALE_CACHE = mkdtempSync(join(tmpdir(), `commlens-${name}-`));
  try {
    return (await buildJob({ name, ranks: 2, bytesPerRank: 10 * 1_150_000, gzip: false }, fixtureDir)).files;
  } finally {
    if (prev === undefined) delete process.env.COMMLENS_SCALE_CACHE;
    else process.env.COMMLENS_SCALE_CACHE = prev;
  }
}
