/**
 * The ranks × steps heat map shown above the timeline when a job has more ranks than fit a
 * screen (more than HEATMAP_ABOVE_RANKS): one row per rank, one column per steady-state step,
 * coloured by the rank's exposed communication in that step, or by its collective wait (a
 * toggle). The figures are the analysis' own (AnalysisView: analysis/rankMetrics.ts per-step
 * exposed communication, analysis/collectives.ts per-step waits), never recomputed here.
 * Hovering a cell (or moving to it with the arrow keys) reads its value out; clicking it
 * (or Enter) opens that rank's tracks at that step.
 */
import { h } from '../dom';
import { formatDurationNs } from '../../trace/format';
import { HEAT_METRICS, heatColour, type HeatMapData, type HeatMetric } from './heatmapData';
import { relativeLuminance } from '../timeline/palette';
import { parseColor } from '../timeline/theme';

const LABEL_W = 64;
const HEADER_H = 16;
const MAX_H = 220;

export interface HeatMapEvents {
  /** Open `rank`'s tracks at `step` (its start and duration on the trace clock when known). */
  open(rank: number, step: number, startNs: number, durNs: number): void;
}

export class HeatMap {
  readonly el: HTMLElement;
  private metric: HeatMetric = 'exposed';
  private readonly canvas: HTMLCanvasElement;
  private readonly scroller: HTMLElement;
  private readonly readout: HTMLElement;
  private readonly legendBar: HTMLCanvasElement;
  private readonly legendMin: HTMLElement;
  private readonly legendMax: HTMLElement;
  private readonly buttons = new Map<HeatMetric, HTMLButtonElement>();
  private focus = { r: 0, s: 0 };
  private hover: { r: number; s: number } | null = null;
  private cellW = 8;
  private cellH = 8;
  private min = 0;
  private max = 0;

  constructor(
    private readonly data: HeatMapData,
    private readonly events: HeatMapEvents,
  ) {
    const d = data;
    this.canvas = h('canvas', {
      className: 'heatmap-canvas',
      tabindex: 0,
      role: 'img',
      'aria-roledescription': 'heat map',
    });
    this.scroller = h('div', { className: 'heatmap-scroll' }, this.canvas);
    this.readout = h('span', { className: 'heatmap-readout', 'aria-live': 'polite' });
    this.legendBar = h('canvas', { className: 'heatmap-legend-bar', 'aria-hidden': 'true' });
    this.legendMin = h('span', { className: 'heatmap-legend-min' });
    this.legendMax = h('span', { className: 'heatmap-legend-max' });
    const toggles = h('div', { className: 'heatmap-metrics', role: 'group', 'aria-label': 'Colour the heat map by' });
    for (const m of HEAT_METRICS) {
      const b = h(
        'button',
        {
          className: 'toggle',
          'aria-pressed': String(m.id === this.metric),
          disabled: m.id === 'wait' && !d.hasWait,
          title:
            m.id === 'wait' && !d.hasWait
              ? 'The analysis found no collectives joined across ranks, so there are no waits to show'
              : `Colour each rank and step by its ${m.what}`,
          onclick: () => this.setMetric(m.id),
        },
        m.label,
      );
      this.buttons.set(m.id, b);
      toggles.append(b);
    }
    this.el = h(
      'section',
      {
        className: 'heatmap',
        'aria-label': `Ranks × steps heat map (${d.ranks.length} ranks, ${d.steps.length} steps)`,
      },
      h(
        'div',
        { className: 'heatmap-head' },
        h('strong', {}, `${d.ranks.length} ranks × ${d.steps.length} steps`),
        toggles,
        h('span', { className: 'heatmap-legend' }, this.legendMin, this.legendBar, this.legendMax),
        this.readout,
      ),
      this.scroller,
    );
    this.bind();
    this.setMetric('exposed');
  }

  /** The metric shown (tests and the toolbar read it). */
  get shown(): HeatMetric {
    return this.metric;
  }

  setMetric(m: HeatMetric): void {
    if (m === 'wait' && !this.data.hasWait) return;
    this.metric = m;
    for (const [id, b] of this.buttons) b.setAttribute('aria-pressed', String(id === m));
    // The scale spans the values shown (min to max), so that a rank apart from the others stands out.
    const v = this.data.values[m];
    let min = Infinity,
      max = -Infinity;
    for (const x of v)
      if (Number.isFinite(x)) {
        if (x < min) min = x;
        if (x > max) max = x;
      }
    if (!Number.isFinite(min)) min = max = 0;
    this.min = min;
    this.max = max;
    this.legendMin.textContent = formatDurationNs(min);
    this.legendMax.textContent = formatDurationNs(max);
    const label = HEAT_METRICS.find((x) => x.id === m)!;
    this.canvas.setAttribute(
      'aria-label',
      `${label.label} per rank (rows) and step (columns), from ${formatDurationNs(min)} to ${formatDurationNs(max)}. Arrow keys move between cells, Enter opens the rank.`,
    );
    this.el.dataset.metric = m;
    if (this.hover) this.readout.textContent = this.describe(this.hover);
    this.draw();
  }

