/**
 * Configs and command lines written to break the checks: prototype keys, a byte order
 * mark, numbers JSON cannot hold, integers in other bases; names with terminal escapes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, resolveRawConfig, validateConfig } from '../../../runtime/config';
import { LINK_PROFILES } from '../../../runtime/comm';
import { STRATEGY_IDS, validateStrategyConfig } from '../../../runtime/strategies';
import { parseProfileArgs, loadRunConfig } from '../../../cli/commands/profile';
import { safeJson, safeText } from '../../../trace/safeText';
import { inspectCommand } from '../../../cli/commands/inspect';
import { applyConfigChange } from '../../../analysis/verify';
import { PRESETS } from '../../../runtime/config';
import { analyzeCommand } from '../../../cli/commands/analyze';
import { checkConfigText, type SchemaNode } from '../../../extension/configCheck';
import { repoRoot } from '../../helpers/paths';

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

const validate = (text: string) =>
  validateConfig(
    resolveRawConfig({ configText: text, configPath: 'c.json' }),
    Object.keys(LINK_PROFILES),
    STRATEGY_IDS,
    validateStrategyConfig,
  );

test('strategyOptions with "__proto__", "toString" or "constructor" are unknown options, not a TypeError', () => {
  for (const key of ['__proto__', 'toString', 'constructor', 'hasOwnProperty']) {
    const text = `{"preset":"tiny","strategy":"ddp-bucketed","strategyOptions":{"${key}":{"owners":["ddp-bucketed"]}}}`;
    const p = problemsOf(() => validate(text));
    assert.equal(p.length, 1, `${key}: ${p.join(' | ')}`);
    assert.match(p[0], new RegExp(`^strategyOptions\\.${key}: unknown option; 'ddp-bucketed' takes bucketCapMb`));
  }
  assert.match(
    problemsOf(() => validate('{"preset":"tiny","strategyOptions":{"toString":1}}'))[0],
    /strategyOptions\.toString: unknown option/,
  );
});

test('a top-level "__proto__" (or "constructor") in a config is an unknown setting, and does not reach the merged config', () => {
  const p = problemsOf(() => validate('{"preset":"tiny","__proto__":{"steps":3,"worldSize":99}}'));
  assert.deepEqual(
    p.map((x) => x.split(':')[0]),
    ['__proto__'],
  );
  assert.match(p[0], /__proto__: unknown setting; allowed: preset, description/);
  assert.match(
    problemsOf(() => validate('{"preset":"tiny","model":{"constructor":1}}'))[0],
    /^model\.constructor: unknown setting/,
  );
  assert.equal(({} as Record<string, unknown>).steps, undefined, 'Object.prototype untouched');
});

test('--preset constructor / toString / __proto__: one message naming the presets', () => {
  for (const name of ['constructor', 'toString', '__proto__']) {
    const p = problemsOf(() => loadRunConfig(parseProfileArgs(['--preset', name])));
    assert.equal(p.length, 1, `${name}: ${p.join(' | ')}`);
    assert.equal(p[0], `preset: got ${JSON.stringify(name)}, expected one of tiny, mlp-small, gpt-mini`);
  }
  const p = problemsOf(() => validate('{"preset":"constructor"}'));
  assert.deepEqual(p, ['preset: got "constructor", expected one of tiny, mlp-small, gpt-mini']);
});

test('a config with a leading byte order mark is read; another invisible character is named visibly', () => {
  assert.equal(validate('\uFEFF{"preset":"tiny","steps":3}').steps, 3);
  const p = problemsOf(() => validate('\u200B{"preset":"tiny","steps":3}'));
  assert.equal(p.length, 1);
  assert.match(p[0], /not valid JSON .*\\u200B/);
  assert.doesNotMatch(p[0], /\u200B/);
});

test('--link-scale Infinity / NaN say what was given; --steps takes decimal integers only', () => {
  for (const v of ['Infinity', '-Infinity', 'NaN', '1e999']) {
    assert.deepEqual(
      problemsOf(() => parseProfileArgs(['--link-scale', v])),
      [`--link-scale: got "${v}"; expected a finite number >= 1`],
    );
  }
  assert.equal(parseProfileArgs(['--link-scale', '2.5']).overrides.linkScale, 2.5);
  for (const v of ['0x10', '1e3', '0b11', '0o7', ' 7', '', '16.0', '1_000']) {
    assert.deepEqual(
      problemsOf(() => parseProfileArgs(['--steps', v])),
      [`--steps: got ${JSON.stringify(v)}; expected an integer in decimal digits`],
      v,
    );
  }
  assert.equal(parseProfileArgs(['--steps', '16']).overrides.steps, 16);
  assert.equal(parseProfileArgs(['--seed', '0']).overrides.seed, 0);
  // A config file's own Infinity cannot be written in JSON, but a value past the range is shown as a number.
  assert.match(
    problemsOf(() => validate('{"preset":"tiny","linkScale":1e999}'))[0],
    /^linkScale: got Infinity, expected a finite number from 1 to/,
  );
});

test("the editor's config check: prototype keys are unknown settings, a leading byte order mark is accepted", () => {
  const schema = JSON.parse(
    fs.readFileSync(path.join(repoRoot, 'schemas', 'commlens.schema.json'), 'utf8'),
  ) as SchemaNode;
  assert.deepEqual(checkConfigText('\uFEFF{"preset":"tiny"}', schema), []);
  for (const key of ['__proto__', 'toString', 'constructor']) {
    const p = checkConfigText(`{"preset":"tiny","${key}":{"type":"object"}}`, schema);
    assert.equal(p.length, 1, `${key}: ${JSON.stringify(p)}`);
    assert.match(p[0].message, new RegExp(`^${key}: unknown setting`));
  }
});

test('safeText escapes controls, C1 and bidi characters; safeJson keeps JSON meaning', () => {
  assert.equal(safeText('a\x1b]52;c;SGVsbG8=\x07b'), 'a\\x1B]52;c;SGVsbG8=\\x07b');
  assert.equal(safeText('x\u009b31my\u202Ez\nw\tv'), 'x\\x9B31my\\u202Ez\\nw\tv');
  assert.equal(safeText('line1\nline2\x1b[2J', { keepNewlines: true }), 'line1\nline2\\x1B[2J');
  assert.equal(safeText('allreduce · 2 ranks µs'), 'allreduce · 2 ranks µs');
  const j = safeJson(JSON.stringify({ n: 'a\x1b\u009b\u202Eb' }));
  // eslint-disable-next-line no-control-regex -- looking for raw control characters
  assert.doesNotMatch(j, /[\x1b\u009b\u202E]/);
  assert.deepEqual(JSON.parse(j), { n: 'a\x1b\u009b\u202Eb' });
});

test('inspect and analyze print names from a trace with their escape sequences made visible', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-esc-'));
  try {
    const osc52 = '\x1b]52;c;cm0gLXJmIH4=\x07';
    const trace = {
      traceEvents: [
        { ph: 'M', name: 'process_name', pid: 1, args: { name: `evil${osc52}proc\x1b[2J` } },
        { ph: 'M', name: 'thread_name', pid: 1, tid: 1, args: { name: 'stream 7\u009b31m' } },
        { ph: 'X', name: `ncclAllReduce${osc52}`, cat: 'kernel', pid: 1, tid: 1, ts: 0, dur: 10, args: {} },
        { ph: 'X', name: `ProfilerStep#0\x1b[31m`, cat: 'user_annotation', pid: 1, tid: 1, ts: 0, dur: 20, args: {} },
      ],
    };
    const f = path.join(dir, 'evil.json');
    fs.writeFileSync(f, JSON.stringify(trace));
    let seen = '';
    for (const [cmd, args] of [
      [inspectCommand, [f]],
      [inspectCommand, [f, '--json']],
      [analyzeCommand, [f]],
      [analyzeCommand, [f, '--json']],
    ] as const) {
      let out = '';
      let err = '';
      await cmd([...args], { out: (t: string) => (out += t), err: (t: string) => (err += t) });
      const all = out + err;
      assert.doesNotMatch(
        all,
        // eslint-disable-next-line no-control-regex -- looking for raw control characters
        /[\x00-\x08\x0b-\x1f\x7f-\x9f]/,
        `${cmd.name} ${args.join(' ')}: no raw control character:\n${JSON.stringify(all).slice(0, 400)}`,
      );
      seen += all;
    }
    // The collective's name reaches the output (in the report and the JSON), escaped.
    assert.match(seen, /ncclAllReduce(\\x1B|\\u001b)\]52;c;cm0gLXJmIH4=/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a suggestion\'s configChange from summary.json with "__proto__" is refused by the config check, not merged into the prototype', () => {
  const changed = applyConfigChange(
    PRESETS.tiny,
    JSON.parse('{"__proto__":{"steps":99999,"worldSize":64}}') as Record<string, unknown>,
  );
  const p = problemsOf(() => validateConfig(changed, Object.keys(LINK_PROFILES), STRATEGY_IDS, validateStrategyConfig));
  assert.deepEqual(
    p.map((x) => x.split(':')[0]),
    ['__proto__'],
  );
  assert.equal((changed as unknown as Record<string, unknown>).steps, PRESETS.tiny.steps);
});
