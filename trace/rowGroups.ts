/**
 * Rows grouped by a small integer key (a track, a thread), each group in row order, in one
 * Int32Array: a counting sort. The importer's per-track passes used an array per track filled
 * by push, whose growth (new backing stores, copies, their page faults) was a measurable share
 * of a large rank's import.
 */
export interface RowGroups {
  /** The rows of group g are rows[start[g] .. start[g + 1]). */
  rows: Int32Array;
  start: Int32Array;
}

/** Groups rows 0 … keyOf.length − 1 by keyOf[row] (0 … groups − 1; a negative key leaves the row out). */
export function groupRows(keyOf: Int32Array, groups: number): RowGroups {
  const start = new Int32Array(groups + 1);
  for (let i = 0; i < keyOf.length; i++) {
    const g = keyOf[i];
    if (g >= 0) start[g + 1]++;
  }
  for (let g = 0; g < groups; g++) start[g + 1] += start[g];
  const rows = new Int32Array(start[groups]);
  const at = start.slice(0, groups);
  for (let i = 0; i < keyOf.length; i++) {
    const g = keyOf[i];
    if (g >= 0) rows[at[g]++] = i;
  }
  return { rows, start };
}

/**
 * Sorts rows[start, end) by `first` ascending, then `second` descending, then row ascending (the
 * importer's order on a track: by start, longer first, then event order); a difference that is
 * not a number (a NaN key) is a tie, as in the comparator `f[a] − f[b] || s[b] − s[a] || a − b`.
 *
 * A natural merge sort over typed arrays: the group's ordered runs are found, then merged in
 * pairs until one is left. Real threads are long runs broken where a parent op is written after
 * its children (the HTA fixture's host threads: 7 breaks in 3,651 events), so a group of R runs
 * costs log2 R passes of plain array moves, with the comparison inlined. Array.prototype.sort with
 * a comparator closure (a TimSort, on a copy of the rows boxed into an Array) took 86–134 ms for
 * one 570,000-row thread of 640 runs, and sorting was 6 % of a 500 MB rank's CPU.
 *
 * Callers check first that a group is out of order, in their own loop: a shared check calling
 * each caller's comparator was never optimised (its call target changed) and cost more than the
 * sorts.
 */
export function sortRowsBy(
  rows: Int32Array,
  start: number,
  end: number,
  first: Float64Array,
  second: Float64Array,
): void {
  const n = end - start;
  if (n < 2) return;
  /** Whether row x sorts strictly before row y. */
  const before = (x: number, y: number): boolean => {
    const d = first[x] - first[y];
    if (d < 0) return true;
    if (d > 0) return false;
    const e = second[y] - second[x];
    if (e < 0) return true;
    if (e > 0) return false;
    return x < y;
  };
  // The runs: bounds[r] … bounds[r + 1] (offsets in the group), each in order.
  let bounds: number[] = [0];
  for (let k = start + 1; k < end; k++) if (before(rows[k], rows[k - 1])) bounds.push(k - start);
  if (bounds.length === 1) return;
  bounds.push(n);
  let src = rows.slice(start, end);
  let dst = new Int32Array(n);
  while (bounds.length > 2) {
    const next: number[] = [0];
    for (let r = 0; r + 1 < bounds.length; r += 2) {
      const lo = bounds[r],
        mid = bounds[r + 1];
      if (r + 2 >= bounds.length) {
        // An odd run out: carried to the next pass as it is.
        dst.set(src.subarray(lo, mid), lo);
        next.push(mid);
        break;
      }
      const hi = bounds[r + 2];
      let i = lo,
        j = mid,
        o = lo;
      while (i < mid && j < hi) {
        const x = src[i],
          y = src[j];
        if (before(y, x)) {
          dst[o++] = y;
          j++;
        } else {
          dst[o++] = x;
          i++;
        }
      }
      while (i < mid) dst[o++] = src[i++];
      while (j < hi) dst[o++] = src[j++];
      next.push(hi);
    }
    bounds = next;
    const t = src;
    src = dst;
    dst = t;
  }
  rows.set(src, start);
}
