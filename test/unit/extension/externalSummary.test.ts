/**
 * External (PyTorch) runs write a summary.json like CommLens runs when their traces are
 * imported (extension/externalJob.ts writeExternalSummary, analysis/externalSummary.ts), so
 * the runs view and Compare Runs show their figures instead of '–'; Compare Runs adds the
 * per-collective table of analysis/compare.ts.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeExternalSummary } from '../../../extension/externalJob';
import { readRun, writeRunRecord } from '../../../extension/runsStore';
import { compareMarkdown } from '../../../extension/compare';
import { figuresOfSummary, type RunRecord as SummaryRecord } from '../../../analysis/verify';
import { SUMMARY_SCHEMA_VERSION } from '../../../runtime/summary';
import { formatDurationNs } from '../../../trace/format';
import { mutateHtaPair } from '../analysis/compareFixtures';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-external-summary-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A run folder as Profile External Command leaves it: the record, the traces in kineto/. */
function externalRun(id: string, traces: string, exitCode = 0): { runDir: string; files: string[] } {
  const runDir = path.join(tmp, 'runs', id);
  const kineto = path.join(runDir, 'kineto');
  fs.mkdirSync(kineto, { recursive: true });
  const files = fs.readdirSync(traces).map((f) => {
    fs.copyFileSync(path.join(traces, f), path.join(kineto, f));
    return path.join(kineto, f);
  });
  writeRunRecord(runDir, {
    runId: id,
    status: exitCode === 0 ? 'done' : 'failed',
    source: { kind: 'external', command: 'torchrun --nproc-per-node 2 train.py', cwd: tmp },
    startedAt: '2026-12-03T10:00:00Z',
    endedAt: '2026-12-03T10:05:00Z',
    traceFiles: files,
  });
  return { runDir, files };
}

test('an external run gets a summary.json with its figures, read as a CommLens run is read', async () => {
  const m = mutateHtaPair(tmp);
  const a = externalRun('ext-a', m.dirA);
  const b = externalRun('ext-b', m.dirB, 1);
  // Before: no summary, so Compare Runs had nothing to show but '–'.
  const before = compareMarkdown([readRun(a.runDir)!, readRun(b.runDir)!]);
  assert.match(before, /\| exposed communication per step \| – \| – \|/);
  for (const [x, exitCode] of [
    [a, 0],
    [b, 1],
  ] as const) {
    const r = await writeExternalSummary(
      x.runDir,
      {
        runId: path.basename(x.runDir),
        command: 'torchrun --nproc-per-node 2 train.py',
        cwd: tmp,
        exitCode,
        signal: null,
      },
      x.files,
    );
    assert.equal(r.error, undefined);
    assert.equal(r.summaryPath, path.join(x.runDir, 'summary.json'));
  }
  const s = JSON.parse(fs.readFileSync(path.join(a.runDir, 'summary.json'), 'utf8')) as Record<string, unknown> & {
    analysis: { figures: { stepTimeNs: number; exposedCommNs: number; warmupSteps: number[] } };
  };
  assert.equal(s.schemaVersion, SUMMARY_SCHEMA_VERSION);
  assert.equal(s.status, 'completed');
  assert.equal(s.worldSize, 128);
  assert.deepEqual(s.source, { kind: 'external', command: 'torchrun --nproc-per-node 2 train.py', cwd: tmp });
  assert.deepEqual(s.steps, [551]);
  assert.deepEqual(s.traceFiles, ['kineto/sampled_rank-0.json.gz', 'kineto/sampled_rank-1.json.gz']);
  // The figures every surface reads (analysis/verify.ts figuresOfSummary) are the analysis' own.
  const f = figuresOfSummary(s as unknown as SummaryRecord);
  assert.equal(f.stepTimeNs, s.analysis.figures.stepTimeNs);
  assert.equal(f.exposedCommNs, s.analysis.figures.exposedCommNs);
  assert.deepEqual(f.warmupSteps, s.analysis.figures.warmupSteps);
  const sb = JSON.parse(fs.readFileSync(path.join(b.runDir, 'summary.json'), 'utf8')) as {
    status: string;
    error: { exitCode: number };
  };
  assert.equal(sb.status, 'failed');
  assert.equal(sb.error.exitCode, 1);
  // The runs view and Compare Runs: step time and figures, then the collectives of B against A.
  const ra = readRun(a.runDir)!,
    rb = readRun(b.runDir)!;
  assert.equal(ra.stepTimeNs, s.analysis.figures.stepTimeNs);
  const md = compareMarkdown([ra, rb]);
  assert.match(md, new RegExp(`\\| step time \\(steady state\\) \\| ${formatDurationNs(ra.stepTimeNs)} \\| `));
  assert.match(md, /\| speed vs ext-a \| baseline \| unchanged \|/);
  assert.doesNotMatch(md, /\| exposed communication per step \| – \|/);
  assert.match(md, /## Collectives: ext-b against ext-a/);
  assert.match(md, /\| allGather \| 1 → 1 \| 16 MiB → 16 MiB \| 42\.62 ms → 1 ms \| −41\.62 ms \| 42\.62 ms → 1 ms \|/);
  // No memory counters in these traces: no peak memory, rather than a made-up 0 B.
  assert.match(md, /\| peak memory \(fullest rank\) \| – \| – \|/);
  assert.match(md, /\| bytes per rank per step \| 593\.7 MiB \| 593\.7 MiB \|/);
});

test('no summary.json when the traces cannot be imported; the reason is returned', async () => {
  const runDir = path.join(tmp, 'runs', 'broken');
  fs.mkdirSync(runDir, { recursive: true });
  // A gzip stream cut after its header.
  const bad = path.join(runDir, 'rank0.json.gz');
  fs.writeFileSync(bad, Buffer.from([0x1f, 0x8b, 0x08, 0x00, 1, 2, 3]));
  const r = await writeExternalSummary(runDir, { runId: 'broken', command: 'x', cwd: tmp, exitCode: 0, signal: null }, [
    bad,
  ]);
  assert.match(r.error ?? '', /rank0\.json\.gz/);
  assert.equal(fs.existsSync(path.join(runDir, 'summary.json')), false);
  // A trace with no ranks in it (a Chrome JSON may end without its closing bracket): nothing to summarise.
  const empty = path.join(runDir, 'empty.json');
  fs.writeFileSync(empty, '{"traceEvents": [');
  const e = await writeExternalSummary(runDir, { runId: 'broken', command: 'x', cwd: tmp, exitCode: 0, signal: null }, [
    empty,
  ]);
  assert.match(e.error ?? '', /no ranks in the traces/);
  assert.equal(fs.existsSync(path.join(runDir, 'summary.json')), false);
  assert.deepEqual(
    await writeExternalSummary(runDir, { runId: 'x', command: 'x', cwd: tmp, exitCode: 0, signal: null }, []),
    {
      error: 'no trace files to import',
    },
  );
});
