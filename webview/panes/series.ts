/**
 * Series the panes read from a trace's counters and steps (pure): loss curves (counter tracks
 * named `loss…`), memory per rank and kind (counter tracks with unit `bytes` or a name with
 * `mem`), and step durations, all keyed by step so two runs line up.
 */
import type { TraceIndex } from '../timeline/traceIndex';

export interface Series { label: string; points: [number, number][] }

/** Step number of the step containing (or last started before) time `t`; steps count from 0. */
function stepAt(index: TraceIndex, t: number): number {
  const st = index.steps;
  let lo = 0, hi = st.length;
  while (lo < hi) { const mid = (lo + hi) >>> 1; if (st[mid].startNs <= t) lo = mid + 1; else hi = mid; }
  return Math.max(0, lo - 1);
}

/** Number in a step slice's name (`step 3`, `ProfilerStep#551`), else its position. */
export function stepNumbers(index: TraceIndex): number[] {
  return index.steps.map((s, i) => {
    const m = s.label.match(/(\d+)\s*$/);
    return m ? Number(m[1]) : i;
  });
}

/**
 * Loss curves: one series per loss counter track, x = step (when the trace has steps; the
 * sample's position otherwise), y = the sample value.
 */
export function lossSeries(index: TraceIndex): Series[] {
  const tr = index.trace;
  const nums = stepNumbers(index);
  const out: Series[] = [];
  for (const t of index.tracks) {
    if (t.info.type !== 'counter' || !/^loss/i.test(t.info.name)) continue;
    const points: [number, number][] = [];
    for (const c of t.counterSeries) {
      for (let k = tr.counterOffset[c]; k < tr.counterOffset[c + 1]; k++) {
        const x = nums.length ? nums[stepAt(index, tr.counterTs[k])] : k - tr.counterOffset[c];
        if (Number.isFinite(tr.counterValue[k])) points.push([x, tr.counterValue[k]]);
      }
    }
    if (points.length === 0) continue;
    const rank = index.rankOfTrack(t.info.id);
    out.push({ label: rank !== undefined ? `${t.info.name} (rank ${rank})` : t.info.name, points });
  }
  return out;
}

export interface MemoryRow { rank: number; kind: string; peakBytes: number }

/** Peak value of every memory counter, per rank and kind (the track name). */
export function memoryPeaks(index: TraceIndex): MemoryRow[] {
  const out: MemoryRow[] = [];
  for (const t of index.tracks) {
    if (t.info.type !== 'counter') continue;
    if (!(t.info.unit === 'bytes' || /mem/i.test(t.info.name))) continue;
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
