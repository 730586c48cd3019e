/**
 * The experts of a mixture-of-experts block as one tape op: dispatch of the routed tokens
 * to their experts, the experts (each an MLP D → F → D with GELU, no biases), and the
 * gate-weighted combine, with expert parallelism over P ranks (each holds experts
 * [i·E/P, (i+1)·E/P)).
 *
 * Layout (GShard's fixed capacity): each rank routes its own N tokens (moeRouting.ts)
 * into a [E, C, D] buffer, C slots per expert (empty slots are zeros). Dispatch is one
 * equal-split all-to-all over the expert-parallel group (block s: the slots of rank s's
 * experts); the receiver runs each of its experts on the P·C slots it got, and the
 * combine all-to-all sends the outputs back to the ranks whose tokens they are, where
 * y_t = Σ gate · expert output over the token's kept choices. Backward runs the reverse
 * all-to-alls: the outputs' gradients (gate · dy) to the experts, the inputs' gradients back.
 *
 * Overlap (the Comet idea, arXiv 2502.19811): with `chunks` = K > 1 the capacity slots are
 * cut into K chunks, each its own dispatch and combine all-to-all; chunk i+1's dispatch is
 * on the wire while the experts compute chunk i, and chunk i's combine while they compute
 * chunk i+1 (backward likewise). Every token's output and input gradient is summed on the
 * host in the same order for any K, so the forward is bitwise the plain one; the experts'
 * weight gradients are summed chunk by chunk (float rounding differs).
 *
 * Data is staged through the host (D2H, all-to-all, H2D), like the other exchanges.
 */
import type { GpuContext } from '../context';
import type { Tensor } from '../tensor';
import type { GradTarget } from '../tape';
import { HostStaging } from './exchange';
import { encodeActivation, encodeActivationGrad } from './elementwise';
import type { Graph } from './graph';
import { spanName } from './graph';
import { encodeMatmul } from './matmul';
import { chunkBounds, expertCapacity, gateBackward, route, type Routing } from './moeRouting';

/** What the engine needs from the runtime for expert parallelism. */
export interface ExpertParallel {
  /** P: ranks sharing the experts of each MoE block. */
  readonly size: number;
  /** This rank's index in its expert-parallel group: it holds experts [index·E/P, (index+1)·E/P). */
  readonly index: number;
  /** K: all-to-all chunks per direction, pipelined with the experts (1: the plain variant). */
  readonly chunks: number;
  /**
   * Equal-split all-to-all over the group, issued when called (so several can be in
   * flight): block s of `send` goes to index s; block r of the result came from index r.
   */
  allToAll(send: Float32Array, what: string): Promise<Float32Array>;
}

/** One rank on its own: its all-to-all is the identity. */
export const SINGLE_RANK_EXPERTS: ExpertParallel = {
  size: 1,
  index: 0,
  chunks: 1,
  allToAll: (send) => Promise.resolve(send.slice()),
};

/** Routing of one MoE block in the last forward: assignments per expert (before capacity), and those dropped. */
export interface ExpertLoad {
  layer: string;
  routed: number[];
  dropped: number;
}

export interface MoeSettings {
  topK: number;
  capacityFactor: number;
  /** Names the block in spans and messages ("layer0.moe"). */
  name: string;
}

/** Where a chunk's slots are: expert-major on the receiver ([El, P·Cc, D]) from rank-major ([P, El, Cc, D]). */
function toExpertMajor(x: Float32Array, P: number, El: number, Cc: number, D: number): Float32Array {
  const out = new Float32Array(x.length);
  const block = Cc * D;
  for (let r = 0; r < P; r++)
    for (let j = 0; j < El; j++)
      out.set(x.subarray((r * El + j) * block, (r * El + j + 1) * block), (j * P + r) * block);
  return out;
}

