/** The warnings banner's DOM (the grouping is warnings.ts, free of the DOM). */
import { h } from '../dom';
import { groupWarnings, warningText } from './warnings';

/**
 * Fills `banner` with `list`: a toggle (`▸ 3 warnings`) and the warnings on one line when
 * `open` is false, one per line when true. Hidden when there is none.
 */
export function renderWarnings(
  banner: HTMLElement,
  list: readonly string[],
  open: boolean,
  onToggle: (open: boolean) => void,
): void {
  const groups = groupWarnings(list);
  banner.hidden = groups.length === 0;
  const n = groups.length;
  banner.classList.toggle('open', open);
  banner.dataset.warnings = String(n);
  banner.replaceChildren(
    h(
      'button',
      {
        className: 'banner-toggle',
        'aria-expanded': String(open),
        title: open ? 'Show the warnings on one line' : 'Show every warning in full',
        onclick: () => onToggle(!open),
      },
      `${open ? '▾' : '▸'} ${n} warning${n === 1 ? '' : 's'}`,
    ),
    h('span', { className: 'warnings' }, ...groups.map((g) => h('span', { className: 'warning' }, warningText(g)))),
  );
}
