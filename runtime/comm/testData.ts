/**
 * Deterministic payloads for the tests and the benchmark: rank r's input of call c is a
 * pure function of (seed, r, c), so the main thread can rebuild every rank's input and
 * compute the naive reference without shipping the inputs around.
 */
import { Dtype, f32ToF16, TypedData } from './dtypes';

/** mulberry32: small, fast, good enough for test data. */
export function prng(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function makeArray(dtype: Dtype, count: number): TypedData {
  switch (dtype) {
    case 'f32':
      return new Float32Array(count);
    case 'f16':
      return new Uint16Array(count);
    case 'int8':
      return new Int8Array(count);
    case 'uint8':
      return new Uint8Array(count);
  }
}

/** Random payload: floats in [-1, 1), integers over their whole range. */
export function randomPayload(dtype: Dtype, count: number, seed: number, rank: number, call: number): TypedData {
  const rnd = prng(Math.imul(seed, 0x9e3779b1) ^ Math.imul(rank + 1, 0x85ebca6b) ^ Math.imul(call + 1, 0xc2b2ae35));
  const a = makeArray(dtype, count);
  for (let i = 0; i < count; i++) {
    const u = rnd();
    if (dtype === 'f32') a[i] = u * 2 - 1;
    else if (dtype === 'f16') a[i] = f32ToF16(u * 2 - 1);
    else if (dtype === 'int8') a[i] = Math.floor(u * 256) - 128;
    else a[i] = Math.floor(u * 256);
  }
  return a;
}
