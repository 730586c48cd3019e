/**
 * An in-process group of ranks implementing the strategies' Collectives, for unit tests
 * of the host-side numerics: each call waits until every rank made its matching call
 * (same sequence number), then all get their results. Counts the bytes each rank sends.
 */
import type { Collectives, ReduceOp } from '../../../runtime/strategies/collectives';

// `into`: where the rank asked for its result (each rank's own, so finish() reads it per rank).
type Contribution = { data: ArrayBufferView; op?: ReduceOp; into?: Uint8Array };

export class LocalWorld {
  private readonly rounds = new Map<
    number,
    { parts: Contribution[]; resolvers: ((v: unknown) => void)[]; kind: string }
  >();
  readonly ranks: LocalRank[];
  constructor(readonly worldSize: number) {
    this.ranks = Array.from({ length: worldSize }, (_, r) => new LocalRank(this, r));
  }

  /** @internal */
  join(
    kind: string,
    seq: number,
    rank: number,
    c: Contribution,
    finish: (parts: Contribution[], rank: number) => unknown,
  ): Promise<unknown> {
    let round = this.rounds.get(seq);
    if (!round) this.rounds.set(seq, (round = { parts: [], resolvers: [], kind }));
    if (round.kind !== kind) throw new Error(`collective mismatch at seq ${seq}: ${round.kind} vs ${kind}`);
    round.parts[rank] = c;
    return new Promise((resolve) => {
      round.resolvers[rank] = resolve;
      if (round.resolvers.filter(Boolean).length === this.worldSize) {
        this.rounds.delete(seq);
        const parts = round.parts;
        // Results are computed for all ranks before any is delivered (inputs may be reused in place).
        const results = parts.map((_, r) => finish(parts, r));
        round.resolvers.forEach((res, r) => setImmediate(() => res(results[r])));
      }
    });
  }
}

function bytesOf(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

export class LocalRank implements Collectives {
  private seq = 0;
  /** Bytes this rank contributed to collectives (the payload it sends). */
  sentBytes = 0;
  constructor(
    private readonly world: LocalWorld,
    readonly rank: number,
  ) {}
  get worldSize(): number {
    return this.world.worldSize;
  }

  async allReduceF32(data: Float32Array, op: ReduceOp): Promise<void> {
    this.sentBytes += data.byteLength;
    const out = (await this.world.join('allReduceF32', this.seq++, this.rank, { data: data.slice(), op }, (parts) => {
      const sum = new Float32Array(data.length).fill(op === 'max' ? -Infinity : 0);
      for (const p of parts)
        (p.data as Float32Array).forEach((v, i) => (sum[i] = op === 'max' ? Math.max(sum[i], v) : sum[i] + v));
      if (op === 'avg') for (let i = 0; i < sum.length; i++) sum[i] /= parts.length;
      return sum;
    })) as Float32Array;
    data.set(out);
  }

  async allReduceF16(): Promise<void> {
    throw new Error('allReduceF16 is not used by the tests that use LocalWorld');
  }

  async allGatherBytes(mine: Uint8Array, into?: Uint8Array): Promise<Uint8Array> {
    this.sentBytes += mine.byteLength;
    return (await this.world.join('allGather', this.seq++, this.rank, { data: mine.slice(), into }, (parts, r) => {
      const out = parts[r].into ?? new Uint8Array(mine.byteLength * parts.length);
      parts.forEach((p, i) => out.set(bytesOf(p.data), i * mine.byteLength));
      return out;
    })) as Uint8Array;
  }

  async allGatherF32(mine: Float32Array): Promise<Float32Array> {
    const b = await this.allGatherBytes(bytesOf(mine));
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  }

  async allToAllBytes(send: Uint8Array, into?: Uint8Array): Promise<Uint8Array> {
    this.sentBytes += send.byteLength;
    const block = send.byteLength / this.worldSize;
    return (await this.world.join('allToAll', this.seq++, this.rank, { data: send.slice(), into }, (parts, r) => {
      const out = parts[r].into ?? new Uint8Array(send.byteLength);
      parts.forEach((p, i) => out.set(bytesOf(p.data).subarray(r * block, (r + 1) * block), i * block));
      return out;
    })) as Uint8Array;
  }

  async reduceScatterF32(data: Float32Array, op: ReduceOp): Promise<Float32Array> {
    if (op === 'max') throw new Error('reduceScatterF32 with max is not used by the tests that use LocalWorld');
    this.sentBytes += data.byteLength;
    const block = data.length / this.worldSize;
    return (await this.world.join('reduceScatter', this.seq++, this.rank, { data: data.slice(), op }, (parts, r) => {
      const out = new Float32Array(block);
      for (const p of parts) for (let i = 0; i < block; i++) out[i] += (p.data as Float32Array)[r * block + i];
      if (op === 'avg') for (let i = 0; i < block; i++) out[i] /= parts.length;
      return out;
    })) as Float32Array;
  }
}
