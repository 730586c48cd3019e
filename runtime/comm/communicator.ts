/**
 * The communicator a rank (worker thread) uses: torch.distributed-shaped calls that
 * return handles, run in issue order on a per-rank queue, and emit one CommSpan each.
 * Sub-groups share the rank's channels and queue; their collectives carry the group's
 * key and their own sequence numbers.
 */
import { hostNowNs } from '../clock';
import { T_COUNT, T_DTYPE, T_EXTRA, T_GROUP, T_OP, T_SEQ } from './channel';
import { describe, describeCall, dtypeCode, encodeExtra, groupKeyOf, OpDescriptor, opCode, OpName } from './descriptor';
import { divideInPlace, Dtype, dtypeBytes, dtypeOf, ReduceOp, REDUCE_OPS, TypedData } from './dtypes';
import { balancedCounts, ringAllGatherSteps, ringAllReduceSteps, ringReduceScatterSteps } from './ring';
import { OpContext, runSteps } from './engine';
import { Step, StepBuilder } from './steps';
import { CommAbortedError, CommMismatchError, CommTimeoutError, CommUsageError } from './errors';
import { CommHandle, PendingOp, settledHandle } from './handle';
import { RankState } from './rankState';
import { algBandwidthGBps, busBandwidthFactor, CommSpan } from './spans';
import { B_COUNT, B_DTYPE, B_EXTRA, B_GROUP, B_OP, B_SEQ, B_STATE, abortWorld, throwIfAborted, WorldInit } from './world';

export interface CollectiveOptions {
  op?: ReduceOp;
  /** Force an algorithm ('ring', ...); default: chosen by the tuner. */
  algorithm?: string;
  /** Element type; must match the array (Uint16Array carries f16 bits). */
  dtype?: Dtype;
}

export interface CommunicatorOptions {
  /** Block the thread in Atomics.wait instead of Atomics.waitAsync (pure-communication threads). */
  blocking?: boolean;
}

/** What a collective implementation receives. */
export interface OpRun {
  b: StepBuilder;
  /** Global ranks of the group, in ring order. */
  peers: readonly number[];
  /** This rank's index in peers. */
  me: number;
  chunkElems: number;
  fifos: number;
  /** Runs step lists to completion (may be called more than once, e.g. for phases). */
  exec(lists: Step[][]): Promise<void>;
  ctx: OpContext;
}

interface OpSpec {
  op: OpName;
  dtype: Dtype;
  count: number;
  reduceOp: ReduceOp;
  root: number;
  /** S of nccl-tests for algbw. */
  bytes: number;
  algorithm: string;
  run: (r: OpRun) => Promise<void>;
}

export class Communicator {
  /** Rank within this communicator's group. */
  readonly rank: number;
  /** Number of ranks in this communicator's group. */
  readonly worldSize: number;
  readonly globalRank: number;
  readonly groupKey: number;
  private seq = 0;

  /** Opens the communicator of `rank` (in its worker thread) on a world made by createWorld(). */
  static fromInit(init: WorldInit, rank: number, onSpan?: (s: CommSpan) => void, opts: CommunicatorOptions = {}): Communicator {
    const state = new RankState(init, rank, onSpan, opts.blocking ?? false);
    return new Communicator(state, Array.from({ length: init.worldSize }, (_, i) => i), 'world');
  }

  private constructor(
    private readonly state: RankState,
    /** Global ranks of the group. */
    readonly ranks: readonly number[],
    readonly groupName: string,
  ) {
    this.globalRank = state.rank;
    this.rank = ranks.indexOf(state.rank);
    this.worldSize = ranks.length;
    this.groupKey = groupKeyOf(ranks);
    state.groupNames.set(this.groupKey, groupName);
  }

  get init(): WorldInit {
    return this.state.init;
  }

