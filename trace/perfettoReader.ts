/**
 * Perfetto TrackEvent importer: a `.pftrace` (CommLens' own or any other producer's) into
 * the trace model, with the tracks, slices, counters, args and flows Perfetto's trace
 * processor finds in it.
 *
 * Second pass (the first is perfettoTokenizer.ts): descriptors and events in timestamp
 * order (stable, so file order breaks ties, as Perfetto's sorter does).
 * - Tracks: a thread track belongs to the process that owns its pid at the time of its
 *   descriptor (a new process descriptor for a pid already taken by another uuid is pid
 *   reuse: a new process). Tracks without a process (global tracks) go into one
 *   "Global tracks" pseudo-process, or, when such a root has children, into a
 *   pseudo-process named after it.
 * - Slices: BEGIN pushes, END closes the innermost open slice of its track (END args are
 *   merged into the slice's: dicts merge, arrays concatenate, values replace), INSTANT
 *   and legacy `X`/`I`/`i`/`R`/`n` are complete. Typed events without a track go to
 *   "Default Track"; legacy async events (`b`/`e`/`S`/`F`/`T`/`p`) to a track per id.
 * - Flows (v2): a flow id on an event links the previous event that carried it to this
 *   one and stays active; a terminating id links and ends it; a terminating id that is not
 *   active is ignored.
 * - Counters: COUNTER events and extra counter values, scaled by unit_multiplier and
 *   delta-decoded per sequence; legacy thread_time/instruction counts as thread counters.
 */
import type { Args, ArgValue, ProcessInfo, Slice, SliceCategory, StreamKind, TraceModel } from './model';
import { emptyModel, finalizeModel } from './model';
import { TraceFormatError } from './errors';
import { isSliceCategory, mapCategory } from './categories';
import { BUILTIN_COUNTER_NAMES, COUNTER_UNIT, EVENT_TYPE } from './perfettoFields';
import { RUN_METADATA_EVENT, RUN_TRACK_NAME } from './perfettoWriter';
import {
  tokenizePerfetto,
  type RawDescriptor,
  type RawEvent,
  type TokenizeOptions,
  type UuidKey,
} from './perfettoTokenizer';

const PHASE = {
  X: 88,
  B: 66,
  E: 69,
  I: 73,
  i: 105,
  R: 82,
  n: 110,
  b: 98,
  e: 101,
  S: 83,
  F: 70,
  T: 84,
  p: 112,
} as const;
const UNIT_NAMES: Record<number, string> = {
  [COUNTER_UNIT.timeNs]: 'ns',
  [COUNTER_UNIT.count]: 'count',
  [COUNTER_UNIT.sizeBytes]: 'bytes',
};
const DESCRIPTION = /^CommLens (compute|communication|staging|host|wait|other) track( \(GPU\))?(?: · source (.+))?$/;

interface OpenSlice {
  slice: number;
  endNs?: number;
}

/**
 * Reads a Perfetto protobuf trace (pass `inflate` to read compressed_packets). Tolerant: a truncated or partly corrupt file gives
 * what was read, with warnings; throws TraceFormatError only when nothing usable was found.
 */
export function readPerfetto(bytes: Uint8Array, opts: { fileName?: string } & TokenizeOptions = {}): TraceModel {
  const tok = tokenizePerfetto(bytes, opts);
  const where = { file: opts.fileName };
  if (tok.packets === 0) {
    if (tok.stoppedAt) {
      throw new TraceFormatError(`not a Perfetto protobuf trace: ${tok.stoppedAt.message}`, {
        ...where,
        offset: tok.stoppedAt.offset,
        expected: tok.stoppedAt.expected,
      });
    }
    throw new TraceFormatError('no trace packets found', {
      ...where,
      offset: 0,
      expected: 'a perfetto.protos.Trace with at least one packet',
    });
  }
  const b = new ModelBuilder(tok.descriptors);
  for (const m of tok.runMetadata) b.runMetadata(m);
  const model = b.build(tok.events);
  // Origin: the run metadata's when CommLens wrote the file, else the earliest event.
  const base = (BigInt(tok.baseHi) << 32n) | BigInt(tok.baseLo);
  let shift = b.minTs === Infinity ? 0 : b.minTs;
  const declared = typeof model.meta.info?.originNs === 'string' ? model.meta.info.originNs : undefined;
  if (b.commlens && declared && /^\d+$/.test(declared)) shift = Number(BigInt(declared) - base);
  model.meta.originNs = (base + BigInt(Math.round(shift))).toString();
  if (b.commlens && model.meta.info) {
    const info = model.meta.info;
    if (typeof info.worldSize === 'number') model.meta.worldSize = info.worldSize;
    model.meta.info =
      info.info && typeof info.info === 'object' && !Array.isArray(info.info) ? (info.info as Args) : undefined;
    if (!model.meta.info) delete model.meta.info;
  }
  if (shift !== 0) {
    for (const s of model.slices) s.startNs -= shift;
    for (const c of model.counters) for (let i = 0; i < c.tsNs.length; i++) c.tsNs[i] -= shift;
  }
  model.warnings.unshift(...tok.warnings);
  if (tok.stoppedAt) {
    const f = opts.fileName ? `${opts.fileName}: ` : '';
    model.warnings.unshift(
      `${f}read stopped at byte ${tok.stoppedAt.offset} of ${bytes.length}: ${tok.stoppedAt.message} (expected ${tok.stoppedAt.expected}); ${tok.packets} packet(s) before it were imported`,
    );
  }
  return finalizeModel(model);
}

