/**
 * The communicator a rank (worker thread) uses: torch.distributed-shaped calls that
 * return handles, run in issue order on a per-rank queue, and emit one CommSpan each.
 * Sub-groups share the rank's channels and queue; their collectives carry the group's
 * key and their own sequence numbers. Ranks passed to calls (root, peer) are group ranks.
 */
import { directAllToAllSteps, recvSteps, sendSteps } from './direct';
import { chainBroadcastSteps, chainReduceSteps } from './chain';
import { divideInPlace, Dtype, ReduceOp, TypedData } from './dtypes';
import { CommUsageError } from './errors';
import { GroupCore } from './groupCore';
import { CommHandle } from './handle';
import { RankState } from './rankState';
import { balancedCounts, ringAllGatherSteps, ringAllReduceSteps, ringReduceScatterSteps } from './ring';
import { CommSpan } from './spans';
import { recursiveDoublingSteps, treeBroadcastSteps, treeReduceSteps } from './tree';
import { abortWorld, alignUp, WorldInit } from './world';
import { twoShotAllReduce } from './twoShot';
import { dtypeBytes, viewOf } from './dtypes';

export interface CollectiveOptions {
  op?: ReduceOp;
  /** Force an algorithm (see tuner.ts ALGORITHMS); default: the tuner's choice. */
  algorithm?: string;
  /** Element type; must match the array (Uint16Array carries f16 bits). */
  dtype?: Dtype;
  /** What the caller calls this collective (e.g. "layer0.moe dispatch fwd"): goes on its span as `label`. */
  label?: string;
}

export interface CommunicatorOptions {
  /** Sleep in Atomics.wait instead of Atomics.waitAsync (threads that only communicate). */
  blocking?: boolean;
  /** Told when a caller starts and stops blocking on a collective of this rank (any of its groups). */
  blockedMeter?: { begin(): void; end(): void };
}

export class Communicator {
  /** Rank within this communicator's group. */
  readonly rank: number;
  /** Number of ranks in this communicator's group. */
  readonly worldSize: number;
  readonly globalRank: number;
  /** Global ranks of the group. */
  readonly ranks: readonly number[];
  readonly groupName: string;
  private readonly core: GroupCore;

  /** Opens the communicator of `rank` (in its worker thread) on a world made by createWorld(). */
  static fromInit(
    init: WorldInit,
    rank: number,
    onSpan?: (s: CommSpan) => void,
    opts: CommunicatorOptions = {},
  ): Communicator {
    const state = new RankState(init, rank, onSpan, opts.blocking ?? false);
    state.blockedMeter = opts.blockedMeter;
    return new Communicator(
      state,
      Array.from({ length: init.worldSize }, (_, i) => i),
      'world',
    );
  }

  private constructor(state: RankState, ranks: readonly number[], groupName: string, named = false) {
    this.core = new GroupCore(state, ranks, groupName, named);
    this.ranks = ranks;
    this.groupName = groupName;
    this.globalRank = state.rank;
    this.rank = this.core.me;
    this.worldSize = ranks.length;
  }

  get init(): WorldInit {
    return this.core.state.init;
  }

  /**
   * A communicator over `ranks` (global ranks, in the order used for rings). Every member
   * must call it with the same list (and name), and members must issue a group's
   * collectives in the same order. A named group ("tp group 0 (ranks 0,1)") is told apart
   * from other groups of the same ranks, and its collectives go on a trace track of that
   * name (runtime/comm/layout.ts names the groups of a parallel layout).
   */
  newGroup(ranks: number[], opts: { name?: string } = {}): Communicator {
    const n = this.init.worldSize;
    if (!Array.isArray(ranks) || ranks.length === 0)
      throw new CommUsageError('newGroup needs a non-empty list of ranks');
    const seen = new Set<number>();
    for (const r of ranks) {
      if (!Number.isInteger(r) || r < 0 || r >= n) throw new CommUsageError(`newGroup: rank ${r} is not in [0, ${n})`);
      if (seen.has(r)) throw new CommUsageError(`newGroup: rank ${r} appears twice in [${ranks.join(', ')}]`);
      seen.add(r);
    }
    if (!seen.has(this.globalRank))
      throw new CommUsageError(
        `newGroup: rank ${this.globalRank} is not a member of [${ranks.join(', ')}]; only members open a group`,
      );
    if (opts.name !== undefined && (typeof opts.name !== 'string' || opts.name.length === 0 || opts.name === 'world')) {
      throw new CommUsageError(
        `newGroup: name must be a non-empty string other than 'world', got ${JSON.stringify(opts.name)}`,
      );
    }
    return new Communicator(this.core.state, [...ranks], opts.name ?? `[${ranks.join(',')}]`, opts.name !== undefined);
  }

