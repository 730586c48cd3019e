/**
 * The one place that loads dawn-node (the `webgpu` package).
 *
 * Facts this file encodes (measured on lavapipe, see docs/references.md):
 * - Dawn quantizes timestamps to 65,536 ns unless told not to.
 * - The object returned by `create()` must stay referenced while any device lives,
 *   or the process segfaults when it is garbage-collected; we keep it in module scope
 *   for the life of the process (or worker thread).
 * - `webgpu` is an ES module; this runtime is CommonJS, hence the dynamic import.
 */

import { isMainThread } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { quietly, setQuietGpuWaits } from './quietWait';

let gpuInstance: GPU | undefined;
let loadError: Error | undefined;

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  backend: string;
  isFallbackAdapter: boolean;
  features: string[];
  limits: Record<string, number>;
}

/**
 * Lavapipe splits each dispatch's workgroups over LP_NUM_THREADS threads (default: one per
 * core). On a 2-core VM, 8 threads ran matmuls 1.3–1.5× faster than 2 (bench:kernels) and
 * 4-rank training steps ~6% faster: with one thread per core, whenever another thread
 * (Dawn's, a rank's, the OS's) takes a core, half the dispatch waits for it; smaller shares
 * balance. Mesa reads the variable when a device is created, from the process environment,
 * which only the main thread can change (a worker's process.env is a copy): so the main
 * thread calls this before any worker creates a device. A value the user set is kept.
 * Harmless for hardware drivers, which do not read it. Returns the value in effect.
 */
export function tuneSoftwareRasterizerThreads(): string {
  if (isMainThread && process.env.LP_NUM_THREADS === undefined) {
    process.env.LP_NUM_THREADS = String(Math.min(32, 4 * availableParallelism()));
  }
  return process.env.LP_NUM_THREADS ?? 'default';
}

/** Loads dawn-node once per thread and returns its GPU object. */
export async function loadGpu(): Promise<GPU> {
  if (gpuInstance) return gpuInstance;
  if (loadError) throw loadError;
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  tuneSoftwareRasterizerThreads();
  try {
    const mod = (await import('webgpu')) as unknown as { create(flags: string[]): GPU; globals: object };
    Object.assign(globalThis, mod.globals);
    gpuInstance = mod.create(['disable-dawn-features=timestamp_quantization']);
    (globalThis as Record<string, unknown>).__commlensGpu = gpuInstance; // second strong reference
    return gpuInstance;
  } catch (e) {
    loadError = new Error(`could not load dawn-node (the 'webgpu' package): ${(e as Error).message}`);
    throw loadError;
  }
}

/** Requests an adapter, or returns undefined when the machine has none. */
export async function requestAdapter(
  powerPreference: GPUPowerPreference = 'high-performance',
): Promise<GPUAdapter | undefined> {
  const gpu = await loadGpu();
  const adapter = await gpu.requestAdapter({ powerPreference });
  // A software GPU computes on the host's cores: wait for it without spinning on them (quietWait.ts).
  if (adapter) setQuietGpuWaits(isSoftwareAdapter(adapter));
  return adapter ?? undefined;
}

/** Requests a device with the features CommLens uses when the adapter has them. */
export async function requestDevice(adapter: GPUAdapter, opts: { f16?: boolean } = {}): Promise<GPUDevice> {
  const wanted: GPUFeatureName[] = ['timestamp-query'];
  if (opts.f16) wanted.push('shader-f16');
  const requiredFeatures = wanted.filter((f) => adapter.features.has(f));
  const limits = adapter.limits;
  return quietly(
    adapter.requestDevice({
      requiredFeatures,
      requiredLimits: {
        maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
        maxBufferSize: limits.maxBufferSize,
        maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
        maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
        maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
      },
    }),
  );
}

const LIMIT_KEYS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

/** Whether the adapter is a software GPU (lavapipe, SwiftShader): its kernels run on the machine's CPU cores. */
export function isSoftwareAdapter(adapter: GPUAdapter): boolean {
  return adapter.info.architecture === 'software' || /llvmpipe|lavapipe|swiftshader/i.test(adapter.info.description);
}

export function summarizeAdapter(adapter: GPUAdapter): AdapterSummary {
  const info = adapter.info;
  const limits: Record<string, number> = {};
  for (const k of LIMIT_KEYS) limits[k] = Number((adapter.limits as unknown as Record<string, number>)[k]);
  const isFallback = (info as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false;
  return {
    vendor: info.vendor || 'unknown',
    architecture: info.architecture || 'unknown',
    device: info.device || '',
    description: info.description || '',
    backend: (info as unknown as { backendType?: string }).backendType ?? 'vulkan',
    isFallbackAdapter: isFallback,
    features: [...adapter.features].map(String).sort(),
    limits,
  };
}
