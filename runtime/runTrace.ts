/**
 * Builds a run's trace as the ranks report their steps: keeps the TraceModel in memory
 * (for the summary and the analysis) and streams the same content to a Perfetto file,
 * one step at a time, so a killed run leaves a file holding every finished step.
 *
 * A step is written once every rank has reported it, so that the spans of one
 * collective on all ranks can be joined by flows (started on the rank that entered the
 * collective first, as Perfetto's importer requires).
 */
import { openSync, writeSync, closeSync, fsyncSync } from 'node:fs';
import {
  addTrack,
  emptyModel,
  type CounterSeries,
  type Slice,
  type TraceModel,
  type StreamKind,
  type Args,
} from '../trace/model';
import { PerfettoStreamWriter, metadataArgs, runEndArgs, type RunEnd } from '../trace/perfettoWriter';
import { deflateFast } from '../trace/load';
import type { RankSpan, RankStep } from './rankMessages';
import { otherCoresOver } from './hostCpu';
import {
  BLOCKED_MIN_WINDOW_NS,
  OTHER_CPU_COUNTER,
  OTHER_CPU_WAITING_COUNTER,
  OTHER_CPU_WORKING_COUNTER,
  PROCESS_CPU_COUNTER,
} from '../trace/runCounters';

/**
 * Streams whose spans are concurrent operations, never one inside another (placeOnLanes). Not
 * the communication stream: a rank's collectives run one at a time on its queue (runtime/comm),
 * and the replay takes a collective's track as the lane it serialises on.
 */
const LANE_STREAMS: ReadonlySet<StreamKind> = new Set<StreamKind>(['staging', 'wait']);

const STREAMS: { stream: RankSpan['stream']; name: string; gpu: boolean }[] = [
  { stream: 'host', name: 'host', gpu: false },
  { stream: 'compute', name: 'compute (GPU)', gpu: true },
  { stream: 'staging', name: 'staging D2H/H2D', gpu: true },
  { stream: 'communication', name: 'communication', gpu: true },
  // The host blocked on an unfinished collective (its args: the collective's wait for peers and transfer).
  { stream: 'wait', name: 'host blocked on collectives', gpu: false },
];

const COUNTERS: { key: string; name: string; unit: string }[] = [
  { key: 'loss', name: 'loss', unit: '1' },
  { key: 'stepTimeMs', name: 'step time', unit: 'ms' },
  // The figure (Σ buffer bytes, analysis/runFigures.ts); until 2026-12-05 the trace had only
  // the wire bytes, under the name "bytes sent per step", which the analysis no longer reads.
  { key: 'bytes', name: 'bytes per step', unit: 'bytes' },
  { key: 'wireBytes', name: 'bytes on the wire per step', unit: 'bytes' },
  { key: 'parameters', name: 'memory: parameters', unit: 'bytes' },
  { key: 'gradients', name: 'memory: gradients', unit: 'bytes' },
  { key: 'optimizerState', name: 'memory: optimizer state', unit: 'bytes' },
  { key: 'activations', name: 'memory: activations', unit: 'bytes' },
  { key: 'communication', name: 'memory: communication buffers', unit: 'bytes' },
];

export class RunTrace {
  readonly model: TraceModel;
  private readonly fd: number | undefined;
  private readonly writer: PerfettoStreamWriter;
  private readonly trackOf = new Map<string, number>(); // `${rank}/${stream}` -> track id
  private readonly counterSeries = new Map<string, CounterSeries>(); // `${rank}/${key}`
  private readonly pending = new Map<number, RankStep[]>();
  /** Per track whose ops run concurrently (LANE_STREAMS): its lanes' tracks (the first is the track itself) and where each lane is busy until. */
  private readonly lanes = new Map<number, { tracks: number[]; busyUntilNs: number[] }>();
  private nextFlowId = 1;
  private closed = false;
  stepsWritten = 0;

