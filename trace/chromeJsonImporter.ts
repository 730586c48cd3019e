/**
 * Chrome JSON (Trace Event Format) events into the trace model, one event at a time, as
 * Perfetto's JSON importer reads them:
 * - ts/dur in microseconds (displayTimeUnit only changes the display); kept in ns,
 *   relative to the first event's ts while streaming, shifted to the earliest at the end;
 * - one track per (pid, tid): X complete slices, B/E pairs, i/I/R instants; b/e/n async
 *   events on a track per (pid, cat, id); C counters, one track per (pid, name, arg key);
 *   M metadata (process_name, thread_name, *_sort_index, process_labels);
 * - flows v2 (bind_id with flow_out/flow_in: out starts or continues, in alone ends) and
 *   v1 (s/t/f with id: `s`/`t` bind to the enclosing slice, `f` to the enclosing one with
 *   "bp":"e", else to the next slice to begin on its thread); flows with id2 are rejected
 *   as Perfetto rejects them;
 * - a top-level "commlens" object (written by CommLens) restores metadata and track kinds.
 * Events of the wrong shape are skipped and counted, each kind reported once with its
 * JSON path.
 */
import type { Args, ArgValue, SliceCategory, StreamKind, TraceModel, TrackInfo } from './model';
import { emptyModel, finalizeModel } from './model';
import { isSliceCategory, mapCategory } from './categories';

type JsonEvent = Record<string, unknown>;

interface V1Flow {
  phase: 's' | 't' | 'f';
  id: string;
  track: number;
  ts: number;
  enclosing: boolean;
  order: number;
}

/** What a CommLens-written file says about itself (top-level "commlens"). */
export interface ChromeJsonCommlensInfo {
  format?: string;
  originNs?: string;
  worldSize?: number;
  info?: Args;
  tracks?: {
    pid: number;
    tid: number | string;
    name: string;
    type: 'slice' | 'counter';
    stream: StreamKind;
    gpu: boolean;
    sourceId?: number | string;
    unit?: string;
    order?: number;
    counterKey?: string;
  }[];
}

export class ChromeJsonImporter {
  readonly model: TraceModel = emptyModel('chrome-json');
  private baseUs: number | undefined;
  private readonly tracks = new Map<string, number>();
  private readonly processNames = new Map<number, string>();
  private readonly open = new Map<number, number[]>();
  private readonly counterIndex = new Map<number, number>();
  private readonly flowOut = new Map<string, number>();
  private readonly v1: V1Flow[] = [];
  private readonly v2: { id: string; slice: number; in: boolean; out: boolean; order: number }[] = [];
  private readonly problems = new Map<string, { count: number; first: string }>();
  private commlens: ChromeJsonCommlensInfo | undefined;
  private events = 0;
  /** Events that were imported (not skipped). */
  imported = 0;
  private minNs = Infinity;

  /** An element that was not valid JSON. */
  invalid(path: string, offset: number, message: string): void {
    this.events++;
    this.problem(`invalid JSON (${message.replace(/ in JSON at position \d+.*$/, '')})`, `${path} (byte ${offset})`);
  }

  /** The first problem, for an error when nothing could be imported. */
  firstProblem(): { what: string; path: string } | undefined {
    for (const [what, p] of this.problems) return { what, path: p.first };
    return undefined;
  }

  /** Top-level keys other than traceEvents. */
  topLevel(key: string, value: unknown): void {
    if (key === 'commlens' && value && typeof value === 'object') this.commlens = value as ChromeJsonCommlensInfo;
    else if (key !== 'displayTimeUnit' && key !== 'stackFrames' && key !== 'samples') {
      if (value !== null && typeof value !== 'object') (this.model.meta.info ??= {})[key] = value as ArgValue;
      else this.problem(`top-level "${key}" not imported`, `$.${key}`);
    }
  }

  private problem(what: string, path: string): void {
    const p = this.problems.get(what);
    if (p) p.count++;
    else this.problems.set(what, { count: 1, first: path });
  }

