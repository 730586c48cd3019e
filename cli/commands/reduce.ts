/**
 * `commlens reduce <rank traces or folder> --out <dir>`: each PyTorch profiler (Kineto) rank
 * trace is scanned as a stream (trace/kinetoScan.ts, one worker per core) and written to
 * `<dir>/<name>.reduced.json.gz`: a valid Kineto trace holding only what the per-rank
 * metrics read (trace/kinetoReduce.ts), which `commlens analyze <dir>` reads like the
 * original. Exit codes: 0 ok, 2 bad input (usage, not a Kineto trace), 1 failure.
 */
import * as fs from 'node:fs';
import { basename, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { scanKinetoFiles } from '../../trace/kinetoScanPool';
import { reduceKinetoColumns } from '../../trace/kinetoReduce';
import { EXIT } from '../protocol';
import { Output, type Io } from '../output';
import { parseArgs, str, UsageError, type OptionSpecs } from '../args';
import type { Command } from '../command';

const REDUCE_USAGE = `usage: commlens reduce <rank trace files | folder> --out <dir>
  writes <dir>/<name>.reduced.json.gz per rank: a Kineto trace of only what the analysis
  reads (GPU work, its launches, steps, comm launchers, memory); analyze reads it as is`;

const OPTIONS: OptionSpecs = { out: { kind: 'string' } };

function inputsOf(paths: string[]): string[] {
  return paths.flatMap((p) =>
    fs.statSync(p).isDirectory()
      ? fs
          .readdirSync(p)
          .filter((f) => /\.json(\.gz)?$/.test(f))
          .sort()
          .map((f) => join(p, f))
      : [p],
  );
}

export async function reduceCommand(args: string[], io?: Io): Promise<number> {
  const out = new Output('reduce', { io });
  let inputs: string[], dir: string | undefined;
  try {
    const p = parseArgs(args, OPTIONS);
    dir = str(p, 'out');
    if (p.positional.length === 0) throw new UsageError('expected rank trace files or a folder of them');
    if (!dir) throw new UsageError('expected --out <dir>');
    const missing = p.positional.find((f) => !fs.existsSync(f));
    if (missing) throw new UsageError(`${missing}: no such file or folder`);
    inputs = inputsOf(p.positional);
    if (inputs.length === 0) throw new UsageError(`no .json or .json.gz trace in ${p.positional.join(', ')}`);
  } catch (e) {
    if (e instanceof UsageError) return out.fail(`${e.message}\n${REDUCE_USAGE}`, EXIT.badInput);
    throw e;
  }
  fs.mkdirSync(dir, { recursive: true });
  let bytesIn = 0,
    bytesOut = 0;
  try {
    await scanKinetoFiles(inputs, {
      keep: false,
      onRank: (i, cols) => {
        const r = reduceKinetoColumns(cols);
        const gz = gzipSync(r.json, { level: 6 });
        fs.writeFileSync(join(dir, `${basename(inputs[i]).replace(/\.json(\.gz)?$/, '')}.reduced.json.gz`), gz);
        bytesIn += cols.bytes;
        bytesOut += r.json.length;
      },
    });
  } catch (e) {
    const message = (e as Error)?.message ?? String(e);
    return out.fail(
      message,
      /not a valid Kineto trace|not a PyTorch profiler/.test(message) ? EXIT.badInput : EXIT.failure,
    );
  }
  out.warn(
    `wrote ${inputs.length} reduced rank trace(s) to ${dir}: ${bytesOut} of ${bytesIn} JSON bytes (${((100 * bytesOut) / Math.max(1, bytesIn)).toFixed(1)} %)`,
    'info',
  );
  return EXIT.ok;
}

export const reduce: Command = {
  name: 'reduce',
  synopsis: 'reduce <rank traces | folder> --out <dir>',
  summary: 'write per-rank Kineto traces of only what analyze reads',
  usage: REDUCE_USAGE,
  run: reduceCommand,
};
