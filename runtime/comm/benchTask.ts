/**
 * What a benchmark rank does: for each (op, size) run warm-up iterations, then timed ones
 * between barriers, and report the median time this rank measured (nccl-tests style:
 * the slowest rank's time is taken by the host).
 */
import { hostNowNs } from '../clock';
import { Communicator } from './communicator';
import { Dtype, ReduceOp, TypedData } from './dtypes';
import { balancedCounts } from './ring';
import { makeArray, randomPayload } from './testData';
import { WorldInit } from './world';

export interface BenchCase {
  op: 'allReduce' | 'reduceScatter' | 'allGather';
  count: number;
  dtype: Dtype;
  reduceOp?: ReduceOp;
  algorithm?: string;
}

export interface BenchTask {
  kind: 'bench';
  cases: BenchCase[];
  warmup: number;
  iters: number;
  blocking?: boolean;
}

export interface BenchCaseResult {
  /** Per-iteration durations on this rank, ns. */
  timesNs: number[];
  algorithm: string;
}

export async function runBenchTask(init: WorldInit, rank: number, task: BenchTask): Promise<BenchCaseResult[]> {
  let algorithm = '';
  const comm = Communicator.fromInit(init, rank, (s) => {
    if (s.kind === 'collective' && s.op !== 'barrier') algorithm = s.algorithm;
  }, { blocking: task.blocking });
  const out: BenchCaseResult[] = [];
  for (const c of task.cases) {
    const n = comm.worldSize;
    let input: TypedData, output: TypedData;
    if (c.op === 'allReduce') input = output = randomPayload(c.dtype, c.count, 1, rank, 0);
    else if (c.op === 'reduceScatter') {
      input = randomPayload(c.dtype, c.count, 1, rank, 0);
      output = makeArray(c.dtype, balancedCounts(c.count, n)[rank]);
    } else {
      output = makeArray(c.dtype, c.count);
      input = randomPayload(c.dtype, balancedCounts(c.count, n)[rank], 1, rank, 0);
    }
    const once = () => {
      const opts = { op: c.reduceOp, algorithm: c.algorithm };
      if (c.op === 'allReduce') return comm.allReduce(output, opts);
      if (c.op === 'reduceScatter') return comm.reduceScatter(input, output, opts);
      return comm.allGather(input, output, opts);
    };
    for (let i = 0; i < task.warmup; i++) await once().wait();
    const timesNs: number[] = [];
    for (let i = 0; i < task.iters; i++) {
      await comm.barrier().wait();
      const t0 = hostNowNs();
      await once().wait();
      timesNs.push(hostNowNs() - t0);
    }
    out.push({ timesNs, algorithm });
  }
  return out;
}
