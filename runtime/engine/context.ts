/**
 * The engine's GPU context: pipelines, pooled tensors, cached uniforms and bind groups,
 * the current command encoder, and the named (optionally timestamped) dispatch every op
 * goes through. Errors from the device (lost, out of memory, validation) are recorded
 * here and rethrown at the next call as a clear Error, so a run ends instead of hanging.
 */
import { BufferPool, PooledBuffer, newBufferId, STORAGE_USAGE } from './pool';
import { quietly } from '../gpu/quietWait';
import { SpanRecorder, SpanMeta, SpanPhase } from './spans';
import { DType, Tensor } from './tensor';

export interface DispatchSpec {
  /** Span name: what was computed, e.g. `matmul 512x2048x512 fwd layer3.mlp.fc1`. */
  name: string;
  pipeline: GPUComputePipeline;
  /** Bound in order at bindings 1..n (binding 0 is the uniform block when given). */
  buffers: (GPUBufferBinding | GPUTextureView)[];
  uniform?: ArrayBuffer;
  /** A uniform buffer the caller rewrites between steps (optimizer hyper-parameters). */
  uniformBuffer?: GPUBuffer;
  workgroups: [number, number?, number?];
  flops?: number;
  bytes?: number;
  args?: Record<string, string | number>;
}

const MAX_WORKGROUPS_PER_DIM = 65535;

/** Splits a 1-D workgroup count over x and y so neither passes the per-dimension limit. */
export function grid1d(workgroups: number): [number, number] {
  const x = Math.min(Math.max(1, workgroups), MAX_WORKGROUPS_PER_DIM);
  return [x, Math.ceil(Math.max(1, workgroups) / x)];
}

export class GpuContext {
  readonly pool: BufferPool;
  readonly spans: SpanRecorder | undefined;
  phase: SpanPhase = 'other';
  /** Where in the model the next ops belong (`layer3.mlp.fc1`); part of span names. */
  scope = '';
  /** The device has shader-f16. */
  readonly f16: boolean;
  /** Run matmuls with f16 operands (the model's dtype is 'f16'). */
  mixedF16 = false;
  /** 'cpu' for software adapters (lavapipe, SwiftShader), else 'gpu': picks kernel variants. */
  readonly adapterClass: 'cpu' | 'gpu';
  private encoder: GPUCommandEncoder | undefined;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly pipelineIds = new WeakMap<GPUComputePipeline, number>();
  private readonly uniforms = new Map<string, { gpu: GPUBuffer; id: number }>();
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly textures = new Map<string, { texture: GPUTexture; view: GPUTextureView }>();
  private failure: Error | undefined;
  private readonly lostPromise: Promise<never>;
  dispatchCount = 0;

  constructor(
    readonly device: GPUDevice,
    opts: { timing: boolean },
  ) {
    this.pool = new BufferPool(device, 'engine');
    this.spans = opts.timing && device.features.has('timestamp-query') ? new SpanRecorder(device) : undefined;
    this.f16 = device.features.has('shader-f16');
    const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
    const soft = /software|cpu|llvmpipe|lavapipe|swiftshader/i;
    this.adapterClass =
      info && (soft.test(info.architecture) || soft.test(info.description) || soft.test(info.device)) ? 'cpu' : 'gpu';
    this.lostPromise = device.lost.then((info) => {
      this.failure ??= new Error(
        `GPU device lost${info.reason ? ` (${info.reason})` : ''}: ${info.message || 'no message'}`,
      );
      throw this.failure;
    });
    this.lostPromise.catch(() => undefined);
    device.addEventListener('uncapturederror', (ev) => {
      const err = (ev as GPUUncapturedErrorEvent).error;
      const kind =
        err.constructor?.name === 'GPUOutOfMemoryError' || /out of memory/i.test(err.message)
          ? 'GPU out of memory'
          : 'GPU error';
      this.failure ??= new Error(`${kind}: ${err.message}`);
    });
  }

  /** Throws the first device failure seen, if any. */
  check(): void {
    if (this.failure) throw this.failure;
  }

  /** Awaits `p`, but fails fast when the device is lost meanwhile. */
  async guard<T>(p: Promise<T>): Promise<T> {
    // If the device is lost first, `p` still settles later (e.g. mapAsync aborts): keep
    // that rejection handled.
    p.catch(() => undefined);
    this.check();
    const v = await Promise.race([quietly(p), this.lostPromise]);
    this.check();
    return v;
  }

