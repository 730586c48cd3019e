/**
 * bench:trace — the trace formats' costs, measured side by side in one run.
 *
 * Sections (each returns headline figures; add a section to SECTIONS to extend it, e.g.
 * the lead's `tracing_overhead_ratio` from a real training run):
 * - writer: 1M synthetic spans through PerfettoStreamWriter (plain and with
 *   compressed_packets) and ChromeJsonStreamWriter; an "event" is one span (a slice: two
 *   TrackEvents, BEGIN and END); per second of this process's CPU time, bytes per event,
 *   the JSON/pftrace size ratios, and the Perfetto reader's speed on the file it wrote;
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
import { syntheticRun as syntheticModel, VIEWER_RUN } from '../test/helpers/syntheticRun';
import type { ProcessInfo, Slice, TrackInfo } from '../trace/model';
import { deflateFast } from '../trace/load';
import { measureTracingOverhead } from './tracingOverhead';

type Figures = Record<string, number | string>;
interface Section {
  name: string;
  run(): Figures | Promise<Figures>;
}

const SPANS = Number(process.env.BENCH_TRACE_SPANS ?? 1_000_000);
const GIB = 1024 ** 3;
const JSON_BYTES = Number(process.env.BENCH_TRACE_JSON_BYTES ?? GIB);

/** Wall seconds since `t0`. */
/** A run in the order a live run emits it: slices by start time, each with the flows it starts or ends. */
interface SyntheticRun {
  processes: ProcessInfo[];
  tracks: TrackInfo[];
  slices: Slice[];
  flows: Map<number, { out?: number[]; in?: number[] }>;
  counters: { track: number; tsNs: number; value: number }[];
}

/** About `target` slices of the harness's run (test/helpers/syntheticRun.ts), exact times. */
function syntheticRun(target: number): SyntheticRun {
  const m = syntheticModel({ ...VIEWER_RUN, jitterSeed: undefined, steps: 1, targetSlices: target });
  const order = m.slices.map((_, i) => i).sort((a, b) => m.slices[a].startNs - m.slices[b].startNs || a - b);
  const at = new Int32Array(order.length);
  order.forEach((old, i) => (at[old] = i));
  const flows = new Map<number, { out?: number[]; in?: number[] }>();
  const end = (i: number) => flows.get(i) ?? (flows.set(i, {}), flows.get(i)!);
  for (const f of m.flows) {
    (end(at[f.from]).out ??= []).push(f.id);
    (end(at[f.to]).in ??= []).push(f.id);
  }
  const counters = m.counters
    .flatMap((c) => c.tsNs.map((tsNs, i) => ({ track: c.track, tsNs, value: c.values[i] })))
    .sort((a, b) => a.tsNs - b.tsNs);
  return { processes: m.processes, tracks: m.tracks, slices: order.map((i) => m.slices[i]), flows, counters };
}

