/**
 * Matmul kernels: C[M,N] (=|+=) alpha · op(A)[M,K] · op(B)[K,N], batched over z.
 * A is stored [M,K] ([K,M] when transA), B [K,N] ([N,K] when transB), all row-major.
 * A and B may be f16 (where the adapter has shader-f16); accumulation and C are f32.
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
  /** Batch items (default 1). */
  batch?: number;
}

export interface MatmulVariant {
  id: string;
  /** Output tile per workgroup. */
  tileM: number;
  tileN: number;
  /** Loads and stores vec4: batch strides must then be multiples of 4 too. */
  vec4: boolean;
  /** Whether it can run this shape (alignment needs of vector loads). */
  supports(s: MatmulShape): boolean;
  /**
   * Operands are first packed into textures (see TEXTURE_PACKED): the main kernel then
   * binds two sampled textures and C instead of three buffers.
   */
  textures?: boolean;
  /** With `bias`, C = alpha·op(A)·op(B) + bias[col] (a fused epilogue; bias is f32). */
  code(s: MatmulShape, accumulate: boolean, dtype: 'f32' | 'f16', bias?: boolean): string;
}

const UNIFORM = `struct U { M: u32, N: u32, K: u32, sA: u32, sB: u32, sC: u32, alpha: f32, pad: u32 }
@group(0) @binding(0) var<uniform> u: U;`;

/** A and B in `dtype`; C is always f32 (f16 inputs accumulate and store in f32). */
function bindings(dtype: 'f32' | 'f16', vecA = 1, vecB = 1, vecC = 1, bias = false): string {
  const t = (n: number, d: string) => (n === 1 ? d : `vec${n}<${d}>`);
  return `${dtype === 'f16' ? 'enable f16;\n' : ''}${UNIFORM}
@group(0) @binding(1) var<storage, read> A: array<${t(vecA, dtype)}>;
@group(0) @binding(2) var<storage, read> B: array<${t(vecB, dtype)}>;
@group(0) @binding(3) var<storage, read_write> C: array<${t(vecC, 'f32')}>;${bias ? `\n@group(0) @binding(4) var<storage, read> BIAS: array<${t(vecC, 'f32')}>;` : ''}`;
}

/**
 * Stores one f32 of C at `idx` (column `c`): alpha · `value`, plus the bias epilogue,
 * written or accumulated.
 */
function storeScalar(acc: boolean, bias: boolean, value: string): string {
  return `let v = u.alpha * ${value}${bias ? ' + BIAS[c]' : ''};
      ${acc ? 'C[idx] = C[idx] + v;' : 'C[idx] = v;'}`;
}