  /** Redraws (after a resize or a theme change). */
  draw(): void {
    const d = this.data;
    const avail = Math.max(200, (this.el.clientWidth || this.el.parentElement?.clientWidth || 800) - LABEL_W - 24);
    this.cellW = Math.max(3, Math.min(40, Math.floor(avail / Math.max(1, d.steps.length))));
    this.cellH = Math.max(4, Math.min(16, Math.floor(180 / d.ranks.length)));
    const w = LABEL_W + d.steps.length * this.cellW + 4,
      hgt = HEADER_H + d.ranks.length * this.cellH + 2;
    this.scroller.style.maxHeight = `${MAX_H}px`;
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(hgt * dpr);
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${hgt}px`;
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const cs = getComputedStyle(this.el);
    const fg = cs.color || '#ccc';
    const dark = isDark(
      cs.getPropertyValue('--vscode-editor-background') || getComputedStyle(document.body).backgroundColor,
    );
    ctx.clearRect(0, 0, w, hgt);
    ctx.font = `11px ${cs.fontFamily || 'sans-serif'}`;
    ctx.fillStyle = fg;
    ctx.textBaseline = 'middle';
    // Step labels: as many as fit, every k-th.
    const every = Math.max(1, Math.ceil(36 / this.cellW));
    ctx.textAlign = 'center';
    d.steps.forEach((s, i) => {
      if (i % every === 0) ctx.fillText(String(s), LABEL_W + (i + 0.5) * this.cellW, HEADER_H / 2);
    });
    ctx.textAlign = 'right';
    const rEvery = Math.max(1, Math.ceil(11 / this.cellH));
    const v = this.data.values[this.metric];
    const gap = this.cellW > 5 && this.cellH > 5 ? 1 : 0;
    d.ranks.forEach((rank, ri) => {
      const y = HEADER_H + ri * this.cellH;
      if (ri % rEvery === 0) {
        ctx.fillStyle = fg;
        ctx.fillText(`rank ${rank}`, LABEL_W - 6, y + this.cellH / 2);
      }
      for (let si = 0; si < d.steps.length; si++) {
        const x = v[ri * d.steps.length + si];
        const cx = LABEL_W + si * this.cellW;
        if (!Number.isFinite(x)) {
          // No such step on this rank: an outline, not a colour.
          ctx.strokeStyle = fg;
          ctx.globalAlpha = 0.4;
          ctx.strokeRect(cx + 0.5, y + 0.5, this.cellW - gap - 1, this.cellH - gap - 1);
          ctx.globalAlpha = 1;
          continue;
        }
        const [r, g, b] = heatColour(this.max > this.min ? (x - this.min) / (this.max - this.min) : 0.5, dark);
        ctx.fillStyle = `rgb(${r},${g},${b})`;
        ctx.fillRect(cx, y, this.cellW - gap, this.cellH - gap);
      }
    });
    // The focused cell (keyboard) and the hovered one get an outline in the text colour.
    for (const c of [this.hover, document.activeElement === this.canvas ? this.focus : null]) {
      if (!c) continue;
      ctx.strokeStyle = fg;
      ctx.lineWidth = 2;
      ctx.strokeRect(LABEL_W + c.s * this.cellW + 1, HEADER_H + c.r * this.cellH + 1, this.cellW - 2, this.cellH - 2);
      ctx.lineWidth = 1;
    }
    this.drawLegend(dark);
  }

  private drawLegend(dark: boolean): void {
    const w = 120,
      hh = 10,
      dpr = window.devicePixelRatio || 1;
    this.legendBar.width = Math.round(w * dpr);
    this.legendBar.height = Math.round(hh * dpr);
    this.legendBar.style.width = `${w}px`;
    this.legendBar.style.height = `${hh}px`;
    const ctx = this.legendBar.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    for (let x = 0; x < w; x++) {
      const [r, g, b] = heatColour(x / (w - 1), dark);
      ctx.fillStyle = `rgb(${r},${g},${b})`;
      ctx.fillRect(x, 0, 1, hh);
    }
  }

  /** The cell under canvas point (x, y), or null. */
  cellAt(x: number, y: number): { r: number; s: number } | null {
    const s = Math.floor((x - LABEL_W) / this.cellW),
      r = Math.floor((y - HEADER_H) / this.cellH);
    if (x < LABEL_W || y < HEADER_H || s < 0 || r < 0 || s >= this.data.steps.length || r >= this.data.ranks.length)
      return null;
    return { r, s };
  }

  /** Page-independent rectangle of a cell within the canvas (tests click it). */
  cellRect(rank: number, step: number): { x: number; y: number; w: number; h: number } | null {
    const r = this.data.ranks.indexOf(rank),
      s = this.data.steps.indexOf(step);
    if (r < 0 || s < 0) return null;
    const b = this.canvas.getBoundingClientRect();
    return {
      x: b.left + LABEL_W + s * this.cellW,
      y: b.top + HEADER_H + r * this.cellH,
      w: this.cellW,
      h: this.cellH,
    };
  }

  /** What a cell says, in words. */
  describe(c: { r: number; s: number }): string {
    const d = this.data;
    const k = c.r * d.steps.length + c.s;
    const v = d.values[this.metric][k];
    const what = HEAT_METRICS.find((x) => x.id === this.metric)!.what;
    const other: HeatMetric = this.metric === 'exposed' ? 'wait' : 'exposed';
    const ov = d.values[other][k];
    const otherWhat = HEAT_METRICS.find((x) => x.id === other)!.what;
    if (!Number.isFinite(v)) return `rank ${d.ranks[c.r]} · step ${d.steps[c.s]}: no such step on this rank`;
    return `rank ${d.ranks[c.r]} · step ${d.steps[c.s]}: ${what} ${formatDurationNs(v)}${Number.isFinite(ov) ? ` (${otherWhat} ${formatDurationNs(ov)})` : ''}`;
  }

  private open(c: { r: number; s: number }): void {
    const d = this.data;
    const k = c.r * d.steps.length + c.s;
    this.events.open(d.ranks[c.r], d.steps[c.s], d.startNs[k], d.durNs[k]);
  }

  private bind(): void {
    const local = (e: MouseEvent): { x: number; y: number } => {
      const b = this.canvas.getBoundingClientRect();
      return { x: e.clientX - b.left, y: e.clientY - b.top };
    };
    this.canvas.addEventListener('mousemove', (e) => {
      const p = local(e);
      const c = this.cellAt(p.x, p.y);
      if (c?.r === this.hover?.r && c?.s === this.hover?.s) return;
      this.hover = c;
      this.readout.textContent = c ? this.describe(c) : '';
      this.canvas.style.cursor = c ? 'pointer' : '';
      this.draw();
    });
    this.canvas.addEventListener('mouseleave', () => {
      this.hover = null;
      this.draw();
    });
    this.canvas.addEventListener('click', (e) => {
      const p = local(e);
      const c = this.cellAt(p.x, p.y);
      if (!c) return;
      this.focus = c;
      this.open(c);
    });
    this.canvas.addEventListener('focus', () => {
      this.readout.textContent = this.describe(this.focus);
      this.draw();
    });
    this.canvas.addEventListener('blur', () => this.draw());
    this.canvas.addEventListener('keydown', (e) => {
      const d = this.data;
      const f = { ...this.focus };
      if (e.key === 'ArrowLeft') f.s = Math.max(0, f.s - 1);
      else if (e.key === 'ArrowRight') f.s = Math.min(d.steps.length - 1, f.s + 1);
      else if (e.key === 'ArrowUp') f.r = Math.max(0, f.r - 1);
      else if (e.key === 'ArrowDown') f.r = Math.min(d.ranks.length - 1, f.r + 1);
      else if (e.key === 'Enter' || e.key === ' ') {
        this.open(this.focus);
        e.preventDefault();
        return;
      } else return;
      e.preventDefault();
      this.focus = f;
      this.readout.textContent = this.describe(f);
      // Keep the focused row in view inside the scrolled box.
      const y = HEADER_H + f.r * this.cellH;
      if (y < this.scroller.scrollTop) this.scroller.scrollTop = y - HEADER_H;
      else if (y + this.cellH > this.scroller.scrollTop + this.scroller.clientHeight)
        this.scroller.scrollTop = y + this.cellH - this.scroller.clientHeight;
      this.draw();
    });
  }
}

/** True when a CSS colour is dark (relative luminance below 0.2). */
function isDark(css: string): boolean {
  const [r, g, b] = parseColor(css.trim() || '#1e1e1e');
  return relativeLuminance([r, g, b]) < 0.2;
}
