/**
 * Ring attention (context parallelism, arXiv 2310.01889), as a tape op: P ranks each hold
 * a contiguous shard of every sequence (tokens [i·T/P, (i+1)·T/P), all heads) of the
 * packed qkv [B, T/P, 3·D], and compute causal attention over the whole sequence by passing
 * the key/value blocks around the ring, so no rank ever holds more than one visiting block.
 *
 * Forward, rank i, rounds r = 0 … P−1: it holds block j = (i − r) mod P of K and V (its
 * own in round 0). Before the block's compute it starts the exchange that sends the block to
 * rank i+1 and receives block j−1 from rank i−1 (one sendRecv on the context-parallel group),
 * and awaits it after: the transfer runs under the compute. Causal: blocks from later
 * positions (j > i) are skipped, the diagonal block (j = i) is masked within, earlier
 * blocks are whole. The block's output O_b and log-sum-exp L_b per query row (its own
 * online softmax) are merged into the running (O, L) by the online-softmax rule:
 *   L' = log(e^L + e^L_b),  O' = e^(L−L')·O + e^(L_b−L')·O_b.
 * After the last round O is the attention output and L the log-sum-exp of each query row
 * over every key before it: what backward keeps (no P×P probabilities).
 *
 * Backward (FlashAttention's, recomputing the probabilities from L): Δ_i = dO_i·O_i, and for
 * each visiting block, P_ij = e^(s_ij − L_i), dS_ij = P_ij·(dO_i·v_j − Δ_i):
 *   dq_i += scale·Σ_j dS_ij·k_j (local),  dk_j += scale·Σ_i dS_ij·q_i,  dv_j += Σ_i P_ij·dO_i.
 * The blocks go round the ring again, and with each its dK/dV accumulator: rank i adds its
 * queries' share to the block it holds and passes the sum on, so after P rounds and one
 * more hop every block's dK/dV is back with its owner. The block's share is computed into a
 * fresh buffer, so the accumulator's transfer from the previous rank runs under the compute
 * too; the sum of the arrived accumulator and that share is one host add (the data is on the
 * host to be sent anyway).
 *
 * Transfers are staged through the host (D2H, the p2p exchange, H2D) like the other
 * model-parallel exchanges (exchange.ts); the queue orders each H2D write after the kernels
 * submitted before it, so a block is overwritten only once the round that read it is done.
 */
import { UniformWriter, grid1d } from '../context';
import type { Tensor } from '../tensor';
import { HostStaging } from './exchange';
import { INDEX_1D, spanName, type Graph } from './graph';

/** What the engine needs from the runtime to run one context-parallel (ring attention) rank. */
export interface ContextParallel {
  /** P: ranks sharing one sequence (the ring). */
  readonly size: number;
  /** This rank's index in its context-parallel group (its token shard, its place in the ring). */
  readonly index: number;
  /** Whose batch the group trains on (its data-parallel index). */
  readonly dataRank: number;
  /**
   * Starts sending `send` to the next index of the ring ((index + 1) mod P) and receiving
   * `recv` (the same length) from the previous one, as one p2p exchange on the group;
   * resolves once both are done. `what` labels it in the trace.
   */
  shift(send: Float32Array, recv: Float32Array, what: string): Promise<void>;
}

/** Uniform of every ring-attention kernel; the key/value source is packed qkv (own block) or a visiting kv block. */
const UNIFORM = `struct U { batch: u32, seq: u32, heads: u32, d: u32, kvStride: u32, kOff: u32, vOff: u32, causal: u32, scale: f32 }
@group(0) @binding(0) var<uniform> u: U;`;

/** Thread i → (b, h, row) of the rank's queries (or of the block's keys). */
const PROLOGUE = `
  if (i >= u.batch * u.heads * u.seq) { return; }
  let row = i % u.seq;
  let bh = i / u.seq;
  let h = bh % u.heads;
  let b = bh / u.heads;
  let d3 = 3u * u.d;
  let rowBase = b * u.seq;
  let hc = h * DH;`;

/**
 * One block's attention for query row `row` (online softmax over the block's keys; the
 * diagonal block only to keys ≤ row): O_b = softmax(s)·V, L_b = max + log Σ e^(s − max).
 */
