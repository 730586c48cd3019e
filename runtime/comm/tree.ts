/**
 * Latency-oriented algorithms for small messages: binomial-tree broadcast and reduce
 * (⌈log₂ n⌉ hops instead of n-1), and recursive-doubling all-reduce (log₂ n exchanges of
 * the whole buffer; non-powers of two fold the extra ranks in first, Thakur et al. 2005).
 * Positions are relative to the root (pos = (me - root) mod n).
 */
import { TypedData } from './dtypes';
import { Step, StepBuilder } from './steps';

const mod = (a: number, n: number) => ((a % n) + n) % n;

function chunks(data: TypedData, chunkElems: number): TypedData[] {
  const k = Math.max(1, Math.ceil(data.length / chunkElems));
  return Array.from({ length: k }, (_, j) =>
    data.subarray(j * chunkElems, Math.min((j + 1) * chunkElems, data.length)),
  );
}

/** Binomial-tree broadcast of `data` from peers[root]. */
export function treeBroadcastSteps(
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
  const at = (p: number) => peers[mod(p + root, n)];
  const parts = chunks(data, chunkElems);
  const lists: Step[][] = Array.from({ length: Math.min(fifos, parts.length) }, () => []);
  parts.forEach((part, j) => {
    const f = j % lists.length;
    const L = lists[f];
    let mask = 1;
    while (mask < n) {
      if (pos & mask) {
        L.push(b.recvCopy(at(pos - mask), f, part));
        break;
      }
      mask <<= 1;
    }
    for (mask >>= 1; mask > 0; mask >>= 1) if (pos + mask < n) L.push(b.send(at(pos + mask), f, part));
  });
  return lists;
}

/**
 * Binomial-tree reduce to peers[root]; the root's `data` receives the result (without the
 * average's division, which the caller applies), other ranks' data is left unchanged.
 */
export function treeReduceSteps(
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
  const at = (p: number) => peers[mod(p + root, n)];
  // Non-roots accumulate in a scratch copy so that their input stays as it was.
  const acc = pos === 0 ? data : (data.slice() as TypedData);
  const parts = chunks(acc, chunkElems);
  const lists: Step[][] = Array.from({ length: Math.min(fifos, parts.length) }, () => []);
  parts.forEach((part, j) => {
    const f = j % lists.length;
    const L = lists[f];
    for (let mask = 1; mask < n; mask <<= 1) {
      if (pos & mask) {
        L.push(b.send(at(pos - mask), f, part));
        break;
      }
      if (pos + mask < n) L.push(b.recvReduce(at(pos + mask), f, part, part));
    }
  });
  return lists;
}

/** Recursive-doubling all-reduce of `data` in place; `divisor` > 0 applies the average. */
export function recursiveDoublingSteps(
  b: StepBuilder,
  peers: readonly number[],
  me: number,
  data: TypedData,
  chunkElems: number,
  fifos: number,
  divisor: number,
): Step[][] {
  const n = peers.length;
  let p2 = 1;
  while (p2 * 2 <= n) p2 *= 2;
  const rem = n - p2;
  // Ranks below 2·rem pair up: the even one hands its data to the odd one, sits out, and
  // gets the result back at the end.
  const newPos = me < 2 * rem ? (me % 2 === 1 ? (me - 1) / 2 : -1) : me - rem;
  const realOf = (np: number) => (np < rem ? np * 2 + 1 : np + rem);
  const parts = chunks(data, chunkElems);
  const lists: Step[][] = Array.from({ length: Math.min(fifos, parts.length) }, () => []);
  parts.forEach((part, j) => {
    const f = j % lists.length;
    const L = lists[f];
    if (newPos < 0) {
      L.push(b.send(peers[me + 1], f, part));
      L.push(b.recvCopy(peers[me + 1], f, part));
      return;
    }
    if (me < 2 * rem) L.push(b.recvReduce(peers[me - 1], f, part, part, p2 === 1 ? divisor : 0));
    for (let mask = 1; mask < p2; mask <<= 1) {
      const partner = peers[realOf(newPos ^ mask)];
      L.push(b.send(partner, f, part));
      L.push(b.recvReduce(partner, f, part, part, mask * 2 === p2 ? divisor : 0));
    }
    if (me < 2 * rem) L.push(b.send(peers[me - 1], f, part));
  });
  return lists;
}
