/**
 * Merging a detail window into a partially sent trace (pure). When the host sends a
 * level-of-detail subset (protocol.ts step 3) and later a window with the short slices
 * (step 5), the viewer merges the two into one columnar trace: every slice once, ordered by
 * model index so model ↔ encoded index lookups stay binary searches.
 */
import type { BinaryTrace } from '../../trace/binary';

function grow<T extends Float64Array | Uint32Array | Int32Array | Uint8Array | Uint16Array>(
  ctor: { new (n: number): T },
  n: number,
): T {
  return new ctor(n);
}

/**
 * Returns `base` with the slices of `extra` it lacks (matched by model index), flows of both
 * (deduplicated by flow id), `base`'s counters (`extra`'s with `countersFrom: 'extra'`, for a
 * level-of-detail answer, whose samples include the overview's), and a string table spanning
 * both. Where both hold a slice, `extra`'s merged count wins (it is the finer answer).
 * Both must come from the same model (same tracks) and carry `sliceSource`.
 */
export function mergeTraces(
  base: BinaryTrace,
  extra: BinaryTrace,
  o: { countersFrom?: 'base' | 'extra' } = {},
): BinaryTrace {
  const bs = base.sliceSource,
    es = extra.sliceSource;
  if (!bs || !es) throw new Error('mergeTraces: both traces must be level-of-detail subsets (with sliceSource)');
  if (base.header.tracks.length !== extra.header.tracks.length)
    throw new Error('mergeTraces: the two traces come from different models (track counts differ)');
  const nb = bs.length,
    ne = es.length;
  const stringsB = base.header.stringCount;
  // Merge two ascending index lists, skipping extra slices the base already has.
  const from: number[] = []; // >= 0: base index; < 0: -(extra index) - 1
  let i = 0,
    j = 0;
  while (i < nb || j < ne) {
    if (j >= ne || (i < nb && bs[i] < es[j])) from.push(i++);
    else if (i >= nb || es[j] < bs[i]) {
      from.push(-j - 1);
      j++;
    } else {
      from.push(i++);
      j++;
    }
  }
  const n = from.length;
  const sliceTrack = grow(Uint32Array, n),
    sliceStart = grow(Float64Array, n),
    sliceDur = grow(Float64Array, n);
  const sliceName = grow(Uint32Array, n),
    sliceArgs = grow(Int32Array, n),
    sliceCategory = grow(Uint8Array, n);
  const sliceDepth = grow(Uint16Array, n),
    sliceSource = grow(Uint32Array, n);
  const withMerged = base.sliceMerged !== undefined || extra.sliceMerged !== undefined;
  const sliceMerged = withMerged ? grow(Uint32Array, n) : undefined;
  const newOfBase = new Int32Array(nb),
    newOfExtra = new Int32Array(ne).fill(-1);
  for (let k = 0; k < n; k++) {
    const f = from[k];
    const src = f >= 0 ? base : extra,
      x = f >= 0 ? f : -f - 1,
      off = f >= 0 ? 0 : stringsB;
    if (f >= 0) newOfBase[x] = k;
    else newOfExtra[x] = k;
    sliceTrack[k] = src.sliceTrack[x];
    sliceStart[k] = src.sliceStart[x];
    sliceDur[k] = src.sliceDur[x];
    sliceName[k] = src.sliceName[x] + off;
    sliceArgs[k] = src.sliceArgs[x] < 0 ? -1 : src.sliceArgs[x] + off;
    sliceCategory[k] = src.sliceCategory[x];
    sliceDepth[k] = src.sliceDepth[x];
    sliceSource[k] = f >= 0 ? bs[x] : es[x];
    if (sliceMerged) sliceMerged[k] = src.sliceMerged?.[x] ?? 1;
  }
  // Extra slices the base already had map to the base's copy.
  for (let x = 0, y = 0; x < ne; x++) {
    if (newOfExtra[x] >= 0) continue;
    while (y < nb && bs[y] < es[x]) y++;
    newOfExtra[x] = newOfBase[y];
    if (sliceMerged) sliceMerged[newOfBase[y]] = extra.sliceMerged?.[x] ?? 1;
  }
  const ff: number[] = [],
    ft: number[] = [],
    fid: number[] = [];
  const seen = new Set<number>();
  for (let k = 0; k < base.header.flowCount; k++) {
    seen.add(base.flowId[k]);
    ff.push(newOfBase[base.flowFrom[k]]);
    ft.push(newOfBase[base.flowTo[k]]);
    fid.push(base.flowId[k]);
  }
  for (let k = 0; k < extra.header.flowCount; k++) {
    if (seen.has(extra.flowId[k])) continue;
    ff.push(newOfExtra[extra.flowFrom[k]]);
    ft.push(newOfExtra[extra.flowTo[k]]);
    fid.push(extra.flowId[k]);
  }
  const counters = o.countersFrom === 'extra' ? extra : base;
  return {
    // Outside the fetched windows the merged trace still lacks the short slices: keep base's detail.
    header: {
      ...base.header,
      sliceCount: n,
      flowCount: ff.length,
      stringCount: stringsB + extra.header.stringCount,
      counterCount: counters.header.counterCount,
    },
    sliceTrack,
    sliceStart,
    sliceDur,
    sliceName,
    sliceArgs,
    sliceCategory,
    sliceDepth,
    sliceSource,
    ...(sliceMerged ? { sliceMerged } : {}),
    counterTrack: counters.counterTrack,
    counterOffset: counters.counterOffset,
    counterTs: counters.counterTs,
    counterValue: counters.counterValue,
    flowFrom: Uint32Array.from(ff),
    flowTo: Uint32Array.from(ft),
    flowId: Float64Array.from(fid),
    string: (id: number) => (id < stringsB ? base.string(id) : extra.string(id - stringsB)),
  };
}
