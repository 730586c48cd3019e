/**
 * Fused causal multi-head self-attention over a packed qkv [B, T, 3·D] (q, k, v side by
 * side, head h in columns h·dh..(h+1)·dh of each): y[b,i] = Σ_{j≤i} P[i,j]·v[j] with
 * P = softmax_j(q_i·k_j / √dh). One thread per (batch, head, query row); the head
 * dimension is a compile-time constant so q and the output row live in registers.
 * Forward keeps P for backward:
 *   dP[i,j] = dy_i·v_j,  dS[i,j] = P[i,j]·(dP[i,j] − Σ_k P[i,k]·dP[i,k]),
 *   dq_i = scale·Σ_j dS[i,j]·k_j,  dk_j = scale·Σ_i dS[i,j]·q_i,  dv_j = Σ_i P[i,j]·dy_i.
 */
import { UniformWriter, grid1d } from '../context';
import { Tensor } from '../tensor';
import { Graph, INDEX_1D, spanName } from './graph';

const UNIFORM = `struct U { batch: u32, seq: u32, heads: u32, d: u32, scale: f32 }
@group(0) @binding(0) var<uniform> u: U;`;

/** Decodes the thread index into (b, h, row) and the base offsets of that head. */
const PROLOGUE = `
  if (i >= u.batch * u.heads * u.seq) { return; }
  let row = i % u.seq;
  let bh = i / u.seq;
  let h = bh % u.heads;
  let b = bh / u.heads;
  let d3 = 3u * u.d;
  let rowBase = b * u.seq;
  let qOff = h * DH;
  let kOff = u.d + h * DH;
  let vOff = 2u * u.d + h * DH;
  let pBase = bh * u.seq * u.seq + row * u.seq;`;

const FWD_WGSL = (dh: number) => `${UNIFORM}
const DH: u32 = ${dh}u;
@group(0) @binding(1) var<storage, read> QKV: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<storage, read_write> P: array<f32>;
${INDEX_1D}${PROLOGUE}
  var q: array<f32, DH>;
  for (var c = 0u; c < DH; c++) { q[c] = QKV[(rowBase + row) * d3 + qOff + c]; }
  var m = -3.0e38;
  for (var j = 0u; j <= row; j++) {
    var s = 0.0;
    for (var c = 0u; c < DH; c++) { s += q[c] * QKV[(rowBase + j) * d3 + kOff + c]; }
    s = s * u.scale;
    P[pBase + j] = s;
    m = max(m, s);
  }
  var z = 0.0;
  for (var j = 0u; j <= row; j++) {
    let e = exp(P[pBase + j] - m);
    P[pBase + j] = e;
    z += e;
  }
  var o: array<f32, DH>;
  for (var j = 0u; j <= row; j++) {
    let p = P[pBase + j] / z;
    P[pBase + j] = p;
    for (var c = 0u; c < DH; c++) { o[c] += p * QKV[(rowBase + j) * d3 + vOff + c]; }
  }
  for (var j = row + 1u; j < u.seq; j++) { P[pBase + j] = 0.0; }
  for (var c = 0u; c < DH; c++) { Y[(rowBase + row) * u.d + h * DH + c] = o[c]; }
}`;

/** Per query row i: dS row (into DS) and dq_i. */
const BWD_Q_WGSL = (dh: number, acc: boolean) => `${UNIFORM}
const DH: u32 = ${dh}u;
@group(0) @binding(1) var<storage, read> QKV: array<f32>;
@group(0) @binding(2) var<storage, read> P: array<f32>;
@group(0) @binding(3) var<storage, read> DY: array<f32>;
@group(0) @binding(4) var<storage, read_write> DS: array<f32>;
@group(0) @binding(5) var<storage, read_write> DQKV: array<f32>;
${INDEX_1D}${PROLOGUE}
  var dy: array<f32, DH>;
  for (var c = 0u; c < DH; c++) { dy[c] = DY[(rowBase + row) * u.d + h * DH + c]; }
  var dot = 0.0;
  for (var j = 0u; j <= row; j++) {
    var dp = 0.0;
    for (var c = 0u; c < DH; c++) { dp += dy[c] * QKV[(rowBase + j) * d3 + vOff + c]; }
    DS[pBase + j] = dp;
    dot += P[pBase + j] * dp;
  }
  var dq: array<f32, DH>;
  for (var j = 0u; j <= row; j++) {
    let ds = P[pBase + j] * (DS[pBase + j] - dot);
    DS[pBase + j] = ds;
    for (var c = 0u; c < DH; c++) { dq[c] += ds * QKV[(rowBase + j) * d3 + kOff + c]; }
  }
  for (var j = row + 1u; j < u.seq; j++) { DS[pBase + j] = 0.0; }
  for (var c = 0u; c < DH; c++) {
    let idx = (rowBase + row) * d3 + qOff + c;
    let v = u.scale * dq[c];
    ${acc ? 'DQKV[idx] = DQKV[idx] + v;' : 'DQKV[idx] = v;'}
  }
}`;

