/**
 * Collective metrics: the i-th collective of a group joined across ranks, its transfer
 * time and each rank's synchronisation wait, bytes, algorithm and bus bandwidth (nccl-tests
 * definitions) against the link's peak, and a summary per op. A point-to-point message is
 * joined as its send and its recv (`p2pPairs`).
 */
import type { TraceModel } from '../trace/model';
import { intersect, lengthOf, unionOf } from './intervals';
import type { RankView } from './rankView';
import { busBandwidthFactor, collectiveBandwidth } from '../trace/collectives';

/** One rank's part in a collective. */
export interface CollectiveParticipant {
  rank: number;
  sliceIndex: number;
  startNs: number;
  durNs: number;
  /** durNs − transferNs: time spent waiting for the slowest peer to arrive. */
  waitNs: number;
  /** |∪ computation| on this rank since its previous communication op ended: the compute that decided when it arrived. */
  computeBeforeNs: number;
  /** In a point-to-point message: which end this rank is. */
  role?: 'send' | 'recv';
}

export interface CollectiveInstance {
  /** `group|op|seq`, the join key. */
  key: string;
  op: string;
  group: string;
  seq: number;
  bytes?: number;
  /** Ranks in the group (args.groupSize, else the ranks joined). */
  groupSize: number;
  participants: CollectiveParticipant[];
  /** Minimum duration across ranks (PyTorch's distributed view): the time data actually moved. */
  transferNs: number;
  /**
   * From the last participant's start to the last participant's end (nccl-tests' timing):
   * what the collective costs once everyone is in. Equal to transferNs when all ranks end
   * together (NCCL); longer when ranks that arrived early end early, as on CommLens'
   * emulated links, where early ranks' chunks are already on the wire.
   */
  completionNs: number;
  algbwGBps?: number;
  busbwGBps?: number;
  /** The rank that arrived last (shortest duration): everyone else waited for it. */
  lastArrivalRank?: number;
  /** Step this instance belongs to on its first participant. */
  step?: number;
  /** A point-to-point message (op 'send/recv'): the sending and the receiving rank. */
  p2p?: { from: number; to: number };
}

export interface CollectiveOpSummary {
  op: string;
  count: number;
  totalBytes: number;
  totalTransferNs: number;
  totalWaitNs: number;
  /** Σ bytes / Σ transfer time. */
  algbwGBps?: number;
  busbwGBps?: number;
  /** busbw as a percentage of the link's peak, when the peak is known. */
  busbwOfPeakPct?: number;
}

export interface CollectiveMetrics {
  instances: CollectiveInstance[];
  perOp: CollectiveOpSummary[];
  /** Σ wait per rank over the analysed window. */
  waitNsByRank: Record<string, number>;
  linkPeakGBps?: number;
  /** Instances seen on fewer ranks than the others (sampling, or ranks from different runs). */
  unmatched: number;
  /** Instances whose spans on different ranks do not overlap in time, so they were not joined. */
  disjoint: number;
}

/** nccl-tests' bus-bandwidth factor (one definition, in trace/collectives.ts). */
export { busBandwidthFactor };

/**
 * True when every participant's span names the same root (`root` arg, a global rank), the root
 * is one of them, and it starts before each of the others ends: data cannot arrive before it
 * was sent, and that is all a broadcast's spans must show.
 */
function eagerRootFits(model: TraceModel, participants: readonly CollectiveParticipant[]): boolean {
  const root = model.slices[participants[0].sliceIndex].args?.root;
  if (typeof root !== 'number') return false;
  const r = participants.find((p) => p.rank === root);
  if (!r) return false;
  return participants.every(
    (p) => model.slices[p.sliceIndex].args?.root === root && (p === r || r.startNs <= p.startNs + p.durNs),
  );
}

/**
 * Per op of `v.ops`: for a communication op, |∪ computation| since the previous communication
 * op ended (the first: since the rank's first op) up to its start; NaN for the other ops.
 */
export function computeBeforeComm(v: RankView): Float64Array {
  const out = new Float64Array(v.ops.length).fill(NaN);
  let sinceNs = v.ops.length > 0 ? v.ops[0].startNs : 0;
  let computeIv: [number, number][] = [];
  for (let k = 0; k < v.ops.length; k++) {
    const op = v.ops[k];
    if (op.cls === 'computation') computeIv.push([op.startNs, op.endNs]);
    if (op.cls !== 'communication') continue;
    out[k] = lengthOf(intersect(unionOf(computeIv), { starts: [sinceNs], ends: [op.startNs] }));
    const running: [number, number][] = [];
    for (let i = 0; i < computeIv.length; i++) if (computeIv[i][1] > op.endNs) running.push(computeIv[i]);
    computeIv = running;
    sinceNs = op.endNs;
  }
  return out;
}

