/**
 * The strategies' Collectives over runtime/comm's Communicator. Each call issues the
 * collective at once (the communicator queues it behind the rank's earlier ones) and
 * resolves when it completes, so a strategy can start one and keep working meanwhile.
 */
import type { Communicator } from '../comm';
import { shardLength, type Collectives, type ReduceOp } from './collectives';

type TypedData = Float32Array | Uint16Array | Int8Array | Uint8Array;
interface HandleLike {
  wait(): Promise<void>;
}
/** The all-to-all of runtime/comm (equal blocks in rank order), where the build has it. */
type MaybeAllToAll = { allToAll?: (input: TypedData, output: TypedData, opts?: object) => HandleLike };

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
    async allGatherBytes(mine: Uint8Array): Promise<Uint8Array> {
      const out = new Uint8Array(mine.length * n);
      await comm.allGather(mine, out).wait();
      return out;
    },
    async allGatherF32(mine: Float32Array): Promise<Float32Array> {
      const out = new Float32Array(mine.length * n);
      await comm.allGather(mine, out, { counts: new Array<number>(n).fill(mine.length) }).wait();
      return out;
    },
    async allToAllBytes(send: Uint8Array): Promise<Uint8Array> {
      const out = new Uint8Array(send.length);
      const a2a = (comm as unknown as MaybeAllToAll).allToAll;
      if (a2a) {
        await a2a.call(comm, send, out).wait();
        return out;
      }
      // Without an all-to-all, gather every rank's whole send buffer and keep the blocks
      // addressed to this rank (n times the volume: the trace shows it as an all-gather).
      const block = send.length / n;
      const all = new Uint8Array(send.length * n);
      await comm.allGather(send, all, { counts: new Array<number>(n).fill(send.length) }).wait();
      for (let i = 0; i < n; i++) out.set(all.subarray(i * send.length + comm.rank * block, i * send.length + (comm.rank + 1) * block), i * block);
      return out;
    },
    async reduceScatterF32(data: Float32Array, op: ReduceOp): Promise<Float32Array> {
      const block = shardLength(data.length, n);
      if (block * n !== data.length) throw new Error(`reduceScatterF32: ${data.length} values do not split into ${n} equal blocks`);
      const out = new Float32Array(block);
      await comm.reduceScatter(data, out, { op, counts: new Array<number>(n).fill(block) }).wait();
      return out;
    },
  };
}
