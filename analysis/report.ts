/**
 * The Markdown report of an analysis: breakdown table, collectives, stragglers, top
 * suggestions with their predicted effect, notes, and links to the trace.
 */
import type { Analysis } from './types';
import { formatBytes, formatDurationNs, groupDigits } from '../trace/format';
import {
  GROUP_EXPOSURE_HEADER,
  PIPELINE_STAGE_HEADER,
  groupExposureRows,
  pipelineStageRows,
  pipelineTheoryText,
  pipelineTitle,
} from '../trace/layoutFigures';
import type { Suggestion } from './advisor/advisor';
import { ALGORITHM_CHANGING, WORTHWHILE } from './advisor/advisor';
import { RISK_WEIGHT } from './advisor/catalogue';

/** The weights of the changes that alter the training algorithm, as the ranking applies them (advisor.ts). */
const ALGORITHM_LABEL: Partial<Record<string, string>> = {
  'topk-dgc': 'top-k',
  'local-updates': 'local updates',
  'onebit-adam': '1-bit Adam',
  powersgd: 'PowerSGD',
};
const ALGORITHM_WEIGHTS = [...ALGORITHM_CHANGING, 'local-updates' as const]
  .sort((a, b) => RISK_WEIGHT[a] - RISK_WEIGHT[b])
  .map((key) => `${ALGORITHM_LABEL[key] ?? key} ${RISK_WEIGHT[key]}`)
  .join(', ');
import { settingsLine, settingsRows } from './jobSettings';
import { findSlowLinks, RANK_TABLE_LIMIT, rankRanges, spreadOf, summariseStragglers, type Spread } from './rankSummary';
import { describeTorchJob } from './torchJob';

export interface ReportOptions {
  /** Link to the trace (a file path or URL) shown at the top and used for span links. */
  traceLink?: string;
  /** The per-rank files the analysis read. */
  traceFiles?: string[];
  /** How many suggestions to show (default 5). */
  topSuggestions?: number;
  /** Above this many ranks, per-rank tables become summaries and top-N lists (default RANK_TABLE_LIMIT). */
  rankTableLimit?: number;
  /** Rows of the top-N lists in summaries (default 10). */
  topRanks?: number;
  /** Above this many steps, the per-step table becomes the slowest steps and a spread (default STEP_TABLE_LIMIT). */
  stepTableLimit?: number;
}

/** Steps a report lists one by one; a longer profile gets its slowest steps and their spread. */
export const STEP_TABLE_LIMIT = 32;

const ms = (ns: number) => (ns / 1e6).toFixed(2);
const us = (ns: number) => groupDigits(Math.round(ns / 1000));
const pct = (x: number) => `${x.toFixed(2)} %`;

function escapeCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/**
 * The files read, one line each; beyond `limit` files (a job of many ranks), one line per
 * folder with its count and its first and last names, so that the report does not open on a
 * thousand paths.
 */
