/**
 * Moves ranges of the trainer's flat f32 buffers between the GPU and the host, for the
 * strategies whose numerics run on the host (compression hooks, sharded optimizers,
 * local-update averaging). Readback buffers are kept per size so that steady-state steps
 * allocate nothing. Every transfer is reported as a staging span.
 */
import type { SpanSink } from './hooks';
import { quietly } from '../gpu/quietWait';

const now = (): number => Number(process.hrtime.bigint());

export class Staging {
  private readonly spare = new Map<number, GPUBuffer[]>();
  private allocated = 0;
  /** End of the last reported transfer: transfers complete in queue order, so spans never overlap on one track. */
  private lastEndNs = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly span: SpanSink,
  ) {}

  /** Bytes of readback buffers this rank holds. */
  get bytes(): number {
    return this.allocated;
  }

  /**
   * Copies `count` f32 values from element `offset` of `buffer` to the host. The copy is
   * queued behind all work submitted so far, so it sees the results of that work. With `into`
   * (`count` values), the values land there and `into` is returned: a caller that reads the same
   * range every step keeps one array instead of faulting in a fresh one (scratch.ts).
   */
  async read(
    buffer: GPUBuffer,
    offset: number,
    count: number,
    label = 'D2H',
    into?: Float32Array,
  ): Promise<Float32Array> {
    if (into && into.length !== count)
      throw new Error(`Staging.read: 'into' holds ${into.length} values, the copy ${count}`);
    const size = count * 4;
    const t0 = now();
    const list = this.spare.get(size) ?? [];
    let staging = list.pop();
    if (!staging) {
      staging = this.device.createBuffer({
        size,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
        label: 'strategy readback',
      });
      this.allocated += size;
    }
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(buffer, offset * 4, staging, 0, size);
    this.device.queue.submit([enc.finish()]);
    await quietly(staging.mapAsync(GPUMapMode.READ));
    const out = into ?? new Float32Array(count);
    out.set(new Float32Array(staging.getMappedRange()));
    staging.unmap();
    list.push(staging);
    this.spare.set(size, list);
    this.report(label, t0, { direction: 'd2h', bytes: size });
    return out;
  }

  /** Writes f32 values to element `offset` of `buffer` (queued before any later GPU work). */
  write(buffer: GPUBuffer, offset: number, data: Float32Array, label = 'H2D'): void {
    const t0 = now();
    this.device.queue.writeBuffer(buffer, offset * 4, data.buffer, data.byteOffset, data.byteLength);
    this.report(label, t0, { direction: 'h2d', bytes: data.byteLength });
  }

  private report(label: string, t0: number, args: Record<string, string | number>): void {
    const end = now();
    const start = Math.max(t0, this.lastEndNs);
    this.lastEndNs = end;
    this.span(label, start, end, args);
  }

  /** Zeroes a range of a buffer on the GPU (ZeRO-3 drops the parameters it does not own). */
  clear(buffer: GPUBuffer, offset: number, count: number): void {
    if (count <= 0) return;
    const enc = this.device.createCommandEncoder();
    enc.clearBuffer(buffer, offset * 4, count * 4);
    this.device.queue.submit([enc.finish()]);
  }

  destroy(): void {
    for (const l of this.spare.values()) for (const b of l) b.destroy();
    this.spare.clear();
    this.allocated = 0;
  }
}