const BLOCK_WGSL = (dh: number) => `${UNIFORM}
const DH: u32 = ${dh}u;
@group(0) @binding(1) var<storage, read> QKV: array<f32>;
@group(0) @binding(2) var<storage, read> KV: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
@group(0) @binding(4) var<storage, read_write> L: array<f32>;
${INDEX_1D}${PROLOGUE}
  var q: array<f32, DH>;
  for (var c = 0u; c < DH; c++) { q[c] = QKV[(rowBase + row) * d3 + hc + c]; }
  let keys = select(u.seq, row + 1u, u.causal == 1u);
  var m = -3.0e38;
  var z = 0.0;
  var o: array<f32, DH>;
  for (var j = 0u; j < keys; j++) {
    let kv = (rowBase + j) * u.kvStride;
    var s = 0.0;
    for (var c = 0u; c < DH; c++) { s += q[c] * KV[kv + u.kOff + hc + c]; }
    s = s * u.scale;
    let mNew = max(m, s);
    let corr = exp(m - mNew);
    let e = exp(s - mNew);
    z = z * corr + e;
    for (var c = 0u; c < DH; c++) { o[c] = o[c] * corr + e * KV[kv + u.vOff + hc + c]; }
    m = mNew;
  }
  for (var c = 0u; c < DH; c++) { O[(rowBase + row) * u.d + hc + c] = o[c] / z; }
  L[bh * u.seq + row] = m + log(z);
}`;

/** The merge: (O, L) ← online-softmax merge of (O, L) and a block's (O_b, L_b), per query row and head. */
const MERGE_WGSL = (dh: number) => `${UNIFORM}
const DH: u32 = ${dh}u;
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
@group(0) @binding(2) var<storage, read_write> L: array<f32>;
@group(0) @binding(3) var<storage, read> OB: array<f32>;
@group(0) @binding(4) var<storage, read> LB: array<f32>;
${INDEX_1D}${PROLOGUE}
  let li = bh * u.seq + row;
  let l1 = L[li];
  let l2 = LB[li];
  let mx = max(l1, l2);
  let w1 = exp(l1 - mx);
  let w2 = exp(l2 - mx);
  let w = w1 + w2;
  L[li] = mx + log(w);
  let a = w1 / w;
  let c2 = w2 / w;
  for (var c = 0u; c < DH; c++) {
    let oi = (rowBase + row) * u.d + hc + c;
    O[oi] = a * O[oi] + c2 * OB[oi];
  }
}`;

/** Δ = rowsum(dO ∘ O) per query row and head. */
const DELTA_WGSL = (dh: number) => `${UNIFORM}
const DH: u32 = ${dh}u;
@group(0) @binding(1) var<storage, read> DY: array<f32>;
@group(0) @binding(2) var<storage, read> Y: array<f32>;
@group(0) @binding(3) var<storage, read_write> DELTA: array<f32>;
${INDEX_1D}${PROLOGUE}
  var s = 0.0;
  for (var c = 0u; c < DH; c++) {
    let oi = (rowBase + row) * u.d + hc + c;
    s += DY[oi] * Y[oi];
  }
  DELTA[bh * u.seq + row] = s;
}`;

/** Per query row: dq_i (+)= scale·Σ_j dS_ij·k_j over the visiting block's keys, into DQKV's q columns. */
const DQ_WGSL = (dh: number, acc: boolean) => `${UNIFORM}
const DH: u32 = ${dh}u;
@group(0) @binding(1) var<storage, read> QKV: array<f32>;
@group(0) @binding(2) var<storage, read> KV: array<f32>;
@group(0) @binding(3) var<storage, read> DY: array<f32>;
@group(0) @binding(4) var<storage, read> L: array<f32>;
@group(0) @binding(5) var<storage, read> DELTA: array<f32>;
@group(0) @binding(6) var<storage, read_write> DQKV: array<f32>;
${INDEX_1D}${PROLOGUE}
  let li = bh * u.seq + row;
  let lse = L[li];
  let delta = DELTA[li];
  var q: array<f32, DH>;
  var dy: array<f32, DH>;
  for (var c = 0u; c < DH; c++) {
    q[c] = QKV[(rowBase + row) * d3 + hc + c];
    dy[c] = DY[(rowBase + row) * u.d + hc + c];
  }
  let keys = select(u.seq, row + 1u, u.causal == 1u);
  var dq: array<f32, DH>;
  for (var j = 0u; j < keys; j++) {
    let kv = (rowBase + j) * u.kvStride;
    var s = 0.0;
    var dp = 0.0;
    for (var c = 0u; c < DH; c++) {
      s += q[c] * KV[kv + u.kOff + hc + c];
      dp += dy[c] * KV[kv + u.vOff + hc + c];
    }
    let p = exp(s * u.scale - lse);
    let ds = p * (dp - delta);
    for (var c = 0u; c < DH; c++) { dq[c] += ds * KV[kv + u.kOff + hc + c]; }
  }
  for (var c = 0u; c < DH; c++) {
    let idx = (rowBase + row) * d3 + hc + c;
    let v = u.scale * dq[c];
    ${acc ? 'DQKV[idx] = DQKV[idx] + v;' : 'DQKV[idx] = v;'}
  }
}`;

