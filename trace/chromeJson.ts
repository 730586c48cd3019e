/**
 * Chrome JSON (Trace Event Format) reading and writing.
 *
 * Writing: X events with one tid per model track (Perfetto drops overlapping X slices on
 * one thread, so streams never share a tid), C counters, M metadata (process/thread names
 * and sort order), flows as v2 bind_id with flow_out/flow_in, falling back to v1 s/f
 * events (with "bp":"e") for a slice that takes part in more than one flow. Times are µs
 * relative to the model's origin; the origin, the run metadata and the track kinds go in
 * a top-level "commlens" object that other readers ignore.
 *
 * Reading: streamed (see jsonStream.ts), plain or gzip (sniffed by its magic bytes), so
 * memory stays bounded by the largest event rather than the file.
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import type { Args, ProcessInfo, Slice, TraceModel, TrackInfo } from './model';
import { TraceFormatError } from './errors';
import { JsonTraceSplitter } from './jsonStream';
import { ChromeJsonImporter, type ChromeJsonCommlensInfo } from './chromeJsonImporter';

function flowList(flow: { out?: number[]; in?: number[] } | undefined): { id: number; out: boolean; in: boolean }[] {
  if (!flow) return [];
  const outs = flow.out ?? [];
  const ins = flow.in ?? [];
  return [...outs.map((id) => ({ id, out: true, in: ins.includes(id) })), ...ins.filter((id) => !outs.includes(id)).map((id) => ({ id, out: false, in: true }))];
}

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
    this.sink('{"displayTimeUnit":"ns","traceEvents":[\n');
  }

  private emit(e: string): void {
    this.buffer.push(this.first ? e : `,\n${e}`);
    this.first = false;
    this.buffered += e.length;
    if (this.buffered > 64 * 1024) this.flush();
  }

  process(p: ProcessInfo): void {
    this.emit(`{"ph":"M","name":"process_name","pid":${p.pid},"tid":0,"args":{"name":${JSON.stringify(p.name)}}}`);
    const labels = [...(p.rank !== undefined ? [`rank=${p.rank}`] : []), ...Object.entries(p.labels ?? {}).map(([k, v]) => `${k}=${v}`)];
    if (labels.length > 0) this.emit(`{"ph":"M","name":"process_labels","pid":${p.pid},"tid":0,"args":{"labels":${JSON.stringify(labels.join(','))}}}`);
    this.emit(`{"ph":"M","name":"process_sort_index","pid":${p.pid},"tid":0,"args":{"sort_index":${p.rank ?? p.pid}}}`);
  }

  track(t: TrackInfo): void {
    this.pidOfTrack.set(t.id, t.pid);
    const tid = t.id + 1;
    const entry = { pid: t.pid, tid, name: t.name, type: t.type, stream: t.stream, gpu: t.gpu, ...(t.sourceId !== undefined ? { sourceId: t.sourceId } : {}), ...(t.unit ? { unit: t.unit } : {}), ...(t.order !== undefined ? { order: t.order } : {}) };
    this.info.tracks?.push(entry);
    if (t.type === 'counter') {
      this.counterTrack.set(t.id, t);
      return;
    }
    this.tidOf.set(t.id, tid);
    this.emit(`{"ph":"M","name":"thread_name","pid":${t.pid},"tid":${tid},"args":{"name":${JSON.stringify(t.name)}}}`);
    this.emit(`{"ph":"M","name":"thread_sort_index","pid":${t.pid},"tid":${tid},"args":{"sort_index":${t.order ?? t.id}}}`);
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
    let e = `{"ph":"X","pid":${pid},"tid":${tid},"ts":${us(s.startNs)},"dur":${us(s.startNs + s.durNs) - us(s.startNs)},"name":${JSON.stringify(s.name)},"cat":${JSON.stringify(cat)}`;
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
      e += `,"bind_id":"0x${f.id.toString(16)}"`;
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
    this.emit(`{"ph":"C","pid":${t?.pid ?? 0},"ts":${us(tsNs)},"name":${JSON.stringify(t?.name ?? `counter ${track}`)},"args":{${JSON.stringify(key)}:${Number.isFinite(value) ? value : 0}}}`);
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
  model.flows.forEach((f, i) => {
    const a = model.slices[f.from];
    const b = model.slices[f.to];
    if (!a || !b) return;
    const forward = a.startNs <= b.startNs;
    const from = forward ? f.from : f.to;
    const to = forward ? f.to : f.from;
    const map = v2Of.has(from) || v2Of.has(to) ? v1Of : v2Of;
    add(map, from, 'out', i + 1);
    add(map, to, 'in', i + 1);
  });
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

function splitterFor(imp: ChromeJsonImporter, fileName?: string): JsonTraceSplitter {
  const warnings: string[] = [];
  const splitter = new JsonTraceSplitter(
    {
      element(text, index, offset) {
        const path = `$.traceEvents[${index}]`;
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch (e) {
          imp.invalid(path, offset, (e as Error).message);
          return;
        }
        imp.event(value, path);
      },
      topLevel(key, text) {
        try {
          imp.topLevel(key, JSON.parse(text));
        } catch {
          warnings.push(`top-level "${key}" is not valid JSON; ignored`);
        }
      },
      warn(message) {
        warnings.push(message);
      },
    },
    fileName,
  );
  (splitter as JsonTraceSplitter & { warnings: string[] }).warnings = warnings;
  return splitter;
}

function finishImport(imp: ChromeJsonImporter, splitter: JsonTraceSplitter, fileName?: string): TraceModel {
  const endWarning = splitter.end();
  const warnings = (splitter as JsonTraceSplitter & { warnings: string[] }).warnings;
  if (!splitter.sawEvents) {
    throw new TraceFormatError('JSON without a "traceEvents" array', { file: fileName, jsonPath: '$.traceEvents', expected: 'a Chrome JSON trace: {"traceEvents": [...]} or [...]' });
  }
  if (imp.imported === 0) {
    const p = imp.firstProblem();
    if (p) throw new TraceFormatError(`no trace events could be read: ${p.what}`, { file: fileName, jsonPath: p.path, expected: 'objects with "ph", "ts", "pid" and "tid"' });
  }
  if (endWarning) warnings.push(fileName ? `${fileName}: ${endWarning}` : endWarning);
  return imp.finish(warnings);
}

/** Reads Chrome JSON from text or an already parsed value. */
export function readChromeJson(input: string | object, opts: { fileName?: string } = {}): TraceModel {
  const imp = new ChromeJsonImporter();
  if (typeof input === 'string') {
    const splitter = splitterFor(imp, opts.fileName);
    splitter.feed(new TextEncoder().encode(input));
    return finishImport(imp, splitter, opts.fileName);
  }
  const events = Array.isArray(input) ? input : (input as Record<string, unknown>).traceEvents;
  if (!Array.isArray(events)) {
    throw new TraceFormatError('JSON without a "traceEvents" array', { file: opts.fileName, jsonPath: '$.traceEvents', expected: 'a Chrome JSON trace: {"traceEvents": [...]} or [...]' });
  }
  if (!Array.isArray(input)) for (const [k, v] of Object.entries(input)) if (k !== 'traceEvents') imp.topLevel(k, v);
  events.forEach((e, i) => imp.event(e, `$.traceEvents[${i}]`));
  if (imp.imported === 0 && events.length > 0) {
    const p = imp.firstProblem();
    throw new TraceFormatError(`no trace events could be read: ${p?.what ?? 'unknown'}`, { file: opts.fileName, jsonPath: p?.path, expected: 'objects with "ph", "ts", "pid" and "tid"' });
  }
  return imp.finish();
}

