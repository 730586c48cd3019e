/**
 * Collectives on the CPU timeline of a PyTorch profiler trace: gloo jobs, and NCCL jobs
 * profiled without ProfilerActivity.CUDA.
 *
 * One collective leaves up to three CPU events: the `c10d::allreduce_` dispatcher op on
 * the calling thread, a `record_param_comms` op (sizes, dtype, process group: newer
 * PyTorch) inside or around it, and, for gloo, a `gloo:all_reduce` op on gloo's worker
 * thread while the collective runs. They are ONE collective: when gloo ops are present
 * each is the collective (its span is the communication), with the arguments of the
 * launcher paired with it (the k-th launcher of an op with the k-th gloo op of that op);
 * otherwise each outermost launcher is the collective. A trace with NCCL/RCCL kernels
 * keeps those as its collectives and nothing here applies.
 */
import type { Args, Slice } from './model';
import { collectiveArgsOf, normalizeCollectiveOp } from './kinetoCollectives';

const LAUNCHER = /^(c10d::|record_param_comms$|nccl:)/;
const GLOO = /^gloo:/;

function contains(outer: Slice, inner: Slice): boolean {
  return (
    outer.track === inner.track &&
    outer.startNs <= inner.startNs &&
    inner.startNs + inner.durNs <= outer.startNs + outer.durNs
  );
}

/** The op a launcher stands for: its `Collective name` arg, else its name. */
function launcherOp(s: Slice): string {
  const c = s.args?.['Collective name'];
  return normalizeCollectiveOp(typeof c === 'string' && c ? c : s.name);
}

/**
 * Marks the CPU collectives among `slices` (category → `collective`, args → CollectiveArgs)
 * when there are no GPU collectives. `isHost(track)` says which tracks are CPU threads.
 * Returns how many were marked and from what.
 */
export function markCpuCollectives(
  slices: Slice[],
  isHost: (track: number) => boolean,
  worldSize: number | undefined,
): { count: number; source?: 'gloo' | 'launcher' } {
  if (slices.some((s) => s.category === 'collective')) return { count: 0 };
  const launchers: Slice[] = [];
  const gloo: Slice[] = [];
  for (const s of slices) {
    if (!isHost(s.track)) continue;
    if (GLOO.test(s.name)) gloo.push(s);
    else if (LAUNCHER.test(s.name)) launchers.push(s);
  }
  if (launchers.length === 0 && gloo.length === 0) return { count: 0 };
  const byStart = (a: Slice, b: Slice) => a.startNs - b.startNs || b.durNs - a.durNs;
  launchers.sort(byStart);
  gloo.sort(byStart);
  // Outermost launchers, each with the richest launcher inside it (the one with sizes).
  const outer: { s: Slice; rich: Slice }[] = [];
  const open: { s: Slice; rich: Slice }[] = [];
  for (const s of launchers) {
    while (open.length > 0 && !contains(open[open.length - 1].s, s)) open.pop();
    if (open.length > 0) {
      const o = open[0];
      const richness = (x: Slice) =>
        (x.args?.['Collective name'] !== undefined ? 2 : 0) + (x.args?.['Input Dims'] !== undefined ? 1 : 0);
      if (richness(s) > richness(o.rich)) o.rich = s;
      open.push({ s, rich: s });
      continue;
    }
    const entry = { s, rich: s };
    outer.push(entry);
    open.push(entry);
  }
  const mark = (s: Slice, launcher: Slice | undefined, op: string) => {
    const args = s.args ?? {};
    const ca = collectiveArgsOf(
      s.name,
      args,
      launcher ? { name: launcher.name, args: launcher.args ?? {} } : undefined,
      worldSize,
    );
    ca.op = op;
    delete ca.algorithm;
    const out: Args = { ...args, ...ca };
    if (launcher && launcher !== s) out.launcher = launcher.name;
    s.category = 'collective';
    s.args = out;
  };
  if (gloo.length > 0) {
    const queue = new Map<string, Slice[]>();
    for (const o of outer) {
      const op = launcherOp(o.rich);
      let q = queue.get(op);
      if (!q) queue.set(op, (q = []));
      q.push(o.rich);
    }
    for (const g of gloo) {
      const op = normalizeCollectiveOp(g.name);
      mark(g, queue.get(op)?.shift(), op);
    }
    return { count: gloo.length, source: 'gloo' };
  }
  for (const o of outer) mark(o.s, o.rich, launcherOp(o.rich));
  return { count: outer.length, source: 'launcher' };
}
