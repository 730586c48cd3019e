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
import { WorldInit } from './world';

export interface CallSpec {
  op: 'allReduce' | 'reduceScatter' | 'allGather' | 'barrier';
  /** allReduce: elements; reduceScatter: elements of the whole input; allGather: elements of the whole output. */
  count: number;
  dtype: Dtype;
  reduceOp?: ReduceOp;
  algorithm?: string;
  /** Global ranks of a sub-group; ranks not in it skip the call. */
  group?: number[];
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
  const commFor = (g: number[] | undefined): Communicator | undefined => {
    if (!g) return world;
    if (!g.includes(rank)) return undefined;
    const key = g.join(',');
    let c = groups.get(key);
    if (!c) groups.set(key, (c = world.newGroup(g)));
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
    const comm = commFor(call.group);
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
        h = comm.barrier();
        break;
    }
    outputs.push(out);
    handles.push(h);
    if (!task.concurrent) await h.wait();
  }
  if (task.throwOnRank === rank) {
    await new Promise((r) => setTimeout(r, task.throwAfterMs ?? 0));
    throw new Error(`rank ${rank} failed on purpose mid-collective`);
  }
  for (const h of handles) await h.wait();
  return { outputs, spans };
}