  pipeline(key: string, code: string): GPUComputePipeline {
    let p = this.pipelines.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ code, label: key });
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: key });
      this.pipelines.set(key, p);
      this.pipelineIds.set(p, this.pipelines.size);
    }
    return p;
  }

  /** Uniform blocks are immutable and cached by content: shapes repeat every step. */
  private uniform(data: ArrayBuffer): { gpu: GPUBuffer; id: number } {
    const bytes = new Uint8Array(data);
    let key = '';
    for (let i = 0; i < bytes.length; i += 4) key += new Uint32Array(data, i, 1)[0].toString(36) + ',';
    let u = this.uniforms.get(key);
    if (!u) {
      const size = Math.max(16, Math.ceil(bytes.length / 16) * 16);
      const gpu = this.device.createBuffer({ size, usage: GPUBufferUsage.UNIFORM, mappedAtCreation: true });
      new Uint8Array(gpu.getMappedRange()).set(bytes);
      gpu.unmap();
      u = { gpu, id: newBufferId() };
      this.uniforms.set(key, u);
    }
    return u;
  }

  tensor(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const bytes = Math.ceil((n * (dtype === 'f16' ? 2 : 4)) / 4) * 4;
    return new Tensor(shape, this.pool.acquire(bytes), 0, true, dtype);
  }

  release(t: Tensor): void {
    if (t.pooled) this.pool.release(t.buf);
  }

  /** A non-pooled buffer the caller owns (inputs, flat parameters). */
  ownedBuffer(sizeBytes: number, usage = STORAGE_USAGE, label?: string): PooledBuffer {
    const size = Math.max(16, Math.ceil(sizeBytes / 16) * 16);
    return { gpu: this.device.createBuffer({ size, usage, label }), id: newBufferId(), size, usage };
  }

  /**
   * The scratch rgba32float texture of `width` × `height` texels for `slot` (one per slot
   * and size; shapes repeat every step, so a step creates none after its first). Reuse is
   * safe because the queue runs passes in order: a pack's consumer has read the texture
   * before the next pack into it runs. Creations and reuses count in the pool's statistics
   * (misses and hits) like buffers.
   */
  scratchTexture(slot: string, width: number, height: number): GPUTextureView {
    const key = `${slot}:${width}x${height}`;
    let t = this.textures.get(key);
    if (t) {
      this.pool.hits++;
      return t.view;
    }
    const texture = this.device.createTexture({
      size: [width, height],
      format: 'rgba32float',
      usage: GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.TEXTURE_BINDING,
      label: key,
    });
    t = { texture, view: texture.createView() };
    this.textures.set(key, t);
    this.pool.misses++;
    this.pool.bytes += width * height * 16;
    return t.view;
  }

  commandEncoder(): GPUCommandEncoder {
    this.check();
    return (this.encoder ??= this.device.createCommandEncoder());
  }

  dispatch(spec: DispatchSpec): void {
    const encoder = this.commandEncoder();
    const entries: GPUBindGroupEntry[] = [];
    let key = `${this.pipelineIds.get(spec.pipeline)}`;
    if (spec.uniformBuffer) {
      entries.push({ binding: 0, resource: { buffer: spec.uniformBuffer } });
      key += `|ub${idOf(spec.uniformBuffer)}`;
    } else if (spec.uniform) {
      const u = this.uniform(spec.uniform);
      entries.push({ binding: 0, resource: { buffer: u.gpu } });
      key += `|u${u.id}`;
    }
    spec.buffers.forEach((b, i) => {
      entries.push({ binding: i + 1, resource: b });
      key += 'buffer' in b ? `|${idOf(b.buffer)}:${b.offset ?? 0}:${b.size ?? -1}` : `|t${idOf(b)}`;
    });
    let bindGroup = this.bindGroups.get(key);
    if (!bindGroup) {
      if (this.bindGroups.size > 20000) this.bindGroups.clear();
      bindGroup = this.device.createBindGroup({ layout: spec.pipeline.getBindGroupLayout(0), entries });
      this.bindGroups.set(key, bindGroup);
    }
    // One pass per kernel whether or not it is timed: the timed and untimed runs then
    // differ only by the timestamp writes (what the tracing-overhead benchmark compares),
    // and on lavapipe a pass per kernel measured faster than one shared pass.
    let pass: GPUComputePassEncoder;
    if (this.spans) {
      const meta: SpanMeta = { name: spec.name, phase: this.phase };
      if (spec.flops !== undefined) meta.flops = spec.flops;
      if (spec.bytes !== undefined) meta.bytes = spec.bytes;
      if (spec.args) meta.args = spec.args;
      pass = encoder.beginComputePass({ timestampWrites: this.spans.timestampWrites(meta), label: spec.name });
    } else {
      pass = encoder.beginComputePass({ label: spec.name });
    }
    pass.setPipeline(spec.pipeline);
    pass.setBindGroup(0, bindGroup);
    const [x, y = 1, z = 1] = spec.workgroups;
    pass.dispatchWorkgroups(x, y, z);
    pass.end();
    this.dispatchCount++;
  }

  /** Finishes and submits the current encoder (with its timestamp resolves). */
  submit(): void {
    this.check();
    if (!this.encoder) return;
    this.spans?.resolve(this.encoder);
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = undefined;
  }

  destroy(): void {
    this.encoder = undefined;
    this.pool.destroy();
    this.spans?.destroy();
    for (const u of this.uniforms.values()) u.gpu.destroy();
    for (const t of this.textures.values()) t.texture.destroy();
    this.textures.clear();
    this.uniforms.clear();
    this.bindGroups.clear();
  }
}

const bufferIds = new WeakMap<GPUBuffer | GPUTextureView, number>();
function idOf(b: GPUBuffer | GPUTextureView): number {
  let id = bufferIds.get(b);
  if (id === undefined) bufferIds.set(b, (id = newBufferId()));
  return id;
}

/** Packs uniform fields: integers as u32, numbers marked by `f()` as f32. */
export class UniformWriter {
  private readonly words: number[] = [];
  private readonly floats = new Set<number>();
  u(...vals: number[]): this {
    for (const v of vals) this.words.push(v >>> 0);
    return this;
  }
  f(...vals: number[]): this {
    for (const v of vals) {
      this.floats.add(this.words.length);
      this.words.push(v);
    }
    return this;
  }
  build(): ArrayBuffer {
    const n = Math.max(4, Math.ceil(this.words.length / 4) * 4);
    const buf = new ArrayBuffer(n * 4);
    const u32 = new Uint32Array(buf);
    const f32 = new Float32Array(buf);
    this.words.forEach((w, i) => (this.floats.has(i) ? (f32[i] = w) : (u32[i] = w)));
    return buf;
  }
}
