/**
 * The timeline widget: canvases (overview, axis, boxes, text, overlay), Perfetto-style
 * navigation (W/S zoom and A/D pan around the cursor, held keys animate; Ctrl/⌘-wheel zoom;
 * drag to pan; Shift-drag to select an area; click to select a slice), rank groups that
 * collapse, and a render loop that draws at most once per animation frame.
 */
import {
  GROUP_H,
  LABEL_W,
  layoutRows,
  rowAt,
  rowScreenY,
  SLICE_ROW_H,
  stickyGroup,
  toContentY,
  TRACK_PAD,
  type Layout,
} from './layout';
import { drawBoxes, drawLabels, PIN_W, type Frame, type Mark } from './draw';
import { tooltipFor } from './tooltip';
import {
  AXIS_H,
  drawAxis,
  drawOverlay,
  drawOverview,
  OVERVIEW_H,
  overviewDensity,
  sliceRect,
  type AreaSelection,
  type OverlayState,
} from './overlay';
import { readPalette, type Palette } from './theme';
import type { TraceIndex } from './traceIndex';
import { initialWindow, Viewport } from './viewport';
import { axisTicks } from './axis';

export interface TimelineEvents {
  select(slice: number): void;
  area(area: AreaSelection | null): void;
  viewChanged(): void;
  /** A short message for the status line (e.g. "no outgoing flow"). */
  status?(message: string): void;
}

export type { Mark };

/** Frame timings (ms) of recent frames, read by the benchmark. */
export const frameTimes: number[] = [];

function makeCanvas(cls: string, parent: HTMLElement): HTMLCanvasElement {
  const c = document.createElement('canvas');
  c.className = cls;
  parent.appendChild(c);
  return c;
}

export class Timeline {
  readonly vp: Viewport;
  layout: Layout;
  scrollY = 0;
  readonly collapsed = new Set<number>();
  /** Pinned tracks, in the order they were pinned. */
  pinned: number[] = [];
  /** Counter tracks shown at full height (the others are one line). */
  readonly expanded = new Set<number>();
  /** Ranks (pids) whose constant counters are unfolded (else one row: layout.ts). */
  readonly unfolded = new Set<number>();
  /** Origin of the time axis (ns, trace clock) and its name. */
  originNs: number;
  originLabel = 'trace start';
  /** Marked ranges (`m` replaces the temporary mark, Shift+M adds a lasting one). */
  marks: Mark[] = [];
  readonly overlay: OverlayState = {
    cursorX: null,
    hoverSlice: -1,
    selectedSlice: -1,
    area: null,
    dragRect: null,
    highlights: new Uint32Array(0),
    allFlows: true,
  };
  focusRow = -1;
  /** Level of detail (merging of sub-pixel slices); the benchmark turns it off to compare. */
  lod = true;
  private palette: Palette;
  private readonly root: HTMLElement;
  private readonly overview: HTMLCanvasElement;
  private readonly axis: HTMLCanvasElement;
  private readonly tracksEl: HTMLElement;
  private readonly boxes: HTMLCanvasElement;
  private readonly text: HTMLCanvasElement;
  private readonly top: HTMLCanvasElement;
  private readonly vscroll: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly tip: HTMLElement;
  private tipKey = '';
  private density: Float32Array[];
  private widthPx = 1;
  private heightPx = 1;
  private pending = 0;
  private overlayOnly = true;
  private keys = new Set<string>();
  private lastKeyTime = 0;
  private drag: { x: number; y: number; moved: boolean; area: boolean; startNs: number; startScroll: number } | null =
    null;
  private overviewDrag: { x: number; moved: boolean } | null = null;
  /** Number of complete paints so far (tests and the benchmark wait on it). */
  paints = 0;
  /** Removes every window listener and observer when the timeline is replaced. */
  private readonly life = new AbortController();
  private readonly observers: { disconnect(): void }[] = [];