/** Writes a 4×4 block held in acc[0..3] (vec4 per row) with bounds checks. */
function storeBlock4x4(acc: boolean, bias: boolean): string {
  return `
  for (var i = 0u; i < 4u; i++) {
    let r = r0 + i;
    if (r >= u.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let c = c0 + j;
      if (c >= u.N) { break; }
      let idx = z * u.sC + r * u.N + c;
      ${storeScalar(acc, bias, 'acc[i][j]')}
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
  vec4: false,
  supports: () => true,
  code(s, accumulate, dtype, bias = false) {
    const aIdx = s.transA ? 'k * u.M + r' : 'r * u.K + k';
    const bIdx = s.transB ? 'c * u.K + k' : 'k * u.N + c';
    return `${bindings(dtype, 1, 1, 1, bias)}
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
  }${storeBlock4x4(accumulate, bias)}
}`;
  },
};

/**
 * Register-blocked, vec4 loads and stores, no workgroup memory: each thread computes
 * `rows` × 4 outputs. On lavapipe, where invocations are SIMD lanes of one CPU core and
 * workgroup memory is ordinary memory plus barriers, this is the fastest shape (the
 * operands stay in registers and every load feeds 4–16 FMAs). Needs the dims that are
 * read or written as vec4 to be multiples of 4.
 */
export function vec4Variant(rows: 4 | 8, wgX: number, wgY: number): MatmulVariant {
  return {
    id: `v4r${rows}` + (wgX === 8 && wgY === 8 ? '' : `w${wgX}x${wgY}`),
    tileM: rows * wgY,
    tileN: 4 * wgX,
    vec4: true,
    supports: (s) => s.N % 4 === 0 && (s.transA ? s.M % 4 === 0 : s.K % 4 === 0) && !(s.transA && s.transB),
    code(s, accumulate, dtype, bias = false) {
      const cvt = (e: string) => (dtype === 'f16' ? `vec4f(${e})` : e);
      let body: string;
      if (!s.transA && !s.transB) {
        body = `
  for (var k = 0u; k < u.K; k += 4u) {
    let bb = z * u.sB + k * u.N + c0;
    let b0 = ${cvt('B[bb / 4u]')};
    let b1 = ${cvt('B[(bb + u.N) / 4u]')};
    let b2 = ${cvt('B[(bb + 2u * u.N) / 4u]')};
    let b3 = ${cvt('B[(bb + 3u * u.N) / 4u]')};
    for (var i = 0u; i < ${rows}u; i++) {
      let a = ${cvt('A[(z * u.sA + rs[i] * u.K + k) / 4u]')};
      acc[i] += a.x * b0 + a.y * b1 + a.z * b2 + a.w * b3;
    }
  }`;
      } else if (!s.transA && s.transB) {
        body = `
  let cm = u.N - 1u;
  for (var k = 0u; k < u.K; k += 4u) {
    let bb = z * u.sB + k;
    let b0 = ${cvt('B[(bb + c0 * u.K) / 4u]')};
    let b1 = ${cvt('B[(bb + min(c0 + 1u, cm) * u.K) / 4u]')};
    let b2 = ${cvt('B[(bb + min(c0 + 2u, cm) * u.K) / 4u]')};
    let b3 = ${cvt('B[(bb + min(c0 + 3u, cm) * u.K) / 4u]')};
    for (var i = 0u; i < ${rows}u; i++) {
      let a = ${cvt('A[(z * u.sA + rs[i] * u.K + k) / 4u]')};
      acc[i] += vec4f(dot(a, b0), dot(a, b1), dot(a, b2), dot(a, b3));
    }
  }`;
      } else {
        // A stored [K, M]: a vec4 of A holds 4 consecutive rows at one k.
        body = `
  for (var k = 0u; k < u.K; k++) {
    let b = ${cvt('B[(z * u.sB + k * u.N + c0) / 4u]')};
    for (var q = 0u; q < ${rows / 4}u; q++) {
      let a = ${cvt('A[(z * u.sA + k * u.M + rs[4u * q]) / 4u]')};
      acc[4u * q] += a.x * b;
      acc[4u * q + 1u] += a.y * b;
      acc[4u * q + 2u] += a.z * b;
      acc[4u * q + 3u] += a.w * b;
    }
  }`;
      }
      const rowInit = s.transA
        ? `for (var q = 0u; q < ${rows / 4}u; q++) { rs[4u * q] = min(r0 + 4u * q, u.M - 4u); }`
        : `for (var i = 0u; i < ${rows}u; i++) { rs[i] = min(r0 + i, u.M - 1u); }`;
      return `${bindings(dtype, 4, 4, 4, bias)}
@compute @workgroup_size(${wgX}, ${wgY})
fn main(@builtin(global_invocation_id) g: vec3u) {
  let c0 = g.x * 4u;
  let r0 = g.y * ${rows}u;
  let z = g.z;
  if (r0 >= u.M || c0 >= u.N) { return; }
  var rs: array<u32, ${rows}>;
  ${rowInit}
  var acc: array<vec4f, ${rows}>;${body}
  for (var i = 0u; i < ${rows}u; i++) {
    let r = r0 + i;
    if (r >= u.M) { break; }
    let idx = (z * u.sC + r * u.N + c0) / 4u;
    let v = u.alpha * acc[i]${bias ? ' + BIAS[c0 / 4u]' : ''};
    ${accumulate ? 'C[idx] = C[idx] + v;' : 'C[idx] = v;'}
  }
}`;
    },
  };
}

/**
 * Workgroup-memory tiling in the style of tfjs-backend-webgpu's packed matmul: a 64×64
 * output tile per workgroup of 16×16 threads, 4×4 outputs per thread, operands staged
 * through workgroup memory 16 deep in K. On GPUs with real shared memory this is the
 * classic fast shape; it is also the baseline the benchmark compares against.
 */
const tiled64: MatmulVariant = {
  id: 'tiled64',
  tileM: 64,
  tileN: 64,
  vec4: false,
  supports: () => true,
  code(s, accumulate, dtype, bias = false) {
    const aIdx = s.transA ? 'k * u.M + r' : 'r * u.K + k';
    const bIdx = s.transB ? 'c * u.K + k' : 'k * u.N + c';
    return `${bindings(dtype, 1, 1, 1, bias)}