class ModelBuilder {
  readonly model: TraceModel = emptyModel('perfetto');
  commlens = false;
  minTs = Infinity;
  private readonly desc = new Map<UuidKey, RawDescriptor>();
  private readonly children = new Map<UuidKey, number>();
  /** Perfetto track uuid (or synthetic key) → model track id. */
  private readonly modelTrack = new Map<UuidKey, number>();
  private readonly trackOrder = new Map<number, number>();
  /** Process track uuid (or synthetic "pid:N") → model pid. */
  private readonly processOf = new Map<UuidKey, number>();
  /** Source pid → the process uuid currently owning it. */
  private readonly pidOwner = new Map<number, UuidKey>();
  private readonly usedPids = new Set<number>();
  private readonly threadByPidTid = new Map<string, UuidKey>();
  private readonly open = new Map<number, OpenSlice[]>();
  private readonly activeFlows = new Map<number, number>();
  private readonly counterIndex = new Map<number, number>();
  private readonly counts = { unmatchedEnd: 0, counterOnSliceTrack: 0, untyped: 0, unfinished: 0 };
  private maxTs = -Infinity;

  constructor(descriptors: RawDescriptor[]) {
    for (const d of descriptors) {
      if (!this.desc.has(d.uuid)) this.desc.set(d.uuid, d);
      else {
        // Re-emitted descriptor: keep the first, take names it adds.
        const first = this.desc.get(d.uuid) as RawDescriptor;
        first.name ??= d.name;
      }
      if (d.parent !== undefined) this.children.set(d.parent, (this.children.get(d.parent) ?? 0) + 1);
    }
    for (const d of descriptors) if (d.process) this.usedPids.add(d.process.pid);
    for (const d of descriptors) if (d.thread) this.usedPids.add(d.thread.pid);
    // Descriptors in time order decide pid ownership (pid reuse) before any event is placed.
    const sorted = [...this.desc.values()].sort((a, b) => a.ts - b.ts || a.order - b.order);
    for (const d of sorted) {
      if (d.process) this.claimPid(d.process.pid, d.uuid, d);
      else if (d.thread) {
        if (!this.pidOwner.has(d.thread.pid)) this.claimPid(d.thread.pid, `pid:${d.thread.pid}`, undefined);
        this.threadProcess.set(d.uuid, this.pidOwner.get(d.thread.pid) as UuidKey);
        this.threadByPidTid.set(`${d.thread.pid}:${d.thread.tid}`, d.uuid);
      }
    }
  }

  private readonly threadProcess = new Map<UuidKey, UuidKey>();

  private claimPid(pid: number, owner: UuidKey, d: RawDescriptor | undefined): void {
    const current = this.pidOwner.get(pid);
    if (current !== undefined && typeof current === 'string' && current.startsWith('pid:') && d) {
      // A process implied by a thread is adopted by the first process descriptor for its pid.
      this.pidOwner.set(pid, owner);
      this.processOf.set(owner, this.processOf.get(current) as number);
      this.processOf.set(current, this.processOf.get(current) as number);
      const p = this.model.processes.find((x) => x.pid === this.processOf.get(owner));
      if (p && d.process) this.describeProcess(p, d);
      return;
    }
    if (current === owner) return;
    const modelPid = current === undefined ? pid : this.freshPid();
    const p: ProcessInfo = { pid: modelPid, name: `pid ${pid}` };
    if (modelPid !== pid) p.labels = { sourcePid: String(pid) };
    if (d?.process) this.describeProcess(p, d);
    this.model.processes.push(p);
    this.processOf.set(owner, modelPid);
    this.pidOwner.set(pid, owner);
  }

