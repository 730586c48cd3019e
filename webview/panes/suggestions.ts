/** The suggestions list: predicted effect, risk and source; evidence on click; Apply & re-run. */
import { h, kvTable } from '../dom';
import { clipText, formatDurationNs, formatSignedPct } from '../../trace/format';
import type { AnalysisView, SuggestionView } from '../protocol';
import { predictedChangePct, predictionRows } from './predictionRows';

export { predictedChangePct, predictionRows };

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

export function renderSuggestions(analysis: AnalysisView | null, ctx: SuggestionsContext): HTMLElement {
  if (!analysis)
    return h('p', { className: 'empty' }, 'The analysis has not arrived yet. The timeline works without it.');
  const diagnoses = analysis.diagnoses ?? [];
  const basis =
    analysis.stepTimeNs !== undefined
      ? h(
          'p',
          { className: 'muted' },
          `Step time ${formatDurationNs(analysis.stepTimeNs)} (${analysis.stepTimeBasis ?? 'steady state'})${analysis.warmupSteps?.length ? `; warm-up step${analysis.warmupSteps.length > 1 ? 's' : ''} ${analysis.warmupSteps.join(', ')} left out` : ''}. Suggestions are ranked by predicted step-time gain; a change to the training algorithm (marked “changes convergence”) is discounted for its risk, so it ranks below an exact change of similar gain.`,
        )
      : null;
  const list = h('ol', { className: 'suggestions', 'aria-label': 'Suggestions, best predicted effect first' });
  for (const sg of analysis.suggestions) list.append(renderItem(sg, analysis, ctx, true));
  const parts: (HTMLElement | null)[] = [basis];
  parts.push(
    analysis.suggestions.length === 0
      ? h(
          'p',
          { className: 'empty' },
          'No suggestions: no change is predicted to gain at least 3 % of the step (or 15 % and 64 MiB of memory).',
        )
      : list,
  );
  if (diagnoses.length > 0) {
    const dl = h('ul', { className: 'suggestions diagnoses', 'aria-label': 'Diagnoses (no config change)' });
    for (const d of diagnoses) dl.append(renderItem(d, analysis, ctx, false));
    parts.push(
      h('h3', {}, 'Diagnoses'),
      h('p', { className: 'muted' }, 'Findings with no config change to re-run: what to look at.'),
      dl,
    );
  }
  return h('div', { className: 'suggestions-pane' }, ...parts.filter((x): x is HTMLElement => x !== null));
}

function renderItem(
  sg: SuggestionView,
  analysis: AnalysisView,
  ctx: SuggestionsContext,
  isChange: boolean,
): HTMLElement {
  const pct = predictedChangePct(sg);
  const active = sg.id === ctx.activeId;
  const found = ctx.evidenceFound(sg);
  const rows = predictionRows(sg);
  // The advisor's risk is a sentence that opens with its level ("Medium: biased
  // quantization…"): the badge shows the level, the body the sentence.
  const level = riskLevel(sg.risk);
  if (sg.changesAlgorithm)
    rows.push(['Convergence', 'Changes the training algorithm: compare loss curves before adopting it']);
  if (String(sg.risk).toLowerCase() !== level) rows.push(['Risk', clipText(String(sg.risk), 600)]);
  rows.push(['Source', clipText(sg.source, 200)]);
  const imported = analysis.imported === true;
  if (isChange)
    rows.push([
      imported ? 'Change to make in PyTorch' : 'Config change',
      clipText(imported && sg.pytorchHint ? sg.pytorchHint : JSON.stringify(sg.configChange), 300),
    ]);
  const status = ctx.status.get(sg.id);
  // A CommLens run can be re-run from here, and an external PyTorch run when commlens_torch can apply the
  // change (COMMLENS_APPLY); any other imported trace gets the change to make instead.
  const rerunsJob = imported && analysis.externalRun === true && sg.torchApply !== undefined;
  if (isChange && rerunsJob)
    rows.push(['Re-run with', clipText(`COMMLENS_APPLY=${JSON.stringify(sg.torchApply)}`, 300)]);
  const canApply = isChange && Object.keys(sg.configChange).length > 0 && (!imported || rerunsJob);
  return h(
    'li',
    { className: `suggestion${active ? ' active' : ''}${isChange ? '' : ' diagnosis'}`, dataset: { id: sg.id } },
    h(
      'button',
      {
        className: 'suggestion-head',
        'aria-pressed': active ? 'true' : 'false',
        title: 'Highlight the evidence in the timeline and zoom to it',
        onclick: () => ctx.onShow(sg),
      },
      h('span', { className: 'title' }, clipText(sg.title, 200)),
      h('span', { className: `badge kind` }, sg.kind),
      sg.changesAlgorithm
        ? h(
            'span',
            { className: 'badge risk risk-medium', title: 'Changes the training algorithm' },
            'changes convergence',
          )
        : null,
      h(
        'span',
        { className: `badge risk risk-${level.replace(/\s+/g, '-')}`, title: String(sg.risk) },
        `risk: ${level}`,
      ),
      isChange ? h('span', { className: `effect ${pct < 0 ? 'good' : 'bad'}` }, formatSignedPct(pct)) : null,
    ),
    active
      ? h(
          'div',
          { className: 'suggestion-body' },
          sg.detail ? h('p', {}, clipText(sg.detail, 1000)) : null,
          kvTable(rows),
          sg.pricing && sg.pricing.length > 0
            ? h(
                'div',
                { className: 'pricing' },
                h('p', { className: 'muted' }, 'How the prediction was priced:'),
                h('ul', {}, ...sg.pricing.map((n) => h('li', {}, clipText(n, 600)))),
              )
            : null,
          h(
            'p',
            { className: 'muted' },
            sg.evidence.sliceIndexes.length === 0
              ? 'No evidence slices given.'
              : `${found} of ${sg.evidence.sliceIndexes.length} evidence slice(s) highlighted in the timeline.`,
          ),
          canApply
            ? h(
                'button',
                { className: 'primary apply', disabled: ctx.busy, onclick: () => ctx.onApply(sg) },
                'Apply & re-run',
              )
            : null,
          isChange && imported
            ? h(
                'p',
                { className: 'muted' },
                rerunsJob
                  ? "Apply & re-run launches the job's command again (you confirm it first) with COMMLENS_APPLY set: commlens_torch makes the change in the script, and the re-run is compared with this one."
                  : analysis.externalRun
                    ? 'commlens_torch cannot make this change on a re-run: make it in the training job and profile it again.'
                    : 'An imported trace cannot be re-run from here: make the change above in the training job and profile it again.',
              )
            : null,
          status ? h('p', { className: 'status-line', role: 'status' }, status) : null,
        )
      : null,
  );
}

/** The risk level a risk text opens with (none, low, medium, high), else 'see details'. */
export function riskLevel(risk: unknown): string {
  const m = /^\s*(none|low|medium|high)\b/i.exec(String(risk ?? ''));
  return m ? m[1].toLowerCase() : 'see details';
}
