/**
 * The world's shared WebAssembly memory (every rank's registered arena lives in it, so
 * one rank can read another's buffer directly, as with CUDA IPC / NVLink P2P) and the
 * SIMD kernels that reduce within it. The kernels are a tiny hand-assembled module
 * (f32x4 / i8x16 add and max over 16-byte lanes); callers do the sub-16-byte tails.
 */

export interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
}
interface WasmApi {
  Memory: new (d: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB: wasm32's limit

/** A shared memory of at least `bytes` (fixed size; shared memories never detach). */
export function createSharedMemory(bytes: number): WasmMemory {
  const pages = Math.max(1, Math.ceil(bytes / PAGE));
  if (pages > MAX_PAGES)
    throw new Error(`registered arenas need ${bytes} bytes in all, over WebAssembly's 4 GiB; lower maxBytes`);
  try {
    return new WA.Memory({ initial: pages, maximum: pages, shared: true });
  } catch (e) {
    // V8 reserves a shared memory's whole address range up front: under a tight
    // address-space or memory limit (ulimit -v, a container) this is where it shows.
    throw new Error(
      `could not allocate ${(bytes / 2 ** 20).toFixed(0)} MiB of shared memory for the ranks' communication (${(e as Error).message}); ` +
        `free memory, raise the process's address-space limit (ulimit -v), or lower worldSize or the model size`,
      { cause: e },
    );
  }
}

/** (dst, a, b, bytes) → void; bytes must be a multiple of 16. */
export type SimdKernel = (dst: number, a: number, b: number, bytes: number) => void;
export interface SimdKernels {
  addF32: SimdKernel;
  maxF32: SimdKernel;
  addI8: SimdKernel;
  maxI8: SimdKernel;
  maxU8: SimdKernel;
}

// ---- a minimal assembler --------------------------------------------------------------
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}
const str = (s: string) => [...uleb(s.length), ...Buffer.from(s, 'utf8')];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];

const LOCAL_GET = 0x20,
  LOCAL_SET = 0x21,
  LOCAL_TEE = 0x22,
  I32_CONST = 0x41,
  I32_ADD = 0x6a,
  I32_LT_U = 0x49,
  I32_EQZ = 0x45;
const BR_IF = 0x0d,
  LOOP = 0x03,
  END = 0x0b,
  VOID = 0x40,
  SIMD = 0xfd;
const V128_LOAD = [SIMD, ...uleb(0), 4, 0]; // align 2^4, offset 0
const V128_STORE = [SIMD, ...uleb(11), 4, 0];

/** Body of f(dst, a, b, n): for (end = dst + n; dst < end; dst += 16, a += 16, b += 16) *dst = op(*a, *b). */
function binopBody(op: number): number[] {
  const [DST, A, B, N, ENDL] = [0, 1, 2, 3, 4];
  const bump = (l: number) => [LOCAL_GET, l, I32_CONST, ...sleb(16), I32_ADD];
  const code = [
    LOCAL_GET,
    N,
    I32_EQZ,
    BR_IF,
    0,
    LOCAL_GET,
    DST,
    LOCAL_GET,
    N,
    I32_ADD,
    LOCAL_SET,
    ENDL,
    LOOP,
    VOID,
    LOCAL_GET,
    DST,
    LOCAL_GET,
    A,
    ...V128_LOAD,
    LOCAL_GET,
    B,
    ...V128_LOAD,
    SIMD,
    ...uleb(op),
    ...V128_STORE,
    ...bump(A),
    LOCAL_SET,
    A,
    ...bump(B),
    LOCAL_SET,
    B,
    ...bump(DST),
    LOCAL_TEE,
    DST,
    LOCAL_GET,
    ENDL,
    I32_LT_U,
    BR_IF,
    0,
    END,
    END,
  ];
  const locals = [...uleb(1), ...uleb(1), 0x7f]; // one i32 local
  const body = [...locals, ...code];
  return [...uleb(body.length), ...body];
}

const OPS: [keyof SimdKernels, number][] = [
  ['addF32', 228], // f32x4.add
  ['maxF32', 233], // f32x4.max
  ['addI8', 110], // i8x16.add (wraps, like NCCL's int8/uint8 sums)
  ['maxI8', 120], // i8x16.max_s
  ['maxU8', 121], // i8x16.max_u
];

function moduleBytes(): Uint8Array {
  const I32 = 0x7f;
  const type = section(1, vec([[0x60, ...uleb(4), I32, I32, I32, I32, ...uleb(0)]]));
  const imp = section(2, vec([[...str('e'), ...str('m'), 0x02, 0x03, ...uleb(1), ...uleb(MAX_PAGES)]]));
  const func = section(3, vec(OPS.map(() => uleb(0))));
  const exp = section(7, vec(OPS.map(([name], i) => [...str(name), 0x00, ...uleb(i)])));
  const code = section(10, vec(OPS.map(([, op]) => binopBody(op))));
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...type, ...imp, ...func, ...exp, ...code]);
}

let compiled: object | undefined;
let unsupported = false;

/** The SIMD kernels bound to `memory`, or undefined where WebAssembly SIMD is unavailable. */
export function simdKernels(memory: WasmMemory): SimdKernels | undefined {
  if (unsupported) return undefined;
  try {
    compiled ??= new WA.Module(moduleBytes());
    const inst = new WA.Instance(compiled, { e: { m: memory } });
    return inst.exports as unknown as SimdKernels;
  } catch {
    unsupported = true;
    return undefined;
  }
}
