/** GPU helpers for op tests: upload host arrays as tensors, run forward/backward, read back. */
import { GpuContext } from '../../../runtime/engine/context';
import { Tape } from '../../../runtime/engine/tape';
import { Tensor } from '../../../runtime/engine/tensor';
import type { Graph } from '../../../runtime/engine/ops/graph';

export class OpHarness {
  readonly ctx: GpuContext;
  constructor(readonly device: GPUDevice) {
    this.ctx = new GpuContext(device, { timing: false });
  }

  graph(): Graph {
    return { ctx: this.ctx, tape: new Tape(this.ctx) };
  }

  upload(shape: number[], data: ArrayLike<number>, opts: { grad?: boolean; int?: boolean } = {}): Tensor {
    const t = this.ctx.tensor(shape);
    const arr = opts.int ? Int32Array.from(data) : Float32Array.from(data);
    this.device.queue.writeBuffer(t.buf.gpu, 0, arr);
    t.requiresGrad = opts.grad ?? false;
    return t;
  }

  async read(t: Tensor): Promise<Float64Array> {
    this.ctx.submit();
    const rb = this.device.createBuffer({
      size: t.byteLength,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(t.buf.gpu, t.offsetBytes, rb, 0, t.byteLength);
    this.device.queue.submit([enc.finish()]);
    await this.ctx.guard(rb.mapAsync(GPUMapMode.READ));
    const out = Float64Array.from(new Float32Array(rb.getMappedRange().slice(0)).subarray(0, t.size));
    rb.unmap();
    rb.destroy();
    return out;
  }

  /** Runs backward from `out` seeded with `dy`; returns each requested input's gradient. */
  async backward(g: Graph, out: Tensor, dy: ArrayLike<number>, inputs: Tensor[]): Promise<Float64Array[]> {
    const seed = this.upload(out.shape.slice(), dy);
    g.ctx.phase = 'backward';
    const grads = g.tape.backward(out, seed, () => undefined);
    const res: Float64Array[] = [];
    for (const x of inputs) {
      const t = grads.get(x);
      if (!t) throw new Error('no gradient for an input');
      res.push(await this.read(t));
    }
    return res;
  }
}

/** ‖a − b‖∞ / ‖b‖∞ (norm-wise relative error; per-element ratios explode near zero). */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) return Number.POSITIVE_INFINITY;
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / Math.max(den, 1e-30);
}
