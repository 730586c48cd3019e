/**
 * Chunked, pipelined ring algorithms (Patarasuk & Yuan; the schedule NCCL runs on a ring).
 * The buffer is cut into one segment per rank and every segment into K chunks; for each
 * chunk index the ring runs its 2(n-1) steps. Chunk j goes on FIFO j mod F, and the F
 * FIFOs progress independently (NCCL's channels), so while one chunk waits for the
 * wire's latency the next is already being sent: the pipeline.
 *
 * Rank `me` (index in the group) at reduce-scatter step s sends segment (me-1-s) and
 * receives segment (me-2-s), so after n-1 steps it owns the reduced segment `me`;
 * at all-gather step s it forwards segment (me-s).
 */
import { TypedData } from './dtypes';
import { Step, StepBuilder } from './steps';

/** Splits `total` elements over n ranks, the first total % n ranks one element more. */
export function balancedCounts(total: number, n: number): number[] {
  const base = Math.floor(total / n);
  const rem = total % n;
  return Array.from({ length: n }, (_, i) => base + (i < rem ? 1 : 0));
}

export function displacements(counts: readonly number[]): number[] {
  const d: number[] = [];
  let acc = 0;
  for (const c of counts) {
    d.push(acc);
    acc += c;
  }
  return d;
}

class Segments {
  readonly disp: number[];
  readonly k: number;
  constructor(
    readonly counts: readonly number[],
    readonly chunkElems: number,
  ) {
    this.disp = displacements(counts);
    this.k = Math.max(1, Math.ceil(Math.max(0, ...counts) / chunkElems));
  }
  /** Element range [lo, hi) of chunk j of segment i, relative to the whole buffer. */
  chunk(i: number, j: number): [number, number] {
    const c = this.counts[i];
    return [this.disp[i] + Math.min(j * this.chunkElems, c), this.disp[i] + Math.min((j + 1) * this.chunkElems, c)];
  }
  /** Same range relative to the start of segment i. */
  local(i: number, j: number): [number, number] {
    const c = this.counts[i];
    return [Math.min(j * this.chunkElems, c), Math.min((j + 1) * this.chunkElems, c)];
  }
}

const mod = (a: number, n: number) => ((a % n) + n) % n;

/** Step lists of a ring all-reduce of `data` in place over `peers` (this rank at index me). */
export function ringAllReduceSteps(
  b: StepBuilder,
  peers: readonly number[],
  me: number,
  data: TypedData,
  chunkElems: number,
  fifos: number,
  divisor: number,
): Step[][] {
  const n = peers.length;
  const seg = new Segments(balancedCounts(data.length, n), chunkElems);
  const next = peers[mod(me + 1, n)];
  const prev = peers[mod(me - 1, n)];
  const sub = (i: number, j: number) => {
    const [lo, hi] = seg.chunk(mod(i, n), j);
    return data.subarray(lo, hi);
  };
  const lists: Step[][] = Array.from({ length: Math.min(fifos, seg.k) }, () => []);
  for (let j = 0; j < seg.k; j++) {
    const f = j % lists.length;
    const L = lists[f];
    L.push(b.send(next, f, sub(me - 1, j)));
    for (let s = 1; s <= n - 2; s++) L.push(b.recvReduceSend(prev, next, f, sub(me - 1 - s, j), null));
    const mine = sub(me, j);
    L.push(b.recvReduceSend(prev, next, f, mine, mine, divisor));
    for (let s = 1; s <= n - 2; s++) {
      const d = sub(me - s, j);
      L.push(b.recvCopySend(prev, next, f, d, d.length));
    }
    L.push(b.recvCopy(prev, f, sub(me + 1, j)));
  }
  return lists;
}

/** Reduce-scatter: output = reduced segment `me` of input (segment sizes `counts`). */
export function ringReduceScatterSteps(
  b: StepBuilder,
  peers: readonly number[],
  me: number,
  input: TypedData,
  output: TypedData,
  counts: readonly number[],
  chunkElems: number,
  fifos: number,
  divisor: number,
): Step[][] {
  const n = peers.length;
  const seg = new Segments(counts, chunkElems);
  const next = peers[mod(me + 1, n)];
  const prev = peers[mod(me - 1, n)];
  const sub = (i: number, j: number) => {
    const [lo, hi] = seg.chunk(mod(i, n), j);
    return input.subarray(lo, hi);
  };
  const lists: Step[][] = Array.from({ length: Math.min(fifos, seg.k) }, () => []);
  for (let j = 0; j < seg.k; j++) {
    const f = j % lists.length;
    const L = lists[f];
    L.push(b.send(next, f, sub(me - 1, j)));
    for (let s = 1; s <= n - 2; s++) L.push(b.recvReduceSend(prev, next, f, sub(me - 1 - s, j), null));
    const [lo, hi] = seg.local(me, j);
    L.push(b.recvReduce(prev, f, sub(me, j), output.subarray(lo, hi), divisor));
  }
  return lists;
}

/** All-gather: output = concatenation of every rank's input (segment sizes `counts`). */
export function ringAllGatherSteps(
  b: StepBuilder,
  peers: readonly number[],
  me: number,
  input: TypedData,
  output: TypedData,
  counts: readonly number[],
  chunkElems: number,
  fifos: number,
): Step[][] {
  const n = peers.length;
  const seg = new Segments(counts, chunkElems);
  const next = peers[mod(me + 1, n)];
  const prev = peers[mod(me - 1, n)];
  const sub = (i: number, j: number) => {
    const [lo, hi] = seg.chunk(mod(i, n), j);
    return output.subarray(lo, hi);
  };
  if (
    input.buffer !== output.buffer ||
    input.byteOffset !== output.byteOffset + seg.disp[me] * input.BYTES_PER_ELEMENT
  ) {
    output.subarray(seg.disp[me], seg.disp[me] + counts[me]).set(input as never);
  }
  const lists: Step[][] = Array.from({ length: Math.min(fifos, seg.k) }, () => []);
  for (let j = 0; j < seg.k; j++) {
    const f = j % lists.length;
    const L = lists[f];
    L.push(b.send(next, f, sub(me, j)));
    for (let s = 1; s <= n - 2; s++) {
      const d = sub(me - s, j);
      L.push(b.recvCopySend(prev, next, f, d, d.length));
    }
    L.push(b.recvCopy(prev, f, sub(me + 1, j)));
  }
  return lists;
}
