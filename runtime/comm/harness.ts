/**
 * What a test/benchmark rank does (runs inside runtime/commBenchWorker.ts): issue a list
 * of collectives on deterministic payloads and return the outputs and spans, optionally
 * misbehaving (throwing mid-collective, never arriving) for the fault tests.
 */
import { Communicator } from './communicator';
import { Dtype, ReduceOp, TypedData } from './dtypes';
import { CommHandle } from './handle';
import { balancedCounts } from './ring';
import { CommSpan } from './spans';
import { makeArray, randomPayload } from './testData';
import { settledHandle } from './handle';

const settled = () => settledHandle();
import { WorldInit } from './world';

export interface CallSpec {
  op:
    'allReduce' | 'reduceScatter' | 'allGather' | 'barrier' | 'broadcast' | 'reduce' | 'allToAll' | 'sendRecv' | 'send';
  /**
   * allReduce, broadcast, reduce, sendRecv, send: elements of the payload; reduceScatter:
   * of the whole input; allGather: of the whole output; allToAll: of each rank's input
   * (equal splits) unless `splits` is given.
   */
  count: number;
  /** broadcast/reduce root (group rank). */
  root?: number;
  /** allToAll: splits[src][dst] = elements group rank src sends to dst. */
  splits?: number[][];
  dtype: Dtype;
  reduceOp?: ReduceOp;
  algorithm?: string;
  /** Global ranks of a sub-group; ranks not in it skip the call. */
  group?: number[];
  /** The sub-group's name (a named group: its spans carry `track`). */
  groupName?: string;
  /** send: the pair is (group rank `from`, group rank `to`) instead of (0,1), (2,3), ... */
  from?: number;
  to?: number;
  /** allReduce on a buffer from allocShared (registered: two-shot on link 'none'). */
  registered?: boolean;
  /**
   * The rank's thread blocks this long right after issuing the call, before the library
   * runs it (a host thread descheduled or busy elsewhere while its collective is in flight).
   */
  stallAfterIssueMs?: number;
  /** Per-rank overrides (to provoke mismatched calls). */
  perRank?: Record<number, Partial<Omit<CallSpec, 'perRank'>>>;
}

export interface CallsTask {
  kind: 'calls';
  seed: number;
  calls: CallSpec[];
  /** Issue every call before waiting for any. */
  concurrent?: boolean;
  blocking?: boolean;
  /** This rank throws `throwAfterMs` after issuing its calls (while they are in flight). */
  throwOnRank?: number;
  throwAfterMs?: number;
  /** This rank never issues its calls (a straggler that never arrives). */
  absentRank?: number;
}

export interface CallsResult {
  outputs: (TypedData | null)[];
  spans: CommSpan[];
}

export async function runCallsTask(init: WorldInit, rank: number, task: CallsTask): Promise<CallsResult> {
  const spans: CommSpan[] = [];
  const world = Communicator.fromInit(init, rank, (s) => spans.push(s), { blocking: task.blocking });
  const groups = new Map<string, Communicator>();
  const commFor = (g: number[] | undefined, name: string | undefined): Communicator | undefined => {
    if (!g) return world;
    if (!g.includes(rank)) return undefined;
    const key = `${g.join(',')}/${name ?? ''}`;
    let c = groups.get(key);
    if (!c) groups.set(key, (c = world.newGroup(g, name !== undefined ? { name } : {})));
    return c;
  };
  if (task.absentRank === rank) {
    await new Promise((r) => setTimeout(r, 3_600_000).unref());
    return { outputs: [], spans };
  }
  const outputs: (TypedData | null)[] = [];
  const handles: CommHandle[] = [];
  for (let c = 0; c < task.calls.length; c++) {
    const call = { ...task.calls[c], ...task.calls[c].perRank?.[rank] };
    const comm = commFor(call.group, call.groupName);
    if (!comm) {
      outputs.push(null);
      continue;
    }
    const opts = { op: call.reduceOp, algorithm: call.algorithm, dtype: call.dtype };
    const n = comm.worldSize;
    let h: CommHandle;
    let out: TypedData;
    switch (call.op) {
      case 'allReduce':
        out = randomPayload(call.dtype, call.count, task.seed, rank, c);
        if (call.registered) {
          const shared = comm.allocShared(call.dtype, call.count);
          shared.set(out as never);
          out = shared;
        }
        h = comm.allReduce(out, opts);
        break;
      case 'reduceScatter': {
        const input = randomPayload(call.dtype, call.count, task.seed, rank, c);
        out = makeArray(call.dtype, balancedCounts(call.count, n)[comm.rank]);
        h = comm.reduceScatter(input, out, opts);
        break;
      }
      case 'allGather': {
        const counts = balancedCounts(call.count, n);
        const input = randomPayload(call.dtype, counts[comm.rank], task.seed, rank, c);
        out = makeArray(call.dtype, call.count);
        h = comm.allGather(input, out, opts);
        break;
      }
      case 'barrier':
        out = makeArray(call.dtype, 0);
        h = comm.barrier({ algorithm: call.algorithm });
        break;
      case 'broadcast':
        out = randomPayload(call.dtype, call.count, task.seed, rank, c);
        h = comm.broadcast(out, { ...opts, root: call.root });
        break;
      case 'reduce':
        out = randomPayload(call.dtype, call.count, task.seed, rank, c);
        h = comm.reduce(out, { ...opts, root: call.root });
        break;
      case 'allToAll': {
        const splits = call.splits ?? Array.from({ length: n }, () => new Array(n).fill(call.count / n));
        const sendCounts = splits[comm.rank];
        const recvCounts = splits.map((row) => row[comm.rank]);
        const input = randomPayload(
          call.dtype,
          sendCounts.reduce((a, b) => a + b, 0),
          task.seed,
          rank,
          c,
        );
        out = makeArray(
          call.dtype,
          recvCounts.reduce((a, b) => a + b, 0),
        );
        h = comm.allToAll(input, out, call.splits ? { ...opts, sendCounts, recvCounts } : opts);
        break;
      }
      case 'sendRecv': {
        const input = randomPayload(call.dtype, call.count, task.seed, rank, c);
        out = makeArray(call.dtype, call.count);
        h = comm.sendRecv(input, (comm.rank + 1) % n, out, (comm.rank + n - 1) % n, { dtype: call.dtype });
        break;
      }
      case 'send':
        // Pairs (0,1), (2,3), ...: the even rank sends, the odd one receives; an odd last rank idles.
        out = randomPayload(call.dtype, call.count, task.seed, rank, c);
        if (call.from !== undefined && call.to !== undefined) {
          if (comm.rank === call.from) h = comm.send(out, call.to);
          else if (comm.rank === call.to) h = comm.recv(out, call.from);
          else h = settled();
        } else if (comm.rank % 2 === 0 && comm.rank + 1 < n) h = comm.send(out, comm.rank + 1);
        else if (comm.rank % 2 === 1) h = comm.recv(out, comm.rank - 1);
        else h = settled();
        break;
    }
    outputs.push(out);
    handles.push(h);
    if (call.stallAfterIssueMs) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, call.stallAfterIssueMs);
    if (!task.concurrent) await h.wait();
  }
  if (task.throwOnRank === rank) {
    await new Promise((r) => setTimeout(r, task.throwAfterMs ?? 0));
    throw new Error(`rank ${rank} failed on purpose mid-collective`);
  }
  for (const h of handles) await h.wait();
  return { outputs, spans };
}
