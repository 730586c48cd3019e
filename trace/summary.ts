/**
 * What an importer found in a trace, as `commlens inspect` prints it.
 */
import type { TraceModel } from './model';

/**
 * Version of a run's summary.json (docs/summary-schema.md), one for CommLens runs
 * (runtime/summary.ts) and for imported external runs (analysis/externalSummary.ts).
 */
export const SUMMARY_SCHEMA_VERSION = 1;

export interface TraceSummary {
  format: TraceModel['meta']['format'];
  originNs: string;
  worldSize?: number;
  ranks: number;
  processes: { pid: number; rank?: number; name: string; tracks: number }[];
  tracks: { slice: number; counter: number };
  slices: number;
  flows: number;
  counters: { series: number; samples: number };
  /** Distinct steps (`step` slices by name; every rank has its own slice of a step). */
  steps: number;
  /** How a CommLens run ended, when its trace records it (run metadata runStatus, runError, ...). */
  run?: { status: string; error?: string; failedRank?: number; signal?: string };
  /** Collective slices by op (args.op, else the slice name). */
  collectivesByOp: Record<string, number>;
  /** Time span of all slices and counter samples, ns. */
  spanNs: number;
  warnings: string[];
}

/** Counts of a model: ranks are processes with a rank (or all processes when none has one); steps are `step` slices. */
export function summarizeTrace(m: TraceModel): TraceSummary {
  const tracksPer = new Map<number, number>();
  for (const t of m.tracks) tracksPer.set(t.pid, (tracksPer.get(t.pid) ?? 0) + 1);
  const ranked = m.processes.filter((p) => p.rank !== undefined);
  const collectivesByOp: Record<string, number> = {};
  const stepNames = new Set<string>();
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of m.slices) {
    if (s.category === 'step') stepNames.add(s.name);
    if (s.category === 'collective') {
      const op = typeof s.args?.op === 'string' ? s.args.op : s.name;
      collectivesByOp[op] = (collectivesByOp[op] ?? 0) + 1;
    }
    if (s.startNs < lo) lo = s.startNs;
    if (s.startNs + s.durNs > hi) hi = s.startNs + s.durNs;
  }
  let samples = 0;
  for (const c of m.counters) {
    samples += c.tsNs.length;
    for (const t of c.tsNs) {
      if (t < lo) lo = t;
      if (t > hi) hi = t;
    }
  }
  return {
    format: m.meta.format,
    originNs: m.meta.originNs,
    ...(m.meta.worldSize !== undefined ? { worldSize: m.meta.worldSize } : {}),
    ranks: ranked.length > 0 ? ranked.length : m.processes.length,
    processes: m.processes.map((p) => ({
      pid: p.pid,
      ...(p.rank !== undefined ? { rank: p.rank } : {}),
      name: p.name,
      tracks: tracksPer.get(p.pid) ?? 0,
    })),
    tracks: {
      slice: m.tracks.filter((t) => t.type === 'slice').length,
      counter: m.tracks.filter((t) => t.type === 'counter').length,
    },
    slices: m.slices.length,
    flows: m.flows.length,
    counters: { series: m.counters.length, samples },
    steps: stepNames.size,
    ...runEnd(m),
    collectivesByOp,
    spanNs: hi >= lo ? hi - lo : 0,
    warnings: m.warnings,
  };
}

function runEnd(m: TraceModel): { run?: NonNullable<TraceSummary['run']> } {
  const i = m.meta.info;
  if (!i || typeof i.runStatus !== 'string') return {};
  return {
    run: {
      status: i.runStatus,
      ...(typeof i.runError === 'string' ? { error: i.runError } : {}),
      ...(typeof i.failedRank === 'number' ? { failedRank: i.failedRank } : {}),
      ...(typeof i.exitSignal === 'string' ? { signal: i.exitSignal } : {}),
    },
  };
}
