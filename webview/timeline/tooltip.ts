/**
 * Hover tooltips (pure: text only, the timeline places it): a slice's name, duration, start,
 * where it ran and its first arguments; or a counter track's values at the pointer's time.
 */
import { SLICE_CATEGORIES } from '../../trace/binary';
import { argValue, clipText, formatDurationNs, formatWithUnit } from '../../trace/format';
import { offScale, scaleRangeText } from './counterScale';
import { counterValuesAt, sliceArgs } from './query';
import { counterNote } from '../../trace/runCounters';
import type { TraceIndex } from './traceIndex';

/** How many arguments a slice tooltip lists. */
export const TOOLTIP_ARGS = 4;

export interface Tooltip {
  /** Changes when the content does (the timeline re-renders only then). */
  key: string;
  /** First line is the title. */
  lines: string[];
}

/**
 * Tooltip for encoded slice `slice` when ≥ 0, else for counter track `counter` at time `t`;
 * times are shown relative to `originNs`. Null when there is nothing to say.
 */
export function tooltipFor(
  index: TraceIndex,
  slice: number,
  counter: number,
  t: number,
  originNs: number,
): Tooltip | null {
  const tr = index.trace;
  if (slice >= 0) {
    const track = index.tracks[tr.sliceTrack[slice]]?.info;
    const rank = index.rankOfTrack(tr.sliceTrack[slice]);
    const dur = tr.sliceDur[slice];
    const lines = [
      clipText(tr.string(tr.sliceName[slice]), 120),
      `${formatDurationNs(Math.max(0, dur))} · starts at ${formatDurationNs(tr.sliceStart[slice] - originNs)}`,
      `${SLICE_CATEGORIES[tr.sliceCategory[slice]] ?? '?'} · ${rank !== undefined ? `rank ${rank}` : `pid ${track?.pid ?? '?'}`} · ${track?.name ?? '?'}`,
    ];
    const merged = index.mergedCount(slice);
    if (merged > 1)
      lines.push(`the longest of ${merged.toLocaleString('en-US')} slices here below a pixel: zoom in to see them`);
    // Key arguments first: sizes, bandwidths, durations and the algorithm say most about a span.
    const rankOf = (k: string): number =>
      /bytes$/i.test(k) ? 0 : /GBps$/.test(k) ? 1 : /Ns$/.test(k) ? 2 : /^(algo|algorithm|op|kind)$/i.test(k) ? 3 : 4;
    const args = Object.entries(sliceArgs(index, slice)).sort((a, b) => rankOf(a[0]) - rankOf(b[0]));
    for (const [k, v] of args.slice(0, TOOLTIP_ARGS)) lines.push(`${k}: ${clipText(argValue(k, v), 80)}`);
    if (args.length > TOOLTIP_ARGS) lines.push(`…${args.length - TOOLTIP_ARGS} more in Details`);
    return { key: `s${slice}`, lines };
  }
  if (counter < 0) return null;
  const te = index.tracks[counter];
  const values = counterValuesAt(index, counter, t);
  const rank = index.rankOfTrack(counter);
  const title = `${rank !== undefined ? `rank ${rank} · ` : ''}${te.info.name}`;
  if (values.length === 0) return { key: `c${counter}:none`, lines: [title, 'no sample yet at this time'] };
  const lines = [
    title,
    ...values.map((v) => `${formatWithUnit(v.value, te.info.unit)}${values.length > 1 ? ` (series ${v.series})` : ''}`),
    `at ${formatDurationNs(t - originNs)}`,
  ];
  const note = counterNote(te.info.name);
  if (note) lines.push(note);
  const scale = te.scale;
  if (scale?.steadyState && values.some((v) => offScale(scale, v.value)))
    lines.push(`warm-up: beyond the steady-state scale (${scaleRangeText(scale, te.info.unit)}), drawn clipped`);
  return { key: `c${counter}:${lines.join('|')}`, lines };
}
