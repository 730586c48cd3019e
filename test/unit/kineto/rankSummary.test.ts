// Rank summaries (issue #22, "reduce, then merge" across machines): `commlens reduce` writes per
// rank the digested payload analyze's scan worker posts (trace/rankSummaryFile.ts), and
// `commlens analyze` of the summaries, alone or beside other ranks' traces, prints exactly the
// analysis of the traces, slice links included, from a small fraction of their bytes. A summary
// that is not one this code reads, or that was made with other options, is a clear error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fixturesDir } from '../../helpers/paths';
import { tiledPairJob } from '../../../bench/scaleJobs';
import { shiftedStepsJob } from '../../helpers/kinetoJobs';
import { reduceCommand } from '../../../cli/commands/reduce';
import { analyzeCommand } from '../../../cli/commands/analyze';
import { SUMMARY_MAGIC, readSummaryFile, readSummaryHeader } from '../../../trace/rankSummaryFile';
import { discoverTraces } from '../../../trace/discover';
import { loadRun, loadTraceFile } from '../../../trace/load';
import { openKinetoJob } from '../../../extension/traceService';

interface Run {
  code: number;
  out: string;
  err: string;
}

async function run(cmd: typeof analyzeCommand, args: string[]): Promise<Run> {
  const r = { out: '', err: '' };
  const code = await cmd(args, { out: (t) => void (r.out += t), err: (t) => void (r.err += t) });
  return { code, ...r };
}

const tmp = (name: string) => fs.mkdtempSync(path.join(os.tmpdir(), `commlens-summary-${name}-`));

/** `analyze --json --no-cache` of the inputs; fails the test on a non-zero exit. */
async function analysisOf(inputs: string[], extra: string[] = []): Promise<string> {
  const r = await run(analyzeCommand, [...inputs, '--json', '--no-cache', ...extra]);
  assert.equal(r.code, 0, r.err);
  return r.out;
}

/** Reduces the inputs into a new folder; returns it. */
async function reduced(inputs: string[], extra: string[] = []): Promise<string> {
  const out = tmp('out');
  const r = await run(reduceCommand, [...inputs, '--out', out, ...extra]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /wrote \d+ rank summar(y|ies) to /);
  return out;
}

const pairDir = fixturesDir('kineto', 'hta-sampled');
const pair = [0, 1].map((r) => path.join(pairDir, `sampled_rank-${r}.json.gz`));

const tiledJob = () => tiledPairJob('summary', fixturesDir('kineto', 'hta-sampled'));

let tiled: string[];
test.before(async () => {
  tiled = await tiledJob();
});

test('the fixture pair: analyze of its summaries, and of one summary beside the other trace, is the analysis of the traces', async () => {
  const dir = await reduced([pairDir]);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['sampled_rank-0.summary.commlens', 'sampled_rank-1.summary.commlens']);
  const h = readSummaryHeader(path.join(dir, 'sampled_rank-1.summary.commlens'));
  assert.equal(h.source.name, 'sampled_rank-1.json.gz');
  assert.equal(h.source.rank, 1);
  assert.equal(h.source.size, fs.statSync(pair[1]).size);
  assert.deepEqual([h.includeLastStep, h.keptSteps, h.digested], [false, 5, true]);
  // Discovery: a folder of summaries is one Kineto job, ranks from the summaries.
  const found = discoverTraces([dir]);
  assert.equal(found.runs.length, 1);
  assert.equal(found.chosen.kind, 'kineto');
  assert.deepEqual(found.chosen.ranks, [0, 1]);

  const traces = await analysisOf(pair);
  assert.match(traces, /"sliceIndex"/, 'the analysis has slice links');
  assert.equal(await analysisOf([dir]), traces, 'the summaries');
  assert.equal(await analysisOf([path.join(dir, 'sampled_rank-0.summary.commlens'), pair[1]]), traces, 'mixed');
  for (const extra of [['--include-last-step'], ['--per-rank-json']]) {
    const withLast = await reduced([pairDir], extra[0] === '--include-last-step' ? extra : []);
    assert.equal(await analysisOf([withLast], extra), await analysisOf(pair, extra), extra.join(' '));
  }
});