const TK: u32 = 16u;
var<workgroup> tA: array<array<f32, 16>, 64>;
var<workgroup> tB: array<array<f32, 64>, 16>;
fn la(z: u32, r: u32, k: u32) -> f32 {
  if (r >= u.M || k >= u.K) { return 0.0; }
  return f32(A[z * u.sA + ${aIdx}]);
}
fn lb(z: u32, k: u32, c: u32) -> f32 {
  if (k >= u.K || c >= u.N) { return 0.0; }
  return f32(B[z * u.sB + ${bIdx}]);
}
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let z = wid.z;
  let rowT = wid.y * 64u;
  let colT = wid.x * 64u;
  var acc: array<vec4f, 4>;
  for (var k0 = 0u; k0 < u.K; k0 += TK) {
    // 256 threads stage 64×16 of A and 16×64 of B, 4 elements each.
    for (var e = 0u; e < 4u; e++) {
      let f = li * 4u + e;
      tA[f / 16u][f % 16u] = la(z, rowT + f / 16u, k0 + f % 16u);
      tB[f / 64u][f % 64u] = lb(z, k0 + f / 64u, colT + f % 64u);
    }
    workgroupBarrier();
    for (var k = 0u; k < TK; k++) {
      let b = vec4f(tB[k][lid.x * 4u], tB[k][lid.x * 4u + 1u], tB[k][lid.x * 4u + 2u], tB[k][lid.x * 4u + 3u]);
      for (var i = 0u; i < 4u; i++) { acc[i] += tA[lid.y * 4u + i][k] * b; }
    }
    workgroupBarrier();
  }
  let r0 = rowT + lid.y * 4u;
  let c0 = colT + lid.x * 4u;
  if (r0 >= u.M || c0 >= u.N) { return; }${storeBlock4x4(accumulate, bias)}
}`;
  },
};

/**
 * Rows of C per thread in the texture variant. A side experiment at n = 1024 on a 2-core
 * machine (no packs, 2–6 runs each): 8×8 outputs 11.7–12.9 GFLOP/s, 4×16 12.9, 8×4 8.9–12.0,
 * 16×4 7.8–12.0; 32×4 10.1 (it spills).
 */
export const TEX_ROWS = 8;
/** Texels (4 columns each) of C per thread in the texture variant. */
export const TEX_TEXELS = 2;
/** Textures are at most this wide or high (WebGPU's guaranteed maxTextureDimension2D). */
export const TEX_MAX_DIM = 8192;

/**
 * Texture-packed operands, for software adapters. On lavapipe every load from a storage
 * buffer at a per-invocation address becomes, for each SIMD lane and each component, a
 * bounds check, a branch and a scalar load (read off the JIT's assembly with
 * GALLIVM_DEBUG=asm); `textureLoad` goes through the sampler's vectorised texel fetch
 * instead. So op(A) and op(B) are first packed, transposes and f16 resolved and tails
 * zero-padded, into rgba32float textures (A′: ⌈K/4⌉ texels × M rows; B′: ⌈N/4⌉ texels ×
 * 4⌈K/4⌉ rows; both padded to whole workgroup tiles), and the product reads those:
 * 8 rows × 8 columns per thread. The packs are O(MK + KN) against the product's O(MNK)
 * (~4% at n = 1024) and appear as their own spans (`matmul.pack_a`, `matmul.pack_b`).
 * Batch 1 only; dims up to TEX_MAX_DIM.
 */
const texturePacked: MatmulVariant = {
  id: 'tex8x8',
  tileM: TEX_ROWS * 8,
  tileN: TEX_TEXELS * 4 * 8,
  vec4: false,
  textures: true,
  supports: (s) =>
    (s.batch ?? 1) === 1 &&
    Math.max(s.M, s.K) <= TEX_MAX_DIM &&
    Math.ceil(s.K / 4) <= TEX_MAX_DIM &&
    Math.ceil(s.N / 4) <= TEX_MAX_DIM,
  code(_s, accumulate, _dtype, bias = false) {
    const J = [...Array(TEX_TEXELS).keys()];
    const loadB = J.map((j) =>
      [0, 1, 2, 3].map((q) => `    let b${j}${q} = textureLoad(TB, vec2u(t0 + ${j}u, 4u * k + ${q}u), 0);`).join('\n'),
    ).join('\n');
    const fma = J.map((j) => `      acc${j}[i] += a.x * b${j}0 + a.y * b${j}1 + a.z * b${j}2 + a.w * b${j}3;`).join(
      '\n',
    );
    const store = J.map(
      (j) => `    for (var q = 0u; q < 4u; q++) {
      let c = (t0 + ${j}u) * 4u + q;
      if (c >= u.N) { break; }
      let idx = r * u.N + c;
      ${storeScalar(accumulate, bias, `acc${j}[i][q]`)}
    }`,
    ).join('\n');
    return `${UNIFORM}
