/**
 * Direct (pairwise) exchanges: all-to-all with equal or unequal splits, where in round k
 * every rank sends to me+k and receives from me-k, each round on its own FIFO so that all
 * rounds proceed at once; and point-to-point send/recv. Per-pair tag counts are the
 * number of elements that pair exchanges, which both sides know, so a split that the two
 * sides disagree on is reported as a mismatch.
 */
import { TypedData } from './dtypes';
import { displacements } from './ring';
import { Step, StepBuilder } from './steps';

const mod = (a: number, n: number) => ((a % n) + n) % n;

function pieces(data: TypedData, chunkElems: number): TypedData[] {
  const k = Math.max(1, Math.ceil(data.length / chunkElems));
  return Array.from({ length: k }, (_, j) =>
    data.subarray(j * chunkElems, Math.min((j + 1) * chunkElems, data.length)),
  );
}

/** output[block from r] = input[block for me] of rank r, for every r. */
export function directAllToAllSteps(
  b: StepBuilder,
  peers: readonly number[],
  me: number,
  input: TypedData,
  output: TypedData,
  sendCounts: readonly number[],
  recvCounts: readonly number[],
  chunkElems: number,
  fifos: number,
): Step[][] {
  const n = peers.length;
  const sd = displacements(sendCounts);
  const rd = displacements(recvCounts);
  output.subarray(rd[me], rd[me] + recvCounts[me]).set(input.subarray(sd[me], sd[me] + sendCounts[me]) as never);
  const lists: Step[][] = [];
  for (let k = 1; k < n; k++) {
    const to = mod(me + k, n);
    const from = mod(me - k, n);
    const f = (k - 1) % fifos;
    const out = pieces(input.subarray(sd[to], sd[to] + sendCounts[to]), chunkElems);
    const inn = pieces(output.subarray(rd[from], rd[from] + recvCounts[from]), chunkElems);
    // The sends and the receives of a round as lists of their own: a send never waits for the
    // receive before it, so the chunks stream onto the wire back to back and the round costs
    // α + (S/n)/β, as a link pipelines them. (One list alternating send, receive, send, …
    // paid α again for every chunk: 2 ranks, 1 MiB over eth-25g slowed 300×, 2 chunks, 68.4 ms
    // against 59.3 for the all-gather of the same bytes.)
    if (out.length > 0) lists.push(out.map((x) => b.send(peers[to], f, x, sendCounts[to])));
    if (inn.length > 0) lists.push(inn.map((x) => b.recvCopy(peers[from], f, x, recvCounts[from])));
  }
  // Rounds that share a FIFO index talk to different peers, and a round's sends and receives
  // use the FIFOs of two different directed links, so no two lists' orders ever mix: running
  // them as separate lists lets every round, and both directions of it, progress at once.
  return lists;
}

export function sendSteps(b: StepBuilder, peer: number, data: TypedData, chunkElems: number, fifos: number): Step[][] {
  const parts = pieces(data, chunkElems);
  const lists: Step[][] = Array.from({ length: Math.min(fifos, parts.length) }, () => []);
  parts.forEach((p, j) => lists[j % lists.length].push(b.send(peer, j % lists.length, p, data.length)));
  return lists;
}

export function recvSteps(b: StepBuilder, peer: number, data: TypedData, chunkElems: number, fifos: number): Step[][] {
  const parts = pieces(data, chunkElems);
  const lists: Step[][] = Array.from({ length: Math.min(fifos, parts.length) }, () => []);
  parts.forEach((p, j) => lists[j % lists.length].push(b.recvCopy(peer, j % lists.length, p, data.length)));
  return lists;
}