  private describeProcess(p: ProcessInfo, d: RawDescriptor): void {
    if (!d.process) return;
    if (d.process.name) p.name = d.process.name;
    for (const label of d.process.labels) {
      const eq = label.indexOf('=');
      const key = eq > 0 ? label.slice(0, eq) : 'label';
      const value = eq > 0 ? label.slice(eq + 1) : label;
      if (key === 'rank' && /^\d+$/.test(value)) p.rank = Number(value);
      else (p.labels ??= {})[key] = value;
    }
  }

  private freshPid(): number {
    let pid = 1_000_000;
    while (this.usedPids.has(pid)) pid++;
    this.usedPids.add(pid);
    return pid;
  }

  private pseudoProcess(key: string, name: string): number {
    const existing = this.processOf.get(key);
    if (existing !== undefined) return existing;
    const pid = this.freshPid();
    this.model.processes.push({ pid, name });
    this.processOf.set(key, pid);
    return pid;
  }

  /** Model pid that a Perfetto track belongs to. */
  private pidOfTrack(uuid: UuidKey): number {
    let d = this.desc.get(uuid);
    const seen = new Set<UuidKey>();
    let root: RawDescriptor | undefined;
    while (d && !seen.has(d.uuid)) {
      seen.add(d.uuid);
      if (d.process) return this.processOf.get(d.uuid) as number;
      if (d.thread) return this.processOf.get(this.threadProcess.get(d.uuid) as UuidKey) as number;
      root = d;
      d = d.parent !== undefined ? this.desc.get(d.parent) : undefined;
    }
    if (root && root.uuid !== uuid && (this.children.get(root.uuid) ?? 0) > 0)
      return this.pseudoProcess(`root:${root.uuid}`, root.name ?? 'Global tracks');
    return this.pseudoProcess('global', 'Global tracks');
  }

  /** Model track for a Perfetto track uuid, created on first use. */
  private trackFor(uuid: UuidKey, kind: 'slice' | 'counter', eventName?: string): number {
    const known = this.modelTrack.get(uuid);
    if (known !== undefined) return known;
    const d = this.desc.get(uuid);
    const pid = d ? this.pidOfTrack(uuid) : this.pseudoProcess('global', 'Global tracks');
    let name = d?.name ?? d?.thread?.name ?? d?.process?.name;
    let unit: string | undefined;
    if (d?.counter) {
      const builtin = BUILTIN_COUNTER_NAMES[d.counter.type];
      name ??= builtin?.name;
      unit = d.counter.unitName ?? UNIT_NAMES[d.counter.unit] ?? builtin?.unit;
    }
    if (d?.thread && !d.thread.name) name = `thread ${d.thread.tid}`;
    if (d?.process && !d.name) name = this.model.processes.find((p) => p.pid === pid)?.name ?? name;
    name ??= eventName ?? (d ? `track ${uuid}` : String(uuid));
    let stream: StreamKind = d?.thread ? 'host' : 'other';
    let gpu = false;
    let sourceId: number | string | undefined = d?.thread?.tid;
    const m = d?.description ? DESCRIPTION.exec(d.description) : null;
    if (m) {
      stream = m[1] as StreamKind;
      gpu = m[2] !== undefined;
      sourceId = undefined;
      if (m[3] !== undefined) {
        try {
          const v = JSON.parse(m[3]) as unknown;
          if (typeof v === 'number' || typeof v === 'string') sourceId = v;
        } catch {
          sourceId = m[3];
        }
      }
    }
    const id = this.model.tracks.length;
    this.model.tracks.push({ id, pid, name, type: kind, stream, gpu });
    const t = this.model.tracks[id];
    if (sourceId !== undefined) t.sourceId = sourceId;
    if (unit) t.unit = unit;
    if (d?.siblingOrderRank !== undefined) t.order = d.siblingOrderRank;
    this.modelTrack.set(uuid, id);
    this.trackOrder.set(id, d ? d.order : Number.MAX_SAFE_INTEGER);
    return id;
  }