/**
 * Joins the communication ops of every rank's analysed window into collective instances
 * by (group, op, seq) — only when their spans overlap in time, as a synchronizing
 * collective's must (a broadcast whose spans name its root: when the root starts before every
 * receiver ends) — and computes, per instance, transfer = min duration across ranks,
 * wait(rank) = duration − transfer, algbw = bytes / transfer, busbw = algbw × factor(op, n)
 * (trace/collectives.ts). When the producer measured each rank's wait and transfer (the
 * `waitNs` / `transferNs` args CommLens' runtime writes on every participant), those are
 * used: wait(rank) = its waitNs, transfer = the shortest transferNs.
 */
export function collectiveMetrics(model: TraceModel, views: RankView[], linkPeakGBps?: number): CollectiveMetrics {
  const byKey = new Map<string, CollectiveInstance>();
  const ordinal = new Map<string, number>();
  /** Slices that send and receive at once (sendRecv): in two messages, their wait counted once. */
  const sendRecvSlices = new Set<number>();
  for (const v of views) {
    // A digested rank's communication ops carry it (computed where the rank was read, from all its ops).
    const before = v.partial ? undefined : computeBeforeComm(v);
    // Index loops, no destructuring: this visits every op, mostly before V8 optimises it.
    for (let k = 0; k < v.ops.length; k++) {
      const op = v.ops[k];
      if (op.cls !== 'communication') continue;
      const computeBeforeNs = before ? before[k] : (op.computeBeforeNs ?? 0);
      const s = model.slices[op.index];
      const a = s.args ?? {};
      const opName = typeof a.op === 'string' ? a.op : s.name;
      const group = collectiveGroupOf(a);
      const ends = p2pEnds(v.rank, a);
      if (ends.length > 1) sendRecvSlices.add(op.index);
      if (ends.length > 0) {
        // A sendRecv is two messages' ends; its own wait goes with its recv (counted once).
        for (const e of ends) {
          const key = `${group}|p2p|${e.from}>${e.to}|${e.seq}`;
          let inst = byKey.get(key);
          if (!inst) {
            inst = {
              key,
              op: P2P_OP,
              group,
              seq: e.seq,
              groupSize: 2,
              participants: [],
              transferNs: 0,
              completionNs: 0,
              step: op.step,
              p2p: { from: e.from, to: e.to },
            };
            byKey.set(key, inst);
          }
          if (typeof a.bytes === 'number') inst.bytes ??= a.bytes;
          inst.participants.push({
            rank: v.rank,
            sliceIndex: op.index,
            startNs: op.startNs,
            durNs: op.endNs - op.startNs,
            waitNs: 0,
            computeBeforeNs,
            role: e.role,
          });
        }
        continue;
      }
      let seq = typeof a.seq === 'number' ? a.seq : undefined;
      if (seq === undefined) {
        const ok = `${v.rank}|${group}|${opName}`;
        seq = ordinal.get(ok) ?? 0;
        ordinal.set(ok, seq + 1);
      }
      const key = `${group}|${opName}|${seq}`;
      let inst = byKey.get(key);
      if (!inst) {
        inst = {
          key,
          op: opName,
          group,
          seq,
          groupSize: 0,
          participants: [],
          transferNs: 0,
          completionNs: 0,
          step: op.step,
        };
        byKey.set(key, inst);
      }
      if (typeof a.bytes === 'number') inst.bytes ??= a.bytes;
      if (typeof a.groupSize === 'number') inst.groupSize = Math.max(inst.groupSize, a.groupSize);
      const durNs = op.endNs - op.startNs;
      inst.participants.push({
        rank: v.rank,
        sliceIndex: op.index,
        startNs: op.startNs,
        durNs,
        waitNs: 0,
        computeBeforeNs,
      });
    }
  }
  // A collective synchronizes its participants, so their spans overlap in time. Spans
  // that do not (sampled traces, ranks from different runs, or a sequence that does not
  // line up) are not the same collective: keep each rank's on its own.
  // A broadcast whose root the trace names (CommLens' runtime records it) is the exception: its
  // root sends and may return before a receiver has even started (a small message fits in the
  // receiver's buffer), so it only has to start before every receiver ends.
  let disjoint = 0;
  for (const [key, inst] of [...byKey]) {
    if (inst.participants.length < 2 || inst.p2p) continue;
    const latestStart = Math.max(...inst.participants.map((p) => p.startNs));
    const earliestEnd = Math.min(...inst.participants.map((p) => p.startNs + p.durNs));
    if (latestStart <= earliestEnd) continue;
    if (inst.op === 'broadcast' && eagerRootFits(model, inst.participants)) continue;
    disjoint++;
    byKey.delete(key);
    for (const p of inst.participants)
      byKey.set(`${key}@rank${p.rank}`, { ...inst, key: `${key}@rank${p.rank}`, participants: [p] });
  }
  const instances = [...byKey.values()];
  // A collective is unmatched when fewer ranks have it than have the most of its own group's: a
  // job's groups (tp, pp, dp) each span only some ranks, so the whole job's most is the wrong bar.
  const maxParticipants = new Map<string, number>();
  for (const i of instances)
    if (!i.p2p) maxParticipants.set(i.group, Math.max(maxParticipants.get(i.group) ?? 0, i.participants.length));
  let unmatched = 0;
  const waitNsByRank: Record<string, number> = {};
  for (const v of views) waitNsByRank[String(v.rank)] = 0;
  for (const inst of instances) {
    if (inst.p2p) {
      if (inst.participants.length < 2) unmatched++;
      p2pTimes(model, inst, sendRecvSlices);
      for (const p of inst.participants) waitNsByRank[String(p.rank)] = (waitNsByRank[String(p.rank)] ?? 0) + p.waitNs;
      if (inst.bytes !== undefined && inst.transferNs > 0) {
        const bw = collectiveBandwidth(inst.op, inst.bytes, inst.transferNs, 2);
        inst.algbwGBps = bw.algbwGBps;
        inst.busbwGBps = bw.busbwGBps;
      }
      continue;
    }
    if (inst.participants.length < (maxParticipants.get(inst.group) ?? 0)) unmatched++;
    // CommLens' world group spans every rank even when only some are in the trace.
    if (inst.groupSize === 0)
      inst.groupSize = inst.group === 'world' && model.meta.worldSize ? model.meta.worldSize : inst.participants.length;
    if (inst.participants.length >= 2) {
      let min = Infinity,
        minRank = inst.participants[0].rank;
      for (const p of inst.participants)
        if (p.durNs < min) {
          min = p.durNs;
          minRank = p.rank;
        }
      inst.transferNs = min;
      inst.lastArrivalRank = minRank;
      let lastStart = -Infinity,
        lastEnd = -Infinity;
      for (const p of inst.participants) {
        if (p.startNs > lastStart) lastStart = p.startNs;
        if (p.startNs + p.durNs > lastEnd) lastEnd = p.startNs + p.durNs;
      }
      inst.completionNs = Math.max(min, lastEnd - lastStart);
      // A producer that measured each rank's wait for its peers (CommLens' runtime: waitNs and
      // transferNs args) is taken at its word, so the details of a span and the analysis say
      // the same; otherwise the wait is estimated as the excess over the shortest participant.
      const measured = inst.participants.map((p) => model.slices[p.sliceIndex].args ?? {});
      if (measured.every((a) => typeof a.waitNs === 'number' && typeof a.transferNs === 'number')) {
        inst.participants.forEach((p, i) => {
          p.waitNs = Math.min(p.durNs, Math.max(0, measured[i].waitNs as number));
        });
        inst.transferNs = Math.min(
          ...inst.participants.map((p, i) => Math.min(p.durNs, measured[i].transferNs as number)),
        );
      } else {
        for (const p of inst.participants) p.waitNs = p.durNs - min;
      }
    } else {
      const p = inst.participants[0];
      const a = model.slices[p.sliceIndex].args ?? {};
      const transfer = typeof a.transferNs === 'number' ? Math.min(a.transferNs, p.durNs) : p.durNs;
      inst.transferNs = transfer;
      inst.completionNs = transfer;
      p.waitNs = typeof a.waitNs === 'number' ? a.waitNs : p.durNs - transfer;
    }
    for (const p of inst.participants) waitNsByRank[String(p.rank)] = (waitNsByRank[String(p.rank)] ?? 0) + p.waitNs;
    if (inst.bytes !== undefined && inst.transferNs > 0) {
      // One definition with the runtime's: over the transfer time, never the wait (trace/collectives.ts).
      const bw = collectiveBandwidth(inst.op, inst.bytes, inst.transferNs, inst.groupSize);
      inst.algbwGBps = bw.algbwGBps;
      inst.busbwGBps = bw.busbwGBps;
    }
  }
  instances.sort(
    (a, b) => Math.min(...a.participants.map((p) => p.startNs)) - Math.min(...b.participants.map((p) => p.startNs)),
  );
  const perOpMap = new Map<string, CollectiveOpSummary & { busNum: number; busDen: number }>();
  for (const inst of instances) {
    let s = perOpMap.get(inst.op);
    if (!s) {
      s = { op: inst.op, count: 0, totalBytes: 0, totalTransferNs: 0, totalWaitNs: 0, busNum: 0, busDen: 0 };
      perOpMap.set(inst.op, s);
    }
    s.count++;
    s.totalTransferNs += inst.transferNs;
    s.totalWaitNs += inst.participants.reduce((t, p) => t + p.waitNs, 0);
    if (inst.bytes !== undefined) {
      s.totalBytes += inst.bytes;
      s.busNum += inst.bytes * busBandwidthFactor(inst.op, inst.groupSize);
      s.busDen += inst.transferNs;
    }
  }
  const perOp: CollectiveOpSummary[] = [];
  for (const s of perOpMap.values()) {
    const { busNum, busDen, ...rest } = s;
    const out: CollectiveOpSummary = rest;
    if (busDen > 0 && s.totalBytes > 0) {
      out.algbwGBps = s.totalBytes / busDen;
      out.busbwGBps = busNum / busDen;
      if (linkPeakGBps && linkPeakGBps > 0) out.busbwOfPeakPct = (100 * out.busbwGBps) / linkPeakGBps;
    }
    perOp.push(out);
  }
  perOp.sort((a, b) => b.totalTransferNs - a.totalTransferNs);
  return { instances, perOp, waitNsByRank, linkPeakGBps, unmatched, disjoint };
}