function toRankMajor(x: Float32Array, P: number, El: number, Cc: number, D: number): Float32Array {
  const out = new Float32Array(x.length);
  const block = Cc * D;
  for (let r = 0; r < P; r++)
    for (let j = 0; j < El; j++)
      out.set(x.subarray((j * P + r) * block, (j * P + r + 1) * block), (r * El + j) * block);
  return out;
}

/** A chunk [c0, c1) of every expert's slots of a full [E, C, D] buffer, as [E, c1−c0, D]. */
function sliceSlots(full: Float32Array, E: number, C: number, D: number, c0: number, c1: number): Float32Array {
  const out = new Float32Array(E * (c1 - c0) * D);
  for (let e = 0; e < E; e++) out.set(full.subarray((e * C + c0) * D, (e * C + c1) * D), e * (c1 - c0) * D);
  return out;
}

function putSlots(full: Float32Array, part: Float32Array, E: number, C: number, D: number, c0: number, c1: number) {
  for (let e = 0; e < E; e++) full.set(part.subarray(e * (c1 - c0) * D, (e + 1) * (c1 - c0) * D), (e * C + c0) * D);
}

/**
 * An all-to-all in flight while this rank does other work: if that work fails first, the
 * all-to-all's own failure (the world aborted) is not left unhandled; it is awaited later.
 */
function inFlight<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/** Writes `data` into a gradient target, adding to what is there when it accumulates. */
async function writeGrad(staging: HostStaging, t: GradTarget, data: Float32Array): Promise<void> {
  if (t.accumulate) {
    const cur = await staging.read(t.tensor);
    for (let i = 0; i < data.length; i++) data[i] += cur[i];
  }
  staging.ctx.device.queue.writeBuffer(t.tensor.buf.gpu, t.tensor.offsetBytes, data);
}

/** c[b] (=|+=) op(a[b]) · op(w[b]) for each of `batch` experts. */
function bmm(
  ctx: GpuContext,
  a: Tensor,
  b: Tensor,
  c: Tensor,
  s: { batch: number; M: number; N: number; K: number; transA: boolean; transB: boolean; accumulate: boolean },
  name: string,
): void {
  encodeMatmul(
    ctx,
    {
      a: a.binding(),
      b: b.binding(),
      c: c.binding(),
      M: s.M,
      N: s.N,
      K: s.K,
      transA: s.transA,
      transB: s.transB,
      accumulate: s.accumulate,
      batch: s.batch,
      strideA: s.M * s.K,
      strideB: s.K * s.N,
      strideC: s.M * s.N,
    },
    spanName(ctx, name, `${s.M}x${s.N}x${s.K}`),
  );
}

/**
 * Runs the experts of one MoE block on `x` ([B, T, D], the normalised input) routed by
 * `probs` ([B, T, E], the router's softmax), with this rank's experts `fc1` ([El, D, F])
 * and `fc2` ([El, F, D]); resolves with y ([B, T, D]) once it is on the GPU, and the
 * block's routing counts.
 */
