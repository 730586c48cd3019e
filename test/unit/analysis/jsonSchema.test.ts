// `analyze --json` prints the whole analysis, versioned, and it fits schemas/analysis.schema.json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { analyzeCommand } from '../../../cli/commands/analyze';
import { ANALYSIS_SCHEMA_VERSION } from '../../../analysis/index';
import { checkConfigText, type SchemaNode } from '../../../extension/configCheck';
import { repoRoot, fixturesDir } from '../../helpers/paths';

const schema = JSON.parse(
  fs.readFileSync(path.join(repoRoot, 'schemas', 'analysis.schema.json'), 'utf8'),
) as SchemaNode & { properties: Record<string, SchemaNode & { enum?: unknown[] }> };

async function json(args: string[]): Promise<string> {
  let out = '',
    err = '';
  // No parse cache: it would be written beside the fixtures (the shared ones are read by other tests).
  const code = await analyzeCommand([...args, '--json', '--no-cache'], {
    out: (t: string) => (out += t),
    err: (t: string) => (err += t),
  });
  assert.equal(code, 0, err);
  return out;
}

test('analyze --json: the whole analysis with its schemaVersion, valid against the schema (GPU and CPU-only traces)', async () => {
  assert.deepEqual(schema.properties.schemaVersion.enum, [ANALYSIS_SCHEMA_VERSION]);
  for (const input of [
    fixturesDir('kineto', 'hta-sampled'),
    path.join(repoRoot, 'test', 'fixtures', 'pytorch', 'plain2'),
    path.join(repoRoot, 'test', 'fixtures', 'pytorch', 'fp16hook2'),
  ]) {
    const text = await json([input]);
    const a = JSON.parse(text) as Record<string, unknown>;
    assert.equal(a.schemaVersion, ANALYSIS_SCHEMA_VERSION);
    assert.ok(Array.isArray(a.ranks) && (a.ranks as unknown[]).length === 2);
    assert.deepEqual(
      checkConfigText(text, schema).map((p) => p.message),
      [],
      input,
    );
  }
});

test('the schema rejects an analysis with a field missing or of the wrong type', async () => {
  const a = JSON.parse(await json([path.join(repoRoot, 'test', 'fixtures', 'pytorch', 'plain2')])) as Record<
    string,
    unknown
  >;
  const noRanks = { ...a };
  delete noRanks.ranks;
  assert.ok(
    checkConfigText(JSON.stringify(noRanks), schema).some((p) => /missing the required field "ranks"/.test(p.message)),
  );
  const badTemporal = JSON.parse(JSON.stringify(a)) as { ranks: { temporal: Record<string, unknown> }[] };
  badTemporal.ranks[0].temporal.idleNs = 'lots';
  assert.ok(checkConfigText(JSON.stringify(badTemporal), schema).some((p) => p.path === 'ranks[0].temporal.idleNs'));
});
