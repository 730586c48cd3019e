/**
 * One WebGPU device per test process (lavapipe here), or undefined without an adapter on
 * a developer's machine (the tests skip); in CI or with COMMLENS_REQUIRE_GPU=1 a missing
 * adapter fails every test that asks for it.
 */
import { requestAdapter, requestDevice } from '../../../runtime/gpu/dawn';
import { skipUnlessPresent } from '../../helpers/require';

let devicePromise: Promise<GPUDevice | undefined> | undefined;

export function testDevice(): Promise<GPUDevice | undefined> {
  devicePromise ??= (async () => {
    const adapter = await requestAdapter();
    if (!adapter) {
      skipUnlessPresent('no WebGPU adapter (dawn-node needs a Vulkan driver: lavapipe on CPU machines)');
      return undefined;
    }
    return requestDevice(adapter, { f16: true });
  })();
  return devicePromise;
}

/** The adapter alone (tests of adapter-level behaviour), with the same rule. */
export async function testAdapter(): Promise<GPUAdapter | undefined> {
  const adapter = await requestAdapter();
  if (!adapter) skipUnlessPresent('no WebGPU adapter (dawn-node needs a Vulkan driver: lavapipe on CPU machines)');
  return adapter ?? undefined;
}