/** Per key row j: dk_j and dv_j (column j of dS and P, rows i ≥ j). */
const BWD_KV_WGSL = (dh: number, acc: boolean) => `${UNIFORM}
const DH: u32 = ${dh}u;
@group(0) @binding(1) var<storage, read> QKV: array<f32>;
@group(0) @binding(2) var<storage, read> P: array<f32>;
@group(0) @binding(3) var<storage, read> DY: array<f32>;
@group(0) @binding(4) var<storage, read> DS: array<f32>;
@group(0) @binding(5) var<storage, read_write> DQKV: array<f32>;
${INDEX_1D}${PROLOGUE}
  let j = row;
  let colBase = bh * u.seq * u.seq + j;
  var dk: array<f32, DH>;
  var dv: array<f32, DH>;
  for (var r = j; r < u.seq; r++) {
    let ds = DS[colBase + r * u.seq];
    let p = P[colBase + r * u.seq];
    for (var c = 0u; c < DH; c++) {
      dk[c] += ds * QKV[(rowBase + r) * d3 + qOff + c];
      dv[c] += p * DY[(rowBase + r) * u.d + h * DH + c];
    }
  }
  for (var c = 0u; c < DH; c++) {
    let ki = (rowBase + j) * d3 + kOff + c;
    let vi = (rowBase + j) * d3 + vOff + c;
    let kv = u.scale * dk[c];
    ${acc ? 'DQKV[ki] = DQKV[ki] + kv; DQKV[vi] = DQKV[vi] + dv[c];' : 'DQKV[ki] = kv; DQKV[vi] = dv[c];'}
  }
}`;

/** Causal attention FLOPs over the pairs j ≤ i: QKᵀ and PV, 2 FLOPs per multiply-add. */
export function attentionFlops(batch: number, seq: number, d: number): number {
  return 2 * 2 * batch * ((seq * (seq + 1)) / 2) * d;
}

/** qkv: [batch, seq, 3·d] → y: [batch, seq, d]. */
export function causalSelfAttention(g: Graph, qkv: Tensor, heads: number): Tensor {
  const { ctx, tape } = g;
  const [batch, seq, d3] = qkv.shape;
  const d = d3 / 3;
  if (!Number.isInteger(d) || d % heads !== 0)
    throw new Error(`attention: qkv width ${d3} must be 3·d with heads (${heads}) dividing d`);
  const dh = d / heads;
  const y = ctx.tensor([batch, seq, d]);
  const probs = tape.keep(ctx.tensor([batch, heads, seq, seq]));
  const uniform = new UniformWriter()
    .u(batch, seq, heads, d)
    .f(1 / Math.sqrt(dh))
    .build();
  const threads = batch * heads * seq;
  const dims = `${batch}x${heads}x${seq}x${dh}`;
  const flops = attentionFlops(batch, seq, d);
  ctx.dispatch({
    name: spanName(ctx, 'attention', dims),
    pipeline: ctx.pipeline(`attn:fwd:${dh}`, FWD_WGSL(dh)),
    buffers: [qkv.binding(), y.binding(), probs.binding()],
    uniform,
    workgroups: grid1d(Math.ceil(threads / 256)),
    flops,
    bytes: (qkv.size + y.size + probs.size) * 4,
    args: { batch, heads, seq, headDim: dh },
  });
  tape.record({
    name: 'attention',
    inputs: [qkv],
    output: y,
    backward(dy, sink) {
      const t = sink.target(qkv);
      if (!t) return;
      const ds = ctx.tensor(probs.shape);
      ctx.dispatch({
        name: spanName(ctx, 'attention.dq', dims),
        pipeline: ctx.pipeline(`attn:dq:${dh}:${t.accumulate}`, BWD_Q_WGSL(dh, t.accumulate)),
        buffers: [qkv.binding(), probs.binding(), dy.binding(), ds.binding(), t.tensor.binding()],
        uniform,
        workgroups: grid1d(Math.ceil(threads / 256)),
        flops,
        bytes: (qkv.size + probs.size * 2) * 4,
      });
      ctx.dispatch({
        name: spanName(ctx, 'attention.dkv', dims),
        pipeline: ctx.pipeline(`attn:dkv:${dh}:${t.accumulate}`, BWD_KV_WGSL(dh, t.accumulate)),
        buffers: [qkv.binding(), probs.binding(), dy.binding(), ds.binding(), t.tensor.binding()],
        uniform,
        workgroups: grid1d(Math.ceil(threads / 256)),
        flops,
        bytes: (qkv.size + probs.size * 2) * 4,
      });
      ctx.release(ds);
    },
  });
  return y;
}
