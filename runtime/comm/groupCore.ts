/**
 * The machinery behind a communicator's calls: argument checks, the per-rank issue-order
 * queue, the board entry that tells peers what this rank is doing, running the step
 * lists, the span, and the errors that name who did what (mismatch, timeout, abort).
 */
import { hostNowNs } from '../clock';
import { T_COUNT, T_DTYPE, T_EXTRA, T_GROUP, T_OP, T_SEQ } from './channel';
import { describe, describeCall, dtypeCode, encodeExtra, groupKeyOf, OpDescriptor, opCode, OpName } from './descriptor';
import { Dtype, dtypeBytes, dtypeOf, ReduceOp, REDUCE_OPS, TypedData } from './dtypes';
import { noteReturn, OpContext, runSteps } from './engine';
import { CommAbortedError, CommMismatchError, CommTimeoutError, CommUsageError } from './errors';
import { CommHandle, PendingOp, settledHandle } from './handle';
import { RankState } from './rankState';
import { CommSpan } from './spans';
import { collectiveBandwidth } from '../../trace/collectives';
import { Step, StepBuilder } from './steps';
import { ALGORITHMS, chooseAlgorithm, groupLink, GroupLink } from './tuner';
import {
  B_ALGO,
  B_COUNT,
  B_DTYPE,
  B_EXTRA,
  B_GROUP,
  B_OP,
  B_PUB_SEQ,
  B_SEQ,
  B_STATE,
  abortWorld,
  throwIfAborted,
} from './world';
import { ALGO_CODES } from './twoShot';

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
  st: RankState;
  seq: number;
  groupKey: number;
  groupName: string;
}

export interface OpSpec {
  op: OpName;
  dtype: Dtype;
  count: number;
  reduceOp: ReduceOp;
  root: number;
  /** S of nccl-tests for algbw. */
  bytes: number;
  algorithm: string;
  /**
   * Point-to-point: the peers (group ranks). Such ops are numbered per pair (for spans),
   * stay out of the group's sequence, and are matched by FIFO order alone.
   */
  p2pPeers?: number[];
  /** Point-to-point direction (group ranks): what the span records as sendTo / recvFrom. */
  p2p?: { to?: number; from?: number };
  /** The span's op when it differs from the tag's (recv is tagged 'send' so both sides agree). */
  spanOp?: string;
  /** The caller's name for it (CollectiveOptions.label), onto its spans. */
  label?: string;
  /** Set by submit() from `p2p`: the span's global peers and pair numbers. */
  p2pSpan?: Pick<CommSpan, 'sendTo' | 'sendSeq' | 'recvFrom' | 'recvSeq'>;
  run: (r: OpRun) => Promise<void>;
}

export class GroupCore {
  /** Rank within the group. */
  readonly me: number;
  readonly size: number;
  readonly groupKey: number;
  readonly link: GroupLink;
  private seq = 0;
  private readonly p2pSeq: number[];
  /** Sends to / receives from each group rank so far (the numbers that pair a send with its recv). */
  private readonly sendSeq: number[];
  private readonly recvSeq: number[];

  constructor(
    readonly state: RankState,
    /** Global ranks of the group. */
    readonly ranks: readonly number[],
    readonly groupName: string,
    /** A named group (a process group of a parallel layout): its collectives go on a trace track of their own. */
    readonly named = false,
  ) {
    this.me = ranks.indexOf(state.rank);
    this.size = ranks.length;
    this.groupKey = named ? groupKeyOf(ranks, groupName) : groupKeyOf(ranks);
    this.p2pSeq = new Array(ranks.length).fill(0);
    this.sendSeq = new Array(ranks.length).fill(0);
    this.recvSeq = new Array(ranks.length).fill(0);
    state.groupNames.set(this.groupKey, groupName);
    const init = state.init;
    const pairs = [];
    for (const a of ranks) for (const b of ranks) if (a !== b) pairs.push(init.links[a * init.worldSize + b]);
    this.link = groupLink(pairs);
  }

  checkDtype(op: string, data: TypedData, dtype?: Dtype): Dtype {
    const natural = dtypeOf(data);
    if (dtype === undefined || dtype === natural) return natural;
    throw new CommUsageError(
      `${op}: dtype '${dtype}' does not match the payload (${data.constructor.name} carries '${natural}')`,
    );
  }

  checkRoot(op: string, root: number | undefined): number {
    const r = root ?? 0;
    if (!Number.isInteger(r) || r < 0 || r >= this.size)
      throw new CommUsageError(`${op}: root must be a group rank in [0, ${this.size}), got ${root}`);
    return r;
  }

