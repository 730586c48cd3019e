/**
 * Reading a prediction against a re-run, component by component: what the re-run's
 * analysis measured of the step's components, a one-line comparison with what the replay
 * predicted (suggestion.predicted.components), and the spread of prediction errors over
 * repeated benchmark passes. Used by bench:advisor.
 */
import { formatDurationNs } from '../trace/format';
import { median, quantile } from '../trace/stats';

/** Components of a step that a run's analysis measures directly (mean over ranks, median over steps after the first). */
export interface MeasuredComponents {
  computeNs: number;
  /** Union of the collectives' spans (wire, wait and codec on their path, as the trace has them). */
  commNs: number;
  exposedCommNs: number;
}

/** The parts of the analysis (analysis/index.ts `Analysis`) this reads. */
export interface StepsAnalysisLike {
  ranks?: {
    steps?: { step: number; temporal?: { computeNs: number }; overlap: { commNs?: number; exposedCommNs: number } }[];
  }[];
}

/** The prediction's components, as suggestions carry them. */
export type ComponentPredictions = Record<
  'computeNs' | 'stagingNs' | 'wireNs' | 'codecNs' | 'waitNs' | 'exposedCommNs',
  { baselineNs: number; predictedNs: number }
> & {
  /** Absent from predictions made before 2026-12-07. */
  hostNs?: { baselineNs: number; predictedNs: number };
};

/** Measured components of a run from its analysis; undefined when it has no steps. */
export function measuredComponentsOf(analysis: unknown): MeasuredComponents | undefined {
  const a = analysis as StepsAnalysisLike | undefined;
  const perStep = new Map<number, { compute: number[]; comm: number[]; exposed: number[] }>();
  for (const r of a?.ranks ?? []) {
    for (const st of r.steps ?? []) {
      const e = perStep.get(st.step) ?? { compute: [], comm: [], exposed: [] };
      e.compute.push(st.temporal?.computeNs ?? NaN);
      e.comm.push(st.overlap.commNs ?? NaN);
      e.exposed.push(st.overlap.exposedCommNs);
      perStep.set(st.step, e);
    }
  }
  const steps = [...perStep.keys()].sort((x, y) => x - y);
  const usable = steps.length > 1 ? steps.slice(1) : steps;
  if (usable.length === 0) return undefined;
  const avg = (xs: number[]) => xs.reduce((t, x) => t + x, 0) / xs.length;
  const of = (k: 'compute' | 'comm' | 'exposed') => median(usable.map((s) => avg(perStep.get(s)![k])));
  return { computeNs: of('compute'), commNs: of('comm'), exposedCommNs: of('exposed') };
}

const ms = (ns: number) => (Number.isFinite(ns) ? formatDurationNs(ns) : '?');

/**
 * One line: each predicted component baseline → predicted, with the measured figure beside
 * it: the re-run's own replayed split where given (`split`, the prediction's decomposition:
 * compute, staging, wire, codec, wait), else what the analysis measures directly (compute,
 * exposed communication, and the collectives' span, which holds wire + wait + codec).
 */
export function componentsLine(
  p: ComponentPredictions,
  measured?: MeasuredComponents,
  baselineMeasured?: MeasuredComponents,
  split?: Partial<Record<keyof ComponentPredictions | 'hostNs', number>>,
): string {
  const pair = (k: Exclude<keyof ComponentPredictions, 'hostNs'>) => `${ms(p[k].baselineNs)} → ${ms(p[k].predictedNs)}`;
  const meas = (base: number | undefined, now: number | undefined) =>
    now === undefined ? '' : ` (measured ${base !== undefined ? `${ms(base)} → ` : ''}${ms(now)})`;
  const replayed = (k: keyof ComponentPredictions) => {
    const v = split?.[k];
    return v === undefined ? '' : ` (replayed ${ms(v)})`;
  };
  const commPred = (k: 'baselineNs' | 'predictedNs') => p.wireNs[k] + p.waitNs[k] + p.codecNs[k];
  return [
    `compute ${pair('computeNs')}${meas(baselineMeasured?.computeNs, measured?.computeNs)}`,
    `staging ${pair('stagingNs')}${replayed('stagingNs')}`,
    `wire ${pair('wireNs')}${replayed('wireNs')}`,
    `codec ${pair('codecNs')}${replayed('codecNs')}`,
    `wait ${pair('waitNs')}${replayed('waitNs')}`,
    ...(p.hostNs ? [`host ${ms(p.hostNs.baselineNs)} → ${ms(p.hostNs.predictedNs)}${replayed('hostNs')}`] : []),
    `collectives (wire+wait+codec) ${ms(commPred('baselineNs'))} → ${ms(commPred('predictedNs'))}${meas(baselineMeasured?.commNs, measured?.commNs)}`,
    `exposed ${pair('exposedCommNs')}${meas(baselineMeasured?.exposedCommNs, measured?.exposedCommNs)}`,
  ].join(' · ');
}

/** The median |error| of each pass, and their median and spread (min, quartiles, max) over the passes. */
export interface ErrorSpread {
  passes: number;
  perPass: number[];
  median: number;
  min: number;
  q1: number;
  q3: number;
  max: number;
}