/** The op name of a joined point-to-point message. */
export const P2P_OP = 'send/recv';

/** The process group a collective's args name (`group`), 'default' when they name none. */
export function collectiveGroupOf(args: Record<string, unknown> | undefined): string {
  const g = args?.group;
  return g === undefined || g === null ? 'default' : String(g);
}

type P2pEnd = { role: 'send' | 'recv'; from: number; to: number; seq: number };

/**
 * The message ends a communication slice of `rank` is, from the args the runtime writes on
 * point-to-point spans (runtime/commSpans.ts): `sendTo`/`sendSeq` (the k-th message from this
 * rank to that one), `recvFrom`/`recvSeq`; a sendRecv has both. [] for a collective.
 */
function p2pEnds(rank: number, a: Record<string, unknown>): P2pEnd[] {
  const out: P2pEnd[] = [];
  if (typeof a.sendTo === 'number' && typeof a.sendSeq === 'number')
    out.push({ role: 'send', from: rank, to: a.sendTo, seq: a.sendSeq });
  if (typeof a.recvFrom === 'number' && typeof a.recvSeq === 'number')
    out.push({ role: 'recv', from: a.recvFrom, to: rank, seq: a.recvSeq });
  return out;
}

/**
 * A message's times from its two ends (docs/figures.md, "Point-to-point"): the recv's wait is
 * the time it was blocked before the matching send began, min(recv duration, max(0, send
 * start − recv start)); the send's, likewise before the recv was posted (a send that completes
 * before then, into the peer's buffer, waits 0 as its duration allows). Transfer = from the
 * later start to the recv's end (the data has arrived when the recv returns). A sendRecv's slice
 * is in two messages: its wait is counted with the one it receives, not again with the one it
 * sends. An end whose partner is not in the trace keeps the producer's measured wait (args.waitNs),
 * else 0.
 */
