/**
 * Two-shot all-reduce on registered buffers (NCCL's zero-copy path over CUDA IPC /
 * NVLink P2P, in shared memory): every rank publishes where its buffer is; rank i
 * reduces segment i straight out of every peer's buffer into its own (reduce-scatter,
 * reading each byte once, with the SIMD kernels), publishes its progress chunk by chunk,
 * and copies the other reduced segments from their owners as they become ready
 * (all-gather). No FIFO, no intermediate copy: per rank S is read and (n-1)/n·S copied.
 * A final handshake keeps each buffer untouched until every peer is done reading it.
 * Links are not paced on this path, so it is only used on unpaced ('none') groups.
 */
import { CommMismatchError } from './errors';
import { describeCall, OP_NAMES } from './descriptor';
import { Dtype, ReduceOp, TypedData, viewOf } from './dtypes';
import { OpContext, ringAll, waitUntil } from './engine';
import { RankState } from './rankState';
import { balancedCounts, displacements } from './ring';
import {
  B_ALGO,
  B_COUNT,
  B_DTYPE,
  B_EXTRA,
  B_GROUP,
  B_OP,
  B_PUB_DONE,
  B_PUB_OFFSET,
  B_PUB_PROGRESS,
  B_PUB_SEQ,
  B_SEQ,
  B_STATE,
} from './world';

export const ALGO_CODES: Record<string, number> = {
  ring: 1,
  'recursive-doubling': 2,
  'two-shot': 3,
  chain: 4,
  tree: 5,
  direct: 6,
};

export interface TwoShotArgs {
  st: RankState;
  ctx: OpContext;
  peers: readonly number[];
  me: number;
  groupKey: number;
  groupName: string;
  seq: number;
  data: TypedData;
  dtype: Dtype;
  reduceOp: ReduceOp;
  divisor: number;
  chunkElems: number;
}