  /**
   * Records a span of this rank's communication work done outside a collective (the GPU
   * staging copies), with the same rank/group fields as the collectives' spans.
   */
  recordSpan(span: Omit<CommSpan, 'rank' | 'groupSize' | 'link'>): void {
    this.core.state.onSpan?.({ ...span, rank: this.globalRank, groupSize: this.worldSize, link: this.core.linkName() });
  }

  /**
   * A buffer in this rank's registered arena (createWorld's maxBytes per rank): peers can
   * read it directly, so all-reduces on such buffers over link 'none' take the zero-copy
   * two-shot path. Register on every rank or on none (the ranks must pick one algorithm).
   */
  allocShared(dtype: Dtype, count: number): TypedData {
    const st = this.core.state;
    const init = this.init;
    const bytes = alignUp(count * dtypeBytes(dtype), 64);
    if (!Number.isInteger(count) || count < 0)
      throw new CommUsageError(`allocShared: count must be a non-negative integer, got ${count}`);
    if (st.arenaUsed + bytes > init.arenaBytes) {
      throw new CommUsageError(
        `allocShared: ${bytes} bytes do not fit in rank ${this.globalRank}'s arena (${init.arenaBytes - st.arenaUsed} of ${init.arenaBytes} bytes free); raise maxBytes in createWorld`,
      );
    }
    const off = init.arenaOffsets[this.globalRank] + st.arenaUsed;
    st.arenaUsed += bytes;
    return viewOf(dtype, init.memory.buffer, off, count);
  }

  /** Releases every buffer allocShared() returned on this rank (they must no longer be used). */
  freeAllShared(): void {
    this.core.state.arenaUsed = 0;
  }

  /** Stops the whole world (every rank's waits throw CommAbortedError naming this rank). */
  abort(reason: string): void {
    abortWorld(this.init, reason, this.globalRank);
  }

  /** In-place all-reduce of `data` over the group. */
  allReduce(data: TypedData, opts: CollectiveOptions = {}): CommHandle {
    const c = this.core;
    const dtype = c.checkDtype('allReduce', data, opts.dtype);
    const reduceOp = c.checkReduceOp('allReduce', opts.op);
    const algorithm = c.pickAlgorithm('allReduce', opts.algorithm, data.byteLength, c.isRegistered(data));
    const divisor = reduceOp === 'avg' ? this.worldSize : 0;
    return c.submit({
      ...(opts.label !== undefined ? { label: opts.label } : {}),
      op: 'allReduce',
      dtype,
      count: data.length,
      reduceOp,
      root: -1,
      bytes: data.byteLength,
      algorithm,
      run: async (r) => {
        if (r.peers.length === 1) return divisor ? divideInPlace(dtype, data, divisor) : undefined;
        if (algorithm === 'two-shot') {
          const args = {
            st: r.st,
            ctx: r.ctx,
            peers: r.peers,
            me: r.me,
            groupKey: r.groupKey,
            groupName: r.groupName,
            seq: r.seq,
          };
          return twoShotAllReduce({ ...args, data, dtype, reduceOp, divisor, chunkElems: r.chunkElems });
        }
        if (algorithm === 'ring')
          await r.exec(ringAllReduceSteps(r.b, r.peers, r.me, data, r.chunkElems, r.fifos, divisor));
        else await r.exec(recursiveDoublingSteps(r.b, r.peers, r.me, data, r.chunkElems, r.fifos, divisor));
      },
    });
  }

  /**
   * Reduce-scatter: `output` = this rank's segment of the reduction of every rank's `input`.
   * Segments: `counts` (default: balanced, the first input.length % n ranks one element more).
   */
  reduceScatter(input: TypedData, output: TypedData, opts: CollectiveOptions & { counts?: number[] } = {}): CommHandle {
    const c = this.core;
    const dtype = c.checkDtype('reduceScatter', input, opts.dtype);
    c.checkDtype('reduceScatter', output, dtype);
    const reduceOp = c.checkReduceOp('reduceScatter', opts.op);
    const counts = c.checkCounts(
      'reduceScatter',
      opts.counts ?? balancedCounts(input.length, this.worldSize),
      input.length,
      output.length,
      'output',
    );
    const algorithm = c.pickAlgorithm('reduceScatter', opts.algorithm, input.byteLength);
    const divisor = reduceOp === 'avg' ? this.worldSize : 0;
    return c.submit({
      ...(opts.label !== undefined ? { label: opts.label } : {}),
      op: 'reduceScatter',
      dtype,
      count: input.length,
      reduceOp,
      root: -1,
      bytes: input.byteLength,
      algorithm,
      run: async (r) => {
        if (r.peers.length === 1) {
          output.set(input as never);
          return divisor ? divideInPlace(dtype, output, divisor) : undefined;
        }
        await r.exec(ringReduceScatterSteps(r.b, r.peers, r.me, input, output, counts, r.chunkElems, r.fifos, divisor));
      },
    });
  }