  checkPeer(op: string, peer: number): number {
    if (!Number.isInteger(peer) || peer < 0 || peer >= this.size || peer === this.me) {
      throw new CommUsageError(
        `${op}: peer must be another group rank in [0, ${this.size}), got ${peer} (this rank is ${this.me})`,
      );
    }
    return peer;
  }

  /** Validates an all-to-all split: n non-negative counts summing to the array length. */
  checkSplit(op: string, counts: number[], total: number, what: string): number[] {
    if (counts.length !== this.size || counts.some((c) => !Number.isInteger(c) || c < 0)) {
      throw new CommUsageError(`${op}: ${what} must be ${this.size} non-negative integers, got [${counts.join(', ')}]`);
    }
    const sum = counts.reduce((a, b) => a + b, 0);
    if (sum !== total) throw new CommUsageError(`${op}: ${what} sum to ${sum} but the array has ${total} elements`);
    return counts;
  }

  /** True when the group's links are not emulated (raw shared memory). */
  get unpaced(): boolean {
    return this.link.alphaNs === 0 && !Number.isFinite(this.link.bytesPerNs);
  }

  /** True when `data` lies in this rank's arena (allocated with allocShared). */
  isRegistered(data: TypedData): boolean {
    const init = this.state.init;
    const base = init.arenaOffsets[this.state.rank];
    return (
      data.buffer === init.memory.buffer &&
      data.byteOffset >= base &&
      data.byteOffset + data.byteLength <= base + init.arenaBytes
    );
  }

  /**
   * The forced algorithm if valid, else the tuner's choice. `registered`: the buffer is in
   * this rank's arena, which makes the two-shot path possible on unpaced groups.
   */
  pickAlgorithm(op: string, forced: string | undefined, bytes: number, registered = false): string {
    const valid = ALGORITHMS[op] ?? [];
    const twoShotOk = registered && this.unpaced;
    forced ??= this.state.init.algorithms[op];
    if (forced !== undefined) {
      if (!valid.includes(forced))
        throw new CommUsageError(`${op}: unknown algorithm '${forced}'; valid: ${valid.join(', ')}`);
      if (forced === 'two-shot' && !twoShotOk) {
        throw new CommUsageError(
          `${op}: 'two-shot' needs a buffer from allocShared() and a group on link 'none' (it reads peers' buffers directly, so links cannot be paced)`,
        );
      }
      return forced;
    }
    return chooseAlgorithm(op, this.size, bytes, this.link, this.state.init.chunkBytes, twoShotOk ? [] : ['two-shot']);
  }

  /** Validates per-rank segment counts against the whole array and this rank's part. */
  checkCounts(op: string, counts: number[], total: number, mine: number, mineName: string): number[] {
    if (counts.length !== this.size || counts.some((c) => !Number.isInteger(c) || c < 0)) {
      throw new CommUsageError(`${op}: counts must be ${this.size} non-negative integers, got [${counts.join(', ')}]`);
    }
    const sum = counts.reduce((a, b) => a + b, 0);
    if (sum !== total)
      throw new CommUsageError(`${op}: counts sum to ${sum} but the whole array has ${total} elements`);
    if (counts[this.me] !== mine)
      throw new CommUsageError(
        `${op}: rank ${this.me}'s ${mineName} has ${mine} elements, expected ${counts[this.me]}`,
      );
    return counts;
  }

  /** */
  checkReduceOp(op: string, reduceOp: ReduceOp | undefined): ReduceOp {
    const r = reduceOp ?? 'sum';
    if (!REDUCE_OPS.includes(r))
      throw new CommUsageError(`${op}: reduce op '${r}' is not one of ${REDUCE_OPS.join(', ')}`);
    return r;
  }

