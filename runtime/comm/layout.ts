/**
 * Process groups of a parallel layout: the ranks of a world arranged as a grid
 * TP × CP × EP × DP × PP (tensor, context, expert, data, pipeline parallel), tensor
 * parallel varying fastest (Megatron-LM's order: the ranks of a TP group are neighbours,
 * on one node when nodes hold consecutive ranks). rank = tp + TP·(cp + CP·(ep + EP·(dp + DP·pp))).
 * Expert parallelism is a dimension of its own here (not carved out of DP).
 *
 * A group of dimension `d` is the set of ranks that differ only in their `d` coordinate;
 * groups are numbered in order of their lowest rank and named for the trace, e.g.
 * "tp group 0 (ranks 0,1)". Validation happens before any GPU work and names the setting
 * and the values that would work.
 */
import type { Communicator } from './communicator';

/** The dimensions, fastest-varying first. */
export const PARALLEL_DIMS = ['tp', 'cp', 'ep', 'dp', 'pp'] as const;
export type ParallelDim = (typeof PARALLEL_DIMS)[number];
export type ParallelLayout = Record<ParallelDim, number>;

const DIM_NAMES: Record<ParallelDim, string> = {
  tp: 'tensor',
  cp: 'context',
  ep: 'expert',
  dp: 'data',
  pp: 'pipeline',
};

/** "setting `value` must be divisible by the size of `dim`" (model.heads by tp, model.layers by pp). */
export interface LayoutConstraint {
  setting: string;
  value: number;
  dim: ParallelDim;
}

function divisors(n: number): number[] {
  const out: number[] = [];
  for (let d = 1; d <= n; d++) if (n % d === 0) out.push(d);
  return out;
}

const isSize = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1;

/**
 * Problems of `layout` (missing dimensions are 1, except dp: what the others leave) for a
 * world of `worldSize` ranks; [] when it works. `settingOf` names each dimension's setting
 * in the messages (e.g. 'strategyOptions.tensorParallelSize' for tp).
 */
export function validateLayout(
  worldSize: number,
  layout: Partial<Record<ParallelDim, unknown>>,
  constraints: LayoutConstraint[] = [],
  settingOf: (d: ParallelDim) => string = (d) => d,
): string[] {
  const problems: string[] = [];
  for (const d of PARALLEL_DIMS) {
    const v = layout[d];
    if (v !== undefined && !isSize(v))
      problems.push(
        `${settingOf(d)}: the ${DIM_NAMES[d]}-parallel size must be a positive integer, got ${JSON.stringify(v)}`,
      );
  }
  if (problems.length) return problems;
  const given = PARALLEL_DIMS.filter((d) => d !== 'dp').reduce(
    (p, d) => p * ((layout[d] as number | undefined) ?? 1),
    1,
  );
  if (layout.dp === undefined) {
    if (worldSize % given !== 0) {
      const named = PARALLEL_DIMS.filter((d) => d !== 'dp' && layout[d] !== undefined).map(
        (d) => `${settingOf(d)} ${layout[d]}`,
      );
      problems.push(
        `${named.join(' × ')} = ${given} does not divide worldSize ${worldSize}; the product of the model-parallel sizes must divide worldSize (divisors of ${worldSize}: ${divisors(worldSize).join(', ')}), or set worldSize to a multiple of ${given}`,
      );
    }
  } else if (given * (layout.dp as number) !== worldSize) {
    const full = PARALLEL_DIMS.filter((d) => layout[d] !== undefined).map((d) => `${settingOf(d)} ${layout[d]}`);
    const fit = worldSize % given === 0 ? `; ${settingOf('dp')} ${worldSize / given} would fit` : '';
    problems.push(`${full.join(' × ')} = ${given * (layout.dp as number)} ranks, but worldSize is ${worldSize}${fit}`);
  }
  for (const c of constraints) {
    const size = (layout[c.dim] as number | undefined) ?? 1;
    if (c.value % size !== 0) {
      const ok = divisors(c.value).filter((d) => worldSize % d === 0);
      problems.push(
        `${c.setting} ${c.value} is not divisible by the ${DIM_NAMES[c.dim]}-parallel size ${settingOf(c.dim)} ${size}; ${settingOf(c.dim)} must divide ${c.value} (and worldSize ${worldSize}): ${ok.join(', ')}`,
      );
    }
  }
  return problems;
}