  /** `hostOriginNs` is the host clock (hostNowNs) at the run's start; `epochOriginNs` the wall clock then. */
  /** With no `path` nothing is written to disk (the model is still kept). */
  constructor(
    readonly path: string | undefined,
    readonly worldSize: number,
    private readonly hostOriginNs: number,
    epochOriginNs: bigint,
    info: Args,
  ) {
    this.model = emptyModel('commlens', epochOriginNs.toString());
    this.model.meta.worldSize = worldSize;
    this.model.meta.info = info;
    const fd = path !== undefined ? openSync(path, 'w') : undefined;
    this.fd = fd;
    this.writer = new PerfettoStreamWriter(fd !== undefined ? (chunk) => writeSync(fd, chunk) : () => undefined, {
      originNs: epochOriginNs.toString(),
      compress: deflateFast,
    });
    this.writer.metadata(metadataArgs(this.model));
    for (let rank = 0; rank < worldSize; rank++) {
      const p = { pid: rank + 1, rank, name: `rank ${rank}` };
      this.model.processes.push(p);
      this.writer.process(p);
      STREAMS.forEach((s, order) => {
        const t = {
          pid: p.pid,
          name: s.name,
          type: 'slice' as const,
          stream: s.stream as StreamKind,
          gpu: s.gpu,
          order,
        };
        const id = addTrack(this.model, t);
        this.trackOf.set(`${rank}/${s.stream}`, id);
        this.writer.track(this.model.tracks[id]);
      });
      COUNTERS.forEach((c, i) => {
        const id = addTrack(this.model, {
          pid: p.pid,
          name: c.name,
          type: 'counter',
          stream: 'other',
          gpu: false,
          unit: c.unit,
          order: STREAMS.length + i,
        });
        const series: CounterSeries = { track: id, tsNs: [], values: [] };
        this.counterSeries.set(`${rank}/${c.key}`, series);
        this.model.counters.push(series);
        this.writer.track(this.model.tracks[id]);
      });
    }
    this.writer.flush();
  }

  /** Records one rank's step; writes the step out once all ranks have reported it. */
  addStep(s: RankStep): void {
    const list = this.pending.get(s.step) ?? [];
    list.push(s);
    this.pending.set(s.step, list);
    if (list.length === this.worldSize) {
      this.pending.delete(s.step);
      this.writeStep(list);
    }
  }

  /** The rank's counter track of a strategy's own value (`name`), declared the first time the rank reports it. */
  /** One sample of the counter named `name` on `rank`'s process, in the model and the file. */
  private sampleNamed(rank: number, name: string, unit: string, ts: number, value: number): void {
    const series = this.namedCounter(rank, name, unit);
    series.tsNs.push(ts);
    series.values.push(value);
    this.writer.counter(series.track, ts, value);
  }

  private namedCounter(rank: number, name: string, unit: string): CounterSeries {
    const key = `${rank}/counter/${name}`;
    let series = this.counterSeries.get(key);
    if (series) return series;
    const pid = rank + 1;
    const order = this.model.tracks.filter((t) => t.pid === pid).length;
    const id = addTrack(this.model, { pid, name, type: 'counter', stream: 'other', gpu: false, unit, order });
    series = { track: id, tsNs: [], values: [] };
    this.counterSeries.set(key, series);
    this.model.counters.push(series);
    this.writer.track(this.model.tracks[id]);
    return series;
  }

  /**
   * The rank's track named `name` (a process group's collectives: "tp group 0 (ranks 0,1)"),
   * declared the first time a span goes on it, after the rank's fixed tracks.
   */
  private namedTrack(rank: number, stream: RankSpan['stream'], name: string): number {
    const key = `${rank}/${stream}/${name}`;
    let id = this.trackOf.get(key);
    if (id !== undefined) return id;
    const pid = rank + 1;
    const order = this.model.tracks.filter((t) => t.pid === pid).length;
    const gpu = STREAMS.find((s) => s.stream === stream)?.gpu ?? false;
    id = addTrack(this.model, { pid, name, type: 'slice', stream: stream as StreamKind, gpu, order });
    this.trackOf.set(key, id);
    this.writer.track(this.model.tracks[id]);
    return id;
  }

  private rel(ns: number): number {
    return ns - this.hostOriginNs;
  }

