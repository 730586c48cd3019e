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
 * Sorts rows[start, end) by `compare` (a total order: it ends with the row index, so the result
 * does not depend on the sort's stability). With Array.prototype.sort (a TimSort: linear on the
 * long runs that nearly ordered tracks have), not TypedArray's sort (a merge sort that does not
 * use them). Callers check first that a group is out of order, in their own loop: a shared
 * check calling each caller's comparator was never optimised (its call target changed) and
 * cost more than the sorts.
 */
export function sortRows(
  rows: Int32Array,
  start: number,
  end: number,
  compare: (a: number, b: number) => number,
): void {
  rows.set(Array.from(rows.subarray(start, end)).sort(compare), start);
}