export function traceFileLines(files: readonly string[], limit: number): string[] {
  if (files.length <= limit) return files.map((f) => `- \`${f}\``);
  const byFolder = new Map<string, string[]>();
  for (const f of files) {
    const cut = Math.max(f.lastIndexOf('/'), f.lastIndexOf('\\')) + 1;
    const folder = f.slice(0, cut);
    let names = byFolder.get(folder);
    if (!names) byFolder.set(folder, (names = []));
    names.push(f.slice(cut));
  }
  const lines: string[] = [];
  const folders = [...byFolder];
  for (const [folder, names] of folders.slice(0, limit)) {
    const shown = names.length <= 4 ? names : [...names.slice(0, 3), undefined, names[names.length - 1]];
    const list = shown.map((n) => (n === undefined ? '…' : `\`${n}\``)).join(', ');
    lines.push(
      `- ${groupDigits(names.length)} file${names.length === 1 ? '' : 's'} in ${folder ? `\`${folder}\`` : 'the working folder'}: ${list}`,
    );
  }
  if (folders.length > limit) {
    const rest = folders.slice(limit).reduce((t, [, names]) => t + names.length, 0);
    lines.push(`- and ${groupDigits(rest)} more in ${groupDigits(folders.length - limit)} more folders`);
  }
  return lines;
}

/** Renders the analysis as Markdown. Pure function of its input. */
export function markdownReport(analysis: Analysis, opts: ReportOptions = {}): string {
  const lines: string[] = [];
  const link = (label: string, sliceIndex?: number) =>
    opts.traceLink ? `[${label}](${opts.traceLink}${sliceIndex !== undefined ? `#slice=${sliceIndex}` : ''})` : label;
  lines.push('# CommLens analysis', '');
  const src = analysis.source;
  lines.push(
    `Source: ${src.format} trace, ranks ${(src.ranksPresent.length > (opts.rankTableLimit ?? RANK_TABLE_LIMIT) ? rankRanges(src.ranksPresent) : src.ranksPresent.join(', ')) || 'none'}${src.worldSize ? ` of world size ${src.worldSize}` : ''}` +
      (opts.traceLink ? ` — ${link('open the trace')}` : ''),
  );
  if (opts.traceFiles && opts.traceFiles.length > 0)
    lines.push('', ...traceFileLines(opts.traceFiles, opts.rankTableLimit ?? RANK_TABLE_LIMIT));
  if (src.pytorchJob)
    lines.push('', `PyTorch job (as commlens_torch recorded it): ${describeTorchJob(src.pytorchJob)}.`);
  if (src.cpuTimelineRanks) {
    lines.push(
      '',
      `**No GPU activity in the trace${src.cpuTimelineRanks.length < src.ranksPresent.length ? ` of rank(s) ${src.cpuTimelineRanks.join(', ')}` : ''}:** the tables below are on the CPU timeline — CPU collectives (gloo, c10d) are the communication, outermost \`aten::\` ops the computation, and "kernel" means those ops. GPU kernel metrics need a trace recorded with \`ProfilerActivity.CUDA\`.`,
    );
  }
  if (analysis.settings) {
    const s = analysis.settings;
    lines.push(
      '',
      '## Job settings (read from the trace)',
      '',
      `${settingsLine(s).replace(/^s/, 'S')}.`,
      '',
      `The suggestions below start from these: none repeats what the job already does, and each names the change from the current value.${s.referenceRank !== undefined ? ` Read from rank ${s.referenceRank}${s.step !== undefined ? `, step ${s.step}` : ''}.` : ''}`,
      '',
      '| setting | value | confidence | evidence |',
      '|---|---|---|---|',
      ...settingsRows(s).map(
        (r) => `| ${r.setting} | ${escapeCell(r.value)} | ${r.confidence} | ${escapeCell(r.evidence)} |`,
      ),
    );
  }
  const f = analysis.figures;
  if (f) {
    lines.push('', '## Run figures (steady state)', '');
    if (f.warmupSteps.length > 0) {
      const wu = f.stepTimesNs.filter((x) => f.warmupSteps.includes(x.step)).reduce((a, x) => a + x.timeNs, 0);
      lines.push(
        `Warm-up: step${f.warmupSteps.length > 1 ? 's' : ''} ${f.warmupSteps.join(', ')} (${formatDurationNs(wu)}: compiling GPU pipelines, first allocations), left out of every figure below.`,
        '',
      );
    }
    lines.push('| figure | value |', '|---|---:|');
    if (f.stepTimeNs !== undefined)
      lines.push(`| step time (${f.stepTimeBasis}) | ${formatDurationNs(f.stepTimeNs)} |`);
    if (f.exposedCommNs !== undefined)
      lines.push(
        `| exposed communication per step${f.stepTimeNs ? ` (${((100 * f.exposedCommNs) / f.stepTimeNs).toFixed(1)} % of the step)` : ''} | ${formatDurationNs(f.exposedCommNs)} |`,
      );
    if (f.bytesPerStep !== undefined) lines.push(`| bytes per rank per step | ${formatBytes(f.bytesPerStep)} |`);
    if (f.peakMemoryBytes !== undefined)
      lines.push(`| peak memory (fullest rank) | ${formatBytes(f.peakMemoryBytes)} |`);
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
  const many = analysis.ranks.length > (opts.rankTableLimit ?? RANK_TABLE_LIMIT);
  const topN = opts.topRanks ?? 10;
  const rankRow = (r: Analysis['ranks'][number]) => {
    const t = r.temporal;
    return `| ${r.rank} | ${us(t.spanNs)} | ${us(t.idleNs)} | ${us(t.computeNs)} | ${us(t.nonComputeNs)} | ${pct(t.idlePct)} | ${pct(t.computePct)} | ${pct(t.nonComputePct)} | ${pct(r.overlap.overlapPct)} | ${us(r.overlap.exposedCommNs)} |`;
  };
  if (!many) for (const r of analysis.ranks) lines.push(rankRow(r));
  else {
    // One row per rank would be hundreds of rows: the ranks with the most idle time, then the spread.
    lines.splice(
      lines.length - 2,
      0,
      `${analysis.ranks.length} ranks: the ${topN} with the most idle time, then the spread over all ranks.`,
      '',
    );
    for (const r of [...analysis.ranks]
      .sort((a, b) => b.temporal.idlePct - a.temporal.idlePct || a.rank - b.rank)
      .slice(0, topN))
      lines.push(rankRow(r));
    const sp = (label: string, x: Spread | undefined, f: (v: number) => string) =>
      x
        ? `| ${label} | ${f(x.min)} (rank ${x.minRank}) | ${f(x.median)} | ${f(x.p90)} | ${f(x.max)} (rank ${x.maxRank}) |`
        : '';
    lines.push(
      '',
      '| over all ranks | min | median | p90 | max |',
      '|---|---:|---:|---:|---:|',
      sp(
        'span µs',
        spreadOf(analysis.ranks, (r) => r.temporal.spanNs),
        us,
      ),
      sp(
        'idle %',
        spreadOf(analysis.ranks, (r) => r.temporal.idlePct),
        pct,
      ),
      sp(
        'compute %',
        spreadOf(analysis.ranks, (r) => r.temporal.computePct),
        pct,
      ),
      sp(
        'non-compute %',
        spreadOf(analysis.ranks, (r) => r.temporal.nonComputePct),
        pct,
      ),
      sp(
        'comm–comp overlap %',
        spreadOf(analysis.ranks, (r) => r.overlap.overlapPct),
        pct,
      ),
      sp(
        'exposed comm µs',
        spreadOf(analysis.ranks, (r) => r.overlap.exposedCommNs),
        us,
      ),
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
  if (!many) {
    lines.push(
      '',
      '## Idle time per stream',
      '',
      '| rank | stream | host wait µs | kernel wait µs | other µs |',
      '|---:|---:|---:|---:|---:|',
    );
    for (const r of analysis.ranks) {
      for (const s of r.idleByStream)
        lines.push(`| ${r.rank} | ${s.stream} | ${us(s.hostWaitNs)} | ${us(s.kernelWaitNs)} | ${us(s.otherNs)} |`);
    }
  } else {
    const byStream = new Map<string, { ranks: number; host: number; kernel: number; other: number }>();
    for (const r of analysis.ranks) {
      for (const x of r.idleByStream) {
        const k = String(x.stream);
        const a = byStream.get(k) ?? { ranks: 0, host: 0, kernel: 0, other: 0 };
        a.ranks++;
        a.host += x.hostWaitNs;
        a.kernel += x.kernelWaitNs;
        a.other += x.otherNs;
        byStream.set(k, a);
      }
    }
    lines.push(
      '',
      '## Idle time per stream (summed over ranks)',
      '',
      '| stream | ranks | host wait µs | kernel wait µs | other µs |',
      '|---:|---:|---:|---:|---:|',
    );
    for (const [k, a] of byStream)
      lines.push(`| ${escapeCell(k)} | ${a.ranks} | ${us(a.host)} | ${us(a.kernel)} | ${us(a.other)} |`);
  }
  const stepRows = analysis.ranks.flatMap((r) => r.steps.map((s) => ({ r, s })));
  const bySteps = new Map<number, typeof stepRows>();
  for (const x of stepRows) {
    const xs = bySteps.get(x.s.step);
    if (xs) xs.push(x);
    else bySteps.set(x.s.step, [x]);
  }
  // One row per step over its ranks: the step, its ranks, the median and longest rank's step,
  // the median idle and overlap, the most exposed communication.
  const overRanks = (step: number, xs: typeof stepRows) => {
    const over = (v: (x: (typeof stepRows)[number]) => number) =>
      spreadOf(
        xs.map((x) => ({ rank: x.r.rank, v: v(x) })),
        (x) => x.v,
      )!;
    return {
      step,
      ranks: xs.length,
      dur: over((x) => x.s.durNs),
      idle: over((x) => x.s.temporal.idlePct),
      ov: over((x) => x.s.overlap.overlapPct),
      ex: over((x) => x.s.overlap.exposedCommNs),
    };
  };
  const warm = (step: number) => (f?.warmupSteps.includes(step) ? ' (warm-up)' : '');
  const stepLine = (o: ReturnType<typeof overRanks>) =>
    `| ${o.step}${warm(o.step)} | ${o.ranks} | ${ms(o.dur.median)} | ${ms(o.dur.max)} (rank ${o.dur.maxRank}) | ${pct(o.idle.median)} | ${pct(o.ov.median)} | ${ms(o.ex.max)} (rank ${o.ex.maxRank}) |`;
  const stepHeader = [
    '| step | ranks | median step ms | max step ms | median idle % | median overlap % | max exposed comm ms |',
    '|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const stepLimit = opts.stepTableLimit ?? STEP_TABLE_LIMIT;
  if (bySteps.size > stepLimit) {
    // Many steps (a long profile): the slowest, then the spread over all, not a row per step.
    const all = [...bySteps].map(([step, xs]) => overRanks(step, xs));
    const top = opts.topRanks ?? 10;
    const slowest = [...all].sort((a, b) => b.dur.max - a.dur.max || a.step - b.step).slice(0, top);
    // spreadOf names its items by `rank`: here each item is a step.
    const overSteps = (v: (o: (typeof all)[number]) => number) =>
      spreadOf(
        all.map((o) => ({ rank: o.step, v: v(o) })),
        (x) => x.v,
      )!;
    const sp = (label: string, x: Spread, fmt: (v: number) => string) =>
      `| ${label} | ${fmt(x.min)} (step ${x.minRank}) | ${fmt(x.median)} | ${fmt(x.p90)} | ${fmt(x.max)} (step ${x.maxRank}) |`;
    lines.push(
      '',
      many ? '## Per step (over ranks)' : '## Per step',
      '',
      `${groupDigits(all.length)} steps: the ${slowest.length} slowest (by their longest rank), then the spread over all steps.`,
      '',
      ...stepHeader,
      ...slowest.map(stepLine),
      '',
      '| over all steps | min | median | p90 | max |',
      '|---|---:|---:|---:|---:|',
      ...(
        [
          ['max step ms', (o) => o.dur.max, ms],
          ['median idle %', (o) => o.idle.median, pct],
          ['median overlap %', (o) => o.ov.median, pct],
          ['max exposed comm ms', (o) => o.ex.max, ms],
        ] as [string, (o: (typeof all)[number]) => number, (v: number) => string][]
      ).map(([label, v, fmt]) => sp(label, overSteps(v), fmt)),
    );
  } else if (stepRows.length > 0 && many) {
    lines.push('', '## Per step (over ranks)', '', ...stepHeader);
    for (const [step, xs] of [...bySteps].sort((a, b) => a[0] - b[0])) lines.push(stepLine(overRanks(step, xs)));
  } else if (stepRows.length > 0) {
    lines.push(
      '',
      '## Per step',
      '',
      '| rank | step | step ms | idle % | compute % | overlap % | exposed comm ms |',
      '|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const { r, s } of stepRows) {
      lines.push(
        `| ${r.rank} | ${link(String(s.step), s.sliceIndex)}${warm(s.step)} | ${ms(s.durNs)} | ${pct(s.temporal.idlePct)} | ${pct(s.temporal.computePct)} | ${pct(s.overlap.overlapPct)} | ${ms(s.overlap.exposedCommNs)} |`,
      );
    }
  }
  const c = analysis.collectives;
  if (c && c.perOp.length > 0) {
    lines.push(
      '',
      '## Collectives',
      '',
      '| op | count | bytes | transfer ms | wait ms (all ranks) | algbw GB/s | busbw GB/s | busbw of peak |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const o of c.perOp) {
      const f = (x?: number) => (x === undefined ? '—' : x.toFixed(2));
      lines.push(
        `| ${o.op} | ${o.count} | ${o.totalBytes === 0 && o.algbwGBps === undefined ? '—' : groupDigits(o.totalBytes)} | ${ms(o.totalTransferNs)} | ${ms(o.totalWaitNs)} | ${f(o.algbwGBps)} | ${f(o.busbwGBps)} | ${o.busbwOfPeakPct === undefined ? '—' : pct(o.busbwOfPeakPct)} |`,
      );
    }
    const unsized = c.perOp.some((o) => o.totalBytes === 0 && o.algbwGBps === undefined);
    lines.push(
      '',
      `${unsized ? "Bytes —: the trace does not give these collectives' sizes (pre-Kineto traces, or no record_param_comms). " : ''}Transfer = the minimum duration of the i-th collective across ranks; wait = each rank's excess over it; busbw = algbw × 2(n−1)/n for all-reduce, (n−1)/n for reduce-scatter / all-gather / all-to-all.`,
    );
  }
  const groups = analysis.groups ?? [];
  if (groups.length > 0) {
    lines.push(
      '',
      '## Exposed communication per process group',
      '',
      "Per group (as the trace names it), its communication with no computation under it per steady-state step: the mean over the group's ranks, then over steps the step time's statistic. Groups communicating at the same time both count that time.",
      '',
      `| ${GROUP_EXPOSURE_HEADER.join(' | ')} |`,
      '|---|---:|---:|---:|---:|---:|',
      ...groupExposureRows(groups, f?.stepTimeNs).map((r) => `| ${[escapeCell(r[0]), ...r.slice(1)].join(' | ')} |`),
    );
  }
  for (const pl of analysis.pipeline ?? []) {
    const theory = pipelineTheoryText(pl);
    lines.push(
      '',
      `## Pipeline bubble (${escapeCell(pipelineTitle(pl))})`,
      '',
      `Per stage, the time its compute stream is idle inside the pipeline's flush-to-flush window of each steady step${theory ? `; ${theory}` : ''}.`,
      '',
      `| ${PIPELINE_STAGE_HEADER.join(' | ')} |`,
      '|---:|---:|---:|---:|---|',
      ...pipelineStageRows(pl).map((r) => `| ${r.join(' | ')} |`),
    );
  }
  const st = analysis.stragglers;
  if (st && st.ranks.length > 0) {
    lines.push(
      '',
      '## Stragglers',
      '',
      `Compute imbalance (max / mean): ${st.computeImbalance.toFixed(2)}. Flagged: ${st.stragglers.length > 0 ? st.stragglers.map((r) => `rank ${r}`).join(', ') : 'none'}.`,
      '',
      '| rank | last to arrive | of collectives | cost to others ms | mean lateness ms |',
      '|---:|---:|---:|---:|---:|',
    );
    if (!many)
      for (const r of st.ranks)
        lines.push(
          `| ${r.rank} | ${r.lastArrivals} | ${r.collectives} | ${ms(r.costToOthersNs)} | ${ms(r.meanLatenessNs)} |`,
        );
    else {
      const sum = summariseStragglers(st, c, topN);
      lines.splice(
        lines.length - 2,
        0,
        `${sum.ranksEverLast} of ${sum.ranks} ranks arrived last at least once; the ${sum.top.length} below caused ${pct(100 * sum.topCostShare)} of the waits.`,
        '',
      );
      for (const r of sum.top)
        lines.push(
          `| ${r.rank} | ${r.lastArrivals} | ${r.collectives} | ${ms(r.costToOthersNs)} | ${ms(r.meanLatenessNs)} |`,
        );
      const h = sum.lastArrivalHistogram
        .filter((b) => b.ranks > 0)
        .map((b) => `${b.from === b.to ? b.from : `${b.from}–${b.to}`}: ${b.ranks}`);
      lines.push('', `Ranks by how often they arrived last (times: ranks): ${h.join(', ')}.`);
      if (sum.lateness)
        lines.push(
          `How late the last rank was, over ${sum.lateness.collectives} collectives: median ${ms(sum.lateness.medianNs)} ms, p90 ${ms(sum.lateness.p90Ns)} ms, max ${ms(sum.lateness.maxNs)} ms.`,
        );
    }
  }
  // The analysis' own figure when it has one (a cached analysis' instances stay unread).
  const slow = 'slowLinks' in analysis ? analysis.slowLinks : c ? findSlowLinks(c) : undefined;
  if (slow && slow.slowGroups.length > 0) {
    lines.push(
      '',
      '## Slow links',
      '',
      `${slow.slowGroups.length} of ${slow.groups} process groups move data at under half the groups' median bandwidth (${slow.medianGroupBusbwGBps.toFixed(2)} GB/s bus bandwidth, collectives of 1 MiB or more).`,
      '',
      '| group | ranks | collectives | median busbw GB/s |',
      '|---|---|---:|---:|',
    );
    for (const g of slow.slowGroups.slice(0, topN))
      lines.push(
        `| ${escapeCell(g.group)} | ${rankRanges(g.ranks)} | ${g.collectives} | ${g.medianBusbwGBps.toFixed(2)} |`,
      );
    if (slow.slowGroups.length > topN) lines.push(`| … ${slow.slowGroups.length - topN} more | | | |`);
    if (slow.sharedRanks.length > 0)
      lines.push(
        '',
        `Ranks in several slow groups (a link they share is the likely cause): ${slow.sharedRanks
          .slice(0, topN)
          .map((r) => `rank ${r.rank} (${r.slowGroups} groups)`)
          .join(', ')}${slow.sharedRanks.length > topN ? `, and ${slow.sharedRanks.length - topN} more` : ''}.`,
      );
  }
  const cp = analysis.criticalPath;
  if (cp && cp.segments.length > 0) {
    const parts = Object.entries(cp.byKindNs)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${ms(v)} ms (${pct((100 * v) / Math.max(1, cp.totalNs))})`);
    lines.push(
      '',
      `## Critical path${cp.step !== undefined ? ` of step ${cp.step}` : ''}`,
      '',
      `${ms(cp.totalNs)} ms across ${cp.segments.length} spans, ${cp.rankSwitches} switch(es) between ranks: ${parts.join(', ')}.`,
    );
    const longest = cp.segments
      .filter((x) => x.sliceIndex !== undefined)
      .sort((a, b) => b.durNs - a.durNs)
      .slice(0, 5);
    if (longest.length > 0) {
      lines.push('', 'Longest spans on the path:', '');
      for (const x of longest)
        lines.push(
          `- rank ${x.rank}: ${link(escapeCell(x.name ?? x.kind), x.sliceIndex)} — ${ms(x.durNs)} ms (${x.kind})`,
        );
    }
  }
  if (analysis.flops.length > 0) {
    lines.push('', '## FLOP/s', '', '| rank | achieved GFLOP/s | MFU |', '|---:|---:|---:|');
    const rows = many
      ? [...analysis.flops].sort((a, b) => a.achievedFlops - b.achievedFlops).slice(0, topN)
      : analysis.flops;
    if (many)
      lines.splice(
        lines.length - 2,
        0,
        `The ${rows.length} ranks of ${analysis.flops.length} with the lowest achieved FLOP/s.`,
        '',
      );
    for (const f of rows)
      lines.push(
        `| ${f.rank} | ${(f.achievedFlops / 1e9).toFixed(2)} | ${f.mfu === undefined ? '—' : pct(100 * f.mfu)} |`,
      );
  }
  if (analysis.memory.length > 0) {
    lines.push('', '## Memory per rank', '', '| rank | kind | peak MiB |', '|---:|---|---:|');
    const rows = analysis.memory.flatMap((m) => m.kinds.map((k) => ({ rank: m.rank, k })));
    const shown = many ? rows.sort((a, b) => b.k.peakBytes - a.k.peakBytes).slice(0, topN) : rows;
    if (many)
      lines.splice(lines.length - 2, 0, `The ${shown.length} highest peaks of ${analysis.memory.length} ranks.`, '');
    for (const { rank, k } of shown)
      lines.push(`| ${rank} | ${escapeCell(k.kind)} | ${(k.peakBytes / 1048576).toFixed(1)} |`);
  }
  const top = analysis.suggestions.slice(0, opts.topSuggestions ?? 5);
  lines.push('', '## Top suggestions', '');
  if (top.length === 0) lines.push(`None: ${WORTHWHILE.text}, and nothing reached that.`, '');
  else {
    lines.push(
      `Ranked by predicted step-time gain; a change to the training algorithm (its convergence must be checked) counts at its risk weight (${ALGORITHM_WEIGHTS}), so it can rank below an exact change of smaller gain. ${WORTHWHILE.text[0].toUpperCase()}${WORTHWHILE.text.slice(1)}.`,
      '',
    );
    if (analysis.replay) {
      const r = analysis.replay;
      lines.push(
        r.chainedStepNs !== undefined && r.replayedSteps && r.replayedSteps.length > 0
          ? `Predictions replay the dependency graphs of step${r.replayedSteps.length > 1 ? 's' : ''} ${r.replayedSteps.join(', ')} one after another, each rank starting a step where it ended the last, three times over; so chained they reproduce the run's step time within ${Math.abs(r.calibrationErrorPct).toFixed(1)} % (${formatDurationNs(r.chainedStepNs)} a step against ${formatDurationNs(analysis.figures.stepTimeNs)}).`
          : `Predictions replay step ${r.step ?? '(whole window)'}'s dependency graph; the replay reproduces that step within ${Math.abs(r.calibrationErrorPct).toFixed(1)} %.`,
        '',
      );
    }
    top.forEach((sg, i) => {
      lines.push(`### ${i + 1}. ${sg.title}`, '');
      lines.push(
        `- Evidence: ${sg.evidence.text}${
          sg.evidence.sliceIndexes.length > 0
            ? ` (${sg.evidence.sliceIndexes
                .slice(0, 3)
                .map((x) => link(`span ${x}`, x))
                .join(', ')}${sg.evidence.sliceIndexes.length > 3 ? ', …' : ''})`
            : ''
        }`,
      );
      lines.push(`- Predicted (now → after): ${beforeAfter(sg).join('; ')}`);
      if (sg.predicted.notes?.length) lines.push('- How it was priced:', ...sg.predicted.notes.map((n) => `  - ${n}`));
      if (sg.changesAlgorithm)
        lines.push('- Changes the training algorithm: check convergence (compare loss curves) before adopting it.');
      lines.push(`- Risk: ${sg.risk}`);
      lines.push(`- Source: ${sg.source}`);
      if (Object.keys(sg.configChange).length > 0)
        lines.push(
          `- ${analysis.source.format === 'kineto' ? 'Change in PyTorch' : 'Config change'}: \`${JSON.stringify(sg.configChange)}\``,
        );
      if (sg.pytorchHint) lines.push(`- In PyTorch: \`${sg.pytorchHint}\``);
      if (sg.torchApply)
        lines.push(
          `- Verify it on the job: \`commlens verify <run> ${sg.id}\` re-runs the command with \`COMMLENS_APPLY='${JSON.stringify(sg.torchApply)}'\` (commlens_torch applies it)`,
        );
      lines.push('');
    });
  }
  const diagnoses = analysis.diagnoses ?? [];
  if (diagnoses.length > 0) {
    lines.push(
      '',
      '## Diagnoses',
      '',
      'Findings with no config change to re-run: what to look at, and what the step would be without the cause.',
      '',
    );
    for (const d of diagnoses) {
      lines.push(
        `- **${escapeCell(d.title)}** — ${d.evidence.text}. ${d.predicted.stepTimeNs < d.predicted.baselineStepTimeNs ? `Without it: step ${formatDurationNs(d.predicted.baselineStepTimeNs)} → ${formatDurationNs(d.predicted.stepTimeNs)}. ` : ''}${d.risk}`,
      );
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
  const out = [
    `step time ${formatDurationNs(p.baselineStepTimeNs)} → ${formatDurationNs(p.stepTimeNs)}`,
    `exposed communication ${formatDurationNs(p.baselineExposedCommNs)} → ${formatDurationNs(p.exposedCommNs)}`,
  ];
  if (p.bytesPerStep !== undefined && p.baselineBytesPerStep !== undefined)
    out.push(`bytes per rank per step ${formatBytes(p.baselineBytesPerStep)} → ${formatBytes(p.bytesPerStep)}`);
  if (p.peakMemoryBytes !== undefined && p.baselinePeakMemoryBytes !== undefined)
    out.push(`peak memory ${formatBytes(p.baselinePeakMemoryBytes)} → ${formatBytes(p.peakMemoryBytes)}`);
  return out;
}
