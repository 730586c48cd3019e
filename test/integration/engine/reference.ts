/**
 * Float64 CPU references of the engine's ops, and their gradients by central finite
 * differences in float64 (step 1e-6: truncation ~1e-12, far below the 1e-4 tolerance).
 */
import { Rng } from '../../../runtime/engine/random';

export type F = Float64Array;

/** Normal samples rounded to f32, so GPU and reference see the same inputs. */
export function randn(n: number, rng: Rng, scale = 1): F {
  return Float64Array.from({ length: n }, () => Math.fround(rng.normal() * scale));
}

export function matmulRef(a: F, b: F, M: number, N: number, K: number): F {
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let k = 0; k < K; k++) {
      const av = a[i * K + k];
      for (let j = 0; j < N; j++) c[i * N + j] += av * b[k * N + j];
    }
  return c;
}

export function transpose(x: F, rows: number, cols: number): F {
  const y = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) y[c * rows + r] = x[r * cols + c];
  return y;
}

/** Broadcast binary op (right-aligned shapes). */
export function binaryRef(op: 'add' | 'mul', a: F, sa: number[], b: F, sb: number[]): { y: F; shape: number[] } {
  const n = Math.max(sa.length, sb.length);
  const pa = [...Array(n - sa.length).fill(1), ...sa];
  const pb = [...Array(n - sb.length).fill(1), ...sb];
  const shape = pa.map((d, i) => Math.max(d, pb[i]));
  const size = shape.reduce((x, y) => x * y, 1);
  const y = new Float64Array(size);
  const idx = (p: number[], c: number[]) => c.reduce((acc, ci, d) => acc * p[d] + (p[d] === 1 ? 0 : ci), 0);
  for (let i = 0; i < size; i++) {
    const c: number[] = [];
    let t = i;
    for (let d = n - 1; d >= 0; d--) {
      c[d] = t % shape[d];
      t = Math.floor(t / shape[d]);
    }
    const av = a[idx(pa, c)];
    const bv = b[idx(pb, c)];
    y[i] = op === 'add' ? av + bv : av * bv;
  }
  return { y, shape };
}

export const reluRef = (x: F): F => x.map((v) => Math.max(v, 0));
export const geluRef = (x: F): F =>
  x.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))));

export function softmaxRef(x: F, cols: number): F {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / cols; r++) {
    let m = -Infinity;
    for (let c = 0; c < cols; c++) m = Math.max(m, x[r * cols + c]);
    let z = 0;
    for (let c = 0; c < cols; c++) z += Math.exp(x[r * cols + c] - m);
    for (let c = 0; c < cols; c++) y[r * cols + c] = Math.exp(x[r * cols + c] - m) / z;
  }
  return y;
}

export function crossEntropyRef(x: F, cols: number, labels: number[], weights: number[]): F {
  const p = softmaxRef(x, cols);
  let loss = 0;
  labels.forEach((l, r) => {
    if (l >= 0) loss -= weights[r] * Math.log(p[r * cols + l]);
  });
  return Float64Array.of(loss);
}

export function layerNormRef(x: F, g: F, b: F, d: number): F {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / d; r++) {
    let m = 0;
    for (let c = 0; c < d; c++) m += x[r * d + c];
    m /= d;
    let v = 0;
    for (let c = 0; c < d; c++) v += (x[r * d + c] - m) ** 2;
    const rstd = 1 / Math.sqrt(v / d + 1e-5);
    for (let c = 0; c < d; c++) y[r * d + c] = (x[r * d + c] - m) * rstd * g[c] + b[c];
  }
  return y;
}

export function embeddingRef(ids: number[], tok: F, pos: F, batch: number, seq: number, d: number): F {
  const y = new Float64Array(batch * seq * d);
  for (let n = 0; n < batch * seq; n++)
    for (let c = 0; c < d; c++) y[n * d + c] = tok[ids[n] * d + c] + pos[(n % seq) * d + c];
  return y;
}

export function attentionRef(qkv: F, batch: number, seq: number, heads: number, d: number): F {
  const dh = d / heads;
  const y = new Float64Array(batch * seq * d);
  const at = (b: number, t: number, part: number, h: number, c: number) =>
    qkv[(b * seq + t) * 3 * d + part * d + h * dh + c];
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < seq; i++) {
        const s: number[] = [];
        for (let j = 0; j <= i; j++) {
          let dot = 0;
          for (let c = 0; c < dh; c++) dot += at(b, i, 0, h, c) * at(b, j, 1, h, c);
          s.push(dot / Math.sqrt(dh));
        }
        const m = Math.max(...s);
        const e = s.map((v) => Math.exp(v - m));
        const z = e.reduce((p, q) => p + q, 0);
        for (let c = 0; c < dh; c++) {
          let o = 0;
          for (let j = 0; j <= i; j++) o += (e[j] / z) * at(b, j, 2, h, c);
          y[(b * seq + i) * d + h * dh + c] = o;
        }
      }
  return y;
}

/** ∂(Σ dy·f(x))/∂x by central differences in float64. */
export function numericGrad(f: (x: F) => F, x: F, dy: ArrayLike<number>, h = 1e-6): F {
  const g = new Float64Array(x.length);
  const xs = Float64Array.from(x);
  for (let i = 0; i < x.length; i++) {
    const orig = xs[i];
    xs[i] = orig + h;
    const yp = f(xs);
    xs[i] = orig - h;
    const ym = f(xs);
    xs[i] = orig;
    let s = 0;
    for (let k = 0; k < yp.length; k++) s += dy[k] * (yp[k] - ym[k]);
    g[i] = s / (2 * h);
  }
  return g;
}
