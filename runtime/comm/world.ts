/**
 * The shared state of a world of ranks: created on the main thread, posted (structured
 * clone) to every rank's worker, opened there with `Communicator.fromInit`.
 *
 * Layout (all SharedArrayBuffers):
 * - control: abort flag, origin rank and reason, so any thread can stop the world and
 *   every blocked wait wakes within milliseconds;
 * - board: per rank, the collective it is currently in (group, seq, op, size), used to
 *   detect mismatched calls and to name the ranks that did not arrive on a timeout;
 * - doorbells: one word per rank, bumped and notified on every message posted to it or
 *   drained from it, so a rank sleeps on one word whatever it waits for;
 * - memory (one shared WebAssembly memory): the channels, one per ordered pair of ranks,
 *   `fifos` FIFOs of `slots` chunk slots written by the sender and drained by the
 *   receiver (see channel.ts), then each rank's arena of registered buffers.
 */
import { CommAbortedError } from './errors';
import { LinkProfile, resolveLinkProfile, slowedProfile } from './profiles';
import { createSharedMemory, WasmMemory } from './wasm';
import { ALGORITHMS } from './tuner';

export interface TopologyConfig {
  /** Link profile between every pair of ranks (unless intraLink/interLink say otherwise). */
  link: string;
  /** Hierarchical topology: nodes × ranksPerNode ranks (rank r lives on node floor(r / ranksPerNode)). */
  nodes?: number;
  ranksPerNode?: number;
  /** Link between ranks on the same node (default: `link`). */
  intraLink?: string;
  /** Link between ranks on different nodes (default: `link`). */
  interLink?: string;
  /** Link slow-down factor (1 = the real link); see scaledProfile(). */
  scale?: number;
}

export interface WorldInit {
  id: string;
  worldSize: number;
  topology: TopologyConfig;
  /** Link profile per ordered pair, index src * worldSize + dst. */
  links: LinkProfile[];
  /** Factor by which links were slowed (1 = real). Recorded in trace metadata. */
  scaleFactor: number;
  chunkBytes: number;
  slots: number;
  /** Independent FIFOs per ordered pair (NCCL's channels): chunks on different FIFOs pipeline. */
  fifos: number;
  timeoutMs: number;
  /** Algorithms forced for the whole run, per collective. */
  algorithms: Record<string, string>;
  control: SharedArrayBuffer;
  board: SharedArrayBuffer;
  /**
   * One shared WebAssembly memory holding every channel and every rank's arena, so that
   * SIMD kernels can reduce across them and ranks can read each other's registered buffers.
   */
  memory: WasmMemory;
  /** Byte offset of each ordered pair's channel in `memory`, index src * worldSize + dst; -1 on the diagonal. */
  channels: number[];
  /** Bytes of each rank's registered arena (0 = none) and where each starts in `memory`. */
  arenaBytes: number;
  arenaOffsets: number[];
  /** Per rank, 2 × chunkBytes of scratch in `memory` where operands from the JS heap are staged for the SIMD kernels. */
  scratchOffsets: number[];
}

export interface WorldOptions {
  topology: TopologyConfig;
  /** Bytes of the shared arena each rank gets for zero-copy buffers (Communicator.allocShared). */
  maxBytes?: number;
  /** Force an algorithm per collective for the whole run (e.g. { allReduce: 'ring' }); a call's own `algorithm` still wins. */
  algorithms?: Record<string, string>;
  /** A blocked collective fails after this long (default 60 s). */
  timeoutMs?: number;
  /** Pipelining unit (default 256 KiB, more on links with a large latency × bandwidth product). */
  chunkBytes?: number;
  /** Chunks in flight per FIFO (default 2, minimum 2). */
  slots?: number;
  /** FIFOs per ordered pair of ranks (default 4). */
  fifos?: number;
}

// control words
export const CTRL_ABORT = 0;
export const CTRL_CLAIM = 1;
export const CTRL_ORIGIN = 2;
export const CTRL_REASON_LEN = 3;
/** Word of rank r's doorbell: bumped whenever a message for r is posted or one r sent is drained. */
export const CTRL_DOORBELL = 16;
const CTRL_REASON_MAX = 4096;
function reasonOffset(worldSize: number): number {
  return alignUp((CTRL_DOORBELL + worldSize) * 4, 64);
}

// board words per rank
export const BOARD_WORDS = 16;
export const B_GROUP = 0;
export const B_SEQ = 1;
export const B_OP = 2;
export const B_DTYPE = 3;
export const B_COUNT = 4;
export const B_EXTRA = 5;
export const B_STATE = 6; // 0 idle, 1 in a collective, 2 finished it
export const B_ALGO = 7;
// two-shot (registered buffers): where this rank's buffer is, how far its reduction got
export const B_PUB_SEQ = 8;
export const B_PUB_OFFSET = 9;
export const B_PUB_PROGRESS = 10;
export const B_PUB_DONE = 11;