  /**
   * A communicator over `ranks` (global ranks, in the order used for rings). Every member
   * must call it with the same list, and members must issue a group's collectives in the
   * same order.
   */
  newGroup(ranks: number[]): Communicator {
    const n = this.state.init.worldSize;
    if (!Array.isArray(ranks) || ranks.length === 0) throw new CommUsageError('newGroup needs a non-empty list of ranks');
    const seen = new Set<number>();
    for (const r of ranks) {
      if (!Number.isInteger(r) || r < 0 || r >= n) throw new CommUsageError(`newGroup: rank ${r} is not in [0, ${n})`);
      if (seen.has(r)) throw new CommUsageError(`newGroup: rank ${r} appears twice in [${ranks.join(', ')}]`);
      seen.add(r);
    }
    if (!seen.has(this.state.rank)) throw new CommUsageError(`newGroup: rank ${this.state.rank} is not a member of [${ranks.join(', ')}]; only members open a group`);
    return new Communicator(this.state, [...ranks], `[${ranks.join(',')}]`);
  }

  /** Stops the whole world (every rank's waits throw CommAbortedError naming this rank). */
  abort(reason: string): void {
    abortWorld(this.state.init, reason, this.state.rank);
  }

  /** In-place all-reduce of `data` over the group. */
  allReduce(data: TypedData, opts: CollectiveOptions = {}): CommHandle {
    const dtype = this.checkDtype('allReduce', data, opts.dtype);
    const reduceOp = this.checkReduceOp('allReduce', opts.op);
    const algorithm = this.pickAlgorithm('allReduce', opts.algorithm, data.byteLength);
    const divisor = reduceOp === 'avg' ? this.worldSize : 0;
    return this.submit({
      op: 'allReduce', dtype, count: data.length, reduceOp, root: -1, bytes: data.byteLength, algorithm,
      run: async (r) => {
        if (r.peers.length === 1) {
          if (divisor) divideInPlace(dtype, data, divisor);
          return;
        }
        await r.exec(ringAllReduceSteps(r.b, r.peers, r.me, data, r.chunkElems, r.fifos, divisor));
      },
    });
  }

  /**
   * Reduce-scatter: `output` = this rank's segment of the reduction of every rank's `input`.
   * Segments: `counts` (default: balanced, the first input.length % n ranks one element more).
   */
  reduceScatter(input: TypedData, output: TypedData, opts: CollectiveOptions & { counts?: number[] } = {}): CommHandle {
    const dtype = this.checkDtype('reduceScatter', input, opts.dtype);
    this.checkDtype('reduceScatter', output, dtype);
    const reduceOp = this.checkReduceOp('reduceScatter', opts.op);
    const counts = this.checkCounts('reduceScatter', opts.counts ?? balancedCounts(input.length, this.worldSize), input.length, output.length, 'output');
    const algorithm = this.pickAlgorithm('reduceScatter', opts.algorithm, input.byteLength);
    const divisor = reduceOp === 'avg' ? this.worldSize : 0;
    return this.submit({
      op: 'reduceScatter', dtype, count: input.length, reduceOp, root: -1, bytes: input.byteLength, algorithm,
      run: async (r) => {
        if (r.peers.length === 1) {
          output.set(input as never);
          if (divisor) divideInPlace(dtype, output, divisor);
          return;
        }
        await r.exec(ringReduceScatterSteps(r.b, r.peers, r.me, input, output, counts, r.chunkElems, r.fifos, divisor));
      },
    });
  }

  /** All-gather: `output` = every rank's `input`, in rank order (segment sizes `counts`). */
  allGather(input: TypedData, output: TypedData, opts: CollectiveOptions & { counts?: number[] } = {}): CommHandle {
    const dtype = this.checkDtype('allGather', output, opts.dtype);
    this.checkDtype('allGather', input, dtype);
    const counts = this.checkCounts('allGather', opts.counts ?? balancedCounts(output.length, this.worldSize), output.length, input.length, 'input');
    const algorithm = this.pickAlgorithm('allGather', opts.algorithm, output.byteLength);
    return this.submit({
      op: 'allGather', dtype, count: output.length, reduceOp: 'sum', root: -1, bytes: output.byteLength, algorithm,
      run: async (r) => {
        if (r.peers.length === 1) {
          output.set(input as never);
          return;
        }
        await r.exec(ringAllGatherSteps(r.b, r.peers, r.me, input, output, counts, r.chunkElems, r.fifos));
      },
    });
  }

