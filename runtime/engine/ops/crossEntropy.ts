/**
 * Softmax cross-entropy over rows of logits with per-row weights:
 *   loss = Σ_r w_r · (logsumexp(x_r) − x_r[label_r]),  rows with label < 0 are skipped.
 * The weights carry the averaging (1/number of counted rows), so masked tasks (only the
 * answer tokens count) and plain classification share one op.
 */
import { UniformWriter, grid1d } from '../context';
import type { Tensor } from '../tensor';
import { Graph, INDEX_1D, spanName } from './graph';
import { encodeReduce } from './reduce';

const CE_FWD_WGSL = `struct U { rows: u32, classes: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> L: array<i32>;
@group(0) @binding(3) var<storage, read> W: array<f32>;
@group(0) @binding(4) var<storage, read_write> LSE: array<f32>;
@group(0) @binding(5) var<storage, read_write> RL: array<f32>;
${INDEX_1D}
  if (i >= u.rows) { return; }
  let base = i * u.classes;
  var m = X[base];
  for (var c = 1u; c < u.classes; c++) { m = max(m, X[base + c]); }
  var s = 0.0;
  for (var c = 0u; c < u.classes; c++) { s += exp(X[base + c] - m); }
  let lse = m + log(s);
  LSE[i] = lse;
  let label = L[i];
  if (label < 0) { RL[i] = 0.0; } else { RL[i] = W[i] * (lse - X[base + u32(label)]); }
}`;

const CE_BWD_WGSL = (acc: boolean) => `struct U { rows: u32, classes: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> L: array<i32>;
@group(0) @binding(3) var<storage, read> W: array<f32>;
@group(0) @binding(4) var<storage, read> LSE: array<f32>;
@group(0) @binding(5) var<storage, read> DY: array<f32>;
@group(0) @binding(6) var<storage, read_write> DX: array<f32>;
${INDEX_1D}
  if (i >= u.rows * u.classes) { return; }
  let r = i / u.classes;
  let c = i % u.classes;
  let label = L[r];
  var v = 0.0;
  if (label >= 0) {
    let p = exp(X[i] - LSE[r]);
    v = DY[0] * W[r] * (p - select(0.0, 1.0, u32(label) == c));
  }
  ${acc ? 'DX[i] = DX[i] + v;' : 'DX[i] = v;'}
}`;

/** Labels are an i32 tensor [rows], weights f32 [rows]; returns a 1-element loss. */
export function softmaxCrossEntropy(g: Graph, logits: Tensor, labels: Tensor, weights: Tensor): Tensor {
  const { ctx, tape } = g;
  const classes = logits.shape[logits.shape.length - 1];
  const rows = logits.size / classes;
  if (labels.size !== rows || weights.size !== rows)
    throw new Error(`cross-entropy: ${rows} rows of logits but ${labels.size} labels and ${weights.size} weights`);
  const lse = tape.keep(ctx.tensor([rows]));
  const rowLoss = ctx.tensor([rows]);
  const loss = ctx.tensor([1]);
  const uniform = new UniformWriter().u(rows, classes).build();
  const dims = `${rows}x${classes}`;
  ctx.dispatch({
    name: spanName(ctx, 'cross_entropy', dims),
    pipeline: ctx.pipeline('ce:fwd', CE_FWD_WGSL),
    buffers: [logits.binding(), labels.binding(), weights.binding(), lse.binding(), rowLoss.binding()],
    uniform,
    workgroups: grid1d(Math.ceil(rows / 256)),
    flops: rows * classes * 4,
    bytes: logits.size * 4,
  });
  encodeReduce(ctx, rowLoss.binding(), rows, loss.binding(), { label: 'sum' });
  ctx.release(rowLoss);
  tape.record({
    name: 'cross_entropy',
    inputs: [logits],
    output: loss,
    backward(dy, sink) {
      const t = sink.target(logits);
      if (!t) return;
      ctx.dispatch({
        name: spanName(ctx, 'cross_entropy', dims),
        pipeline: ctx.pipeline(`ce:bwd:${t.accumulate}`, CE_BWD_WGSL(t.accumulate)),
        buffers: [
          logits.binding(),
          labels.binding(),
          weights.binding(),
          lse.binding(),
          dy.binding(),
          t.tensor.binding(),
        ],
        uniform,
        workgroups: grid1d(Math.ceil(logits.size / 256)),
        flops: logits.size * 5,
        bytes: logits.size * 8,
      });
    },
  });
  return loss;
}
