/**
 * The viewer application: toolbar (search, fit, flows), warning banner, the timeline and the
 * tabbed panes (details, area, suggestions, breakdown, loss & memory, compare). Owns the
 * view state that is saved with `setState` and restored when the webview is re-created.
 */
import { decodeTrace, type BinaryTrace } from '../trace/binary';
import { h } from './dom';
import { clipText, formatDurationNs } from '../trace/format';
import type {
  AnalysisView,
  HostToWebview,
  SuggestionView,
  VerificationView,
  WebviewState,
  WebviewToHost,
} from './protocol';
import { renderArea, renderDetails } from './panes/details';
import { breakdownChart, lineChart, memoryChart } from './panes/charts';
import { renderComparison, type RunForComparison } from './panes/compare';
import { lossSeries, memoryPeaks } from './panes/series';
import { renderSuggestions } from './panes/suggestions';
import { renderLayoutFigures } from './panes/layout';
import { renderWarnings } from './panes/warningsBanner';
import { aggregateArea, nextMatch, searchSlices } from './timeline/query';
import { Timeline } from './timeline/timeline';
import { TraceIndex } from './timeline/traceIndex';
import { mergeTraces } from './timeline/merge';
import { HeatMap } from './panes/heatmap';
import { HEATMAP_ABOVE_RANKS, heatMapData } from './panes/heatmapData';

export interface Host {
  post(msg: WebviewToHost, transfer?: Transferable[]): void;
  getState(): WebviewState | undefined;
  setState(s: WebviewState): void;
}

const PANES = [
  ['details', 'Details'],
  ['area', 'Area'],
  ['suggestions', 'Suggestions'],
  ['breakdown', 'Breakdown'],
  ['charts', 'Loss & memory'],
  ['compare', 'Compare'],
] as const;
type Pane = (typeof PANES)[number][0];

/** A view asked of the host's level-of-detail index (protocol step 10). */
interface ViewAsked {
  id: number;
  startNs: number;
  endNs: number;
  nsPerPx: number;
  /** Tracks asked for, joined ('*' = all). */
  tracksKey: string;
}

/** Search matches of a windowed trace, found by the host (protocol step 11). */
interface RemoteMatches {
  total: number;
  slices: number[];
  startNs: number[];
  durNs: number[];
  track: number[];
}

/** A view request goes out this long after the view stops moving, or every VIEW_MAX_WAIT_MS while it moves. */
const VIEW_DEBOUNCE_MS = 120;
const VIEW_MAX_WAIT_MS = 400;

/** Model slice indexes a view request may ask to include whatever its window (evidence, matches). */
const MAX_KEEP = 200;

/** Timing marks the benchmark and tests read (ms, performance.now()). */
export const perf: {
  arrival?: number;
  decoded?: number;
  indexed?: number;
  firstPaint?: number;
  /** When the first level-of-detail answer was shown (windowed traces). */
  firstView?: number;
} = {};

export class App {
  private index: TraceIndex | null = null;
  private timeline: Timeline | null = null;
  private analysis: AnalysisView | null = null;
  private title = '';
  private other: RunForComparison | null = null;
  private otherSuggestion: string | undefined;
  private pane: Pane = 'details';
  private matches: Uint32Array<ArrayBufferLike> = new Uint32Array(0);
  private matchPos = -1;
  private activeSuggestion: string | null = null;
  private suggestionStatus = new Map<string, string>();
  private busy = false;
  /** Whether the warnings banner shows every warning (else one line). */
  private warningsOpen = false;
  private nextId = 1;
  private saveTimer = 0;
  private searchTimer = 0;
  private restored: WebviewState | undefined;
  /** Detail windows already merged in (protocol step 5), and the one being fetched. */
  private fetched: { startNs: number; endNs: number; minDurNs: number }[] = [];
  private rangeRequest: { id: number; startNs: number; endNs: number; minDurNs: number } | null = null;
  private rangeTimer = 0;
  /** Windowed trace (protocol step 10): the overview the host sent first, and the views asked for and shown. */
  private overviewTrace: BinaryTrace | null = null;
  private viewAsked: ViewAsked | null = null;
  private viewShown: ViewAsked | null = null;
  private viewTimer = 0;
  /** When the view started waiting for a request (0 = not waiting). */
  private viewWaitSince = 0;
  /** Windowed search: the request in flight and the host's matches. */
  private searchAsked = -1;
  private remoteMatches: RemoteMatches | null = null;
  /** Model slices to highlight in a windowed trace (search matches or evidence), re-found in every answer. */
  private highlightModel: number[] = [];
  /** A model slice to select (and reveal) once an answer holds it. */
  private pendingSelect = -1;
  /** Whether selecting `pendingSelect` also brings it into view. */
  private pendingReveal = true;
  private revealOnArrival = false;
  /** The ranks × steps heat map (more than HEATMAP_ABOVE_RANKS ranks). */
  private heatmap: HeatMap | null = null;
  private heatmapResize = false;
  private readonly root: HTMLElement;
  private readonly status: HTMLElement;
  private readonly banner: HTMLElement;
  private readonly main: HTMLElement;
  private readonly paneBody: HTMLElement;
  private readonly tabs = new Map<Pane, HTMLButtonElement>();
  private readonly searchInput: HTMLInputElement;
  private readonly searchCount: HTMLElement;
  private readonly titleEl: HTMLElement;
  private readonly originSelect: HTMLSelectElement;
  /** "Link views": share the window with the other open trace views (protocol step 9). */
  private linkViews = false;
  private lastSync = '';
  private readonly panel: HTMLElement;
  private readonly divider: HTMLElement;

