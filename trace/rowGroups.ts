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
 * Sorts each group of `groups` by `compare` where it is not already in that order (checked
 * first: producers write most tracks in order, and the rest nearly so). `compare` must be a total order (end with the
 * row index), so the result does not depend on the sort's stability.
 */
export function sortGroups(groups: RowGroups, compare: (a: number, b: number) => number): void {
  const { rows, start } = groups;
  for (let g = 0; g + 1 < start.length; g++) {
    const s = start[g],
      e = start[g + 1];
    let sorted = true;
    for (let k = s + 1; k < e && sorted; k++) sorted = compare(rows[k], rows[k - 1]) >= 0;
    if (sorted) continue;
    // Array.prototype.sort (a TimSort: linear on the long runs that nearly ordered tracks have),
    // not TypedArray's sort (a merge sort that does not use them).
    const group = Array.from(rows.subarray(s, e)).sort(compare);
    rows.set(group, s);
  }
}
