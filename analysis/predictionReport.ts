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
>;

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
 * it where the re-run measures that component (compute, exposed communication; and the
 * collectives' span, which holds wire + wait + codec).
 */
export function componentsLine(
  p: ComponentPredictions,
  measured?: MeasuredComponents,
  baselineMeasured?: MeasuredComponents,
): string {
  const pair = (k: keyof ComponentPredictions) => `${ms(p[k].baselineNs)} → ${ms(p[k].predictedNs)}`;
  const meas = (base: number | undefined, now: number | undefined) =>
    now === undefined ? '' : ` (measured ${base !== undefined ? `${ms(base)} → ` : ''}${ms(now)})`;
  const commPred = (k: 'baselineNs' | 'predictedNs') => p.wireNs[k] + p.waitNs[k] + p.codecNs[k];
  return [
    `compute ${pair('computeNs')}${meas(baselineMeasured?.computeNs, measured?.computeNs)}`,
    `staging ${pair('stagingNs')}`,
    `wire ${pair('wireNs')}`,
    `codec ${pair('codecNs')}`,
    `wait ${pair('waitNs')}`,
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