  constructor(
    root: HTMLElement,
    private readonly host: Host,
  ) {
    this.root = root;
    this.restored = host.getState();
    if (this.restored?.pane && PANES.some(([p]) => p === this.restored!.pane)) this.pane = this.restored.pane as Pane;
    root.replaceChildren();
    root.dataset.state = 'loading';
    this.titleEl = h('h1', { className: 'title' }, this.restored?.title ?? 'CommLens');
    this.searchInput = h('input', {
      type: 'search',
      placeholder: 'Search slices by name',
      'aria-label': 'Search slices by name',
      value: this.restored?.search ?? '',
      // Debounced: on a million slices a search is a few tens of ms, too much per keystroke.
      oninput: () => {
        clearTimeout(this.searchTimer);
        this.searchTimer = window.setTimeout(() => {
          this.searchTimer = 0;
          this.runSearch();
        }, 120);
      },
      onkeydown: (e: KeyboardEvent) => {
        if (e.key === 'Enter') {
          e.preventDefault();
          this.stepMatch(e.shiftKey ? -1 : 1);
        }
        if (e.key === 'Escape') {
          this.searchInput.value = '';
          this.runSearch();
        }
      },
    });
    this.searchCount = h('span', { className: 'search-count', 'aria-live': 'polite' });
    this.status = h('span', { className: 'status', role: 'status' }, 'Waiting for the trace…');
    const toolbar = h(
      'header',
      { className: 'toolbar' },
      this.titleEl,
      h(
        'div',
        { className: 'search', role: 'search' },
        this.searchInput,
        this.searchCount,
        h(
          'button',
          {
            className: 'icon',
            title: 'Previous match (Shift+Enter)',
            'aria-label': 'Previous match',
            onclick: () => this.stepMatch(-1),
          },
          '↑',
        ),
        h(
          'button',
          {
            className: 'icon',
            title: 'Next match (Enter)',
            'aria-label': 'Next match',
            onclick: () => this.stepMatch(1),
          },
          '↓',
        ),
      ),
      h(
        'button',
        {
          title: 'Show the whole run (0)',
          onclick: () => {
            this.timeline?.vp.fit();
            this.timeline?.invalidate();
          },
        },
        'Fit',
      ),
      h(
        'button',
        {
          title: 'Show all flow arrows, or only those of the selected slice',
          'aria-pressed': 'true',
          className: 'toggle flows-toggle',
          onclick: (e: Event) => this.toggleFlows(e.currentTarget as HTMLButtonElement),
        },
        'Flows',
      ),
      h(
        'button',
        {
          title:
            'Link views: other trace views with Link on show the same window, measured from their own time origin (so runs line up at the chosen step)',
          'aria-pressed': 'false',
          className: 'toggle link-toggle',
          onclick: (e: Event) => this.toggleLink(e.currentTarget as HTMLButtonElement),
        },
        'Link views',
      ),
      h(
        'label',
        { className: 'origin' },
        'Time 0 at ',
        (this.originSelect = h('select', {
          'aria-label': 'Origin of the time axis',
          autocomplete: 'off',
          onchange: () => this.applyOrigin(),
        })),
      ),
      h(
        'span',
        {
          className: 'hint',
          title:
            'W/S zoom · A/D pan · drag pan · Shift-drag select area · drag the overview to pick a range · ] / [ follow flows · M mark · P pin the focused track · click a counter name to expand it',
        },
        'W/S zoom · A/D pan · Shift-drag area · ] [ flows · M mark',
      ),
      this.status,
    );
    this.banner = h('div', { className: 'banner', role: 'alert', hidden: true });
    this.main = h('main', { className: 'main' }, h('p', { className: 'placeholder' }, 'Waiting for the trace…'));
    const tablist = h('div', { className: 'tabs', role: 'tablist', 'aria-label': 'Panes' });
    for (const [id, label] of PANES) {
      const b = h(
        'button',
        {
          role: 'tab',
          id: `tab-${id}`,
          'aria-controls': 'pane',
          onclick: () => this.showPane(id),
          onkeydown: (e: KeyboardEvent) => this.tabKey(e, id),
        },
        label,
      );
      this.tabs.set(id, b);
      tablist.append(b);
    }
    this.paneBody = h('div', { className: 'pane', id: 'pane', role: 'tabpanel', tabindex: 0 });
    this.panel = h('section', { className: 'panel' }, tablist, this.paneBody);
    this.divider = h('div', {
      className: 'divider',
      role: 'separator',
      'aria-orientation': 'horizontal',
      'aria-label': 'Resize the bottom pane (Up/Down)',
      tabindex: 0,
      title: 'Drag to resize the bottom pane',
    });
    root.append(toolbar, this.banner, this.main, this.divider, this.panel);
    this.bindDivider();
    if (this.restored?.panelHeight) this.setPanelHeight(this.restored.panelHeight);
    window.addEventListener('keydown', (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'f') {
        e.preventDefault();
        this.searchInput.focus();
        this.searchInput.select();
      }
    });
    this.showPane(this.pane);
  }

  /** Handles one message from the extension. */
  receive(msg: HostToWebview): void {
    try {
      switch (msg.type) {
        case 'trace':
          this.loadTrace(msg.title, msg.data);
          break;
        case 'analysis':
          this.analysis = msg.analysis;
          this.showHeatmap();
          this.renderPane();
          this.showWarnings();
          this.root.dataset.analysis = 'shown';
          break;
        case 'comparison':
          this.loadComparison(msg.title, msg.data, msg.analysis, msg.suggestionId, msg.verification);
          break;
        case 'status': {
          this.busy = msg.busy;
          this.status.textContent = msg.message;
          // Before the trace is there (a job read for the first time), where the timeline will be too.
          const waiting = this.main.querySelector('p.placeholder');
          if (waiting) waiting.textContent = msg.message;
          if (this.activeSuggestion) this.suggestionStatus.set(this.activeSuggestion, msg.message);
          this.renderPane();
          break;
        }
        case 'reply':
          if (!msg.ok && this.viewAsked?.id === msg.replyTo) {
            // Keep what is shown, and do not ask for this window again.
            this.viewShown = this.viewAsked;
            this.viewAsked = null;
            this.status.textContent = `No detail for this window: ${msg.message ?? 'the host declined'}`;
          } else if (!msg.ok && this.searchAsked === msg.replyTo) {
            this.searchAsked = -1;
            this.searchCount.textContent = 'search failed';
            this.status.textContent = msg.message ?? 'The search failed.';
          } else if (!msg.ok && this.rangeRequest?.id === msg.replyTo) {
            // The host cannot give detail here: remember the window so we do not ask again.
            this.fetched.push(this.rangeRequest);
            this.rangeRequest = null;
            this.status.textContent = `No detail for this window: ${msg.message ?? 'the host declined'}`;
          } else if (!msg.ok) {
            this.busy = false;
            this.status.textContent = msg.message ?? 'The request failed.';
            if (this.activeSuggestion)
              this.suggestionStatus.set(this.activeSuggestion, `Failed: ${msg.message ?? 'unknown error'}`);
            this.renderPane();
          }
          break;
        case 'error':
          this.fail(msg.title, msg.message);
          break;
        case 'traceRange':
          this.mergeRange(msg.replyTo, msg.data);
          break;
        case 'traceView':
          this.showView(msg.replyTo, msg.data);
          break;
        case 'searchResult':
          this.showRemoteMatches(msg.replyTo, msg);
          break;
        case 'syncView':
          this.applySync(msg.startNs, msg.endNs, msg.originLabel);
          break;
      }
    } catch (err) {
      this.fail('The viewer could not show this data', err instanceof Error ? err.message : String(err));
    }
  }

  private fail(title: string, message: string): void {
    this.root.dataset.state = 'error';
    this.root.removeAttribute('aria-busy');
    this.main.replaceChildren(
      h('div', { className: 'error-state', role: 'alert' }, h('h2', {}, title), h('p', {}, clipText(message, 2000))),
    );
    this.status.textContent = title;
    this.host.post({ type: 'log', level: 'error', message: `${title}: ${message}` });
  }

  private loadTrace(title: string, data: ArrayBuffer): void {
    perf.arrival = performance.now();
    const trace = decodeTrace(data);
    perf.decoded = performance.now();
    const index = new TraceIndex(trace);
    perf.indexed = performance.now();
    this.index = index;
    this.title = title;
    this.titleEl.textContent = title;
    this.titleEl.title = title;
    this.root.removeAttribute('aria-busy');
    this.main.replaceChildren();
    this.heatmap = null;
    this.matches = new Uint32Array(0);
    const h0 = trace.header;
    if (index.drawableSlices === 0 && h0.counterCount === 0) {
      this.root.dataset.state = 'empty';
      this.main.append(
        h(
          'div',
          { className: 'empty-state', role: 'status' },
          h('h2', {}, 'This trace has no spans'),
          h(
            'p',
            {},
            `${h0.processes.length} process(es), ${h0.tracks.length} track(s), ${h0.sliceCount} slice(s), no counters. Nothing to draw.`,
          ),
          h0.sliceCount > 0 ? h('p', {}, 'Every slice was unusable; see the warnings above.') : null,
        ),
      );
      this.timeline = null;
      this.showWarnings();
      this.status.textContent = 'Empty trace';
      this.renderPane();
      this.save();
      return;
    }
    this.timeline?.dispose();
    this.fetched = [];
    this.rangeRequest = null;
    this.overviewTrace = index.windowed ? trace : null;
    this.viewAsked = this.viewShown = null;
    this.remoteMatches = null;
    this.highlightModel = [];
    this.timeline = this.createTimeline(index);
    // Many ranks: every rank starts as a compact summary row; the heat map opens them.
    if (this.manyRanks(index)) {
      for (const g of index.groups) this.timeline.collapsed.add(g.pid);
      this.timeline.relayout();
    }
    this.fillOrigins(index);
    this.restoreView();
    this.root.dataset.state = 'ready';
    this.status.textContent = index.windowed
      ? `${(h0.detail?.totalSlices ?? 0).toLocaleString('en-US')} slices (shown from the host's index as you zoom) · ${index.groups.length} rank(s) · ${h0.tracks.length} tracks`
      : `${index.drawableSlices.toLocaleString('en-US')} slices · ${index.groups.length} rank(s) · ${h0.tracks.length} tracks`;
    this.showHeatmap();
    this.showWarnings();
    if (this.searchInput.value) this.runSearch(false);
    this.renderPane();
  }

  private createTimeline(index: TraceIndex): Timeline {
    return new Timeline(this.main, index, {
      select: (i) => {
        this.renderPaneIf('details', i >= 0);
        this.save();
      },
      area: (a) => {
        this.renderPaneIf('area', a !== null);
        this.save();
      },
      viewChanged: () => this.onPaint(),
      status: (m) => {
        this.status.textContent = m;
      },
    });
  }

  /**
   * For a partially sent trace: asks the host for the left-out short slices of the visible
   * window (with a margin) once they would be at least a pixel wide.
   */
  private maybeRequestRange(): void {
    const tl = this.timeline,
      d = this.index?.trace.header.detail;
    if (!tl || !d || d.minDurNs <= 0 || this.rangeRequest) return;
    const vp = tl.vp;
    if (vp.nsPerPx >= d.minDurNs) return;
    if (this.fetched.some((w) => w.startNs <= vp.startNs && w.endNs >= vp.endNs && w.minDurNs <= vp.nsPerPx)) return;
    clearTimeout(this.rangeTimer);
    this.rangeTimer = window.setTimeout(() => {
      if (this.rangeRequest || this.timeline !== tl) return;
      const dur = vp.durNs;
      const req = {
        id: this.nextId++,
        startNs: vp.startNs - dur,
        endNs: vp.endNs + dur,
        minDurNs: Math.floor(vp.nsPerPx / 4),
      };
      this.rangeRequest = req;
      this.status.textContent = 'Loading the short slices of this window…';
      this.host.post({ type: 'requestRange', ...req });
    }, 200);
  }

  private mergeRange(replyTo: number, data: ArrayBuffer): void {
    const req = this.rangeRequest,
      index = this.index,
      old = this.timeline;
    if (!req || req.id !== replyTo || !index || !old) return;
    this.rangeRequest = null;
    this.fetched.push(req);
    const merged = new TraceIndex(mergeTraces(index.trace, decodeTrace(data)));
    // Carry the view over in model indexes, which both traces share.
    const selected = old.overlay.selectedSlice >= 0 ? index.modelIndex(old.overlay.selectedSlice) : -1;
    const highlights = Array.from(old.overlay.highlights, (i) => index.modelIndex(i));
    const view = { startNs: old.vp.startNs, endNs: old.vp.endNs, scrollY: old.scrollY };
    const collapsed = [...old.collapsed],
      area = old.overlay.area,
      allFlows = old.overlay.allFlows,
      lod = old.lod;
    const pinned = [...old.pinned],
      expanded = [...old.expanded],
      unfolded = [...old.unfolded],
      marks = old.marks,
      origin = { ns: old.originNs, label: old.originLabel };
    old.dispose();
    this.index = merged;
    const tl = this.createTimeline(merged);
    this.timeline = tl;
    for (const pid of collapsed) tl.collapsed.add(pid);
    for (const t of expanded) tl.expanded.add(t);
    for (const pid of unfolded) tl.unfolded.add(pid);
    tl.pinned = pinned;
    tl.marks = marks;
    tl.originNs = origin.ns;
    tl.originLabel = origin.label;
    tl.relayout();
    tl.vp.set(view.startNs, view.endNs);
    tl.setScroll(view.scrollY);
    tl.overlay.selectedSlice = selected >= 0 ? merged.encodedIndex(selected) : -1;
    tl.overlay.area = area;
    tl.overlay.allFlows = allFlows;
    tl.lod = lod;
    if (this.searchInput.value) this.runSearch(false);
    else tl.overlay.highlights = Uint32Array.from(highlights.map((m) => merged.encodedIndex(m)).filter((i) => i >= 0));
    tl.invalidate();
    this.status.textContent = `${merged.drawableSlices.toLocaleString('en-US')} of ${merged.trace.header.detail?.totalSlices.toLocaleString('en-US') ?? '?'} slices loaded`;
  }

  /** More ranks than a screen holds: summary rows and the heat map (rule: HEATMAP_ABOVE_RANKS). */
  private manyRanks(index: TraceIndex): boolean {
    return index.groups.filter((g) => g.rank !== undefined).length > HEATMAP_ABOVE_RANKS;
  }

  /** Shows (or replaces) the ranks × steps heat map above the timeline when there are many ranks. */
  private showHeatmap(): void {
    const index = this.index;
    if (!index || !this.timeline || !this.analysis || !this.manyRanks(index)) return;
    const data = heatMapData(this.analysis);
    if (!data) return;
    const metric = this.heatmap?.shown;
    this.heatmap?.el.remove();
    this.heatmap = new HeatMap(data, {
      open: (rank, step, startNs, durNs) => this.openRank(rank, step, startNs, durNs),
    });
    this.main.prepend(this.heatmap.el);
    if (!this.heatmapResize) {
      this.heatmapResize = true;
      window.addEventListener('resize', () => this.heatmap?.draw());
      new MutationObserver(() => this.heatmap?.draw()).observe(document.body, {
        attributes: true,
        attributeFilter: ['class'],
      });
    }
    if (metric) this.heatmap.setMetric(metric);
    // The heat map sized itself to the page only once attached.
    requestAnimationFrame(() => this.heatmap?.draw());
  }

  /** Opens `rank`'s tracks and shows `step` on it (a heat map click). */
  openRank(rank: number, step?: number, startNs = NaN, durNs = NaN): void {
    const tl = this.timeline,
      index = this.index;
    if (!tl || !index) return;
    const gi = index.groups.findIndex((g) => g.rank === rank);
    if (gi < 0) return;
    tl.collapsed.delete(index.groups[gi].pid);
    tl.relayout();
    const row = tl.layout.rows.find((r) => r.kind === 'group' && r.group === gi);
    if (row) tl.setScroll(row.y - tl.layout.pinnedH);
    if (Number.isFinite(startNs) && Number.isFinite(durNs) && durNs > 0)
      tl.vp.set(startNs - durNs * 0.02, startNs + durNs * 1.02);
    tl.invalidate();
    this.status.textContent = `Rank ${rank}${step !== undefined ? `, step ${step}` : ''}: its tracks are open below.`;
    this.save();
  }

  /** Tracks of the open ranks and the pinned tracks; undefined when every rank is open. */
  private visibleTracks(tl: Timeline, index: TraceIndex): number[] | undefined {
    if (tl.collapsed.size === 0) return undefined;
    const out = new Set<number>(tl.pinned);
    for (const g of index.groups) if (!tl.collapsed.has(g.pid)) for (const t of g.tracks) out.add(t);
    return [...out].sort((a, b) => a - b);
  }

  /** Model slices every answer must hold: the selection, the slice to select next, the highlights. */
  private keepList(tl: Timeline, index: TraceIndex): number[] {
    const keep = new Set<number>();
    if (tl.overlay.selectedSlice >= 0) keep.add(index.modelIndex(tl.overlay.selectedSlice));
    if (this.pendingSelect >= 0) keep.add(this.pendingSelect);
    // Search matches are many and found by time; evidence is few and must show wherever it is.
    if (this.activeSuggestion) for (const m of this.highlightModel.slice(0, MAX_KEEP)) keep.add(m);
    return [...keep];
  }

  /**
   * Windowed trace (protocol step 10): asks the host for the visible window (with a margin of
   * half a window each side) at the view's resolution, debounced while the view moves; the
   * answer on screen stays until the next one arrives.
   */
  private maybeRequestView(): void {
    const tl = this.timeline,
      index = this.index,
      ov = this.overviewTrace?.header.detail?.lod;
    if (!tl || !index || !ov) return;
    const vp = tl.vp;
    const tracks = this.visibleTracks(tl, index);
    const tracksKey = tracks ? tracks.join(',') : '*';
    const keep = this.keepList(tl, index);
    const holdsKeep = keep.every((m) => index.encodedIndex(m) >= 0);
    const covers = (w: ViewAsked | null): boolean =>
      !!w &&
      w.startNs <= vp.startNs &&
      w.endNs >= vp.endNs &&
      w.nsPerPx <= vp.nsPerPx * 1.5 &&
      w.nsPerPx * 4 >= vp.nsPerPx &&
      (w.tracksKey === '*' || w.tracksKey === tracksKey);
    // The overview is as fine as the view (zoomed out), or every rank is a summary row.
    const overviewEnough = ov.nsPerPx <= vp.nsPerPx * 1.5 || (tracks !== undefined && tracks.length === 0);
    if (overviewEnough && holdsKeep) return;
    if ((covers(this.viewShown) && holdsKeep) || covers(this.viewAsked)) return;
    clearTimeout(this.viewTimer);
    const send = (): void => {
      this.viewWaitSince = 0;
      if (this.timeline !== tl || covers(this.viewAsked)) return;
      const dur = vp.durNs;
      const req: ViewAsked = {
        id: this.nextId++,
        startNs: vp.startNs - dur / 2,
        endNs: vp.endNs + dur / 2,
        nsPerPx: vp.nsPerPx,
        tracksKey,
      };
      this.viewAsked = req;
      this.host.post({
        type: 'requestView',
        id: req.id,
        startNs: req.startNs,
        endNs: req.endNs,
        nsPerPx: req.nsPerPx,
        ...(tracks ? { tracks } : {}),
        ...(keep.length ? { keep } : {}),
      });
    };
    // Debounced; but while the view keeps moving (a held key), ask at least every VIEW_MAX_WAIT_MS
    // when nothing is in flight, so detail follows the motion.
    const now = performance.now();
    if (!this.viewWaitSince) this.viewWaitSince = now;
    if (!this.viewAsked && now - this.viewWaitSince >= VIEW_MAX_WAIT_MS) send();
    else this.viewTimer = window.setTimeout(send, VIEW_DEBOUNCE_MS);
  }

  /** An answer of the host's index: shown over the overview (the previous answer is dropped). */
  private showView(replyTo: number, data: ArrayBuffer): void {
    const req = this.viewAsked,
      ov = this.overviewTrace;
    if (!req || req.id !== replyTo || !ov || !this.timeline || !this.index) return;
    this.viewAsked = null;
    const answer = decodeTrace(data);
    const next = new TraceIndex(mergeTraces(ov, answer, { countersFrom: 'extra' }));
    this.viewShown = req;
    this.swapIndex(next);
    const lod = answer.header.detail?.lod;
    this.status.textContent = `${next.drawableSlices.toLocaleString('en-US')} of ${(next.trace.header.detail?.totalSlices ?? 0).toLocaleString('en-US')} slices held: the overview and this window${lod && lod.bucketNs > 0 ? `, those under ${formatDurationNs(lod.bucketNs)} merged per pixel` : ' at full detail'}`;
    if (perf.firstView === undefined) perf.firstView = performance.now();
  }

  /** Puts `next` on screen, carrying the selection and highlights over by model index. */
  private swapIndex(next: TraceIndex): void {
    const tl = this.timeline!,
      old = this.index!;
    const selectedModel = tl.overlay.selectedSlice >= 0 ? old.modelIndex(tl.overlay.selectedSlice) : -1;
    const enc = (ms: Iterable<number>): Uint32Array =>
      Uint32Array.from([...ms].map((m) => next.encodedIndex(m)).filter((i) => i >= 0));
    this.index = next;
    tl.setIndex(next, selectedModel >= 0 ? next.encodedIndex(selectedModel) : -1, enc(this.highlightModel));
    if (this.pendingSelect >= 0) {
      const i = next.encodedIndex(this.pendingSelect);
      if (i >= 0) {
        this.pendingSelect = -1;
        tl.select(i);
        if (this.pendingReveal) tl.reveal([i]);
        this.pendingReveal = true;
      }
    }
    if (this.revealOnArrival && tl.overlay.highlights.length > 0) {
      this.revealOnArrival = false;
      tl.reveal(tl.overlay.highlights);
    }
    if (this.pane === 'details' || this.pane === 'area') this.renderPane();
  }

  /** The host's search matches of a windowed trace (protocol step 11). */
  private showRemoteMatches(replyTo: number, r: RemoteMatches): void {
    if (replyTo !== this.searchAsked || !this.timeline || !this.index) return;
    this.searchAsked = -1;
    this.remoteMatches = r;
    this.highlightModel = r.slices;
    this.timeline.overlay.highlights = Uint32Array.from(
      r.slices.map((m) => this.index!.encodedIndex(m)).filter((i) => i >= 0),
    );
    this.searchCount.textContent = this.searchInput.value
      ? `${r.total.toLocaleString('en-US')} match${r.total === 1 ? '' : 'es'}${r.total > r.slices.length ? ` (first ${r.slices.length.toLocaleString('en-US')} listed)` : ''}`
      : '';
    this.timeline.invalidate();
  }

  /** Goes to the windowed search match at `pos`: shows its time, opens its rank, selects it when it arrives. */
  private goToRemoteMatch(pos: number): void {
    const r = this.remoteMatches,
      tl = this.timeline,
      index = this.index;
    if (!r || !tl || !index) return;
    const m = r.slices[pos];
    const pid = index.tracks[r.track[pos]]?.info.pid;
    if (pid !== undefined && tl.collapsed.delete(pid)) tl.relayout();
    const centre = r.startNs[pos] + r.durNs[pos] / 2;
    const half = Math.max(tl.vp.durNs, r.durNs[pos] * 1.5) / 2;
    if (r.startNs[pos] < tl.vp.startNs || r.startNs[pos] + r.durNs[pos] > tl.vp.endNs)
      tl.vp.set(centre - half, centre + half);
    const i = index.encodedIndex(m);
    if (i >= 0) {
      tl.select(i);
      tl.reveal([i]);
    } else {
      this.pendingSelect = m;
      this.pendingReveal = true;
    }
    tl.invalidate();
  }

  private onPaint(): void {
    if (this.overviewTrace) this.maybeRequestView();
    else this.maybeRequestRange();
    this.postSync();
    if (perf.firstPaint === undefined && perf.arrival !== undefined) {
      // The frame's drawing is issued; the next animation frame means it was presented.
      requestAnimationFrame(() => {
        perf.firstPaint = performance.now();
        this.root.dataset.firstPaintMs = String(perf.firstPaint - perf.arrival!);
      });
    }
    this.save();
  }

  private restoreView(): void {
    const st = this.restored,
      tl = this.timeline!,
      index = this.index!;
    if (!st || st.title !== this.title) return;
    if (st.collapsed) tl.collapsed.clear();
    for (const pid of st.collapsed ?? []) tl.collapsed.add(pid);
    for (const t of st.expanded ?? []) if (index.tracks[t]?.info.type === 'counter') tl.expanded.add(t);
    for (const pid of st.unfolded ?? []) if (typeof pid === 'number') tl.unfolded.add(pid);
    tl.pinned = (st.pinned ?? []).filter((t) => index.tracks[t] !== undefined);
    if (st.origin && this.originSelect.querySelector(`option[value="${CSS.escape(st.origin)}"]`)) {
      this.originSelect.value = st.origin;
      this.applyOrigin();
    }
    if (st.marks) tl.marks = st.marks.filter((m) => Number.isFinite(m.startNs) && Number.isFinite(m.endNs));
    tl.relayout();
    if (st.view) {
      tl.vp.set(st.view.startNs, st.view.endNs);
      tl.setScroll(st.view.scrollY);
    }
    if (st.selectedSlice !== undefined) {
      const i = index.encodedIndex(st.selectedSlice);
      if (i >= 0) tl.overlay.selectedSlice = i;
      else if (index.windowed && st.selectedSlice >= 0) {
        // Not in the overview: the next answer holds it; select it there, leaving the restored view.
        this.pendingSelect = st.selectedSlice;
        this.pendingReveal = false;
      }
    }
    if (st.area) tl.overlay.area = st.area;
    tl.invalidate();
  }

  /** Saves the view state (debounced). */
  private save(): void {
    clearTimeout(this.saveTimer);
    this.saveTimer = window.setTimeout(() => {
      const tl = this.timeline;
      const st: WebviewState = {
        version: 1,
        title: this.title,
        pane: this.pane,
        search: this.searchInput.value || undefined,
      };
      if (tl && this.index) {
        st.view = { startNs: tl.vp.startNs, endNs: tl.vp.endNs, scrollY: tl.scrollY };
        if (tl.overlay.selectedSlice >= 0) st.selectedSlice = this.index.modelIndex(tl.overlay.selectedSlice);
        if (tl.overlay.area) st.area = tl.overlay.area;
        st.collapsed = [...tl.collapsed];
        if (tl.pinned.length) st.pinned = [...tl.pinned];
        if (tl.expanded.size) st.expanded = [...tl.expanded];
        if (tl.unfolded.size) st.unfolded = [...tl.unfolded];
        if (this.originSelect.value !== 'start') st.origin = this.originSelect.value;
        if (tl.marks.length) st.marks = tl.marks.map((m) => ({ ...m }));
      }
      const ph = this.panel.style.flexBasis;
      if (ph.endsWith('px')) st.panelHeight = parseFloat(ph);
      this.host.setState(st);
    }, 150);
  }

  private showWarnings(): void {
    const w = [
      ...(this.index?.trace.header.warnings ?? []),
      ...(this.index?.issues ?? []),
      ...(this.analysis?.warnings ?? []),
    ];
    const tracks = this.index?.tracks.length ?? 0;
    if (tracks > 200)
      w.push(
        `${tracks.toLocaleString('en-US')} tracks: rank groups after the first start collapsed; click a rank header (or Enter on it) to open it.`,
      );
    const render = (open: boolean): void => {
      this.warningsOpen = open;
      renderWarnings(this.banner, w, open, render);
    };
    render(this.warningsOpen);
  }

  private showPane(p: Pane): void {
    // Another pane opens at its top, not at the scroll offset of the one it replaces.
    const switched = p !== this.pane;
    this.pane = p;
    for (const [id, b] of this.tabs) {
      b.setAttribute('aria-selected', String(id === p));
      b.tabIndex = id === p ? 0 : -1;
    }
    this.paneBody.setAttribute('aria-labelledby', `tab-${p}`);
    this.renderPane();
    if (switched) this.paneBody.scrollTop = 0;
    this.save();
  }

  private tabKey(e: KeyboardEvent, id: Pane): void {
    const i = PANES.findIndex(([p]) => p === id);
    const j = e.key === 'ArrowRight' ? i + 1 : e.key === 'ArrowLeft' ? i - 1 : -99;
    if (j === -99) return;
    const next = PANES[(j + PANES.length) % PANES.length][0];
    this.showPane(next);
    this.tabs.get(next)?.focus();
    e.preventDefault();
  }

  private renderPaneIf(p: Pane, switchTo: boolean): void {
    if (switchTo) this.showPane(p);
    else if (this.pane === p) this.renderPane();
  }

  private renderPane(): void {
    const index = this.index,
      tl = this.timeline;
    let body: HTMLElement;
    if (!index) body = h('p', { className: 'empty' }, 'Waiting for the trace…');
    else
      switch (this.pane) {
        case 'details':
          body = renderDetails(
            index,
            tl?.overlay.selectedSlice ?? -1,
            (s) => {
              tl?.select(s);
              tl?.reveal([s]);
            },
            tl?.originNs,
          );
          break;
        case 'area':
          body = renderArea(
            tl?.overlay.area ? aggregateArea(index, tl.overlay.area) : null,
            tl?.originNs ?? index.extentStartNs,
          );
          break;
        case 'suggestions':
          body = renderSuggestions(this.analysis, {
            activeId: this.activeSuggestion,
            status: this.suggestionStatus,
            busy: this.busy,
            // A windowed trace fetches evidence from the host on Show: all of it counts as found.
            evidenceFound: (sg) =>
              index.windowed
                ? Math.min(sg.evidence.sliceIndexes.length, MAX_KEEP)
                : sg.evidence.sliceIndexes.filter((m) => index.encodedIndex(m) >= 0).length,
            onShow: (sg) => this.showEvidence(sg),
            onApply: (sg) => this.apply(sg),
          });
          break;
        case 'breakdown':
          body = this.analysis
            ? h(
                'div',
                {},
                breakdownChart(
                  this.analysis.ranks,
                  `Breakdown per rank and step${this.analysis.warmupSteps?.length ? ` (warm-up step${this.analysis.warmupSteps.length > 1 ? 's' : ''} ${this.analysis.warmupSteps.join(', ')} left out)` : ''}`,
                ),
                renderLayoutFigures(this.analysis),
              )
            : h('p', { className: 'empty' }, 'The analysis has not arrived yet.');
          break;
        case 'charts':
          body = h(
            'div',
            { className: 'side-by-side' },
            lineChart(lossSeries(index), 'Loss by step'),
            memoryChart(memoryPeaks(index), 'Peak memory per rank by kind'),
          );
          break;
        case 'compare':
          body = renderComparison(
            { title: this.title, index, analysis: this.analysis },
            this.other,
            this.analysis?.suggestions.find((s) => s.id === this.otherSuggestion),
          );
          break;
      }
    this.paneBody.replaceChildren(body);
  }

  private showEvidence(sg: SuggestionView): void {
    const index = this.index,
      tl = this.timeline;
    this.activeSuggestion = this.activeSuggestion === sg.id ? null : sg.id;
    if (index && tl && this.overviewTrace) {
      // Windowed: the evidence may not be in the answer on screen; the next answer holds it.
      this.highlightModel = this.activeSuggestion ? sg.evidence.sliceIndexes.slice(0, MAX_KEEP) : [];
      const enc = this.highlightModel.map((m) => index.encodedIndex(m)).filter((i) => i >= 0);
      tl.overlay.highlights = Uint32Array.from(enc);
      this.revealOnArrival = this.highlightModel.length > 0 && enc.length < this.highlightModel.length;
      if (enc.length) tl.reveal(enc);
      tl.invalidate();
    } else if (index && tl) {
      const enc = this.activeSuggestion
        ? sg.evidence.sliceIndexes.map((m) => index.encodedIndex(m)).filter((i) => i >= 0)
        : [];
      tl.overlay.highlights = Uint32Array.from(enc);
      if (enc.length) tl.reveal(enc);
      tl.invalidate();
    }
    this.renderPane();
  }

  private apply(sg: SuggestionView): void {
    this.activeSuggestion = sg.id;
    this.busy = true;
    this.suggestionStatus.set(sg.id, 'Asked the extension to apply it and re-run…');
    this.host.post({ type: 'applySuggestion', id: this.nextId++, suggestionId: sg.id });
    this.renderPane();
  }

  private loadComparison(
    title: string,
    data: ArrayBuffer,
    analysis: AnalysisView,
    suggestionId?: string,
    verification?: VerificationView,
  ): void {
    this.other = { title, index: new TraceIndex(decodeTrace(data)), analysis, verification };
    this.otherSuggestion = suggestionId;
    this.busy = false;
    if (suggestionId) this.suggestionStatus.set(suggestionId, `Re-run finished: ${title}. See Compare.`);
    this.showPane('compare');
  }

  private runSearch(jump = true): void {
    const index = this.index,
      tl = this.timeline;
    if (!index || !tl) return;
    if (this.overviewTrace) {
      // Windowed: the host searches the whole trace (protocol step 11).
      this.matchPos = -1;
      this.activeSuggestion = null;
      this.remoteMatches = null;
      this.highlightModel = [];
      tl.overlay.highlights = new Uint32Array(0);
      const query = this.searchInput.value;
      if (query.trim()) {
        this.searchAsked = this.nextId++;
        this.searchCount.textContent = 'searching…';
        this.host.post({ type: 'search', id: this.searchAsked, query });
      } else {
        this.searchAsked = -1;
        this.searchCount.textContent = '';
      }
      tl.invalidate();
      this.save();
      return;
    }
    this.matches = searchSlices(index, this.searchInput.value);
    this.matchPos = -1;
    this.activeSuggestion = null;
    tl.overlay.highlights = this.matches;
    this.searchCount.textContent = this.searchInput.value
      ? `${this.matches.length.toLocaleString('en-US')} match${this.matches.length === 1 ? '' : 'es'}`
      : '';
    tl.invalidate();
    if (jump && this.matches.length === 0) tl.select(-1);
    this.save();
  }

  private stepMatch(dir: 1 | -1): void {
    const tl = this.timeline;
    if (!tl) return;
    if (this.searchTimer) {
      clearTimeout(this.searchTimer);
      this.searchTimer = 0;
      this.runSearch(false);
    }
    if (this.overviewTrace) {
      const r = this.remoteMatches;
      if (!r) {
        if (this.searchAsked < 0) this.runSearch(false);
        return;
      }
      this.matchPos = nextMatch(r.slices.length, this.matchPos, dir);
      if (this.matchPos < 0) return;
      this.searchCount.textContent = `${this.matchPos + 1} / ${r.total.toLocaleString('en-US')}`;
      this.goToRemoteMatch(this.matchPos);
      return;
    }
    if (this.matches.length === 0) this.runSearch(false);
    this.matchPos = nextMatch(this.matches.length, this.matchPos, dir);
    if (this.matchPos < 0) return;
    const i = this.matches[this.matchPos];
    this.searchCount.textContent = `${this.matchPos + 1} / ${this.matches.length.toLocaleString('en-US')}`;
    tl.select(i);
    tl.reveal([i]);
  }

  /** Turns level of detail on or off (the benchmark compares the two). */
  setLod(on: boolean): void {
    if (!this.timeline) return;
    this.timeline.lod = on;
    this.timeline.invalidate();
  }

  /** A windowed trace's views: the one in flight and the one shown (tests and the benchmark wait on them). */
  viewStatus(): { asked: ViewAsked | null; shown: ViewAsked | null } {
    return { asked: this.viewAsked, shown: this.viewShown };
  }

  /** Page rectangle of the heat map's cell of (rank, step), or null (tests click it). */
  heatCellRect(rank: number, step: number): { x: number; y: number; w: number; h: number } | null {
    return this.heatmap?.cellRect(rank, step) ?? null;
  }

  /** Page coordinates of model slice `m` in the timeline (tests use it to click a known slice). */
  pageRectOf(m: number): { x: number; y: number; w: number; h: number } | null {
    const i = this.index?.encodedIndex(m) ?? -1;
    const r = i >= 0 ? this.timeline?.rectOf(i) : null;
    const layer = this.main.querySelector('canvas.overlay');
    if (!r || !layer) return null;
    const b = layer.getBoundingClientRect();
    return { x: b.left + r.x, y: b.top + r.y, w: r.w, h: r.h };
  }

  /** The origin choices: the trace start and the start of each step. */
  private fillOrigins(index: TraceIndex): void {
    const keep = this.originSelect.value;
    this.originSelect.replaceChildren(
      h('option', { value: 'start' }, 'trace start'),
      ...index.steps.map((st, i) =>
        h('option', { value: `step:${i}` }, `start of ${st.label}${st.warmup ? ' (warm-up)' : ''}`),
      ),
    );
    if (keep && this.originSelect.querySelector(`option[value="${CSS.escape(keep)}"]`)) this.originSelect.value = keep;
    this.applyOrigin();
  }

  private applyOrigin(): void {
    const tl = this.timeline,
      index = this.index;
    if (!tl || !index) return;
    const m = /^step:(\d+)$/.exec(this.originSelect.value);
    const st = m ? index.steps[Number(m[1])] : undefined;
    if (st) tl.setOrigin(st.startNs, `start of ${st.label}`);
    else tl.setOrigin(index.extentStartNs, 'trace start');
    this.renderPane();
  }

  /** Height of the bottom pane in px (clamped so both the timeline and the pane stay usable). */
  private setPanelHeight(px: number): void {
    const total = this.root.getBoundingClientRect().height || window.innerHeight;
    const v = Math.round(Math.max(80, Math.min(px, total - 200)));
    this.panel.style.flexBasis = `${v}px`;
    this.divider.setAttribute('aria-valuenow', String(v));
  }

  private bindDivider(): void {
    const d = this.divider;
    d.addEventListener('pointerdown', (e) => {
      const startY = e.clientY,
        startH = this.panel.getBoundingClientRect().height;
      d.setPointerCapture(e.pointerId);
      d.classList.add('dragging');
      const move = (ev: PointerEvent): void => this.setPanelHeight(startH + (startY - ev.clientY));
      const up = (): void => {
        d.removeEventListener('pointermove', move);
        d.removeEventListener('pointerup', up);
        d.classList.remove('dragging');
        this.save();
      };
      d.addEventListener('pointermove', move);
      d.addEventListener('pointerup', up);
      e.preventDefault();
    });
    d.addEventListener('keydown', (e) => {
      if (e.key !== 'ArrowUp' && e.key !== 'ArrowDown') return;
      this.setPanelHeight(this.panel.getBoundingClientRect().height + (e.key === 'ArrowUp' ? 24 : -24));
      this.save();
      e.preventDefault();
    });
  }

  /** Page coordinates of rank `pid`'s constant-counter row (tests click it to unfold). */
  pageRectOfFold(pid: number): { x: number; y: number; w: number; h: number } | null {
    const r = this.timeline?.foldRect(pid);
    const layer = this.main.querySelector('canvas.overlay');
    if (!r || !layer) return null;
    const b = layer.getBoundingClientRect();
    return { x: b.left + r.x, y: b.top + r.y, w: r.w, h: r.h };
  }

  /** Page coordinates of track `track`'s row (tests use it to hover counters and click pins). */
  pageRectOfTrack(track: number): { x: number; y: number; w: number; h: number } | null {
    const r = this.timeline?.trackRect(track);
    const layer = this.main.querySelector('canvas.overlay');
    if (!r || !layer) return null;
    const b = layer.getBoundingClientRect();
    return { x: b.left + r.x, y: b.top + r.y, w: r.w, h: r.h };
  }

  private syncKey(startNs: number, endNs: number): string {
    return `${Math.round(startNs)}:${Math.round(endNs)}`;
  }

  /** Posts the window (relative to the origin) when linked and it changed since the last one sent or applied. */
  private postSync(): void {
    const tl = this.timeline;
    if (!this.linkViews || !tl) return;
    const startNs = tl.vp.startNs - tl.originNs,
      endNs = tl.vp.endNs - tl.originNs;
    const key = this.syncKey(startNs, endNs);
    if (key === this.lastSync) return;
    this.lastSync = key;
    this.host.post({ type: 'viewSync', startNs, endNs, originLabel: tl.originLabel });
  }

  /** Shows another linked view's window from this view's own origin. */
  private applySync(startNs: number, endNs: number, originLabel: string): void {
    const tl = this.timeline;
    if (!this.linkViews || !tl || !Number.isFinite(startNs) || !Number.isFinite(endNs)) return;
    tl.vp.set(tl.originNs + startNs, tl.originNs + endNs);
    // What this view shows after clamping is not news to the others: do not echo it back.
    this.lastSync = this.syncKey(tl.vp.startNs - tl.originNs, tl.vp.endNs - tl.originNs);
    tl.invalidate();
    if (originLabel !== tl.originLabel)
      this.status.textContent = `Linked: the other view measures from ${originLabel}, this one from ${tl.originLabel}.`;
  }

  private toggleLink(b: HTMLButtonElement): void {
    this.linkViews = !this.linkViews;
    b.setAttribute('aria-pressed', String(this.linkViews));
    this.lastSync = '';
    this.postSync();
  }

  private toggleFlows(b: HTMLButtonElement): void {
    if (!this.timeline) return;
    this.timeline.overlay.allFlows = !this.timeline.overlay.allFlows;
    b.setAttribute('aria-pressed', String(this.timeline.overlay.allFlows));
    this.timeline.invalidateOverlay();
  }
}