  /** Waits until every member of the group has called barrier(). */
  barrier(): CommHandle {
    const empty = new Uint8Array(0);
    return this.submit({
      op: 'barrier', dtype: 'uint8', count: 0, reduceOp: 'sum', root: -1, bytes: 0, algorithm: 'ring',
      run: async (r) => {
        if (r.peers.length > 1) await r.exec(ringAllReduceSteps(r.b, r.peers, r.me, empty, r.chunkElems, 1, 0));
      },
    });
  }

  // ---- plumbing ---------------------------------------------------------------------

  /** @internal used by the collective modules */
  checkDtype(op: string, data: TypedData, dtype?: Dtype): Dtype {
    const natural = dtypeOf(data);
    if (dtype === undefined || dtype === natural) return natural;
    throw new CommUsageError(`${op}: dtype '${dtype}' does not match the payload (${data.constructor.name} carries '${natural}')`);
  }

  /** @internal Validates per-rank segment counts against the whole array and this rank's part. */
  checkCounts(op: string, counts: number[], total: number, mine: number, mineName: string): number[] {
    if (counts.length !== this.worldSize || counts.some((c) => !Number.isInteger(c) || c < 0)) {
      throw new CommUsageError(`${op}: counts must be ${this.worldSize} non-negative integers, got [${counts.join(', ')}]`);
    }
    const sum = counts.reduce((a, b) => a + b, 0);
    if (sum !== total) throw new CommUsageError(`${op}: counts sum to ${sum} but the whole array has ${total} elements`);
    if (counts[this.rank] !== mine) throw new CommUsageError(`${op}: rank ${this.rank}'s ${mineName} has ${mine} elements, expected ${counts[this.rank]}`);
    return counts;
  }

  /** @internal */
  checkReduceOp(op: string, reduceOp: ReduceOp | undefined): ReduceOp {
    const r = reduceOp ?? 'sum';
    if (!REDUCE_OPS.includes(r)) throw new CommUsageError(`${op}: reduce op '${r}' is not one of ${REDUCE_OPS.join(', ')}`);
    return r;
  }

  /** @internal */
  pickAlgorithm(op: string, forced: string | undefined, _bytes: number): string {
    if (forced === undefined || forced === 'ring') return 'ring';
    throw new CommUsageError(`${op}: unknown algorithm '${forced}'; valid: ring`);
  }

  /** @internal Queues a collective behind the rank's earlier ones. */
  submit(spec: OpSpec): CommHandle {
    const state = this.state;
    if (state.broken) return settledHandle(state.broken);
    const seq = this.seq++;
    const desc: OpDescriptor = { groupKey: this.groupKey, groupName: this.groupName, seq, op: spec.op, dtype: spec.dtype, count: spec.count, reduceOp: spec.reduceOp, root: spec.root };
    state.opStarted();
    const promise = state.tail.then(() => this.execute(spec, desc)).finally(() => state.opEnded());
    state.tail = promise.catch(() => undefined);
    return new PendingOp(promise, (t0) => this.emitWait(spec, desc, t0));
  }

  private async execute(spec: OpSpec, desc: OpDescriptor): Promise<void> {
    const state = this.state;
    if (state.broken) throw state.broken;
    const board = state.boardOf(state.rank);
    const extra = encodeExtra(desc);
    const tag = [this.groupKey, desc.seq, opCode(desc.op), dtypeCode(desc.dtype), desc.count, extra];
    Atomics.store(board, B_STATE, 0);
    Atomics.store(board, B_GROUP, tag[T_GROUP]);
    Atomics.store(board, B_SEQ, tag[T_SEQ]);
    Atomics.store(board, B_OP, tag[T_OP]);
    Atomics.store(board, B_DTYPE, tag[T_DTYPE]);
    Atomics.store(board, B_COUNT, tag[T_COUNT]);
    Atomics.store(board, B_EXTRA, tag[T_EXTRA]);
    Atomics.store(board, B_STATE, 1);
    const ctx: OpContext = {
      init: state.init,
      rank: state.rank,
      dtype: spec.dtype,
      blocking: state.blocking,
      tag,
      waitNs: 0,
      blockedNs: 0,
      peerArrived: (peer) => this.peerArrived(peer, desc.seq),
      timeoutError: (peer, what) => this.timeoutError(desc, peer, what),
      mismatchError: (peer, theirs) => new CommMismatchError(state.rank, peer, describe(desc), this.describeTag(theirs)),
    };
    const b = new StepBuilder(spec.dtype, spec.reduceOp);
    const chunkElems = Math.max(1, Math.floor(state.init.chunkBytes / dtypeBytes(spec.dtype)));
    const startNs = hostNowNs();
    try {
      throwIfAborted(state.init, state.rank);
      await spec.run({ b, peers: this.ranks, me: this.rank, chunkElems, fifos: state.init.fifos, ctx, exec: (lists) => runSteps(ctx, state, lists) });
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      state.broken = err;
      // Wake everyone else: a rank that gave up must not leave its peers blocked.
      if (!(err instanceof CommAbortedError)) abortWorld(state.init, `rank ${state.rank}: ${err.message}`, state.rank);
      throw err;
    } finally {
      Atomics.store(board, B_STATE, 2);
    }
    const endNs = hostNowNs();
    this.emit(spec, desc, 'collective', spec.op, startNs, endNs, ctx.waitNs);
  }

