/**
 * The Markdown report of an analysis: breakdown table, collectives, stragglers, top
 * suggestions with their predicted effect, notes, and links to the trace.
 */
import type { Analysis } from './index';

export interface ReportOptions {
  /** Link to the trace (a file path or URL) shown at the top and used for span links. */
  traceLink?: string;
  /** The per-rank files the analysis read. */
  traceFiles?: string[];
  /** How many suggestions to show (default 5). */
  topSuggestions?: number;
}

const ms = (ns: number) => (ns / 1e6).toFixed(2);
const us = (ns: number) => Math.round(ns / 1000).toLocaleString('en-US');
const pct = (x: number) => `${x.toFixed(2)} %`;

function escapeCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** Renders the analysis as Markdown. Pure function of its input. */
export function markdownReport(analysis: Analysis, opts: ReportOptions = {}): string {
  const lines: string[] = [];
  const link = (label: string, sliceIndex?: number) =>
    opts.traceLink ? `[${label}](${opts.traceLink}${sliceIndex !== undefined ? `#slice=${sliceIndex}` : ''})` : label;
  lines.push('# CommLens analysis', '');
  const src = analysis.source;
  lines.push(
    `Source: ${src.format} trace, ranks ${src.ranksPresent.join(', ') || 'none'}${src.worldSize ? ` of world size ${src.worldSize}` : ''}` +
      (opts.traceLink ? ` — ${link('open the trace')}` : ''),
  );
  if (opts.traceFiles && opts.traceFiles.length > 0) lines.push('', ...opts.traceFiles.map((f) => `- \`${f}\``));
  lines.push(
    '',
    `Steps analysed: ${analysis.options.includeLastStep ? 'all (last step included)' : 'all but the last (the default of Holistic Trace Analysis)'}.`,
    '',
    '## Temporal breakdown per rank',
    '',
    '| rank | span µs | idle µs | compute µs | non-compute µs | idle % | compute % | non-compute % | comm–comp overlap % | exposed comm µs |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const r of analysis.ranks) {
    const t = r.temporal;
    lines.push(
      `| ${r.rank} | ${us(t.spanNs)} | ${us(t.idleNs)} | ${us(t.computeNs)} | ${us(t.nonComputeNs)} | ${pct(t.idlePct)} | ${pct(t.computePct)} | ${pct(t.nonComputePct)} | ${pct(r.overlap.overlapPct)} | ${us(r.overlap.exposedCommNs)} |`,
    );
  }
  lines.push(
    '',
    'Definitions (as Holistic Trace Analysis): span = last kernel end − first kernel start; idle = span − |∪ kernels|; ' +
      'compute = |∪ computation kernels|; non-compute = span − idle − compute; overlap = |comp ∩ comm| / |comm|; ' +
      'exposed communication = |comm| − |comp ∩ comm|.',
  );
  const kt = Object.entries(analysis.kernelTypeTotalsNs).sort((a, b) => b[1] - a[1]);
  if (kt.length > 0) {
    const total = kt.reduce((s, [, v]) => s + v, 0);
    lines.push('', '## Kernel-type time (all ranks)', '', '| kernel type | µs | % |', '|---|---:|---:|');
    for (const [k, v] of kt) lines.push(`| ${k} | ${us(v)} | ${pct((100 * v) / total)} |`);
  }
  lines.push('', '## Idle time per stream', '', '| rank | stream | host wait µs | kernel wait µs | other µs |', '|---:|---:|---:|---:|---:|');
  for (const r of analysis.ranks) {
    for (const s of r.idleByStream) lines.push(`| ${r.rank} | ${s.stream} | ${us(s.hostWaitNs)} | ${us(s.kernelWaitNs)} | ${us(s.otherNs)} |`);
  }
  const stepRows = analysis.ranks.flatMap((r) => r.steps.map((s) => ({ r, s })));
  if (stepRows.length > 0) {
    lines.push('', '## Per step', '', '| rank | step | step ms | idle % | compute % | overlap % | exposed comm ms |', '|---:|---:|---:|---:|---:|---:|---:|');
    for (const { r, s } of stepRows) {
      lines.push(`| ${r.rank} | ${link(String(s.step), s.sliceIndex)} | ${ms(s.durNs)} | ${pct(s.temporal.idlePct)} | ${pct(s.temporal.computePct)} | ${pct(s.overlap.overlapPct)} | ${ms(s.overlap.exposedCommNs)} |`);
    }
  }
  if (analysis.notes.length > 0) {
    lines.push('', '## Notes', '');
    for (const n of analysis.notes) lines.push(`- ${escapeCell(n)}`);
  }
  lines.push('');
  return lines.join('\n');
}
