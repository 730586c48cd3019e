/**
 * Layer norm over the last dim: y = (x − mean)·rstd·γ + β, rstd = 1/√(var + eps).
 * Forward keeps mean and rstd per row for backward:
 *   dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)),  dx̂ = dy·γ,
 *   dγ = Σ_rows dy·x̂,  dβ = Σ_rows dy.
 */
import { UniformWriter, grid1d } from '../context';
import { Tensor, shapeStr } from '../tensor';
import { Graph, INDEX_1D, spanName } from './graph';

const EPS = 1e-5;

const LN_FWD_WGSL = `struct U { rows: u32, d: u32, eps: f32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read> Bt: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;
@group(0) @binding(5) var<storage, read_write> STATS: array<f32>;
${INDEX_1D}
  if (i >= u.rows) { return; }
  let base = i * u.d;
  var s = 0.0;
  for (var c = 0u; c < u.d; c++) { s += X[base + c]; }
  let mean = s / f32(u.d);
  var v = 0.0;
  for (var c = 0u; c < u.d; c++) { let e = X[base + c] - mean; v += e * e; }
  let rstd = inverseSqrt(v / f32(u.d) + u.eps);
  STATS[2u * i] = mean;
  STATS[2u * i + 1u] = rstd;
  for (var c = 0u; c < u.d; c++) { Y[base + c] = (X[base + c] - mean) * rstd * G[c] + Bt[c]; }
}`;

const LN_DX_WGSL = (acc: boolean) => `struct U { rows: u32, d: u32, eps: f32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read> STATS: array<f32>;
@group(0) @binding(4) var<storage, read> DY: array<f32>;
@group(0) @binding(5) var<storage, read_write> DX: array<f32>;
${INDEX_1D}
  if (i >= u.rows) { return; }
  let base = i * u.d;
  let mean = STATS[2u * i];
  let rstd = STATS[2u * i + 1u];
  var m1 = 0.0;
  var m2 = 0.0;
  for (var c = 0u; c < u.d; c++) {
    let xh = (X[base + c] - mean) * rstd;
    let dxh = DY[base + c] * G[c];
    m1 += dxh;
    m2 += dxh * xh;
  }
  m1 = m1 / f32(u.d);
  m2 = m2 / f32(u.d);
  for (var c = 0u; c < u.d; c++) {
    let xh = (X[base + c] - mean) * rstd;
    let v = rstd * (DY[base + c] * G[c] - m1 - xh * m2);
    ${acc ? 'DX[base + c] = DX[base + c] + v;' : 'DX[base + c] = v;'}
  }
}`;

/** One thread per column: dγ = Σ_rows dy·x̂. */
const LN_DGAMMA_WGSL = (acc: boolean) => `struct U { rows: u32, d: u32, eps: f32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> STATS: array<f32>;
@group(0) @binding(3) var<storage, read> DY: array<f32>;
@group(0) @binding(4) var<storage, read_write> DP: array<f32>;
${INDEX_1D}
  if (i >= u.d) { return; }
  var s = 0.0;
  for (var r = 0u; r < u.rows; r++) {
    s += DY[r * u.d + i] * (X[r * u.d + i] - STATS[2u * r]) * STATS[2u * r + 1u];
  }
  ${acc ? 'DP[i] = DP[i] + s;' : 'DP[i] = s;'}
}`;

/** One thread per column: dβ = Σ_rows dy. */
const LN_DBETA_WGSL = (acc: boolean) => `struct U { rows: u32, d: u32, eps: f32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> DY: array<f32>;
@group(0) @binding(2) var<storage, read_write> DP: array<f32>;
${INDEX_1D}
  if (i >= u.d) { return; }
  var s = 0.0;
  for (var r = 0u; r < u.rows; r++) { s += DY[r * u.d + i]; }
  ${acc ? 'DP[i] = DP[i] + s;' : 'DP[i] = s;'}
}`;

export function layerNorm(g: Graph, x: Tensor, gamma: Tensor, beta: Tensor): Tensor {
  const { ctx, tape } = g;
  const d = x.shape[x.shape.length - 1];
  if (gamma.size !== d || beta.size !== d)
    throw new Error(`layerNorm: x is ${shapeStr(x.shape)} but γ has ${gamma.size} and β ${beta.size} elements`);
  const rows = x.size / d;
  const y = ctx.tensor(x.shape);
  const stats = tape.keep(ctx.tensor([rows, 2]));
  const uniform = new UniformWriter().u(rows, d).f(EPS).build();
  const dims = `${rows}x${d}`;
  ctx.dispatch({
    name: spanName(ctx, 'layer_norm', dims),
    pipeline: ctx.pipeline('ln:fwd', LN_FWD_WGSL),
    buffers: [x.binding(), gamma.binding(), beta.binding(), y.binding(), stats.binding()],
    uniform,
    workgroups: grid1d(Math.ceil(rows / 256)),
    flops: x.size * 8,
    bytes: x.size * 12,
  });
  tape.record({
    name: 'layer_norm',
    inputs: [x, gamma, beta],
    output: y,
    backward(dy, sink) {
      const dx = sink.target(x);
      if (dx) {
        ctx.dispatch({
          name: spanName(ctx, 'layer_norm.dx', dims),
          pipeline: ctx.pipeline(`ln:dx:${dx.accumulate}`, LN_DX_WGSL(dx.accumulate)),
          buffers: [x.binding(), gamma.binding(), stats.binding(), dy.binding(), dx.tensor.binding()],
          uniform,
          workgroups: grid1d(Math.ceil(rows / 256)),
          flops: x.size * 14,
          bytes: x.size * 16,
        });
      }
      for (const [which, p] of [
        [0, gamma],
        [1, beta],
      ] as const) {
        const t = sink.target(p);
        if (!t) continue;
        ctx.dispatch({
          name: spanName(ctx, which === 0 ? 'layer_norm.dgamma' : 'layer_norm.dbeta', dims),
          pipeline:
            which === 0
              ? ctx.pipeline(`ln:dgamma:${t.accumulate}`, LN_DGAMMA_WGSL(t.accumulate))
              : ctx.pipeline(`ln:dbeta:${t.accumulate}`, LN_DBETA_WGSL(t.accumulate)),
          buffers:
            which === 0
              ? [x.binding(), stats.binding(), dy.binding(), t.tensor.binding()]
              : [dy.binding(), t.tensor.binding()],
          uniform,
          workgroups: grid1d(Math.ceil(d / 256)),
          flops: x.size * (which === 0 ? 4 : 1),
          bytes: x.size * (which === 0 ? 8 : 4),
        });
      }
    },
  });
  return y;
}