  constructor(
    parent: HTMLElement,
    public index: TraceIndex,
    private readonly events: TimelineEvents,
  ) {
    this.root = document.createElement('div');
    this.root.className = 'timeline';
    parent.appendChild(this.root);
    this.overview = makeCanvas('overview', this.root);
    this.overview.setAttribute('aria-label', 'Overview of the whole run; click or drag to move the visible window');
    this.axis = makeCanvas('axis', this.root);
    this.tracksEl = document.createElement('div');
    this.tracksEl.className = 'tracks';
    this.tracksEl.tabIndex = 0;
    this.tracksEl.setAttribute('role', 'application');
    this.tracksEl.setAttribute(
      'aria-label',
      'Timeline. W/S zoom, A/D pan, arrows move between tracks, Enter collapses a rank, Escape clears the selection, F focuses the selection.',
    );
    this.root.appendChild(this.tracksEl);
    this.boxes = makeCanvas('layer boxes', this.tracksEl);
    this.text = makeCanvas('layer text', this.tracksEl);
    this.top = makeCanvas('layer overlay', this.tracksEl);
    this.vscroll = document.createElement('div');
    this.vscroll.className = 'vscroll';
    this.spacer = document.createElement('div');
    this.vscroll.appendChild(this.spacer);
    this.tracksEl.appendChild(this.vscroll);
    this.tip = document.createElement('div');
    this.tip.className = 'tooltip';
    this.tip.setAttribute('role', 'tooltip');
    this.tip.hidden = true;
    this.tracksEl.appendChild(this.tip);
    this.palette = readPalette();
    this.density = overviewDensity(index, 600);
    // Many tracks: start with the groups after the first collapsed so the panel opens fast and legible.
    if (index.tracks.length > 200) for (const g of index.groups.slice(1)) this.collapsed.add(g.pid);
    this.originNs = index.extentStartNs;
    this.layout = this.computeLayout();
    this.vp = new Viewport(index.extentStartNs, index.extentEndNs, 1);
    // Open on the steady-state steps; Fit (0) shows the warm-up too (a saved view replaces this).
    const first = initialWindow(index.extentStartNs, index.extentEndNs, index.warmup?.endNs);
    if (first) this.vp.set(first.startNs, first.endNs);
    this.bindInput();
    const ro = new ResizeObserver(() => this.resize());
    ro.observe(this.tracksEl);
    const mo = new MutationObserver(() => {
      this.palette = readPalette();
      this.invalidate();
    });
    mo.observe(document.body, { attributes: true, attributeFilter: ['class'] });
    this.observers.push(ro, mo);
    this.resize();
  }

  /**
   * Shows another index of the same trace (a level-of-detail answer, protocol step 10): the
   * window, scroll, collapsed ranks, pins and marks stay; the overview strip keeps the first
   * index's density (the whole run). Encoded slice indexes change: the caller maps the
   * selection and highlights.
   */
  setIndex(index: TraceIndex, selected: number, highlights: Uint32Array): void {
    // Which counters are constant is the whole run's answer (the first index), not a window's.
    const constant = new Map(this.index.groups.map((g) => [g.pid, g.constantCounters]));
    for (const g of index.groups) g.constantCounters = constant.get(g.pid);
    this.index = index;
    this.overlay.hoverSlice = -1;
    this.overlay.selectedSlice = selected;
    this.overlay.highlights = highlights;
    this.tipKey = '';
    this.relayout();
  }

  /** Detaches the timeline (its DOM, listeners, observers, pending frame). */
  dispose(): void {
    this.life.abort();
    for (const o of this.observers) o.disconnect();
    if (this.pending) cancelAnimationFrame(this.pending);
    this.root.remove();
  }

  private resize(): void {
    const r = this.tracksEl.getBoundingClientRect();
    this.widthPx = Math.max(LABEL_W + 50, Math.floor(r.width) - 12);
    this.heightPx = Math.max(20, Math.floor(r.height));
    const dpr = window.devicePixelRatio || 1;
    const size = (c: HTMLCanvasElement, w: number, h: number): void => {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
      c.style.width = `${w}px`;
      c.style.height = `${h}px`;
    };
    size(this.overview, this.widthPx, OVERVIEW_H);
    size(this.axis, this.widthPx, AXIS_H);
    for (const c of [this.boxes, this.text, this.top]) size(c, this.widthPx, this.heightPx);
    this.vp.resize(this.widthPx - LABEL_W);
    this.invalidate();
  }

