/**
 * Series the panes read from a trace's counters and steps (pure): loss curves (counter tracks
 * named `loss…`), memory per rank and kind (counter tracks with unit `bytes` or a name with
 * `mem`), and step durations, all keyed by step so two runs line up.
 */
import type { RankBreakdownView } from '../protocol';
import { CATEGORY_STEP, type TraceIndex } from '../timeline/traceIndex';

export interface Series {
  label: string;
  points: [number, number][];
}

interface StepMark {
  startNs: number;
  label: string;
}

/** Position of the step containing (or last started before) time `t` in `st` (sorted). */
function stepAt(st: StepMark[], t: number): number {
  let lo = 0,
    hi = st.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (st[mid].startNs <= t) lo = mid + 1;
    else hi = mid;
  }
  return Math.max(0, lo - 1);
}

/** Step slices of process `pid`, sorted by start (ranks drift apart, so each uses its own). */
function stepsOfPid(index: TraceIndex, pid: number): StepMark[] {
  const tr = index.trace;
  const out: StepMark[] = [];
  for (const t of index.tracks) {
    if (t.info.pid !== pid) continue;
    for (const l of t.lists) {
      for (let k = 0; k < l.idx.length; k++) {
        if (tr.sliceCategory[l.idx[k]] === CATEGORY_STEP)
          out.push({ startNs: l.start[k], label: tr.string(tr.sliceName[l.idx[k]]) });
      }
    }
  }
  return out.sort((a, b) => a.startNs - b.startNs);
}

const stepNumber = (label: string, i: number): number => {
  const m = label.match(/(\d+)\s*$/);
  return m ? Number(m[1]) : i;
};

/** Number in a step slice's name (`step 3`, `ProfilerStep#551`), else its position. */
export function stepNumbers(index: TraceIndex): number[] {
  return index.steps.map((s, i) => stepNumber(s.label, i));
}

/**
 * Loss curves: one series per loss counter track, x = step (when the trace has steps; the
 * sample's position otherwise), y = the sample value.
 */
export function lossSeries(index: TraceIndex): Series[] {
  const tr = index.trace;
  const out: Series[] = [];
  for (const t of index.tracks) {
    if (t.info.type !== 'counter' || !/^loss/i.test(t.info.name)) continue;
    const own = stepsOfPid(index, t.info.pid);
    const steps = own.length ? own : index.steps;
    const nums = steps.map((s, i) => stepNumber(s.label, i));
    const points: [number, number][] = [];
    for (const c of t.counterSeries) {
      for (let k = tr.counterOffset[c]; k < tr.counterOffset[c + 1]; k++) {
        const x = nums.length ? nums[stepAt(steps, tr.counterTs[k])] : k - tr.counterOffset[c];
        if (Number.isFinite(tr.counterValue[k])) points.push([x, tr.counterValue[k]]);
      }
    }
    if (points.length === 0) continue;
    const rank = index.rankOfTrack(t.info.id);
    out.push({ label: rank !== undefined ? `${t.info.name} (rank ${rank})` : t.info.name, points });
  }
  return out;
}

export interface MemoryRow {
  rank: number;
  kind: string;
  peakBytes: number;
}

/** Peak value of every memory counter, per rank and kind (the track name). */
export function memoryPeaks(index: TraceIndex): MemoryRow[] {
  const out: MemoryRow[] = [];
  for (const t of index.tracks) {
    if (t.info.type !== 'counter') continue;
    // Memory counters name themselves (`memory: …`, `memory allocated (…)`); other byte counters
    // (`bytes per step`, `bytes on the wire per step`) are not memory.
    if (!/mem/i.test(t.info.name)) continue;
    if (!Number.isFinite(t.counterMax)) continue;
    const rank = index.rankOfTrack(t.info.id) ?? t.info.pid;
    out.push({ rank, kind: t.info.name.replace(/^mem(ory)?[\s/:._-]*/i, '') || t.info.name, peakBytes: t.counterMax });
  }
  return out.sort((a, b) => a.rank - b.rank || a.kind.localeCompare(b.kind));
}

/** Duration of every step (of the rank whose steps are the markers), keyed by step number. */
export function stepDurations(index: TraceIndex): Map<number, number> {
  const nums = stepNumbers(index);
  const m = new Map<number, number>();
  index.steps.forEach((s, i) => m.set(nums[i], s.endNs - s.startNs));
  return m;
}

/** A rank's exposed communication per step: the mean over its steps (its total when it has no steps). */
export function exposedPerStepNs(r: RankBreakdownView): number {
  return r.steps?.length ? r.steps.reduce((acc, st) => acc + st.exposedCommNs, 0) / r.steps.length : r.exposedCommNs;
}

/** A rank's idle time per step: the mean over its steps (its total when it has no steps). */
export function idlePerStepNs(r: RankBreakdownView): number {
  return r.steps?.length ? r.steps.reduce((acc, st) => acc + st.idleNs, 0) / r.steps.length : r.idleNs;
}
