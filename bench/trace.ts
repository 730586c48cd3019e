/**
 * bench:trace — the trace formats' costs, measured side by side in one run.
 *
 * Sections (each returns headline figures; add a section to SECTIONS to extend it, e.g.
 * the lead's `tracing_overhead_ratio` from a real training run):
 * - writer: 1M synthetic spans through PerfettoStreamWriter and ChromeJsonStreamWriter;
 *   events (spans) per second, bytes per event, the JSON/pftrace size ratio, and the
 *   Perfetto reader's speed on the file it just wrote;
 * - stream-1gb: a ≥1 GiB Chrome JSON trace generated to a temp dir, read by a child process
 *   streamed (peak RSS) and imported into the model (peak RSS), then deleted.
 * Results: a table on stdout and bench/results/trace.json.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { PerfettoStreamWriter } from '../trace/perfettoWriter';
import { readPerfetto } from '../trace/perfettoReader';
import { ChromeJsonStreamWriter } from '../trace/chromeJson';
import { syntheticRun, type SyntheticRun } from './traceSynthetic';

type Figures = Record<string, number | string>;
interface Section {
  name: string;
  run(): Figures | Promise<Figures>;
}

const SPANS = Number(process.env.BENCH_TRACE_SPANS ?? 1_000_000);
const GIB = 1024 ** 3;
const JSON_BYTES = Number(process.env.BENCH_TRACE_JSON_BYTES ?? GIB);

function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function writePerfettoRun(run: SyntheticRun, sink: (c: Uint8Array) => void): void {
  const w = new PerfettoStreamWriter(sink, { originNs: '1732345678000000000' });
  w.metadata({ bench: 'trace', spans: run.slices.length });
  for (const p of run.processes) w.process(p);
  for (const t of run.tracks) w.track(t);
  let c = 0;
  for (let i = 0; i < run.slices.length; i++) {
    w.slice(run.slices[i], run.flows.get(i));
    // Counters interleave with the spans, as a live run records them.
    while (c < run.counters.length && run.counters[c].tsNs <= run.slices[i].startNs) {
      const k = run.counters[c++];
      w.counter(k.track, k.tsNs, k.value);
    }
  }
  for (; c < run.counters.length; c++) w.counter(run.counters[c].track, run.counters[c].tsNs, run.counters[c].value);
  w.flush();
}

function writeJsonRun(run: SyntheticRun, sink: (t: string) => void): void {
  const w = new ChromeJsonStreamWriter(sink, { originNs: '1732345678000000000' });
  w.metadata({ bench: 'trace', spans: run.slices.length });
  for (const p of run.processes) w.process(p);
  for (const t of run.tracks) w.track(t);
  let c = 0;
  for (let i = 0; i < run.slices.length; i++) {
    w.slice(run.slices[i], run.flows.get(i));
    while (c < run.counters.length && run.counters[c].tsNs <= run.slices[i].startNs) {
      const k = run.counters[c++];
      w.counter(k.track, k.tsNs, k.value);
    }
  }
  for (; c < run.counters.length; c++) w.counter(run.counters[c].track, run.counters[c].tsNs, run.counters[c].value);
  w.close();
}

const writer: Section = {
  name: 'writer',
  run() {
    const run = syntheticRun(SPANS);
    const n = run.slices.length;
    // Best of three: the machine is shared, the minimum is the least disturbed run.
    let pfBest = Infinity;
    let pfBytes = 0;
    let jsonBest = Infinity;
    let jsonBytes = 0;
    for (let rep = 0; rep < 3; rep++) {
      let bytes = 0;
      const t0 = process.hrtime.bigint();
      writePerfettoRun(run, (c) => (bytes += c.length));
      pfBest = Math.min(pfBest, seconds(t0));
      pfBytes = bytes;
      let chars = 0;
      const t1 = process.hrtime.bigint();
      writeJsonRun(run, (t) => (chars += Buffer.byteLength(t)));
      jsonBest = Math.min(jsonBest, seconds(t1));
      jsonBytes = chars;
    }
    const chunks: Uint8Array[] = [];
    writePerfettoRun(run, (c) => chunks.push(c));
    const file = Buffer.concat(chunks);
    const t2 = process.hrtime.bigint();
    const model = readPerfetto(file);
    const readS = seconds(t2);
    if (model.slices.length !== n) throw new Error(`read back ${model.slices.length} slices of ${n}`);
    return {
      spans: n,
      writer_events_per_s: Math.round(n / pfBest),
      json_writer_events_per_s: Math.round(n / jsonBest),
      pftrace_bytes_per_event: Number((pfBytes / n).toFixed(2)),
      json_bytes_per_event: Number((jsonBytes / n).toFixed(2)),
      json_over_pftrace_size: Number((jsonBytes / pfBytes).toFixed(2)),
      reader_events_per_s: Math.round(n / readS),
      reader_flows: model.flows.length,
    };
  },
};

/** Writes a Chrome JSON trace of at least `bytes` bytes, built like the writer section's spans. */
function generateJson(file: string, bytes: number): number {
  const fd = fs.openSync(file, 'w');
  let written = 0;
  let events = 0;
  const w = new ChromeJsonStreamWriter((t) => {
    written += fs.writeSync(fd, t);
  });
  const run = syntheticRun(200_000);
  for (const p of run.processes) w.process(p);
  for (const t of run.tracks) w.track(t);
  const period = 5_000_000 * Math.ceil(run.slices.length / (run.processes.length * 83));
  for (let round = 0; written < bytes; round++) {
    for (const s of run.slices) w.slice({ ...s, startNs: s.startNs + round * period });
    events += run.slices.length;
    w.flush();
  }
  w.close();
  fs.closeSync(fd);
  return events;
}

