/**
 * Lossy gradient codecs on the host: int8 with one scale per chunk, and sign (1 bit per
 * value) with one scale per chunk. Each encodes a Float32Array into a self-contained
 * byte block of a size known in advance, so that blocks of all ranks can travel in one
 * all-to-all or all-gather.
 */

import { Scratch } from './scratch';

export interface Codec {
  readonly name: string;
  /** Encoded size of `n` values, in bytes. */
  encodedBytes(n: number): number;
  /** Encodes `src` into `dst` (exactly encodedBytes(src.length) bytes). */
  encode(src: Float32Array, dst: Uint8Array): void;
  /** Decodes `n` values from `src` into `dst`, adding when `accumulate` is set. */
  decode(src: Uint8Array, dst: Float32Array, accumulate: boolean): void;
}

function f32View(bytes: Uint8Array, count: number): Float32Array {
  // Blocks are laid out scales first, so the f32 part is 4-aligned when the block is.
  if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, count);
  const copy = new Float32Array(count);
  new Uint8Array(copy.buffer).set(bytes.subarray(0, count * 4));
  return copy;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/** int8 quantisation, scale = max|x| / 127 per chunk of `chunk` values. */
export class Int8Codec implements Codec {
  readonly name = 'int8';
  constructor(readonly chunk: number) {}
  encodedBytes(n: number): number {
    return align4(Math.ceil(n / this.chunk) * 4 + n);
  }
  encode(src: Float32Array, dst: Uint8Array): void {
    const chunks = Math.ceil(src.length / this.chunk);
    const scales = new Float32Array(chunks);
    const q = new Int8Array(dst.buffer, dst.byteOffset + chunks * 4, src.length);
    for (let c = 0; c < chunks; c++) {
      const lo = c * this.chunk;
      const hi = Math.min(src.length, lo + this.chunk);
      let max = 0;
      for (let i = lo; i < hi; i++) max = Math.max(max, Math.abs(src[i]));
      const scale = max / 127;
      scales[c] = scale;
      const inv = scale > 0 ? 1 / scale : 0;
      for (let i = lo; i < hi; i++) q[i] = Math.max(-127, Math.min(127, Math.round(src[i] * inv)));
    }
    dst.set(new Uint8Array(scales.buffer), 0);
  }
  decode(src: Uint8Array, dst: Float32Array, accumulate: boolean): void {
    const chunks = Math.ceil(dst.length / this.chunk);
    const scales = f32View(src, chunks);
    const q = new Int8Array(src.buffer, src.byteOffset + chunks * 4, dst.length);
    for (let i = 0; i < dst.length; i++) {
      const v = q[i] * scales[(i / this.chunk) | 0];
      dst[i] = accumulate ? dst[i] + v : v;
    }
  }
}

/**
 * Sign compression (1-bit Adam): one bit per value and one scale per chunk, the chunk's
 * ‖x‖₂/√n, so that the decoded chunk has the magnitude (L2 norm) of the input, as the
 * paper's compressor does. Zero encodes as +scale: a sign cannot say "nothing here".
 */
export class SignCodec implements Codec {
  readonly name = 'sign';
  constructor(readonly chunk: number) {}
  encodedBytes(n: number): number {
    return align4(Math.ceil(n / this.chunk) * 4 + Math.ceil(n / 8));
  }
  encode(src: Float32Array, dst: Uint8Array): void {
    const chunks = Math.ceil(src.length / this.chunk);
    const scales = new Float32Array(chunks);
    const bitsOff = chunks * 4;
    dst.fill(0, bitsOff, bitsOff + Math.ceil(src.length / 8));
    for (let c = 0; c < chunks; c++) {
      const lo = c * this.chunk;
      const hi = Math.min(src.length, lo + this.chunk);
      let sum = 0;
      for (let i = lo; i < hi; i++) sum += src[i] * src[i];
      scales[c] = hi > lo ? Math.sqrt(sum / (hi - lo)) : 0;
    }
    for (let i = 0; i < src.length; i++) if (src[i] >= 0) dst[bitsOff + (i >> 3)] |= 1 << (i & 7);
    dst.set(new Uint8Array(scales.buffer), 0);
  }
  decode(src: Uint8Array, dst: Float32Array, accumulate: boolean): void {
    const chunks = Math.ceil(dst.length / this.chunk);
    const scales = f32View(src, chunks);
    const bitsOff = chunks * 4;
    for (let i = 0; i < dst.length; i++) {
      const s = scales[(i / this.chunk) | 0];
      const v = (src[bitsOff + (i >> 3)] >> (i & 7)) & 1 ? s : -s;
      dst[i] = accumulate ? dst[i] + v : v;
    }
  }
}

/**
 * Indices of the k largest |x| (exact; ties broken by position). Uses quickselect on a
 * copy of the magnitudes, so the cost is linear on average. `scratch` keeps its two
 * buffers of n values for the next call (scratch.ts).
 */
export function topKIndices(x: Float32Array, k: number, scratch: Scratch = new Scratch()): Uint32Array {
  const n = x.length;
  if (k >= n) return Uint32Array.from({ length: n }, (_, i) => i);
  if (k <= 0) return new Uint32Array(0);
  const mag = scratch.f32('topk magnitudes', n);
  for (let i = 0; i < n; i++) mag[i] = Math.abs(x[i]);
  // Find the k-th largest magnitude: quickselect for position n-k in ascending order.
  const work = scratch.f32('topk select', n);
  work.set(mag);
  let lo = 0;
  let hi = n - 1;
  const target = n - k;
  while (lo < hi) {
    const pivot = work[(lo + hi) >> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (work[i] < pivot) i++;
      while (work[j] > pivot) j--;
      if (i <= j) {
        const t = work[i];
        work[i] = work[j];
        work[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else break;
  }
  const threshold = work[target];
  const out = new Uint32Array(k);
  let m = 0;
  for (let i = 0; i < n && m < k; i++) if (mag[i] > threshold) out[m++] = i;
  for (let i = 0; i < n && m < k; i++) if (mag[i] === threshold) out[m++] = i;
  return out.sort();
}
