/**
 * Child process of bench:scale: `node out/bench/scaleChild.js scan DIR` runs the streaming
 * columnar ingest alone over every per-rank trace of DIR (trace/kinetoScanPool.ts, one worker
 * per core) and prints one JSON line: its time, events, JSON bytes, CPU and peak RSS. (The
 * whole `analyze` is measured by running the CLI itself.)
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { scanKinetoFiles } from '../trace/kinetoScanPool';

export function traceFilesOf(dir: string): string[] {
  const rankOf = (f: string) => Number(/rank-(\d+)/.exec(f)?.[1] ?? 0);
  return readdirSync(dir)
    .filter((f) => /\.json(\.gz)?$/.test(f) && f !== 'manifest.json')
    .sort((a, b) => rankOf(a) - rankOf(b))
    .map((f) => join(dir, f));
}

export interface ScanChildResult {
  scanMs: number;
  events: number;
  jsonBytes: number;
  selfPeakRssBytes: number;
  cpuS: number;
}

async function scan(dir: string): Promise<ScanChildResult> {
  const files = traceFilesOf(dir);
  const t0 = performance.now();
  let events = 0,
    jsonBytes = 0;
  // Columns are counted and dropped as they arrive, as a reducer would summarise them.
  await scanKinetoFiles(files, {
    workerPath: join(__dirname, '..', 'trace', 'kinetoScanWorker.js'),
    keep: false,
    onRank: (_i, c) => ((events += c.count), (jsonBytes += c.bytes)),
  });
  const c = process.cpuUsage();
  return {
    scanMs: performance.now() - t0,
    events,
    jsonBytes,
    selfPeakRssBytes: process.resourceUsage().maxRSS * 1024,
    cpuS: (c.user + c.system) / 1e6,
  };
}

if (require.main === module) {
  const [mode, dir] = process.argv.slice(2);
  if (mode !== 'scan') throw new Error(`unknown mode "${mode}": expected "scan"`);
  scan(dir).then(
    (s) => process.stdout.write(`${JSON.stringify(s)}\n`),
    (e: unknown) => {
      process.stderr.write(`scaleChild: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
