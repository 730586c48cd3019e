/**
 * Chrome JSON (Trace Event Format) writing: X events with one tid per model track
 * (Perfetto drops overlapping X slices on one thread, so streams never share a tid), C
 * counters, M metadata (process/thread names and sort order), flows as v2 bind_id with
 * flow_out/flow_in, falling back to v1 s/t/f events (with "bp":"e") for a slice in more
 * than one flow. Times are µs relative to the model's origin; the origin, the run
 * metadata and the track kinds go in a top-level "commlens" object other readers ignore.
 * Pure: runs in Node and in the webview.
 */
import type { Args, ProcessInfo, Slice, TraceModel, TrackInfo } from './model';
import { flowsInTimeOrder } from './model';
import type { ChromeJsonCommlensInfo } from './chromeJsonImporter';

function flowList(flow: { out?: number[]; in?: number[] } | undefined): { id: number; out: boolean; in: boolean }[] {
  if (!flow) return [];
  const outs = flow.out ?? [];
  const ins = flow.in ?? [];
  return [
    ...outs.map((id) => ({ id, out: true, in: ins.includes(id) })),
    ...ins.filter((id) => !outs.includes(id)).map((id) => ({ id, out: false, in: true })),
  ];
}

/**
 * Added to every v2 flow id (bind_id). Perfetto's JSON importer numbers v1 flows (s/t/f)
 * itself with small sequential numbers, in the same id space as bind_ids taken as written,
 * so a file that mixes both kinds with small ids gets flows joined to the wrong slices and
 * `flow_duplicate_id` errors; bind_ids from 2^32 up stay clear of the v1 numbers.
 */
export const BIND_ID_BASE = 2 ** 32;

/** ns → µs with ns precision; integer ns over 1000 print as the shortest exact decimal. */
function us(ns: number): number {
  return Math.round(ns) / 1000;
}

/**
 * Streams Chrome JSON to a sink, same calls as PerfettoStreamWriter; `close()` writes the
 * trailer. The text is valid JSON only after close(); readers of a cut file (ours
 * included) take the complete events before the cut.
 */
export class ChromeJsonStreamWriter {
  private first = true;
  private readonly info: ChromeJsonCommlensInfo;
  private readonly tidOf = new Map<number, number>();
  private readonly pidOfTrack = new Map<number, number>();
  private readonly counterTrack = new Map<number, TrackInfo>();
  private buffer: string[] = [];
  private buffered = 0;

  constructor(
    private readonly sink: (text: string) => void,
    opts: { originNs?: string; format?: TraceModel['meta']['format'] } = {},
  ) {
    this.info = { format: opts.format ?? 'commlens', originNs: opts.originNs ?? '0', tracks: [] };
    // No displayTimeUnit: readers disagree on whether it rescales ts; µs is the format's unit.
    this.sink('{"traceEvents":[\n');
  }

  private emit(e: string): void {
    this.buffer.push(this.first ? e : `,\n${e}`);
    this.first = false;
    this.buffered += e.length;
    if (this.buffered > 64 * 1024) this.flush();
  }

  process(p: ProcessInfo): void {
    this.emit(`{"ph":"M","name":"process_name","pid":${p.pid},"tid":0,"args":{"name":${JSON.stringify(p.name)}}}`);
    const labels = [
      ...(p.rank !== undefined ? [`rank=${p.rank}`] : []),
      ...Object.entries(p.labels ?? {}).map(([k, v]) => `${k}=${v}`),
    ];
    if (labels.length > 0)
      this.emit(
        `{"ph":"M","name":"process_labels","pid":${p.pid},"tid":0,"args":{"labels":${JSON.stringify(labels.join(','))}}}`,
      );
    this.emit(`{"ph":"M","name":"process_sort_index","pid":${p.pid},"tid":0,"args":{"sort_index":${p.rank ?? p.pid}}}`);
  }

  track(t: TrackInfo): void {
    this.pidOfTrack.set(t.id, t.pid);
    const tid = t.id + 1;
    const entry = {
      pid: t.pid,
      tid,
      name: t.name,
      type: t.type,
      stream: t.stream,
      gpu: t.gpu,
      ...(t.sourceId !== undefined ? { sourceId: t.sourceId } : {}),
      ...(t.unit ? { unit: t.unit } : {}),
      ...(t.order !== undefined ? { order: t.order } : {}),
    };
    this.info.tracks?.push(entry);
    if (t.type === 'counter') {
      this.counterTrack.set(t.id, t);
      return;
    }
    this.tidOf.set(t.id, tid);
    this.emit(`{"ph":"M","name":"thread_name","pid":${t.pid},"tid":${tid},"args":{"name":${JSON.stringify(t.name)}}}`);
    this.emit(
      `{"ph":"M","name":"thread_sort_index","pid":${t.pid},"tid":${tid},"args":{"sort_index":${t.order ?? t.id}}}`,
    );
  }

