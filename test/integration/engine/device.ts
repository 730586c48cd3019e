/** One WebGPU device per test process (lavapipe here), or undefined without an adapter. */
import { requestAdapter, requestDevice } from '../../../runtime/gpu/dawn';

let devicePromise: Promise<GPUDevice | undefined> | undefined;

export function testDevice(): Promise<GPUDevice | undefined> {
  devicePromise ??= (async () => {
    const adapter = await requestAdapter();
    if (!adapter) return undefined;
    return requestDevice(adapter, { f16: true });
  })();
  return devicePromise;
}