  /**
   * Spans in flight together on a stream whose ops are concurrent, not nested (staging copies
   * of two buckets, the host blocked on two collectives; LANE_STREAMS): each goes on the first lane of its
   * track that is free by its start, a lane being a track of its own ("staging D2H/H2D (2)")
   * right after the first. One track can hold only nested slices: Perfetto matches each END
   * to the innermost open slice, so two copies that overlapped without nesting came back from
   * the file with each other's ends, and the run's own model clipped them; the analysis of the
   * run and of its file then differed (a prediction 574 against 696 ms on mlp-small int8-EF).
   */
  private placeOnLanes(slices: Slice[]): void {
    const byTrack = new Map<number, Slice[]>();
    for (const s of slices) {
      if (!LANE_STREAMS.has(this.model.tracks[s.track].stream)) continue;
      const l = byTrack.get(s.track);
      if (l) l.push(s);
      else byTrack.set(s.track, [s]);
    }
    for (const [base, list] of byTrack) {
      let l = this.lanes.get(base);
      if (!l) {
        l = { tracks: [base], busyUntilNs: [-Infinity] };
        this.lanes.set(base, l);
      }
      list.sort((a, b) => a.startNs - b.startNs || b.durNs - a.durNs);
      for (const s of list) {
        let k = l.busyUntilNs.findIndex((t) => t <= s.startNs);
        if (k < 0) {
          k = l.tracks.length;
          const t = this.model.tracks[base];
          const id = addTrack(this.model, {
            pid: t.pid,
            name: `${t.name} (${k + 1})`,
            type: 'slice',
            stream: t.stream,
            gpu: t.gpu,
            order: t.order,
          });
          this.writer.track(this.model.tracks[id]);
          l.tracks.push(id);
          l.busyUntilNs.push(-Infinity);
        }
        s.track = l.tracks[k];
        l.busyUntilNs[k] = s.startNs + s.durNs;
      }
    }
  }

