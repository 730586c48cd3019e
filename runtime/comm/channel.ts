/**
 * One FIFO of one direction of a link between two ranks, in a SharedArrayBuffer: `slots`
 * chunk slots written by the sender and drained by the receiver. The sender fills a
 * free slot, stamps it with the collective's tag and the time the emulated wire delivers
 * it (α-β pacing), bumps SENT and rings the receiver's doorbell; the receiver checks the
 * tag (mismatched calls are caught here), consumes the chunk in place once delivered,
 * bumps ACKED and rings the sender's doorbell. Only the sender writes SENT and the slots;
 * only the receiver writes ACKED. The calls never block: the engine decides when to sleep.
 */
import { LinkProfile } from './profiles';
import {
  CH_ACKED,
  CH_DATA_OFFSET,
  CH_F64_OFFSET,
  CH_FIFO_WORDS,
  CH_LINK_FREE,
  CH_SENT,
  CH_SLOT_HDR,
  CH_SLOT_WORDS,
  CTRL_DOORBELL,
  MAX_FIFOS,
  MAX_SLOTS,
  WorldInit,
} from './world';

/** Tag words every chunk carries: what both sides of the message must agree on. */
export const T_GROUP = 0,
  T_SEQ = 1,
  T_OP = 2,
  T_DTYPE = 3,
  T_COUNT = 4,
  T_EXTRA = 5;
export const TAG_WORDS = 6;
const H_BYTES = 6;

abstract class FifoEnd {
  protected readonly words: Int32Array;
  protected readonly f64: Float64Array;
  protected readonly control: Int32Array;
  readonly buffer: SharedArrayBuffer;
  readonly slots: number;
  readonly slotBytes: number;
  protected readonly base: number;
  protected readonly dataBase: number;

  constructor(
    init: WorldInit,
    readonly src: number,
    readonly dst: number,
    readonly fifo: number,
  ) {
    const at = init.channels[src * init.worldSize + dst];
    if (at === undefined || at < 0) throw new Error(`no channel ${src}->${dst}`);
    if (fifo < 0 || fifo >= init.fifos) throw new Error(`fifo ${fifo} out of range [0, ${init.fifos})`);
    this.buffer = init.memory.buffer;
    this.words = new Int32Array(this.buffer, at, MAX_FIFOS * CH_FIFO_WORDS);
    this.f64 = new Float64Array(this.buffer, at + CH_F64_OFFSET, CH_LINK_FREE + 1);
    this.control = new Int32Array(init.control);
    this.slots = init.slots;
    this.slotBytes = init.chunkBytes;
    this.base = fifo * CH_FIFO_WORDS;
    this.dataBase = at + CH_DATA_OFFSET + fifo * init.slots * init.chunkBytes;
  }

  protected ring(rank: number): void {
    Atomics.add(this.control, CTRL_DOORBELL + rank, 1);
    Atomics.notify(this.control, CTRL_DOORBELL + rank);
  }
}

export class SendFifo extends FifoEnd {
  private sent: number;
  private readonly paced: boolean;

  constructor(
    init: WorldInit,
    src: number,
    dst: number,
    fifo: number,
    readonly link: LinkProfile,
  ) {
    super(init, src, dst, fifo);
    this.sent = Atomics.load(this.words, this.base + CH_SENT);
    this.paced = Number.isFinite(link.bytesPerNs) || link.alphaNs > 0;
  }

  /** True when a slot is free. */
  hasFree(): boolean {
    return ((this.sent - Atomics.load(this.words, this.base + CH_ACKED)) | 0) < this.slots;
  }

  /** Byte offset in `buffer` of the slot the next post() publishes. */
  slotOffset(): number {
    return this.dataBase + (this.sent % this.slots) * this.slotBytes;
  }

  /**
   * Publishes the slot: `bytes` of payload, ready since `readyNs`, tagged with `tag`
   * (`count` overrides its count word).
   */
  post(tag: readonly number[], bytes: number, readyNs: number, count: number): void {
    const slot = this.sent % this.slots;
    const h = this.base + CH_SLOT_HDR + slot * CH_SLOT_WORDS;
    const w = this.words;
    w[h] = tag[0];
    w[h + 1] = tag[1];
    w[h + 2] = tag[2];
    w[h + 3] = tag[3];
    w[h + 4] = count;
    w[h + 5] = tag[5];
    w[h + H_BYTES] = bytes;
    let arrival = 0;
    if (this.paced) {
      // One wire per ordered pair, shared by its FIFOs: chunks serialize at β and each
      // arrives α after its last byte left, so latency overlaps the next chunk's send.
      const start = Math.max(readyNs, this.f64[CH_LINK_FREE]);
      const done = start + (Number.isFinite(this.link.bytesPerNs) ? bytes / this.link.bytesPerNs : 0);
      this.f64[CH_LINK_FREE] = done;
      arrival = done + this.link.alphaNs;
    }
    this.f64[this.fifo * MAX_SLOTS + slot] = arrival;
    this.sent = (this.sent + 1) | 0;
    Atomics.store(w, this.base + CH_SENT, this.sent);
    this.ring(this.dst);
  }
}

export class RecvFifo extends FifoEnd {
  private consumed: number;

  constructor(init: WorldInit, src: number, dst: number, fifo: number) {
    super(init, src, dst, fifo);
    this.consumed = Atomics.load(this.words, this.base + CH_ACKED);
  }

  /** True when a chunk is waiting (maybe not yet delivered by the emulated wire). */
  hasMessage(): boolean {
    return Atomics.load(this.words, this.base + CH_SENT) !== this.consumed;
  }

  /** Tag word i of the waiting chunk. */
  tagWord(i: number): number {
    return this.words[this.base + CH_SLOT_HDR + (this.consumed % this.slots) * CH_SLOT_WORDS + i];
  }

  bytes(): number {
    return this.tagWord(H_BYTES);
  }

  /** When the emulated wire delivers the waiting chunk (0 = unpaced). */
  arrivalNs(): number {
    return this.f64[this.fifo * MAX_SLOTS + (this.consumed % this.slots)];
  }

  /** Byte offset in `buffer` of the waiting chunk's payload. */
  slotOffset(): number {
    return this.dataBase + (this.consumed % this.slots) * this.slotBytes;
  }

  release(): void {
    this.consumed = (this.consumed + 1) | 0;
    Atomics.store(this.words, this.base + CH_ACKED, this.consumed);
    this.ring(this.src);
  }
}
