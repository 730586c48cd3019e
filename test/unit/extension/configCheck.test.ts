/**
 * Run-config checks against the contributed schema: unknown keys, wrong types and bad
 * JSON are refused with the field, what was given and what is allowed, at the right
 * position in the text.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  checkConfigText,
  parseLocated,
  positionOf,
  locateField,
  type SchemaNode,
} from '../../../extension/configCheck';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
const schema = JSON.parse(fs.readFileSync(path.join(ROOT, 'schemas', 'commlens.schema.json'), 'utf8')) as SchemaNode & {
  properties: Record<string, SchemaNode & { markdownEnumDescriptions?: string[] }>;
};
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

describe('run config check', () => {
  it('accepts a good config, with $schema', () => {
    const text = JSON.stringify(
      {
        $schema: './schema.json',
        preset: 'tiny',
        steps: 4,
        worldSize: 2,
        link: 'nvlink4',
        strategy: 'ddp+fp16',
        model: { kind: 'mlp', batchSize: 16, hiddenDims: [64, 32] },
        optimizer: { kind: 'adam', lr: 0.001 },
      },
      null,
      2,
    );
    assert.deepEqual(checkConfigText(text, schema), []);
  });

  it('names unknown keys at every level, with what is allowed, on the key itself', () => {
    const text = '{\n  "preset": "tiny",\n  "stpes": 4,\n  "model": { "kind": "mlp", "widht": 3 }\n}';
    const problems = checkConfigText(text, schema);
    assert.equal(problems.length, 2);
    assert.match(problems[0].message, /^stpes: unknown setting; allowed here: .*steps/);
    assert.equal(text.slice(problems[0].offset, problems[0].offset + problems[0].length), '"stpes"');
    assert.deepEqual(positionOf(text, problems[0].offset), { line: 2, character: 2 });
    assert.match(problems[1].message, /^model\.widht: unknown setting/);
  });

  it('names wrong types, out-of-range numbers and values outside an enum', () => {
    const text = JSON.stringify({
      steps: '10',
      worldSize: 0,
      link: 'ethernet',
      gpuTiming: 'yes',
      model: { hiddenDims: [64, 1.5] },
      optimizer: { lr: -1 },
    });
    const msgs = checkConfigText(text, schema).map((p) => p.message);
    assert.ok(msgs.includes('steps: got "10" (string), expected an integer'), msgs.join('\n'));
    assert.ok(msgs.includes('worldSize: got 0, expected at least 1'));
    assert.ok(msgs.some((m) => m.startsWith('link: got "ethernet", expected one of "none", "nvlink4"')));
    assert.ok(msgs.includes('gpuTiming: got "yes" (string), expected a boolean'));
    assert.ok(msgs.includes('model.hiddenDims[1]: got 1.5 (number), expected an integer'));
    assert.ok(msgs.includes('optimizer.lr: got -1, expected at least 1e-9'));
    assert.equal(msgs.length, 6);
  });

  it('reports JSON syntax errors with their offset', () => {
    const text = '{\n  "steps": 4,\n}';
    const [p] = checkConfigText(text, schema);
    assert.match(p.message, /not valid JSON: unexpected "}", expected a property name in double quotes at offset 16/);
    assert.equal(p.offset, 16);
    assert.match(checkConfigText('{"steps": 4', schema)[0].message, /unexpected end of file/);
    assert.match(checkConfigText('[1, 2] x', schema)[0].message, /expected the end of the file/);
  });

  it('parses what JSON.parse parses, to the same values', () => {
    const samples = [
      '{"a":[1,-2.5e3,true,false,null,"x\\"y\\u00e9"],"b":{}}',
      '[]',
      '"s"',
      '0',
      '{"nested":{"deep":[{"k":[]}]}}',
    ];
    for (const s of samples) assert.deepEqual(parseLocated(s).value, JSON.parse(s));
  });

  it('locates the fields the runtime names in its refusals', () => {
    const text = '{\n  "model": {\n    "hiddenDims": [8, 0]\n  },\n  "steps": 3\n}';
    const at = locateField(text, 'model.hiddenDims[1]')!;
    assert.equal(text.slice(at.offset, at.offset + at.length), '0');
    const key = locateField(text, 'steps')!;
    assert.equal(text.slice(key.offset, key.offset + key.length), '"steps"');
    assert.equal(locateField(text, 'nothing.here'), undefined);
  });

  it('documents every preset with a one-line description, and the setting offers the same presets', () => {
    const preset = schema.properties.preset;
    assert.ok(Array.isArray(preset.enum) && preset.enum.length >= 2);
    assert.equal(preset.markdownEnumDescriptions?.length, preset.enum.length);
    for (const d of preset.markdownEnumDescriptions!) assert.ok(d.length > 10 && !d.includes('\n'));
    const setting = pkg.contributes.configuration.properties['commlens.defaultPreset'];
    assert.deepEqual(setting.enum, preset.enum);
    const links = schema.properties.link.enum as string[];
    assert.deepEqual(
      pkg.contributes.configuration.properties['commlens.linkProfile'].enum.filter((l: string) => l !== ''),
      links,
    );
  });
});