  /**
   * A complete slice as an X event; flows as in PerfettoStreamWriter.slice (`out` starts,
   * `in` ends, an id in both passes through). Chrome JSON allows one bind_id per event:
   * the slice's first flow id uses it, further ids and every id in `legacy` are written
   * as v1 flow events (s/t/f bound to this slice), so both ends of one flow id must use
   * the same kind: give a slice at most one id in `flow`, or put the id in `legacy` on
   * both of its ends.
   */
  slice(s: Slice, flow?: { out?: number[]; in?: number[] }, legacy?: { out?: number[]; in?: number[] }): void {
    const pid = this.pidOfTrack.get(s.track) ?? 0;
    const tid = this.tidOf.get(s.track) ?? s.track + 1;
    const cat = s.rawCategory && s.rawCategory !== s.category ? `${s.category},${s.rawCategory}` : s.category;
    let e = `{"ph":"X","pid":${pid},"tid":${tid},"ts":${us(s.startNs)},"dur":${(Math.round(s.startNs + s.durNs) - Math.round(s.startNs)) / 1000},"name":${JSON.stringify(s.name)},"cat":${JSON.stringify(cat)}`;
    if (s.args) e += `,"args":${JSON.stringify(s.args)}`;
    const extra: string[] = [];
    const v1 = (list: { id: number; out: boolean; in: boolean }[]) => {
      for (const f of list) {
        const base = `"pid":${pid},"tid":${tid},"ts":${us(s.startNs)},"name":"flow","cat":"flow","id":"0x${f.id.toString(16)}"`;
        if (f.in) extra.push(`{"ph":"${f.out ? 't' : 'f'}",${base},"bp":"e"}`);
        else extra.push(`{"ph":"s",${base}}`);
      }
    };
    const v2 = flowList(flow);
    if (v2.length > 0) {
      const f = v2[0];
      e += `,"bind_id":"0x${(BIND_ID_BASE + f.id).toString(16)}"`;
      if (f.out) e += ',"flow_out":true';
      if (f.in) e += ',"flow_in":true';
      v1(v2.slice(1));
    }
    v1(flowList(legacy));
    this.emit(`${e}}`);
    for (const x of extra) this.emit(x);
  }

  counter(track: number, tsNs: number, value: number): void {
    const t = this.counterTrack.get(track);
    const key = t?.unit ?? 'value';
    this.emit(
      `{"ph":"C","pid":${t?.pid ?? 0},"ts":${us(tsNs)},"name":${JSON.stringify(t?.name ?? `counter ${track}`)},"args":{${JSON.stringify(key)}:${Number.isFinite(value) ? value : 0}}}`,
    );
  }

  metadata(info: Args, worldSize?: number): void {
    this.info.info = { ...(this.info.info ?? {}), ...info };
    if (worldSize !== undefined) this.info.worldSize = worldSize;
  }

  flush(): void {
    if (this.buffer.length > 0) {
      this.sink(this.buffer.join(''));
      this.buffer = [];
      this.buffered = 0;
    }
  }

  /** Ends the events array and writes the "commlens" trailer. */
  close(): void {
    this.flush();
    this.sink(`\n],\n"commlens":${JSON.stringify(this.info)}}\n`);
  }
}

/** Streams a whole model as Chrome JSON text to `sink` (flows: fresh id per edge, started on the earlier slice). */
export function writeChromeJsonTo(model: TraceModel, sink: (text: string) => void): void {
  const w = new ChromeJsonStreamWriter(sink, { originNs: model.meta.originNs, format: model.meta.format });
  if (model.meta.info || model.meta.worldSize !== undefined) w.metadata(model.meta.info ?? {}, model.meta.worldSize);
  for (const p of model.processes) w.process(p);
  for (const t of model.tracks) w.track(t);
  // One bind_id per event: an edge uses v2 when neither end has one yet, else v1 on both ends.
  const v2Of = new Map<number, { out?: number[]; in?: number[] }>();
  const v1Of = new Map<number, { out?: number[]; in?: number[] }>();
  const add = (map: typeof v2Of, slice: number, key: 'out' | 'in', id: number) => {
    let f = map.get(slice);
    if (!f) map.set(slice, (f = {}));
    (f[key] ??= []).push(id);
  };
  for (const f of flowsInTimeOrder(model)) {
    const map = v2Of.has(f.from) || v2Of.has(f.to) ? v1Of : v2Of;
    add(map, f.from, 'out', f.id);
    add(map, f.to, 'in', f.id);
  }
  model.slices.forEach((s, i) => w.slice(s, v2Of.get(i), v1Of.get(i)));
  for (const c of model.counters) for (let i = 0; i < c.tsNs.length; i++) w.counter(c.track, c.tsNs[i], c.values[i]);
  w.close();
}

/** The whole model as Chrome JSON text. */
export function writeChromeJson(model: TraceModel): string {
  const parts: string[] = [];
  writeChromeJsonTo(model, (t) => parts.push(t));
  return parts.join('');
}
