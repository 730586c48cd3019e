/**
 * GPU-timestamped kernel spans.
 *
 * Each named kernel runs in its own compute pass whose `timestampWrites` record the GPU
 * time at the pass's start and end (Dawn does not implement `writeTimestamp` on encoders).
 * Queries are resolved at the end of every command encoder into a readback buffer, and
 * mapped only when the caller drains. GPU times are mapped onto the host clock
 * (hostNowNs) by an offset measured by `calibrate`.
 */
import { hostNowNs } from '../clock';
import { quietly } from '../gpu/quietWait';

export type SpanPhase = 'forward' | 'backward' | 'optimizer' | 'other';

export interface KernelSpan {
  name: string;
  phase: SpanPhase;
  /** Host clock (hostNowNs) after calibration. */
  startNs: number;
  endNs: number;
  flops?: number;
  bytes?: number;
  args?: Record<string, string | number>;
}

export interface SpanMeta {
  name: string;
  phase: SpanPhase;
  flops?: number;
  bytes?: number;
  args?: Record<string, string | number>;
}

/** The largest query set WebGPU allows. */
const QUERIES_PER_CHUNK = 4096;

interface Chunk {
  querySet: GPUQuerySet;
  resolve: GPUBuffer;
  readback: GPUBuffer;
  used: number;
  resolvedUpTo: number;
  meta: SpanMeta[];
}

export interface Calibration {
  /** gpuNs - hostNs. */
  offsetNs: number;
  /** Half-width of the interval the offset is known to lie in. */
  errorNs: number;
}

export class SpanRecorder {
  private chunks: Chunk[] = [];
  private spare: Chunk[] = [];
  calibration: Calibration = { offsetNs: 0, errorNs: Number.POSITIVE_INFINITY };

  constructor(private readonly device: GPUDevice) {}

  private newChunk(): Chunk {
    const reused = this.spare.pop();
    if (reused) {
      reused.used = 0;
      reused.resolvedUpTo = 0;
      reused.meta = [];
      return reused;
    }
    const bytes = QUERIES_PER_CHUNK * 8;
    return {
      querySet: this.device.createQuerySet({ type: 'timestamp', count: QUERIES_PER_CHUNK }),
      resolve: this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }),
      readback: this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
      used: 0,
      resolvedUpTo: 0,
      meta: [],
    };
  }

  /** Reserves a begin/end query pair for one pass. */
  timestampWrites(meta: SpanMeta): GPUComputePassTimestampWrites {
    let chunk = this.chunks[this.chunks.length - 1];
    if (!chunk || chunk.used + 2 > QUERIES_PER_CHUNK) {
      chunk = this.newChunk();
      this.chunks.push(chunk);
    }
    const q = chunk.used;
    chunk.used += 2;
    chunk.meta.push(meta);
    return { querySet: chunk.querySet, beginningOfPassWriteIndex: q, endOfPassWriteIndex: q + 1 };
  }

  /** Resolves every query written since the last call; encode before `finish()`. */
  resolve(encoder: GPUCommandEncoder): void {
    for (const c of this.chunks) {
      if (c.resolvedUpTo === c.used) continue;
      // The resolve destination offset must be a multiple of 256 bytes (32 queries):
      // start at the aligned query below, re-resolving a few already-written ones.
      const first = Math.floor(c.resolvedUpTo / 32) * 32;
      const count = c.used - first;
      encoder.resolveQuerySet(c.querySet, first, count, c.resolve, first * 8);
      encoder.copyBufferToBuffer(c.resolve, first * 8, c.readback, first * 8, count * 8);
      c.resolvedUpTo = c.used;
    }
  }

  /**
   * Returns the spans of all submitted work since the last drain. Work must have been
   * submitted (resolve() encoded) before; unresolved queries stay for the next drain.
   */
  async drain(): Promise<KernelSpan[]> {
    // Only fully resolved chunks: one still being encoded into keeps collecting, and new
    // passes never write into a chunk whose readback is being mapped.
    const ready = this.chunks.filter((c) => c.used > 0 && c.resolvedUpTo === c.used);
    this.chunks = this.chunks.filter((c) => !ready.includes(c));
    const spans: KernelSpan[] = [];
    const offset = this.calibration.offsetNs;
    for (const c of ready) {
      await quietly(c.readback.mapAsync(GPUMapMode.READ, 0, c.resolvedUpTo * 8));
      const ts = new BigUint64Array(c.readback.getMappedRange(0, c.resolvedUpTo * 8).slice(0));
      c.readback.unmap();
      const n = c.resolvedUpTo / 2;
      for (let i = 0; i < n; i++) {
        const m = c.meta[i];
        const begin = Number(ts[2 * i]);
        const end = Number(ts[2 * i + 1]);
        const span: KernelSpan = {
          name: m.name,
          phase: m.phase,
          startNs: begin - offset,
          endNs: Math.max(begin, end) - offset,
        };
        if (m.flops !== undefined) span.flops = m.flops;
        if (m.bytes !== undefined) span.bytes = m.bytes;
        if (m.args) span.args = m.args;
        spans.push(span);
      }
      this.spare.push(c);
    }
    spans.sort((a, b) => a.startNs - b.startNs);
    return spans;
  }

  /**
   * Measures gpuNs - hostNs: each sample brackets one tiny timestamped pass between two
   * host clock reads, so the true offset lies in [gpu - hostAfter, gpu - hostBefore].
   * The intersection of all samples' intervals is kept (clocks do not drift measurably over
   * a few milliseconds); if the intervals disagree, the tightest single sample wins.
   */
  async calibrate(samples = 24): Promise<Calibration> {
    const querySet = this.device.createQuerySet({ type: 'timestamp', count: 2 });
    const resolve = this.device.createBuffer({
      size: 16,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    const readback = this.device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    let lo = Number.NEGATIVE_INFINITY;
    let hi = Number.POSITIVE_INFINITY;
    let best = { lo: 0, hi: Number.POSITIVE_INFINITY };
    try {
      for (let i = 0; i < samples; i++) {
        const encoder = this.device.createCommandEncoder();
        const pass = encoder.beginComputePass({
          timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 },
        });
        pass.end();
        encoder.resolveQuerySet(querySet, 0, 2, resolve, 0);
        encoder.copyBufferToBuffer(resolve, 0, readback, 0, 16);
        const cmd = encoder.finish();
        const before = hostNowNs();
        this.device.queue.submit([cmd]);
        await quietly(this.device.queue.onSubmittedWorkDone());
        const after = hostNowNs();
        await quietly(readback.mapAsync(GPUMapMode.READ));
        const gpu = Number(new BigUint64Array(readback.getMappedRange().slice(0))[0]);
        readback.unmap();
        const sLo = gpu - after;
        const sHi = gpu - before;
        lo = Math.max(lo, sLo);
        hi = Math.min(hi, sHi);
        if (sHi - sLo < best.hi - best.lo) best = { lo: sLo, hi: sHi };
      }
    } finally {
      querySet.destroy();
      resolve.destroy();
      readback.destroy();
    }
    if (!(lo <= hi)) ({ lo, hi } = best);
    this.calibration = { offsetNs: (lo + hi) / 2, errorNs: (hi - lo) / 2 };
    return this.calibration;
  }

  destroy(): void {
    for (const c of [...this.chunks, ...this.spare]) {
      c.querySet.destroy();
      c.resolve.destroy();
      c.readback.destroy();
    }
    this.chunks = [];
    this.spare = [];
  }
}
