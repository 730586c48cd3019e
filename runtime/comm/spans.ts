/**
 * The span every collective emits on every rank, and the nccl-tests bandwidth definitions
 * (doc/PERFORMANCE.md): algbw = S / t, busbw = algbw × a factor that makes it comparable
 * to the link's peak whatever the collective and the number of ranks.
 */
export interface CommSpan {
  op: string;
  algorithm: string;
  /** Group name ('world' or the rank list). */
  group: string;
  /** Sequence number within the group: the same collective has the same seq on every member. */
  seq: number;
  /** S of nccl-tests: the buffer size (for reduce-scatter / all-gather the whole array). */
  bytes: number;
  dtype: string;
  startNs: number;
  endNs: number;
  /**
   * Time blocked while some peer had not yet reached this collective (for a 'wait' span:
   * the wait for peers of the collective the caller blocked on).
   */
  waitNs: number;
  /** The rest of the collective's span: moving and reducing data, including the emulated wire (trace/collectives.ts). */
  transferNs: number;
  /** S / transferNs, and × the bus factor: never over the wait (trace/collectives.ts collectiveBandwidth). 0 for other spans. */
  algbwGBps: number;
  busbwGBps: number;
  kind: 'collective' | 'wait' | 'd2h' | 'h2d';
  name: string;
  /** The caller's name for the collective (CollectiveOptions.label), when it gave one. */
  label?: string;
  /** Global rank that recorded the span. */
  rank?: number;
  /** Number of ranks in the group. */
  groupSize?: number;
  /** Link profile name (or 'hierarchical'). */
  link?: string;
  /**
   * Point-to-point ops (send, recv, sendRecv): the global rank sent to and the number of
   * that send among this rank's sends to it (0, 1, ...); likewise for the receive. The
   * k-th send from a to b is the k-th receive of b from a, so (a, b, k) joins the two
   * spans on the timeline.
   */
  sendTo?: number;
  sendSeq?: number;
  recvFrom?: number;
  recvSeq?: number;
  /** Rooted collectives (broadcast, reduce): the global rank of the root. */
  root?: number;
  /** Named process groups: the trace track of the group's collectives (its name). */
  track?: string;
}

/** busbw / algbw for a collective over n ranks (nccl-tests; one definition, in trace/collectives.ts). */
export { busBandwidthFactor } from '../../trace/collectives';

/** algbw in GB/s (bytes per ns) of `bytes` in `durationNs`; 0 for an empty or instant op. */
export function algBandwidthGBps(bytes: number, durationNs: number): number {
  return durationNs > 0 ? bytes / durationNs : 0;
}