// channel layout (one SharedArrayBuffer per ordered pair, holding `fifos` independent FIFOs)
export const MAX_FIFOS = 8;
export const MAX_SLOTS = 8;
export const CH_SLOT_WORDS = 8; // GROUP SEQ OP DTYPE COUNT EXTRA BYTES spare
export const CH_FIFO_WORDS = 8 + MAX_SLOTS * CH_SLOT_WORDS; // SENT ACKED spare×6, slot headers
export const CH_SENT = 0;
export const CH_ACKED = 1;
export const CH_SLOT_HDR = 8;
export const CH_F64_OFFSET = 2560; // bytes: arrival time per (fifo, slot), then linkFreeNs at index MAX_FIFOS * MAX_SLOTS
export const CH_LINK_FREE = MAX_FIFOS * MAX_SLOTS;
export const CH_DATA_OFFSET = 4096;

let worldCounter = 0;

/** Creates the shared state of a world of `worldSize` ranks (main thread). */
export function createWorld(worldSize: number, opts: WorldOptions): WorldInit {
  if (!Number.isInteger(worldSize) || worldSize < 1)
    throw new Error(`worldSize must be a positive integer, got ${worldSize}`);
  const { links, scaleFactor } = resolveLinks(worldSize, opts.topology);
  const chunkBytes = opts.chunkBytes ?? defaultChunkBytes(links);
  const slots = opts.slots ?? 2;
  const fifos = opts.fifos ?? 4;
  if (!Number.isInteger(fifos) || fifos < 1 || fifos > MAX_FIFOS)
    throw new Error(`fifos must be an integer in [1, ${MAX_FIFOS}], got ${fifos}`);
  if (!Number.isInteger(chunkBytes) || chunkBytes < 64 || chunkBytes % 64 !== 0) {
    throw new Error(`chunkBytes must be a multiple of 64 bytes, got ${chunkBytes}`);
  }
  if (!Number.isInteger(slots) || slots < 2 || slots > MAX_SLOTS)
    throw new Error(`slots must be an integer in [2, ${MAX_SLOTS}], got ${slots}`);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  if (!(timeoutMs > 0)) throw new Error(`timeoutMs must be positive, got ${timeoutMs}`);
  const algorithms = { ...(opts.algorithms ?? {}) };
  for (const [op, algo] of Object.entries(algorithms)) {
    const valid = ALGORITHMS[op];
    if (!valid) throw new Error(`algorithms: unknown collective '${op}'; valid: ${Object.keys(ALGORITHMS).join(', ')}`);
    if (!valid.includes(algo))
      throw new Error(`algorithms.${op}: unknown algorithm '${algo}'; valid: ${valid.join(', ')}`);
  }
  const channelBytes = CH_DATA_OFFSET + fifos * slots * chunkBytes;
  let top = 0;
  const channels: number[] = [];
  for (let s = 0; s < worldSize; s++) {
    for (let d = 0; d < worldSize; d++) {
      channels.push(s === d ? -1 : top);
      if (s !== d) top += channelBytes;
    }
  }
  const arenaBytes = alignUp(opts.maxBytes ?? 0, 4096);
  const arenaOffsets = Array.from({ length: worldSize }, (_, r) => top + r * arenaBytes);
  top += worldSize * arenaBytes;
  const scratchOffsets = Array.from({ length: worldSize }, (_, r) => top + r * 2 * chunkBytes);
  top += worldSize * 2 * chunkBytes;
  const memory = createSharedMemory(top);
  return {
    id: `w${process.pid}-${++worldCounter}-${Date.now().toString(36)}`,
    worldSize,
    topology: { ...opts.topology },
    links,
    scaleFactor,
    chunkBytes,
    slots,
    fifos,
    timeoutMs,
    algorithms,
    control: new SharedArrayBuffer(reasonOffset(worldSize) + CTRL_REASON_MAX),
    board: new SharedArrayBuffer(worldSize * BOARD_WORDS * 4),
    memory,
    channels,
    arenaBytes,
    arenaOffsets,
    scratchOffsets,
  };
}

/**
 * 256 KiB, or more on links whose latency × bandwidth product is larger (WAN): a chunk
 * must cover the bytes in flight during one latency, or the pipeline stalls on it.
 */
function defaultChunkBytes(links: LinkProfile[]): number {
  let bdp = 0;
  for (const l of links) if (Number.isFinite(l.bytesPerNs)) bdp = Math.max(bdp, l.alphaNs * l.bytesPerNs);
  let chunk = 256 * 1024;
  while (chunk < bdp && chunk < 4 * 1024 * 1024) chunk *= 2;
  return chunk;
}