  private num(e: JsonEvent, key: string, path: string, required: boolean): number | undefined {
    const v = e[key];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
    if (v !== undefined || required) this.problem(`"${key}" is not a number`, `${path}.${key}`);
    return undefined;
  }

  private ns(us: number): number {
    if (this.baseUs === undefined) this.baseUs = us;
    // Subtract in µs first: large integer µs stay exact, then scale.
    const v = Math.round((us - this.baseUs) * 1000);
    if (v < this.minNs) this.minNs = v;
    return v;
  }

  private pidOf(e: JsonEvent): number {
    const p = e.pid;
    if (typeof p === 'number' && Number.isFinite(p)) return p;
    if (typeof p === 'string') {
      const n = Number(p);
      return Number.isFinite(n) ? n : hashString(p);
    }
    return 0;
  }

  private ensureProcess(pid: number): void {
    if (this.model.processes.some((p) => p.pid === pid)) return;
    this.model.processes.push({ pid, name: this.processNames.get(pid) ?? `pid ${pid}` });
  }

  private track(key: string, pid: number, make: () => Omit<TrackInfo, 'id' | 'pid'>): number {
    let id = this.tracks.get(key);
    if (id !== undefined) return id;
    this.ensureProcess(pid);
    id = this.model.tracks.length;
    this.model.tracks.push({ id, pid, ...make() });
    this.tracks.set(key, id);
    return id;
  }

  private threadTrack(pid: number, tid: unknown): number {
    const t = typeof tid === 'number' || typeof tid === 'string' ? tid : 0;
    return this.track(`t:${pid}:${t}`, pid, () => ({
      name: `thread ${t}`,
      type: 'slice',
      stream: 'host',
      gpu: false,
      sourceId: t,
    }));
  }

  /** One element of traceEvents. `path` is its JSON path for messages. */
  event(e: unknown, path: string): void {
    this.events++;
    if (!e || typeof e !== 'object' || Array.isArray(e)) {
      this.problem('event is not an object', path);
      return;
    }
    const ev = e as JsonEvent;
    const ph = ev.ph;
    if (typeof ph !== 'string') {
      this.problem('event without a "ph" string', `${path}.ph`);
      return;
    }
    const pid = this.pidOf(ev);
    if (ph === 'M') {
      this.imported++;
      this.metadata(ev, pid, path);
      return;
    }
    const tsUs = this.num(ev, 'ts', path, true);
    if (tsUs === undefined) return;
    this.imported++;
    const ts = this.ns(tsUs);
    const name = typeof ev.name === 'string' ? ev.name : '';
    const cat = typeof ev.cat === 'string' ? ev.cat : undefined;
    const args = ev.args && typeof ev.args === 'object' && !Array.isArray(ev.args) ? (ev.args as Args) : undefined;
    switch (ph) {
      case 'X': {
        const durUs = this.num(ev, 'dur', path, false) ?? 0;
        const track = this.threadTrack(pid, ev.tid);
        const i = this.addSlice(track, name, cat, ts, Math.max(0, Math.round(durUs * 1000)), args);
        this.bindV2(ev, i, path);
        return;
      }
      case 'B': {
        const track = this.threadTrack(pid, ev.tid);
        const i = this.addSlice(track, name, cat, ts, 0, args);
        const stack = this.open.get(track) ?? [];
        stack.push(i);
        this.open.set(track, stack);
        this.bindV2(ev, i, path);
        return;
      }
      case 'E': {
        const track = this.threadTrack(pid, ev.tid);
        const i = this.open.get(track)?.pop();
        if (i === undefined) {
          this.problem('"E" event without an open "B"', path);
          return;
        }
        const s = this.model.slices[i];
        s.durNs = Math.max(0, ts - s.startNs);
        if (args && Object.keys(args).length > 0) s.args = { ...(s.args ?? {}), ...args };
        return;
      }
      case 'i':
      case 'I':
      case 'R': {
        const s = ev.s;
        const track =
          s === 'g'
            ? this.track('global-instants', -1, () => ({
                name: 'Global instants',
                type: 'slice',
                stream: 'other',
                gpu: false,
              }))
            : s === 'p'
              ? this.track(`p:${pid}`, pid, () => ({
                  name: this.processNames.get(pid) ?? `pid ${pid}`,
                  type: 'slice',
                  stream: 'other',
                  gpu: false,
                }))
              : this.threadTrack(pid, ev.tid);
        this.addSlice(track, name, cat, ts, 0, args);
        return;
      }
      case 'b':
      case 'e':
      case 'n': {
        const id = ev.id2 !== undefined ? JSON.stringify(ev.id2) : String(ev.id ?? '');
        const track = this.track(`a:${pid}:${cat ?? ''}:${id}`, pid, () => ({
          name: name || 'async',
          type: 'slice',
          stream: 'other',
          gpu: false,
        }));
        if (ph === 'e') {
          const i = this.open.get(track)?.pop();
          if (i === undefined) this.problem('"e" event without an open "b"', path);
          else {
            this.model.slices[i].durNs = Math.max(0, ts - this.model.slices[i].startNs);
            if (args && Object.keys(args).length > 0)
              this.model.slices[i].args = { ...(this.model.slices[i].args ?? {}), ...args };
          }
        } else {
          const i = this.addSlice(track, name, cat, ts, 0, args);
          if (ph === 'b') {
            const stack = this.open.get(track) ?? [];
            stack.push(i);
            this.open.set(track, stack);
          }
        }
        return;
      }
      case 'C':
        this.counter(ev, pid, name, ts, args, path);
        return;
      case 's':
      case 't':
      case 'f': {
        if (ev.id2 !== undefined) {
          this.problem('flow event with "id2" rejected (as Perfetto does)', path);
          return;
        }
        if (ev.id === undefined) {
          this.problem('flow event without "id"', `${path}.id`);
          return;
        }
        this.v1.push({
          phase: ph,
          id: `${cat ?? ''}:${String(ev.id)}`,
          track: this.threadTrack(pid, ev.tid),
          ts,
          enclosing: ph !== 'f' || ev.bp === 'e',
          order: this.v1.length,
        });
        return;
      }
      default:
        this.problem(`phase "${ph}" not supported`, `${path}.ph`);
    }
  }