  /** All-gather: `output` = every rank's `input`, in rank order (segment sizes `counts`). */
  allGather(input: TypedData, output: TypedData, opts: CollectiveOptions & { counts?: number[] } = {}): CommHandle {
    const c = this.core;
    const dtype = c.checkDtype('allGather', output, opts.dtype);
    c.checkDtype('allGather', input, dtype);
    const counts = c.checkCounts(
      'allGather',
      opts.counts ?? balancedCounts(output.length, this.worldSize),
      output.length,
      input.length,
      'input',
    );
    const algorithm = c.pickAlgorithm('allGather', opts.algorithm, output.byteLength);
    return c.submit({
      ...(opts.label !== undefined ? { label: opts.label } : {}),
      op: 'allGather',
      dtype,
      count: output.length,
      reduceOp: 'sum',
      root: -1,
      bytes: output.byteLength,
      algorithm,
      run: async (r) => {
        if (r.peers.length === 1) return void output.set(input as never);
        await r.exec(ringAllGatherSteps(r.b, r.peers, r.me, input, output, counts, r.chunkElems, r.fifos));
      },
    });
  }

  /** Broadcast `data` from group rank `root` (default 0) to every member, in place. */
  broadcast(data: TypedData, opts: CollectiveOptions & { root?: number } = {}): CommHandle {
    const c = this.core;
    const dtype = c.checkDtype('broadcast', data, opts.dtype);
    const root = c.checkRoot('broadcast', opts.root);
    const algorithm = c.pickAlgorithm('broadcast', opts.algorithm, data.byteLength);
    return c.submit({
      ...(opts.label !== undefined ? { label: opts.label } : {}),
      op: 'broadcast',
      dtype,
      count: data.length,
      reduceOp: 'sum',
      root,
      bytes: data.byteLength,
      algorithm,
      run: async (r) => {
        if (r.peers.length === 1) return;
        const build = algorithm === 'tree' ? treeBroadcastSteps : chainBroadcastSteps;
        await r.exec(build(r.b, r.peers, r.me, root, data, r.chunkElems, r.fifos));
      },
    });
  }

  /** Reduce to group rank `root` (default 0): the root's `data` gets the result, others' stays. */
  reduce(data: TypedData, opts: CollectiveOptions & { root?: number } = {}): CommHandle {
    const c = this.core;
    const dtype = c.checkDtype('reduce', data, opts.dtype);
    const reduceOp = c.checkReduceOp('reduce', opts.op);
    const root = c.checkRoot('reduce', opts.root);
    const algorithm = c.pickAlgorithm('reduce', opts.algorithm, data.byteLength);
    const divisor = reduceOp === 'avg' ? this.worldSize : 0;
    return c.submit({
      ...(opts.label !== undefined ? { label: opts.label } : {}),
      op: 'reduce',
      dtype,
      count: data.length,
      reduceOp,
      root,
      bytes: data.byteLength,
      algorithm,
      run: async (r) => {
        if (r.peers.length === 1) return divisor ? divideInPlace(dtype, data, divisor) : undefined;
        if (algorithm === 'tree') {
          await r.exec(treeReduceSteps(r.b, r.peers, r.me, root, data, r.chunkElems, r.fifos));
          if (divisor && r.me === root) divideInPlace(dtype, data, divisor);
        } else await r.exec(chainReduceSteps(r.b, r.peers, r.me, root, data, r.chunkElems, r.fifos, divisor));
      },
    });
  }

  /**
   * All-to-all: block k of `input` (sendCounts[k] elements) goes to group rank k; block k of
   * `output` (recvCounts[k]) comes from rank k. Without counts, splits are equal and both
   * arrays must divide by the group size.
   */
  allToAll(
    input: TypedData,
    output: TypedData,
    opts: CollectiveOptions & { sendCounts?: number[]; recvCounts?: number[] } = {},
  ): CommHandle {
    const c = this.core;
    const n = this.worldSize;
    const dtype = c.checkDtype('allToAll', input, opts.dtype);
    c.checkDtype('allToAll', output, dtype);
    const equal = (len: number, what: string) => {
      if (len % n !== 0)
        throw new CommUsageError(
          `allToAll: ${what} has ${len} elements, not divisible by the group size ${n}; pass ${what === 'input' ? 'sendCounts' : 'recvCounts'}`,
        );
      return new Array(n).fill(len / n);
    };
    const sendCounts = c.checkSplit(
      'allToAll',
      opts.sendCounts ?? equal(input.length, 'input'),
      input.length,
      'sendCounts',
    );
    const recvCounts = c.checkSplit(
      'allToAll',
      opts.recvCounts ?? equal(output.length, 'output'),
      output.length,
      'recvCounts',
    );
    const algorithm = c.pickAlgorithm('allToAll', opts.algorithm, input.byteLength);
    return c.submit({
      op: 'allToAll',
      dtype,
      count: input.length,
      reduceOp: 'sum',
      root: -1,
      bytes: input.byteLength,
      algorithm,
      ...(opts.label !== undefined ? { label: opts.label } : {}),
      run: async (r) =>
        r.exec(directAllToAllSteps(r.b, r.peers, r.me, input, output, sendCounts, recvCounts, r.chunkElems, r.fifos)),
    });
  }

