/**
 * Megatron-LM's tensor-parallel operators, as tape ops, for T ranks that each hold a
 * shard of every attention and MLP block (column-parallel qkv / fc1: a block of output
 * columns, and the heads they make; row-parallel proj / fc2: the matching block of input
 * rows, giving partial sums):
 *
 *  - f (`copyToTensorParallel`), before a column-parallel linear: identity forward; its
 *    backward all-reduces (sums) the input gradient, which each rank computed from its
 *    own columns only.
 *  - g (`reduceFromTensorParallel`), after a row-parallel linear: all-reduces (sums) the
 *    partial products forward; identity backward.
 *
 * With sequence parallelism (Megatron-LM's, arXiv 2205.05198), f becomes an all-gather of
 * the sequence shards forward (reduce-scatter backward) and g a reduce-scatter forward
 * (all-gather backward): `gatherSequence` and `scatterSequence`, same volume per rank as
 * the all-reduce they replace, and the layer norms between them work on S/T tokens.
 *
 * The collectives are staged through the host (D2H, the group's collective, H2D), like
 * the sequence-parallel exchanges (exchange.ts).
 */
import { HostStaging } from './exchange';
import type { Graph } from './graph';
import type { Tensor } from '../tensor';

/** What the engine needs from the runtime to run one tensor-parallel rank. */
export interface TensorParallel {
  /** T: ranks sharing each layer. */
  readonly size: number;
  /** This rank's index in its tensor-parallel group (its shard). */
  readonly index: number;
  /** Whose batch the group trains on (its data-parallel index). */
  readonly dataRank: number;
  /** In-place sum all-reduce over the group; `what` names it in the trace. */
  allReduce(data: Float32Array, what: string): Promise<void>;
  /**
   * Megatron's sequence parallelism: outside the column/row-parallel pairs each rank holds
   * tokens [i·S/T, (i+1)·S/T) of every sequence (layer norms, residuals and the head run on
   * them), and the all-reduces become all-gathers and reduce-scatters over the sequence.
   */
  readonly sequenceParallel: boolean;
  /** Equal-split all-gather over the group (chunk r of the result from index r). */
  allGather(send: Float32Array, what: string): Promise<Float32Array>;
  /** Equal-split sum reduce-scatter over the group (this rank gets chunk `index`). */
  reduceScatter(send: Float32Array, what: string): Promise<Float32Array>;
}

async function allReduceTensor(
  staging: HostStaging,
  tp: TensorParallel,
  x: Tensor,
  out: Tensor,
  what: string,
): Promise<void> {
  const data = await staging.read(x);
  await tp.allReduce(data, what);
  staging.ctx.device.queue.writeBuffer(out.buf.gpu, out.offsetBytes, data);
}

/** f: identity forward (a copy), sum all-reduce of the gradient backward. */
export function copyToTensorParallel(
  g: Graph,
  staging: HostStaging,
  tp: TensorParallel,
  x: Tensor,
  what: string,
): Tensor {
  const { ctx, tape } = g;
  const y = ctx.tensor(x.shape);
  ctx.commandEncoder().copyBufferToBuffer(x.buf.gpu, x.offsetBytes, y.buf.gpu, y.offsetBytes, x.byteLength);
  tape.record({
    name: 'tp.f',
    inputs: [x],
    output: y,
    async backward(dy, sink) {
      const t = sink.target(x);
      if (!t) return;
      // Its input (a layer norm's output) has one consumer in gpt-mini.
      if (t.accumulate)
        throw new Error(
          `tensor-parallel f (${what}): its input has a second consumer; the all-reduce cannot accumulate gradients`,
        );
      const scope = ctx.scope;
      const phase = ctx.phase;
      await allReduceTensor(staging, tp, dy, t.tensor, `${what} bwd`);
      ctx.scope = scope;
      ctx.phase = phase;
    },
  });
  return y;
}

/** g: sum all-reduce of the partial products forward, identity backward. */
export async function reduceFromTensorParallel(
  g: Graph,
  staging: HostStaging,
  tp: TensorParallel,
  x: Tensor,
  what: string,
): Promise<Tensor> {
  const { ctx, tape } = g;
  const y = ctx.tensor(x.shape);
  const scope = ctx.scope;
  const phase = ctx.phase;
  await allReduceTensor(staging, tp, x, y, `${what} fwd`);
  ctx.scope = scope;
  ctx.phase = phase;
  tape.record({
    name: 'tp.g',
    inputs: [x],
    output: y,
    backward(dy, sink) {
      if (sink.alias(x, dy)) return;
      const t = sink.target(x);
      if (!t) return;
      if (t.accumulate)
        throw new Error(
          `tensor-parallel g (${what}): its input has a second consumer; identity backward cannot accumulate`,
        );
      ctx
        .commandEncoder()
        .copyBufferToBuffer(dy.buf.gpu, dy.offsetBytes, t.tensor.buf.gpu, t.tensor.offsetBytes, dy.byteLength);
    },
  });
  return y;
}

