/**
 * The progress engine of one rank (NCCL's proxy loop in miniature): it advances every
 * list of steps of a collective as far as the FIFOs allow, never blocking on one list
 * while another could move; when nothing can move it sleeps on the rank's doorbell
 * (Atomics.wait, or Atomics.waitAsync to keep the event loop free) until a peer posts or
 * drains a chunk, the emulated wire delivers one, the world is aborted, or the timeout
 * passes. No spinning: on an oversubscribed machine a spin costs a whole time slice.
 *
 * Emulated links run on a virtual clock. Each list keeps the emulated time at which its
 * last step finished (its first step starts when the collective does); a chunk leaves at
 * that time and arrives per the link's α-β pacing (channel.ts). The copies and reductions
 * themselves run as soon as the bytes are physically in the slot, so this machine's
 * memory traffic overlaps the emulated wire instead of adding to it (on the target
 * cluster they run at GPU speed, inside the wire time); the collective then completes
 * when the emulated time of its last arrival is reached, or when the local work is done,
 * whichever is later.
 */
import { hostNowNs } from '../clock';
import { RecvFifo, SendFifo, TAG_WORDS, T_COUNT } from './channel';
import { dtypeBytes, Dtype } from './dtypes';
import { Step } from './steps';
import { CTRL_ABORT, CTRL_DOORBELL, throwIfAborted, WorldInit } from './world';