  /** Queues a collective behind the rank's earlier ones. */
  submit(spec: OpSpec): CommHandle {
    const state = this.state;
    if (state.broken) return settledHandle(state.broken);
    const seq = spec.p2pPeers === undefined ? this.seq++ : this.p2pSeq[spec.p2pPeers[0]]++;
    if (spec.p2p) {
      // Numbered at issue, as the FIFOs match them: the k-th send to a peer is its k-th recv from us.
      const { to, from } = spec.p2p;
      spec = {
        ...spec,
        p2pSpan: {
          ...(to !== undefined ? { sendTo: this.ranks[to], sendSeq: this.sendSeq[to]++ } : {}),
          ...(from !== undefined ? { recvFrom: this.ranks[from], recvSeq: this.recvSeq[from]++ } : {}),
        },
      };
    }
    const desc: OpDescriptor = {
      groupKey: this.groupKey,
      groupName: this.groupName,
      seq,
      op: spec.op,
      dtype: spec.dtype,
      count: spec.count,
      reduceOp: spec.reduceOp,
      root: spec.root,
    };
    state.opStarted();
    const issuedNs = hostNowNs();
    const run = { exitNs: 0, waitNs: 0, transferNs: 0 };
    const promise = state.tail.then(() => this.execute(spec, desc, issuedNs, run)).finally(() => state.opEnded());
    state.tail = promise.catch(() => undefined);
    return new PendingOp(
      promise,
      (t0) => {
        state.blockedMeter?.end();
        // The caller resumes right after this: what it took since runSteps ended is the
        // return latency emulated collectives wake early by.
        if (run.exitNs > 0) noteReturn(run.exitNs);
        this.emitWait(spec, desc, t0, run);
      },
      () => state.blockedMeter?.begin(),
    );
  }

