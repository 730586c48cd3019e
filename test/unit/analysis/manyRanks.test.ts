// Jobs of many ranks: the straggler and slow-link findings are summarised (top N, a
// histogram, the spread) and report.md stays short at 1,024 ranks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze, markdownReport } from '../../../analysis/index';
import { STEP_TABLE_LIMIT } from '../../../analysis/report';
import { findStragglers, latenessOf } from '../../../analysis/stragglers';
import { findSlowLinks, rankRanges, summariseStragglers } from '../../../analysis/rankSummary';
import type { CollectiveInstance, CollectiveMetrics } from '../../../analysis/collectives';
import type { RankMetrics } from '../../../analysis/rankMetrics';
import { syntheticRun } from '../../helpers/syntheticRun';

const R = 1024;

/** A deterministic pseudo-random sequence in [0, 1). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
}

function instance(
  key: string,
  group: string,
  ranks: number[],
  last: number,
  lateNs: number,
  bytes: number,
  transferNs: number,
): CollectiveInstance {
  return {
    key,
    op: 'allReduce',
    group,
    seq: 0,
    bytes,
    groupSize: ranks.length,
    transferNs,
    completionNs: transferNs,
    lastArrivalRank: last,
    participants: ranks.map((rank, i) => ({
      rank,
      sliceIndex: i,
      startNs: rank === last ? lateNs : 0,
      durNs: transferNs + (rank === last ? 0 : lateNs),
      waitNs: rank === last ? 0 : lateNs,
      computeBeforeNs: rank === last ? 2 * lateNs : lateNs,
    })),
  };
}

function collectives(instances: CollectiveInstance[]): CollectiveMetrics {
  return { instances, perOp: [], waitNsByRank: {}, unmatched: 0, disjoint: 0 };
}

function rankMetricsOf(n: number): RankMetrics[] {
  return Array.from(
    { length: n },
    (_, rank) => ({ rank, temporal: { computeNs: 1e9, spanNs: 2e9 } }) as unknown as RankMetrics,
  );
}

test('1,024-rank collective set: stragglers summarised by top N, histogram and lateness', () => {
  const rnd = lcg(7);
  const world = Array.from({ length: R }, (_, r) => r);
  const inst: CollectiveInstance[] = [];
  // 200 collectives: rank 17 is last at 60 %, rank 900 at 20 %, the rest spread over random ranks.
  for (let i = 0; i < 200; i++) {
    const u = rnd();
    const last = u < 0.6 ? 17 : u < 0.8 ? 900 : Math.floor(rnd() * R);
    inst.push(
      instance(`world|allReduce|${i}`, 'world', world, last, last === 17 || last === 900 ? 3e6 : 1e5, 1 << 26, 1e6),
    );
  }
  const st = findStragglers(collectives(inst), rankMetricsOf(R));
  assert.deepEqual(
    st.stragglers.sort((a, b) => a - b),
    [17, 900],
  );
  // Evidence stays bounded: the 8 longest waits of each of the 20 worst collectives, not 20 × 1,023.
  assert.ok(st.ranks.find((r) => r.rank === 17)!.evidenceSlices.length <= 20 * 8);
  const sum = summariseStragglers(st, collectives(inst), 10);
  assert.equal(sum.ranks, R);
  assert.deepEqual(
    sum.top.slice(0, 2).map((r) => r.rank),
    [17, 900],
  );
  assert.ok(sum.top.length <= 10);
  assert.ok(sum.topCostShare > 0.9 && sum.topCostShare <= 1);
  // The histogram accounts for every rank once, and its last bucket holds rank 17's count.
  assert.equal(
    sum.lastArrivalHistogram.reduce((s, b) => s + b.ranks, 0),
    R,
  );
  const n17 = st.ranks[17].lastArrivals;
  const lastBucket = sum.lastArrivalHistogram[sum.lastArrivalHistogram.length - 1];
  assert.ok(lastBucket.from <= n17 && n17 <= lastBucket.to && lastBucket.ranks === 1);
  assert.equal(sum.ranksEverLast, st.ranks.filter((r) => r.lastArrivals > 0).length);
  assert.equal(sum.lateness!.collectives, 200);
  assert.equal(sum.lateness!.maxNs, 3e6);
  assert.equal(sum.lateness!.medianNs, 3e6);
});

test('1,024 ranks: the ranks that share a slow link are named', () => {
  // Tensor-parallel groups of 8 consecutive ranks and data-parallel groups of ranks ≡ k (mod 8)
  // within each 64-rank block; every collective with rank 42 in it runs at a quarter of the speed.
  const inst: CollectiveInstance[] = [];
  const groups: { name: string; ranks: number[] }[] = [];
  for (let g = 0; g < R / 8; g++)
    groups.push({ name: `tp${g}`, ranks: Array.from({ length: 8 }, (_, i) => 8 * g + i) });
  for (let b = 0; b < R / 64; b++)
    for (let k = 0; k < 8; k++)
      groups.push({ name: `dp${b}.${k}`, ranks: Array.from({ length: 8 }, (_, i) => 64 * b + 8 * i + k) });
  for (const g of groups) {
    const slow = g.ranks.includes(42);
    for (let i = 0; i < 3; i++)
      inst.push(instance(`${g.name}|allReduce|${i}`, g.name, g.ranks, g.ranks[0], 0, 1 << 24, slow ? 4e6 : 1e6));
  }
  const s = findSlowLinks(collectives(inst))!;
  assert.equal(s.groups, groups.length);
  assert.deepEqual(s.slowGroups.map((g) => g.group).sort(), ['dp0.2', 'tp5']);
  assert.deepEqual(s.sharedRanks, [{ rank: 42, slowGroups: 2 }]);
  assert.equal(rankRanges(s.slowGroups.find((g) => g.group === 'tp5')!.ranks), '40–47');
  // No slow group when all run at one speed.
  assert.equal(findSlowLinks(collectives(inst.map((x) => ({ ...x, transferNs: 1e6 }))))!.slowGroups.length, 0);
});

test('report.md stays short at 1,024 ranks and names the straggler', () => {
  const a = analyze(
    syntheticRun({
      ranks: R,
      steps: 3,
      kernels: 2,
      fwdNs: 100_000,
      slowRank: 17,
      slowExtraNs: 200_000,
      gradBytes: 1 << 20,
    }),
  );
  assert.equal(a.ranks.length, R);
  // As `commlens analyze <folder>` prints it: with the files read, a folder of them here.
  const files = Array.from({ length: R }, (_, r) => `/jobs/run7/rank-${r}.json.gz`);
  const md = markdownReport(a, { traceFiles: files });
  const lines = md.split('\n');
  assert.ok(lines.length < 200, `report has ${lines.length} lines`);
  assert.ok(
    lines.includes(
      '- 1,024 files in `/jobs/run7/`: `rank-0.json.gz`, `rank-1.json.gz`, `rank-2.json.gz`, …, `rank-1023.json.gz`',
    ),
    'the files are one line per folder',
  );
  // Ranks in many folders (one per node): a line per folder up to the limit, then a count.
  const nodes = Array.from({ length: R }, (_, r) => `/jobs/run7/node${Math.floor(r / 8)}/rank-${r}.json`);
  const per = markdownReport(a, { traceFiles: nodes }).split('\n');
  assert.equal(per.filter((l) => /^- 8 files in `\/jobs\/run7\/node\d+\/`/.test(l)).length, 16);
  assert.ok(per.includes('- and 896 more in 112 more folders'));
  // A few files are listed whole.
  assert.ok(
    markdownReport(a, { traceFiles: files.slice(0, 2) }).includes(
      '- `/jobs/run7/rank-0.json.gz`\n- `/jobs/run7/rank-1.json.gz`',
    ),
  );
  assert.ok(md.length < 40_000, `report has ${md.length} characters`);
  assert.match(md, /ranks 0–1023/);
  const st = md.slice(md.indexOf('## Stragglers'));
  assert.match(st, /\| 17 \| \d+ \|/);
  assert.match(st, /Ranks by how often they arrived last \(times: ranks\): 0: 1023, /);
  // The same analysis with one row per rank is what the summaries replace.
  assert.ok(markdownReport(a, { rankTableLimit: Infinity }).split('\n').length > 3 * R);
});

test('a long profile: the report gives the slowest steps and their spread, not a row per step and rank', () => {
  const a = analyze(syntheticRun({ ranks: 2, steps: 40, kernels: 2, fwdNs: 100_000, gradBytes: 1 << 20 }));
  const steps = new Set(a.ranks.flatMap((r) => r.steps.map((s) => s.step)));
  assert.ok(steps.size > STEP_TABLE_LIMIT, `${steps.size} steps analysed`);
  const md = markdownReport(a);
  const part = md.slice(md.indexOf('## Per step'), md.indexOf('\n## ', md.indexOf('## Per step') + 1));
  assert.match(part, new RegExp(`^${steps.size} steps: the 10 slowest \\(by their longest rank\\)`, 'm'));
  // The slowest first: the longest rank's step of each row is at least the next row's.
  const maxes = [...part.matchAll(/^\| \d+(?: \(warm-up\))? \| 2 \| [\d.]+ \| ([\d.]+) \(rank \d\)/gm)].map((m) =>
    Number(m[1]),
  );
  assert.equal(maxes.length, 10);
  for (let i = 1; i < maxes.length; i++) assert.ok(maxes[i - 1] >= maxes[i], `row ${i}: ${maxes[i - 1]} ≥ ${maxes[i]}`);
  const slowest = Math.max(...a.ranks.flatMap((r) => r.steps.map((s) => s.durNs))) / 1e6;
  assert.equal(maxes[0], Number(slowest.toFixed(2)));
  assert.match(part, /^\| max step ms \| [\d.]+ \(step \d+\) \| [\d.]+ \| [\d.]+ \| [\d.]+ \(step \d+\) \|$/m);
  assert.ok(part.split('\n').length < 30, `the per-step part has ${part.split('\n').length} lines`);
  // Up to the limit, a row per rank and step as before.
  const few = markdownReport(a, { stepTableLimit: Infinity });
  const rows = few.slice(few.indexOf('## Per step'), few.indexOf('\n## ', few.indexOf('## Per step') + 1));
  assert.equal((rows.match(/^\| [01] \| \d+/gm) ?? []).length, 2 * steps.size);
});

test('lateness over more collectives than a call takes arguments (a long job): no stack overflow, the right figures', () => {
  // 250,000 joined collectives of 2 ranks: rank 1 arrives last at each, rank 0 waits k % 1000 µs at the k-th.
  const n = 250_000;
  const instances: CollectiveInstance[] = [];
  for (let k = 0; k < n; k++) {
    const waitNs = (k % 1000) * 1000;
    instances.push({
      key: `g|allReduce|${k}`,
      op: 'allReduce',
      group: 'g',
      seq: k,
      groupSize: 2,
      participants: [
        { rank: 0, sliceIndex: 2 * k, startNs: 0, durNs: waitNs + 10, waitNs, computeBeforeNs: 0 },
        { rank: 1, sliceIndex: 2 * k + 1, startNs: waitNs, durNs: 10, waitNs: 0, computeBeforeNs: 0 },
      ],
      transferNs: 10,
      completionNs: 10,
      lastArrivalRank: 1,
    });
  }
  const l = latenessOf(instances);
  assert.ok(l);
  assert.equal(l.collectives, n);
  assert.equal(l.maxNs, 999_000);
  assert.equal(l.medianNs, 499_500);
});