/**
 * [B, S, D] (row-major) ↔ rank-major chunks [T][B, S/T, D]: chunk r holds tokens
 * [r·S/T, (r+1)·S/T) of every sequence.
 */
function toRankMajor(x: Float32Array, B: number, S: number, D: number, T: number): Float32Array {
  const sl = S / T;
  const out = new Float32Array(x.length);
  let o = 0;
  for (let r = 0; r < T; r++)
    for (let b = 0; b < B; b++) {
      const from = (b * S + r * sl) * D;
      out.set(x.subarray(from, from + sl * D), o);
      o += sl * D;
    }
  return out;
}

function fromRankMajor(x: Float32Array, B: number, S: number, D: number, T: number): Float32Array {
  const sl = S / T;
  const out = new Float32Array(x.length);
  let o = 0;
  for (let r = 0; r < T; r++)
    for (let b = 0; b < B; b++) {
      out.set(x.subarray(o, o + sl * D), (b * S + r * sl) * D);
      o += sl * D;
    }
  return out;
}

/** Sequence-parallel f: all-gather [B, S/T, D] shards into [B, S, D] forward, reduce-scatter backward. */
export async function gatherSequence(
  g: Graph,
  staging: HostStaging,
  tp: TensorParallel,
  x: Tensor,
  what: string,
): Promise<Tensor> {
  const { ctx, tape } = g;
  const [B, sl, D] = x.shape;
  const T = tp.size;
  const S = sl * T;
  const y = ctx.tensor([B, S, D]);
  const run = async (fn: () => Promise<void>) => {
    const scope = ctx.scope;
    const phase = ctx.phase;
    await fn();
    ctx.scope = scope;
    ctx.phase = phase;
  };
  await run(async () => {
    const all = await tp.allGather(await staging.read(x), `${what} fwd`);
    ctx.device.queue.writeBuffer(y.buf.gpu, y.offsetBytes, fromRankMajor(all, B, S, D, T));
  });
  tape.record({
    name: 'tp.allGather.seq',
    inputs: [x],
    output: y,
    async backward(dy, sink) {
      const t = sink.target(x);
      if (!t) return;
      if (t.accumulate)
        throw new Error(
          `sequence-parallel gather (${what}): its input has a second consumer; the reduce-scatter cannot accumulate gradients`,
        );
      await run(async () => {
        const mine = await tp.reduceScatter(toRankMajor(await staging.read(dy), B, S, D, T), `${what} bwd`);
        ctx.device.queue.writeBuffer(t.tensor.buf.gpu, t.tensor.offsetBytes, mine);
      });
    },
  });
  return y;
}

/** Sequence-parallel g: reduce-scatter partial [B, S, D] products into [B, S/T, D] shards forward, all-gather backward. */
export async function scatterSequence(
  g: Graph,
  staging: HostStaging,
  tp: TensorParallel,
  x: Tensor,
  what: string,
): Promise<Tensor> {
  const { ctx, tape } = g;
  const [B, S, D] = x.shape;
  const T = tp.size;
  const y = ctx.tensor([B, S / T, D]);
  const run = async (fn: () => Promise<void>) => {
    const scope = ctx.scope;
    const phase = ctx.phase;
    await fn();
    ctx.scope = scope;
    ctx.phase = phase;
  };
  await run(async () => {
    const mine = await tp.reduceScatter(toRankMajor(await staging.read(x), B, S, D, T), `${what} fwd`);
    ctx.device.queue.writeBuffer(y.buf.gpu, y.offsetBytes, mine);
  });
  tape.record({
    name: 'tp.reduceScatter.seq',
    inputs: [x],
    output: y,
    async backward(dy, sink) {
      const t = sink.target(x);
      if (!t) return;
      if (t.accumulate)
        throw new Error(
          `sequence-parallel scatter (${what}): its input has a second consumer; the all-gather cannot accumulate gradients`,
        );
      await run(async () => {
        const all = await tp.allGather(await staging.read(dy), `${what} bwd`);
        ctx.device.queue.writeBuffer(t.tensor.buf.gpu, t.tensor.offsetBytes, fromRankMajor(all, B, S, D, T));
      });
    },
  });
  return y;
}