/** The full layout of a valid partial one (dp = what the other dimensions leave of worldSize). */
export function resolveLayout(worldSize: number, layout: Partial<ParallelLayout>): ParallelLayout {
  const problems = validateLayout(worldSize, layout);
  if (problems.length) throw new Error(problems.join('\n'));
  const out = { tp: 1, cp: 1, ep: 1, dp: 1, pp: 1, ...layout };
  if (layout.dp === undefined) out.dp = worldSize / (out.tp * out.cp * out.ep * out.pp);
  return out;
}

export function worldSizeOf(layout: ParallelLayout): number {
  return PARALLEL_DIMS.reduce((p, d) => p * layout[d], 1);
}

/** The coordinates of `rank` in the grid. */
export function coordsOf(layout: ParallelLayout, rank: number): ParallelLayout {
  const n = worldSizeOf(layout);
  if (!Number.isInteger(rank) || rank < 0 || rank >= n)
    throw new Error(`rank ${rank} is not in [0, ${n}) for layout ${describeLayout(layout)}`);
  const c = { tp: 0, cp: 0, ep: 0, dp: 0, pp: 0 };
  let r = rank;
  for (const d of PARALLEL_DIMS) {
    c[d] = r % layout[d];
    r = Math.floor(r / layout[d]);
  }
  return c;
}

export function rankOf(layout: ParallelLayout, coords: ParallelLayout): number {
  let r = 0;
  for (let i = PARALLEL_DIMS.length - 1; i >= 0; i--) {
    const d = PARALLEL_DIMS[i];
    r = r * layout[d] + coords[d];
  }
  return r;
}

/** The ranks of `rank`'s group along `dim`, in coordinate order. */
export function groupRanks(layout: ParallelLayout, dim: ParallelDim, rank: number): number[] {
  const c = coordsOf(layout, rank);
  return Array.from({ length: layout[dim] }, (_, i) => rankOf(layout, { ...c, [dim]: i }));
}

/** Every group along `dim`, numbered in order of their lowest rank. */
export function groupsOf(layout: ParallelLayout, dim: ParallelDim): number[][] {
  const seen = new Set<number>();
  const out: number[][] = [];
  for (let r = 0; r < worldSizeOf(layout); r++) {
    if (seen.has(r)) continue;
    const g = groupRanks(layout, dim, r);
    for (const m of g) seen.add(m);
    out.push(g);
  }
  return out;
}

/** The trace name of group `index` along `dim`: "tp group 0 (ranks 0,1)". */
export function groupName(dim: ParallelDim, index: number, ranks: readonly number[]): string {
  return `${dim} group ${index} (ranks ${ranks.join(',')})`;
}

/** "tp 2 × dp 2" (dimensions of size 1 left out; "1 rank" when all are). */
export function describeLayout(layout: ParallelLayout): string {
  const parts = PARALLEL_DIMS.filter((d) => layout[d] > 1).map((d) => `${d} ${layout[d]}`);
  return parts.length ? parts.join(' × ') : '1 rank';
}

/** `rank`'s group along each dimension, with its number and name. */
export function groupOf(
  layout: ParallelLayout,
  dim: ParallelDim,
  rank: number,
): { index: number; ranks: number[]; name: string } {
  const ranks = groupRanks(layout, dim, rank);
  const index = groupsOf(layout, dim).findIndex((g) => g[0] === ranks[0]);
  return { index, ranks, name: groupName(dim, index, ranks) };
}

/**
 * Opens `comm`'s rank's group along every dimension (named, so each goes on its own
 * trace track). Local: no message is exchanged, every member opens the same groups.
 */
export function openLayoutGroups(comm: Communicator, layout: ParallelLayout): Record<ParallelDim, Communicator> {
  if (worldSizeOf(layout) !== comm.worldSize || comm.groupName !== 'world') {
    throw new Error(
      `layout ${describeLayout(layout)} needs the world communicator of ${worldSizeOf(layout)} ranks, got group ${comm.groupName} of ${comm.worldSize}`,
    );
  }
  const out = {} as Record<ParallelDim, Communicator>;
  for (const d of PARALLEL_DIMS) {
    const g = groupOf(layout, d, comm.rank);
    out[d] = comm.newGroup(g.ranks, { name: g.name });
  }
  return out;
}