  /** A synthetic track (Default Track, legacy async or thread counters) keyed by `key`. */
  private syntheticTrack(key: string, name: string, pid: number, kind: 'slice' | 'counter', unit?: string): number {
    const known = this.modelTrack.get(key);
    if (known !== undefined) return known;
    const id = this.model.tracks.length;
    this.model.tracks.push({ id, pid, name, type: kind, stream: 'other', gpu: false, ...(unit ? { unit } : {}) });
    this.modelTrack.set(key, id);
    this.trackOrder.set(id, Number.MAX_SAFE_INTEGER);
    return id;
  }

  private threadOf(track: UuidKey | undefined): RawDescriptor | undefined {
    const d = track !== undefined ? this.desc.get(track) : undefined;
    return d?.thread ? d : undefined;
  }

  private pidOfSourcePid(pid: number): number {
    const owner = this.pidOwner.get(pid);
    if (owner === undefined) {
      this.claimPid(pid, `pid:${pid}`, undefined);
      return this.processOf.get(`pid:${pid}`) as number;
    }
    return this.processOf.get(owner) as number;
  }

  /** Where an event goes (Perfetto's rules for typed, legacy and overridden events). */
  private route(ev: RawEvent): number | undefined {
    const l = ev.legacy;
    const name = ev.name ?? '';
    if (l && l.pidOverride !== undefined && l.tidOverride !== undefined) {
      const uuid = this.threadByPidTid.get(`${l.pidOverride}:${l.tidOverride}`);
      if (uuid !== undefined) return this.trackFor(uuid, 'slice', name);
      return this.syntheticTrack(
        `thread:${l.pidOverride}:${l.tidOverride}`,
        `thread ${l.tidOverride}`,
        this.pidOfSourcePid(l.pidOverride),
        'slice',
      );
    }
    if (ev.type === EVENT_TYPE.unspecified && l) {
      const async =
        l.phase === PHASE.b ||
        l.phase === PHASE.e ||
        l.phase === PHASE.S ||
        l.phase === PHASE.F ||
        l.phase === PHASE.T ||
        l.phase === PHASE.p ||
        l.phase === PHASE.n;
      const thread = this.threadOf(ev.explicitTrack && ev.track ? ev.track : ev.defaultTrack);
      if (async) {
        const pid = thread ? this.pidOfTrack(thread.uuid) : this.pseudoProcess('global', 'Global tracks');
        const scope = l.idIsGlobal ? 'global' : `pid${pid}`;
        return this.syntheticTrack(
          `async:${scope}:${ev.categories.join(',')}:${l.id ?? ''}`,
          name || 'async',
          pid,
          'slice',
        );
      }
      if (ev.explicitTrack && ev.track) return this.trackFor(ev.track, 'slice', name);
      if ((l.phase === PHASE.I || l.phase === PHASE.i) && l.instantScope === 2 && thread) {
        const pid = this.pidOfTrack(thread.uuid);
        const owner = this.pidOwner.get(thread.thread?.pid ?? -1);
        if (owner !== undefined && this.desc.get(owner)?.process) return this.trackFor(owner, 'slice', name);
        return this.syntheticTrack(
          `process:${pid}`,
          this.model.processes.find((p) => p.pid === pid)?.name ?? `pid ${pid}`,
          pid,
          'slice',
        );
      }
      if ((l.phase === PHASE.I || l.phase === PHASE.i) && l.instantScope === 3)
        return this.syntheticTrack(
          'global-instants',
          'Global instants',
          this.pseudoProcess('global', 'Global tracks'),
          'slice',
        );
      if (ev.defaultTrack !== undefined) return this.trackFor(ev.defaultTrack, 'slice', name);
      return undefined;
    }
    if (ev.track === undefined || ev.track === 0)
      return this.syntheticTrack('default', 'Default Track', this.pseudoProcess('global', 'Global tracks'), 'slice');
    return this.trackFor(ev.track, ev.type === EVENT_TYPE.counter ? 'counter' : 'slice', name);
  }

