/**
 * Token + position embedding: y[b,t,:] = tok[ids[b,t], :] + pos[t, :].
 * Backward: dtok[v,:] = Σ over positions holding token v of dy (one thread per (v, d),
 * so no atomics and a fixed summation order: deterministic); dpos[t,:] = Σ_b dy[b,t,:],
 * rows of pos beyond the sequence length get zero.
 * `posOffset` (sequence parallelism): the ids are the tokens at global positions
 * posOffset..posOffset+seq−1 of longer sequences, so they read and train those rows of pos.
 */
import { UniformWriter, grid1d } from '../context';
import type { Tensor } from '../tensor';
import { Graph, INDEX_1D, spanName } from './graph';

const UNIFORM = `struct U { batch: u32, seq: u32, d: u32, vocab: u32, posRows: u32, posOffset: u32 }
@group(0) @binding(0) var<uniform> u: U;`;

const EMB_FWD_WGSL = `${UNIFORM}
@group(0) @binding(1) var<storage, read> IDS: array<i32>;
@group(0) @binding(2) var<storage, read> TOK: array<f32>;
@group(0) @binding(3) var<storage, read> POS: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;
${INDEX_1D}
  if (i >= u.batch * u.seq * u.d) { return; }
  let n = i / u.d;
  let c = i % u.d;
  let t = n % u.seq;
  let id = u32(clamp(IDS[n], 0, i32(u.vocab) - 1));
  Y[i] = TOK[id * u.d + c] + POS[(u.posOffset + t) * u.d + c];
}`;

const EMB_DTOK_WGSL = (acc: boolean) => `${UNIFORM}
@group(0) @binding(1) var<storage, read> IDS: array<i32>;
@group(0) @binding(2) var<storage, read> DY: array<f32>;
@group(0) @binding(3) var<storage, read_write> DT: array<f32>;
${INDEX_1D}
  if (i >= u.vocab * u.d) { return; }
  let v = i32(i / u.d);
  let c = i % u.d;
  var s = 0.0;
  for (var n = 0u; n < u.batch * u.seq; n++) {
    if (IDS[n] == v) { s += DY[n * u.d + c]; }
  }
  ${acc ? 'DT[i] = DT[i] + s;' : 'DT[i] = s;'}
}`;

const EMB_DPOS_WGSL = (acc: boolean) => `${UNIFORM}
@group(0) @binding(1) var<storage, read> DY: array<f32>;
@group(0) @binding(2) var<storage, read_write> DP: array<f32>;
${INDEX_1D}
  if (i >= u.posRows * u.d) { return; }
  let t = i / u.d;
  let c = i % u.d;
  var s = 0.0;
  if (t >= u.posOffset && t < u.posOffset + u.seq) {
    let tl = t - u.posOffset;
    for (var b = 0u; b < u.batch; b++) { s += DY[(b * u.seq + tl) * u.d + c]; }
  }
  ${acc ? 'DP[i] = DP[i] + s;' : 'DP[i] = s;'}
}`;

/** ids: i32 [batch, seq]; tok: [vocab, d]; pos: [posRows ≥ posOffset + seq, d]. */
export function embedding(g: Graph, ids: Tensor, tok: Tensor, pos: Tensor, posOffset = 0): Tensor {
  const { ctx, tape } = g;
  const [batch, seq] = ids.shape;
  const [vocab, d] = tok.shape;
  const posRows = pos.shape[0];
  if (pos.shape[1] !== d || posRows < posOffset + seq)
    throw new Error(`embedding: pos is ${pos.shape.join('x')}, needs at least ${posOffset + seq} rows of ${d}`);
  const y = ctx.tensor([batch, seq, d]);
  const uniform = new UniformWriter().u(batch, seq, d, vocab, posRows, posOffset).build();
  ctx.dispatch({
    name: spanName(ctx, 'embedding', `${batch}x${seq}x${d}`),
    pipeline: ctx.pipeline('emb:fwd', EMB_FWD_WGSL),
    buffers: [ids.binding(), tok.binding(), pos.binding(), y.binding()],
    uniform,
    workgroups: grid1d(Math.ceil(y.size / 256)),
    flops: y.size,
    bytes: y.size * 12,
  });
  tape.record({
    name: 'embedding',
    inputs: [tok, pos],
    output: y,
    backward(dy, sink) {
      const dt = sink.target(tok);
      if (dt) {
        ctx.dispatch({
          name: spanName(ctx, 'embedding.dtok', `${vocab}x${d}`),
          pipeline: ctx.pipeline(`emb:dtok:${dt.accumulate}`, EMB_DTOK_WGSL(dt.accumulate)),
          buffers: [ids.binding(), dy.binding(), dt.tensor.binding()],
          uniform,
          workgroups: grid1d(Math.ceil(tok.size / 256)),
          flops: y.size,
          bytes: (vocab * batch * seq + y.size) * 4,
        });
      }
      const dp = sink.target(pos);
      if (dp) {
        ctx.dispatch({
          name: spanName(ctx, 'embedding.dpos', `${posRows}x${d}`),
          pipeline: ctx.pipeline(`emb:dpos:${dp.accumulate}`, EMB_DPOS_WGSL(dp.accumulate)),
          buffers: [dy.binding(), dp.tensor.binding()],
          uniform,
          workgroups: grid1d(Math.ceil(pos.size / 256)),
          flops: y.size,
          bytes: (y.size + pos.size) * 4,
        });
      }
    },
  });
  return y;
}