/** `errorsByPass[i]`: the |relative errors| of pass i's rows. Passes without rows are left out. */
export function errorSpread(errorsByPass: number[][]): ErrorSpread {
  const perPass = errorsByPass.filter((e) => e.length > 0).map((e) => median(e));
  if (perPass.length === 0) return { passes: 0, perPass, median: NaN, min: NaN, q1: NaN, q3: NaN, max: NaN };
  return {
    passes: perPass.length,
    perPass,
    median: median(perPass),
    min: Math.min(...perPass),
    q1: quantile(perPass, 0.25),
    q3: quantile(perPass, 0.75),
    max: Math.max(...perPass),
  };
}

/** The components a prediction and a re-run both give per rank and step (simulate.ts StepComponents, less exposed communication: see componentRows); host only where both sides have it. */
export const COMPARED_COMPONENTS = ['computeNs', 'stagingNs', 'wireNs', 'codecNs', 'waitNs', 'hostNs'] as const;
export type ComparedComponent = (typeof COMPARED_COMPONENTS)[number];
/** Components that predictions and analyses made before 2026-12-07 lack: shown when both sides have them. */
const NEWER_COMPONENTS: ReadonlySet<ComparedComponent> = new Set(['hostNs']);

export const COMPONENT_LABELS: Record<ComparedComponent, string> = {
  computeNs: 'compute',
  stagingNs: 'staging',
  wireNs: 'wire',
  codecNs: 'codec',
  waitNs: 'wait',
  hostNs: 'host',
};

/** One component: the replay of the run the prediction started from, the prediction, and the re-run's own replay. */
export interface ComponentRow {
  key: ComparedComponent;
  label: string;
  fromNs: number;
  predictedNs: number;
  measuredNs: number;
}

/**
 * The prediction against the re-run, component by component, per rank and step: each side is
 * the replay's decomposition (the prediction's `components`; the re-run's analysis.replay
 * .components, its own steps replayed unchanged), so a miss shows where it came from.
 * Exposed communication is left out: a prediction puts a change's codec on the collective's
 * path, where a measured run has it on the host before and after the collective, so the two
 * differ by definition there (the step table's exposed row is the analysis's own figure).
 * Empty when either side is missing.
 */
export function componentRows(predicted: unknown, measured: unknown): ComponentRow[] {
  const p = (typeof predicted === 'object' && predicted !== null ? predicted : {}) as Record<
    string,
    { baselineNs?: unknown; predictedNs?: unknown } | undefined
  >;
  const m = (typeof measured === 'object' && measured !== null ? measured : {}) as Record<string, unknown>;
  const rows: ComponentRow[] = [];
  for (const key of COMPARED_COMPONENTS) {
    const from = p[key]?.baselineNs,
      pred = p[key]?.predictedNs,
      meas = m[key];
    const absent = from === undefined && pred === undefined;
    if (NEWER_COMPONENTS.has(key) && (absent || meas === undefined)) continue;
    if (typeof from !== 'number' || typeof pred !== 'number' || typeof meas !== 'number') return [];
    if (![from, pred, meas].every(Number.isFinite)) return [];
    rows.push({ key, label: COMPONENT_LABELS[key], fromNs: from, predictedNs: pred, measuredNs: meas });
  }
  return rows;
}

/**
 * The component whose measure is furthest from its prediction, in words ("codec, 53.2 ms measured
 * against 38.5 ms predicted (+14.7 ms per rank and step; …)"); undefined without rows or when every component is
 * within 1 ms. Components overlap in time (compute hides wire when they overlap), so their
 * differences do not add up to the step's.
 */
export function largestComponentMiss(rows: readonly ComponentRow[]): string | undefined {
  let best: ComponentRow | undefined;
  for (const r of rows)
    if (!best || Math.abs(r.measuredNs - r.predictedNs) > Math.abs(best.measuredNs - best.predictedNs)) best = r;
  if (!best) return undefined;
  const d = best.measuredNs - best.predictedNs;
  if (Math.abs(d) < 1e6) return undefined;
  return `${best.label}, ${formatDurationNs(best.measuredNs)} measured against ${formatDurationNs(best.predictedNs)} predicted (${d > 0 ? '+' : '−'}${formatDurationNs(Math.abs(d))} per rank and step; the components overlap in time, so their differences need not add up to the step's)`;
}

/**
 * componentRows as the CLI prints them under its step table (the same columns): a header, a
 * line per component and the one furthest from its prediction; empty without rows.
 */
export function componentTable(rows: readonly ComponentRow[]): string[] {
  if (rows.length === 0) return [];
  const t = (ns: number) => formatDurationNs(ns).padStart(10);
  const miss = largestComponentMiss(rows);
  return [
    `per rank and step  ${'before'.padStart(10)}  ${'predicted'.padStart(10)}  ${'measured'.padStart(10)}   (the replay's split of the step; before: the run the prediction started from; docs/figures.md)`,
    ...rows.map((r) => `${r.label.padEnd(18)} ${t(r.fromNs)}  ${t(r.predictedNs)}  ${t(r.measuredNs)}`),
    ...(miss ? [`furthest from its prediction: ${miss}`] : []),
  ];
}
