/**
 * What a rank does in the GPU staging test: open its own WebGPU device, fill a buffer
 * with its deterministic payload, all-reduce a range of it through allReduceGpuBuffer,
 * read the whole buffer back and report it with the spans and the staging-pool size.
 */
import { requestAdapter, requestDevice } from '../gpu/dawn';
import { quietly } from '../gpu/quietWait';
import { Communicator } from './communicator';
import { Dtype, ReduceOp, TypedData, viewOf } from './dtypes';
import { allReduceGpuBuffer, stagingBuffersCreated } from './gpuStaging';
import { CommSpan } from './spans';
import { randomPayload } from './testData';
import { WorldInit } from './world';

export interface GpuTask {
  kind: 'gpu';
  seed: number;
  dtype: Dtype;
  /** Elements in the whole buffer. */
  count: number;
  offsetBytes: number;
  sizeBytes: number;
  chunkBytes: number;
  reduceOp: ReduceOp;
  /** Extra calls after the checked one, with 'max' (idempotent) to exercise the warm pool. */
  extraCalls: number;
}

export interface GpuResult {
  data: TypedData;
  spans: CommSpan[];
  stagingAfterFirst: number;
  stagingAfterAll: number;
  adapter: string;
}

export async function runGpuTask(init: WorldInit, rank: number, task: GpuTask): Promise<GpuResult> {
  const spans: CommSpan[] = [];
  const comm = Communicator.fromInit(init, rank, (s) => spans.push(s));
  const adapter = await requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter (is a Vulkan driver such as lavapipe installed?)');
  const device = await requestDevice(adapter);
  try {
    const input = randomPayload(task.dtype, task.count, task.seed, rank, 0);
    const bytes = input.byteLength;
    const usage = 0x0080 | 0x0004 | 0x0008; // STORAGE | COPY_SRC | COPY_DST
    const buffer = device.createBuffer({ size: bytes, usage });
    device.queue.writeBuffer(buffer, 0, input.buffer, input.byteOffset, bytes);
    await allReduceGpuBuffer(comm, device, buffer, task.offsetBytes, task.sizeBytes, {
      dtype: task.dtype,
      op: task.reduceOp,
      chunkBytes: task.chunkBytes,
    });
    const stagingAfterFirst = stagingBuffersCreated(device);
    for (let i = 0; i < task.extraCalls; i++) {
      await allReduceGpuBuffer(comm, device, buffer, task.offsetBytes, task.sizeBytes, {
        dtype: task.dtype,
        op: 'max',
        chunkBytes: task.chunkBytes,
      });
    }
    const stagingAfterAll = stagingBuffersCreated(device);
    const readback = device.createBuffer({ size: bytes, usage: 0x0001 | 0x0008 }); // MAP_READ | COPY_DST
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(buffer, 0, readback, 0, bytes);
    device.queue.submit([enc.finish()]);
    await quietly(readback.mapAsync(0x0001));
    const data = viewOf(task.dtype, readback.getMappedRange().slice(0), 0, task.count);
    readback.unmap();
    return {
      data,
      spans,
      stagingAfterFirst,
      stagingAfterAll,
      adapter: adapter.info.description || adapter.info.device,
    };
  } finally {
    device.destroy();
  }
}
