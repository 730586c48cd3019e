import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, PRESETS, TOP_KEYS, resolveRawConfig, validateConfig } from '../../../runtime/config';
import { GPU_PEAK_FLOPS, LINK_PROFILES } from '../../../runtime/comm';
import { STRATEGY_IDS } from '../../../runtime/strategies';
import { repoRoot } from '../../helpers/paths';

const links = ['none', 'eth-10g', 'eth-25g'];
const strategies = ['ddp', 'fp16'];

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

test('every preset validates', () => {
  for (const name of Object.keys(PRESETS)) {
    assert.doesNotThrow(() => validateConfig(resolveRawConfig({ preset: name }), links, strategies), name);
  }
});

test('a config file overrides its preset field by field', () => {
  const raw = resolveRawConfig({
    configText: JSON.stringify({ preset: 'tiny', steps: 9, model: { batchSize: 7 } }),
  }) as { steps: number; model: { batchSize: number; inputDim: number } };
  assert.equal(raw.steps, 9);
  assert.equal(raw.model.batchSize, 7);
  assert.equal(raw.model.inputDim, PRESETS.tiny.model.inputDim, 'untouched fields keep the preset value');
});

test('bad values name the field, the value and what is allowed', () => {
  const p = problemsOf(() =>
    validateConfig(
      { ...(resolveRawConfig({ preset: 'tiny' }) as object), worldSize: 0, link: 'x', strategy: 'ddp+zip' },
      links,
      strategies,
    ),
  );
  assert.ok(
    p.some((m) => /^worldSize: got 0, expected an integer from 1 to 16/.test(m)),
    p.join('\n'),
  );
  assert.ok(
    p.some((m) => /^link: got "x", expected one of none, eth-10g, eth-25g/.test(m)),
    p.join('\n'),
  );
  assert.ok(
    p.some((m) => /^strategy: got "ddp\+zip"/.test(m)),
    p.join('\n'),
  );
});

test('unknown keys and heads that do not divide the width are refused', () => {
  const p = problemsOf(() =>
    validateConfig(
      resolveRawConfig({ preset: 'gpt-mini', configText: JSON.stringify({ stepz: 3, model: { heads: 5 } }) }),
      links,
      strategies,
    ),
  );
  assert.ok(
    p.some((m) => m.startsWith('stepz: unknown setting')),
    p.join('\n'),
  );
  assert.ok(
    p.some((m) => /model\.heads \(5\) must divide model\.dModel \(128\)/.test(m)),
    p.join('\n'),
  );
});

test('broken JSON and unknown presets give clear messages', () => {
  assert.match(
    problemsOf(() => resolveRawConfig({ configText: '{ nope', configPath: 'c.json' }))[0],
    /^c\.json: not valid JSON/,
  );
  assert.match(problemsOf(() => resolveRawConfig({ preset: 'huge' }))[0], /^preset: got "huge", expected one of tiny/);
});

test('the JSON schema the extension contributes knows exactly the settings the runtime accepts', () => {
  const schema = JSON.parse(readFileSync(join(repoRoot, 'schemas', 'commlens.schema.json'), 'utf8')) as {
    properties: Record<string, { enum?: string[]; description?: string; anyOf?: { enum?: string[] }[] }>;
  };
  assert.deepEqual(Object.keys(schema.properties).sort(), [...TOP_KEYS].sort());
  assert.deepEqual([...(schema.properties.link.enum ?? [])].sort(), Object.keys(LINK_PROFILES).sort());
  assert.deepEqual(
    [...(schema.properties.scaleLinkTo.anyOf?.[0].enum ?? [])].sort(),
    Object.keys(GPU_PEAK_FLOPS).sort(),
  );
  for (const id of STRATEGY_IDS)
    assert.ok(schema.properties.strategy.description?.includes(`\`${id}\``), `schema documents strategy ${id}`);
});

test("scaleLinkTo takes a known GPU or a FLOP/s figure, never with linkScale; a file using it drops the preset's fixed factor", () => {
  const base = resolveRawConfig({ preset: 'mlp-small' }) as Record<string, unknown>;
  assert.equal(base.linkScale, 300);
  const ok = validateConfig(
    { ...base, linkScale: undefined, scaleLinkTo: 'a100' },
    Object.keys(LINK_PROFILES),
    STRATEGY_IDS,
  );
  assert.equal(ok.scaleLinkTo, 'a100');
  assert.deepEqual(
    problemsOf(() =>
      validateConfig({ ...base, linkScale: undefined, scaleLinkTo: 2e13 }, Object.keys(LINK_PROFILES), STRATEGY_IDS),
    ),
    [],
  );
  const bad = problemsOf(() =>
    validateConfig({ ...base, linkScale: undefined, scaleLinkTo: 'b200' }, Object.keys(LINK_PROFILES), STRATEGY_IDS),
  );
  assert.match(bad[0], /^scaleLinkTo: got "b200", expected one of h100-sxm, .*a100.* or the target GPU's FLOP\/s/);
  assert.match(
    problemsOf(() => validateConfig({ ...base, scaleLinkTo: 5 }, Object.keys(LINK_PROFILES), STRATEGY_IDS)).join('\n'),
    /scaleLinkTo: got 5,/,
  );
  assert.match(
    problemsOf(() => validateConfig({ ...base, scaleLinkTo: 'a100' }, Object.keys(LINK_PROFILES), STRATEGY_IDS)).join(
      '\n',
    ),
    /scaleLinkTo: cannot be combined with linkScale \(300\)/,
  );
  const fromFile = resolveRawConfig({
    configText: JSON.stringify({ preset: 'mlp-small', scaleLinkTo: 'v100' }),
  }) as Record<string, unknown>;
  assert.equal(fromFile.linkScale, undefined, "the preset's linkScale gives way to the file's scaleLinkTo");
  assert.deepEqual(
    problemsOf(() => validateConfig(fromFile, Object.keys(LINK_PROFILES), STRATEGY_IDS)),
    [],
  );
});
