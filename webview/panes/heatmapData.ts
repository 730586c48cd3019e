/**
 * The heat map's figures and colours (pure, no DOM): what panes/heatmap.ts draws. The figures
 * are the analysis' own (AnalysisView), never recomputed here.
 */
import type { AnalysisView } from '../protocol';

/** Ranks beyond this many are shown as compact summary rows with the heat map (one screen holds 8 ranks' tracks). */
export const HEATMAP_ABOVE_RANKS = 8;

export type HeatMetric = 'exposed' | 'wait';
export const HEAT_METRICS: { id: HeatMetric; label: string; what: string }[] = [
  { id: 'exposed', label: 'Exposed communication', what: 'exposed communication' },
  { id: 'wait', label: 'Collective wait', what: 'collective wait' },
];

export interface HeatMapData {
  ranks: number[];
  steps: number[];
  /** values[metric][rankIndex * steps.length + stepIndex], ns; NaN where the rank has no such step. */
  values: Record<HeatMetric, Float64Array>;
  /** Where each (rank, step) lies on the trace clock, NaN when unknown. */
  startNs: Float64Array;
  durNs: Float64Array;
  /** False when the analysis has no per-step collective waits (then the toggle is off). */
  hasWait: boolean;
}

/** The heat map's figures from the analysis view (null when it has no per-step data). */
export function heatMapData(a: AnalysisView): HeatMapData | null {
  const ranks = a.ranks.filter((r) => (r.steps?.length ?? 0) > 0).sort((x, y) => x.rank - y.rank);
  if (ranks.length === 0) return null;
  const steps = [...new Set(ranks.flatMap((r) => r.steps!.map((s) => s.step)))].sort((x, y) => x - y);
  const col = new Map(steps.map((s, i) => [s, i]));
  const cells = ranks.length * steps.length;
  const nan = (): Float64Array => new Float64Array(cells).fill(NaN);
  const out: HeatMapData = {
    ranks: ranks.map((r) => r.rank),
    steps,
    values: { exposed: nan(), wait: nan() },
    startNs: nan(),
    durNs: nan(),
    hasWait: false,
  };
  ranks.forEach((r, ri) => {
    for (const s of r.steps!) {
      const k = ri * steps.length + col.get(s.step)!;
      out.values.exposed[k] = s.exposedCommNs;
      if (s.collectiveWaitNs !== undefined) {
        out.values.wait[k] = s.collectiveWaitNs;
        out.hasWait = true;
      }
      if (s.startNs !== undefined) out.startNs[k] = s.startNs;
      if (s.durNs !== undefined) out.durNs[k] = s.durNs;
    }
  });
  return out;
}

/**
 * Viridis (perceptually uniform, readable with colour-vision deficiencies), sampled at 9
 * stops. The scale runs from the end nearest the background to the end farthest from it, so
 * a larger value always stands out more: dark purple → yellow on a dark theme, yellow →
 * dark purple on a light one.
 */
const VIRIDIS: [number, number, number][] = [
  [68, 1, 84],
  [71, 44, 122],
  [59, 81, 139],
  [44, 113, 142],
  [33, 144, 141],
  [39, 173, 129],
  [92, 200, 99],
  [170, 220, 50],
  [253, 231, 37],
];

/** Colour of value fraction `t` (0–1) on a dark (true) or light background. */
export function heatColour(t: number, darkBackground: boolean): [number, number, number] {
  const x = Math.max(0, Math.min(1, Number.isFinite(t) ? t : 0));
  const u = (darkBackground ? x : 1 - x) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(u));
  const f = u - i;
  const a = VIRIDIS[i],
    b = VIRIDIS[i + 1];
  return [0, 1, 2].map((c) => Math.round(a[c] + (b[c] - a[c]) * f)) as [number, number, number];
}
