/** CommLens' collective communication library (see each module for the details). */
export { LINK_PROFILES, LINK_PROFILE_NAMES, resolveLinkProfile, scaledProfile, slowedProfile, messageTimeNs } from './profiles';
export type { LinkProfile } from './profiles';
export { createWorld, abortWorld, worldAbortState, resolveLinks } from './world';
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