/**
 * Per key row j of the visiting block: this rank's queries' share of dk_j and dv_j (queries
 * ≥ j on the diagonal block), written to DKV [B, T/P, 2·D] (k columns, then v columns).
 */
const DKV_WGSL = (dh: number) => `${UNIFORM}
const DH: u32 = ${dh}u;
@group(0) @binding(1) var<storage, read> QKV: array<f32>;
@group(0) @binding(2) var<storage, read> KV: array<f32>;
@group(0) @binding(3) var<storage, read> DY: array<f32>;
@group(0) @binding(4) var<storage, read> L: array<f32>;
@group(0) @binding(5) var<storage, read> DELTA: array<f32>;
@group(0) @binding(6) var<storage, read_write> DKV: array<f32>;
${INDEX_1D}${PROLOGUE}
  let j = row;
  let kv = (rowBase + j) * u.kvStride;
  var k: array<f32, DH>;
  var v: array<f32, DH>;
  for (var c = 0u; c < DH; c++) {
    k[c] = KV[kv + u.kOff + hc + c];
    v[c] = KV[kv + u.vOff + hc + c];
  }
  let first = select(0u, j, u.causal == 1u);
  var dk: array<f32, DH>;
  var dv: array<f32, DH>;
  for (var r = first; r < u.seq; r++) {
    let qi = (rowBase + r) * d3 + hc;
    let yi = (rowBase + r) * u.d + hc;
    var s = 0.0;
    var dp = 0.0;
    for (var c = 0u; c < DH; c++) {
      s += QKV[qi + c] * k[c];
      dp += DY[yi + c] * v[c];
    }
    let li = bh * u.seq + r;
    let p = exp(s * u.scale - L[li]);
    let ds = p * (dp - DELTA[li]);
    for (var c = 0u; c < DH; c++) {
      dk[c] += ds * QKV[qi + c];
      dv[c] += p * DY[yi + c];
    }
  }
  let out = (rowBase + j) * 2u * u.d + hc;
  for (var c = 0u; c < DH; c++) {
    DKV[out + c] = u.scale * dk[c];
    DKV[out + u.d + c] = dv[c];
  }
}`;

/** The own block's final dK/dV [B, T/P, 2·D] into DQKV's k and v columns. */
const PLACE_WGSL = (acc: boolean) => `struct U { rows: u32, d: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> DKV: array<f32>;
@group(0) @binding(2) var<storage, read_write> DQKV: array<f32>;
${INDEX_1D}
  let w = 2u * u.d;
  if (i >= u.rows * w) { return; }
  let idx = (i / w) * 3u * u.d + u.d + i % w;
  ${acc ? 'DQKV[idx] = DQKV[idx] + DKV[i];' : 'DQKV[idx] = DKV[i];'}
}`;

/**
 * Yields to the event loop once, so that a transfer just issued starts (the communicator
 * runs it from the event loop: its first chunks go out) before this rank encodes and submits
 * the block's kernels, which would otherwise run first and leave nothing to overlap.
 */
