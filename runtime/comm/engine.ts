/**
 * The progress engine of one rank (NCCL's proxy loop in miniature): it advances every
 * list of steps of a collective as far as the FIFOs allow, never blocking on one list
 * while another could move; when nothing can move it sleeps on the rank's doorbell
 * (Atomics.wait, or Atomics.waitAsync to keep the event loop free) until a peer posts or
 * drains a chunk, the emulated wire delivers one, the world is aborted, or the timeout
 * passes. No spinning: on an oversubscribed machine a spin costs a whole time slice.
 */
import { hostNowNs } from '../clock';
import { RecvFifo, SendFifo, TAG_WORDS, T_COUNT } from './channel';
import { dtypeBytes, Dtype } from './dtypes';
import { Step } from './steps';
import { CTRL_ABORT, CTRL_DOORBELL, throwIfAborted, WorldInit } from './world';

type WaitAsyncResult = { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (Atomics as unknown as { waitAsync?: (a: Int32Array, i: number, v: number, t?: number) => WaitAsyncResult }).waitAsync;

/** A missed wake-up (should not happen) costs at most this. */
const SLICE_MS = 200;
/** Pacing sleeps shorter than this use the precise synchronous wait (async timers have ms granularity). */
const PRECISE_SLEEP_NS = 3_000_000;
/** Bound of the learned wake-up latency (see runSteps). */
const MAX_WAKE_LATENCY_NS = 200_000;
/** Learned (EWMA) lateness of this thread's timed waits. */
let wakeLatencyNs = 50_000;
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
  while (remaining > 0) {
    const ringSeen = Atomics.load(control, bell);
    let progressed = false;
    let nextArrival = Infinity;
    let absentPeer = -1;
    let stuck: { peer: number; what: string } | undefined;
    for (let l = 0; l < lists.length; l++) {
      const list = lists[l];
      let h = heads[l];
      if (h >= list.length) continue;
      while (h < list.length) {
        const step = list[h];
        let rf: RecvFifo | undefined;
        let inArrival = 0;
        if (step.from >= 0) {
          rf = fifos.recv(step.from, step.fifo);
          if (!rf.hasMessage()) {
            if (!ctx.peerArrived(step.from)) absentPeer = step.from;
            stuck ??= { peer: step.from, what: `data from rank ${step.from}` };
            break;
          }
          checkTag(ctx, rf, step, es);
          const arrival = (inArrival = rf.arrivalNs());
          // A sleeping thread wakes late by the scheduler's latency; deliveries due within
          // that (measured) latency are taken now, so that pacing is right on average
          // instead of late by one wake-up per chunk.
          if (arrival > 0 && arrival - wakeLatencyNs > hostNowNs()) {
            if (arrival < nextArrival) nextArrival = arrival;
            break;
          }
        }
        let sf: SendFifo | undefined;
        if (step.to >= 0) {
          sf = fifos.send(step.to, step.fifo);
          if (!sf.hasFree()) {
            stuck ??= { peer: step.to, what: `rank ${step.to} to drain its FIFO from rank ${ctx.rank}` };
            break;
          }
        }
        // A forwarded chunk is ready, on the emulated timeline, when its input arrived: the
        // reduction runs at GPU speed on the target cluster, so this machine's slower
        // arithmetic overlaps the wire instead of adding to it (it shows only when longer).
        const readyNs = !sf ? 0 : inArrival > 0 ? inArrival : hostNowNs();
        step.run(rf ? rf.buffer : null, rf ? rf.slotOffset() : 0, sf ? sf.buffer : null, sf ? sf.slotOffset() : 0);
        rf?.release();
        sf?.post(ctx.tag, step.sendCount * es, readyNs, step.sendTag >= 0 ? step.sendTag : ctx.tag[T_COUNT]);
        h++;
        progressed = true;
      }
      heads[l] = h;
      if (h >= list.length) remaining--;
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
    let sleepNs = Math.min(SLICE_MS * 1e6, lastProgress + timeoutNs - now + 1e6);
    const pacing = Number.isFinite(nextArrival);
    if (pacing) sleepNs = Math.min(sleepNs, nextArrival - wakeLatencyNs - now);
    if (sleepNs > 0) {
      if (ctx.blocking || !waitAsync || (pacing && sleepNs < PRECISE_SLEEP_NS)) {
        Atomics.wait(control, bell, ringSeen, sleepNs / 1e6);
      } else {
        // Wake a little early for a paced chunk; the precise wait finishes the job.
        const r = waitAsync(control, bell, ringSeen, (pacing ? sleepNs - PRECISE_SLEEP_NS / 2 : sleepNs) / 1e6);
        if (r.async) await r.value;
      }
      lastYield = hostNowNs();
      const dt = lastYield - now;
      // Learn the oversleep of timed waits that were not cut short by a doorbell.
      if (pacing && dt >= sleepNs) wakeLatencyNs = Math.min(MAX_WAKE_LATENCY_NS, 0.8 * wakeLatencyNs + 0.2 * (dt - sleepNs));
      if (absentPeer >= 0 && !pacing) ctx.waitNs += dt;
      else ctx.blockedNs += dt;
    }
  }
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
export async function waitUntil(ctx: OpContext, ready: () => boolean, stuck: () => { peer: number; what: string }, peersAbsent: boolean): Promise<void> {
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
