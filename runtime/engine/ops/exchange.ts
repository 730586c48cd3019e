/**
 * DeepSpeed-Ulysses' exchange between sequence shards and head shards, as a tape op.
 * With P sequence-parallel ranks, a rank holds tokens [i·T/P, (i+1)·T/P) of every sequence
 * outside attention, and all T tokens of heads [i·H/P, (i+1)·H/P) inside it.
 *
 *  - toHeads: x [B, T/P, parts·D] → y [B, T, parts·D/P]: column block i of each of the
 *    `parts` (q, k, v) goes to rank i; y's rows are the ranks' token shards in rank order.
 *  - toSeq:   x [B, T, parts·D/P] → y [B, T/P, parts·D]: the inverse.
 *
 * Each is one equal-split all-to-all over the sequence-parallel group; the gradient of
 * one is the other (an all-to-all is a permutation, its transpose the inverse one), so
 * backward runs the opposite exchange on the output gradient. The data is staged through
 * the host (D2H, permute into rank-major chunks, all-to-all, permute out, H2D).
 */
import type { GpuContext } from '../context';
import { Tensor } from '../tensor';
import type { Graph } from './graph';

/** What the engine needs from the runtime to run one sequence-parallel rank. */
export interface SequenceParallel {
  /** P: ranks sharing one sequence. */
  readonly size: number;
  /** This rank's index in its sequence-parallel group (its token shard). */
  readonly index: number;
  /** Whose batch the group trains on (its data-parallel index). */
  readonly dataRank: number;
  /**
   * Equal-split all-to-all over the group: chunk s of `send` goes to index s; chunk r of
   * the result came from index r. `what` names it in the trace.
   */
  allToAll(send: Float32Array, what: string): Promise<Float32Array>;
}

export type ExchangeDirection = 'toHeads' | 'toSeq';

interface IndexMaps {
  /** For element i of the rank-major chunks: its index in the sequence-sharded layout. */
  seq: Uint32Array;
  /** … and in the head-sharded layout. */
  head: Uint32Array;
}

/** Reads tensors back to the host for exchanges between ranks (readback buffers by size). */
export class HostStaging {
  private readonly readbacks = new Map<number, GPUBuffer>();

  constructor(readonly ctx: GpuContext) {}

  /** Submits the work so far and reads `t` back. */
  async read(t: Tensor): Promise<Float32Array> {
    const ctx = this.ctx;
    const size = Math.max(16, Math.ceil(t.byteLength / 16) * 16);
    let rb = this.readbacks.get(size);
    if (!rb) {
      rb = ctx.device.createBuffer({
        size,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
        label: 'exchange.readback',
      });
      this.readbacks.set(size, rb);
    }
    ctx.commandEncoder().copyBufferToBuffer(t.buf.gpu, t.offsetBytes, rb, 0, t.byteLength);
    ctx.submit();
    await ctx.guard(rb.mapAsync(GPUMapMode.READ, 0, size));
    const out = new Float32Array(rb.getMappedRange(0, t.byteLength).slice(0));
    rb.unmap();
    return out;
  }

  destroy(): void {
    for (const b of this.readbacks.values()) b.destroy();
    this.readbacks.clear();
  }
}

/** Host staging for the exchanges of one sequence-parallel trainer: also index maps by shape. */
export class ExchangeStaging extends HostStaging {
  private readonly maps = new Map<string, IndexMaps>();

  constructor(
    ctx: GpuContext,
    readonly sp: SequenceParallel,
  ) {
    super(ctx);
  }

  /**
   * Index maps for [B, Tl, parts, Dp] chunks of P ranks: chunk element (s, b, t, p, c) is
   * x[b, t, p·D + s·Dp + c] in the sequence-sharded layout (D = P·Dp) and
   * y[b, s·Tl + t, p·Dp + c] in the head-sharded one.
   */
  indexMaps(batch: number, tl: number, parts: number, dp: number): IndexMaps {
    const key = `${batch}x${tl}x${parts}x${dp}`;
    let m = this.maps.get(key);
    if (m) return m;
    const P = this.sp.size;
    const d = P * dp;
    const n = P * batch * tl * parts * dp;
    const seq = new Uint32Array(n);
    const head = new Uint32Array(n);
    let i = 0;
    for (let s = 0; s < P; s++) {
      for (let b = 0; b < batch; b++) {
        for (let t = 0; t < tl; t++) {
          for (let p = 0; p < parts; p++) {
            const seqBase = (b * tl + t) * parts * d + p * d + s * dp;
            const headBase = ((b * P * tl + s * tl + t) * parts + p) * dp;
            for (let c = 0; c < dp; c++, i++) {
              seq[i] = seqBase + c;
              head[i] = headBase + c;
            }
          }
        }
      }
    }
    m = { seq, head };
    this.maps.set(key, m);
    return m;
  }
}

/**
 * Moves `x` between layouts (see the file comment) through the group's all-to-all:
 * `from` is gathered into chunks by its map, the received chunks scattered by `to`'s.
 */
async function exchange(
  staging: ExchangeStaging,
  x: Tensor,
  out: Tensor,
  fromMap: Uint32Array,
  toMap: Uint32Array,
  what: string,
): Promise<void> {
  const data = await staging.read(x);
  const send = new Float32Array(fromMap.length);
  for (let i = 0; i < send.length; i++) send[i] = data[fromMap[i]];
  const recv = await staging.sp.allToAll(send, what);
  const y = new Float32Array(toMap.length);
  for (let i = 0; i < recv.length; i++) y[toMap[i]] = recv[i];
  staging.ctx.device.queue.writeBuffer(out.buf.gpu, out.offsetBytes, y);
}

/** Records and runs one exchange; resolves with the output once it is on the GPU. */
export async function sequenceExchange(
  g: Graph,
  staging: ExchangeStaging,
  x: Tensor,
  direction: ExchangeDirection,
  parts: number,
  what: string,
): Promise<Tensor> {
  const { ctx, tape } = g;
  const P = staging.sp.size;
  const [batch, rows, width] = x.shape;
  const toHeads = direction === 'toHeads';
  const tl = toHeads ? rows : rows / P;
  const dp = toHeads ? width / parts / P : width / parts;
  if (!Number.isInteger(tl) || !Number.isInteger(dp))
    throw new Error(
      `sequence exchange ${direction}: x is ${x.shape.join('x')}, needs ${toHeads ? `width divisible by ${parts}·${P}` : `rows divisible by ${P}`}`,
    );
  const maps = staging.indexMaps(batch, tl, parts, dp);
  const [fromMap, toMap] = toHeads ? [maps.seq, maps.head] : [maps.head, maps.seq];
  const y = ctx.tensor(toHeads ? [batch, tl * P, parts * dp] : [batch, tl, parts * dp * P]);
  const scope = ctx.scope;
  const phase = ctx.phase;
  await exchange(staging, x, y, fromMap, toMap, `${what} fwd`);
  ctx.scope = scope;
  ctx.phase = phase;
  tape.record({
    name: `allToAll.${direction}`,
    inputs: [x],
    output: y,
    async backward(dy, sink) {
      const t = sink.target(x);
      if (!t) return;
      // The exchanged tensors (a qkv projection, an attention output) have one consumer.
      if (t.accumulate)
        throw new Error(
          `sequence exchange ${direction}: its input has a second consumer; the exchange cannot accumulate gradients`,
        );
      await exchange(staging, dy, t.tensor, toMap, fromMap, `${what} bwd`);
    },
  });
  return y;
}