  private addSlice(
    track: number,
    name: string,
    cat: string | undefined,
    startNs: number,
    durNs: number,
    args: Args | undefined,
  ): number {
    const { category, rawCategory } = this.categoryOf(cat, name);
    const i = this.model.slices.length;
    this.model.slices.push({
      track,
      name,
      category,
      startNs,
      durNs,
      ...(rawCategory ? { rawCategory } : {}),
      ...(args && Object.keys(args).length > 0 ? { args } : {}),
    });
    return i;
  }

  private categoryOf(cat: string | undefined, name: string): { category: SliceCategory; rawCategory?: string } {
    // CommLens writes "<model category>,<producer category>"; take it back apart.
    if (cat) {
      const comma = cat.indexOf(',');
      const first = comma < 0 ? cat : cat.slice(0, comma);
      if (isSliceCategory(first))
        return comma < 0 ? { category: first } : { category: first, rawCategory: cat.slice(comma + 1) };
    }
    const category = mapCategory(cat, name);
    return cat && cat !== category ? { category, rawCategory: cat } : { category };
  }

  private bindV2(ev: JsonEvent, slice: number, path: string): void {
    if (ev.bind_id === undefined) return;
    if (typeof ev.bind_id !== 'string' && typeof ev.bind_id !== 'number') {
      this.problem('"bind_id" is not a string or number', `${path}.bind_id`);
      return;
    }
    const id = String(ev.bind_id);
    if (ev.flow_in === true || ev.flow_out === true)
      this.v2.push({ id, slice, in: ev.flow_in === true, out: ev.flow_out === true, order: this.v2.length });
  }

  /** v2 flows in time order (Perfetto sorts events before binding): in links and ends, out starts. */
  private resolveV2(): void {
    const m = this.model;
    const list = [...this.v2].sort(
      (a, b) => m.slices[a.slice].startNs - m.slices[b.slice].startNs || a.order - b.order,
    );
    for (const f of list) {
      if (f.in) {
        const from = this.flowOut.get(f.id);
        if (from !== undefined) {
          m.flows.push({ id: flowNumber(f.id), from, to: f.slice });
          this.flowOut.delete(f.id);
        }
      }
      if (f.out) this.flowOut.set(f.id, f.slice);
    }
  }

