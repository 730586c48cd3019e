/**
 * Merging per-rank models (one Kineto file per rank) into one model of the whole job.
 */
import { emptyModel, finalizeModel, type Args, type TraceModel } from './model';

/**
 * Merges single-rank models into one (consuming them: their slices are moved, not copied): the common origin is the earliest origin, every
 * time shifts by (its origin − common origin) exactly (BigInt), each rank keeps its own
 * pid (= rank; a duplicate rank gets the next free pid and a warning). Warns when world
 * sizes differ or when a rank's time window does not overlap the others' (files from
 * different runs), and lists the ranks of the world that are missing.
 */
/** Where one input went in the merged model: its first slice and track, the shift of its times, its pids. */
export interface MergePlace {
  sliceBase: number;
  trackBase: number;
  /** Added to each of its times (ns). */
  shiftNs: number;
  /** Its process ids → the merged model's. */
  pidOf: Map<number, number>;
}

export function mergeRankModels(models: TraceModel[], places?: MergePlace[]): TraceModel {
  if (models.length === 1) {
    places?.push({
      sliceBase: 0,
      trackBase: 0,
      shiftNs: 0,
      pidOf: new Map(models[0].processes.map((p) => [p.pid, p.pid])),
    });
    return models[0];
  }
  const origins = models.map((m) => BigInt(m.meta.originNs));
  const common = origins.reduce((a, b) => (b < a ? b : a), origins[0] ?? 0n);
  const out = emptyModel(models[0]?.meta.format ?? 'kineto', common.toString());
  const worldSizes = new Set<number>();
  const usedPids = new Set<number>();
  const rankInfos: Args[] = [];
  const windows: { rank: number; start: number; end: number }[] = [];
  let finalized = true;
  for (let mi = 0; mi < models.length; mi++) {
    const m = models[mi];
    const shift = Number(origins[mi] - common);
    if (m.meta.worldSize !== undefined) worldSizes.add(m.meta.worldSize);
    rankInfos.push(m.meta.info ?? {});
    out.warnings.push(...m.warnings);
    const pidMap = new Map<number, number>();
    for (const p of m.processes) {
      const pid = p.rank ?? p.pid;
      if (usedPids.has(pid)) {
        const fileName = (m.meta.info?.fileName as string | undefined) ?? `input ${mi + 1}`;
        let free = Math.max(...usedPids) + 1;
        while (usedPids.has(free)) free++;
        out.warnings.push(
          `rank ${pid} appears in more than one file (${fileName}); the copy is kept as process ${free} with no rank`,
        );
        pidMap.set(p.pid, free);
        usedPids.add(free);
        out.processes.push({ ...p, pid: free, rank: undefined, name: `${p.name} (duplicate)` });
        continue;
      }
      usedPids.add(pid);
      pidMap.set(p.pid, pid);
      out.processes.push({ ...p, pid });
    }
    const trackBase = out.tracks.length;
    for (const t of m.tracks) out.tracks.push({ ...t, id: t.id + trackBase, pid: pidMap.get(t.pid) ?? t.pid });
    const sliceBase = out.slices.length;
    // The inputs are consumed: their slices move into the merged model as they are. The same
    // pass finds the rank's time window (in its own time base).
    const slices = m.slices;
    let start = Infinity,
      end = -Infinity;
    for (let i = 0; i < slices.length; i++) {
      const s = slices[i];
      if (s.startNs < start) start = s.startNs;
      if (s.startNs + s.durNs > end) end = s.startNs + s.durNs;
      if (s.depth === undefined) finalized = false;
      s.track += trackBase;
      s.startNs += shift;
      out.slices.push(s);
    }
    for (const c of m.counters)
      out.counters.push({ track: c.track + trackBase, tsNs: c.tsNs.map((t) => t + shift), values: c.values });
    places?.push({ sliceBase, trackBase, shiftNs: shift, pidOf: pidMap });
    const flowBase = out.flows.length;
    for (const f of m.flows) out.flows.push({ id: f.id + flowBase, from: f.from + sliceBase, to: f.to + sliceBase });
    const rank = m.processes[0]?.rank;
    if (Number.isFinite(start) && rank !== undefined) windows.push({ rank, start: start + shift, end: end + shift });
  }
  if (worldSizes.size > 1)
    out.warnings.push(
      `the files disagree on the world size (${[...worldSizes].join(', ')}): they may come from different runs`,
    );
  out.meta.worldSize = worldSizes.size >= 1 ? Math.max(...worldSizes) : undefined;
  for (const w of windows) {
    const others = windows.filter((o) => o !== w);
    if (others.length > 0 && others.every((o) => o.end < w.start || o.start > w.end)) {
      out.warnings.push(
        `rank ${w.rank}'s trace does not overlap any other rank's in time: the files may come from different runs`,
      );
    }
  }
  out.meta.info = { ranks: rankInfos };
  // Each input is finalized (sorted by track then start, depths set) and tracks keep their
  // order, so the concatenation is already finalized; only unfinalized inputs need a pass
  // (which reorders slices: `places` then says nothing of them).
  if (!finalized && places) places.length = 0;
  return finalized ? out : finalizeModel(out);
}