function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function writePerfettoRun(
  run: SyntheticRun,
  sink: (c: Uint8Array) => void,
  compress?: (b: Uint8Array) => Uint8Array,
): void {
  const w = new PerfettoStreamWriter(sink, { originNs: '1732345678000000000', compress });
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
    // Throughput from this process's CPU time, best of three: the machine is shared by
    // other jobs, and wall time would measure them; the writers are single-threaded.
    const best = (fn: () => void) => {
      let min = Infinity;
      for (let rep = 0; rep < 3; rep++) {
        const c0 = process.cpuUsage();
        fn();
        const c = process.cpuUsage(c0);
        min = Math.min(min, (c.user + c.system) / 1e6);
      }
      return min;
    };
    let pfBytes = 0;
    const pfS = best(() => {
      pfBytes = 0;
      writePerfettoRun(run, (c) => (pfBytes += c.length));
    });
    let zBytes = 0;
    const zS = best(() => {
      zBytes = 0;
      writePerfettoRun(run, (c) => (zBytes += c.length), deflateFast);
    });
    let jsonBytes = 0;
    const jsonS = best(() => {
      jsonBytes = 0;
      writeJsonRun(run, (t) => (jsonBytes += Buffer.byteLength(t)));
    });
    const chunks: Uint8Array[] = [];
    writePerfettoRun(run, (c) => chunks.push(c));
    const file = Buffer.concat(chunks);
    const c0 = process.cpuUsage();
    const model = readPerfetto(file);
    const c = process.cpuUsage(c0);
    const readS = (c.user + c.system) / 1e6;
    if (model.slices.length !== n) throw new Error(`read back ${model.slices.length} slices of ${n}`);
    const trackEvents = 2 * n + run.counters.length;
    return {
      spans: n,
      writer_events_per_s: Math.round(n / pfS),
      writer_track_events_per_s: Math.round(trackEvents / pfS),
      writer_compressed_events_per_s: Math.round(n / zS),
      json_writer_events_per_s: Math.round(n / jsonS),
      pftrace_bytes_per_event: Number((pfBytes / n).toFixed(2)),
      pftrace_compressed_bytes_per_event: Number((zBytes / n).toFixed(2)),
      json_bytes_per_event: Number((jsonBytes / n).toFixed(2)),
      json_over_pftrace_size: Number((jsonBytes / pfBytes).toFixed(2)),
      json_over_pftrace_compressed_size: Number((jsonBytes / zBytes).toFixed(2)),
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
  const last = run.slices.reduce((m, s) => Math.max(m, s.startNs + s.durNs), 0);
  for (let round = 0; written < bytes; round++) {
    const shift = round * (last + 1_000_000);
    for (const s of run.slices) w.slice({ ...s, startNs: s.startNs + shift });
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
        const r = spawnSync(
          process.execPath,
          ['--max-old-space-size=8192', path.join(__dirname, 'traceStreamChild.js'), file, mode],
          // The section measures the importer's real peak on 1 GiB, so the load budget (trace/budget.ts,
          // 2 GiB by default, which refuses this file) is raised out of the way.
          { encoding: 'utf8', env: { ...process.env, COMMLENS_MAX_TRACE_BYTES: '16G' } },
        );
        if (r.status !== 0) throw new Error(`traceStreamChild ${mode} failed: ${r.stderr}`);
        return JSON.parse(r.stdout) as { events: number; seconds: number; cpuSeconds: number; peakRssMb: number };
      };
      const stream = child('stream');
      const full = child('import');
      return {
        json_file_mb: Math.round(size / 2 ** 20),
        json_events: events,
        generate_s: Number(genS.toFixed(1)),
        stream_1gb_json_peak_rss_mb: Math.round(stream.peakRssMb),
        stream_1gb_json_mb_per_cpu_s: Math.round(size / 2 ** 20 / stream.cpuSeconds),
        stream_1gb_json_wall_s: Number(stream.seconds.toFixed(1)),
        import_1gb_json_peak_rss_mb: Math.round(full.peakRssMb),
        import_1gb_json_wall_s: Number(full.seconds.toFixed(1)),
        import_1gb_json_cpu_s: Number(full.cpuSeconds.toFixed(1)),
        import_1gb_json_events: full.events,
      };
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
};

/** Sections in run order; BENCH_TRACE_ONLY=writer,stream-1gb picks some. */
/** Real training with tracing on and off (runtime/coordinator), alternating in one process. */
const overhead: Section = {
  name: 'overhead',
  async run() {
    const r = await measureTracingOverhead();
    return {
      tracing_overhead_ratio: Number(r.ratio.toFixed(4)),
      overhead_preset: r.preset,
      overhead_median_step_on_ms: Number(r.medianOnMs.toFixed(3)),
      overhead_median_step_off_ms: Number(r.medianOffMs.toFixed(3)),
      overhead_median_step_host_spans_only_ms: Number(r.medianHostOnlyMs.toFixed(3)),
      tracing_overhead_ratio_host_spans_only: Number(r.hostOnlyRatio.toFixed(4)),
      overhead_pairs: r.pairs,
    };
  },
};

export const SECTIONS: Section[] = [writer, stream1gb, overhead];

async function main(): Promise<void> {
  const only = process.env.BENCH_TRACE_ONLY?.split(',');
  const ran: Record<string, Figures & { measuredAt: string }> = {};
  for (const s of SECTIONS) {
    if (only && !only.includes(s.name)) continue;
    const figures = await s.run();
    process.stdout.write(`\n${s.name}\n`);
    for (const [k, v] of Object.entries(figures))
      process.stdout.write(`  ${k.padEnd(34)} ${typeof v === 'number' ? v.toLocaleString('en-US') : v}\n`);
    ran[s.name] = { ...figures, measuredAt: new Date().toISOString() };
  }
  const out = path.resolve(__dirname, '..', '..', 'bench', 'results', 'trace.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  // Sections run on their own (BENCH_TRACE_ONLY) replace only their own figures.
  const previous = fs.existsSync(out)
    ? (JSON.parse(fs.readFileSync(out, 'utf8')) as { sections?: Record<string, Figures & { measuredAt: string }> })
    : {};
  const sections = { ...(previous.sections ?? {}), ...ran };
  const flat: Figures = {};
  for (const figures of Object.values(sections)) Object.assign(flat, figures);
  delete flat.measuredAt;
  fs.writeFileSync(out, `${JSON.stringify({ ...flat, sections }, null, 2)}\n`);
  process.stdout.write(`\nwrote ${out}\n`);
}

if (require.main === module) void main();
