/**
 * The one message protocol between the extension host and the trace webview. Both
 * sides import this file (types plus tiny helpers only). Requests carry an `id`; the
 * response to a request carries the same `id` in `replyTo`.
 *
 * Message flow
 * ------------
 *  1. The host creates the panel (`renderWebviewHtml` in webview/html.ts gives its HTML;
 *     `enableScripts: true`, `localResourceRoots: [<extension>/dist/webview]`, no
 *     `retainContextWhenHidden`). Trace data is never inlined into the HTML.
 *  2. The webview loads, restores its `WebviewState` (`getState`), and posts `ready`.
 *     It posts `ready` again every time it is re-created (panel hidden then shown,
 *     window reloaded, `WebviewPanelSerializer.deserializeWebviewPanel`), so the host
 *     answers every `ready` the same way:
 *  3. host → `trace` { title, data } with `data` = `encodeTrace(model)` from trace/binary.ts,
 *     posted so the ArrayBuffer is transferred, not copied. Above `WINDOWED_ABOVE_SLICES`
 *     the extension sends the overview of its level-of-detail index instead (step 10). A
 *     host may also send `encodeTrace(model, { minDurNs })` (see `lodMinDurNs`; the harness
 *     does, for its partial-trace tests); the header's `detail` tells the webview that short
 *     slices were left out, and it asks for them with step 5.
 *  4. host → `analysis` { analysis: AnalysisView } when (or if) the analysis is ready;
 *     the webview renders the timeline without it and adds the panes when it arrives.
 *  5. webview → `requestRange` { id, startNs, endNs, minDurNs } when the user zooms into a
 *     window of a partially sent trace where left-out slices would be visible; the host
 *     answers `traceRange` { replyTo, data = encodeTrace(model, { window, minDurNs }) }
 *     (or `reply` { ok: false, message }).
 *  6. webview → `applySuggestion` { id, suggestionId } on "Apply & re-run". The host runs
 *     the verification, may post `status` messages meanwhile, then posts `comparison`
 *     (the re-run's trace and analysis; the loaded trace is the baseline) and `reply`
 *     { replyTo: id, ok } — or `reply` { ok: false, message } on failure.
 *  7. host → `comparison` may also come unprompted (the user picked two runs to compare).
 *  8. host → `error` { title, message } replaces the view with a clear error state.
 *  9. Side-by-side views share zoom: while its "Link views" toggle is on, a webview posts
 *     `viewSync` { startNs, endNs } (relative to its own time origin, e.g. the start of a
 *     step) when its window changes; the host relays it to the other open trace views as
 *     `syncView`, and those with "Link views" on show the same window from their own
 *     origin, so two runs line up at the chosen step.
 * 10. Big traces (above `WINDOWED_ABOVE_SLICES` slices) are never sent whole. The host
 *     keeps a level-of-detail index (trace/lod.ts, built in the trace worker) and step 3's
 *     `trace` carries its overview: the whole extent at about 2000 pixels, with
 *     `header.detail.lod` set. The webview then asks for what it shows:
 *     webview → `requestView` { id, startNs, endNs, nsPerPx, tracks?, keep? } (debounced
 *     while zooming and panning; the previous answer stays on screen meanwhile), and the
 *     host answers `traceView` { replyTo, data } (an encoding of the visible slices at that
 *     resolution, slices below a pixel merged into the longest of them, with their flows and
 *     counter samples; `keep` lists model slice indexes to include whatever the window: the
 *     selection, a search match, a suggestion's evidence) or `reply` { ok: false, message }.
 *     The webview holds the overview and the latest answer, never the whole trace.
 * 11. webview → `search` { id, query } for a windowed trace: the host searches the whole
 *     trace and answers `searchResult` { replyTo, total, slices, startNs, durNs, track }
 *     (model slice indexes and where they are, the first 10 000 by start).
 *
 * Counters the panes read from the trace: a counter track whose name starts with `loss`
 * is the loss curve; counter tracks whose unit is `bytes` (or whose name contains `mem`)
 * are memory series, one per rank (the track's process) and kind (the track name).
 */
import type { GroupExposureFigures, PipelineBubbleFigures } from '../trace/layoutFigures';

/** `lodMinDurNs`'s default: a subset of at most this many slices (step 3's `minDurNs` form). */
export const MAX_SLICES_WHOLE = 2_000_000;

/**
 * Above this many slices the host sends views from its level-of-detail index instead of
 * the trace (step 10); at or below it, the whole trace.
 */
export const WINDOWED_ABOVE_SLICES = 250_000;

