/**
 * The one place that loads dawn-node (the `webgpu` package).
 *
 * Facts this file encodes (measured on lavapipe, see REFERENCES.md):
 * - Dawn quantizes timestamps to 65,536 ns unless told not to.
 * - The object returned by `create()` must stay referenced while any device lives,
 *   or the process segfaults when it is garbage-collected; we keep it in module scope
 *   for the life of the process (or worker thread).
 * - `webgpu` is an ES module; this runtime is CommonJS, hence the dynamic import.
 */

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

/** Loads dawn-node once per thread and returns its GPU object. */
export async function loadGpu(): Promise<GPU> {
  if (gpuInstance) return gpuInstance;
  if (loadError) throw loadError;
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
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
export async function requestAdapter(powerPreference: GPUPowerPreference = 'high-performance'): Promise<GPUAdapter | undefined> {
  const gpu = await loadGpu();
  const adapter = await gpu.requestAdapter({ powerPreference });
  return adapter ?? undefined;
}

/** Requests a device with the features CommLens uses when the adapter has them. */
export async function requestDevice(adapter: GPUAdapter, opts: { f16?: boolean } = {}): Promise<GPUDevice> {
  const wanted: GPUFeatureName[] = ['timestamp-query'];
  if (opts.f16) wanted.push('shader-f16');
  const requiredFeatures = wanted.filter((f) => adapter.features.has(f));
  const limits = adapter.limits;
  return adapter.requestDevice({
    requiredFeatures,
    requiredLimits: {
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
      maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
    },
  });
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