  /** Sends `data` to group rank `peer`; matched by that rank's recv() in issue order. */
  send(data: TypedData, peer: number, opts: { dtype?: Dtype; label?: string } = {}): CommHandle {
    const c = this.core;
    const dtype = c.checkDtype('send', data, opts.dtype);
    const p = c.checkPeer('send', peer);
    return c.submit({
      op: 'send',
      dtype,
      count: data.length,
      reduceOp: 'sum',
      root: -1,
      bytes: data.byteLength,
      algorithm: 'direct',
      p2pPeers: [p],
      p2p: { to: p },
      ...(opts.label !== undefined ? { label: opts.label } : {}),
      run: async (r) => r.exec(sendSteps(r.b, r.peers[p], data, r.chunkElems, r.fifos)),
    });
  }

  /** Receives into `data` from group rank `peer` (its length must match the send). */
  recv(data: TypedData, peer: number, opts: { dtype?: Dtype; label?: string } = {}): CommHandle {
    const c = this.core;
    const dtype = c.checkDtype('recv', data, opts.dtype);
    const p = c.checkPeer('recv', peer);
    // Tagged with op 'send' like the sender's chunks, so that both sides agree; its span says 'recv'.
    return c.submit({
      op: 'send',
      dtype,
      count: data.length,
      reduceOp: 'sum',
      root: -1,
      bytes: data.byteLength,
      algorithm: 'direct',
      p2pPeers: [p],
      p2p: { from: p },
      ...(opts.label !== undefined ? { label: opts.label } : {}),
      spanOp: 'recv',
      run: async (r) => r.exec(recvSteps(r.b, r.peers[p], data, r.chunkElems, r.fifos)),
    });
  }

  /**
   * Sends to `to` and receives from `from` at once (torch's batch_isend_irecv, NCCL's
   * grouped send/recv): a ring of these cannot deadlock, a ring of blocking sends can.
   */
  sendRecv(
    sendData: TypedData,
    to: number,
    recvData: TypedData,
    from: number,
    opts: { dtype?: Dtype; label?: string } = {},
  ): CommHandle {
    const c = this.core;
    const dtype = c.checkDtype('sendRecv', sendData, opts.dtype);
    c.checkDtype('sendRecv', recvData, dtype);
    const pt = c.checkPeer('sendRecv', to);
    const pf = c.checkPeer('sendRecv', from);
    return c.submit({
      op: 'send',
      dtype,
      count: sendData.length,
      reduceOp: 'sum',
      root: -1,
      bytes: sendData.byteLength,
      algorithm: 'direct',
      p2pPeers: [pt, pf],
      p2p: { to: pt, from: pf },
      ...(opts.label !== undefined ? { label: opts.label } : {}),
      spanOp: 'sendRecv',
      run: async (r) =>
        r.exec([
          ...sendSteps(r.b, r.peers[pt], sendData, r.chunkElems, r.fifos),
          ...recvSteps(r.b, r.peers[pf], recvData, r.chunkElems, r.fifos),
        ]),
    });
  }

  /** Waits until every member of the group has called barrier(). */
  barrier(opts: { algorithm?: string } = {}): CommHandle {
    const c = this.core;
    const empty = new Uint8Array(0);
    const algorithm = c.pickAlgorithm('barrier', opts.algorithm, 0);
    return c.submit({
      op: 'barrier',
      dtype: 'uint8',
      count: 0,
      reduceOp: 'sum',
      root: -1,
      bytes: 0,
      algorithm,
      run: async (r) => {
        if (r.peers.length === 1) return;
        if (algorithm === 'ring') await r.exec(ringAllReduceSteps(r.b, r.peers, r.me, empty, r.chunkElems, 1, 0));
        else await r.exec(recursiveDoublingSteps(r.b, r.peers, r.me, empty, r.chunkElems, 1, 0));
      },
    });
  }
}
