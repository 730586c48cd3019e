/**
 * CommLens' collective communication library: ranks as worker threads exchanging data
 * through shared memory with NCCL-like algorithms, over an emulated interconnect.
 * See README.md in this folder for the design.
 */
export {
  LINK_PROFILES,
  LINK_PROFILE_NAMES,
  GPU_PEAK_FLOPS,
  resolveLinkProfile,
  scaledProfile,
  slowedProfile,
  messageTimeNs,
} from './profiles';
export type { LinkProfile } from './profiles';
export { createWorld, abortWorld, worldAbortState, throwIfAborted, resolveLinks, worldMetadata } from './world';
export type { TopologyConfig, WorldInit, WorldOptions } from './world';
export { Communicator } from './communicator';
export type { CollectiveOptions, CommunicatorOptions } from './communicator';
export type { CommHandle } from './handle';
export type { CommSpan } from './spans';
export { busBandwidthFactor, algBandwidthGBps } from './spans';
export { CommError, CommAbortedError, CommTimeoutError, CommMismatchError, CommUsageError } from './errors';
export type { Dtype, ReduceOp, TypedData } from './dtypes';
export { DTYPES, REDUCE_OPS, dtypeBytes, f32ToF16, f16ToF32Table } from './dtypes';
export { balancedCounts } from './ring';
export { ALGORITHMS, chooseAlgorithm, estimateNs } from './tuner';
export { allReduceGpuBuffer, stagingBuffersCreated } from './gpuStaging';
export type { GpuAllReduceOptions } from './gpuStaging';
export { runLocalWorld, RankFailedError } from './localWorld';
export type { LocalWorldOptions, RankFailure } from './localWorld';
export {
  PARALLEL_DIMS,
  validateLayout,
  resolveLayout,
  coordsOf,
  rankOf,
  groupRanks,
  groupsOf,
  groupOf,
  groupName,
  describeLayout,
  openLayoutGroups,
  worldSizeOf,
} from './layout';
export type { ParallelDim, ParallelLayout, LayoutConstraint } from './layout';
