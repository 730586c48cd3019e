/**
 * Replaying a step graph: list scheduling of every rank's compute lane and its
 * communication lane (a collective starts once every participant's is free) until both
 * are drained.
 */
import { differenceLength, unionOf } from '../intervals';
import { measuredSharingFactor } from './sharing';
import type { StepGraph, Trigger } from './stepGraph';

/**
 * Where a replayed step's time goes, per rank (Replay.components: the mean over ranks):
 * compute (union of its compute segments), staging (the copies to and from the host
 * before and after its collectives), wire (its collectives' transfer time), codec (encode +
 * decode on their path: a change's priced codec, and in a measured compressed CommLens run its
 * own codec spans in the delays before and after its collectives, stepGraph.ts CODEC_SPAN_NAME), host
 * (the rest of those delays and the gaps between its compute segments), wait (how long after this rank the last participant of each of
 * its collectives was ready: skew, not a busy communication lane) and exposed communication (collectives not hidden under compute).
 */
export interface StepComponents {
  computeNs: number;
  stagingNs: number;
  wireNs: number;
  codecNs: number;
  waitNs: number;
  /**
   * The rank's host time that is none of the above: the gaps before and between its compute
   * segments (the training loop's own work, launches) and the delays before and after its
   * collectives less the staging and codec inside them. Kept as measured by the replay, save
   * where a change reprices a delay.
   */
  hostNs: number;
  exposedCommNs: number;
}

export const COMPONENT_NAMES: readonly (keyof StepComponents)[] = [
  'computeNs',
  'stagingNs',
  'wireNs',
  'codecNs',
  'waitNs',
  'hostNs',
  'exposedCommNs',
];

export interface RankReplay {
  rank: number;
  /** This rank's step: its last end − its start. */
  stepTimeNs: number;
  /** Its last end on the common timeline (0 = the earliest rank's start). */
  endNs: number;
  /** Communication time on this rank not hidden under its compute: |∪ collectives \ ∪ compute|. */
  exposedCommNs: number;
  computeNs: number;
  components: StepComponents;
}

export interface Replay {
  /** Last end over ranks − earliest start. */
  stepTimeNs: number;
  perRank: RankReplay[];
  /** Mean over ranks of the exposed communication. */
  exposedCommNs: number;
  /** Mean over ranks of each rank's components. */
  components: StepComponents;
  /** Set when the graph could not be drained (a dependency cycle): the result is partial. */
  stalled?: string;
  /** Per rank (in StepGraph.ranks order), when each of its segments started (NaN: never, a stalled replay). */
  segmentStartsNs: Float64Array[];
}

/**
 * Simulates the graph: a segment starts when the previous segment of its lane has ended
 * plus its gap, and every collective it waits on has ended plus its post delay; a
 * collective starts when it is ready on all participants (trigger segment done, or the
 * given fraction of it, plus the launch delay) and its communication lane is free, and
 * lasts durNs + extraNs. Collectives are taken in list order; when that order would
 * deadlock (a change placed collectives in an order some rank cannot honour), the first
 * ready one is taken instead. Each rank starts at its measured offset.
 *
 * Where ranks leave collectives on their own (StepGraph.exits 'own', CommLens' emulated links),
 * a participant arrives once it is ready, its lane is free and it has encoded its data (half of
 * extraNs: a rank that arrives late still encodes), and leaves when the data it needs has crossed
 * the wire, the wire taking the collective's durNs from its sender's arrival. In a ring
 * (CollectiveNode.exit 'ring'; by default any op but all-to-all; participants in rank order) that
 * is its predecessor's data, so it leaves at max(the last arrival, its predecessor's arrival +
 * durNs); otherwise ('all': recursive doubling, direct all-to-all) every other participant's, so
 * all leave at the last arrival + durNs but the last to arrive, which leaves at max(its arrival,
 * the second-last's + durNs). With two ranks both rules are the same. Measured on CommLens'
 * 2-rank gpt-mini and 4-rank mlp-small traces (2026-12-07), durNs being each collective's own
 * completion: the late rank's end of 2-rank 1.6 MB all-reduces within 2 ms of the rule (of ~400),
 * 14 of 16 rank ends of 4-rank 4.2 MB ring all-reduces on it and the other two 2.5 and 12.9 ms
 * off (of 613), those of all-to-alls and recursive doublings within a few ms; a small ring
 * all-reduce (1.1 MB on 4 ranks) fits neither well.
 */
