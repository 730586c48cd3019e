/**
 * A mixture-of-experts layout that cannot work is refused before any GPU work, naming the
 * setting and the values that would: experts not divisible by the expert-parallel size,
 * an expert-parallel size that does not divide worldSize, topK above the experts, a
 * capacity factor ≤ 0, more overlap chunks than expert slots, and experts without 'ep'.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PRESETS, ConfigError, validateConfig, type RunConfig } from '../../../runtime/config';
import { LINK_PROFILE_NAMES } from '../../../runtime/comm';
import { STRATEGY_IDS, validateStrategyConfig } from '../../../runtime/strategies';

const gpt = PRESETS['gpt-mini'];
/** gpt-mini (batch 8 × seqLen 32 = 256 tokens per rank) with 4 experts, under 'ep' on 2 ranks unless overridden. */
function moe(over: Omit<Partial<RunConfig>, 'model'> & { model?: Record<string, unknown> } = {}): RunConfig {
  return {
    ...gpt,
    strategy: 'ep',
    ...over,
    model: { ...gpt.model, experts: 4, topK: 2, capacityFactor: 1.25, ...(over.model ?? {}) },
  } as RunConfig;
}

/** Every problem the full validation (config, model, strategy) finds, or [] when it passes. */
function problems(c: RunConfig): string[] {
  try {
    validateConfig(c, [...LINK_PROFILE_NAMES], STRATEGY_IDS, validateStrategyConfig);
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
}

test('a mixture of experts under ep passes: 2 ranks, 4 ranks × ep 2, one rank, overlap chunks', () => {
  assert.deepEqual(problems(moe()), []);
  assert.deepEqual(problems(moe({ strategy: 'ep+ddp', worldSize: 4, strategyOptions: { expertParallelSize: 2 } })), []);
  assert.deepEqual(problems(moe({ worldSize: 1 })), []);
  assert.deepEqual(problems(moe({ strategyOptions: { overlapChunks: 4 } })), []);
});

test('experts not divisible by the expert-parallel size: refused with the sizes that divide both', () => {
  assert.deepEqual(problems(moe({ worldSize: 4, model: { experts: 6 } })), [
    'model.experts 6 is not divisible by the expert-parallel size strategyOptions.expertParallelSize 4; strategyOptions.expertParallelSize must divide 6 (and worldSize 4): 1, 2',
  ]);
});

test('an expert-parallel size that does not divide worldSize: refused with the divisors of worldSize', () => {
  const p = problems(moe({ worldSize: 4, strategyOptions: { expertParallelSize: 3 }, model: { experts: 6 } }));
  assert.deepEqual(p, [
    'strategyOptions.expertParallelSize 3 = 3 does not divide worldSize 4; the product of the model-parallel sizes must divide worldSize (divisors of 4: 1, 2, 4), or set worldSize to a multiple of 3',
  ]);
});

test('topK above the experts and a capacity factor ≤ 0: refused with what is allowed', () => {
  assert.deepEqual(problems(moe({ model: { topK: 5 } })), [
    'model.topK is 5; it must be an integer from 1 to model.experts (4)',
  ]);
  for (const cf of [0, -1]) {
    const p = problems(moe({ model: { capacityFactor: cf } }));
    assert.equal(p.length, 1);
    assert.match(p[0], new RegExp(`^model\\.capacityFactor is ${cf}; it must be a number > 0 .*e\\.g\\. 1\\.25`));
  }
  assert.match(
    problems(moe({ model: { experts: undefined, topK: 2 } })).join('\n'),
    /model\.topK is set but model\.experts is not/,
  );
});

test('more overlap chunks than slots per expert: refused with the range that works', () => {
  // 256 tokens × topK 2 × 1.25 / 4 experts = 160 slots.
  assert.deepEqual(problems(moe({ strategyOptions: { overlapChunks: 200 } })), [
    'strategyOptions.overlapChunks: 200 chunks of 160 slots per expert (⌈capacityFactor 1.25 × 256 tokens per rank × topK 2 / 4 experts⌉); use 1 to 160, or a larger model.capacityFactor or model.batchSize',
  ]);
});

test("experts need 'ep', and 'ep' needs experts and combines with 'ddp' only", () => {
  assert.match(
    problems(moe({ strategy: 'ddp' })).join('\n'),
    /model\.experts: a mixture-of-experts gpt-mini runs with strategy 'ep'/,
  );
  assert.match(
    problems({ ...gpt, strategy: 'ep' }).join('\n'),
    /strategy: 'ep' \(expert parallelism\) spreads the experts .* set model\.kind "gpt-mini" and model\.experts/,
  );
  assert.match(
    problems(moe({ strategy: 'ep+zero1' })).join('\n'),
    /'ep' combines with data parallelism \('ddp'\) only; drop 'zero1'/,
  );
  assert.match(
    problems({ ...PRESETS.tiny, model: { ...PRESETS.tiny.model, experts: 4 } } as RunConfig).join('\n'),
    /model\.experts needs model\.kind 'gpt-mini'/,
  );
});
