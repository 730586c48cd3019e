/** The details pane of the selected slice, and the aggregate of an area selection. */
import { h, kvTable } from '../dom';
import { argValue, clipText, formatDurationNs, formatPct, formatWithUnit } from '../../trace/format';
import { SLICE_CATEGORIES } from '../../trace/binary';
import type { AreaSummary } from '../timeline/query';
import { sliceArgs } from '../timeline/query';
import type { TraceIndex } from '../timeline/traceIndex';

/** Renders the details of encoded slice `i`; `goto` navigates to a linked slice. */
export function renderDetails(
  index: TraceIndex,
  i: number,
  goto: (slice: number) => void,
  originNs = index.extentStartNs,
): HTMLElement {
  const tr = index.trace;
  if (i < 0)
    return h(
      'p',
      { className: 'empty' },
      'Click a slice to see its details. Shift-drag across tracks to aggregate an area.',
    );
  const track = index.tracks[tr.sliceTrack[i]]?.info;
  const rank = index.rankOfTrack(tr.sliceTrack[i]);
  const name = tr.string(tr.sliceName[i]);
  const dur = tr.sliceDur[i];
  const rows: [string, Node | string][] = [
    ['Name', h('span', { className: 'slice-name' }, clipText(name, 2000))],
    ['Category', SLICE_CATEGORIES[tr.sliceCategory[i]] ?? '?'],
    ['Start', formatDurationNs(tr.sliceStart[i] - originNs)],
    [
      'Duration',
      dur < 0 ? `${formatDurationNs(dur)} (negative in the source; drawn as zero-length)` : formatDurationNs(dur),
    ],
    ['Rank', rank !== undefined ? String(rank) : `pid ${track?.pid ?? '?'}`],
    ['Track', track ? (track.stream === track.name ? track.name : `${track.name} (${track.stream})`) : '?'],
    ['Depth', String(tr.sliceDepth[i])],
  ];
  const args = sliceArgs(index, i);
  const argRows: [string, string][] = Object.entries(args).map(([k, v]) => [k, argValue(k, v)]);
  const links: HTMLElement[] = [];
  for (let j = 0; j < tr.header.flowCount; j++) {
    const other = tr.flowFrom[j] === i ? tr.flowTo[j] : tr.flowTo[j] === i ? tr.flowFrom[j] : -1;
    if (other < 0) continue;
    const r = index.rankOfTrack(tr.sliceTrack[other]);
    const skew = tr.sliceStart[other] - tr.sliceStart[i];
    links.push(
      h(
        'li',
        {},
        h(
          'button',
          { className: 'link', onclick: () => goto(other) },
          `${tr.flowFrom[j] === i ? '→' : '←'} rank ${r ?? '?'}: ${clipText(tr.string(tr.sliceName[other]), 80)} (${skew >= 0 ? '+' : ''}${formatDurationNs(skew)})`,
        ),
      ),
    );
    if (links.length >= 64) break;
  }
  return h(
    'div',
    { className: 'details', dataset: { slice: String(index.modelIndex(i)) } },
    h('h3', {}, 'Slice'),
    kvTable(rows),
    argRows.length ? h('h3', {}, 'Arguments') : null,
    argRows.length ? kvTable(argRows, 'kv args') : null,
    links.length ? h('h3', {}, 'Flows (same collective on other ranks)') : null,
    links.length ? h('ul', { className: 'flows' }, ...links) : null,
  );
}

/** Renders an area selection: its window, the per-name aggregate of its slices, and its counters. */
export function renderArea(sum: AreaSummary | null, originNs = 0): HTMLElement {
  if (!sum)
    return h(
      'p',
      { className: 'empty' },
      'Shift-drag across tracks to select an area; its slices are aggregated here per name, its counters as min / max / mean.',
    );
  const top = sum.rows.slice(0, 500);
  const slices =
    sum.rows.length === 0
      ? null
      : h(
          'div',
          {},
          h('h3', {}, 'Slices by name'),
          h(
            'table',
            { className: 'grid slices' },
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ...['Name', 'Count', 'Total', 'Average', 'Share of window'].map((c) => h('th', { scope: 'col' }, c)),
              ),
            ),
            h(
              'tbody',
              {},
              ...top.map((r) =>
                h(
                  'tr',
                  {},
                  h('td', { className: 'slice-name' }, clipText(r.name, 120)),
                  h('td', { className: 'num' }, r.count.toLocaleString('en-US')),
                  h('td', { className: 'num' }, formatDurationNs(r.totalNs)),
                  h('td', { className: 'num' }, formatDurationNs(r.avgNs)),
                  h('td', { className: 'num' }, formatPct(r.sharePct)),
                ),
              ),
            ),
          ),
          sum.rows.length > top.length
            ? h('p', { className: 'muted' }, `${sum.rows.length - top.length} more names not shown.`)
            : null,
        );
  const counters =
    sum.counters.length === 0
      ? null
      : h(
          'div',
          {},
          h('h3', {}, 'Counters over the window'),
          h(
            'table',
            { className: 'grid counters' },
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ...['Counter', 'Rank', 'Min', 'Max', 'Mean (time-weighted)', 'Samples'].map((c) =>
                  h('th', { scope: 'col' }, c),
                ),
              ),
            ),
            h(
              'tbody',
              {},
              ...sum.counters.map((c) =>
                h(
                  'tr',
                  {},
                  h('td', {}, clipText(c.name, 80)),
                  h('td', { className: 'num' }, c.rank !== undefined ? String(c.rank) : '–'),
                  h('td', { className: 'num' }, formatWithUnit(c.min, c.unit)),
                  h('td', { className: 'num' }, formatWithUnit(c.max, c.unit)),
                  h('td', { className: 'num' }, formatWithUnit(c.mean, c.unit)),
                  h('td', { className: 'num' }, c.samples.toLocaleString('en-US')),
                ),
              ),
            ),
          ),
        );
  return h(
    'div',
    { className: 'area' },
    h(
      'p',
      { className: 'area-window' },
      h('strong', {}, `Duration ${formatDurationNs(sum.windowNs)}`),
      ` · from ${formatDurationNs(sum.startNs - originNs)} to ${formatDurationNs(sum.endNs - originNs)} · ${sum.slices.toLocaleString('en-US')} slices on ${sum.tracks} track${sum.tracks === 1 ? '' : 's'}.`,
    ),
    sum.mergedHeld > 0
      ? h(
          'p',
          { className: 'muted area-merged' },
          `At this zoom ${sum.mergedHeld.toLocaleString('en-US')} of these boxes each stand for several slices merged below a pixel (${sum.mergedStandFor.toLocaleString('en-US')} in all), so counts and totals are approximate: zoom in for exact figures.`,
        )
      : null,
    h('div', { className: 'side-by-side' }, slices, counters),
  );
}
