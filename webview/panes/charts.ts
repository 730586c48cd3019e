/**
 * Small SVG charts in theme colours (classes styled in main.css from `--vscode-charts-*`):
 * the per-rank, per-step breakdown as stacked bars, line charts (loss), and grouped bars.
 */
import { h, s } from '../dom';
import { formatBytes, formatDurationNs } from '../../trace/format';
import type { RankBreakdownView, StepBreakdownView } from '../protocol';
import type { MemoryRow, Series } from './series';

export const BREAKDOWN_PARTS: {
  key: 'computeNs' | 'overlappedCommNs' | 'exposedCommNs' | 'idleNs';
  label: string;
  cls: string;
}[] = [
  { key: 'computeNs', label: 'Compute', cls: 'c-compute' },
  { key: 'overlappedCommNs', label: 'Overlapped communication', cls: 'c-overlap' },
  { key: 'exposedCommNs', label: 'Exposed communication', cls: 'c-exposed' },
  { key: 'idleNs', label: 'Idle', cls: 'c-idle' },
];

export function legend(items: { label: string; cls: string }[]): HTMLElement {
  return h(
    'ul',
    { className: 'legend', 'aria-hidden': 'true' },
    ...items.map((i) => h('li', {}, h('span', { className: `swatch ${i.cls}` }), i.label)),
  );
}

/** The steps of a rank, or one pseudo-step of its totals when the analysis has no per-step data. */
export function stepsOf(r: RankBreakdownView): StepBreakdownView[] {
  if (r.steps && r.steps.length) return r.steps;
  const comm = Math.max(0, r.nonComputeNs);
  return [
    {
      step: -1,
      computeNs: r.computeNs,
      overlappedCommNs: Math.max(0, comm - r.exposedCommNs),
      exposedCommNs: r.exposedCommNs,
      idleNs: r.idleNs,
    },
  ];
}

/**
 * Stacked bars: one row of bars per rank, one bar per step, each split into compute,
 * overlapped communication, exposed communication and idle. Bars share one time scale.
 */
export function breakdownChart(ranks: RankBreakdownView[], title: string, scaleMaxNs?: number): HTMLElement {
  if (ranks.length === 0) return h('p', { className: 'empty' }, 'The analysis has no per-rank breakdown.');
  const maxNs =
    scaleMaxNs ??
    Math.max(1, ...ranks.flatMap((r) => stepsOf(r).map((st) => BREAKDOWN_PARTS.reduce((a, p) => a + st[p.key], 0))));
  const barW = 16,
    gap = 4,
    rowH = 70,
    left = 56,
    top = 8;
  const maxSteps = Math.max(...ranks.map((r) => stepsOf(r).length));
  const width = left + maxSteps * (barW + gap) + 10,
    height = top + ranks.length * rowH + 18;
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': title });
  ranks.forEach((r, ri) => {
    const y0 = top + ri * rowH,
      base = y0 + rowH - 14;
    svg.append(s('text', { x: 4, y: base - (rowH - 20) / 2, class: 'axis-label' }, `rank ${r.rank}`));
    svg.append(s('line', { x1: left - 2, x2: width - 4, y1: base + 0.5, y2: base + 0.5, class: 'axis' }));
    stepsOf(r).forEach((st, si) => {
      let y = base;
      const x = left + si * (barW + gap);
      for (const p of BREAKDOWN_PARTS) {
        const hgt = (Math.max(0, st[p.key]) / maxNs) * (rowH - 20);
        if (hgt <= 0) continue;
        y -= hgt;
        const rect = s('rect', { x, y, width: barW, height: hgt, class: p.cls });
        rect.append(
          s(
            'title',
            {},
            `rank ${r.rank}${st.step >= 0 ? `, step ${st.step}` : ''}: ${p.label} ${formatDurationNs(st[p.key])}`,
          ),
        );
        svg.append(rect);
      }
      if (st.step >= 0 && si % Math.ceil(maxSteps / 12) === 0)
        svg.append(
          s('text', { x: x + barW / 2, y: base + 11, class: 'tick', 'text-anchor': 'middle' }, String(st.step)),
        );
    });
  });
  return h(
    'figure',
    { className: 'chart' },
    h('figcaption', {}, title, ` (bar height: ${formatDurationNs(maxNs)} full scale)`),
    svg,
    legend(BREAKDOWN_PARTS),
  );
}

