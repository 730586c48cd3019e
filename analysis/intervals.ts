/**
 * Interval arithmetic on half-open time intervals [start, end), in ns.
 * The building block of every time metric: unions, intersections, differences.
 *
 * These run on every analysis, usually once per process (`commlens analyze`), so mostly
 * before V8 has optimised them: their loops index arrays instead of using `for…of` or
 * `[s, e]` destructuring, which allocate an iterator result per element in unoptimised code.
 */
import { isAscending } from '../trace/model';

/** A sorted list of disjoint intervals, as parallel arrays for speed. */
export interface IntervalSet {
  starts: number[];
  ends: number[];
}

/**
 * The union of intervals: sorts by start and merges any interval that starts at or
 * before the running end (touching intervals merge, as Holistic Trace Analysis' merge does).
 */
export function unionOf(intervals: ReadonlyArray<readonly [number, number]>): IntervalSet {
  const sorted: (readonly [number, number])[] = [];
  for (let i = 0; i < intervals.length; i++) if (intervals[i][1] >= intervals[i][0]) sorted.push(intervals[i]);
  if (!isAscending(sorted, byStart)) sorted.sort(byStart);
  const set: IntervalSet = { starts: [], ends: [] };
  for (let i = 0; i < sorted.length; i++) extendUnion(set, sorted[i][0], sorted[i][1]);
  return set;
}

const byStart = (a: readonly [number, number], b: readonly [number, number]) => a[0] - b[0];

/**
 * Adds [s, e) to a union built from intervals taken in start order: it extends the last
 * interval when it starts at or before that one's end, else it starts a new one.
 */
export function extendUnion(set: IntervalSet, s: number, e: number): void {
  const last = set.ends.length - 1;
  if (last >= 0 && s <= set.ends[last]) {
    if (e > set.ends[last]) set.ends[last] = e;
  } else {
    set.starts.push(s);
    set.ends.push(e);
  }
}

/** Total length of an interval set: Σ (end − start). */
export function lengthOf(set: IntervalSet): number {
  let t = 0;
  for (let i = 0; i < set.starts.length; i++) t += set.ends[i] - set.starts[i];
  return t;
}

/** |A ∩ B| for two interval sets, by a linear merge. */
export function intersectionLength(a: IntervalSet, b: IntervalSet): number {
  let i = 0,
    j = 0,
    t = 0;
  while (i < a.starts.length && j < b.starts.length) {
    const s = Math.max(a.starts[i], b.starts[j]);
    const e = Math.min(a.ends[i], b.ends[j]);
    if (e > s) t += e - s;
    if (a.ends[i] < b.ends[j]) i++;
    else j++;
  }
  return t;
}

/** A ∩ B as an interval set. */
export function intersect(a: IntervalSet, b: IntervalSet): IntervalSet {
  let i = 0,
    j = 0;
  const starts: number[] = [],
    ends: number[] = [];
  while (i < a.starts.length && j < b.starts.length) {
    const s = Math.max(a.starts[i], b.starts[j]);
    const e = Math.min(a.ends[i], b.ends[j]);
    if (e > s) {
      starts.push(s);
      ends.push(e);
    }
    if (a.ends[i] < b.ends[j]) i++;
    else j++;
  }
  return { starts, ends };
}

/** |A \ B| = |A| − |A ∩ B|. */
export function differenceLength(a: IntervalSet, b: IntervalSet): number {
  return lengthOf(a) - intersectionLength(a, b);
}

/**
 * Time covered by each combination of classes. `sets[k]` is the union of class k; the
 * result maps a bit mask (bit k set = class k active) to the time during which exactly
 * that combination of classes was active. A sweep over the sorted boundaries.
 */
export function combinationTimes(sets: IntervalSet[]): Map<number, number> {
  // Each set's boundaries, start and end in turn, are already in order: they are merged, not
  // sorted (a set that is not in order, which an IntervalSet never is, is sorted as before).
  for (const set of sets) if (!boundariesAscending(set)) return combinationTimesSorted(sets);
  const out = new Map<number, number>();
  const k = sets.length;
  // pos[j]: the next boundary of set j (2i: starts[i], 2i + 1: ends[i]).
  const pos = new Array<number>(k).fill(0);
  const boundary = (j: number, p: number) => ((p & 1) === 0 ? sets[j].starts[p >> 1] : sets[j].ends[p >> 1]);
  const next = (): number => {
    let best = -1,
      at = Infinity;
    for (let j = 0; j < k; j++) {
      const p = pos[j];
      if (p >= 2 * sets[j].starts.length) continue;
      const x = boundary(j, p);
      if (best < 0 || x < at) {
        best = j;
        at = x;
      }
    }
    return best;
  };
  let mask = 0;
  let j = next();
  while (j >= 0) {
    const p = pos[j]++;
    const x = boundary(j, p);
    mask += (p & 1) === 0 ? 1 << j : -(1 << j);
    const n = next();
    // Boundaries at the same time add nothing between them; the last of them carries the mask
    // all of them make, whatever their order.
    const dt = n >= 0 ? boundary(n, pos[n]) - x : 0;
    if (mask > 0 && dt > 0) out.set(mask, (out.get(mask) ?? 0) + dt);
    j = n;
  }
  return out;
}

function boundariesAscending(set: IntervalSet): boolean {
  for (let i = 0; i < set.starts.length; i++) {
    if (!(set.ends[i] >= set.starts[i])) return false;
    if (i > 0 && !(set.starts[i] >= set.ends[i - 1])) return false;
  }
  return true;
}

/** combinationTimes by sorting every boundary (for sets whose boundaries are not in order). */
function combinationTimesSorted(sets: IntervalSet[]): Map<number, number> {
  const points: number[] = [];
  const deltas: number[] = [];
  for (let k = 0; k < sets.length; k++) {
    const set = sets[k];
    const bit = 1 << k;
    for (let i = 0; i < set.starts.length; i++) {
      points.push(set.starts[i], set.ends[i]);
      deltas.push(bit, -bit);
    }
  }
  const order: number[] = [];
  for (let i = 0; i < points.length; i++) order.push(i);
  order.sort((x, y) => points[x] - points[y]);
  const out = new Map<number, number>();
  let mask = 0;
  for (let n = 0; n < order.length; n++) {
    mask += deltas[order[n]];
    const next = n + 1 < order.length ? points[order[n + 1]] : points[order[n]];
    const dt = next - points[order[n]];
    if (mask > 0 && dt > 0) out.set(mask, (out.get(mask) ?? 0) + dt);
  }
  return out;
}
