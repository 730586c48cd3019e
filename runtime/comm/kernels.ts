/**
 * Reductions with the fastest kernel that applies: the WebAssembly SIMD kernels when all
 * three arrays live in the world's shared memory (slots and registered buffers do) and
 * the element type has SIMD lanes (f32, int8, uint8), else the scalar JS loops. SIMD
 * covers whole 16-byte vectors; the last few elements and the average's division go
 * through the scalar path.
 */
import { divideInPlace, Dtype, dtypeBytes, ReduceOp, reduceInto, TypedData } from './dtypes';
import { SimdKernel, simdKernels, SimdKernels, WasmMemory } from './wasm';

export class Reducer {
  private readonly simd: SimdKernels | undefined;
  private readonly mem: SharedArrayBuffer;

  constructor(memory: WasmMemory, useSimd = true) {
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
    if (!fn || out.buffer !== m || a.buffer !== m || b.buffer !== m) {
      reduceInto(dtype, op, out, a, b, divisor);
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
}
