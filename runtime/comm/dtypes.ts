/**
 * Element types and reduction kernels. Integer sums wrap modulo 2^8 like NCCL's int8/uint8
 * sums (so they are exact in modular arithmetic, whatever the order); f16 values are
 * added in f32 and rounded to f16 after each step (round to nearest even), like a
 * half-precision accumulator.
 */
import { f16ToF32Table, f32ToF16Bits } from './halfFloat';
export type Dtype = 'f32' | 'f16' | 'int8' | 'uint8';
export type ReduceOp = 'sum' | 'avg' | 'max';
export type TypedData = Float32Array | Uint16Array | Int8Array | Uint8Array;

export const DTYPES: readonly Dtype[] = ['f32', 'f16', 'int8', 'uint8'];
export const REDUCE_OPS: readonly ReduceOp[] = ['sum', 'avg', 'max'];

export function dtypeBytes(d: Dtype): number {
  return d === 'f32' ? 4 : d === 'f16' ? 2 : 1;
}

/** The dtype a typed array carries by default (Uint16Array = f16 bit patterns). */
export function dtypeOf(data: TypedData): Dtype {
  if (data instanceof Float32Array) return 'f32';
  if (data instanceof Uint16Array) return 'f16';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Uint8Array) return 'uint8';
  throw new Error(
    `unsupported payload ${Object.prototype.toString.call(data)}; use Float32Array (f32), Uint16Array (f16 bits), Int8Array or Uint8Array`,
  );
}

/** A typed view of `count` elements of `dtype` at `byteOffset` of `buffer`. */
export function viewOf(dtype: Dtype, buffer: ArrayBufferLike, byteOffset: number, count: number): TypedData {
  switch (dtype) {
    case 'f32':
      return new Float32Array(buffer, byteOffset, count);
    case 'f16':
      return new Uint16Array(buffer, byteOffset, count);
    case 'int8':
      return new Int8Array(buffer, byteOffset, count);
    case 'uint8':
      return new Uint8Array(buffer, byteOffset, count);
  }
}

// ---- f16 <-> f32 ---------------------------------------------------------------------
/** f16 bits -> f32 value for all 65,536 patterns (halfFloat.ts holds the one conversion and its table). */
export { f16ToF32Table };

/** Rounds an f32 value to the nearest f16 (ties to even); returns its bits. */
export const f32ToF16 = f32ToF16Bits;

// ---- kernels ---------------------------------------------------------------------------
/**
 * out[i] = a[i] (op) b[i] for i < out.length; `finalDivisor` > 0 applies the average's
 * division (floats: multiply by 1/n; integers: truncate the wrapped sum / n).
 * `out` may alias `a` or `b`.
 */
export function reduceInto(
  dtype: Dtype,
  op: ReduceOp,
  out: TypedData,
  a: TypedData,
  b: TypedData,
  finalDivisor = 0,
): void {
  const n = out.length;
  const isMax = op === 'max';
  switch (dtype) {
    case 'f32': {
      const o = out as Float32Array,
        x = a as Float32Array,
        y = b as Float32Array;
      if (isMax) for (let i = 0; i < n; i++) o[i] = x[i] > y[i] ? x[i] : y[i];
      else if (finalDivisor > 0) {
        const inv = 1 / finalDivisor;
        for (let i = 0; i < n; i++) o[i] = (x[i] + y[i]) * inv;
      } else for (let i = 0; i < n; i++) o[i] = x[i] + y[i];
      return;
    }
    case 'f16': {
      const t = f16ToF32Table();
      const o = out as Uint16Array,
        x = a as Uint16Array,
        y = b as Uint16Array;
      if (isMax) for (let i = 0; i < n; i++) o[i] = t[x[i]] >= t[y[i]] ? x[i] : y[i];
      else {
        const inv = finalDivisor > 0 ? 1 / finalDivisor : 1;
        // Round the sum to f16 before scaling, as a half accumulator would.
        if (finalDivisor > 0) for (let i = 0; i < n; i++) o[i] = f32ToF16(t[f32ToF16(t[x[i]] + t[y[i]])] * inv);
        else for (let i = 0; i < n; i++) o[i] = f32ToF16(t[x[i]] + t[y[i]]);
      }
      return;
    }
    case 'int8': {
      const o = out as Int8Array,
        x = a as Int8Array,
        y = b as Int8Array;
      if (isMax) for (let i = 0; i < n; i++) o[i] = x[i] > y[i] ? x[i] : y[i];
      else if (finalDivisor > 0)
        for (let i = 0; i < n; i++) o[i] = Math.trunc((((x[i] + y[i]) << 24) >> 24) / finalDivisor);
      else for (let i = 0; i < n; i++) o[i] = x[i] + y[i];
      return;
    }
    case 'uint8': {
      const o = out as Uint8Array,
        x = a as Uint8Array,
        y = b as Uint8Array;
      if (isMax) for (let i = 0; i < n; i++) o[i] = x[i] > y[i] ? x[i] : y[i];
      else if (finalDivisor > 0) for (let i = 0; i < n; i++) o[i] = Math.trunc(((x[i] + y[i]) & 255) / finalDivisor);
      else for (let i = 0; i < n; i++) o[i] = x[i] + y[i];
      return;
    }
  }
}

/** Applies the average's division in place (used where no reduction step is left, n = 1). */
export function divideInPlace(dtype: Dtype, data: TypedData, divisor: number): void {
  if (divisor === 1) return;
  const n = data.length;
  if (dtype === 'f32') {
    const d = data as Float32Array,
      inv = 1 / divisor;
    for (let i = 0; i < n; i++) d[i] *= inv;
  } else if (dtype === 'f16') {
    const t = f16ToF32Table(),
      d = data as Uint16Array,
      inv = 1 / divisor;
    for (let i = 0; i < n; i++) d[i] = f32ToF16(t[d[i]] * inv);
  } else {
    for (let i = 0; i < n; i++) data[i] = Math.trunc(data[i] / divisor);
  }
}