export function simulate(g: StepGraph): Replay {
  const R = g.ranks.length;
  const lanes = g.ranks.map((r) => g.lanes.get(r)!);
  const rankIndex = new Map(g.ranks.map((r, i) => [r, i]));
  const segStart = lanes.map((l) => new Float64Array(l.length).fill(NaN));
  const segEnd = lanes.map((l) => new Float64Array(l.length).fill(NaN));
  const next = new Int32Array(R);
  const offset = Float64Array.from(g.ranks, (r) => g.startOffsetNs.get(r) ?? 0);
  const laneFree = Float64Array.from(offset);
  const C = g.collectives.length;
  const collStart = new Float64Array(C).fill(NaN);
  const collEnd = new Float64Array(C).fill(NaN);
  const triggers = g.collectives.map(
    (c) =>
      [...c.triggers].map(([r, t]) => ({ ri: rankIndex.get(r), t })).filter((x) => x.ri !== undefined) as {
        ri: number;
        t: Trigger;
      }[],
  );
  const commFree = new Map<string, number>();
  const own = g.exits === 'own';
  /** Per collective (own exits), each participant's end, by its place in triggers[id]. */
  const endOn: (Float64Array | undefined)[] = new Array(C);
  /** Per collective (own exits), a rank index's place among its participants. */
  const placeOf: (Map<number, number> | undefined)[] = new Array(C);
  let head = 0;
  let scheduled = 0;
  let stalled: string | undefined;
  /** When collective `id` is ready on one participant (its trigger done plus the launch delay); NaN before. */
  const readyOn = (ri: number, t: Trigger): number => {
    if (t.afterSegment < 0) return offset[ri] + t.delayNs;
    const end = segEnd[ri][t.afterSegment];
    if (Number.isNaN(end)) return NaN;
    const at = t.fraction >= 1 ? end : segStart[ri][t.afterSegment] + t.fraction * lanes[ri][t.afterSegment].durNs;
    return at + t.delayNs;
  };
  // Each rank's stream of a lane runs one collective at a time; collectives of disjoint
  // process groups (TP groups, a TP and a DP group of other ranks) run side by side.
  const laneOf = (id: number, ri: number): string => `${g.collectives[id].lane}\u0000${ri}`;
  const readyAt = (id: number): number => {
    let ready = 0;
    for (const { ri } of triggers[id]) ready = Math.max(ready, commFree.get(laneOf(id, ri)) ?? 0);
    for (const { ri, t } of triggers[id]) {
      if (t.afterSegment < 0) {
        ready = Math.max(ready, offset[ri] + t.delayNs);
        continue;
      }
      const end = segEnd[ri][t.afterSegment];
      if (Number.isNaN(end)) return NaN;
      const at = t.fraction >= 1 ? end : segStart[ri][t.afterSegment] + t.fraction * lanes[ri][t.afterSegment].durNs;
      ready = Math.max(ready, at + t.delayNs);
    }
    return ready;
  };
  /** Per collective, when each participant's lane became free for it (its previous collective's end there). */
  const laneFreeAt: Float64Array[] = new Array(C);
  const run = (id: number, ready: number) => {
    const c = g.collectives[id];
    const tr = triggers[id];
    const half = (c.extraNs ?? 0) / 2;
    // Encode runs before the transfer, decode after; both on the collective's path.
    collStart[id] = ready;
    collEnd[id] = ready + c.durNs + half;
    const free = (laneFreeAt[id] = new Float64Array(tr.length));
    tr.forEach(({ ri }, k) => (free[k] = commFree.get(laneOf(id, ri)) ?? 0));
    if (own && tr.length > 1) {
      const ends = ownExits(c.exit ?? (c.op === 'allToAll' ? 'all' : 'ring'), tr, free, half, c.durNs);
      endOn[id] = ends;
      placeOf[id] = new Map(tr.map(({ ri }, k) => [ri, k]));
      collEnd[id] = Math.max(...ends);
      // The decode holds the lane too (below): each rank's from its own end.
      tr.forEach(({ ri }, k) => commFree.set(laneOf(id, ri), ends[k] + half));
      scheduled++;
      return;
    }
    // The decode holds the lane too: the next collective on it starts once this one's data
    // is decoded (a CommLens hook decodes before its exchange returns and the next begins).
    const laneFree = collEnd[id] + half;
    for (const { ri } of tr) commFree.set(laneOf(id, ri), laneFree);
    scheduled++;
  };
  /**
   * Own exits (see simulate): each participant's end, its data leaving once it is ready, its lane
   * is free and it has encoded it (`encodeNs`, its own work: a rank that arrives late still does it).
   */
  const ownExits = (
    mode: 'ring' | 'all',
    tr: { ri: number; t: Trigger }[],
    free: Float64Array,
    encodeNs: number,
    wire: number,
  ) => {
    const m = tr.length;
    const arrive = new Float64Array(m);
    let start = -Infinity;
    for (let k = 0; k < m; k++) {
      arrive[k] = Math.max(readyOn(tr[k].ri, tr[k].t), free[k]) + encodeNs;
      if (arrive[k] > start) start = arrive[k];
    }
    const ends = new Float64Array(m);
    if (mode === 'all') {
      let last = -1,
        second = -Infinity;
      for (let k = 0; k < m; k++)
        if (last < 0 || arrive[k] > arrive[last]) {
          if (last >= 0) second = arrive[last];
          last = k;
        } else if (arrive[k] > second) second = arrive[k];
      for (let k = 0; k < m; k++) ends[k] = k === last ? Math.max(start, second + wire) : start + wire;
      return ends;
    }
    // A ring in rank order: each participant's predecessor is the one before it.
    const order = Array.from({ length: m }, (_, k) => k).sort((a, b) => tr[a].ri - tr[b].ri);
    for (let i = 0; i < m; i++) ends[order[i]] = Math.max(start, arrive[order[(i + m - 1) % m]] + wire);
    return ends;
  };
  for (;;) {
    let progress = false;
    for (let ri = 0; ri < R; ri++) {
      const lane = lanes[ri];
      let k = next[ri];
      while (k < lane.length) {
        const seg = lane[k];
        let ready = laneFree[ri] + seg.gapNs;
        let lastWait = -Infinity;
        let blocked = false;
        for (const id of seg.waitsOn) {
          let e = collEnd[id];
          if (Number.isNaN(e)) {
            blocked = true;
            break;
          }
          const k = placeOf[id]?.get(ri);
          if (k !== undefined) e = endOn[id]![k];
          const w = e + (g.collectives[id].extraNs ?? 0) / 2;
          if (w > lastWait) lastWait = w;
        }
        if (blocked) break;
        if (lastWait > -Infinity) ready = Math.max(ready, lastWait + seg.postDelayNs);
        segStart[ri][k] = ready;
        segEnd[ri][k] = ready + seg.durNs;
        laneFree[ri] = ready + seg.durNs;
        k++;
        progress = true;
      }
      next[ri] = k;
    }
    while (head < C) {
      if (!Number.isNaN(collEnd[head])) {
        head++;
        continue;
      }
      const ready = readyAt(head);
      if (Number.isNaN(ready)) break;
      run(head, ready);
      head++;
      progress = true;
    }
    let lanesDone = true;
    for (let ri = 0; ri < R; ri++)
      if (next[ri] < lanes[ri].length) {
        lanesDone = false;
        break;
      }
    if (lanesDone && scheduled >= C) break;
    if (!progress) {
      // Out of order: the first collective after the head that is ready on every rank.
      let picked = false;
      for (let id = head + 1; id < C; id++) {
        if (!Number.isNaN(collEnd[id])) continue;
        const ready = readyAt(id);
        if (!Number.isNaN(ready)) {
          run(id, ready);
          picked = true;
          break;
        }
      }
      if (!picked) {
        stalled = `the replay stalled with ${C - scheduled} collective(s) and some compute unscheduled (inconsistent dependencies across ranks)`;
        break;
      }
    }
  }
  // Each rank's scheduled collectives in id order, with its place among their participants
  // (pairs id, k), and when the last participant of each was ready: made once per collective,
  // not once per rank and participant, which at 1,024 ranks was most of an analysis.
  const mine: number[][] = Array.from({ length: R }, () => []);
  const lastReady = new Float64Array(C).fill(NaN);
  for (let id = 0; id < C; id++) {
    if (Number.isNaN(collStart[id])) continue;
    const tr = triggers[id],
      free = laneFreeAt[id];
    let all = -Infinity;
    for (let k = 0; k < tr.length; k++) {
      mine[tr[k].ri].push(id, k);
      // NaN when a participant's readiness is unknown, as Math.max gives it.
      all = Math.max(all, readyOn(tr[k].ri, tr[k].t), free ? free[k] : 0);
    }
    lastReady[id] = all;
  }
  const perRank: RankReplay[] = [];
  for (let ri = 0; ri < R; ri++) {
    const r = g.ranks[ri];
    const starts = segStart[ri],
      ends = segEnd[ri],
      mineOf = mine[ri];
    // Index loops, no destructuring: the advisor replays a step tens of times per analysis.
    const iv: [number, number][] = [];
    for (let i = 0; i < starts.length; i++) if (!Number.isNaN(starts[i])) iv.push([starts[i], ends[i]]);
    const compute = unionOf(iv);
    const comm: [number, number][] = [];
    for (let j = 0; j < mineOf.length; j += 2) {
      const id = mineOf[j];
      comm.push([collStart[id], endOn[id]?.[mineOf[j + 1]] ?? collEnd[id]]);
    }
    const commSet = unionOf(comm);
    let end = 0;
    for (let i = 0; i < ends.length; i++) if (ends[i] > end) end = ends[i];
    for (let i = 0; i < comm.length; i++) if (comm[i][1] > end) end = comm[i][1];
    const computeNs = compute.starts.reduce((t, s, i) => t + compute.ends[i] - s, 0);
    const exposed = differenceLength(commSet, compute);
    let stagingNs = 0,
      wireNs = 0,
      codecNs = 0,
      waitNs = 0,
      hostNs = 0;
    for (let j = 0; j < mineOf.length; j += 2) {
      const id = mineOf[j],
        k0 = mineOf[j + 1];
      const c = g.collectives[id];
      const t = triggers[id][k0].t;
      stagingNs += t.stagedNs ?? 0;
      wireNs += c.durNs;
      // A change's codec on the collective's path, and the run's own codec spans before it (a measured compressed run).
      codecNs += (c.extraNs ?? 0) + (t.codecNs ?? 0);
      hostNs += Math.max(0, t.delayNs - (t.stagedNs ?? 0) - (t.codecNs ?? 0));
      // Waiting for the other participants: the last one's readiness after this rank's, each
      // counted from when its lane was free for the collective (a busy lane is not waiting:
      // the second collective of an exchange does not wait again for what the first did).
      const free = laneFreeAt[id];
      const ready = Math.max(readyOn(ri, t), free ? free[k0] : 0);
      const all = Math.max(ready, lastReady[id]);
      if (!Number.isNaN(all)) waitNs += Math.max(0, all - ready);
    }
    for (const seg of lanes[ri]) {
      stagingNs += seg.postStagedNs ?? 0;
      codecNs += seg.postCodecNs ?? 0;
      hostNs += seg.gapNs;
      if (seg.waitsOn.length > 0)
        hostNs += Math.max(0, seg.postDelayNs - (seg.postStagedNs ?? 0) - (seg.postCodecNs ?? 0));
    }
    perRank.push({
      rank: r,
      stepTimeNs: end - offset[ri],
      endNs: end,
      exposedCommNs: exposed,
      computeNs,
      components: { computeNs, stagingNs, wireNs, codecNs, waitNs, hostNs, exposedCommNs: exposed },
    });
  }
  const stepTimeNs = Math.max(0, ...perRank.map((p) => p.endNs));
  const exposedCommNs = perRank.length > 0 ? perRank.reduce((t, p) => t + p.exposedCommNs, 0) / perRank.length : 0;
  const components = {} as StepComponents;
  for (const k of COMPONENT_NAMES)
    components[k] = perRank.length > 0 ? perRank.reduce((t, p) => t + p.components[k], 0) / perRank.length : 0;
  return {
    stepTimeNs,
    perRank,
    exposedCommNs,
    components,
    stalled,
    segmentStartsNs: segStart,
  };
}

