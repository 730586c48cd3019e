/** The suggestions list: predicted effect, risk and source; evidence on click; Apply & re-run. */
import { h, kvTable } from '../dom';
import { clipText, formatBytes, formatDurationNs } from '../../trace/format';
import type { AnalysisView, SuggestionView } from '../protocol';

export interface SuggestionsContext {
  activeId: string | null;
  /** Per suggestion id: the last status line of its verification run. */
  status: Map<string, string>;
  busy: boolean;
  /** How many of a suggestion's evidence slices are present in the loaded trace. */
  evidenceFound(s: SuggestionView): number;
  onShow(s: SuggestionView): void;
  onApply(s: SuggestionView): void;
}

/** Relative change of the step time predicted by a suggestion, in percent (negative = faster). */
export function predictedChangePct(s: SuggestionView): number {
  const b = s.predicted.baselineStepTimeNs;
  return b > 0 ? (100 * (s.predicted.stepTimeNs - b)) / b : 0;
}

export function renderSuggestions(analysis: AnalysisView | null, ctx: SuggestionsContext): HTMLElement {
  if (!analysis) return h('p', { className: 'empty' }, 'The analysis has not arrived yet. The timeline works without it.');
  if (analysis.suggestions.length === 0) return h('p', { className: 'empty' }, 'No suggestions: the analysis found nothing worth changing in this run.');
  const list = h('ol', { className: 'suggestions', 'aria-label': 'Suggestions, best predicted effect first' });
  for (const sg of analysis.suggestions) {
    const pct = predictedChangePct(sg);
    const active = sg.id === ctx.activeId;
    const found = ctx.evidenceFound(sg);
    const effect = `${formatDurationNs(sg.predicted.baselineStepTimeNs)} → ${formatDurationNs(sg.predicted.stepTimeNs)} per step (${pct <= 0 ? '' : '+'}${pct.toFixed(1)} %)`;
    const rows: [string, string][] = [
      ['Predicted step time', effect],
      ['Exposed communication', formatDurationNs(sg.predicted.exposedCommNs)],
    ];
    if (sg.predicted.bytesPerStep !== undefined) rows.push(['Bytes per step', formatBytes(sg.predicted.bytesPerStep)]);
    if (sg.predicted.peakMemoryBytes !== undefined) rows.push(['Peak memory', formatBytes(sg.predicted.peakMemoryBytes)]);
    // The advisor's risk is a sentence that opens with its level ("Medium: biased
    // quantization…"): the badge shows the level, the body the sentence.
    const level = riskLevel(sg.risk);
    if (String(sg.risk).toLowerCase() !== level) rows.push(['Risk', clipText(String(sg.risk), 600)]);
    rows.push(['Source', clipText(sg.source, 200)]);
    rows.push(['Config change', clipText(JSON.stringify(sg.configChange), 300)]);
    const status = ctx.status.get(sg.id);
    list.append(h('li', { className: `suggestion${active ? ' active' : ''}`, dataset: { id: sg.id } },
      h('button', {
        className: 'suggestion-head', 'aria-pressed': active ? 'true' : 'false',
        title: 'Highlight the evidence in the timeline and zoom to it',
        onclick: () => ctx.onShow(sg),
      },
      h('span', { className: 'title' }, clipText(sg.title, 200)),
      h('span', { className: `badge kind` }, sg.kind),
      h('span', { className: `badge risk risk-${level.replace(/\s+/g, '-')}`, title: String(sg.risk) }, `risk: ${level}`),
      h('span', { className: `effect ${pct < 0 ? 'good' : 'bad'}` }, `${pct <= 0 ? '' : '+'}${pct.toFixed(1)} %`)),
      active ? h('div', { className: 'suggestion-body' },
        sg.detail ? h('p', {}, clipText(sg.detail, 1000)) : null,
        kvTable(rows),
        h('p', { className: 'muted' }, sg.evidence.sliceIndexes.length === 0 ? 'No evidence slices given.'
          : `${found} of ${sg.evidence.sliceIndexes.length} evidence slice(s) highlighted in the timeline.`),
        h('button', { className: 'primary apply', disabled: ctx.busy, onclick: () => ctx.onApply(sg) }, 'Apply & re-run'),
        status ? h('p', { className: 'status-line', role: 'status' }, status) : null,
      ) : null,
    ));
  }
  return list;
}

/** The risk level a risk text opens with (none, low, medium, high), else 'see details'. */
export function riskLevel(risk: unknown): string {
  const m = /^\s*(none|low|medium|high)\b/i.exec(String(risk ?? ''));
  return m ? m[1].toLowerCase() : 'see details';
}
