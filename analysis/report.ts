/**
 * The Markdown report of an analysis: breakdown table, collectives, stragglers, top
 * suggestions with their predicted effect, notes, and links to the trace.
 */
import type { Analysis } from './types';
import { groupDigits } from '../trace/format';

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
  if (top.length > 0) {
    lines.push('', '## Top suggestions', '');
    if (analysis.replay) {
      lines.push(`Predictions replay step ${analysis.replay.step ?? '(whole window)'}'s dependency graph; the replay reproduces the measured step within ${Math.abs(analysis.replay.calibrationErrorPct).toFixed(1)} %.`, '');
    }
    top.forEach((sg, i) => {
      const p = sg.predicted;
      lines.push(`### ${i + 1}. ${sg.title}`, '');
      lines.push(`- Evidence: ${sg.evidence.text}${sg.evidence.sliceIndexes.length > 0 ? ` (${sg.evidence.sliceIndexes.slice(0, 3).map((x) => link(`span ${x}`, x)).join(', ')}${sg.evidence.sliceIndexes.length > 3 ? ', …' : ''})` : ''}`);
      lines.push(`- Predicted: step ${ms(p.baselineStepTimeNs)} → ${ms(p.stepTimeNs)} ms, exposed communication ${ms(p.baselineExposedCommNs)} → ${ms(p.exposedCommNs)} ms` +
        (p.bytesPerStep !== undefined && p.baselineBytesPerStep !== undefined ? `, bytes per step ${groupDigits(Math.round(p.baselineBytesPerStep))} → ${groupDigits(Math.round(p.bytesPerStep))}` : '') +
        (p.peakMemoryBytes !== undefined && p.baselinePeakMemoryBytes !== undefined ? `, peak memory ${(p.baselinePeakMemoryBytes / 1048576).toFixed(2)} → ${(p.peakMemoryBytes / 1048576).toFixed(2)} MiB` : ''));
      lines.push(`- Risk: ${sg.risk}`);
      lines.push(`- Source: ${sg.source}`);
      if (Object.keys(sg.configChange).length > 0) lines.push(`- Config change: \`${JSON.stringify(sg.configChange)}\``);
      if (sg.pytorchHint) lines.push(`- In PyTorch: \`${sg.pytorchHint}\``);
      lines.push('');
    });
  }
  if (analysis.notes.length > 0) {
    lines.push('', '## Notes', '');
    for (const n of analysis.notes) lines.push(`- ${escapeCell(n)}`);
  }
  lines.push('');
  return lines.join('\n');
}