/** A line chart of `series` (x: step, y: value); `classes` picks each series' colour. */
export function lineChart(series: Series[], title: string, classes: string[] = ['l0', 'l1', 'l2', 'l3']): HTMLElement {
  const pts = series.flatMap((se) => se.points);
  if (pts.length === 0) return h('p', { className: 'empty' }, `${title}: no samples in this trace.`);
  const xs = pts.map((p) => p[0]),
    ys = pts.map((p) => p[1]);
  const x0 = Math.min(...xs),
    x1 = Math.max(...xs, x0 + 1),
    y0 = Math.min(...ys),
    y1 = Math.max(...ys, y0 + 1e-12);
  const W = 420,
    H = 180,
    L = 48,
    B = 22,
    T = 8,
    R = 10;
  const px = (x: number): number => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y: number): number => H - B - ((y - y0) / (y1 - y0)) * (H - B - T);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': title });
  svg.append(s('line', { x1: L, x2: W - R, y1: H - B + 0.5, y2: H - B + 0.5, class: 'axis' }));
  svg.append(s('line', { x1: L - 0.5, x2: L - 0.5, y1: T, y2: H - B, class: 'axis' }));
  for (const v of [y0, (y0 + y1) / 2, y1])
    svg.append(
      s('text', { x: L - 4, y: py(v) + 3, class: 'tick', 'text-anchor': 'end' }, String(Number(v.toPrecision(3)))),
    );
  for (const v of [x0, Math.round((x0 + x1) / 2), x1])
    svg.append(s('text', { x: px(v), y: H - 6, class: 'tick', 'text-anchor': 'middle' }, String(v)));
  series.forEach((se, i) => {
    const sorted = [...se.points].sort((a, b) => a[0] - b[0]);
    const d = sorted.map((p, k) => `${k ? 'L' : 'M'}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join('');
    const path = s('path', { d, class: `line ${classes[i % classes.length]}` });
    path.append(s('title', {}, se.label));
    svg.append(path);
  });
  return h(
    'figure',
    { className: 'chart' },
    h('figcaption', {}, title),
    svg,
    legend(series.map((se, i) => ({ label: se.label, cls: classes[i % classes.length] }))),
  );
}

/** Grouped horizontal bars: per rank, one bar per memory kind, peak bytes. */
export function memoryChart(rows: MemoryRow[], title: string): HTMLElement {
  if (rows.length === 0) return h('p', { className: 'empty' }, `${title}: the trace has no memory counters.`);
  const kinds = [...new Set(rows.map((r) => r.kind))];
  const ranks = [...new Set(rows.map((r) => r.rank))];
  const max = Math.max(...rows.map((r) => r.peakBytes), 1);
  const barH = 8,
    L = 60,
    W = 420;
  const rankH = kinds.length * (barH + 2) + 10;
  const H = ranks.length * rankH + 6;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': title });
  ranks.forEach((rank, ri) => {
    const y0 = 4 + ri * rankH;
    svg.append(s('text', { x: 4, y: y0 + rankH / 2, class: 'axis-label' }, `rank ${rank}`));
    kinds.forEach((kind, ki) => {
      const row = rows.find((r) => r.rank === rank && r.kind === kind);
      if (!row) return;
      const w = (row.peakBytes / max) * (W - L - 80);
      const rect = s('rect', {
        x: L,
        y: y0 + ki * (barH + 2),
        width: Math.max(1, w),
        height: barH,
        class: `m${ki % 6}`,
      });
      rect.append(s('title', {}, `rank ${rank} ${kind}: ${formatBytes(row.peakBytes)}`));
      svg.append(rect);
      svg.append(
        s('text', { x: L + w + 4, y: y0 + ki * (barH + 2) + barH - 1, class: 'tick' }, formatBytes(row.peakBytes)),
      );
    });
  });
  return h(
    'figure',
    { className: 'chart' },
    h('figcaption', {}, title),
    svg,
    legend(kinds.map((k, i) => ({ label: k, cls: `m${i % 6}` }))),
  );
}
