/**
 * A pool of GPU buffers keyed by (usage, size rounded up to 256 bytes).
 *
 * Why: creating a large buffer on lavapipe costs ~100 ms, far more than a training step's
 * kernels. The training step's allocation sequence is the same every step, so after the
 * first step every request is served from buffers released by the previous step; hits and
 * misses are counted so the run summary can show that.
 */
export interface PooledBuffer {
  readonly gpu: GPUBuffer;
  /** Stable id, used to key cached bind groups. */
  readonly id: number;
  readonly size: number;
  readonly usage: number;
}

export const STORAGE_USAGE = 0x80 /* STORAGE */ | 0x4 /* COPY_SRC */ | 0x8; /* COPY_DST */

const SIZE_GRANULE_BYTES = 256;
let nextBufferId = 1;

export function newBufferId(): number {
  return nextBufferId++;
}

export class BufferPool {
  private readonly free = new Map<string, PooledBuffer[]>();
  private readonly all: PooledBuffer[] = [];
  hits = 0;
  misses = 0;
  /** Bytes of every buffer this pool has created and still holds (in use or free). */
  bytes = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly label = 'pool',
  ) {}

  acquire(sizeBytes: number, usage = STORAGE_USAGE): PooledBuffer {
    const size = Math.max(SIZE_GRANULE_BYTES, Math.ceil(sizeBytes / SIZE_GRANULE_BYTES) * SIZE_GRANULE_BYTES);
    const key = `${usage}:${size}`;
    const list = this.free.get(key);
    const reused = list?.pop();
    if (reused) {
      this.hits++;
      return reused;
    }
    this.misses++;
    const gpu = this.device.createBuffer({ size, usage, label: `${this.label}:${size}` });
    const buf: PooledBuffer = { gpu, id: newBufferId(), size, usage };
    this.all.push(buf);
    this.bytes += size;
    return buf;
  }

  release(buf: PooledBuffer): void {
    const key = `${buf.usage}:${buf.size}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(buf);
  }

  destroy(): void {
    for (const b of this.all) b.gpu.destroy();
    this.all.length = 0;
    this.free.clear();
    this.bytes = 0;
  }
}