  build(events: RawEvent[]): TraceModel {
    events.sort((a, b) => a.ts - b.ts || a.order - b.order);
    for (const ev of events) this.event(ev);
    // Slices still open at the end (a run killed mid-step) run to the last timestamp.
    for (const stack of this.open.values()) {
      for (const o of stack) {
        if (o.endNs !== undefined) continue;
        const s = this.model.slices[o.slice];
        s.durNs = Math.max(0, this.maxTs - s.startNs);
        this.counts.unfinished++;
      }
    }
    const w = this.model.warnings;
    if (this.counts.unfinished)
      w.push(`${this.counts.unfinished} slice(s) never ended; they were extended to the last timestamp`);
    if (this.counts.unmatchedEnd)
      w.push(`${this.counts.unmatchedEnd} SLICE_END event(s) without an open slice were ignored`);
    if (this.counts.counterOnSliceTrack)
      w.push(`${this.counts.counterOnSliceTrack} counter value(s) on a track that is not a counter track were ignored`);
    if (this.counts.untyped)
      w.push(`${this.counts.untyped} event(s) with neither a type nor a legacy phase were ignored`);
    if (this.commlens) this.model.meta.format = 'commlens';
    this.renumberTracks();
    return this.model;
  }

  /** Puts tracks in descriptor order (the writer's order), keeping synthetic ones last. */
  private renumberTracks(): void {
    const m = this.model;
    const order = m.tracks
      .map((t) => t.id)
      .sort((a, b) => (this.trackOrder.get(a) as number) - (this.trackOrder.get(b) as number) || a - b);
    const remap = new Int32Array(order.length);
    order.forEach((oldId, newId) => (remap[oldId] = newId));
    m.tracks = order.map((oldId, newId) => ({ ...m.tracks[oldId], id: newId }));
    for (const s of m.slices) s.track = remap[s.track];
    for (const c of m.counters) c.track = remap[c.track];
    m.counters.sort((a, b) => a.track - b.track);
    // Processes without tracks (implied, or pseudo ones never used) are dropped.
    const used = new Set(m.tracks.map((t) => t.pid));
    m.processes = m.processes.filter((p) => used.has(p.pid));
  }

  /** CommLens run metadata (merged over what came before): marks the file as CommLens'. */
  runMetadata(args: Args): void {
    this.commlens = true;
    this.model.meta.info = { ...(this.model.meta.info ?? {}), ...args };
  }

  private event(ev: RawEvent): void {
    if (ev.ts < this.minTs) this.minTs = ev.ts;
    if (ev.ts > this.maxTs) this.maxTs = ev.ts;
    if (ev.name === RUN_METADATA_EVENT && ev.track !== undefined && this.desc.get(ev.track)?.name === RUN_TRACK_NAME) {
      // The run metadata instant of a CommLens file written before the metadata entry existed.
      this.runMetadata(ev.args ?? {});
      return;
    }
    let type = ev.type;
    const phase = ev.legacy?.phase ?? 0;
    if (type === EVENT_TYPE.unspecified) {
      if (phase === PHASE.B || phase === PHASE.b || phase === PHASE.S) type = EVENT_TYPE.sliceBegin;
      else if (phase === PHASE.E || phase === PHASE.e || phase === PHASE.F) type = EVENT_TYPE.sliceEnd;
      else if (
        phase === PHASE.X ||
        phase === PHASE.I ||
        phase === PHASE.i ||
        phase === PHASE.R ||
        phase === PHASE.n ||
        phase === PHASE.T ||
        phase === PHASE.p
      )
        type = EVENT_TYPE.instant;
      else if (ev.extraCounters === undefined && ev.threadTimeNs === undefined) {
        this.counts.untyped++;
        return;
      }
    }
    if (type === EVENT_TYPE.counter) {
      if (ev.counterValue === undefined || ev.track === undefined) return;
      const d = this.desc.get(ev.track);
      if (!d?.counter) {
        this.counts.counterOnSliceTrack++;
        return;
      }
      this.addCounter(this.trackFor(ev.track, 'counter'), ev.ts, ev.counterValue);
      return;
    }
    const track = type === EVENT_TYPE.unspecified ? undefined : this.route(ev);
    let sliceIndex: number | undefined;
    if (track !== undefined) {
      const stack = this.open.get(track) ?? [];
      this.open.set(track, stack);
      while (
        stack.length > 0 &&
        stack[stack.length - 1].endNs !== undefined &&
        (stack[stack.length - 1].endNs as number) <= ev.ts
      )
        stack.pop();
      if (type === EVENT_TYPE.sliceEnd) {
        let i = stack.length - 1;
        while (i >= 0 && stack[i].endNs !== undefined) i--;
        if (i < 0) this.counts.unmatchedEnd++;
        else {
          const o = stack[i];
          stack.length = i;
          const s = this.model.slices[o.slice];
          s.durNs = ev.ts - s.startNs;
          if (ev.args) s.args = mergeArgs(s.args ?? {}, ev.args);
          sliceIndex = o.slice;
        }
      } else {
        const complete = phase === PHASE.X && ev.type === EVENT_TYPE.unspecified;
        const durNs = complete ? (ev.legacy?.durationNs ?? 0) : 0;
        sliceIndex = this.model.slices.length;
        const { category, rawCategory } = this.categoryOf(ev);
        const slice: Slice = { track, name: ev.name ?? '', category, startNs: ev.ts, durNs };
        if (rawCategory) slice.rawCategory = rawCategory;
        if (ev.args) slice.args = ev.args;
        this.model.slices.push(slice);
        if (ev.ts + durNs > this.maxTs) this.maxTs = ev.ts + durNs;
        if (type === EVENT_TYPE.sliceBegin) stack.push({ slice: sliceIndex });
        else if (complete && durNs > 0) stack.push({ slice: sliceIndex, endNs: ev.ts + durNs });
      }
    }
    if (sliceIndex !== undefined) this.flows(ev, sliceIndex);
    for (const x of ev.extraCounters ?? []) this.addCounter(this.trackFor(x.track, 'counter'), ev.ts, x.value);
    if (ev.threadTimeNs !== undefined || ev.threadInstructions !== undefined) {
      const thread = this.threadOf(ev.track);
      if (thread) {
        const pid = this.pidOfTrack(thread.uuid);
        if (ev.threadTimeNs !== undefined)
          this.addCounter(
            this.syntheticTrack(`tt:${thread.uuid}`, 'thread_time', pid, 'counter'),
            ev.ts,
            ev.threadTimeNs,
          );
        if (ev.threadInstructions !== undefined)
          this.addCounter(
            this.syntheticTrack(`ti:${thread.uuid}`, 'thread_instruction_count', pid, 'counter'),
            ev.ts,
            ev.threadInstructions,
          );
      }
    }
  }

