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
 * The all-reduces are staged through the host (D2H, the group's all-reduce, H2D), like
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
}

async function allReduceTensor(staging: HostStaging, tp: TensorParallel, x: Tensor, out: Tensor, what: string): Promise<void> {
  const data = await staging.read(x);
  await tp.allReduce(data, what);
  staging.ctx.device.queue.writeBuffer(out.buf.gpu, out.offsetBytes, data);
}

/** f: identity forward (a copy), sum all-reduce of the gradient backward. */
export function copyToTensorParallel(g: Graph, staging: HostStaging, tp: TensorParallel, x: Tensor, what: string): Tensor {
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
      if (t.accumulate) throw new Error(`tensor-parallel f (${what}): its input has a second consumer; the all-reduce cannot accumulate gradients`);
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
export async function reduceFromTensorParallel(g: Graph, staging: HostStaging, tp: TensorParallel, x: Tensor, what: string): Promise<Tensor> {
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
      if (t.accumulate) throw new Error(`tensor-parallel g (${what}): its input has a second consumer; identity backward cannot accumulate`);
      ctx.commandEncoder().copyBufferToBuffer(dy.buf.gpu, dy.offsetBytes, t.tensor.buf.gpu, t.tensor.offsetBytes, dy.byteLength);
    },
  });
  return y;
}
