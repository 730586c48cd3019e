/**
 * `commlens bench-collectives`: an nccl-tests-style sweep of the collectives over a link
 * profile, for users (the extension's "Run Collective Benchmark"). The full benchmark
 * with its targets is `npm run bench:collectives`; this one is short and writes its
 * table to `<runs dir>/bench-collectives-<stamp>/results.json`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  benchBytes,
  iterationTimesNs,
  type BenchCase,
  type BenchCaseResult,
  type BenchOp,
} from '../../runtime/comm/benchTask';
import { runLocalWorld } from '../../runtime/comm/localWorld';
import { LINK_PROFILES, slowedProfile, messageTimeNs } from '../../runtime/comm/profiles';
import { busBandwidthFactor } from '../../runtime/comm/spans';
import { workerPath } from '../../runtime/coordinator';
import { Output, type Io } from '../output';
import { parseArgs, num, str, UsageError, type OptionSpecs } from '../args';
import type { Command } from '../command';
import { EXIT } from '../protocol';

const USAGE = `usage: commlens bench-collectives [--world-size N] [--link NAME] [--link-scale F] [--max-mib M] [--runs-dir DIR] [--events]
  all-reduce, reduce-scatter, all-gather, all-to-all and broadcast from 4 KiB to M MiB
  (default 16) on N ranks (default 4) over the link (default none); prints time, algbw and
  busbw per size (nccl-tests definitions) and, on an emulated link, the α-β model's time.
  --world-size N  2..16 ranks (default 4)       --link NAME  a link profile (default none)
  --link-scale F  slow the link F times (>= 1)   --max-mib M  0.004..256 (default 16)
  --runs-dir DIR  where results.json is written  --events     JSON events (for the extension)`;

const OPS: BenchOp[] = ['allReduce', 'reduceScatter', 'allGather', 'allToAll', 'broadcast'];

export interface BenchCollectivesRow {
  op: string;
  algorithm: string;
  bytes: number;
  timeUs: number;
  algbwGBps: number;
  busbwGBps: number;
  /** Ring α-β model time of a ring all-reduce on an emulated link (Thakur et al.). */
  modelUs?: number;
}