  private readonly categoryCache = new Map<string, { category: SliceCategory; rawCategory?: string }>();

  /** The model category (and the producer's, when different) of an event; cached, slices share few. */
  private categoryOf(ev: RawEvent): { category: SliceCategory; rawCategory?: string } {
    const cats = ev.categories;
    const raw = cats.length === 1 ? cats[0] : cats.join(',');
    // CommLens files name the model category first; other producers' categories are mapped by name too.
    const key = this.commlens ? raw : `${raw}\u0000${ev.name ?? ''}`;
    let r = this.categoryCache.get(key);
    if (r) return r;
    if (this.commlens && cats.length > 0 && isSliceCategory(cats[0]))
      r = cats.length > 1 ? { category: cats[0], rawCategory: cats.slice(1).join(',') } : { category: cats[0] };
    else {
      const category = mapCategory(raw, ev.name ?? '');
      r = raw && raw !== category ? { category, rawCategory: raw } : { category };
    }
    this.categoryCache.set(key, r);
    return r;
  }

  private flows(ev: RawEvent, slice: number): void {
    for (const id of ev.flowIds ?? []) {
      const from = this.activeFlows.get(id);
      if (from !== undefined && from !== slice) this.model.flows.push({ id, from, to: slice });
      this.activeFlows.set(id, slice);
    }
    for (const id of ev.terminatingFlowIds ?? []) {
      const from = this.activeFlows.get(id);
      if (from === undefined) continue;
      if (from !== slice) this.model.flows.push({ id, from, to: slice });
      this.activeFlows.delete(id);
    }
  }

  private addCounter(track: number, ts: number, value: number): void {
    let i = this.counterIndex.get(track);
    if (i === undefined) {
      i = this.model.counters.length;
      this.model.counters.push({ track, tsNs: [], values: [] });
      this.counterIndex.set(track, i);
    }
    const c = this.model.counters[i];
    c.tsNs.push(ts);
    c.values.push(value);
  }
}

/** Perfetto's merge of END annotations into a slice's args: dicts merge, arrays concatenate, values replace. */
export function mergeArgs(into: Args, add: Args): Args {
  for (const [k, v] of Object.entries(add)) into[k] = mergeValue(into[k], v);
  return into;
}

function mergeValue(a: ArgValue | undefined, b: ArgValue): ArgValue {
  if (Array.isArray(a) && Array.isArray(b)) return [...a, ...b];
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const out: Record<string, ArgValue> = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = mergeValue(out[k], v);
    return out;
  }
  return b;
}
