/**
 * A communication span of runtime/comm as a rank reports it for the trace: collectives on
 * the communication stream (a named process group's on a track of its own, point-to-point
 * ops with the peer and pair number that join a send to its recv), waits on the wait
 * stream, GPU staging copies on the staging stream.
 */
import type { CommSpan } from './comm';
import type { RankSpan } from './rankMessages';

export function commSpanToRankSpan(s: CommSpan): RankSpan {
  const base = { name: s.name, startNs: s.startNs, endNs: s.endNs };
  if (s.kind === 'd2h' || s.kind === 'h2d')
    return { ...base, stream: 'staging', category: 'staging', args: { direction: s.kind, bytes: s.bytes } };
  // The host blocked on a collective: the collective's own wait for peers and transfer ride along, so the details agree.
  if (s.kind === 'wait')
    return {
      ...base,
      stream: 'wait',
      category: 'wait',
      args: {
        op: s.op,
        seq: s.seq,
        group: s.group,
        blockedNs: s.endNs - s.startNs,
        peerWaitNs: s.waitNs,
        transferNs: s.transferNs,
        ...(s.label !== undefined ? { label: s.label } : {}),
      },
    };
  return {
    ...base,
    stream: 'communication',
    ...(s.track !== undefined ? { track: s.track } : {}),
    category: 'collective',
    args: {
      op: s.op,
      algorithm: s.algorithm,
      group: s.group,
      seq: s.seq,
      bytes: s.bytes,
      dtype: s.dtype,
      algbwGBps: s.algbwGBps,
      busbwGBps: s.busbwGBps,
      waitNs: s.waitNs,
      transferNs: s.transferNs,
      ...(s.sendTo !== undefined ? { sendTo: s.sendTo, sendSeq: s.sendSeq! } : {}),
      ...(s.recvFrom !== undefined ? { recvFrom: s.recvFrom, recvSeq: s.recvSeq! } : {}),
      ...(s.root !== undefined ? { root: s.root } : {}),
      ...(s.label !== undefined ? { label: s.label } : {}),
    },
  };
}
