/**
 * The runs folder: missing folders are created, runs are listed newest first with the
 * figures the view shows, old runs are pruned to the configured count (never a running
 * one), and the comparison table is built from what the folders hold.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  sourceText,
  ensureRunsFolder,
  listRuns,
  pruneRuns,
  readRun,
  writeRunRecord,
  type RunRecord,
} from '../../../extension/runsStore';
import { newRunId } from '../../../trace/runIds';
import { formatDurationNs } from '../../../trace/format';
import { compareMarkdown } from '../../../extension/compare';

const made: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-runs-'));
  made.push(d);
  return d;
}
after(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function makeRun(
  runsDir: string,
  id: string,
  startedAt: string,
  status: RunRecord['status'],
  summary?: Record<string, unknown>,
): string {
  const dir = path.join(runsDir, id);
  writeRunRecord(dir, { runId: id, status, source: { kind: 'preset', preset: 'tiny' }, startedAt, link: 'eth-10g' });
  if (summary) fs.writeFileSync(path.join(dir, 'summary.json'), JSON.stringify(summary));
  if (status === 'done') fs.writeFileSync(path.join(dir, 'trace.pftrace'), Buffer.from([0x0a, 0x00]));
  return dir;
}

describe('runs folder', () => {
  it('creates a missing runs folder, parents included', () => {
    const d = path.join(tmp(), 'a', 'b', 'runs');
    assert.equal(ensureRunsFolder(d), d);
    assert.ok(fs.statSync(d).isDirectory());
    assert.deepEqual(listRuns(path.join(d, 'none')), []);
  });

  it('lists runs newest first with status, step time, link and top suggestion', () => {
    const d = tmp();
    makeRun(d, 'r-old', '2026-11-23T06:00:00Z', 'done', {
      stepTimeNs: 12_500_000,
      suggestions: [{ id: 'fp16', title: 'Compress gradients to fp16' }],
    });
    makeRun(d, 'r-new', '2026-11-23T07:00:00Z', 'failed');
    fs.mkdirSync(path.join(d, 'not-a-run'));
    fs.mkdirSync(path.join(d, '.configs'));
    const runs = listRuns(d);
    assert.deepEqual(
      runs.map((r) => r.runId),
      ['r-new', 'r-old'],
    );
    const old = runs[1];
    assert.equal(old.status, 'done');
    assert.equal(old.stepTimeNs, 12_500_000);
    assert.equal(old.link, 'eth-10g');
    assert.equal(old.topSuggestion, 'Compress gradients to fp16');
    assert.equal(old.tracePath, path.join(d, 'r-old', 'trace.pftrace'));
    assert.equal(runs[0].tracePath, undefined);
  });

  it('reads a runtime-only folder (no record) as a finished run, partial ones as cancelled', () => {
    const d = tmp();
    const dir = path.join(d, 'cli-run');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'trace.pftrace'), 'x');
    fs.writeFileSync(
      path.join(dir, 'summary.json'),
      JSON.stringify({ partial: true, config: { link: 'nvlink4' }, metrics: { stepTimeNs: 5e6 } }),
    );
    const r = readRun(dir)!;
    assert.equal(r.status, 'cancelled');
    assert.equal(r.link, 'nvlink4');
    assert.equal(r.stepTimeNs, 5e6);
    // The CLI's own status in summary.json: a run still training, and one that failed.
    fs.writeFileSync(
      path.join(dir, 'summary.json'),
      JSON.stringify({ status: 'running', config: { link: 'nvlink4' } }),
    );
    assert.equal(readRun(dir)!.status, 'running');
    fs.writeFileSync(
      path.join(dir, 'summary.json'),
      JSON.stringify({ status: 'failed', error: { message: 'x', signal: 'SIGSEGV' } }),
    );
    assert.equal(readRun(dir)!.status, 'failed');
  });

  it('prunes the oldest finished runs beyond the limit and never a running one', () => {
    const d = tmp();
    for (let i = 0; i < 5; i++) makeRun(d, `r${i}`, `2026-11-23T0${i}:00:00Z`, 'done');
    makeRun(d, 'live', '2026-11-22T00:00:00Z', 'running');
    const removed = pruneRuns(d, 2)
      .map((p) => path.basename(p))
      .sort();
    assert.deepEqual(removed, ['r0', 'r1', 'r2']);
    assert.deepEqual(
      listRuns(d).map((r) => r.runId),
      ['r4', 'r3', 'live'],
    );
  });

  it('compares runs side by side with the step-time ratio and the shared figures', () => {
    const d = tmp();
    makeRun(d, 'base', '2026-11-23T06:00:00Z', 'done', {
      stepTimeNs: 20e6,
      strategy: 'ddp',
      metrics: { commFraction: 0.5, overlapPct: 10 },
    });
    makeRun(d, 'fp16', '2026-11-23T07:00:00Z', 'done', {
      stepTimeNs: 15e6,
      strategy: 'ddp+fp16',
      metrics: { commFraction: 0.3, overlapPct: 12 },
    });
    const [b, f] = [readRun(path.join(d, 'base'))!, readRun(path.join(d, 'fp16'))!];
    const md = compareMarkdown([b, f]);
    assert.match(md, /\| step time \(steady state\) \| 20 ms \| 15 ms \|/);
    // A speed-up says its direction (0.75× of the time is 1.33× faster, never a bare "0.75×").
    assert.match(md, /\| speed vs base \| baseline \| 1\.33× faster \|/);
    assert.doesNotMatch(md, /0\.75×/);
    assert.match(md, /\| strategy \| ddp \| ddp\+fp16 \|/);
    assert.match(md, /\| metrics: comm fraction \| 50\.0 % \| 30\.0 % \|/);
    assert.match(md, /\| metrics: overlap \| 10\.0 % \| 12\.0 % \|/);
    assert.doesNotMatch(md, /commFraction|overlapPct/, 'internal field names are not shown');
    assert.throws(() => compareMarkdown([b]), /at least two runs/);
  });

  it('names a run made from a config file by what ran and where the file is, not just "commlens.json"', () => {
    const d = tmp();
    const dir = path.join(d, 'cfg');
    writeRunRecord(dir, {
      runId: 'cfg',
      status: 'done',
      source: { kind: 'config', configPath: '/work/proj-a/commlens.json' },
      startedAt: '2026-11-23T06:00:00Z',
    });
    fs.writeFileSync(
      path.join(dir, 'summary.json'),
      JSON.stringify({ config: { preset: 'mlp-small', strategy: 'ddp-bucketed+fp16' } }),
    );
    assert.equal(sourceText(readRun(dir)!), 'mlp-small · ddp-bucketed+fp16 (proj-a/commlens.json)');
  });

  it('names runs uniquely and formats durations with units', () => {
    const a = newRunId('pytorch', new Date('2026-11-23T07:08:09Z'));
    assert.match(a, /^20261123-070809-pytorch-[0-9a-f]{4}$/);
    assert.match(
      newRunId('mlp-small-ddp-bucketed+fp16', new Date(0), () => 0.5),
      /^19700101-000000-mlp-small-ddp-bucketed_fp16-8000$/,
    );
    assert.notEqual(
      newRunId('x', new Date(0), () => 0.1),
      newRunId('x', new Date(0), () => 0.2),
    );
    assert.equal(formatDurationNs(1.5e9), '1.5 s');
    assert.equal(formatDurationNs(12_345_678), '12.35 ms');
    assert.equal(formatDurationNs(4_200), '4.2 µs');
    assert.equal(formatDurationNs(undefined), '–');
  });
});