  private computeLayout(): Layout {
    return layoutRows(this.index, this.collapsed, {
      expanded: this.expanded,
      pinned: this.pinned,
      unfolded: this.unfolded,
    });
  }

  relayout(): void {
    this.layout = this.computeLayout();
    this.spacer.style.height = `${this.layout.totalHeight}px`;
    this.setScroll(this.scrollY);
    this.invalidate();
  }

  setScroll(y: number): void {
    this.scrollY = Math.max(0, Math.min(y, this.layout.totalHeight - this.heightPx + 20));
    if (Math.abs(this.vscroll.scrollTop - this.scrollY) > 1) this.vscroll.scrollTop = this.scrollY;
    this.invalidate();
  }

  /** Schedules a full redraw (boxes, labels, overlay) on the next animation frame. */
  invalidate(): void {
    this.overlayOnly = false;
    this.schedule();
  }

  /** Schedules an overlay-only redraw. */
  invalidateOverlay(): void {
    this.schedule();
  }

  private schedule(): void {
    if (this.pending) return;
    this.pending = requestAnimationFrame((now) => this.frame(now));
  }

  private frameInput(): Frame {
    return {
      index: this.index,
      layout: this.layout,
      vp: this.vp,
      scrollY: this.scrollY,
      widthPx: this.widthPx,
      heightPx: this.heightPx,
      palette: this.palette,
      collapsed: this.collapsed,
      focusRow: this.focusRow,
      lod: this.lod,
      pinned: new Set(this.pinned),
      originNs: this.originNs,
      marks: this.marks,
    };
  }

  private frame(now: number): void {
    this.pending = 0;
    this.animateKeys(now);
    const t = performance.now();
    const f = this.frameInput();
    const ctxOf = (c: HTMLCanvasElement): CanvasRenderingContext2D => {
      const ctx = c.getContext('2d')!;
      const dpr = window.devicePixelRatio || 1;
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      return ctx;
    };
    if (!this.overlayOnly) {
      this.spacer.style.height = `${this.layout.totalHeight}px`;
      const stats = drawBoxes(ctxOf(this.boxes), f);
      drawLabels(ctxOf(this.text), f, stats.labels);
      drawOverview(ctxOf(this.overview), f, this.density, this.overlay.highlights);
      this.tracksEl.dataset.boxes = String(stats.boxes);
    }
    drawAxis(ctxOf(this.axis), f, this.overlay.cursorX, this.originLabel);
    drawOverlay(ctxOf(this.top), f, this.overlay);
    const wasFull = !this.overlayOnly;
    this.overlayOnly = true;
    if (wasFull) {
      frameTimes.push(performance.now() - t);
      if (frameTimes.length > 2000) frameTimes.splice(0, 1000);
      this.paints++;
      const d = this.tracksEl.dataset;
      d.startNs = String(this.vp.startNs);
      d.endNs = String(this.vp.endNs);
      d.paints = String(this.paints);
      d.originNs = String(this.originNs);
      d.axis = axisTicks(this.vp.startNs, this.vp.endNs, this.widthPx - LABEL_W, 90, this.originNs)
        .ticks.map((t) => t.label)
        .join('|');
      d.pinned = this.pinned.join(',');
      d.contentHeight = String(this.layout.totalHeight);
      d.marks = JSON.stringify(this.marks);
      d.stickyGroup = String(stickyGroup(this.layout, this.scrollY)?.row ?? -1);
      this.events.viewChanged();
    }
    if (this.keys.size > 0) this.invalidate();
  }