  private counter(ev: JsonEvent, pid: number, name: string, ts: number, args: Args | undefined, path: string): void {
    if (!args) {
      this.problem('"C" event without args', `${path}.args`);
      return;
    }
    const id = ev.id !== undefined ? ` ${String(ev.id)}` : '';
    for (const [key, v] of Object.entries(args)) {
      if (typeof v !== 'number') {
        this.problem('counter value is not a number', `${path}.args.${key}`);
        continue;
      }
      const track = this.track(`c:${pid}:${name}${id}:${key}`, pid, () => ({
        name: key === 'value' ? `${name}${id}` : `${name}${id} ${key}`,
        type: 'counter',
        stream: 'other',
        gpu: false,
      }));
      let ci = this.counterIndex.get(track);
      if (ci === undefined) {
        ci = this.model.counters.length;
        this.model.counters.push({ track, tsNs: [], values: [] });
        this.counterIndex.set(track, ci);
      }
      this.model.counters[ci].tsNs.push(ts);
      this.model.counters[ci].values.push(v);
    }
  }

  private metadata(ev: JsonEvent, pid: number, path: string): void {
    const args = ev.args && typeof ev.args === 'object' ? (ev.args as Record<string, unknown>) : {};
    switch (ev.name) {
      case 'process_name':
        if (typeof args.name === 'string') {
          this.processNames.set(pid, args.name);
          this.ensureProcess(pid);
          const p = this.model.processes.find((x) => x.pid === pid);
          if (p) p.name = args.name;
        }
        return;
      case 'process_labels':
        if (typeof args.labels === 'string') {
          this.ensureProcess(pid);
          const p = this.model.processes.find((x) => x.pid === pid);
          for (const label of args.labels.split(',')) {
            const eq = label.indexOf('=');
            if (eq > 0 && p) {
              const k = label.slice(0, eq);
              const v = label.slice(eq + 1);
              if (k === 'rank' && /^\d+$/.test(v)) p.rank = Number(v);
              else (p.labels ??= {})[k] = v;
            }
          }
        }
        return;
      case 'thread_name':
        if (typeof args.name === 'string') this.model.tracks[this.threadTrack(pid, ev.tid)].name = args.name;
        return;
      case 'thread_sort_index':
        if (typeof args.sort_index === 'number')
          this.model.tracks[this.threadTrack(pid, ev.tid)].order = args.sort_index;
        return;
      case 'process_sort_index':
        return;
      default:
        this.problem(`metadata "${String(ev.name)}" not imported`, path);
    }
  }

  /** Resolves v1 flows, closes open slices, applies CommLens' own track info; returns the model. */
  finish(warnings: string[] = []): TraceModel {
    const m = this.model;
    this.resolveV1();
    this.resolveV2();
    let unfinished = 0;
    let lastNs = this.minNs;
    for (const s of m.slices) lastNs = Math.max(lastNs, s.startNs + s.durNs);
    for (const stack of this.open.values())
      for (const i of stack) {
        m.slices[i].durNs = Math.max(0, lastNs - m.slices[i].startNs);
        unfinished++;
      }
    if (unfinished) m.warnings.push(`${unfinished} slice(s) never ended; they were extended to the last timestamp`);
    for (const [what, p] of this.problems) m.warnings.push(`${p.count} × ${what} (first at ${p.first}); skipped`);
    m.warnings.push(...warnings);
    // Origin and shift: CommLens' declared origin, else the earliest event.
    const base = this.baseUs ?? 0;
    const whole = Math.floor(base);
    const baseNs = BigInt(whole) * 1000n + BigInt(Math.round((base - whole) * 1000));
    let shift = this.minNs === Infinity ? 0 : this.minNs;
    const c = this.commlens;
    if (c?.originNs && /^\d+$/.test(c.originNs)) {
      shift = 0;
      m.meta.originNs = c.originNs;
      if (baseNs !== 0n) {
        // A CommLens file's ts are relative to its origin; re-base to it.
        for (const s of m.slices) s.startNs += Math.round(base * 1000);
        for (const k of m.counters) for (let i = 0; i < k.tsNs.length; i++) k.tsNs[i] += Math.round(base * 1000);
      }
    } else m.meta.originNs = (baseNs + BigInt(shift)).toString();
    if (shift !== 0) {
      for (const s of m.slices) s.startNs -= shift;
      for (const k of m.counters) for (let i = 0; i < k.tsNs.length; i++) k.tsNs[i] -= shift;
    }
    if (c) this.applyCommlens(c);
    if (
      m.slices.length === 0 &&
      m.counters.length === 0 &&
      this.events > 0 &&
      this.problems.size > 0 &&
      m.processes.length === 0
    )
      m.warnings.push('no slices or counters could be imported');
    return finalizeModel(m);
  }