/** One step of one rank in the temporal breakdown (nanoseconds). */
export interface StepBreakdownView {
  step: number;
  computeNs: number;
  /** Communication that ran while compute ran (hidden). */
  overlappedCommNs: number;
  /** Communication with no compute under it (on the critical path). */
  exposedCommNs: number;
  idleNs: number;
  /**
   * Σ of this rank's waits for its peers in the collectives of this step (analysis/collectives.ts
   * `waitNsByRankAndStep`: the same per-participant wait as the analysis' `waitNsByRank`).
   */
  collectiveWaitNs?: number;
  /** Start of the step on this rank (trace clock, ns), when known. */
  startNs?: number;
  durNs?: number;
}

/** Per-rank temporal breakdown (Holistic Trace Analysis definitions, see docs/references.md). */
export interface RankBreakdownView {
  rank: number;
  idleNs: number;
  computeNs: number;
  nonComputeNs: number;
  spanNs: number;
  /** 100 · |compute ∩ communication| / |communication|. */
  overlapPct: number;
  exposedCommNs: number;
  steps?: StepBreakdownView[];
}

/**
 * What a suggestion predicts, per training step, beside the run's own figures on the same
 * basis (baseline*: the steady-state figures of analysis/runFigures.ts, docs/figures.md).
 */
export interface SuggestionPredictionView {
  stepTimeNs: number;
  baselineStepTimeNs: number;
  /** Exposed communication per step after the change. */
  exposedCommNs: number;
  baselineExposedCommNs?: number;
  bytesPerStep?: number;
  baselineBytesPerStep?: number;
  peakMemoryBytes?: number;
  baselinePeakMemoryBytes?: number;
}

export interface SuggestionView {
  id: string;
  title: string;
  /** compression, overlap, sharding, ... */
  kind: string;
  predicted: SuggestionPredictionView;
  risk: 'low' | 'medium' | 'high' | string;
  /** Where the idea comes from (a paper, a PyTorch hook, a rule). */
  source: string;
  /** Model slice indexes (TraceModel.slices) that show the problem. */
  evidence: { sliceIndexes: number[] };
  /** The run-config change "Apply & re-run" would make, shown to the user. */
  configChange: Record<string, unknown>;
  /** Optional longer explanation. */
  detail?: string;
  /** How the prediction was priced beyond the measured run, one sentence each (the advisor's predicted.notes). */
  pricing?: string[];
  /** True when the change alters the training algorithm (convergence must be checked). */
  changesAlgorithm?: boolean;
  /** The same change in PyTorch terms, when the advisor gives it. */
  pytorchHint?: string;
  /** Imported PyTorch jobs: the change as COMMLENS_APPLY, when the commlens_torch helper can apply it on a re-run. */
  torchApply?: Record<string, unknown>;
}

/**
 * verify's judgement of a re-run (its comparison.json), as the Compare pane shows it: the same
 * figures and words as the toolbar, the notification and `commlens verify`.
 */
export interface VerificationView {
  /** The verdict line (extension/analysisView.ts verificationViewOf: the CLI's comparisonText and the drift clause). */
  text: string;
  /** Predicted speed-up: the prediction's baseline step / its predicted step. */
  predictedSpeedup?: number;
  /** Measured speed-up against the baseline run beside the change (the interval's estimate when it has one). */
  measuredSpeedup?: number;
  /** Half-width of the measured speed-up's confidence interval, and its confidence (0.95). */
  halfWidth?: number;
  confidence?: number;
  /** The baseline run(s) beside the change, pooled step time; absent when the baseline was not run again. */
  baselineStepNs?: number;
  /** The prediction re-made from those baseline runs' own analyses (their median). */
  repredictedSpeedup?: number;
  /**
   * The step split as the replay splits it, per rank and step (analysis/predictionReport.ts
   * componentRows): the run predicted from, the prediction, the re-run; absent when
   * comparison.json has no measured split (written before 2026-12-07).
   */
  components?: { label: string; fromNs: number; predictedNs: number; measuredNs: number }[];
  /** The component furthest from its prediction, in words (largestComponentMiss). */
  componentMiss?: string;
}