export async function moeExperts(
  g: Graph,
  staging: HostStaging,
  ep: ExpertParallel,
  x: Tensor,
  probs: Tensor,
  fc1: Tensor,
  fc2: Tensor,
  s: MoeSettings,
): Promise<{ y: Tensor; load: ExpertLoad }> {
  const { ctx, tape } = g;
  const [B, T, D] = x.shape;
  const N = B * T;
  const E = probs.shape[probs.shape.length - 1];
  const P = ep.size;
  const El = E / P;
  const F = fc1.shape[2];
  if (!Number.isInteger(El) || fc1.shape[0] !== El || fc2.shape[0] !== El || fc1.shape[1] !== D)
    throw new Error(
      `${s.name}: ${E} experts over ${P} ranks with expert weights ${fc1.shape.join('x')} and ${fc2.shape.join('x')}; expected [${E / P}, ${D}, F] and [${E / P}, F, ${D}]`,
    );
  const C = expertCapacity(N, E, s.topK, s.capacityFactor);
  const bounds = chunkBounds(C, ep.chunks);
  const K = bounds.length - 1;
  const scope = ctx.scope;
  const phase = ctx.phase;
  const restore = () => {
    ctx.scope = scope;
    ctx.phase = phase;
  };

  const routing: Routing = route(await staging.read(probs), N, E, s.topK, C);
  const xh = await staging.read(x);
  restore();
  // [E, C, D]: each expert's slots, filled with its tokens.
  const dispatched = new Float32Array(E * C * D);
  for (let i = 0; i < E * C; i++) {
    const a = routing.slotAssignment[i];
    if (a >= 0) {
      const t = Math.floor(a / s.topK);
      dispatched.set(xh.subarray(t * D, (t + 1) * D), i * D);
    }
  }
  // Saved for backward, per chunk: the experts' input, fc1's output and the GELU's.
  const saved: { xin: Tensor; pre: Tensor; h: Tensor; M: number }[] = [];
  const returned = new Float32Array(E * C * D);
  const label = (what: string, k: number) => `${s.name} ${what}${K > 1 ? ` chunk ${k}` : ''}`;
  const send = (k: number) =>
    inFlight(ep.allToAll(sliceSlots(dispatched, E, C, D, bounds[k], bounds[k + 1]), label('dispatch fwd', k)));
  let next = send(0);
  const combines: Promise<void>[] = [];
  for (let k = 0; k < K; k++) {
    const Cc = bounds[k + 1] - bounds[k];
    const recv = await next;
    restore();
    if (k + 1 < K) next = send(k + 1);
    const M = P * Cc;
    const xin = tape.keep(ctx.tensor([El, M, D]));
    ctx.device.queue.writeBuffer(xin.buf.gpu, xin.offsetBytes, toExpertMajor(recv, P, El, Cc, D));
    const pre = tape.keep(ctx.tensor([El, M, F]));
    const h = tape.keep(ctx.tensor([El, M, F]));
    const out = ctx.tensor([El, M, D]);
    ctx.scope = `${s.name}.experts`;
    const mm = { batch: El, M, accumulate: false, transA: false, transB: false };
    bmm(ctx, xin, fc1, pre, { ...mm, N: F, K: D }, 'matmul');
    encodeActivation(ctx, 'gelu', pre, h, spanName(ctx, 'gelu', `${El}x${M}x${F}`));
    bmm(ctx, h, fc2, out, { ...mm, N: D, K: F }, 'matmul');
    saved.push({ xin, pre, h, M });
    const o = toRankMajor(await staging.read(out), P, El, Cc, D);
    restore();
    ctx.release(out);
    const c0 = bounds[k];
    combines.push(
      inFlight(ep.allToAll(o, label('combine fwd', k)).then((back) => putSlots(returned, back, E, C, D, c0, c0 + Cc))),
    );
  }
  await Promise.all(combines);
  restore();
  // y_t = Σ over the token's kept choices, in choice order, of gate · its expert's output.
  const yh = new Float32Array(N * D);
  for (let a = 0; a < N * s.topK; a++) {
    const sl = routing.slot[a];
    if (sl < 0) continue;
    const t = Math.floor(a / s.topK);
    const gte = routing.gate[a];
    const src = (routing.expert[a] * C + sl) * D;
    for (let d = 0; d < D; d++) yh[t * D + d] += gte * returned[src + d];
  }
  const y = ctx.tensor([B, T, D]);
  ctx.device.queue.writeBuffer(y.buf.gpu, y.offsetBytes, yh);

  tape.record({
    name: 'moe',
    inputs: [x, probs, fc1, fc2],
    output: y,
    async backward(dy, sink) {
      const dyh = await staging.read(dy);
      restore();
      // The experts' output gradients (gate · dy in each kept slot) and the gates' (dy · output).
      const dOut = new Float32Array(E * C * D);
      const dGate = new Float32Array(N * s.topK);
      for (let a = 0; a < N * s.topK; a++) {
        const sl = routing.slot[a];
        if (sl < 0) continue;
        const t = Math.floor(a / s.topK);
        const at = (routing.expert[a] * C + sl) * D;
        let dot = 0;
        for (let d = 0; d < D; d++) {
          dOut[at + d] = routing.gate[a] * dyh[t * D + d];
          dot += dyh[t * D + d] * returned[at + d];
        }
        dGate[a] = dot;
      }
      const tp = sink.target(probs);
      if (tp) await writeGrad(staging, tp, gateBackward(routing, dGate));
      restore();
      const t1 = sink.target(fc1);
      const t2 = sink.target(fc2);
      const dIn = new Float32Array(E * C * D);
      const sendBack = (k: number) =>
        inFlight(ep.allToAll(sliceSlots(dOut, E, C, D, bounds[k], bounds[k + 1]), label('combine bwd', k)));
      let nextGrad = sendBack(0);
      const returns: Promise<void>[] = [];
      for (let k = 0; k < K; k++) {
        const Cc = bounds[k + 1] - bounds[k];
        const recv = await nextGrad;
        restore();
        if (k + 1 < K) nextGrad = sendBack(k + 1);
        const { xin, pre, h, M } = saved[k];
        const dout = ctx.tensor([El, M, D]);
        ctx.device.queue.writeBuffer(dout.buf.gpu, dout.offsetBytes, toExpertMajor(recv, P, El, Cc, D));
        ctx.scope = `${s.name}.experts`;
        const mm = { batch: El, accumulate: false };
        const dh = ctx.tensor([El, M, F]);
        bmm(ctx, dout, fc2, dh, { ...mm, M, N: F, K: D, transA: false, transB: true }, 'matmul.dx');
        if (t2)
          bmm(
            ctx,
            h,
            dout,
            t2.tensor,
            { batch: El, M: F, N: D, K: M, transA: true, transB: false, accumulate: k > 0 || t2.accumulate },
            'matmul.dw',
          );
        const dpre = ctx.tensor([El, M, F]);
        encodeActivationGrad(
          ctx,
          'gelu',
          pre,
          dh,
          { tensor: dpre, accumulate: false },
          spanName(ctx, 'gelu', `${El}x${M}x${F}`),
        );
        if (t1)
          bmm(
            ctx,
            xin,
            dpre,
            t1.tensor,
            { batch: El, M: D, N: F, K: M, transA: true, transB: false, accumulate: k > 0 || t1.accumulate },
            'matmul.dw',
          );
        const dxin = ctx.tensor([El, M, D]);
        bmm(ctx, dpre, fc1, dxin, { ...mm, M, N: D, K: F, transA: false, transB: true }, 'matmul.dx');
        const back = toRankMajor(await staging.read(dxin), P, El, Cc, D);
        restore();
        for (const t of [dout, dh, dpre, dxin]) ctx.release(t);
        const c0 = bounds[k];
        returns.push(
          inFlight(ep.allToAll(back, label('dispatch bwd', k)).then((r) => putSlots(dIn, r, E, C, D, c0, c0 + Cc))),
        );
      }
      await Promise.all(returns);
      restore();
      const tx = sink.target(x);
      if (!tx) return;
      // dx_t = Σ over the token's kept choices, in choice order, of its slot's input gradient.
      const dx = new Float32Array(N * D);
      for (let a = 0; a < N * s.topK; a++) {
        const sl = routing.slot[a];
        if (sl < 0) continue;
        const t = Math.floor(a / s.topK);
        const src = (routing.expert[a] * C + sl) * D;
        for (let d = 0; d < D; d++) dx[t * D + d] += dIn[src + d];
      }
      await writeGrad(staging, tx, dx);
      restore();
    },
  });
  return { y, load: { layer: s.name, routed: routing.routed, dropped: routing.dropped } };
}
