/**
 * The process groups of a rank's parallel layout, opened once per communicator and layout:
 * the tensor-, pipeline- and expert-parallel strategies each ask for the groups of their own
 * dimension at start-up and again when they build their trainer.
 */
import type { Communicator } from '../comm';
import { describeLayout, openLayoutGroups, resolveLayout, type ParallelDim, type ParallelLayout } from '../comm/layout';

export interface LayoutGroups {
  layout: ParallelLayout;
  groups: Record<ParallelDim, Communicator>;
}

const opened = new WeakMap<Communicator, Map<string, LayoutGroups>>();

/** `comm`'s rank's groups of the layout `sizes` resolves to on `worldSize` ranks (validated by resolveLayout). */
export function layoutGroupsOf(comm: Communicator, worldSize: number, sizes: Partial<ParallelLayout>): LayoutGroups {
  const layout = resolveLayout(worldSize, sizes);
  const key = describeLayout(layout);
  let byLayout = opened.get(comm);
  if (!byLayout) opened.set(comm, (byLayout = new Map()));
  let g = byLayout.get(key);
  if (!g) byLayout.set(key, (g = { layout, groups: openLayoutGroups(comm, layout) }));
  return g;
}