/** Resolves the per-pair link profiles of a topology (flat or nodes × ranksPerNode). */
export function resolveLinks(worldSize: number, topo: TopologyConfig): { links: LinkProfile[]; scaleFactor: number } {
  if (!topo || typeof topo.link !== 'string') throw new Error(`topology.link must name a link profile`);
  const scale = topo.scale ?? 1;
  const base = resolveLinkProfile(topo.link);
  const intra = slowedProfile(resolveLinkProfile(topo.intraLink ?? topo.link), scale);
  const inter = slowedProfile(resolveLinkProfile(topo.interLink ?? topo.link), scale);
  const flat = slowedProfile(base, scale);
  let ranksPerNode = worldSize;
  if (topo.nodes !== undefined || topo.ranksPerNode !== undefined) {
    const nodes = topo.nodes ?? worldSize / (topo.ranksPerNode ?? 1);
    ranksPerNode = topo.ranksPerNode ?? worldSize / nodes;
    if (!Number.isInteger(nodes) || !Number.isInteger(ranksPerNode) || nodes * ranksPerNode !== worldSize) {
      throw new Error(
        `topology nodes × ranksPerNode must equal worldSize ${worldSize}, got nodes=${topo.nodes}, ranksPerNode=${topo.ranksPerNode}`,
      );
    }
  }
  const hierarchical = ranksPerNode !== worldSize;
  const none = resolveLinkProfile('none');
  const links: LinkProfile[] = [];
  for (let s = 0; s < worldSize; s++) {
    for (let d = 0; d < worldSize; d++) {
      if (s === d) links.push(none);
      else if (!hierarchical) links.push(topo.intraLink || topo.interLink ? intra : flat);
      else links.push(Math.floor(s / ranksPerNode) === Math.floor(d / ranksPerNode) ? intra : inter);
    }
  }
  return { links, scaleFactor: scale };
}

/**
 * Stops the world: every blocked wait on every rank wakes and throws CommAbortedError
 * naming `originRank` (-1 = the coordinator). The first abort wins; later calls only wake.
 */
export function abortWorld(init: WorldInit, reason: string, originRank: number): void {
  const ctl = new Int32Array(init.control);
  if (Atomics.compareExchange(ctl, CTRL_CLAIM, 0, 1) === 0) {
    const bytes = new TextEncoder().encode(reason).subarray(0, CTRL_REASON_MAX);
    new Uint8Array(init.control, reasonOffset(init.worldSize), CTRL_REASON_MAX).set(bytes);
    Atomics.store(ctl, CTRL_REASON_LEN, bytes.length);
    Atomics.store(ctl, CTRL_ORIGIN, originRank);
    Atomics.store(ctl, CTRL_ABORT, 1);
  }
  Atomics.notify(ctl, CTRL_ABORT);
  for (let r = 0; r < init.worldSize; r++) {
    Atomics.add(ctl, CTRL_DOORBELL + r, 1);
    Atomics.notify(ctl, CTRL_DOORBELL + r);
  }
}

/** The abort state of the world, or undefined while it runs. */
export function worldAbortState(init: WorldInit): { originRank: number; reason: string } | undefined {
  const ctl = new Int32Array(init.control);
  if (Atomics.load(ctl, CTRL_ABORT) === 0) return undefined;
  const len = Atomics.load(ctl, CTRL_REASON_LEN);
  const reason = new TextDecoder().decode(new Uint8Array(init.control, reasonOffset(init.worldSize), len).slice());
  return { originRank: Atomics.load(ctl, CTRL_ORIGIN), reason };
}

/** Throws CommAbortedError if the world was aborted. */
export function throwIfAborted(init: WorldInit, observerRank: number): void {
  const s = worldAbortState(init);
  if (s) throw new CommAbortedError(s.originRank, s.reason, observerRank);
}

export function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

/**
 * What a trace should record about the emulated interconnect, so that nothing pretends to
 * be what it is not: the topology asked for, the per-link figures used, and the factor
 * by which links were slowed to keep the target's compute-to-communication ratio.
 */
export function worldMetadata(init: WorldInit): Record<string, unknown> {
  const linkNames = new Map<string, LinkProfile>();
  init.links.forEach((l, i) => {
    if (Math.floor(i / init.worldSize) !== i % init.worldSize) linkNames.set(l.name, l);
  });
  return {
    worldSize: init.worldSize,
    topology: init.topology,
    linkScaleFactor: init.scaleFactor,
    links: [...linkNames.values()].map((l) => ({
      name: l.name,
      alphaNs: l.alphaNs,
      bandwidthGBps: l.bytesPerNs,
      description: l.description,
    })),
    chunkBytes: init.chunkBytes,
    transport: 'worker threads, SharedArrayBuffer (one shared WebAssembly memory), Atomics.wait/notify doorbells',
  };
}