  private writeStep(steps: RankStep[]): void {
    const slices: { slice: Slice; rank: number }[] = [];
    for (const st of steps) {
      for (const sp of st.spans) {
        const track =
          sp.track !== undefined
            ? this.namedTrack(st.rank, sp.stream, sp.track)
            : this.trackOf.get(`${st.rank}/${sp.stream}`);
        if (track === undefined) continue;
        const startNs = this.rel(sp.startNs);
        slices.push({
          rank: st.rank,
          slice: {
            track,
            name: sp.name,
            category: sp.category,
            startNs,
            durNs: Math.max(0, sp.endNs - sp.startNs),
            args: sp.args,
          },
        });
      }
    }
    this.placeOnLanes(slices.map((x) => x.slice));
    // Join each collective across ranks: same group and sequence number; a send and its
    // recv: same sender, receiver and pair number (point-to-point ops stay out of the
    // group's sequence).
    const groups = new Map<string, number[]>();
    const join = (key: string, i: number): void => {
      const l = groups.get(key) ?? [];
      l.push(i);
      groups.set(key, l);
    };
    slices.forEach((x, i) => {
      const a = x.slice.args;
      if (x.slice.category !== 'collective' || !a || a.seq === undefined) return;
      if (a.sendTo !== undefined || a.recvFrom !== undefined) {
        if (a.sendTo !== undefined) join(`p2p/${a.group}/${x.rank}->${a.sendTo}/${a.sendSeq}`, i);
        if (a.recvFrom !== undefined) join(`p2p/${a.group}/${a.recvFrom}->${x.rank}/${a.recvSeq}`, i);
      } else join(`${a.group}/${a.seq}`, i);
    });
    const flowOut = new Map<number, number[]>();
    const flowIn = new Map<number, number[]>();
    const flowPairs: [number, number, number][] = [];
    for (const idxs of groups.values()) {
      if (idxs.length < 2) continue;
      idxs.sort((a, b) => slices[a].slice.startNs - slices[b].slice.startNs);
      for (let k = 1; k < idxs.length; k++) {
        const id = this.nextFlowId++;
        (flowOut.get(idxs[k - 1]) ?? flowOut.set(idxs[k - 1], []).get(idxs[k - 1])!).push(id);
        (flowIn.get(idxs[k]) ?? flowIn.set(idxs[k], []).get(idxs[k])!).push(id);
        flowPairs.push([id, idxs[k - 1], idxs[k]]);
      }
    }
    const order = slices.map((_, i) => i).sort((a, b) => slices[a].slice.startNs - slices[b].slice.startNs);
    const modelIndex = new Map<number, number>();
    for (const i of order) {
      modelIndex.set(i, this.model.slices.length);
      this.model.slices.push(slices[i].slice);
      this.writer.slice(slices[i].slice, { out: flowOut.get(i), in: flowIn.get(i) });
    }
    for (const [id, from, to] of flowPairs)
      this.model.flows.push({ id, from: modelIndex.get(from)!, to: modelIndex.get(to)! });
    for (const st of steps) {
      // A counter's value holds from its sample to the next: sampled at the step's start, each
      // step's figures (its time, loss, bytes, memory) span that step, warm-up ones the warm-up step.
      const ts = this.rel(st.startNs);
      const values: Record<string, number> = {
        loss: st.loss,
        stepTimeMs: (st.endNs - st.startNs) / 1e6,
        bytes: st.bytes,
        wireBytes: st.wireBytes,
        ...st.memory,
      };
      for (const c of COUNTERS) {
        const series = this.counterSeries.get(`${st.rank}/${c.key}`)!;
        series.tsNs.push(ts);
        series.values.push(values[c.key]);
        this.writer.counter(series.track, ts, values[c.key]);
      }
      // How many cores the whole process kept busy over the step (rankWorker's processCpuNs): on a
      // software GPU the ranks' kernels and host loops share the machine's cores, and the row shows
      // when a step was held by them. Nothing in analysis/ reads it (a bound on the step built on
      // it was tried and dropped: docs/benchmarks.md, 2026-12-06). Once, on rank 0's process:
      // every rank reads the same process, over nearly the same window.
      if (st.rank === 0 && st.processCpuNs !== undefined && st.endNs > st.startNs) {
        const wallNs = st.endNs - st.startNs;
        this.sampleNamed(st.rank, PROCESS_CPU_COUNTER, 'cores', ts, st.processCpuNs / wallNs);
        // And what the machine's other programs used meanwhile (runtime/hostCpu.ts otherCoresOver).
        if (st.machineCpuNs !== undefined) {
          this.sampleNamed(
            st.rank,
            OTHER_CPU_COUNTER,
            'cores',
            ts,
            otherCoresOver(st.machineCpuNs, st.processCpuNs, wallNs),
          );
          // The same, split by whether rank 0 was blocked on its collectives (runtime/hostCpu.ts
          // BlockedMeter): what other programs take while the run waits (the load the replay prices
          // host loops beside, analysis/replay/load.ts) and while it works. A part under
          // BLOCKED_MIN_WINDOW_NS gives no sample.
          const b = st.blockedCpu;
          const split = (name: string, partNs: number, machineNs: number, processNs: number) => {
            if (partNs >= BLOCKED_MIN_WINDOW_NS)
              this.sampleNamed(st.rank, name, 'cores', ts, otherCoresOver(machineNs, processNs, partNs));
          };
          if (b) {
            split(OTHER_CPU_WAITING_COUNTER, b.wallNs, b.machineNs, b.processNs);
            split(
              OTHER_CPU_WORKING_COUNTER,
              wallNs - b.wallNs,
              st.machineCpuNs - b.machineNs,
              st.processCpuNs - b.processNs,
            );
          }
        }
      }
      for (const c of st.counters ?? []) this.sampleNamed(st.rank, c.name, c.unit, ts, c.value);
    }
    this.writer.flush();
    this.stepsWritten++;
  }

  /**
   * Flushes and closes the file. Steps that not every rank finished are left out. `end`
   * (how the run ended) goes into the run metadata, in the model and in the file.
   */
  close(end?: RunEnd): void {
    if (this.closed) return;
    this.closed = true;
    if (end) {
      const args = runEndArgs(this.model.meta.info, end);
      this.model.meta.info = args.info as Args;
      this.writer.metadata(args);
    }
    this.writer.flush();
    if (this.fd === undefined) return;
    try {
      fsyncSync(this.fd);
    } catch {
      // not every file system supports fsync; the data is written either way
    }
    closeSync(this.fd);
  }
}