type WaitAsyncResult = { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (
  Atomics as unknown as { waitAsync?: (a: Int32Array, i: number, v: number, t?: number) => WaitAsyncResult }
).waitAsync;

/** A missed wake-up (should not happen) costs at most this. */
const SLICE_MS = 200;
/** Pacing sleeps shorter than this use the precise synchronous wait (async timers have ms granularity). */
const PRECISE_SLEEP_NS = 3_000_000;
/** Bound of a learned latency (LatencyTracker): waits never end earlier than this before their time. */
const MAX_LEARNED_LATENCY_NS = 200_000;
/** Samples a learned latency keeps. */
const LATENCY_WINDOW = 15;
/**
 * A latency learned from recent samples: the median of the last LATENCY_WINDOW, so that
 * one long pause (a GC, a preempted thread) does not make the next waits early.
 */
class LatencyTracker {
  private readonly samples: number[] = [];
  private next = 0;
  value: number;
  constructor(initial: number) {
    this.value = initial;
  }
  add(ns: number): void {
    const x = Math.min(MAX_LEARNED_LATENCY_NS, Math.max(0, ns));
    if (this.samples.length < LATENCY_WINDOW) this.samples.push(x);
    else this.samples[this.next] = x;
    this.next = (this.next + 1) % LATENCY_WINDOW;
    const sorted = this.samples.slice().sort((a, b) => a - b);
    this.value = sorted[sorted.length >> 1];
  }
}

/** Lateness of this thread's timed waits. */
const wakeLatency = new LatencyTracker(50_000);
/**
 * Time from the end of runSteps until the waiting caller resumes (span, promises): an
 * emulated collective wakes this much earlier too, so that its caller sees it complete
 * at the emulated time rather than this much after it.
 */
const returnLatency = new LatencyTracker(0);

/** Records how long the return path of a collective took after runSteps ended at `exitNs`. */
export function noteReturn(exitNs: number): void {
  returnLatency.add(hostNowNs() - exitNs);
}
/** In async mode, give the event loop a turn after this much uninterrupted work. */
const YIELD_EVERY_NS = 4_000_000;

export interface Fifos {
  send(peer: number, fifo: number): SendFifo;
  recv(peer: number, fifo: number): RecvFifo;
}

/** What the engine needs from the collective it runs. */
export interface OpContext {
  readonly init: WorldInit;
  readonly rank: number;
  readonly dtype: Dtype;
  /** The collective's tag words (see channel.ts). */
  readonly tag: readonly number[];
  readonly blocking: boolean;
  /** Blocked while a peer had not yet reached this collective. */
  waitNs: number;
  /** Blocked on peers that had arrived, or on the emulated wire. */
  blockedNs: number;
  /**
   * Emulated time (hostNowNs clock) at which the next list of steps starts; runSteps
   * advances it to the emulated end of the steps it ran, so phases chain.
   */
  emuStartNs: number;
  /**
   * Emulated time (hostNowNs clock) at which the collective's first steps started; 0 until
   * runSteps first runs. On an emulated link the collective's span starts here.
   */
  emuBeganNs: number;
  /** When runSteps last returned (hostNowNs), for noteReturn. */
  exitNs: number;
  peerArrived(peer: number): boolean;
  timeoutError(peer: number, what: string): Error;
  mismatchError(peer: number, theirTag: number[]): Error;
}

export async function runSteps(ctx: OpContext, fifos: Fifos, lists: Step[][]): Promise<void> {
  const control = new Int32Array(ctx.init.control);
  const bell = CTRL_DOORBELL + ctx.rank;
  const es = dtypeBytes(ctx.dtype);
  const timeoutNs = ctx.init.timeoutMs * 1e6;
  const heads = lists.map(() => 0);
  let remaining = lists.filter((l) => l.length > 0).length;
  let lastProgress = hostNowNs();
  let lastYield = lastProgress;
  // Per list, the emulated time its last step finished (see the header). The steps start
  // where the previous phase or collective ended on the emulated timeline, even when this
  // thread got here a little before it (the final wait of a collective ends early by the
  // learned latencies) or long after it (descheduled, a GC): emulated time is what the
  // target cluster would see, whatever this machine's thread did in between.
  const startNs = ctx.emuStartNs || lastProgress;
  if (ctx.emuBeganNs === 0) ctx.emuBeganNs = startNs;
  const vclock = lists.map(() => startNs);
  let doneAt = startNs;
  while (remaining > 0) {
    const ringSeen = Atomics.load(control, bell);
    let progressed = false;
    let absentPeer = -1;
    let stuck: { peer: number; what: string } | undefined;
    // Run, one step at a time, the runnable step that is ready first on the emulated
    // timeline, so that chunks take the emulated wire in the order the target cluster
    // would send them, not in the order this machine happened to get to them.
    for (;;) {
      let best = -1;
      let bestReady = Infinity;
      let bestRf: RecvFifo | undefined;
      let bestSf: SendFifo | undefined;
      for (let l = 0; l < lists.length; l++) {
        const list = lists[l];
        const h = heads[l];
        if (h >= list.length) continue;
        const step = list[h];
        let rf: RecvFifo | undefined;
        if (step.from >= 0) {
          rf = fifos.recv(step.from, step.fifo);
          if (!rf.hasMessage()) {
            if (!ctx.peerArrived(step.from)) absentPeer = step.from;
            stuck ??= { peer: step.from, what: `data from rank ${step.from}` };
            continue;
          }
        }
        let sf: SendFifo | undefined;
        if (step.to >= 0) {
          sf = fifos.send(step.to, step.fifo);
          if (!sf.hasFree()) {
            stuck ??= { peer: step.to, what: `rank ${step.to} to drain its FIFO from rank ${ctx.rank}` };
            continue;
          }
        }
        // The step finishes, on the emulated timeline, when its chunk arrives (0 = unpaced).
        const ready = rf ? Math.max(vclock[l], rf.arrivalNs()) : vclock[l];
        if (ready < bestReady) {
          best = l;
          bestReady = ready;
          bestRf = rf;
          bestSf = sf;
        }
      }
      if (best < 0) break;
      const list = lists[best];
      const step = list[heads[best]];
      const rf = bestRf;
      const sf = bestSf;
      if (rf) checkTag(ctx, rf, step, es);
      vclock[best] = bestReady;
      step.run(rf ? rf.buffer : null, rf ? rf.slotOffset() : 0, sf ? sf.buffer : null, sf ? sf.slotOffset() : 0);
      rf?.release();
      sf?.post(ctx.tag, step.sendCount * es, bestReady, step.sendTag >= 0 ? step.sendTag : ctx.tag[T_COUNT]);
      progressed = true;
      if (++heads[best] >= list.length) {
        remaining--;
        if (bestReady > doneAt) doneAt = bestReady;
      }
    }
    if (remaining === 0) break;
    const now = hostNowNs();
    if (progressed) {
      lastProgress = now;
      if (!ctx.blocking && now - lastYield > YIELD_EVERY_NS) {
        await new Promise((r) => setImmediate(r));
        lastYield = hostNowNs();
      }
      continue;
    }
    if (Atomics.load(control, CTRL_ABORT) !== 0) throwIfAborted(ctx.init, ctx.rank);
    if (now - lastProgress > timeoutNs) {
      const s = stuck ?? { peer: -1, what: 'the emulated wire' };
      throw ctx.timeoutError(s.peer, s.what);
    }
    const sleepNs = Math.min(SLICE_MS * 1e6, lastProgress + timeoutNs - now + 1e6);
    if (sleepNs > 0) {
      if (ctx.blocking || !waitAsync) {
        Atomics.wait(control, bell, ringSeen, sleepNs / 1e6);
      } else {
        const r = waitAsync(control, bell, ringSeen, sleepNs / 1e6);
        if (r.async) await r.value;
      }
      lastYield = hostNowNs();
      const dt = lastYield - now;
      if (absentPeer >= 0) ctx.waitNs += dt;
      else ctx.blockedNs += dt;
    }
  }
  await untilEmulated(ctx, control, doneAt);
  const exitNs = hostNowNs();
  ctx.emuStartNs = Math.max(doneAt, exitNs);
  ctx.exitNs = exitNs;
}

/**
 * Sleeps until the emulated time `atNs` (hostNowNs clock) of a collective's last arrival.
 * A sleeping thread wakes late by the scheduler's latency, and the caller learns of the
 * completion a little after runSteps returns, so it sleeps those (measured) latencies
 * less: the emulated time is then right on average instead of late by one wake-up.
 * A doorbell does not end the wait; an abort does.
 */
async function untilEmulated(ctx: OpContext, control: Int32Array, atNs: number): Promise<void> {
  const start = hostNowNs();
  let now = start;
  const early = returnLatency.value;
  while (atNs - early - wakeLatency.value > now) {
    if (Atomics.load(control, CTRL_ABORT) !== 0) throwIfAborted(ctx.init, ctx.rank);
    const sleepNs = Math.min(SLICE_MS * 1e6, atNs - early - wakeLatency.value - now);
    if (ctx.blocking || !waitAsync || sleepNs < PRECISE_SLEEP_NS) {
      // The abort word stays 0 until an abort, which notifies it: a timed wait on it is a
      // precise sleep that only an abort cuts short.
      Atomics.wait(control, CTRL_ABORT, 0, sleepNs / 1e6);
    } else {
      // Async timers have ms granularity: wake early and let the precise wait finish.
      const r = waitAsync(control, CTRL_ABORT, 0, (sleepNs - PRECISE_SLEEP_NS / 2) / 1e6);
      if (r.async) await r.value;
    }
    const t = hostNowNs();
    // Learn the oversleep of timed waits that ran their full length.
    if (t - now >= sleepNs) wakeLatency.add(t - now - sleepNs);
    now = t;
  }
  ctx.blockedNs += now - start;
}

const theirs: number[] = new Array(TAG_WORDS).fill(0);
function checkTag(ctx: OpContext, rf: RecvFifo, step: Step, es: number): void {
  let ok = true;
  for (let i = 0; i < TAG_WORDS; i++) {
    theirs[i] = rf.tagWord(i);
    const mine = i === T_COUNT && step.recvTag >= 0 ? step.recvTag : ctx.tag[i];
    if (theirs[i] !== mine) ok = false;
  }
  if (!ok) throw ctx.mismatchError(rf.src, theirs.slice());
  const bytes = rf.bytes();
  if (bytes !== step.recvCount * es) {
    const t = theirs.slice();
    t[T_COUNT] = bytes / es;
    throw ctx.mismatchError(rf.src, t);
  }
}

/**
 * Sleeps on the rank's doorbell until `ready()` holds (peers ring it whenever they publish
 * progress). Time counts as waiting for peers when `peersAbsent`, else as transfer.
 * `stuck()` names who is awaited, for the timeout message.
 */
export async function waitUntil(
  ctx: OpContext,
  ready: () => boolean,
  stuck: () => { peer: number; what: string },
  peersAbsent: boolean,
): Promise<void> {
  const control = new Int32Array(ctx.init.control);
  const bell = CTRL_DOORBELL + ctx.rank;
  const start = hostNowNs();
  const timeoutNs = ctx.init.timeoutMs * 1e6;
  for (;;) {
    const ringSeen = Atomics.load(control, bell);
    if (ready()) break;
    if (Atomics.load(control, CTRL_ABORT) !== 0) throwIfAborted(ctx.init, ctx.rank);
    const now = hostNowNs();
    if (now - start > timeoutNs) {
      const s = stuck();
      throw ctx.timeoutError(s.peer, s.what);
    }
    const sleepMs = Math.min(SLICE_MS, (start + timeoutNs - now) / 1e6 + 1);
    if (ctx.blocking || !waitAsync) Atomics.wait(control, bell, ringSeen, sleepMs);
    else {
      const r = waitAsync(control, bell, ringSeen, sleepMs);
      if (r.async) await r.value;
    }
  }
  const dt = hostNowNs() - start;
  if (peersAbsent) ctx.waitNs += dt;
  else ctx.blockedNs += dt;
}

/** Rings the doorbells of `ranks` (after publishing progress they may be waiting for). */
export function ringAll(init: WorldInit, ranks: readonly number[], except: number): void {
  const control = new Int32Array(init.control);
  for (const r of ranks) {
    if (r === except) continue;
    Atomics.add(control, CTRL_DOORBELL + r, 1);
    Atomics.notify(control, CTRL_DOORBELL + r);
  }
}
