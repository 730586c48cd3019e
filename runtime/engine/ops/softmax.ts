/**
 * Row softmax over the last dim, y = exp(x − max)/Σ exp(x − max), with backward
 * dx = y·(dy − Σ_c dy_c·y_c). (Attention and cross-entropy fuse their own softmax; this
 * op is for models that need probabilities as a tensor.)
 */
import { UniformWriter, grid1d } from '../context';
import { Tensor, shapeStr } from '../tensor';
import { Graph, INDEX_1D, spanName } from './graph';

const FWD_WGSL = `struct U { rows: u32, cols: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
${INDEX_1D}
  if (i >= u.rows) { return; }
  let base = i * u.cols;
  var m = X[base];
  for (var c = 1u; c < u.cols; c++) { m = max(m, X[base + c]); }
  var z = 0.0;
  for (var c = 0u; c < u.cols; c++) { let e = exp(X[base + c] - m); Y[base + c] = e; z += e; }
  let inv = 1.0 / z;
  for (var c = 0u; c < u.cols; c++) { Y[base + c] = Y[base + c] * inv; }
}`;

const BWD_WGSL = (acc: boolean) => `struct U { rows: u32, cols: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> Y: array<f32>;
@group(0) @binding(2) var<storage, read> DY: array<f32>;
@group(0) @binding(3) var<storage, read_write> DX: array<f32>;
${INDEX_1D}
  if (i >= u.rows) { return; }
  let base = i * u.cols;
  var dot = 0.0;
  for (var c = 0u; c < u.cols; c++) { dot += DY[base + c] * Y[base + c]; }
  for (var c = 0u; c < u.cols; c++) {
    let v = Y[base + c] * (DY[base + c] - dot);
    ${acc ? 'DX[base + c] = DX[base + c] + v;' : 'DX[base + c] = v;'}
  }
}`;

export function softmax(g: Graph, x: Tensor): Tensor {
  const { ctx, tape } = g;
  const cols = x.shape[x.shape.length - 1];
  const rows = x.size / cols;
  const y = ctx.tensor(x.shape);
  const uniform = new UniformWriter().u(rows, cols).build();
  ctx.dispatch({
    name: spanName(ctx, 'softmax', shapeStr(x.shape)),
    pipeline: ctx.pipeline('softmax:fwd', FWD_WGSL),
    buffers: [x.binding(), y.binding()],
    uniform,
    workgroups: grid1d(Math.ceil(rows / 256)),
    flops: x.size * 5,
    bytes: x.size * 12,
  });
  tape.record({
    name: 'softmax',
    inputs: [x],
    output: y,
    backward(dy, sink) {
      const t = sink.target(x);
      if (!t) return;
      ctx.dispatch({
        name: spanName(ctx, 'softmax', shapeStr(x.shape)),
        pipeline: ctx.pipeline(`softmax:bwd:${t.accumulate}`, BWD_WGSL(t.accumulate)),
        buffers: [y.binding(), dy.binding(), t.tensor.binding()],
        uniform,
        workgroups: grid1d(Math.ceil(rows / 256)),
        flops: x.size * 4,
        bytes: x.size * 12,
      });
    },
  });
  return y;
}