  private applyCommlens(c: ChromeJsonCommlensInfo): void {
    const m = this.model;
    if (c.format === 'commlens') m.meta.format = 'commlens';
    if (typeof c.worldSize === 'number') m.meta.worldSize = c.worldSize;
    if (c.info && typeof c.info === 'object') m.meta.info = c.info;
    for (const t of c.tracks ?? []) {
      if (t.type === 'counter') {
        // The writer names the counter's one arg after its unit ("value" when it has none).
        const id = this.tracks.get(`c:${t.pid}:${t.name}:${t.unit ?? 'value'}`);
        if (id === undefined) continue;
        const track = m.tracks[id];
        Object.assign(track, { name: t.name, stream: t.stream, gpu: t.gpu });
        if (t.unit) track.unit = t.unit;
        if (t.order !== undefined) track.order = t.order;
        continue;
      }
      const id = this.tracks.get(`t:${t.pid}:${t.tid}`);
      if (id === undefined) continue;
      const track = m.tracks[id];
      track.stream = t.stream;
      track.gpu = t.gpu;
      if (t.sourceId !== undefined) track.sourceId = t.sourceId;
      else delete track.sourceId;
      if (t.order !== undefined) track.order = t.order;
    }
  }

  private resolveV1(): void {
    if (this.v1.length === 0) return;
    const m = this.model;
    const byTrack = new Map<number, number[]>();
    m.slices.forEach((s, i) => {
      const list = byTrack.get(s.track) ?? [];
      list.push(i);
      byTrack.set(s.track, list);
    });
    for (const list of byTrack.values())
      list.sort((a, b) => m.slices[a].startNs - m.slices[b].startNs || m.slices[b].durNs - m.slices[a].durNs);
    const bind = (f: V1Flow): number | undefined => {
      const list = byTrack.get(f.track) ?? [];
      if (f.enclosing) {
        let best: number | undefined;
        for (const i of list) {
          const s = m.slices[i];
          if (s.startNs > f.ts) break;
          if (s.startNs + s.durNs >= f.ts) best = i; // the deepest (latest-starting) enclosing slice
        }
        return best;
      }
      return list.find((i) => m.slices[i].startNs >= f.ts);
    };
    const flows = [...this.v1].sort((a, b) => a.ts - b.ts || a.order - b.order);
    const active = new Map<string, number>();
    for (const f of flows) {
      const slice = bind(f);
      if (slice === undefined) continue;
      if (f.phase === 's') active.set(f.id, slice);
      else {
        const from = active.get(f.id);
        if (from === undefined) continue;
        m.flows.push({ id: flowNumber(f.id), from, to: slice });
        if (f.phase === 't') active.set(f.id, slice);
        else active.delete(f.id);
      }
    }
  }
}

/** Flow ids in the model are numbers: hex strings (as Perfetto reads them) or a hash. */
function flowNumber(id: string): number {
  const tail = id.includes(':') ? id.slice(id.lastIndexOf(':') + 1) : id;
  if (/^0x[0-9a-f]{1,13}$/i.test(tail)) return parseInt(tail, 16);
  if (/^\d{1,15}$/.test(tail)) return Number(tail);
  return hashString(id);
}

function hashString(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