  /** Held W/A/S/D keys: zoom or pan continuously, scaled by the time since the last frame. */
  private animateKeys(now: number): void {
    if (this.keys.size === 0) {
      this.lastKeyTime = 0;
      return;
    }
    const dt = this.lastKeyTime ? Math.min(50, now - this.lastKeyTime) : 16;
    this.lastKeyTime = now;
    const anchor =
      this.overlay.cursorX !== null && this.overlay.cursorX >= LABEL_W
        ? this.overlay.cursorX - LABEL_W
        : this.vp.widthPx / 2;
    if (this.keys.has('w')) this.vp.zoom(Math.pow(1.006, dt), anchor);
    if (this.keys.has('s')) this.vp.zoom(1 / Math.pow(1.006, dt), anchor);
    if (this.keys.has('a')) this.vp.panPx(-dt * 0.8);
    if (this.keys.has('d')) this.vp.panPx(dt * 0.8);
  }

  /** Row under canvas y (the sticky rank header counts as its group's header row), or -1. */
  rowAtScreen(y: number): number {
    const sticky = stickyGroup(this.layout, this.scrollY);
    if (sticky && y >= this.layout.pinnedH && y < sticky.y + GROUP_H) return sticky.row;
    return rowAt(this.layout, toContentY(this.layout, y, this.scrollY));
  }

  /** Encoded slice under canvas point (x, y), or -1. */
  sliceAt(x: number, y: number): number {
    if (x < LABEL_W) return -1;
    const r = this.rowAtScreen(y);
    if (r < 0) return -1;
    const row = this.layout.rows[r];
    if (row.kind !== 'track') return -1;
    const depth = Math.floor((y - rowScreenY(row, this.scrollY) - TRACK_PAD) / SLICE_ROW_H);
    if (depth < 0) return -1;
    return this.index.hit(row.track, depth, this.vp.pxToTime(x - LABEL_W), 2 * this.vp.nsPerPx);
  }

  private local(e: MouseEvent): { x: number; y: number } {
    const r = this.top.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  }

