/**
 * Matmul kernels: C[M,N] (=|+=) alpha · op(A)[M,K] · op(B)[K,N], batched over z.
 * A is stored [M,K] ([K,M] when transA), B [K,N] ([N,K] when transB), all row-major.
 *
 * Variants differ in how a thread's outputs are blocked and how operands are loaded;
 * which one wins depends on the adapter (lavapipe runs invocations as SIMD lanes of a CPU
 * core, where workgroup memory buys nothing; real GPUs want it) and on the shape.
 */

export interface MatmulShape {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
}

export interface MatmulVariant {
  id: string;
  /** Output tile per workgroup. */
  tileM: number;
  tileN: number;
  /** Whether it can run this shape (alignment needs of vector loads). */
  supports(s: MatmulShape): boolean;
  code(s: MatmulShape, accumulate: boolean, dtype: 'f32' | 'f16'): string;
}

const UNIFORM = `struct U { M: u32, N: u32, K: u32, sA: u32, sB: u32, sC: u32, alpha: f32, pad: u32 }
@group(0) @binding(0) var<uniform> u: U;`;

function bindings(dtype: 'f32' | 'f16', vecA = 1, vecB = 1, vecC = 1): string {
  const t = (n: number) => (n === 1 ? dtype : `vec${n}<${dtype}>`);
  return `${dtype === 'f16' ? 'enable f16;\n' : ''}${UNIFORM}
@group(0) @binding(1) var<storage, read> A: array<${t(vecA)}>;
@group(0) @binding(2) var<storage, read> B: array<${t(vecB)}>;
@group(0) @binding(3) var<storage, read_write> C: array<${t(vecC)}>;`;
}

/** Writes a 4×4 block held in acc[0..3] (vec4 per row) with bounds checks. */
function storeBlock4x4(acc: boolean, dtype: string): string {
  return `
  for (var i = 0u; i < 4u; i++) {
    let r = r0 + i;
    if (r >= u.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let c = c0 + j;
      if (c >= u.N) { break; }
      let idx = z * u.sC + r * u.N + c;
      let v = ${dtype}(u.alpha * acc[i][j]);
      ${acc ? 'C[idx] = C[idx] + v;' : 'C[idx] = v;'}
    }
  }`;
}

/**
 * Register-blocked 4×4 per thread, scalar loads, no workgroup memory; reads are clamped
 * to the matrix so any shape works and only stores are guarded.
 */
const rb4x4: MatmulVariant = {
  id: 'rb4x4',
  tileM: 32,
  tileN: 32,
  supports: () => true,
  code(s, accumulate, dtype) {
    const aIdx = s.transA ? 'k * u.M + r' : 'r * u.K + k';
    const bIdx = s.transB ? 'c * u.K + k' : 'k * u.N + c';
    return `${bindings(dtype)}
fn la(z: u32, r: u32, k: u32) -> f32 { return f32(A[z * u.sA + ${aIdx}]); }
fn lb(z: u32, k: u32, c: u32) -> f32 { return f32(B[z * u.sB + ${bIdx}]); }
@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let c0 = g.x * 4u;
  let r0 = g.y * 4u;
  let z = g.z;
  if (r0 >= u.M || c0 >= u.N) { return; }
  let rm = u.M - 1u;
  let cm = u.N - 1u;
  let rs = vec4u(r0, min(r0 + 1u, rm), min(r0 + 2u, rm), min(r0 + 3u, rm));
  let cs = vec4u(c0, min(c0 + 1u, cm), min(c0 + 2u, cm), min(c0 + 3u, cm));
  var acc: array<vec4f, 4>;
  for (var k = 0u; k < u.K; k++) {
    let b = vec4f(lb(z, k, cs.x), lb(z, k, cs.y), lb(z, k, cs.z), lb(z, k, cs.w));
    acc[0] += la(z, rs.x, k) * b;
    acc[1] += la(z, rs.y, k) * b;
    acc[2] += la(z, rs.z, k) * b;
    acc[3] += la(z, rs.w, k) * b;
  }${storeBlock4x4(accumulate, dtype)}
}`;
  },
};

export const MATMUL_VARIANTS: MatmulVariant[] = [rb4x4];

export function variantById(id: string): MatmulVariant {
  const v = MATMUL_VARIANTS.find((x) => x.id === id);
  if (!v) throw new Error(`unknown matmul variant '${id}' (known: ${MATMUL_VARIANTS.map((x) => x.id).join(', ')})`);
  return v;
}