/** Reads a Chrome JSON file, plain or gzip, as a stream (bounded memory). */
export async function readChromeJsonFile(path: string): Promise<TraceModel> {
  const imp = new ChromeJsonImporter();
  const splitter = splitterFor(imp, path);
  const gz = await startsWithGzip(path);
  const source = fs.createReadStream(path, { highWaterMark: 1 << 20 });
  const stream = gz ? source.pipe(zlib.createGunzip()) : source;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) splitter.feed(chunk);
  } catch (e) {
    if (e instanceof TraceFormatError) throw e;
    // A cut or corrupt gzip stream: keep what was decompressed, if anything.
    const msg = `${path}: ${gz ? 'gzip' : 'read'} error after ${splitter.offset} bytes: ${(e as Error).message}`;
    if (!splitter.sawEvents) throw new TraceFormatError(`${gz ? 'gzip' : 'read'} error: ${(e as Error).message}`, { file: path, offset: splitter.offset, expected: gz ? 'a complete gzip stream' : 'a readable file' });
    (splitter as JsonTraceSplitter & { warnings: string[] }).warnings.push(msg);
  } finally {
    source.destroy();
  }
  return finishImport(imp, splitter, path);
}

/** True when the file starts with the gzip magic bytes 1f 8b. */
export async function startsWithGzip(path: string): Promise<boolean> {
  const fh = await fs.promises.open(path, 'r');
  try {
    const b = Buffer.alloc(2);
    const { bytesRead } = await fh.read(b, 0, 2, 0);
    return bytesRead === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    await fh.close();
  }
}