export async function twoShotAllReduce(a: TwoShotArgs): Promise<void> {
  const { st, ctx, peers, me, groupKey, seq, data, dtype } = a;
  const n = peers.length;
  const mem = st.init.memory.buffer;
  const mine = st.boardOf(st.rank);
  Atomics.store(mine, B_PUB_PROGRESS, 0);
  Atomics.store(mine, B_PUB_DONE, 0);
  Atomics.store(mine, B_PUB_OFFSET, data.byteOffset);
  Atomics.store(mine, B_PUB_SEQ, seq);
  ringAll(st.init, peers, st.rank);
  const boards = peers.map((r) => st.boardOf(r));
  const published = (j: number) =>
    Atomics.load(boards[j], B_GROUP) === groupKey && Atomics.load(boards[j], B_PUB_SEQ) === seq;

  // 1. Everyone has published (or called something else for this seq: a mismatch).
  await waitUntil(
    ctx,
    () => {
      for (let j = 0; j < n; j++) {
        if (j === me || published(j)) continue;
        checkPeerCall(a, j, boards[j]);
        return false;
      }
      return true;
    },
    () => ({
      peer: peers[firstMissing(n, me, published)],
      what: `rank ${peers[firstMissing(n, me, published)]} to publish its buffer`,
    }),
    true,
  );
  const views = peers.map((_, j) =>
    j === me ? data : viewOf(dtype, mem, Atomics.load(boards[j], B_PUB_OFFSET), data.length),
  );

  // 2-3. Reduce-scatter (my segment, chunk by chunk, out of every buffer into mine) and
  //      all-gather (every other segment, copied from its owner once reduced).
  const counts = balancedCounts(data.length, n);
  const disp = displacements(counts);
  const chunksOf = (j: number) => Math.max(1, Math.ceil(counts[j] / a.chunkElems));
  const range = (j: number, c: number): [number, number] => [
    disp[j] + Math.min(c * a.chunkElems, counts[j]),
    disp[j] + Math.min((c + 1) * a.chunkElems, counts[j]),
  ];
  const myChunks = chunksOf(me);
  const lastPeer = me === n - 1 ? n - 2 : n - 1;
  // One loop does both halves: reduce my next chunk, then copy every peer chunk that is
  // already reduced; sleep only when my part is done and no peer chunk is ready (each
  // sleep costs a wake-up, which on a loaded machine is worth many chunks of copying).
  const copied = new Array(n).fill(0);
  let reduced = 0;
  let left = counts.reduce((acc, _, j) => acc + (j === me ? 0 : chunksOf(j)), 0);
  while (reduced < myChunks || left > 0) {
    if (reduced < myChunks) {
      const [lo, hi] = range(me, reduced);
      if (hi > lo) {
        const out = data.subarray(lo, hi);
        for (let j = 0; j < n; j++) {
          if (j === me) continue;
          st.reducer.reduce(dtype, a.reduceOp, out, out, views[j].subarray(lo, hi), j === lastPeer ? a.divisor : 0);
        }
      }
      Atomics.store(mine, B_PUB_PROGRESS, ++reduced);
      ringAll(st.init, peers, st.rank);
    }
    let progressed = false;
    for (let k = 1; k < n; k++) {
      const j = (me + k) % n;
      const ready = Math.min(chunksOf(j), Atomics.load(boards[j], B_PUB_PROGRESS));
      for (; copied[j] < ready; copied[j]++, left--) {
        const [lo, hi] = range(j, copied[j]);
        if (hi > lo) data.subarray(lo, hi).set(views[j].subarray(lo, hi) as never);
        progressed = true;
      }
    }
    if (!progressed && reduced === myChunks && left > 0) {
      const behind = () => {
        for (let j = 0; j < n; j++) if (j !== me && copied[j] < chunksOf(j)) return j;
        return me;
      };
      await waitUntil(
        ctx,
        () => {
          for (let j = 0; j < n; j++)
            if (j !== me && copied[j] < chunksOf(j) && Atomics.load(boards[j], B_PUB_PROGRESS) > copied[j]) return true;
          return false;
        },
        () => ({ peer: peers[behind()], what: `rank ${peers[behind()]} to reduce its segment` }),
        false,
      );
    }
  }

  // 4. Nobody may reuse its buffer while a peer still reads it: wait for every peer's done
  //    (a peer already past this collective has unpublished, which also means done).
  Atomics.store(mine, B_PUB_DONE, 1);
  ringAll(st.init, peers, st.rank);
  const done = (j: number) => !published(j) || Atomics.load(boards[j], B_PUB_DONE) === 1;
  await waitUntil(
    ctx,
    () => {
      for (let j = 0; j < n; j++) if (j !== me && !done(j)) return false;
      return true;
    },
    () => ({
      peer: peers[firstMissing(n, me, done)],
      what: `rank ${peers[firstMissing(n, me, done)]} to finish reading`,
    }),
    false,
  );
}

function firstMissing(n: number, me: number, ok: (j: number) => boolean): number {
  for (let j = 0; j < n; j++) if (j !== me && !ok(j)) return j;
  return me;
}

/** A peer in this very collective (same group and seq) with other arguments or another algorithm. */
function checkPeerCall(a: TwoShotArgs, j: number, b: Int32Array): void {
  if (Atomics.load(b, B_STATE) !== 1 || Atomics.load(b, B_GROUP) !== a.groupKey || Atomics.load(b, B_SEQ) !== a.seq)
    return;
  const mine = a.st.boardOf(a.st.rank);
  const same = [B_OP, B_DTYPE, B_COUNT, B_EXTRA, B_ALGO].every((w) => Atomics.load(b, w) === Atomics.load(mine, w));
  if (same) return;
  const algoName = (code: number) => Object.keys(ALGO_CODES).find((k) => ALGO_CODES[k] === code) ?? `#${code}`;
  const desc = (w: Int32Array) =>
    `${describeCall(w[B_OP], w[B_SEQ], a.groupName, w[B_DTYPE], w[B_COUNT], w[B_EXTRA])} [${algoName(w[B_ALGO])}]`;
  const hint =
    Atomics.load(b, B_ALGO) !== Atomics.load(mine, B_ALGO) && OP_NAMES[mine[B_OP]] === 'allReduce'
      ? ' (register the buffer with allocShared on every rank, or on none)'
      : '';
  throw new CommMismatchError(a.st.rank, a.peers[j], desc(mine), desc(b) + hint);
}