function letCommStart(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The key and value columns of a packed qkv [rows, 3·D] on the host: [rows, 2·D]. */
function keysAndValues(qkv: Float32Array, rows: number, d: number): Float32Array {
  const out = new Float32Array(rows * 2 * d);
  for (let r = 0; r < rows; r++) out.set(qkv.subarray(r * 3 * d + d, (r + 1) * 3 * d), r * 2 * d);
  return out;
}

/** Causal attention FLOPs of one block: QKᵀ and PV over its (query, key) pairs, 2 FLOPs per multiply-add. */
function blockFlops(batch: number, seq: number, d: number, diagonal: boolean): number {
  return 2 * 2 * batch * (diagonal ? (seq * (seq + 1)) / 2 : seq * seq) * d;
}

/**
 * Ring attention of this rank's queries over the whole sequence: qkv [B, T/P, 3·D] (this
 * rank's token shard) → y [B, T/P, D]. Resolves once the forward's kernels are submitted
 * (its transfers done); its backward is async (the tape's `backwardAsync`).
 */
export async function ringAttention(
  g: Graph,
  staging: HostStaging,
  cp: ContextParallel,
  qkv: Tensor,
  heads: number,
  what: string,
): Promise<Tensor> {
  const { ctx, tape } = g;
  const [batch, seq, d3] = qkv.shape;
  const d = d3 / 3;
  if (!Number.isInteger(d) || d % heads !== 0)
    throw new Error(`ring attention: qkv width ${d3} must be 3·d with heads (${heads}) dividing d`);
  const P = cp.size;
  const me = cp.index;
  const dh = d / heads;
  const rows = batch * seq;
  const threads = batch * heads * seq;
  const workgroups = grid1d(Math.ceil(threads / 256));
  const dims = `${batch}x${heads}x${seq}x${dh}`;
  const scale = 1 / Math.sqrt(dh);
  const scope = ctx.scope;
  const phase = ctx.phase;
  const restore = (): void => {
    ctx.scope = scope;
    ctx.phase = phase;
  };
  /** Uniform for a key/value source: the packed qkv (own block) or a visiting [B, T/P, 2·D] block. */
  const uniformFor = (own: boolean, causal: boolean): ArrayBuffer =>
    new UniformWriter()
      .u(batch, seq, heads, d, own ? 3 * d : 2 * d, own ? d : 0, own ? 2 * d : d, causal ? 1 : 0)
      .f(scale)
      .build();
  /** The block rank `me` holds in round r. */
  const blockAt = (r: number): number => (me - r + P) % P;

  const y = ctx.tensor([batch, seq, d]);
  const lse = tape.keep(ctx.tensor([batch, heads, seq]));
  const kvOwn = P > 1 ? keysAndValues(await staging.read(qkv), rows, d) : new Float32Array(0);
  restore();
  const kvBlock = P > 1 ? ctx.tensor([batch, seq, 2 * d]) : undefined;
  const ob = P > 1 ? ctx.tensor([batch, seq, d]) : undefined;
  const lb = P > 1 ? ctx.tensor([batch, heads, seq]) : undefined;
  let kvCur = kvOwn;
  for (let r = 0; r < P; r++) {
    const j = blockAt(r);
    const kvNext = r < P - 1 ? new Float32Array(kvOwn.length) : undefined;
    const transfer = kvNext ? cp.shift(kvCur, kvNext, `${what} kv fwd`) : undefined;
    // Awaited after the compute; a failure of the compute must not leave it unobserved.
    transfer?.catch(() => undefined);
    if (transfer && j <= me) {
      await letCommStart();
      restore();
    }
    if (j <= me) {
      const own = r === 0;
      const uniform = uniformFor(own, j === me);
      const kvSrc = own ? qkv : kvBlock!;
      ctx.dispatch({
        name: spanName(ctx, 'ring-attention', `${dims} block${j}`),
        pipeline: ctx.pipeline(`ringattn:block:${dh}`, BLOCK_WGSL(dh)),
        buffers: [qkv.binding(), kvSrc.binding(), (own ? y : ob!).binding(), (own ? lse : lb!).binding()],
        uniform,
        workgroups,
        flops: blockFlops(batch, seq, d, j === me),
        bytes: (qkv.size + kvSrc.size + y.size + lse.size) * 4,
        args: { batch, heads, seq, headDim: dh, block: j, round: r },
      });
      if (!own)
        ctx.dispatch({
          name: spanName(ctx, 'ring-attention.merge', dims),
          pipeline: ctx.pipeline(`ringattn:merge:${dh}`, MERGE_WGSL(dh)),
          buffers: [y.binding(), lse.binding(), ob!.binding(), lb!.binding()],
          uniform,
          workgroups,
          bytes: (y.size + lse.size) * 4 * 3,
          args: { block: j, round: r },
        });
      ctx.submit();
    }
    if (transfer && kvNext) {
      await transfer;
      restore();
      // Queue order: this write runs after the kernels submitted before it, which read the block.
      ctx.submit();
      ctx.device.queue.writeBuffer(kvBlock!.buf.gpu, kvBlock!.offsetBytes, kvNext);
      kvCur = kvNext;
    }
  }
  if (kvBlock) ctx.release(kvBlock);
  if (ob) ctx.release(ob);
  if (lb) ctx.release(lb);

  tape.record({
    name: 'ringAttention',
    inputs: [qkv],
    output: y,
    async backward(dy, sink) {
      const t = sink.target(qkv);
      if (!t) return;
      const bscope = ctx.scope;
      const bphase = ctx.phase;
      const back = (): void => {
        ctx.scope = bscope;
        ctx.phase = bphase;
      };
      const delta = ctx.tensor([batch, heads, seq]);
      ctx.dispatch({
        name: spanName(ctx, 'ring-attention.delta', dims),
        pipeline: ctx.pipeline(`ringattn:delta:${dh}`, DELTA_WGSL(dh)),
        buffers: [dy.binding(), y.binding(), delta.binding()],
        uniform: uniformFor(true, true),
        workgroups,
        bytes: (dy.size * 2 + delta.size) * 4,
      });
      const kvBlk = P > 1 ? ctx.tensor([batch, seq, 2 * d]) : undefined;
      const dkv = ctx.tensor([batch, seq, 2 * d]);
      let kv = kvOwn;
      // The accumulator of the block held this round: zero for the own block, which starts the ring.
      let acc: Float32Array = new Float32Array(rows * 2 * d);
      let accIn: { data: Float32Array; done: Promise<void> } | undefined;
      let dqWritten = false;
      for (let r = 0; r < P; r++) {
        const j = blockAt(r);
        const kvNext = r < P - 1 ? new Float32Array(kv.length) : undefined;
        const transfer = kvNext ? cp.shift(kv, kvNext, `${what} kv bwd`) : undefined;
        transfer?.catch(() => undefined);
        let share: Float32Array | undefined;
        if (transfer && j <= me) {
          await letCommStart();
          back();
        }
        if (j <= me) {
          const own = r === 0;
          const uniform = uniformFor(own, j === me);
          const kvSrc = own ? qkv : kvBlk!;
          const accumulate = dqWritten || t.accumulate;
          const flops = blockFlops(batch, seq, d, j === me);
          ctx.dispatch({
            name: spanName(ctx, 'ring-attention.dq', `${dims} block${j}`),
            pipeline: ctx.pipeline(`ringattn:dq:${dh}:${accumulate}`, DQ_WGSL(dh, accumulate)),
            buffers: [qkv.binding(), kvSrc.binding(), dy.binding(), lse.binding(), delta.binding(), t.tensor.binding()],
            uniform,
            workgroups,
            flops: 1.5 * flops,
            bytes: (qkv.size + kvSrc.size + dy.size) * 4,
            args: { block: j, round: r },
          });
          dqWritten = true;
          ctx.dispatch({
            name: spanName(ctx, 'ring-attention.dkv', `${dims} block${j}`),
            pipeline: ctx.pipeline(`ringattn:dkv:${dh}`, DKV_WGSL(dh)),
            buffers: [qkv.binding(), kvSrc.binding(), dy.binding(), lse.binding(), delta.binding(), dkv.binding()],
            uniform,
            workgroups,
            flops: 2 * flops,
            bytes: (qkv.size + kvSrc.size + dy.size + dkv.size) * 4,
            args: { block: j, round: r },
          });
          if (P > 1) share = await staging.read(dkv);
          else ctx.submit();
          back();
        }
        if (P === 1) break;
        if (accIn) {
          await accIn.done;
          back();
          acc = accIn.data;
        }
        if (share) for (let k = 0; k < acc.length; k++) acc[k] += share[k];
        // The block's accumulator goes on with it; the last hop takes each block home.
        const arriving = new Float32Array(acc.length);
        accIn = { data: arriving, done: cp.shift(acc, arriving, `${what} dkv bwd`) };
        accIn.done.catch(() => undefined);
        if (transfer && kvNext) {
          await transfer;
          back();
          ctx.submit();
          ctx.device.queue.writeBuffer(kvBlk!.buf.gpu, kvBlk!.offsetBytes, kvNext);
          kv = kvNext;
        }
      }
      if (accIn) {
        // After P rounds and the last hop: this rank's own block's dK/dV, from every rank's queries.
        await accIn.done;
        back();
        ctx.submit();
        ctx.device.queue.writeBuffer(dkv.buf.gpu, dkv.offsetBytes, accIn.data);
      }
      ctx.dispatch({
        name: spanName(ctx, 'ring-attention.dkv.place', `${batch}x${seq}x${2 * d}`),
        pipeline: ctx.pipeline(`ringattn:place:${t.accumulate}`, PLACE_WGSL(t.accumulate)),
        buffers: [dkv.binding(), t.tensor.binding()],
        uniform: new UniformWriter().u(rows, d).build(),
        workgroups: grid1d(Math.ceil((rows * 2 * d) / 256)),
        bytes: rows * 2 * d * 4 * 2,
      });
      ctx.submit();
      ctx.release(delta);
      ctx.release(dkv);
      if (kvBlk) ctx.release(kvBlk);
    },
  });
  return y;
}