  private bindInput(): void {
    const el = this.tracksEl;
    const sig = { signal: this.life.signal };
    this.vscroll.addEventListener('scroll', () => {
      if (Math.abs(this.vscroll.scrollTop - this.scrollY) > 1) {
        this.scrollY = this.vscroll.scrollTop;
        this.invalidate();
      }
    });
    el.addEventListener(
      'wheel',
      (e) => {
        e.preventDefault();
        this.hideTip();
        const { x } = this.local(e);
        if (e.ctrlKey || e.metaKey) {
          this.vp.zoom(Math.pow(1.0025, -e.deltaY * (e.deltaMode === 1 ? 30 : 1)), Math.max(0, x - LABEL_W));
        } else if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
          this.vp.panPx(e.shiftKey ? e.deltaY : e.deltaX);
        } else {
          this.setScroll(this.scrollY + e.deltaY * (e.deltaMode === 1 ? 30 : 1));
        }
        this.invalidate();
      },
      { passive: false },
    );
    el.addEventListener('mousedown', (e) => {
      if (e.button !== 0) return;
      el.focus();
      const { x, y } = this.local(e);
      this.drag = {
        x,
        y,
        moved: false,
        area: e.shiftKey && x >= LABEL_W,
        startNs: this.vp.startNs,
        startScroll: this.scrollY,
      };
      e.preventDefault();
    });
    window.addEventListener(
      'mousemove',
      (e) => {
        const { x, y } = this.local(e);
        const inside = x >= 0 && y >= 0 && x <= this.widthPx && y <= this.heightPx;
        this.overlay.cursorX = inside ? x : null;
        if (this.drag) {
          const dx = x - this.drag.x,
            dy = y - this.drag.y;
          if (Math.abs(dx) + Math.abs(dy) > 3) this.drag.moved = true;
          this.hideTip();
          if (this.drag.area) {
            this.overlay.dragRect = { x0: this.drag.x, y0: this.drag.y, x1: x, y1: y };
          } else if (this.drag.moved) {
            const d = -dx * this.vp.nsPerPx;
            this.vp.set(this.drag.startNs + d, this.drag.startNs + d + this.vp.durNs);
            this.setScroll(this.drag.startScroll - dy);
            this.invalidate();
          }
          this.invalidateOverlay();
          return;
        }
        if (inside) {
          const hover = this.sliceAt(x, y);
          if (hover !== this.overlay.hoverSlice) {
            this.overlay.hoverSlice = hover;
            el.style.cursor = hover >= 0 ? 'pointer' : '';
          }
          this.updateTip(x, y, hover);
        } else this.hideTip();
        this.invalidateOverlay();
      },
      sig,
    );
    window.addEventListener(
      'mouseup',
      (e) => {
        const d = this.drag;
        if (!d) return;
        this.drag = null;
        const { x, y } = this.local(e);
        if (d.area && d.moved) {
          this.overlay.dragRect = null;
          this.selectArea(Math.min(d.x, x), Math.max(d.x, x), Math.min(d.y, y), Math.max(d.y, y));
        } else if (!d.moved) {
          this.click(x, y);
        }
        this.invalidateOverlay();
      },
      sig,
    );
    // Overview: a click centres the window there; a drag selects the range to show (as in Perfetto).
    this.overview.addEventListener('mousedown', (e) => {
      this.overviewDrag = { x: e.clientX, moved: false };
      e.preventDefault();
    });
    window.addEventListener(
      'mousemove',
      (e) => {
        const d = this.overviewDrag;
        if (!d) return;
        if (Math.abs(e.clientX - d.x) > 3) d.moved = true;
        if (d.moved) {
          this.vp.set(this.overviewTime(Math.min(d.x, e.clientX)), this.overviewTime(Math.max(d.x, e.clientX)));
          this.invalidate();
        }
      },
      sig,
    );
    window.addEventListener(
      'mouseup',
      (e) => {
        const d = this.overviewDrag;
        if (!d) return;
        this.overviewDrag = null;
        if (!d.moved) this.centreFromOverview(e);
      },
      sig,
    );
    // W/A/S/D, 0, M and [ ] work anywhere except while typing, as in Perfetto; the rest needs focus here.
    window.addEventListener(
      'keydown',
      (e) => {
        const t = e.target as HTMLElement | null;
        const typing =
          !!t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
        if (typing) return;
        if (t === el || ['w', 'a', 's', 'd', '0', 'm', '[', ']'].includes(e.key.toLowerCase())) this.keyDown(e);
      },
      sig,
    );
    window.addEventListener(
      'keyup',
      (e) => {
        this.keys.delete(e.key.toLowerCase());
      },
      sig,
    );
    window.addEventListener('blur', () => this.keys.clear(), sig);
    el.addEventListener('mouseleave', () => {
      this.overlay.cursorX = null;
      this.overlay.hoverSlice = -1;
      this.hideTip();
      this.invalidateOverlay();
    });
  }

  /** Trace time under page x `clientX` on the overview strip. */
  private overviewTime(clientX: number): number {
    const r = this.overview.getBoundingClientRect();
    const frac = Math.max(0, Math.min(1, (clientX - r.left - LABEL_W) / (this.widthPx - LABEL_W)));
    return this.index.extentStartNs + frac * (this.index.extentEndNs - this.index.extentStartNs);
  }

  private hideTip(): void {
    if (!this.tip.hidden) {
      this.tip.hidden = true;
      this.tipKey = '';
    }
  }

  /** Hover tooltip: the slice under the pointer, or the counter values at the pointer's time. */
  private updateTip(x: number, y: number, slice: number): void {
    const r = this.rowAtScreen(y);
    const row = r >= 0 ? this.layout.rows[r] : undefined;
    const counter =
      x >= LABEL_W && row?.kind === 'track' && this.index.tracks[row.track].info.type === 'counter' ? row.track : -1;
    const t = this.vp.pxToTime(x - LABEL_W);
    const fold = row?.kind === 'fold' && !row.open ? row.folded : undefined;
    const tip = fold
      ? {
          key: `fold:${row!.group}`,
          lines: [
            `${this.index.groups[row!.group].label} · ${fold.length} counters constant over the trace (click to unfold)`,
            ...fold.map((ft) => this.index.constantText(ft)),
          ],
        }
      : slice >= 0 || counter >= 0
        ? tooltipFor(this.index, slice, counter, t, this.originNs)
        : null;
    if (!tip) {
      this.hideTip();
      return;
    }
    if (tip.key !== this.tipKey) {
      this.tipKey = tip.key;
      this.tip.replaceChildren(
        ...tip.lines.map((l, i) => {
          const div = document.createElement('div');
          div.className = i === 0 ? 'tip-title' : 'tip-line';
          div.textContent = l;
          return div;
        }),
      );
    }
    this.tip.hidden = false;
    const w = this.tip.offsetWidth,
      hgt = this.tip.offsetHeight;
    const left = x + 14 + w > this.widthPx ? x - 14 - w : x + 14;
    const top = y + 16 + hgt > this.heightPx ? Math.max(0, y - 8 - hgt) : y + 16;
    this.tip.style.transform = `translate(${Math.round(left)}px, ${Math.round(top)}px)`;
  }

  private centreFromOverview(e: MouseEvent): void {
    const t = this.overviewTime(e.clientX);
    const d = this.vp.durNs;
    this.vp.set(t - d / 2, t + d / 2);
    this.invalidate();
  }

  private click(x: number, y: number): void {
    const r = this.rowAtScreen(y);
    const row = r >= 0 ? this.layout.rows[r] : undefined;
    if (row?.kind === 'group') {
      this.toggleGroup(this.index.groups[row.group].pid);
      this.focusRow = this.layout.rows.indexOf(row);
      return;
    }
    if (row?.kind === 'fold') {
      this.hideTip();
      this.toggleFold(this.index.groups[row.group].pid);
      this.focusRow = this.layout.rows.findIndex((r) => r.kind === 'fold' && r.group === row.group);
      return;
    }
    if (row?.kind === 'track' && x < LABEL_W) {
      if (x >= LABEL_W - PIN_W) this.togglePin(row.track);
      else if (this.index.tracks[row.track].info.type === 'counter') this.toggleExpanded(row.track);
      return;
    }
    const s = this.sliceAt(x, y);
    this.select(s);
    if (this.overlay.area) {
      this.overlay.area = null;
      this.events.area(null);
    }
  }

  select(slice: number): void {
    this.overlay.selectedSlice = slice;
    this.invalidateOverlay();
    this.events.select(slice);
  }

  /** Pins track `track` to the top, or unpins it. */
  togglePin(track: number): void {
    const at = this.pinned.indexOf(track);
    if (at >= 0) this.pinned.splice(at, 1);
    else this.pinned.push(track);
    this.focusRow = -1;
    this.relayout();
    this.events.viewChanged();
  }

  /** Shows counter track `track` at full height, or back as one line. */
  toggleExpanded(track: number): void {
    if (this.expanded.has(track)) this.expanded.delete(track);
    else this.expanded.add(track);
    this.relayout();
    this.events.viewChanged();
  }

  /** Unfolds the constant counters of rank group `pid` (one row each), or folds them into one row. */
  toggleFold(pid: number): void {
    if (this.unfolded.has(pid)) this.unfolded.delete(pid);
    else this.unfolded.add(pid);
    this.relayout();
    this.events.viewChanged();
  }

  /** Sets the time origin of the axis (and of the times shown) to `ns`, named `label`. */
  setOrigin(ns: number, label: string): void {
    this.originNs = ns;
    this.originLabel = label;
    this.invalidate();
    this.events.viewChanged();
  }

  /** Marks `range`: replaces the temporary mark, or adds a lasting one; the same range again removes it. */
  mark(range: { startNs: number; endNs: number }, lasting: boolean): void {
    const same = this.marks.findIndex((m) => m.startNs === range.startNs && m.endNs === range.endNs);
    if (same >= 0) this.marks.splice(same, 1);
    else {
      if (!lasting) this.marks = this.marks.filter((m) => !m.temporary);
      this.marks.push({ startNs: range.startNs, endNs: range.endNs, temporary: !lasting });
    }
    this.invalidate();
    this.events.viewChanged();
  }

  /**
   * Follows a flow of the selected slice: `dir` 1 to the slice it flows to (`]`), -1 to the
   * slice that flows into it (`[`). Returns the new selection, or -1 when there is none.
   */
  followFlow(dir: 1 | -1): number {
    const tr = this.index.trace,
      sel = this.overlay.selectedSlice;
    if (sel < 0) {
      this.events.status?.('Select a slice first; ] and [ follow its flows.');
      return -1;
    }
    let next = -1;
    for (let j = 0; j < tr.header.flowCount && next < 0; j++) {
      if (dir === 1 && tr.flowFrom[j] === sel) next = tr.flowTo[j];
      if (dir === -1 && tr.flowTo[j] === sel) next = tr.flowFrom[j];
    }
    if (next < 0 || !this.index.tracks[tr.sliceTrack[next]]) {
      this.events.status?.(dir === 1 ? 'This slice has no outgoing flow.' : 'This slice has no incoming flow.');
      return -1;
    }
    this.select(next);
    this.bringIntoView(next);
    return next;
  }

  /** Pans (keeping the zoom) and scrolls so that encoded slice `i` is visible. */
  private bringIntoView(i: number): void {
    const tr = this.index.trace;
    const s = tr.sliceStart[i],
      e = s + Math.max(0, tr.sliceDur[i]);
    if (e - s > this.vp.durNs * 0.9) this.vp.focus(s, e, 0.1);
    else if (s < this.vp.startNs || e > this.vp.endNs) {
      const c = (s + e) / 2;
      this.vp.set(c - this.vp.durNs / 2, c + this.vp.durNs / 2);
    }
    this.scrollToTrack(tr.sliceTrack[i]);
    this.invalidate();
  }

  private scrollToTrack(track: number): void {
    const pid = this.index.tracks[track]?.info.pid;
    if (pid !== undefined && this.collapsed.has(pid) && !this.pinned.includes(track)) {
      this.collapsed.delete(pid);
      this.relayout();
    }
    const r = this.layout.rowOfTrack[track];
    if (r < 0) return;
    const row = this.layout.rows[r];
    if (row.pinned) return;
    const top = row.y - this.scrollY;
    if (top < this.layout.pinnedH + GROUP_H || top + row.height > this.heightPx)
      this.setScroll(row.y - this.layout.pinnedH - GROUP_H - 40);
  }

  toggleGroup(pid: number): void {
    if (this.collapsed.has(pid)) this.collapsed.delete(pid);
    else this.collapsed.add(pid);
    this.relayout();
    this.events.viewChanged();
  }

  private selectArea(x0: number, x1: number, y0: number, y1: number): void {
    const startNs = this.vp.pxToTime(Math.max(LABEL_W, x0) - LABEL_W),
      endNs = this.vp.pxToTime(x1 - LABEL_W);
    const tracks: number[] = [];
    for (const row of this.layout.rows) {
      const top = rowScreenY(row, this.scrollY);
      if (row.kind === 'track' && top + row.height > y0 && top < y1) tracks.push(row.track);
      if (row.kind === 'fold' && !row.open && top + row.height > y0 && top < y1) tracks.push(...(row.folded ?? []));
      if (
        row.kind === 'group' &&
        top + row.height > y0 &&
        top < y1 &&
        this.collapsed.has(this.index.groups[row.group].pid)
      )
        tracks.push(...this.index.groups[row.group].tracks);
    }
    this.setArea(tracks.length ? { startNs, endNs, tracks } : null);
  }

  setArea(area: AreaSelection | null): void {
    this.overlay.area = area;
    this.invalidateOverlay();
    this.events.area(area);
  }

  /** Zooms to encoded slices `slices` (their union) and scrolls the first into view. */
  reveal(slices: ArrayLike<number>): void {
    if (slices.length === 0) return;
    const tr = this.index.trace;
    let lo = Infinity,
      hi = -Infinity;
    for (let j = 0; j < slices.length; j++) {
      const i = slices[j];
      lo = Math.min(lo, tr.sliceStart[i]);
      hi = Math.max(hi, tr.sliceStart[i] + Math.max(0, tr.sliceDur[i]));
    }
    this.vp.focus(lo, hi, 0.15);
    this.scrollToTrack(tr.sliceTrack[slices[0]]);
    this.invalidate();
  }

  private keyDown(e: KeyboardEvent): void {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const key = e.key.toLowerCase();
    if (key === 'm') {
      const tr = this.index.trace,
        sel = this.overlay.selectedSlice;
      const range =
        sel >= 0
          ? { startNs: tr.sliceStart[sel], endNs: tr.sliceStart[sel] + Math.max(0, tr.sliceDur[sel]) }
          : this.overlay.area;
      if (range) this.mark({ startNs: range.startNs, endNs: range.endNs }, e.shiftKey);
      else this.events.status?.('Select a slice or an area first; M marks it.');
      e.preventDefault();
      return;
    }
    if (e.key === ']' || e.key === '[') {
      this.followFlow(e.key === ']' ? 1 : -1);
      e.preventDefault();
      return;
    }
    if (key === 'p') {
      const row = this.layout.rows[this.focusRow];
      if (row?.kind === 'track') {
        const t = row.track;
        this.togglePin(t);
        this.focusRow = this.layout.rowOfTrack[t];
      } else this.events.status?.('Move to a track with the arrow keys first; P pins it.');
      e.preventDefault();
      return;
    }
    if (['w', 'a', 's', 'd'].includes(key)) {
      this.keys.add(key);
      this.invalidate();
      e.preventDefault();
      return;
    }
    const rows = this.layout.rows;
    switch (e.key) {
      case 'ArrowDown':
      case 'ArrowUp': {
        this.focusRow = Math.max(0, Math.min(rows.length - 1, this.focusRow + (e.key === 'ArrowDown' ? 1 : -1)));
        const row = rows[this.focusRow];
        const top = row ? rowScreenY(row, this.scrollY) : 0;
        if (row && !row.pinned && (top < this.layout.pinnedH || top + row.height > this.heightPx))
          this.setScroll(row.y - this.layout.pinnedH - this.heightPx / 3);
        this.invalidate();
        break;
      }
      case 'ArrowLeft':
        this.vp.panPx(-this.vp.widthPx / 10);
        this.invalidate();
        break;
      case 'ArrowRight':
        this.vp.panPx(this.vp.widthPx / 10);
        this.invalidate();
        break;
      case 'Enter':
      case ' ': {
        const row = rows[this.focusRow];
        if (row?.kind === 'group') this.toggleGroup(this.index.groups[row.group].pid);
        else if (row?.kind === 'fold') this.toggleFold(this.index.groups[row.group].pid);
        else if (row?.kind === 'track' && this.index.tracks[row.track].info.type === 'counter')
          this.toggleExpanded(row.track);
        else if (row?.kind === 'track')
          this.focusRow = rows.findIndex((r) => r.kind === 'group' && r.group === row.group);
        this.invalidate();
        break;
      }
      case 'Escape':
        this.select(-1);
        this.setArea(null);
        break;
      case 'f':
      case 'F':
        if (this.overlay.selectedSlice >= 0) this.reveal([this.overlay.selectedSlice]);
        else if (this.overlay.area) this.vp.focus(this.overlay.area.startNs, this.overlay.area.endNs, 0.05);
        else this.vp.fit();
        this.invalidate();
        break;
      case '0':
        this.vp.fit();
        this.invalidate();
        break;
      default:
        return;
    }
    e.preventDefault();
  }

  /** Canvas rect of the constant-counter row of rank group `pid`, or null when it has none laid out. */
  foldRect(pid: number): { x: number; y: number; w: number; h: number } | null {
    const row = this.layout.rows.find((r) => r.kind === 'fold' && this.index.groups[r.group].pid === pid);
    return row ? { x: 0, y: rowScreenY(row, this.scrollY), w: this.widthPx, h: row.height } : null;
  }

  /** Canvas rect of track `track`'s row (label column included), or null when it is not laid out. */
  trackRect(track: number): { x: number; y: number; w: number; h: number } | null {
    const r = this.layout.rowOfTrack[track];
    if (r === undefined || r < 0) return null;
    const row = this.layout.rows[r];
    return { x: 0, y: rowScreenY(row, this.scrollY), w: this.widthPx, h: row.height };
  }

  /** Canvas rect of an encoded slice (for tests and the details pane). */
  rectOf(slice: number): { x: number; y: number; w: number; h: number } | null {
    return sliceRect(this.frameInput(), slice);
  }
}