/** What chainReplay gives: the chained step and, where the ranks share the compute, the φ their compute ran at. */
export interface ChainedReplay {
  /** The mean time from one step's last window end to the next's, over the cycles after the first. */
  stepNs: number;
  /**
   * With a sharing speed-up: the mean φ (sharing.ts sharedTimeFactor) over the ranks' replayed
   * compute in the same steps, weighted by its time: how much of it ran beside the other ranks'.
   */
  sharingFactor?: number;
}

/**
 * Where ranks leave collectives on their own (StepGraph.exits), the run's step time is not one
 * step's: a rank that left early starts its next step early, so the ranks carry their skew from
 * step to step, and the slack of a long collective absorbs a rank's slow step that a short one
 * passes on to the step time (the run's figure, analysis/runFigures.ts stepWallTimes, is the time
 * from one step's last end to the next's). This replays `graphs` one after another, `cycles`
 * (default 3) times over: each rank starts a step when its previous one ended (its last op's end
 * plus `tailsNs`, its measured host time between that op and its next step's first), the first
 * step at its measured offsets. Undefined when a step could not be replayed.
 */
export function chainReplay(
  graphs: readonly StepGraph[],
  tailsNs: readonly ReadonlyMap<number, number>[],
  opts: { cycles?: number; sharingSpeedup?: number } = {},
): ChainedReplay | undefined {
  const cycles = opts.cycles ?? 3;
  const n = graphs.length;
  if (n === 0 || cycles < 2) return undefined;
  let starts: Map<number, number> | undefined;
  const windowEnds: number[] = [];
  let busy = 0,
    priced = 0;
  for (let k = 0; k < n * cycles; k++) {
    const g = graphs[k % n];
    let t0 = 0;
    let offsets = g.startOffsetNs;
    if (starts) {
      t0 = Math.min(...starts.values());
      const at = starts;
      offsets = new Map(g.ranks.map((r) => [r, (at.get(r) ?? t0) - t0]));
    }
    const rep = simulate({ ...g, startOffsetNs: offsets });
    if (rep.stalled) return undefined;
    const next = new Map<number, number>();
    let end = -Infinity;
    for (const p of rep.perRank) {
      const e = t0 + p.endNs + (tailsNs[k % n]?.get(p.rank) ?? 0);
      next.set(p.rank, e);
      if (e > end) end = e;
    }
    windowEnds.push(end);
    starts = next;
    if (opts.sharingSpeedup !== undefined && k >= n) {
      const s = sharingOfStep(g, (i, j) => rep.segmentStartsNs[i][j], opts.sharingSpeedup);
      busy += s.busyNs;
      priced += s.pricedNs;
    }
  }
  return {
    stepNs: (windowEnds[windowEnds.length - 1] - windowEnds[n - 1]) / (windowEnds.length - n),
    ...(opts.sharingSpeedup !== undefined && busy > 0 ? { sharingFactor: priced / busy } : {}),
  };
}

/**
 * The compute time of a step graph's segments (busyNs) and that time weighted by the φ it ran at
 * (pricedNs; sharing.ts measuredSharingFactor, the graph's ranks sharing the compute), each
 * segment placed where `startOf(rank index, segment index)` says (its measured start, or a
 * replay's): summed over steps, pricedNs / busyNs is their time-weighted φ.
 */
export function sharingOfStep(
  g: StepGraph,
  startOf: (ri: number, j: number) => number,
  speedup: number,
): { busyNs: number; pricedNs: number } {
  const iv = g.ranks.map((r, i) =>
    g.lanes.get(r)!.map((s, j): [number, number] => [startOf(i, j), startOf(i, j) + s.durNs]),
  );
  let busyNs = 0;
  for (const l of iv) for (const [a, b] of l) busyNs += b - a;
  return { busyNs, pricedNs: busyNs * measuredSharingFactor(iv, g.ranks.length, speedup) };
}