@group(0) @binding(1) var TA: texture_2d<f32>;
@group(0) @binding(2) var TB: texture_2d<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;${bias ? '\n@group(0) @binding(4) var<storage, read> BIAS: array<f32>;' : ''}
@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let t0 = g.x * ${TEX_TEXELS}u;
  let r0 = g.y * ${TEX_ROWS}u;
  // No early return for threads past the edge: the textures are padded to whole
  // workgroup tiles, so every read is in bounds, and only stores are guarded (a return
  // would put the whole loop under an execution mask on lavapipe).
${J.map((j) => `  var acc${j}: array<vec4f, ${TEX_ROWS}>;`).join('\n')}
  let k4 = (u.K + 3u) / 4u;
  for (var k = 0u; k < k4; k++) {
${loadB}
    for (var i = 0u; i < ${TEX_ROWS}u; i++) {
      let a = textureLoad(TA, vec2u(k, r0 + i), 0);
${fma}
    }
  }
  for (var i = 0u; i < ${TEX_ROWS}u; i++) {
    let r = r0 + i;
    if (r >= u.M) { break; }
${store}
  }
}`;
  },
};

/**
 * Packs op(A) ('a': rows M, texels ⌈K/4⌉) or op(B) ('b': rows 4⌈K/4⌉, texels ⌈N/4⌉) into an
 * rgba32float storage texture of `rows` × `texels`, zero outside the matrix.
 */
export function texturePackCode(role: 'a' | 'b', s: MatmulShape, dtype: 'f32' | 'f16'): string {
  // Element (row, col) of op(X): A is [M,K] ([K,M] when transA); B is [K,N] ([N,K] when transB).
  const at = (role === 'a' ? s.transA : s.transB) ? 'col * u.rows + row' : 'row * u.cols + col';
  return `${dtype === 'f16' ? 'enable f16;\n' : ''}struct U { rows: u32, cols: u32, texels: u32, height: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> X: array<${dtype}>;
@group(0) @binding(2) var T: texture_storage_2d<rgba32float, write>;
fn el(row: u32, col: u32) -> f32 {
  if (row >= u.rows || col >= u.cols) { return 0.0; }
  return f32(X[${at}]);
}
@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let t = g.x;
  let row = g.y;
  if (t >= u.texels || row >= u.height) { return; }
  let c = 4u * t;
  textureStore(T, vec2u(t, row), vec4f(el(row, c), el(row, c + 1u), el(row, c + 2u), el(row, c + 3u)));
}`;
}

export const MATMUL_VARIANTS: MatmulVariant[] = [
  vec4Variant(4, 8, 8),
  vec4Variant(8, 8, 8),
  vec4Variant(4, 16, 16),
  vec4Variant(8, 16, 8),
  rb4x4,
  tiled64,
  texturePacked,
];

export function variantById(id: string): MatmulVariant {
  const v = MATMUL_VARIANTS.find((x) => x.id === id);
  if (!v) throw new Error(`unknown matmul variant '${id}' (known: ${MATMUL_VARIANTS.map((x) => x.id).join(', ')})`);
  return v;
}
