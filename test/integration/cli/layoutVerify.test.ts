/**
 * A layout suggestion verified for real through the built CLI: a tiny gpt-mini run on 2
 * ranks under tensor parallelism (TP 2) on a slowed link, where the advisor's layout model
 * (analysis/replay/layouts.ts) predicts other layouts of the same job; `commlens verify`
 * re-runs the first layout suggestion. Asserted: the mechanics (the change is applied, the
 * re-run has the new layout's process groups and the same global batch, the comparison is
 * written with the prediction beside the measurement), not a timing: predicted against
 * measured is printed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { cliPath } from '../../helpers/paths';
import type { Analysis } from '../../../analysis/index';
import type { Comparison } from '../../../analysis/verify';

const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' };

interface Summary {
  runId: string;
  config: { strategy: string; strategyOptions?: Record<string, unknown>; model: { batchSize: number } };
  analysis: Analysis;
}

/** The process groups the run's collectives went over ("tp group 0 (ranks 0,1)", "world"). */
const groupsOf = (s: Summary): string[] => [...new Set(s.analysis.collectives?.instances.map((i) => i.group) ?? [])];

test('a layout suggestion of a TP 2 gpt-mini run re-runs through verify with the new layout, and the comparison is written', () => {
  const runsDir = mkdtempSync(join(tmpdir(), 'commlens-layout-'));
  try {
    const config = {
      preset: 'gpt-mini',
      worldSize: 2,
      steps: 6,
      strategy: 'tp',
      strategyOptions: { tensorParallelSize: 2 },
      // Slowed 100×: each of TP's 8 all-reduces per step pays the link's latency.
      link: 'eth-100g',
      linkScale: 100,
      model: { kind: 'gpt-mini', batchSize: 4, layers: 2, heads: 2, dModel: 32, seqLen: 8, vocab: 16, task: 'copy' },
    };
    const configPath = join(runsDir, 'tp.json');
    writeFileSync(configPath, JSON.stringify(config));
    const p = spawnSync(
      process.execPath,
      [cliPath, 'profile', '--config', configPath, '--runs-dir', join(runsDir, 'runs')],
      {
        env,
        encoding: 'utf8',
        timeout: 300_000,
      },
    );
    assert.equal(p.status, 0, `profile exit ${p.status}\n${p.stdout}\n${p.stderr}`);
    const baseDir = join(runsDir, 'runs', readdirSync(join(runsDir, 'runs'))[0]);
    const base = JSON.parse(readFileSync(join(baseDir, 'summary.json'), 'utf8')) as Summary;
    assert.deepEqual(groupsOf(base), ['tp group 0 (ranks 0,1)']);
    const layouts = base.analysis.suggestions.filter((s) => s.kind === 'layout');
    assert.ok(
      layouts.length > 0,
      `no layout suggestion; suggestions: ${base.analysis.suggestions.map((s) => s.title).join(' | ')}`,
    );
    const pick = layouts[0];
    console.log(`suggested: ${pick.title}\n  ${pick.evidence.text}`);
    // Never the run's own layout.
    const change = pick.configChange as {
      strategy: string;
      strategyOptions?: Record<string, unknown>;
      model: { batchSize: number };
    };
    assert.ok(
      !(
        change.strategy === 'tp' &&
        change.strategyOptions?.tensorParallelSize === 2 &&
        !change.strategyOptions.sequenceParallel
      ),
      `suggested the run's own layout: ${JSON.stringify(change)}`,
    );
    const v = spawnSync(
      process.execPath,
      [cliPath, 'verify', baseDir, pick.id, '--max-rounds', '1', '--reuse-baseline'],
      { env, encoding: 'utf8', timeout: 300_000 },
    );
    assert.equal(v.status, 0, `verify exit ${v.status}\n${v.stdout}\n${v.stderr}`);
    const dirs = readdirSync(join(runsDir, 'runs')).map((d) => join(runsDir, 'runs', d));
    const verifyDir = dirs.find((d) => existsSync(join(d, 'comparison.json')));
    assert.ok(verifyDir, 'comparison.json in the re-run');
    const re = JSON.parse(readFileSync(join(verifyDir, 'summary.json'), 'utf8')) as Summary;
    // The change applied: the new strategy with exactly its own options, the batch per replica that keeps 4 sequences per step.
    assert.equal(re.config.strategy, change.strategy);
    assert.deepEqual(re.config.strategyOptions ?? {}, change.strategyOptions ?? {});
    assert.equal(re.config.model.batchSize, change.model.batchSize);
    const modelParallel =
      change.strategy === 'pp'
        ? Number(change.strategyOptions?.pipelineParallelSize)
        : change.strategy === 'ulysses'
          ? Number(change.strategyOptions?.sequenceParallelSize)
          : change.strategy === 'tp'
            ? Number(change.strategyOptions?.tensorParallelSize)
            : 1;
    assert.equal((re.config.model.batchSize * 2) / modelParallel, 4);
    // The re-run has the new layout's process groups, not TP 2's.
    const groups = groupsOf(re);
    const expected: Record<string, RegExp> = {
      ddp: /^world$|^dp group/,
      pp: /^pp group/,
      ulysses: /^cp group|^world$/,
      tp: /^tp group/,
    };
    assert.ok(
      groups.length > 0 && groups.every((g) => expected[change.strategy]?.test(g) || /^world$|^dp group/.test(g)),
      `re-run groups: ${groups.join(', ')}`,
    );
    if (change.strategy !== 'tp')
      assert.ok(!groups.some((g) => g.startsWith('tp group')), `re-run groups: ${groups.join(', ')}`);
    // The comparison: the suggestion's prediction beside what was measured.
    const cmp = JSON.parse(readFileSync(join(verifyDir, 'comparison.json'), 'utf8')) as Comparison;
    assert.equal(cmp.suggestion.id, pick.id);
    assert.deepEqual(cmp.suggestion.configChange, pick.configChange);
    assert.equal(cmp.predicted.stepTimeNs, pick.predicted.stepTimeNs);
    assert.equal(cmp.predicted.peakMemoryBytes, pick.predicted.peakMemoryBytes);
    assert.ok(cmp.measured.stepTimeNs > 0);
    assert.match(v.stdout, /step time\s+\S+ \S+\s+\S+ \S+\s+\S+ \S+/);
    console.log(
      `predicted ${(pick.predicted.stepTimeNs / 1e6).toFixed(2)} ms/step, ${((pick.predicted.peakMemoryBytes ?? 0) / 1024).toFixed(0)} KiB; measured ${(cmp.measured.stepTimeNs / 1e6).toFixed(2)} ms/step, ${((cmp.measured.peakMemoryBytesPerRank ?? 0) / 1024).toFixed(0)} KiB (baseline ${(cmp.baseline.stepTimeNs / 1e6).toFixed(2)} ms); verdict: ${cmp.verdict}`,
    );
  } finally {
    rmSync(runsDir, { recursive: true, force: true });
  }
});