  private emit(spec: OpSpec, desc: OpDescriptor, kind: CommSpan['kind'], name: string, startNs: number, endNs: number, waitNs: number): void {
    const onSpan = this.state.onSpan;
    if (!onSpan) return;
    const dur = endNs - startNs;
    const algbw = kind === 'collective' ? algBandwidthGBps(spec.bytes, dur) : 0;
    onSpan({
      op: spec.op, algorithm: spec.algorithm, group: this.groupName, seq: desc.seq, bytes: spec.bytes, dtype: spec.dtype,
      startNs, endNs, waitNs: Math.min(waitNs, dur), transferNs: Math.max(0, dur - waitNs),
      algbwGBps: algbw, busbwGBps: algbw * busBandwidthFactor(spec.op, this.worldSize),
      kind, name, rank: this.state.rank, groupSize: this.worldSize, link: this.linkName(),
    });
  }

  private emitWait(spec: OpSpec, desc: OpDescriptor, t0: number): void {
    const t1 = hostNowNs();
    this.emit(spec, desc, 'wait', `wait ${spec.op}`, t0, t1, t1 - t0);
  }

  private linkName(): string {
    const init = this.state.init;
    const names = new Set<string>();
    for (const a of this.ranks) for (const b of this.ranks) if (a !== b) names.add(init.links[a * init.worldSize + b].name);
    return names.size === 0 ? 'none' : names.size === 1 ? [...names][0] : [...names].join('+');
  }

  private peerArrived(peer: number, seq: number): boolean {
    const b = this.state.boardOf(peer);
    return Atomics.load(b, B_STATE) >= 1 && Atomics.load(b, B_GROUP) === this.groupKey && Atomics.load(b, B_SEQ) - seq >= 0;
  }

  private describeTag(tag: number[]): string {
    const name = this.state.groupNames.get(tag[T_GROUP]) ?? `#${(tag[T_GROUP] >>> 0).toString(16)}`;
    return describeCall(tag[T_OP], tag[T_SEQ], name, tag[T_DTYPE], tag[T_COUNT], tag[T_EXTRA]);
  }

  private timeoutError(desc: OpDescriptor, peer: number, what: string): CommTimeoutError {
    const missing: number[] = [];
    const notes: string[] = [];
    for (const r of this.ranks) {
      if (r === this.state.rank || this.peerArrived(r, desc.seq)) continue;
      missing.push(r);
      const b = this.state.boardOf(r);
      const st = Atomics.load(b, B_STATE);
      const doing = st === 0 ? 'has not started a collective' : `${st === 1 ? 'is in' : 'last finished'} ${this.describeTag([b[B_GROUP], b[B_SEQ], b[B_OP], b[B_DTYPE], b[B_COUNT], b[B_EXTRA]])}`;
      notes.push(`rank ${r} ${doing}`);
    }
    const ms = this.state.init.timeoutMs;
    const who = missing.length ? `ranks that did not arrive: ${missing.join(', ')} (${notes.join('; ')})` : `every rank arrived; stuck waiting for ${what}`;
    return new CommTimeoutError(this.state.rank, missing, `rank ${this.state.rank} timed out after ${ms} ms in ${describe(desc)} waiting for ${what} (peer ${peer}); ${who}`);
  }
}
