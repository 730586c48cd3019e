/**
 * Communication hooks: how one bucket of gradients is averaged over the ranks. They run
 * on the host on the staged (device-to-host) bucket and replace the plain f32 all-reduce,
 * as PyTorch's DDP communication hooks do. Encode and decode time is reported as spans.
 */
import type { Bucket } from './buckets';
import type { Collectives } from './collectives';
import { Int8Codec, type Codec } from './codecs';
import { compressedAllReduce, newErrorFeedback, type ErrorFeedbackState } from './compressedAllReduce';
import { encodeF16, decodeF16, encodeBf16, decodeBf16, bf16BitsToF32 } from '../comm/halfFloat';
import { ScratchByKey } from './scratch';

export type SpanSink = (
  name: string,
  startNs: number,
  endNs: number,
  args?: Record<string, string | number | boolean>,
) => void;

export interface HookEnv {
  coll: Collectives;
  span: SpanSink;
}

export interface GradientHook {
  readonly id: string;
  /** Replaces `grads` (one bucket, this rank's local gradients) by their average over ranks. */
  exchange(bucket: Bucket, grads: Float32Array, step: number): Promise<void>;
  /** Bytes of state the hook keeps between steps (error feedback, factors). */
  stateBytes(): number;
}

export const nowNs = (): number => Number(process.hrtime.bigint());

/** A span sink that tags every span with the bucket it belongs to. */
export function bucketSpans(env: HookEnv, bucket: Bucket): SpanSink {
  return (name, startNs, endNs, args) => env.span(name, startNs, endNs, { ...args, bucket: bucket.index });
}

/** fp16 cast (PyTorch `fp16_compress_hook`): divide by worldSize, cast, sum in half precision, cast back. */
export class Fp16Hook implements GradientHook {
  readonly id = 'fp16';
  private readonly scratch = new ScratchByKey();
  constructor(private readonly env: HookEnv) {}
  async exchange(bucket: Bucket, grads: Float32Array): Promise<void> {
    const n = this.env.coll.worldSize;
    let t = nowNs();
    const s = this.scratch.of(bucket.index);
    const scaled = s.f32('scaled', grads.length);
    for (let i = 0; i < grads.length; i++) scaled[i] = grads[i] / n;
    const b = s.u8('bits', grads.length * 2);
    const bits = encodeF16(scaled, new Uint16Array(b.buffer, b.byteOffset, grads.length));
    this.env.span('encode fp16', t, nowNs(), { bucket: bucket.index, bytes: bits.byteLength });
    await this.env.coll.allReduceF16(bits, 'sum');
    t = nowNs();
    decodeF16(bits, grads);
    this.env.span('decode fp16', t, nowNs(), { bucket: bucket.index });
  }
  stateBytes(): number {
    return 0;
  }
}

/** bf16 as a 2-byte codec for the compressed all-reduce (the communicator has no bf16 sum). */
class Bf16Codec implements Codec {
  readonly name = 'bf16';
  encodedBytes(n: number): number {
    return (n * 2 + 3) & ~3;
  }
  encode(src: Float32Array, dst: Uint8Array): void {
    encodeBf16(src, new Uint16Array(dst.buffer, dst.byteOffset, src.length));
  }
  decode(src: Uint8Array, dst: Float32Array, accumulate: boolean): void {
    const bits = new Uint16Array(src.buffer, src.byteOffset, dst.length);
    if (!accumulate) {
      decodeBf16(bits, dst);
      return;
    }
    for (let i = 0; i < dst.length; i++) dst[i] += bf16BitsToF32(bits[i]);
  }
}

/** bf16 cast (PyTorch `bf16_compress_hook`): bf16 on the wire, sums in f32 at each shard's owner. */
export class Bf16Hook implements GradientHook {
  readonly id = 'bf16';
  private readonly codec = new Bf16Codec();
  private readonly scratch = new ScratchByKey();
  constructor(private readonly env: HookEnv) {}
  async exchange(bucket: Bucket, grads: Float32Array): Promise<void> {
    const spans = bucketSpans(this.env, bucket);
    await compressedAllReduce(this.env.coll, grads, this.codec, undefined, spans, this.scratch.of(bucket.index));
  }
  stateBytes(): number {
    return 0;
  }
}

/** int8 with one scale per chunk and error feedback on workers and shard owners. */
export class Int8EfHook implements GradientHook {
  readonly id = 'int8-ef';
  private readonly codec: Int8Codec;
  private readonly ef = new Map<number, ErrorFeedbackState>();
  private readonly scratch = new ScratchByKey();
  constructor(
    private readonly env: HookEnv,
    chunk: number,
  ) {
    this.codec = new Int8Codec(chunk);
  }
  async exchange(bucket: Bucket, grads: Float32Array): Promise<void> {
    let ef = this.ef.get(bucket.index);
    if (!ef) this.ef.set(bucket.index, (ef = newErrorFeedback(grads.length, this.env.coll.worldSize)));
    const spans = bucketSpans(this.env, bucket);
    await compressedAllReduce(this.env.coll, grads, this.codec, ef, spans, this.scratch.of(bucket.index));
  }
  stateBytes(): number {
    let b = 0;
    for (const e of this.ef.values()) b += (e.worker?.byteLength ?? 0) + (e.server?.byteLength ?? 0);
    return b;
  }
}
