/**
 * `commlens convert <in> <out>`: any trace CommLens reads to Perfetto protobuf or Chrome
 * JSON (gzip by `.gz`). Exit codes: 0 ok, 2 bad input (usage, unreadable or malformed
 * trace), 1 failure (e.g. the output cannot be written).
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { deflateFast, loadTraceFile } from '../../trace/load';
import { writePerfetto } from '../../trace/perfettoWriter';
import { writeChromeJsonTo } from '../../trace/chromeJson';
import { TraceFormatError } from '../../trace/errors';
import { EXIT } from '../protocol';
import { Output, type Io } from '../output';
import { parseArgs, flag, UsageError, type OptionSpecs } from '../args';
import type { Command } from '../command';

const CONVERT_USAGE = `usage: commlens convert <input trace> <output.pftrace|output.perfetto-trace|output.json|output.json.gz> [--compress]
  --compress  deflate the Perfetto packets (compressed_packets; Perfetto reads them)`;

const OPTIONS: OptionSpecs = { compress: { kind: 'flag' } };

/** `convert <in> <out>`: any supported trace to Perfetto protobuf or Chrome JSON (gzip by `.gz`). */
export async function convertCommand(args: string[], io?: Io): Promise<number> {
  const out = new Output('convert', { io });
  let files: string[], compress: boolean;
  try {
    const p = parseArgs(args, OPTIONS);
    files = p.positional;
    compress = flag(p, 'compress');
  } catch (e) {
    if (e instanceof UsageError)
      return out.fail(e.showUsage ? `${e.message}\n${CONVERT_USAGE}` : e.message, EXIT.badInput);
    throw e;
  }
  if (files.length !== 2) return out.fail(`expected an input and an output file\n${CONVERT_USAGE}`, EXIT.badInput);
  const [input, output] = files;
  const kind = /\.(pftrace|perfetto-trace)$/i.test(output)
    ? 'perfetto'
    : /\.json$/i.test(output)
      ? 'json'
      : /\.json\.gz$/i.test(output)
        ? 'json.gz'
        : undefined;
  if (!kind) return out.fail(`${output}: unknown output format\n${CONVERT_USAGE}`, EXIT.badInput);
  let model;
  try {
    model = await loadTraceFile(input);
  } catch (e) {
    return failOn(out, e);
  }
  try {
    if (kind === 'perfetto') fs.writeFileSync(output, writePerfetto(model, compress ? { compress: deflateFast } : {}));
    else await writeJson(model, output, kind === 'json.gz');
  } catch (e) {
    return failOn(out, e);
  }
  for (const w of model.warnings) out.warn(w);
  out.warn(`wrote ${output} (${model.slices.length} slices, ${model.flows.length} flows)`, 'info');
  return EXIT.ok;
}

async function writeJson(model: Parameters<typeof writeChromeJsonTo>[0], output: string, gzip: boolean): Promise<void> {
  const file = fs.createWriteStream(output);
  const out = gzip ? zlib.createGzip() : file;
  if (gzip) out.pipe(file);
  const done = new Promise<void>((resolve, reject) => {
    file.on('finish', resolve);
    file.on('error', reject);
    out.on('error', reject);
  });
  writeChromeJsonTo(model, (t) => out.write(t));
  out.end();
  await done;
}

/** A malformed trace is bad input (exit 2); anything else (e.g. a write error) a failure. */
function failOn(out: Output, e: unknown): number {
  return out.fail((e as Error)?.message ?? String(e), e instanceof TraceFormatError ? EXIT.badInput : EXIT.failure);
}

export const convert: Command = {
  name: 'convert',
  synopsis: 'convert <in> <out.pftrace | out.json>',
  summary: 'convert between Perfetto protobuf and Chrome JSON',
  usage: CONVERT_USAGE,
  run: convertCommand,
};