export async function benchCollectivesCommand(args: string[], io?: Io): Promise<number> {
  const out = new Output('bench-collectives', { events: args.includes('--events'), io });
  const options: OptionSpecs = {
    'world-size': { kind: 'int', min: 2, max: 16 },
    link: { kind: 'string', values: Object.keys(LINK_PROFILES) },
    'link-scale': { kind: 'number', min: 1 },
    'max-mib': { kind: 'number', min: 0.004, max: 256 },
    'runs-dir': { kind: 'string' },
    events: { kind: 'flag' },
  };
  let worldSize: number, link: string, scale: number, maxMiB: number, runsDir: string;
  try {
    const p = parseArgs(args, options);
    if (p.positional.length) throw new UsageError(`unexpected argument '${p.positional[0]}'`);
    worldSize = num(p, 'world-size') ?? 4;
    link = str(p, 'link') ?? 'none';
    scale = num(p, 'link-scale') ?? 1;
    maxMiB = num(p, 'max-mib') ?? 16;
    runsDir = str(p, 'runs-dir') ?? 'runs';
  } catch (e) {
    if (e instanceof UsageError) return out.fail(e.showUsage ? `${e.message}\n${USAGE}` : e.message, EXIT.badInput);
    throw e;
  }
  const profile = slowedProfile(LINK_PROFILES[link], scale);
  const sizes: number[] = [];
  for (let b = 4096; b <= maxMiB * 1048576; b *= 4) sizes.push(b);
  const cases: BenchCase[] = [];
  for (const op of OPS)
    for (const bytes of sizes)
      cases.push({
        op,
        count: Math.max(1, Math.floor(bytes / 4)),
        dtype: 'f32',
        warmup: 1,
        iters: bytes >= 4 << 20 ? 3 : 8,
      });
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  const runDir = resolve(runsDir, `bench-collectives-${stamp}`);
  out.emit({
    kind: 'start',
    runId: `bench-collectives-${stamp}`,
    runDir,
    worldSize,
    steps: cases.length,
    strategy: 'bench-collectives',
    link,
  });
  out.say(`collective benchmark · ${worldSize} ranks · link ${profile.name} (${profile.description})`);
  out.emit({ kind: 'progress', message: `running ${cases.length} cases on ${worldSize} ranks` });
  let results: BenchCaseResult[][];
  try {
    results = await runLocalWorld<BenchCaseResult[]>({
      worldSize,
      workerPath: workerPath('commBenchWorker.js'),
      topology: { link, ...(scale !== 1 ? { scale } : {}) },
      task: { kind: 'bench', cases, blocking: true },
      maxBytes: 64 << 20,
      timeoutMs: 300_000,
    });
  } catch (e) {
    return out.fail(`the benchmark failed: ${(e as Error).message}`, EXIT.failure);
  }
  const rows: BenchCollectivesRow[] = cases.map((c, i) => {
    const bytes = benchBytes(c, worldSize);
    const t = Math.min(...iterationTimesNs(results.map((r) => r[i])));
    const algbw = bytes / t;
    const row: BenchCollectivesRow = {
      op: c.op,
      algorithm: results[0][i].algorithm,
      bytes,
      timeUs: t / 1e3,
      algbwGBps: algbw,
      busbwGBps: algbw * busBandwidthFactor(c.op, worldSize),
    };
    if (link !== 'none' && c.op === 'allReduce' && row.algorithm === 'ring') {
      // Ring all-reduce: 2(n-1)α + 2(n-1)/n · S/β.
      const n = worldSize;
      row.modelUs =
        (2 * (n - 1) * profile.alphaNs + ((2 * (n - 1)) / n) * (messageTimeNs(profile, bytes) - profile.alphaNs)) / 1e3;
    }
    return row;
  });
  out.say(
    `${'op'.padEnd(14)}${'algorithm'.padEnd(18)}${'size(B)'.padStart(11)}${'time(us)'.padStart(12)}${'algbw(GB/s)'.padStart(13)}${'busbw(GB/s)'.padStart(13)}${link !== 'none' ? 'model(us)'.padStart(12) : ''}`,
  );
  for (const r of rows) {
    out.say(
      `${r.op.padEnd(14)}${r.algorithm.padEnd(18)}${String(r.bytes).padStart(11)}${r.timeUs.toFixed(1).padStart(12)}${r.algbwGBps.toFixed(3).padStart(13)}${r.busbwGBps.toFixed(3).padStart(13)}${r.modelUs !== undefined ? r.modelUs.toFixed(1).padStart(12) : ''}`,
    );
  }
  mkdirSync(runDir, { recursive: true });
  const summaryPath = join(runDir, 'results.json');
  writeFileSync(
    summaryPath,
    JSON.stringify(
      {
        worldSize,
        link: profile.name,
        linkScale: scale,
        alphaNs: profile.alphaNs,
        bytesPerNs: profile.bytesPerNs,
        rows,
      },
      null,
      2,
    ) + '\n',
  );
  out.emit({
    kind: 'log',
    level: 'info',
    message: rows
      .map((r) => `${r.op} ${r.bytes} B: ${r.timeUs.toFixed(1)} us, busbw ${r.busbwGBps.toFixed(3)} GB/s`)
      .join('\n'),
  });
  out.emit({ kind: 'done', runId: `bench-collectives-${stamp}`, runDir, tracePath: '', summaryPath, partial: false });
  out.say(`results: ${summaryPath}`);
  return EXIT.ok;
}

export const benchCollectives: Command = {
  name: 'bench-collectives',
  synopsis: 'bench-collectives [--world-size N] [--link NAME] [--max-mib M]',
  summary: 'nccl-tests-style sweep of the collectives over a link',
  usage: USAGE,
  run: benchCollectivesCommand,
};