function p2pTimes(model: TraceModel, inst: CollectiveInstance, sendRecvSlices: ReadonlySet<number>): void {
  const send = inst.participants.find((p) => p.role === 'send');
  const recv = inst.participants.find((p) => p.role === 'recv');
  if (send && recv) {
    const later = Math.max(send.startNs, recv.startNs);
    recv.waitNs = Math.min(recv.durNs, Math.max(0, send.startNs - recv.startNs));
    send.waitNs = Math.min(send.durNs, Math.max(0, recv.startNs - send.startNs));
    inst.transferNs = Math.max(0, recv.startNs + recv.durNs - later);
    inst.completionNs = inst.transferNs;
    inst.lastArrivalRank = send.startNs >= recv.startNs ? send.rank : recv.rank;
  } else {
    const p = inst.participants[0];
    const a = model.slices[p.sliceIndex].args ?? {};
    p.waitNs = typeof a.waitNs === 'number' ? Math.min(p.durNs, Math.max(0, a.waitNs)) : 0;
    inst.transferNs = p.durNs - p.waitNs;
    inst.completionNs = inst.transferNs;
  }
  for (const p of inst.participants) if (p.role === 'send' && sendRecvSlices.has(p.sliceIndex)) p.waitNs = 0;
}

/**
 * Σ wait per rank and step (rank → step → ns): each participant's `waitNs`, the figure that
 * `waitNsByRank` totals, added to the step its collective belongs to (`CollectiveInstance.step`);
 * collectives outside any step are left out. Over the same instances, a rank's steps sum to
 * its `waitNsByRank` less its waits outside steps.
 */
export function waitNsByRankAndStep(instances: readonly CollectiveInstance[]): Map<number, Map<number, number>> {
  const out = new Map<number, Map<number, number>>();
  for (const inst of instances) {
    if (inst.step === undefined) continue;
    for (const p of inst.participants) {
      let byStep = out.get(p.rank);
      if (!byStep) out.set(p.rank, (byStep = new Map()));
      byStep.set(inst.step, (byStep.get(inst.step) ?? 0) + p.waitNs);
    }
  }
  return out;
}