test('the tiled 20-step job: the summaries give the same --json and the report, in under 5 % of the JSON bytes', async () => {
  const dir = await reduced(tiled);
  const summaries = fs.readdirSync(dir).map((f) => path.join(dir, f));
  assert.equal(summaries.length, 2);
  const json = tiled.reduce((s, f) => s + fs.statSync(f).size, 0);
  const bytes = summaries.reduce((s, f) => s + fs.statSync(f).size, 0);
  assert.ok(bytes < 0.05 * json, `${bytes} bytes of summaries for ${json} of JSON`);
  assert.equal(await analysisOf([dir]), await analysisOf(tiled));
  const report = (inputs: string[]) => run(analyzeCommand, [...inputs, '--no-cache']);
  const [a, b] = [await report([dir]), await report(tiled)];
  assert.equal(a.code, 0, a.err);
  // The report names its inputs (the summaries, the traces); the rest is the same.
  assert.equal(
    a.out
      .split(dir)
      .join('<in>')
      .replace(/\.summary\.commlens/g, '.json'),
    b.out.split(path.dirname(tiled[0])).join('<in>'),
  );
  // One summary beside the other rank's trace.
  assert.equal(await analysisOf([summaries[0], tiled[1]]), await analysisOf(tiled), 'mixed');
});

test('analyze of summaries through the cache: the job cache answers again, and no parse-cache entry is written for a summary', async () => {
  const dir = await reduced([pairDir]);
  const cache = tmp('cache');
  const args = [dir, '--json', '--cache-dir', cache];
  const first = await run(analyzeCommand, args);
  assert.equal(first.code, 0, first.err);
  const entries = fs.readdirSync(cache);
  assert.ok(
    entries.every((e) => e.startsWith('job.')),
    `only the job's analysis is cached: ${entries.join(', ')}`,
  );
  assert.equal(entries.length, 1);
  const again = await run(analyzeCommand, args);
  assert.equal(again.out, first.out);
  assert.equal(again.out, await analysisOf(pair));
});

test('a summary that is corrupt, cut short, of another format or not a summary is a clear error naming the file', async () => {
  const dir = await reduced([pairDir]);
  const good = path.join(dir, 'sampled_rank-0.summary.commlens');
  const bytes = fs.readFileSync(good);
  const bad = tmp('bad');
  const cases: [string, Buffer, RegExp][] = [
    ['truncated', bytes.subarray(0, bytes.length - 100), /is cut short: \d+ bytes of the \d+ its header states/],
    ['header-cut', bytes.subarray(0, SUMMARY_MAGIC.length + 20), /is cut short: it ends inside its header/],
    [
      'version',
      (() => {
        const b = Buffer.from(bytes);
        b.writeUInt32LE(99, SUMMARY_MAGIC.length);
        return b;
      })(),
      /is a rank summary of format 99, and this CommLens reads format 1: it was written by a newer CommLens/,
    ],
    [
      'corrupt',
      (() => {
        const b = Buffer.from(bytes);
        b[b.length - 10] ^= 0xff;
        return b;
      })(),
      /its body does not match the hash in its header: the file is corrupt/,
    ],
    [
      'magic',
      (() => {
        const b = Buffer.from(bytes);
        b[1] = 0x63;
        return b;
      })(),
      /named like a CommLens rank summary, but does not start with its magic bytes/,
    ],
  ];
  for (const [name, content, why] of cases) {
    const file = path.join(bad, `${name}.summary.commlens`);
    fs.writeFileSync(file, content);
    const r = await run(analyzeCommand, [file, '--json', '--no-cache']);
    assert.equal(r.code, 2, `${name}: ${r.err}`);
    assert.ok(r.err.includes(file), `${name} names the file: ${r.err}`);
    assert.match(r.err, why, name);
    assert.match(r.err, /commlens reduce|a file written by/, `${name} says what would be right: ${r.err}`);
  }
  // Read directly, the same checks.
  assert.throws(() => readSummaryFile(path.join(bad, 'corrupt.summary.commlens')), /the file is corrupt/);
  assert.throws(() => readSummaryHeader(path.join(bad, 'truncated.summary.commlens')), /is cut short/);

  // In a job: a summary whose body is corrupt is a rank left out (named, exit 1); one that
  // discovery cannot read is said, and the job is analysed without it.
  const job = tmp('job');
  fs.copyFileSync(path.join(dir, 'sampled_rank-1.summary.commlens'), path.join(job, 'rank-1.summary.commlens'));
  fs.copyFileSync(path.join(bad, 'corrupt.summary.commlens'), path.join(job, 'rank-0.summary.commlens'));
  const r = await run(analyzeCommand, [job, '--json', '--no-cache']);
  assert.equal(r.code, 1, r.err);
  assert.match(
    r.err,
    /rank 0 \(.*rank-0\.summary\.commlens\): its body does not match the hash.*this rank is left out/,
  );
  fs.copyFileSync(path.join(bad, 'version.summary.commlens'), path.join(job, 'rank-0.summary.commlens'));
  const v = await run(analyzeCommand, [job, '--json', '--no-cache']);
  assert.match(v.err, /skipped .*rank-0\.summary\.commlens: is a rank summary of format 99/);
});

