/**
 * The benchmarks' own rules, without running them: bench:strategies' settling rule (when a row
 * stops early) and bench:advisor's re-run of a suggestion that changes the strategy (a layout).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { settled } from '../../../bench/strategies';
import { presetConfig, rerunConfig, strategyChange } from '../../../bench/advisor';
import type { RunConfig } from '../../../runtime/config';

const ms = (xs: number[]) => xs.map((x) => x * 1e6);

test('a row settles once its last k steady steps lie within x % of their median', () => {
  // Step 0 is warm-up (always, and slow); then 3 steps within 10 %: settled.
  assert.equal(settled(ms([5000, 100, 104, 98]), 3, 10), true);
  // Only 2 steady steps: not yet.
  assert.equal(settled(ms([5000, 100, 104]), 3, 10), false);
  // A spread of 20 % of the median: not settled at 10 %, settled at 25 %.
  assert.equal(settled(ms([5000, 100, 120, 100]), 3, 10), false);
  assert.equal(settled(ms([5000, 100, 120, 100]), 3, 25), true);
  // The strategy's own warm-up (e.g. 1-bit Adam's full-precision steps) is not counted.
  assert.equal(settled(ms([5000, 300, 100, 100, 101]), 3, 10, undefined, 2), true);
  assert.equal(settled(ms([5000, 100, 100, 101]), 3, 10, undefined, 2), false);
  // With a synchronisation every 2 steps the samples are whole periods' means.
  assert.equal(settled(ms([5000, 50, 150, 60, 140, 55, 145]), 3, 10, 2), true);
  assert.equal(settled(ms([5000, 50, 150, 60, 140]), 3, 10, 2), false);
});

test('bench:advisor re-runs a layout suggestion with its own options and names the strategy change', () => {
  const base = presetConfig('gpt-mini@4', 6);
  assert.equal(base.worldSize, 4);
  const tp = rerunConfig(base, { strategy: 'tp', strategyOptions: { tensorParallelSize: 2 } });
  assert.ok(typeof tp !== 'string', typeof tp === 'string' ? tp : '');
  assert.equal(tp.strategy, 'tp');
  assert.deepEqual({ ...tp.strategyOptions }, { tensorParallelSize: 2 });
  assert.deepEqual(strategyChange(base, tp), { strategy_change: 'ddp → tp (tensorParallelSize 2)' });
  // From a pipeline run, the pipeline's options do not follow the change to tp.
  const pp: RunConfig = {
    ...base,
    strategy: 'pp',
    strategyOptions: { pipelineParallelSize: 2, microBatches: 4, schedule: 'gpipe' },
  };
  const fromPp = rerunConfig(pp, { strategy: 'tp', strategyOptions: { tensorParallelSize: 2 } });
  assert.ok(typeof fromPp !== 'string', typeof fromPp === 'string' ? fromPp : '');
  assert.deepEqual({ ...fromPp.strategyOptions }, { tensorParallelSize: 2 });
  // Within one strategy the options merge (1F1B instead of GPipe keeps the micro-batches).
  const f1b = rerunConfig(pp, { strategyOptions: { schedule: '1f1b' } });
  assert.ok(typeof f1b !== 'string', typeof f1b === 'string' ? f1b : '');
  assert.deepEqual({ ...f1b.strategyOptions }, { pipelineParallelSize: 2, microBatches: 4, schedule: '1f1b' });
  assert.deepEqual(strategyChange(pp, f1b), {});
  // A change the runtime refuses comes back as the reason.
  const bad = rerunConfig(base, { strategy: 'tp', strategyOptions: { tensorParallelSize: 3 } });
  assert.equal(typeof bad, 'string');
  assert.match(String(bad), /tensorParallelSize/);
  assert.throws(() => presetConfig('gpt-mini@x', 6), /NAME@RANKS/);
});
