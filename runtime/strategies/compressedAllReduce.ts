/**
 * All-reduce of compressed values that cannot be summed as they travel (int8 with
 * scales, signs with scales): an all-to-all sends every rank its shard of everyone's
 * encoding (the reduce-scatter half), the shard's owner decodes and averages them,
 * re-encodes the average and an all-gather returns it to all (the all-gather half).
 * Both halves carry the encoded size, so the volume falls by the codec's ratio while
 * keeping the 2(n-1)/n shape of a ring all-reduce.
 *
 * Error feedback on both sides (as in 1-bit Adam's compressed all-reduce): each worker
 * adds the part of its previous input its encoding lost, and each shard owner does the
 * same for its re-encoding.
 */
import type { Codec } from './codecs';
import { shardLength, type Collectives } from './collectives';
import { Scratch } from './scratch';

export interface ErrorFeedbackState {
  /** Per worker: what its encodings lost so far (length = padded size). */
  worker?: Float32Array;
  /** Per shard owner: what its re-encodings lost (length = shard). */
  server?: Float32Array;
}

/** Receives the host intervals spent encoding and decoding (for the trace). */
export type CodecSpanSink = (
  name: string,
  startNs: number,
  endNs: number,
  args?: Record<string, string | number | boolean>,
) => void;

const now = (): number => Number(process.hrtime.bigint());

/** Creates zeroed error-feedback buffers for a tensor of `n` values. */
export function newErrorFeedback(n: number, worldSize: number): Required<ErrorFeedbackState> {
  const shard = shardLength(n, worldSize);
  return { worker: new Float32Array(shard * worldSize), server: new Float32Array(shard) };
}

/**
 * Averages `data` over all ranks in place through `codec`. With `ef`, errors are fed
 * back as described above. `scratch` keeps the host buffers for the next call on the same
 * bucket (scratch.ts: fresh ones cost a page fault per 4 KiB); without it they are made here.
 */
export async function compressedAllReduce(
  coll: Collectives,
  data: Float32Array,
  codec: Codec,
  ef?: ErrorFeedbackState,
  span?: CodecSpanSink,
  scratch: Scratch = new Scratch(),
): Promise<void> {
  const n = coll.worldSize;
  const shard = shardLength(data.length, n);
  const padded = scratch.f32('padded', shard * n);
  padded.set(data);
  padded.fill(0, data.length);
  const mark = (what: 'encode' | 'decode', t0: number): void =>
    span?.(`${what} ${codec.name}`, t0, now(), { values: data.length });
  let t = now();
  if (ef?.worker) for (let i = 0; i < padded.length; i++) padded[i] += ef.worker[i];
  const block = codec.encodedBytes(shard);
  const send = scratch.u8('send', block * n);
  const lost = scratch.f32('lost', shard);
  for (let j = 0; j < n; j++) {
    const part = padded.subarray(j * shard, (j + 1) * shard);
    const dst = send.subarray(j * block, (j + 1) * block);
    codec.encode(part, dst);
    if (ef?.worker) {
      codec.decode(dst, lost, false);
      for (let i = 0; i < shard; i++) ef.worker[j * shard + i] = part[i] - lost[i];
    }
  }
  mark('encode', t);
  const recv = await coll.allToAllBytes(send, scratch.u8('recv', block * n));
  t = now();
  const mine = scratch.f32('mine', shard, true);
  for (let i = 0; i < n; i++) codec.decode(recv.subarray(i * block, (i + 1) * block), mine, true);
  for (let i = 0; i < shard; i++) mine[i] /= n;
  if (ef?.server) for (let i = 0; i < shard; i++) mine[i] += ef.server[i];
  mark('decode', t);
  t = now();
  const out = scratch.u8('out', block);
  codec.encode(mine, out);
  if (ef?.server) {
    codec.decode(out, lost, false);
    for (let i = 0; i < shard; i++) ef.server[i] = mine[i] - lost[i];
  }
  mark('encode', t);
  const all = await coll.allGatherBytes(out, scratch.u8('all', block * n));
  t = now();
  for (let j = 0; j < n; j++) {
    codec.decode(all.subarray(j * block, (j + 1) * block), lost, false);
    const lo = j * shard;
    const hi = Math.min(data.length, lo + shard);
    for (let i = lo; i < hi; i++) data[i] = lost[i - lo];
  }
  mark('decode', t);
}
