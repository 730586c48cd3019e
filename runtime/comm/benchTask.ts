/**
 * What a benchmark rank does: for each case, warm-up iterations, then timed ones each
 * started right after a barrier; it reports when each iteration started and ended on
 * this rank (one clock for all ranks: they are threads of one process) and the algorithm
 * the tuner chose. The host times a collective from the last rank's start to the last
 * rank's end, so that the barrier's exit skew is not counted.
 */
import { hostNowNs } from '../clock';
import { Communicator } from './communicator';
import { Dtype, dtypeBytes, ReduceOp, TypedData } from './dtypes';
import { CommHandle } from './handle';
import { balancedCounts } from './ring';
import { makeArray, randomPayload } from './testData';
import { WorldInit } from './world';

export type BenchOp = 'allReduce' | 'reduceScatter' | 'allGather' | 'broadcast' | 'reduce' | 'allToAll';

export interface BenchCase {
  op: BenchOp;
  /** Elements of S (nccl-tests: the whole array for reduceScatter / allGather / allToAll). */
  count: number;
  dtype: Dtype;
  reduceOp?: ReduceOp;
  algorithm?: string;
  /** Use buffers from allocShared (registered: zero-copy paths where they exist). */
  registered?: boolean;
  warmup: number;
  iters: number;
}

export interface BenchTask {
  kind: 'bench';
  cases: BenchCase[];
  blocking?: boolean;
}

export interface BenchCaseResult {
  /** Per iteration, when this rank issued the collective and when it completed (hostNowNs). */
  startsNs: number[];
  endsNs: number[];
  algorithm: string;
}

export async function runBenchTask(init: WorldInit, rank: number, task: BenchTask): Promise<BenchCaseResult[]> {
  let algorithm = '';
  const comm = Communicator.fromInit(
    init,
    rank,
    (s) => {
      if (s.kind === 'collective' && s.op !== 'barrier') algorithm = s.algorithm;
    },
    { blocking: task.blocking },
  );
  const n = comm.worldSize;
  const out: BenchCaseResult[] = [];
  for (const c of task.cases) {
    const alloc = (count: number, fill: boolean): TypedData => {
      const a = c.registered ? comm.allocShared(c.dtype, count) : makeArray(c.dtype, count);
      if (fill) a.set(randomPayload(c.dtype, count, 1, rank, 0) as never);
      return a;
    };
    const part = balancedCounts(c.count, n)[comm.rank];
    let once: () => CommHandle;
    const opts = { op: c.reduceOp, algorithm: c.algorithm };
    switch (c.op) {
      case 'allReduce': {
        const data = alloc(c.count, true);
        once = () => comm.allReduce(data, opts);
        break;
      }
      case 'reduceScatter': {
        const input = alloc(c.count, true),
          output = alloc(part, false);
        once = () => comm.reduceScatter(input, output, opts);
        break;
      }
      case 'allGather': {
        const input = alloc(part, true),
          output = alloc(c.count, false);
        once = () => comm.allGather(input, output, opts);
        break;
      }
      case 'broadcast': {
        const data = alloc(c.count, true);
        once = () => comm.broadcast(data, opts);
        break;
      }
      case 'reduce': {
        const data = alloc(c.count, true);
        once = () => comm.reduce(data, opts);
        break;
      }
      case 'allToAll': {
        const per = Math.floor(c.count / n);
        const input = alloc(per * n, true),
          output = alloc(per * n, false);
        once = () => comm.allToAll(input, output, opts);
        break;
      }
    }
    for (let i = 0; i < c.warmup; i++) await once().wait();
    const startsNs: number[] = [];
    const endsNs: number[] = [];
    for (let i = 0; i < c.iters; i++) {
      await comm.barrier().wait();
      startsNs.push(hostNowNs());
      await once().wait();
      endsNs.push(hostNowNs());
    }
    out.push({ startsNs, endsNs, algorithm });
    comm.freeAllShared();
  }
  return out;
}

/** Per iteration max(end) - max(start) over ranks, ns. */
export function iterationTimesNs(perRank: BenchCaseResult[]): number[] {
  return perRank[0].startsNs.map(
    (_, k) => Math.max(...perRank.map((r) => r.endsNs[k])) - Math.max(...perRank.map((r) => r.startsNs[k])),
  );
}

/** Bytes of S for a case (what algbw divides). */
export function benchBytes(c: BenchCase, n: number): number {
  const count = c.op === 'allToAll' ? Math.floor(c.count / n) * n : c.count;
  return count * dtypeBytes(c.dtype);
}
