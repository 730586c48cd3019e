/**
 * All-reduce of a range of a GPUBuffer in place: the GPU's data is staged to the host
 * (D2H: copyBufferToBuffer into a pooled MAP_READ buffer, mapAsync), all-reduced while
 * still mapped (no extra host copy), and written back (H2D: queue.writeBuffer). The range
 * is cut into chunks so that chunk i+1's D2H and chunk i-1's H2D overlap chunk i on the
 * wire. Each copy is traced as its own span ('d2h' / 'h2d'). The staging buffers are
 * pooled per device: after warm-up no GPU buffer is created per call.
 */
import { hostNowNs } from '../clock';
import { quietly } from '../gpu/quietWait';
import { CollectiveOptions, Communicator } from './communicator';
import { dtypeBytes, Dtype, TypedData, viewOf } from './dtypes';
import { CommUsageError } from './errors';

export interface GpuAllReduceOptions extends CollectiveOptions {
  /** Staging chunk (default 4 MiB): smaller = more overlap, more per-chunk overhead. */
  chunkBytes?: number;
  /** Staging buffers in flight (default 3). */
  depth?: number;
}

// GPUBufferUsage / GPUMapMode values from the WebGPU spec (the globals only exist once
// dawn-node is loaded, and this module must load without it).
const MAP_READ = 0x0001;
const COPY_DST = 0x0008;
const MODE_READ = 0x0001;

class StagingPool {
  private readonly free: GPUBuffer[] = [];
  private created = 0;
  private readonly waiters: ((b: GPUBuffer) => void)[] = [];
  constructor(
    readonly device: GPUDevice,
    readonly chunkBytes: number,
    readonly depth: number,
  ) {}

  acquire(): Promise<GPUBuffer> {
    const b = this.free.pop();
    if (b) return Promise.resolve(b);
    if (this.created < this.depth) {
      this.created++;
      return Promise.resolve(
        this.device.createBuffer({ size: this.chunkBytes, usage: MAP_READ | COPY_DST, label: 'commlens-staging' }),
      );
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(b: GPUBuffer): void {
    const w = this.waiters.shift();
    if (w) w(b);
    else this.free.push(b);
  }

  get buffersCreated(): number {
    return this.created;
  }
}

const pools = new WeakMap<GPUDevice, Map<string, StagingPool>>();

function poolFor(device: GPUDevice, chunkBytes: number, depth: number): StagingPool {
  let byShape = pools.get(device);
  if (!byShape) pools.set(device, (byShape = new Map()));
  const key = `${chunkBytes}x${depth}`;
  let p = byShape.get(key);
  if (!p) byShape.set(key, (p = new StagingPool(device, chunkBytes, depth)));
  return p;
}

/** Staging buffers created so far for `device` (for tests: constant after warm-up). */
export function stagingBuffersCreated(device: GPUDevice): number {
  let n = 0;
  for (const p of pools.get(device)?.values() ?? []) n += p.buffersCreated;
  return n;
}

/** All-reduces bytes [offsetBytes, offsetBytes + sizeBytes) of `buffer` in place across `comm`. */
export async function allReduceGpuBuffer(
  comm: Communicator,
  device: GPUDevice,
  buffer: GPUBuffer,
  offsetBytes: number,
  sizeBytes: number,
  opts: GpuAllReduceOptions = {},
): Promise<void> {
  const dtype: Dtype = opts.dtype ?? 'f32';
  const es = dtypeBytes(dtype);
  if (offsetBytes % 4 !== 0 || sizeBytes % 4 !== 0 || sizeBytes < 0) {
    throw new CommUsageError(
      `allReduceGpuBuffer: offset (${offsetBytes}) and size (${sizeBytes}) must be non-negative multiples of 4 bytes (WebGPU copy alignment)`,
    );
  }
  if (offsetBytes + sizeBytes > buffer.size) {
    throw new CommUsageError(
      `allReduceGpuBuffer: range [${offsetBytes}, ${offsetBytes + sizeBytes}) exceeds the buffer's ${buffer.size} bytes`,
    );
  }
  const chunkBytes = Math.max(4, Math.floor((opts.chunkBytes ?? 4 << 20) / 4) * 4);
  const pool = poolFor(device, chunkBytes, Math.max(1, opts.depth ?? 3));
  const collective: CollectiveOptions = { op: opts.op, algorithm: opts.algorithm, dtype };
  const chunks: [number, number][] = [];
  for (let off = 0; off < sizeBytes; off += chunkBytes)
    chunks.push([offsetBytes + off, Math.min(chunkBytes, sizeBytes - off)]);
  if (chunks.length === 0) {
    // Every rank must still take part in the collective (it carries the sequence number).
    await comm.allReduce(viewOf(dtype, new ArrayBuffer(0), 0, 0), collective).wait();
    return;
  }
  // Collectives must be issued in chunk order on every rank (whichever mapping resolves
  // first): chunk i issues only after chunk i-1 has; a failed chunk fails the ones after it.
  const turn: { promise: Promise<void>; open: () => void; fail: (e: unknown) => void }[] = chunks.map(() => {
    let open!: () => void, fail!: (e: unknown) => void;
    const promise = new Promise<void>((res, rej) => ((open = res), (fail = rej)));
    promise.catch(() => undefined);
    return { promise, open, fail };
  });
  const span = (kind: 'd2h' | 'h2d', bytes: number, startNs: number, endNs: number) => {
    const dur = endNs - startNs;
    comm.recordSpan({
      op: 'allReduceGpuBuffer',
      algorithm: 'staged',
      group: comm.groupName,
      seq: -1,
      bytes,
      dtype,
      startNs,
      endNs,
      waitNs: 0,
      transferNs: dur,
      algbwGBps: dur > 0 ? bytes / dur : 0,
      busbwGBps: dur > 0 ? bytes / dur : 0,
      kind,
      name: kind === 'd2h' ? 'D2H' : 'H2D',
    });
  };
  const tasks = chunks.map(async ([off, len], i) => {
    const staging = await pool.acquire();
    let mapped = false;
    try {
      const t0 = hostNowNs();
      const enc = device.createCommandEncoder({ label: 'commlens-d2h' });
      enc.copyBufferToBuffer(buffer, off, staging, 0, len);
      device.queue.submit([enc.finish()]);
      await quietly(staging.mapAsync(MODE_READ, 0, len));
      mapped = true;
      const view: TypedData = viewOf(dtype, staging.getMappedRange(0, len), 0, len / es);
      span('d2h', len, t0, hostNowNs());
      if (i > 0) await turn[i - 1].promise;
      const handle = comm.allReduce(view, collective);
      turn[i].open();
      await handle.wait();
      const t1 = hostNowNs();
      // A mapped MAP_READ range is ordinary host memory until unmap: write it straight back.
      device.queue.writeBuffer(buffer, off, view.buffer, view.byteOffset, view.byteLength);
      span('h2d', len, t1, hostNowNs());
    } catch (e) {
      turn[i].fail(e);
      throw e;
    } finally {
      if (mapped) staging.unmap();
      pool.release(staging);
    }
  });
  const results = await Promise.allSettled(tasks);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}
