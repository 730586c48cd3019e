/**
 * The layout's figures under the breakdown: exposed communication per process group and each
 * pipeline's bubble per stage, when the run has them. The rows come from trace/layoutFigures.ts,
 * the functions report.md prints them with, so both surfaces read the same.
 */
import { h } from '../dom';
import { formatDurationNs } from '../../trace/format';
import {
  GROUP_EXPOSURE_HEADER,
  PIPELINE_STAGE_HEADER,
  groupExposureRows,
  pipelineStageRows,
  pipelineTheoryText,
  pipelineTitle,
} from '../../trace/layoutFigures';
import type { AnalysisView } from '../protocol';

/** A grid table: the first `textCols` columns left-aligned, the rest numeric; `extra` adds a last cell per row. */
function grid(
  header: readonly string[],
  rows: string[][],
  textCols: number[],
  label: string,
  extra?: { title: string; cell: (i: number) => HTMLElement },
): HTMLTableElement {
  return h(
    'table',
    { className: 'grid layout', 'aria-label': label },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ...header.map((c) => h('th', { scope: 'col' }, c)),
        extra ? h('th', { scope: 'col' }, extra.title) : null,
      ),
    ),
    h(
      'tbody',
      {},
      ...rows.map((r, i) =>
        h(
          'tr',
          {},
          ...r.map((c, k) => h('td', { className: textCols.includes(k) ? '' : 'num' }, c)),
          extra ? h('td', {}, extra.cell(i)) : null,
        ),
      ),
    ),
  );
}

/** The group tables and pipeline tables of `view`, or undefined when it has neither. */
export function renderLayoutFigures(view: AnalysisView): HTMLElement | undefined {
  const groups = view.groups ?? [];
  const pipelines = view.pipeline ?? [];
  if (groups.length === 0 && pipelines.length === 0) return undefined;
  const out = h('div', { className: 'layout-figures' });
  if (groups.length > 0) {
    const widest = Math.max(1, ...groups.map((g) => g.commNs));
    out.append(
      h('h3', {}, 'Exposed communication per process group'),
      h(
        'p',
        { className: 'muted' },
        "Per steady-state step: each group's communication with no computation under it, the mean over the group's ranks. Groups communicating at the same time both count that time.",
      ),
      grid(
        GROUP_EXPOSURE_HEADER,
        groupExposureRows(groups, view.stepTimeNs),
        [0],
        'Exposed communication per process group',
        {
          title: 'exposed | hidden',
          cell: (i) => {
            const g = groups[i];
            const hidden = Math.max(0, g.commNs - g.exposedCommNs);
            const bar = (ns: number, cls: string, what: string): HTMLElement => {
              const el = h('span', {
                className: `bar ${cls}`,
                title: `${g.group}: ${what} ${formatDurationNs(ns)} per step`,
              });
              // Through the CSSOM: the page's CSP allows no inline style attributes.
              el.style.width = `${((100 * ns) / widest).toFixed(2)}%`;
              return el;
            };
            return h(
              'div',
              {
                className: 'group-bar',
                role: 'img',
                'aria-label': `${g.group}: exposed ${formatDurationNs(g.exposedCommNs)}, hidden ${formatDurationNs(hidden)} per step`,
              },
              bar(g.exposedCommNs, 'c-exposed', 'exposed'),
              bar(hidden, 'c-overlap', 'hidden under compute'),
            );
          },
        },
      ),
    );
  }
  for (const p of pipelines) {
    const theory = pipelineTheoryText(p);
    out.append(
      h('h3', {}, `Pipeline bubble: ${pipelineTitle(p)}`),
      h(
        'p',
        { className: 'muted' },
        `Per stage, the time its compute stream is idle inside the pipeline's flush-to-flush window of each steady step${theory ? `; ${theory}` : ''}.`,
      ),
      grid(PIPELINE_STAGE_HEADER, pipelineStageRows(p), [4], `Pipeline bubble of ${p.group}`),
    );
  }
  return out;
}