const stream1gb: Section = {
  name: 'stream-1gb',
  run() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-bench-'));
    const file = path.join(dir, 'big.json');
    try {
      const t0 = process.hrtime.bigint();
      const events = generateJson(file, JSON_BYTES);
      const genS = seconds(t0);
      const size = fs.statSync(file).size;
      const child = (mode: string) => {
        const r = spawnSync(process.execPath, ['--max-old-space-size=8192', path.join(__dirname, 'traceStreamChild.js'), file, mode], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`traceStreamChild ${mode} failed: ${r.stderr}`);
        return JSON.parse(r.stdout) as { events: number; seconds: number; peakRssMb: number };
      };
      const stream = child('stream');
      const full = child('import');
      return {
        json_file_mb: Math.round(size / 2 ** 20),
        json_events: events,
        generate_s: Number(genS.toFixed(1)),
        stream_1gb_json_peak_rss_mb: Math.round(stream.peakRssMb),
        stream_1gb_json_mb_per_s: Math.round(size / 2 ** 20 / stream.seconds),
        import_1gb_json_peak_rss_mb: Math.round(full.peakRssMb),
        import_1gb_json_s: Number(full.seconds.toFixed(1)),
        import_1gb_json_events: full.events,
      };
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
};

/** Sections in run order; BENCH_TRACE_ONLY=writer,stream-1gb picks some. */
export const SECTIONS: Section[] = [writer, stream1gb];

async function main(): Promise<void> {
  const only = process.env.BENCH_TRACE_ONLY?.split(',');
  const results: Figures = {};
  for (const s of SECTIONS) {
    if (only && !only.includes(s.name)) continue;
    const figures = await s.run();
    process.stdout.write(`\n${s.name}\n`);
    for (const [k, v] of Object.entries(figures)) process.stdout.write(`  ${k.padEnd(34)} ${typeof v === 'number' ? v.toLocaleString('en-US') : v}\n`);
    Object.assign(results, figures);
  }
  const out = path.resolve(__dirname, '..', '..', 'bench', 'results', 'trace.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const previous = fs.existsSync(out) ? (JSON.parse(fs.readFileSync(out, 'utf8')) as Figures) : {};
  fs.writeFileSync(out, `${JSON.stringify({ ...previous, ...results, measuredAt: new Date().toISOString() }, null, 2)}\n`);
  process.stdout.write(`\nwrote ${out}\n`);
}

if (require.main === module) void main();
