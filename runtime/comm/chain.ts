/**
 * Pipelined chain broadcast and reduce for large messages (NCCL's ring broadcast/reduce):
 * the ranks form a chain from the root; chunk j enters the chain while chunk j-1 is one
 * hop ahead, so the time is ~ (n-2)·chunk + S over the slowest link instead of log₂n · S.
 */
import { TypedData } from './dtypes';
import { Step, StepBuilder } from './steps';

const mod = (a: number, n: number) => ((a % n) + n) % n;

function chunkRanges(count: number, chunkElems: number): [number, number][] {
  const k = Math.max(1, Math.ceil(count / chunkElems));
  return Array.from({ length: k }, (_, j) => [j * chunkElems, Math.min((j + 1) * chunkElems, count)]);
}

/** Chain broadcast from peers[root] down positions 1, 2, ..., n-1. */
export function chainBroadcastSteps(
  b: StepBuilder,
  peers: readonly number[],
  me: number,
  root: number,
  data: TypedData,
  chunkElems: number,
  fifos: number,
): Step[][] {
  const n = peers.length;
  const pos = mod(me - root, n);
  const next = peers[mod(me + 1, n)];
  const prev = peers[mod(me - 1, n)];
  const ranges = chunkRanges(data.length, chunkElems);
  const lists: Step[][] = Array.from({ length: Math.min(fifos, ranges.length) }, () => []);
  ranges.forEach(([lo, hi], j) => {
    const f = j % lists.length;
    const part = data.subarray(lo, hi);
    if (pos === 0) lists[f].push(b.send(next, f, part));
    else if (pos === n - 1) lists[f].push(b.recvCopy(prev, f, part));
    else lists[f].push(b.recvCopySend(prev, next, f, part, part.length));
  });
  return lists;
}

/**
 * Chain reduce toward peers[root]: position n-1 starts, every rank adds its part and
 * passes it on, the root stores the result in `data` (dividing by `divisor` if > 0).
 */
export function chainReduceSteps(
  b: StepBuilder,
  peers: readonly number[],
  me: number,
  root: number,
  data: TypedData,
  chunkElems: number,
  fifos: number,
  divisor: number,
): Step[][] {
  const n = peers.length;
  const pos = mod(me - root, n);
  const toward = peers[mod(me - 1, n)];
  const from = peers[mod(me + 1, n)];
  const ranges = chunkRanges(data.length, chunkElems);
  const lists: Step[][] = Array.from({ length: Math.min(fifos, ranges.length) }, () => []);
  ranges.forEach(([lo, hi], j) => {
    const f = j % lists.length;
    const part = data.subarray(lo, hi);
    if (pos === n - 1) lists[f].push(b.send(toward, f, part));
    else if (pos === 0) lists[f].push(b.recvReduce(from, f, part, part, divisor));
    else lists[f].push(b.recvReduceSend(from, toward, f, part, null));
  });
  return lists;
}
