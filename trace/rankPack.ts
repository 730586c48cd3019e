/**
 * A rank's reduced model (trace/kinetoRank.ts) packed for the trip from a scan worker to the
 * main thread and for the parse cache: the slices and flows as typed-array columns (which
 * node:v8 copies as bytes and postMessage transfers) with their strings interned, instead of
 * one serialised object per slice and per args. Most slices' args are only `correlation`,
 * `External id` and `stream` (numbers, in that order): those are columns too; other args
 * objects are kept whole. Unpacking gives back a model equal to the one packed (same slice
 * fields, in the same order).
 */
import type { Args, Flow, Slice, SliceCategory, TraceModel } from './model';

export interface PackedModel {
  /** The model without its slices and flows. */
  rest: Omit<TraceModel, 'slices' | 'flows'>;
  strings: string[];
  track: Int32Array;
  name: Int32Array;
  category: Int32Array;
  /** String id, or -1 when the slice's rawCategory is undefined (-2: the slice has no such field). */
  rawCategory: Int32Array;
  startNs: Float64Array;
  durNs: Float64Array;
  /** -1: undefined (-2: no such field). */
  depth: Int32Array;
  /** Bits: 1 correlation, 2 External id, 4 stream (args holding only those numbers, in that order); 8 args kept whole (in `otherArgs`, slice order); 16 no args. */
  argForm: Uint8Array;
  correlation: Float64Array;
  externalId: Float64Array;
  stream: Float64Array;
  otherArgs: Args[];
  flowId: Int32Array;
  flowFrom: Int32Array;
  flowTo: Int32Array;
}

const PLAIN_KEYS = ['correlation', 'External id', 'stream'] as const;

/** The bits of an args object that holds only PLAIN_KEYS numbers, in that order; -1 otherwise. */
function plainForm(a: Args): number {
  let form = 0,
    next = 0;
  for (const k in a) {
    let j = next;
    while (j < PLAIN_KEYS.length && PLAIN_KEYS[j] !== k) j++;
    if (j === PLAIN_KEYS.length || typeof a[k] !== 'number' || !Object.prototype.hasOwnProperty.call(a, k)) return -1;
    form |= 1 << j;
    next = j + 1;
  }
  return form;
}

/** The model as columns (see the module comment). The model is not changed. */
export function packModel(m: TraceModel): PackedModel {
  const n = m.slices.length;
  const ids = new Map<string, number>();
  const strings: string[] = [];
  const intern = (s: string): number => {
    let id = ids.get(s);
    if (id === undefined) {
      id = strings.length;
      strings.push(s);
      ids.set(s, id);
    }
    return id;
  };
  const p: PackedModel = {
    rest: {
      meta: m.meta,
      processes: m.processes,
      tracks: m.tracks,
      counters: m.counters,
      warnings: m.warnings,
    },
    strings,
    track: new Int32Array(n),
    name: new Int32Array(n),
    category: new Int32Array(n),
    rawCategory: new Int32Array(n),
    startNs: new Float64Array(n),
    durNs: new Float64Array(n),
    depth: new Int32Array(n),
    argForm: new Uint8Array(n),
    correlation: new Float64Array(n),
    externalId: new Float64Array(n),
    stream: new Float64Array(n),
    otherArgs: [],
    flowId: new Int32Array(m.flows.length),
    flowFrom: new Int32Array(m.flows.length),
    flowTo: new Int32Array(m.flows.length),
  };
  // One plain loop: Int32Array.from with a map function, once per column, made packModel take
  // 734 ms instead of 573 ms on a 500 MB rank (about 385,000 flows).
  for (let k = 0; k < m.flows.length; k++) {
    const f = m.flows[k];
    p.flowId[k] = f.id;
    p.flowFrom[k] = f.from;
    p.flowTo[k] = f.to;
  }
  for (let i = 0; i < n; i++) {
    const s = m.slices[i];
    p.track[i] = s.track;
    p.name[i] = intern(s.name);
    p.category[i] = intern(s.category);
    p.rawCategory[i] = 'rawCategory' in s ? (s.rawCategory === undefined ? -1 : intern(s.rawCategory)) : -2;
    p.startNs[i] = s.startNs;
    p.durNs[i] = s.durNs;
    p.depth[i] = 'depth' in s ? (s.depth === undefined ? -1 : s.depth) : -2;
    const a = s.args;
    if (a === undefined) {
      p.argForm[i] = 16;
      continue;
    }
    const form = plainForm(a);
    if (form < 0) {
      p.argForm[i] = 8;
      p.otherArgs.push(a);
      continue;
    }
    p.argForm[i] = form;
    if (form & 1) p.correlation[i] = a.correlation as number;
    if (form & 2) p.externalId[i] = a['External id'] as number;
    if (form & 4) p.stream[i] = a.stream as number;
  }
  return p;
}

/** The model packed by packModel. */
export function unpackModel(p: PackedModel): TraceModel {
  const n = p.track.length;
  const slices = new Array<Slice>(n);
  let other = 0;
  for (let i = 0; i < n; i++) {
    const form = p.argForm[i];
    let args: Args | undefined;
    if (form === 8) args = p.otherArgs[other++];
    else if (form !== 16) {
      args = {};
      if (form & 1) args.correlation = p.correlation[i];
      if (form & 2) args['External id'] = p.externalId[i];
      if (form & 4) args.stream = p.stream[i];
    }
    // The importer's fields, in its order; a field the packed slice did not have is left out.
    const raw = p.rawCategory[i];
    const depth = p.depth[i];
    const s: Slice = {
      track: p.track[i],
      name: p.strings[p.name[i]],
      category: p.strings[p.category[i]] as SliceCategory,
      rawCategory: raw >= 0 ? p.strings[raw] : undefined,
      startNs: p.startNs[i],
      durNs: p.durNs[i],
      args,
      depth: depth >= 0 ? depth : undefined,
    };
    if (raw === -2) delete s.rawCategory;
    if (form === 16) delete s.args;
    if (depth === -2) delete s.depth;
    slices[i] = s;
  }
  const flows = new Array<Flow>(p.flowId.length);
  for (let i = 0; i < flows.length; i++) flows[i] = { id: p.flowId[i], from: p.flowFrom[i], to: p.flowTo[i] };
  const r = p.rest;
  return {
    meta: r.meta,
    processes: r.processes,
    tracks: r.tracks,
    slices,
    counters: r.counters,
    flows,
    warnings: r.warnings,
  };
}
