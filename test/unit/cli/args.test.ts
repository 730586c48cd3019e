import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, parseDecimalInt, parseFiniteNumber, UsageError, type OptionSpecs } from '../../../cli/args';

const SPECS: OptionSpecs = {
  json: { kind: 'flag' },
  steps: { kind: 'int', min: 1 },
  scale: { kind: 'number', min: 1 },
  link: { kind: 'string', values: ['a', 'b'] },
  dir: { kind: 'string' },
};

test('options by name and with =, positionals in order, -- ends the options', () => {
  const p = parseArgs(['x', '--json', '--steps', '5', '--scale=2.5', 'y', '--', '--json'], SPECS);
  assert.deepEqual(p.positional, ['x', 'y', '--json']);
  assert.equal(p.options.json, true);
  assert.equal(p.options.steps, 5);
  assert.equal(p.options.scale, 2.5);
});

test('the same mistakes are refused with the same words on every command', () => {
  const err = (args: string[]): UsageError => {
    try {
      parseArgs(args, SPECS);
    } catch (e) {
      return e as UsageError;
    }
    return assert.fail(`accepted ${args.join(' ')}`);
  };
  assert.equal(err(['--bogus']).message, "unknown option '--bogus'");
  assert.equal(err(['--bogus']).showUsage, true);
  assert.equal(err(['--dir']).message, '--dir: missing value');
  assert.equal(err(['--dir', '--json']).message, '--dir: missing value');
  assert.equal(err(['--json=1']).message, '--json takes no value');
  assert.equal(err(['--steps', '0x10']).message, '--steps: got "0x10"; expected an integer in decimal digits >= 1');
  assert.equal(err(['--steps', '0x10']).showUsage, false);
  assert.equal(err(['--steps', '0']).message, '--steps: got "0"; expected an integer in decimal digits >= 1');
  assert.equal(err(['--scale', 'Infinity']).message, '--scale: got "Infinity"; expected a finite number >= 1');
  assert.equal(err(['--link', 'c']).message, '--link: got "c"; expected one of a, b');
  assert.equal(err(['-x']).message, "unknown option '-x'");
});

test('a repeated option: the last value counts', () => {
  assert.equal(parseArgs(['--dir', 'a', '--dir', 'b'], SPECS).options.dir, 'b');
});

test('numbers are read strictly', () => {
  for (const bad of ['0x10', '1e3', ' 7', '', '16.0', '1_000']) assert.equal(parseDecimalInt(bad), undefined, bad);
  assert.equal(parseDecimalInt('-3'), -3);
  for (const bad of ['Infinity', 'NaN', '0x1', '', 'abc']) assert.equal(parseFiniteNumber(bad), undefined, bad);
  assert.equal(parseFiniteNumber('2e+13'), 2e13);
});

test('a prototype key is not an option', () => {
  assert.throws(() => parseArgs(['--__proto__', 'x'], SPECS), /unknown option '--__proto__'/);
  assert.throws(() => parseArgs(['--toString'], SPECS), /unknown option '--toString'/);
});