  private async execute(
    spec: OpSpec,
    desc: OpDescriptor,
    issuedNs: number,
    run: { exitNs: number; waitNs: number; transferNs: number },
  ): Promise<void> {
    const state = this.state;
    if (state.broken) throw state.broken;
    const board = state.boardOf(state.rank);
    const extra = encodeExtra(desc);
    const tag = [
      this.groupKey,
      spec.p2pPeers ? -1 : desc.seq,
      opCode(desc.op),
      dtypeCode(desc.dtype),
      desc.count,
      extra,
    ];
    Atomics.store(board, B_STATE, 0);
    Atomics.store(board, B_PUB_SEQ, -1);
    Atomics.store(board, B_ALGO, ALGO_CODES[spec.algorithm] ?? 0);
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
      // On an emulated link the collective starts when it was issued, or when the rank's
      // previous one ended on the emulated timeline: this library's own set-up time then
      // overlaps the emulated wire, as a GPU's launch overlaps the previous kernel.
      emuStartNs: Math.max(issuedNs, state.emuFreeNs),
      emuBeganNs: 0,
      exitNs: 0,
      peerArrived: (peer) => this.peerArrived(peer, desc.seq),
      timeoutError: (peer, what) => this.timeoutError(spec, desc, peer, what),
      mismatchError: (peer, theirs) =>
        new CommMismatchError(state.rank, peer, describe(desc), this.describeTag(theirs)),
    };
    const b = new StepBuilder(spec.dtype, spec.reduceOp, state.reducer);
    const chunkElems = Math.max(1, Math.floor(state.init.chunkBytes / dtypeBytes(spec.dtype)));
    const startNs = hostNowNs();
    try {
      throwIfAborted(state.init, state.rank);
      await spec.run({
        b,
        peers: this.ranks,
        me: this.me,
        chunkElems,
        fifos: state.init.fifos,
        ctx,
        exec: (lists) => runSteps(ctx, state, lists),
        st: state,
        seq: desc.seq,
        groupKey: this.groupKey,
        groupName: this.groupName,
      });
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      state.broken = err;
      // Wake everyone else: a rank that gave up must not leave its peers blocked.
      if (!(err instanceof CommAbortedError)) abortWorld(state.init, `rank ${state.rank}: ${err.message}`, state.rank);
      throw err;
    } finally {
      Atomics.store(board, B_STATE, 2);
    }
    const hostEndNs = hostNowNs();
    state.emuFreeNs = Math.max(ctx.emuStartNs, hostEndNs);
    // On an emulated link the span is the collective on the emulated timeline: from where its
    // steps started (its issue, or the end of the rank's previous collective) to its last
    // arrival, or to when this thread finished, if later. Host time alone would let a thread
    // that was descheduled before starting, or that woke early by the learned latencies,
    // show the collective shorter than the wire allows. Unpaced links have only host time.
    const emulated = !this.unpaced && ctx.emuBeganNs > 0;
    const spanStartNs = emulated ? ctx.emuBeganNs : startNs;
    const endNs = emulated ? state.emuFreeNs : hostEndNs;
    run.exitNs = ctx.exitNs;
    run.waitNs = Math.min(ctx.waitNs, endNs - spanStartNs);
    run.transferNs = Math.max(0, endNs - spanStartNs - ctx.waitNs);
    this.emit(spec, desc, 'collective', spec.spanOp ?? spec.op, spanStartNs, endNs, ctx.waitNs);
  }

  private emit(
    spec: OpSpec,
    desc: OpDescriptor,
    kind: CommSpan['kind'],
    name: string,
    startNs: number,
    endNs: number,
    waitNs: number,
    transferOverride?: number,
  ): void {
    const onSpan = this.state.onSpan;
    if (!onSpan) return;
    const dur = endNs - startNs;
    const transferNs = kind === 'collective' ? Math.max(0, dur - waitNs) : (transferOverride ?? 0);
    // Bandwidths over the transfer time, never over the wait for a peer (trace/collectives.ts).
    const bw =
      kind === 'collective'
        ? collectiveBandwidth(spec.op, spec.bytes, transferNs, this.size)
        : { algbwGBps: 0, busbwGBps: 0 };
    onSpan({
      op: spec.spanOp ?? spec.op,
      algorithm: spec.algorithm,
      group: this.groupName,
      seq: desc.seq,
      bytes: spec.bytes,
      dtype: spec.dtype,
      startNs,
      endNs,
      waitNs: Math.min(waitNs, dur),
      transferNs,
      algbwGBps: bw.algbwGBps,
      busbwGBps: bw.busbwGBps,
      kind,
      name,
      rank: this.state.rank,
      groupSize: this.size,
      link: this.linkName(),
      ...spec.p2pSpan,
      ...(spec.op === 'broadcast' || spec.op === 'reduce' ? { root: this.ranks[spec.root] } : {}),
      ...(spec.label !== undefined ? { label: spec.label } : {}),
      ...(this.named && kind === 'collective' ? { track: this.groupName } : {}),
    });
  }

  /**
   * The caller blocked on a collective that had not finished (`wait allReduce` on the host's
   * "blocked on collectives" track): its span is the blocking, and it carries the collective's
   * own wait for peers and transfer time, so the two never contradict each other.
   */
  private emitWait(spec: OpSpec, desc: OpDescriptor, t0: number, run: { waitNs: number; transferNs: number }): void {
    const t1 = hostNowNs();
    this.emit(spec, desc, 'wait', `wait ${spec.spanOp ?? spec.op}`, t0, t1, run.waitNs, run.transferNs);
  }

  private linkNameCache: string | undefined;

  linkName(): string {
    return (this.linkNameCache ??= this.describeLinks());
  }

  private describeLinks(): string {
    const init = this.state.init;
    const names = new Set<string>();
    for (const a of this.ranks)
      for (const b of this.ranks) if (a !== b) names.add(init.links[a * init.worldSize + b].name);
    return names.size === 0 ? 'none' : names.size === 1 ? [...names][0] : [...names].join('+');
  }

  private peerArrived(peer: number, seq: number): boolean {
    const b = this.state.boardOf(peer);
    return (
      Atomics.load(b, B_STATE) >= 1 && Atomics.load(b, B_GROUP) === this.groupKey && Atomics.load(b, B_SEQ) - seq >= 0
    );
  }

  private describeTag(tag: number[]): string {
    const name = this.state.groupNames.get(tag[T_GROUP]) ?? `#${(tag[T_GROUP] >>> 0).toString(16)}`;
    return describeCall(tag[T_OP], tag[T_SEQ], name, tag[T_DTYPE], tag[T_COUNT], tag[T_EXTRA]);
  }

  private timeoutError(spec: OpSpec, desc: OpDescriptor, peer: number, what: string): CommTimeoutError {
    const missing: number[] = [];
    const notes: string[] = [];
    const suspects = spec.p2pPeers === undefined ? this.ranks : spec.p2pPeers.map((p) => this.ranks[p]);
    for (const r of suspects) {
      if (r === this.state.rank || this.peerArrived(r, desc.seq)) continue;
      missing.push(r);
      const b = this.state.boardOf(r);
      const st = Atomics.load(b, B_STATE);
      const doing =
        st === 0
          ? 'has not started a collective'
          : `${st === 1 ? 'is in' : 'last finished'} ${this.describeTag([b[B_GROUP], b[B_SEQ], b[B_OP], b[B_DTYPE], b[B_COUNT], b[B_EXTRA]])}`;
      notes.push(`rank ${r} ${doing}`);
    }
    const ms = this.state.init.timeoutMs;
    const who = missing.length
      ? `ranks that did not arrive: ${missing.join(', ')} (${notes.join('; ')})`
      : `every rank arrived; stuck waiting for ${what}`;
    return new CommTimeoutError(
      this.state.rank,
      missing,
      `rank ${this.state.rank} timed out after ${ms} ms in ${describe(desc)} waiting for ${what} (peer ${peer}); ${who}`,
    );
  }
}
