/**
 * Exposed communication per process group: of a run with several groups (a layout's tp, dp,
 * pp, ep, cp groups), how much of each step each group's communication runs with no
 * computation under it. One definition (METRIC_DEFINITIONS `groupExposedComm`,
 * docs/figures.md), HTA's exposed communication restricted to one group's collectives:
 *
 *   exposed(group, rank, step) = |∪ the group's communication ops of the rank in the step|
 *                                − |that ∩ ∪ the rank's computation ops in the step|;
 *   per step: the mean over the group's ranks; over the steady steps: the same statistic as
 *   the step time (runFigures.ts stepTimeFigure: the median, or the period mean).
 *
 * Two groups' collectives that run at the same time on a rank both count that time, so the
 * groups' figures can add up to more than the run's exposed communication (which counts it
 * once). The group is the collective's `group` arg as the trace names it (CommLens:
 * "tp group 0 (ranks 0,1)", runtime/comm/layout.ts; Kineto: the process group's name).
 */
import type { TraceModel } from '../trace/model';
import { extendUnion, intersectionLength, lengthOf, type IntervalSet } from './intervals';
import { collectiveGroupOf } from './collectives';
import { stepTimeFigure } from './runFigures';
import { unionsOfStep } from './breakdown';
import type { RankView } from './rankView';

export interface GroupExposure {
  /** The group as the trace names it. */
  group: string;
  /** Its ranks: from the name's "(ranks a,b,…)" when it has one, else the ranks whose ops name it. */
  ranks: number[];
  /** Exposed communication of the group per step (see above), ns. */
  exposedCommNs: number;
  /** |∪ the group's communication ops| per step, the same statistic, ns. */
  commNs: number;
  /** Communication ops of the group per step and rank (mean over the group's ranks, the same statistic over steps). */
  opsPerStep: number;
}

const RANKS_IN_NAME = /\(ranks (\d+(?:,\d+)*)\)/;

/**
 * Exposed communication per process group over the `steady` steps (RunFigures.steadySteps),
 * largest first (then by name); [] when the analysed ops name no group. `syncPeriod`: as for
 * the step time (DiLoCo family).
 */
export function groupExposures(
  model: TraceModel,
  views: readonly RankView[],
  steady: ReadonlySet<number>,
  syncPeriod?: number,
): GroupExposure[] {
  // group → step → per-rank [exposed, comm, ops]
  const byGroup = new Map<string, { ranks: Set<number>; steps: Map<number, Map<number, number[]>> }>();
  for (const v of views) {
    const perGroup = v.partial ? v.partial.digest.groupSteps : rankGroupSteps(model, v);
    for (const [group, steps] of perGroup) {
      let entry: { ranks: Set<number>; steps: Map<number, Map<number, number[]>> } | undefined;
      for (const [step, figures] of steps) {
        if (!steady.has(step)) continue;
        if (!entry) {
          entry = byGroup.get(group);
          if (!entry) byGroup.set(group, (entry = { ranks: new Set(), steps: new Map() }));
          entry.ranks.add(v.rank);
        }
        let perRank = entry.steps.get(step);
        if (!perRank) entry.steps.set(step, (perRank = new Map()));
        perRank.set(v.rank, figures);
      }
    }
  }
  const out: GroupExposure[] = [];
  for (const [group, { ranks: seen, steps }] of byGroup) {
    const named = RANKS_IN_NAME.exec(group);
    const ranks = named ? named[1].split(',').map(Number) : [...seen].sort((a, b) => a - b);
    // A rank of the group that has none of its ops in a step counts 0 for that step.
    const members = ranks.filter((r) => views.some((v) => v.rank === r));
    // Every steady step a member analyses: a step without the group's ops counts 0.
    const order = [
      ...new Set(views.filter((v) => members.includes(v.rank)).flatMap((v) => v.analysedSteps.map((s) => s.step))),
    ]
      .filter((st) => steady.has(st))
      .sort((a, b) => a - b);
    if (order.length === 0) continue;
    const statistic = (k: 0 | 1 | 2): number =>
      stepTimeFigure(
        order.map((st) => {
          const perRank = steps.get(st);
          return members.reduce((a, r) => a + (perRank?.get(r)?.[k] ?? 0), 0) / Math.max(1, members.length);
        }),
        syncPeriod,
      ).value;
    out.push({ group, ranks, exposedCommNs: statistic(0), commNs: statistic(1), opsPerStep: statistic(2) });
  }
  return out.sort((a, b) => b.exposedCommNs - a.exposedCommNs || a.group.localeCompare(b.group));
}

/**
 * One rank's part of groupExposures, for every step: group → step → [exposed, comm, ops]
 * (the rank's communication ops of the group in the step, as defined above).
 */
export function rankGroupSteps(model: TraceModel, v: RankView): Map<string, Map<number, [number, number, number]>> {
  // the rank's ops per (group, step), in start order (views keep ops sorted by start).
  const unions = new Map<string, Map<number, { u: IntervalSet; n: number }>>();
  for (const op of v.ops) {
    if (op.cls !== 'communication' || op.step === undefined) continue;
    if (!(op.endNs >= op.startNs)) continue;
    const group = collectiveGroupOf(model.slices[op.index].args);
    let g = unions.get(group);
    if (!g) unions.set(group, (g = new Map()));
    let e = g.get(op.step);
    if (!e) g.set(op.step, (e = { u: { starts: [], ends: [] }, n: 0 }));
    extendUnion(e.u, op.startNs, op.endNs);
    e.n++;
  }
  const out = new Map<string, Map<number, [number, number, number]>>();
  for (const [group, steps] of unions) {
    const m = new Map<number, [number, number, number]>();
    for (const [step, { u, n }] of steps) {
      const compute = unionsOfStep(v, step).computation;
      const comm = lengthOf(u);
      m.set(step, [comm - intersectionLength(u, compute), comm, n]);
    }
    out.set(group, m);
  }
  return out;
}

/** True when the groups say more than the run's exposed communication does: some group is not the whole world. */
export function hasLayoutGroups(groups: readonly GroupExposure[]): boolean {
  return groups.some((g) => g.group !== 'world' && g.group !== 'default');
}