/** What the webview renders of an analysis (the host adapts analysis/ output to it). */
export interface AnalysisView {
  /** Per rank; `steps` hold the steady-state steps only (warm-up is in warmupSteps). */
  ranks: RankBreakdownView[];
  /** Config changes, best predicted step-time gain first. */
  suggestions: SuggestionView[];
  /** Findings with no config change (stragglers, imbalance, slow link, host-bound), apart from the suggestions. */
  diagnoses?: SuggestionView[];
  /** The run's step time (analysis/runFigures.ts: steady-state steps only), when known. */
  stepTimeNs?: number;
  /** How stepTimeNs was taken, in words. */
  stepTimeBasis?: string;
  /** The run's exposed communication per step (analysis/runFigures.ts, same basis as stepTimeNs). */
  exposedCommNs?: number;
  /** Steps left out as warm-up. */
  warmupSteps?: number[];
  /**
   * Exposed communication per process group, largest first (analysis.groups,
   * analysis/groupExposure.ts), as report.md shows it; absent unless some group is not the whole world.
   */
  groups?: GroupExposureFigures[];
  /** Each pipeline's bubble per stage (analysis.pipeline, analysis/pipelineBubble.ts); absent without pp groups. */
  pipeline?: PipelineBubbleFigures[];
  /** True for imported traces (PyTorch): suggestions say what to change in the job; nothing can be re-run from here. */
  imported?: boolean;
  /** An imported job CommLens ran (an external command): suggestions with `torchApply` can be applied and re-run. */
  externalRun?: boolean;
  warnings?: string[];
}

/** Messages the webview sends to the extension. */
export type WebviewToHost =
  | { type: 'ready' }
  | { type: 'applySuggestion'; id: number; suggestionId: string }
  | { type: 'requestRange'; id: number; startNs: number; endNs: number; minDurNs: number }
  /** Step 10: the slices of this window at this resolution, from the host's level-of-detail index. */
  | {
      type: 'requestView';
      id: number;
      startNs: number;
      endNs: number;
      nsPerPx: number;
      tracks?: number[];
      keep?: number[];
    }
  /** Step 11: search a windowed trace's slice names on the host. */
  | { type: 'search'; id: number; query: string }
  | { type: 'openLocation'; id: number; path: string }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string }
  /** The visible window, relative to this view's time origin, while "Link views" is on (step 9). */
  | { type: 'viewSync'; startNs: number; endNs: number; originLabel: string };

/** Messages the extension sends to the webview. */
export type HostToWebview =
  | { type: 'trace'; title: string; /** trace/binary.ts encoding, transferred */ data: ArrayBuffer }
  | { type: 'analysis'; analysis: AnalysisView }
  | { type: 'traceRange'; replyTo: number; /** trace/binary.ts encoding of a window */ data: ArrayBuffer }
  | { type: 'traceView'; replyTo: number; /** trace/lod.ts answer, trace/binary.ts encoding */ data: ArrayBuffer }
  | {
      type: 'searchResult';
      replyTo: number;
      /** Matches in the whole trace; the lists hold the first 10 000 by start. */
      total: number;
      slices: number[];
      startNs: number[];
      durNs: number[];
      track: number[];
    }
  | {
      type: 'comparison';
      /** The suggestion that was applied, when the comparison verifies one. */
      suggestionId?: string;
      /** The other run (after); the loaded trace is the baseline (before). */
      title: string;
      data: ArrayBuffer;
      analysis: AnalysisView;
      /** verify's judgement of the re-run, when it wrote one (comparison.json). */
      verification?: VerificationView;
    }
  | { type: 'status'; message: string; busy: boolean }
  | { type: 'error'; title: string; message: string }
  | { type: 'reply'; replyTo: number; ok: boolean; message?: string }
  /** Another linked view's window, relative to its origin (step 9). */
  | { type: 'syncView'; startNs: number; endNs: number; originLabel: string };

/** What the webview keeps with `setState` (restored after hide/show and by the serializer). */
export interface WebviewState {
  version: 1;
  title?: string;
  view?: { startNs: number; endNs: number; scrollY: number };
  /** Selected slice, as a model slice index. */
  selectedSlice?: number;
  area?: { startNs: number; endNs: number; tracks: number[] };
  pane?: string;
  /** Collapsed rank groups (pids). */
  collapsed?: number[];
  search?: string;
  /** Tracks pinned to the top, in order. */
  pinned?: number[];
  /** Counter tracks shown at full height. */
  expanded?: number[];
  /** Rank groups (pids) whose constant counters are unfolded. */
  unfolded?: number[];
  /** Origin of the time axis: `step:<i>` (the i-th step's start); the trace start when absent. */
  origin?: string;
  /** Marked ranges (the `m` key). */
  marks?: { startNs: number; endNs: number; temporary: boolean }[];
  /** Height of the bottom pane, CSS px. */
  panelHeight?: number;
}

/**
 * The `minDurNs` a host passes to `encodeTrace` so that at most `maxSlices` of the given
 * durations are kept: the duration of the `maxSlices`-th longest slice (0 = keep all).
 */
export function lodMinDurNs(durNs: ArrayLike<number>, maxSlices = MAX_SLICES_WHOLE): number {
  if (durNs.length <= maxSlices) return 0;
  const sorted = Float64Array.from(durNs).sort();
  return sorted[sorted.length - maxSlices];
}
