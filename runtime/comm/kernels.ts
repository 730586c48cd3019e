/**
 * Reductions with the fastest kernel that applies: the WebAssembly SIMD kernels when all
 * three arrays live in the world's shared memory (slots and registered buffers do) and
 * the element type has SIMD lanes (f32, int8, uint8), else the scalar JS loops. SIMD
 * covers whole 16-byte vectors; the last few elements and the average's division go
 * through the scalar path.
 */
import { divideInPlace, Dtype, dtypeBytes, ReduceOp, reduceInto, TypedData, viewOf } from './dtypes';
import { SimdKernel, simdKernels, SimdKernels, WasmMemory } from './wasm';

export class Reducer {
  private readonly simd: SimdKernels | undefined;
  private readonly mem: SharedArrayBuffer;

  /**
   * `scratchOffset`/`scratchBytes`: two equal halves of this rank's scratch in `memory`,
   * where operands that live in the JS heap are copied for the SIMD kernels (a memcpy
   * plus a SIMD pass beats the scalar loop by ~2x).
   */
  constructor(
    memory: WasmMemory,
    private readonly scratchOffset = -1,
    private readonly scratchBytes = 0,
    useSimd = true,
  ) {
    this.mem = memory.buffer;
    this.simd = useSimd ? simdKernels(memory) : undefined;
  }

  get usesSimd(): boolean {
    return this.simd !== undefined;
  }

  private kernel(dtype: Dtype, op: ReduceOp): SimdKernel | undefined {
    const k = this.simd;
    if (!k) return undefined;
    if (dtype === 'f32') return op === 'max' ? k.maxF32 : k.addF32;
    if (dtype === 'int8') return op === 'max' ? k.maxI8 : k.addI8;
    if (dtype === 'uint8') return op === 'max' ? k.maxU8 : k.addI8;
    return undefined;
  }

  /** out = a (op) b, dividing by `divisor` if > 0 (the average's last step). */
  reduce(dtype: Dtype, op: ReduceOp, out: TypedData, a: TypedData, b: TypedData, divisor = 0): void {
    const fn = this.kernel(dtype, op);
    const m = this.mem;
    if (!fn) {
      reduceInto(dtype, op, out, a, b, divisor);
      return;
    }
    if (out.buffer !== m || a.buffer !== m || b.buffer !== m) {
      this.staged(fn, dtype, op, out, a, b, divisor);
      return;
    }
    const bytes = out.byteLength;
    const vecBytes = bytes & ~15;
    if (vecBytes > 0) fn(out.byteOffset, a.byteOffset, b.byteOffset, vecBytes);
    if (vecBytes < bytes) {
      const from = vecBytes / dtypeBytes(dtype);
      reduceInto(dtype, op === 'avg' ? 'sum' : op, out.subarray(from), a.subarray(from), b.subarray(from), 0);
    }
    if (divisor > 0) divideInPlace(dtype, out, divisor);
  }

  /** Same as reduce(), with heap operands staged through the scratch, piece by piece. */
  private staged(
    fn: SimdKernel,
    dtype: Dtype,
    op: ReduceOp,
    out: TypedData,
    a: TypedData,
    b: TypedData,
    divisor: number,
  ): void {
    const m = this.mem;
    const es = dtypeBytes(dtype);
    const half = Math.floor(this.scratchBytes / 2 / 64) * 64;
    if (this.scratchOffset < 0 || half < 64) {
      reduceInto(dtype, op, out, a, b, divisor);
      return;
    }
    const piece = half / es;
    const s1 = viewOf(dtype, m, this.scratchOffset, piece);
    const s2 = viewOf(dtype, m, this.scratchOffset + half, piece);
    const inA = a.buffer === m,
      inB = b.buffer === m,
      inOut = out.buffer === m;
    for (let lo = 0; lo < out.length; lo += piece) {
      const hi = Math.min(out.length, lo + piece);
      const len = hi - lo;
      let pa = a.subarray(lo, hi),
        pb = b.subarray(lo, hi);
      if (!inA) (pa = s1.subarray(0, len)).set(a.subarray(lo, hi) as never);
      if (!inB) (pb = s2.subarray(0, len)).set(b.subarray(lo, hi) as never);
      const po = inOut ? out.subarray(lo, hi) : s1.subarray(0, len);
      this.reduce(dtype, op, po, pa, pb, divisor);
      if (!inOut) out.subarray(lo, hi).set(po as never);
    }
  }
}
