/**
 * The Markdown report of an analysis: breakdown table, collectives, stragglers, top
 * suggestions with their predicted effect, notes, and links to the trace.
 */
import type { Analysis } from './types';
import { formatBytes, formatDurationNs, groupDigits } from '../trace/format';
import type { Suggestion } from './advisor/advisor';
import { WORTHWHILE } from './advisor/advisor';

export interface ReportOptions {
  /** Link to the trace (a file path or URL) shown at the top and used for span links. */
  traceLink?: string;
  /** The per-rank files the analysis read. */
  traceFiles?: string[];
  /** How many suggestions to show (default 5). */
  topSuggestions?: number;
}

const ms = (ns: number) => (ns / 1e6).toFixed(2);
const us = (ns: number) => groupDigits(Math.round(ns / 1000));
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
  if (src.cpuTimelineRanks) {
    lines.push(
      '',
      `**No GPU activity in the trace${src.cpuTimelineRanks.length < src.ranksPresent.length ? ` of rank(s) ${src.cpuTimelineRanks.join(', ')}` : ''}:** the tables below are on the CPU timeline — CPU collectives (gloo, c10d) are the communication, outermost \`aten::\` ops the computation, and "kernel" means those ops. GPU kernel metrics need a trace recorded with \`ProfilerActivity.CUDA\`.`,
    );
  }
  const f = analysis.figures;
  if (f) {
    lines.push('', '## Run figures (steady state)', '');
    if (f.warmupSteps.length > 0) {
      const wu = f.stepTimesNs.filter((x) => f.warmupSteps.includes(x.step)).reduce((a, x) => a + x.timeNs, 0);
      lines.push(`Warm-up: step${f.warmupSteps.length > 1 ? 's' : ''} ${f.warmupSteps.join(', ')} (${formatDurationNs(wu)}: compiling GPU pipelines, first allocations), left out of every figure below.`, '');
    }
    lines.push('| figure | value |', '|---|---:|');
    if (f.stepTimeNs !== undefined) lines.push(`| step time (${f.stepTimeBasis}) | ${formatDurationNs(f.stepTimeNs)} |`);
    if (f.exposedCommNs !== undefined) lines.push(`| exposed communication per step${f.stepTimeNs ? ` (${((100 * f.exposedCommNs) / f.stepTimeNs).toFixed(1)} % of the step)` : ''} | ${formatDurationNs(f.exposedCommNs)} |`);
    if (f.bytesPerStep !== undefined) lines.push(`| bytes sent per rank per step | ${formatBytes(f.bytesPerStep)} |`);
    if (f.peakMemoryBytes !== undefined) lines.push(`| peak memory (fullest rank) | ${formatBytes(f.peakMemoryBytes)} |`);
    lines.push('', 'Definitions: docs/figures.md.');
  }
  lines.push(
    '',
    `Steps analysed in the breakdowns: ${analysis.options.includeLastStep ? 'all (last step included)' : 'all but the last (the default of Holistic Trace Analysis)'}${f && f.warmupSteps.length > 0 ? `; the whole-window columns include warm-up, the per-step table marks it` : ''}.`,
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
      lines.push(`| ${r.rank} | ${link(String(s.step), s.sliceIndex)}${f?.warmupSteps.includes(s.step) ? ' (warm-up)' : ''} | ${ms(s.durNs)} | ${pct(s.temporal.idlePct)} | ${pct(s.temporal.computePct)} | ${pct(s.overlap.overlapPct)} | ${ms(s.overlap.exposedCommNs)} |`);
    }
  }
  const c = analysis.collectives;
  if (c && c.perOp.length > 0) {
    lines.push('', '## Collectives', '', '| op | count | bytes | transfer ms | wait ms (all ranks) | algbw GB/s | busbw GB/s | busbw of peak |', '|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const o of c.perOp) {
      const f = (x?: number) => (x === undefined ? '—' : x.toFixed(2));
      lines.push(`| ${o.op} | ${o.count} | ${o.totalBytes === 0 && o.algbwGBps === undefined ? '—' : groupDigits(o.totalBytes)} | ${ms(o.totalTransferNs)} | ${ms(o.totalWaitNs)} | ${f(o.algbwGBps)} | ${f(o.busbwGBps)} | ${o.busbwOfPeakPct === undefined ? '—' : pct(o.busbwOfPeakPct)} |`);
    }
    const unsized = c.perOp.some((o) => o.totalBytes === 0 && o.algbwGBps === undefined);
    lines.push('', `${unsized ? 'Bytes —: the trace does not give these collectives\' sizes (pre-Kineto traces, or no record_param_comms). ' : ''}Transfer = the minimum duration of the i-th collective across ranks; wait = each rank's excess over it; busbw = algbw × 2(n−1)/n for all-reduce, (n−1)/n for reduce-scatter / all-gather / all-to-all.`);
  }
  const st = analysis.stragglers;
  if (st && st.ranks.length > 0) {
    lines.push('', '## Stragglers', '', `Compute imbalance (max / mean): ${st.computeImbalance.toFixed(2)}. Flagged: ${st.stragglers.length > 0 ? st.stragglers.map((r) => `rank ${r}`).join(', ') : 'none'}.`, '', '| rank | last to arrive | of collectives | cost to others ms | mean lateness ms |', '|---:|---:|---:|---:|---:|');
    for (const r of st.ranks) lines.push(`| ${r.rank} | ${r.lastArrivals} | ${r.collectives} | ${ms(r.costToOthersNs)} | ${ms(r.meanLatenessNs)} |`);
  }
  const cp = analysis.criticalPath;
  if (cp && cp.segments.length > 0) {
    const parts = Object.entries(cp.byKindNs).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${ms(v)} ms (${pct((100 * v) / Math.max(1, cp.totalNs))})`);
    lines.push('', `## Critical path${cp.step !== undefined ? ` of step ${cp.step}` : ''}`, '', `${ms(cp.totalNs)} ms across ${cp.segments.length} spans, ${cp.rankSwitches} switch(es) between ranks: ${parts.join(', ')}.`);
    const longest = cp.segments.filter((x) => x.sliceIndex !== undefined).sort((a, b) => b.durNs - a.durNs).slice(0, 5);
    if (longest.length > 0) {
      lines.push('', 'Longest spans on the path:', '');
      for (const x of longest) lines.push(`- rank ${x.rank}: ${link(escapeCell(x.name ?? x.kind), x.sliceIndex)} — ${ms(x.durNs)} ms (${x.kind})`);
    }
  }
  if (analysis.flops.length > 0) {
    lines.push('', '## FLOP/s', '', '| rank | achieved GFLOP/s | MFU |', '|---:|---:|---:|');
    for (const f of analysis.flops) lines.push(`| ${f.rank} | ${(f.achievedFlops / 1e9).toFixed(2)} | ${f.mfu === undefined ? '—' : pct(100 * f.mfu)} |`);
  }
  if (analysis.memory.length > 0) {
    lines.push('', '## Memory per rank', '', '| rank | kind | peak MiB |', '|---:|---|---:|');
    for (const m of analysis.memory) for (const k of m.kinds) lines.push(`| ${m.rank} | ${escapeCell(k.kind)} | ${(k.peakBytes / 1048576).toFixed(1)} |`);
  }
  const top = analysis.suggestions.slice(0, opts.topSuggestions ?? 5);
  lines.push('', '## Top suggestions', '');
  if (top.length === 0) lines.push(`None: ${WORTHWHILE.text}, and nothing reached that.`, '');
  else {
    lines.push(`Ranked by predicted step-time gain; changes to the training algorithm rank below exact ones of equal gain. ${WORTHWHILE.text[0].toUpperCase()}${WORTHWHILE.text.slice(1)}.`, '');
    if (analysis.replay) {
      lines.push(`Predictions replay step ${analysis.replay.step ?? '(whole window)'}'s dependency graph; the replay reproduces that step within ${Math.abs(analysis.replay.calibrationErrorPct).toFixed(1)} %.`, '');
    }
    top.forEach((sg, i) => {
      lines.push(`### ${i + 1}. ${sg.title}`, '');
      lines.push(`- Evidence: ${sg.evidence.text}${sg.evidence.sliceIndexes.length > 0 ? ` (${sg.evidence.sliceIndexes.slice(0, 3).map((x) => link(`span ${x}`, x)).join(', ')}${sg.evidence.sliceIndexes.length > 3 ? ', …' : ''})` : ''}`);
      lines.push(`- Predicted (now → after): ${beforeAfter(sg).join('; ')}`);
      if (sg.changesAlgorithm) lines.push('- Changes the training algorithm: check convergence (compare loss curves) before adopting it.');
      lines.push(`- Risk: ${sg.risk}`);
      lines.push(`- Source: ${sg.source}`);
      if (Object.keys(sg.configChange).length > 0) lines.push(`- ${analysis.source.format === 'kineto' ? 'Change in PyTorch' : 'Config change'}: \`${JSON.stringify(sg.configChange)}\``);
      if (sg.pytorchHint) lines.push(`- In PyTorch: \`${sg.pytorchHint}\``);
      lines.push('');
    });
  }
  const diagnoses = analysis.diagnoses ?? [];
  if (diagnoses.length > 0) {
    lines.push('', '## Diagnoses', '', 'Findings with no config change to re-run: what to look at, and what the step would be without the cause.', '');
    for (const d of diagnoses) {
      lines.push(`- **${escapeCell(d.title)}** — ${d.evidence.text}. ${d.predicted.stepTimeNs < d.predicted.baselineStepTimeNs ? `Without it: step ${formatDurationNs(d.predicted.baselineStepTimeNs)} → ${formatDurationNs(d.predicted.stepTimeNs)}. ` : ''}${d.risk}`);
    }
  }
  if (analysis.notes.length > 0) {
    lines.push('', '## Notes', '');
    for (const n of analysis.notes) lines.push(`- ${escapeCell(n)}`);
  }
  lines.push('');
  return lines.join('\n');
}

/** Every figure a suggestion predicts, as now → after (the same figures the run shows: docs/figures.md). */
export function beforeAfter(sg: Suggestion): string[] {
  const p = sg.predicted;
  const out = [`step time ${formatDurationNs(p.baselineStepTimeNs)} → ${formatDurationNs(p.stepTimeNs)}`, `exposed communication ${formatDurationNs(p.baselineExposedCommNs)} → ${formatDurationNs(p.exposedCommNs)}`];
  if (p.bytesPerStep !== undefined && p.baselineBytesPerStep !== undefined) out.push(`bytes per step ${formatBytes(p.baselineBytesPerStep)} → ${formatBytes(p.bytesPerStep)}`);
  if (p.peakMemoryBytes !== undefined && p.baselinePeakMemoryBytes !== undefined) out.push(`peak memory ${formatBytes(p.baselinePeakMemoryBytes)} → ${formatBytes(p.peakMemoryBytes)}`);
  return out;
}
