/**
 * The strategies' Collectives over runtime/comm's Communicator. Each call issues the
 * collective at once (the communicator queues it behind the rank's earlier ones) and
 * resolves when it completes, so a strategy can start one and keep working meanwhile.
 */
import type { Communicator } from '../comm';
import { shardLength, type Collectives, type ReduceOp } from './collectives';

export function commCollectives(comm: Communicator): Collectives {
  const n = comm.worldSize;
  return {
    rank: comm.rank,
    worldSize: n,
    async allReduceF32(data: Float32Array, op: ReduceOp): Promise<void> {
      await comm.allReduce(data, { op }).wait();
    },
    async allReduceF16(bits: Uint16Array, op: ReduceOp): Promise<void> {
      await comm.allReduce(bits, { op, dtype: 'f16' }).wait();
    },
    async allGatherBytes(mine: Uint8Array, into?: Uint8Array): Promise<Uint8Array> {
      const out = into ?? new Uint8Array(mine.length * n);
      await comm.allGather(mine, out).wait();
      return out;
    },
    async allGatherF32(mine: Float32Array): Promise<Float32Array> {
      const out = new Float32Array(mine.length * n);
      await comm.allGather(mine, out, { counts: new Array<number>(n).fill(mine.length) }).wait();
      return out;
    },
    async allToAllBytes(send: Uint8Array, into?: Uint8Array): Promise<Uint8Array> {
      const out = into ?? new Uint8Array(send.length);
      await comm.allToAll(send, out).wait();
      return out;
    },
    async reduceScatterF32(data: Float32Array, op: ReduceOp): Promise<Float32Array> {
      const block = shardLength(data.length, n);
      if (block * n !== data.length)
        throw new Error(`reduceScatterF32: ${data.length} values do not split into ${n} equal blocks`);
      const out = new Float32Array(block);
      await comm.reduceScatter(data, out, { op, counts: new Array<number>(n).fill(block) }).wait();
      return out;
    },
  };
}