test('--include-last-step must match the summaries; a job that needs whole ranks refuses summaries, saying what to do', async () => {
  const dir = await reduced([pairDir]);
  const r = await run(analyzeCommand, [dir, '--json', '--no-cache', '--include-last-step']);
  assert.equal(r.code, 2);
  assert.match(r.err, /2 rank summaries were made without --include-last-step, and this analysis is with it/);
  assert.match(r.err, /run `commlens reduce` again with --include-last-step/);
  const one = await run(analyzeCommand, [
    path.join(dir, 'sampled_rank-0.summary.commlens'),
    pair[1],
    '--json',
    '--no-cache',
    '--include-last-step',
  ]);
  assert.equal(one.code, 2);
  assert.match(one.err, /sampled_rank-0\.summary\.commlens: this rank summary was made without --include-last-step/);

  // Rank 1's steps renumbered 6 lower: the steps the ranks share are not among those rank 0
  // keeps whole, so the job is analysed from whole ranks, which summaries do not hold.
  const shiftedDir = tmp('shift');
  const shifted = shiftedStepsJob(tiled, shiftedDir);
  const sums = await reduced(shifted);
  const w = await run(analyzeCommand, [sums, '--json', '--no-cache']);
  assert.equal(w.code, 2, w.err);
  assert.match(w.err, /this job must be analysed from whole ranks/);
  assert.match(w.err, /analyze those/);
  // The traces themselves are analysed (from whole ranks).
  await analysisOf(shifted);
});

test('reduce: its options and its bad input', async () => {
  const out = tmp('opts');
  let r = await run(reduceCommand, [pairDir, '--out', out, '--kept-steps', '0']);
  assert.equal(r.code, 2);
  assert.match(r.err, /--kept-steps 0: expected a whole number of steps, 1 or more/);
  r = await run(reduceCommand, [pairDir, '--out', out, '--kineto', '--include-last-step']);
  assert.equal(r.code, 2);
  const notKineto = path.join(out, 'whole.json');
  fs.writeFileSync(notKineto, '[1, 2, 3]');
  r = await run(reduceCommand, [notKineto, '--out', out]);
  assert.equal(r.code, 2);
  assert.match(r.err, /no PyTorch profiler \(Kineto\) rank trace in .*whole\.json/);
  // Kept steps are recorded; summaries given to reduce are passed over.
  const dir = await reduced([pairDir], ['--kept-steps', '2', '--include-last-step']);
  const h = readSummaryHeader(path.join(dir, 'sampled_rank-0.summary.commlens'));
  assert.deepEqual([h.includeLastStep, h.keptSteps], [true, 2]);
  r = await run(reduceCommand, [dir, '--out', tmp('again')]);
  assert.equal(r.code, 2);
  assert.match(r.err, /skipped .*sampled_rank-0\.summary\.commlens: a rank summary already/);
  // Reduced again into the same folder: each summary replaced by its rank's.
  r = await run(reduceCommand, [pairDir, '--out', dir]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /rank 1: .*sampled_rank-1\.summary\.commlens: [\d.]+ KiB for [\d.]+ MiB of JSON/);
  // Another node's trace of rank 1 under rank 0's file name would replace rank 0's summary: refused.
  const other = tmp('node');
  fs.copyFileSync(pair[1], path.join(other, 'sampled_rank-0.json.gz'));
  r = await run(reduceCommand, [other, '--out', dir]);
  assert.equal(r.code, 2);
  assert.match(r.err, /sampled_rank-0\.summary\.commlens is already the summary of rank 0 .* is rank 1/);
  assert.equal(readSummaryHeader(path.join(dir, 'sampled_rank-0.summary.commlens')).source.rank, 0);
});

test('the viewer and the importer cannot open a summary (it holds no whole rank) and say so, whether or not the job cache answers', async () => {
  const dir = await reduced([pairDir]);
  const files = fs.readdirSync(dir).map((f) => path.join(dir, f));
  const cacheDir = tmp('viewer-cache');
  for (const pass of ['cold', 'job cache']) {
    const r = await openKinetoJob(files, { cacheDir });
    assert.equal(r.ok, false, pass);
    const message = (r as { message: string }).message;
    assert.match(
      message,
      /sampled_rank-0\.summary\.commlens: it is a rank summary \(commlens reduce\), which holds no whole rank to view: open the trace it was made from/,
      pass,
    );
    assert.equal(message.split(files[0]).length, 2, `${pass}: the file is named once: ${message}`);
  }
  // Nor do the importer's readers (inspect, compare, convert, the viewer of one file).
  await assert.rejects(
    loadTraceFile(files[0]),
    /sampled_rank-0\.summary\.commlens: is a CommLens rank summary \(commlens reduce\).*only `commlens analyze` reads it; expected the trace it was made from/,
  );
  await assert.rejects(loadRun(discoverTraces([dir]).chosen), /is a CommLens rank summary/);
});
