/**
 * "Compare Runs…": a side-by-side table of two or more runs' headline figures, built from
 * what each run folder holds, then per collective each run against the first
 * (analysis/compare.ts). Pure: the command shows the text as a Markdown preview and
 * opens the traces beside it.
 */
import { humanName, humanValue, isHidden } from './reportFormat';
import { type RunInfo } from './runsStore';
import { formatBytes, formatDurationNs, formatSpeedup } from '../trace/format';
import { speedupOf } from '../analysis/runFigures';
import { figuresOfSummary, type RunRecord as SummaryRecord, type SummaryFigures } from '../analysis/verify';
import { collectiveTableMarkdown, comparableAnalysis, compareJobs, CompareError } from '../analysis/compare';

/** A run's figures (docs/figures.md) from its summary.json (CommLens runs, and external runs once imported). */
function figuresOf(summary: Record<string, unknown> | undefined): SummaryFigures | undefined {
  if (!summary || !Array.isArray(summary.stepTimeNs)) return undefined;
  try {
    return figuresOfSummary(summary as unknown as SummaryRecord);
  } catch {
    return undefined;
  }
}

/**
 * True when a run measured the figure: its analysis has it, or the runtime's own numbers do.
 * An external run without memory counters has no peak memory: '–', not a made-up 0 B.
 */
function has(summary: Record<string, unknown> | undefined, figure: string, runtimeField: string): boolean {
  const v = at(summary, `analysis.figures.${figure}`);
  const own = summary?.[runtimeField];
  return typeof v === 'number' || (Array.isArray(own) && own.length > 0);
}

function cell(v: unknown): string {
  if (v === undefined || v === null) return '–';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toPrecision(4);
  return String(v).replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function at(obj: Record<string, unknown> | undefined, p: string): unknown {
  let cur: unknown = obj;
  for (const k of p.split('.'))
    cur = typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[k] : undefined;
  return cur;
}

/** Numeric fields of a summary, flattened to dotted paths (one level of nesting). */
function numericFields(summary: Record<string, unknown> | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of Object.entries(summary ?? {})) {
    if (typeof v === 'number' && Number.isFinite(v)) out.set(k, v);
    else if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      for (const [k2, v2] of Object.entries(v))
        if (typeof v2 === 'number' && Number.isFinite(v2)) out.set(`${k}.${k2}`, v2);
    }
  }
  return out;
}

/**
 * A Markdown comparison: the fixed rows (status, step time, link, strategy, world size,
 * top suggestion), then every numeric summary field the runs share, with the ratio of
 * each run to the first for step time. Fields are shown under human names (reportFormat.ts).
 */
export function compareMarkdown(runs: RunInfo[]): string {
  if (runs.length < 2) throw new Error('compare needs at least two runs');
  const head = `| | ${runs.map((r) => cell(r.runId)).join(' | ')} |\n|---|${runs.map(() => '---').join('|')}|\n`;
  const row = (name: string, values: unknown[]) => `| ${name} | ${values.map(cell).join(' | ')} |\n`;
  const base = runs[0].stepTimeNs;
  let md = `# CommLens: ${runs.length} runs compared\n\n${head}`;
  md += row(
    'status',
    runs.map((r) => r.status),
  );
  // The run's step time (analysis/runFigures.ts): steady-state steps only, the figure every surface shows.
  md += row(
    'step time (steady state)',
    runs.map((r) => formatDurationNs(r.stepTimeNs)),
  );
  md += row(
    `speed vs ${cell(runs[0].runId)}`,
    runs.map((r, i) =>
      i === 0 ? 'baseline' : base && r.stepTimeNs ? formatSpeedup(speedupOf(base, r.stepTimeNs)) : undefined,
    ),
  );
  // The other figures on the same basis (analysis.figures of each run).
  const figs = runs.map((r) => figuresOf(r.summary));
  md += row(
    'exposed communication per step',
    figs.map((f) => (f?.exposedCommNs !== undefined ? formatDurationNs(f.exposedCommNs) : undefined)),
  );
  md += row(
    'bytes per rank per step',
    figs.map((f) => (f?.bytesPerStep !== undefined ? formatBytes(f.bytesPerStep) : undefined)),
  );
  md += row(
    'peak memory (fullest rank)',
    figs.map((f, i) =>
      f && has(runs[i].summary, 'peakMemoryBytes', 'memoryPerRank') ? formatBytes(f.peakMemoryBytes) : undefined,
    ),
  );
  md += row(
    'warm-up steps (left out)',
    figs.map((f) => (f ? f.warmupSteps.join(', ') || 'none' : undefined)),
  );
  md += row(
    'link',
    runs.map((r) => r.link),
  );
  md += row(
    'strategy',
    runs.map((r) => at(r.summary, 'strategy') ?? at(r.summary, 'config.strategy')),
  );
  md += row(
    'world size',
    runs.map((r) => at(r.summary, 'worldSize') ?? at(r.summary, 'config.worldSize') ?? r.record?.worldSize),
  );
  md += row(
    'top suggestion',
    runs.map((r) => r.topSuggestion),
  );
  const fields = runs.map((r) => numericFields(r.summary));
  // medianStepTimeNs is the step time above; per-step arrays and the analysis are not headline figures.
  const shared = [...fields[0].keys()].filter(
    (k) =>
      fields.every((f) => f.has(k)) &&
      k !== 'stepTimeNs' &&
      k !== 'medianStepTimeNs' &&
      k !== 'steadyStepTimeNs' &&
      k !== 'worldSize' &&
      !k.startsWith('analysis.') &&
      !isHidden(k),
  );
  // Internal field names get human names and their values units (ms, MiB, %).
  for (const k of shared.sort((a, b) => humanName(a).localeCompare(humanName(b))))
    md += row(
      humanName(k),
      fields.map((f) => humanValue(k, f.get(k)!)),
    );
  md += collectiveSections(runs);
  md += `\n${runs.map((r) => `- ${r.runId}: \`${r.runDir}\``).join('\n')}\n`;
  return md;
}

/**
 * Per collective, each run against the first: analysis/compare.ts (what `commlens compare`
 * prints) over the analyses the runs' summaries hold. A run without one is named.
 */
function collectiveSections(runs: RunInfo[]): string {
  const base = runs[0];
  const baseAnalysis = comparableAnalysis(base.summary?.analysis);
  let md = '';
  for (const r of runs.slice(1)) {
    md += `\n## Collectives: ${cell(r.runId)} against ${cell(base.runId)}\n\n`;
    const a = comparableAnalysis(r.summary?.analysis);
    const missing = [...(baseAnalysis ? [] : [base.runId]), ...(a ? [] : [r.runId])];
    if (missing.length > 0 || !baseAnalysis || !a) {
      md += `No analysis in the summary.json of ${missing.map(cell).join(' and ')}: nothing to compare per collective (a run that failed before its traces were analysed has none).\n`;
      continue;
    }
    try {
      md += collectiveTableMarkdown(
        compareJobs({ label: base.runId, analysis: baseAnalysis }, { label: r.runId, analysis: a }),
      );
    } catch (e) {
      if (!(e instanceof CompareError)) throw e;
      md += `Not compared: ${cell(e.message)}.\n`;
    }
  }
  return md;
}
