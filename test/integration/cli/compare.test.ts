/**
 * `commlens compare` through the built bundle (dist/cli/commlens.js): the human output a
 * newcomer reads, `--json` through a pipe (valid against schemas/compare.schema.json), its
 * own `--help`, the global usage, and bad input refused with exit code 2 and a message
 * that says what was wrong.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { cliPath, fixturesDir, repoRoot } from '../../helpers/paths';
import { checkConfigText, type SchemaNode } from '../../../extension/configCheck';
import { COMPARE_SCHEMA_VERSION } from '../../../analysis/compare';

const FIX = path.join(repoRoot, 'test', 'fixtures', 'pytorch');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-compare-cli-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function cli(args: string[]): { code: number | null; out: string; err: string } {
  assert.ok(fs.existsSync(cliPath), `the CLI bundle is missing (${cliPath}): run npm run build`);
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The schema with its `$ref`s to #/definitions resolved (the checker reads plain nodes). */
function resolvedSchema(): SchemaNode {
  const raw = JSON.parse(fs.readFileSync(path.join(repoRoot, 'schemas', 'compare.schema.json'), 'utf8')) as {
    definitions: Record<string, unknown>;
  };
  const walk = (n: unknown): unknown => {
    if (Array.isArray(n)) return n.map(walk);
    if (typeof n !== 'object' || n === null) return n;
    const o = n as Record<string, unknown>;
    if (typeof o.$ref === 'string') return walk(raw.definitions[o.$ref.replace('#/definitions/', '')]);
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, walk(v)]));
  };
  return walk(raw) as SchemaNode;
}

test('compare A B: what A and B are, the headline with its direction, then the tables', () => {
  const hta = fixturesDir('kineto', 'hta-sampled');
  const r = cli(['compare', path.join(FIX, 'handler2'), path.join(FIX, 'handler2'), '--run-a', '1', '--run-b', '2']);
  assert.equal(r.code, 0, r.err);
  const lines = r.out.split('\n');
  assert.match(lines[0], /^A {2}.*handler2 run 1 \(PyTorch profiler, 2 ranks; steady-state steps /);
  assert.match(lines[1], /^B {2}.*handler2 run 2/);
  assert.match(r.out, /step time\s+\S+ \S+ → \S+ \S+\s+(\d\.\d\d× faster|\d+\.\d % slower|unchanged)/);
  assert.match(r.out, /Steps: steady-state steps paired by step number/);
  assert.match(r.out, /Collectives per step .*\n\s+kind\s+count A → B/);
  assert.match(r.out, /\n\s+allReduce\s+\d/);
  assert.match(r.out, /Ops and kernels on rank 0, count and total time over the paired steps \(as HTA's trace diff\)/);
  assert.match(r.out, /gloo:all_reduce/);
  // One folder holding two runs: the newest against the one before.
  const one = cli(['compare', path.join(FIX, 'handler2')]);
  assert.equal(one.code, 0, one.err);
  assert.equal(one.out, r.out);
  // The same trace twice: unchanged.
  const same = cli(['compare', hta, hta, '--top', '3']);
  assert.equal(same.code, 0, same.err);
  assert.match(same.out, /step time .* unchanged/);
  assert.match(same.out, /top 3 of \d+ names/);
});

test('compare --json through a pipe: the whole comparison, versioned, valid against schemas/compare.schema.json', () => {
  const hta = fixturesDir('kineto', 'hta-sampled');
  // A pipe, as a script reads it: the document must arrive whole.
  const r = spawnSync(
    '/bin/sh',
    [
      '-c',
      `"${process.execPath}" "${cliPath}" compare "${hta}" "${path.join(FIX, 'plain2')}" --json; echo "exit $?" >&2`,
    ],
    { encoding: 'utf8' },
  );
  // Different world sizes (128 against 2): refused, nothing on stdout.
  assert.match(r.stderr, /different world sizes: A has 128 ranks, B has 2/);
  assert.match(r.stderr, /exit 2/);
  assert.equal(r.stdout, '');
  const p = spawnSync(
    '/bin/sh',
    ['-c', `"${process.execPath}" "${cliPath}" compare "${hta}" "${hta}" --json --top 5 | cat`],
    { encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  assert.equal(p.status, 0, p.stderr);
  const c = JSON.parse(p.stdout) as Record<string, unknown> & { ops: { rows: unknown[] } };
  assert.equal(c.schemaVersion, COMPARE_SCHEMA_VERSION);
  assert.equal(c.ops.rows.length, 5);
  assert.deepEqual(
    checkConfigText(p.stdout, resolvedSchema()).map((x) => `${x.path}: ${x.message}`),
    [],
  );
  // The schema has teeth: a comparison without its steps, or with a count as text, is refused.
  const noSteps = { ...c };
  delete noSteps.steps;
  assert.ok(checkConfigText(JSON.stringify(noSteps), resolvedSchema()).some((x) => /"steps"/.test(x.message)));
  const bad = JSON.parse(p.stdout) as { ops: { rows: { countA: unknown }[] } };
  bad.ops.rows[0].countA = 'many';
  assert.ok(checkConfigText(JSON.stringify(bad), resolvedSchema()).some((x) => /ops\.rows\[0\]\.countA/.test(x.path)));
});

test('compare --help, the global usage, and bad input: exit 2 with what was wrong', () => {
  const h = cli(['compare', '--help']);
  assert.equal(h.code, 0);
  assert.match(h.out, /^usage: commlens compare A B \[--json\] \[--top N\] \[--rank R\]/);
  assert.match(h.out, /schemas\/compare\.schema\.json/);
  const g = cli(['help']);
  assert.match(
    g.out,
    /\n {2}compare A B \[--json\] \[--top N\] \[--rank R\]\n\s+what changed between two runs or traces/,
  );
  assert.match(g.out, /\n {2}--version {11}CommLens' version/);
  for (const flag of ['--version', '-V']) {
    const v = cli([flag]);
    assert.equal(v.code, 0, v.err);
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    assert.equal(v.out, `commlens ${pkg.version} (Node ${process.version})\n`);
  }
  const none = cli(['compare']);
  assert.equal(none.code, 2);
  assert.match(none.err, /expected two jobs, A and B/);
  const missing = cli(['compare', path.join(tmp, 'nope'), path.join(FIX, 'plain2')]);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /nope.*no such file or folder/);
  const empty = path.join(tmp, 'empty');
  fs.mkdirSync(empty);
  fs.writeFileSync(path.join(empty, 'notes.json'), '{"hello": 1}');
  const e = cli(['compare', empty, path.join(FIX, 'plain2')]);
  assert.equal(e.code, 2);
  assert.match(e.err, /holds no trace files/);
  const worlds = cli(['compare', path.join(FIX, 'plain2'), path.join(FIX, 'plain4')]);
  assert.equal(worlds.code, 2);
  assert.match(worlds.err, /different world sizes: A has 2 ranks, B has 4/);
  const rank = cli(['compare', path.join(FIX, 'plain2'), path.join(FIX, 'plain2'), '--rank', '5']);
  assert.equal(rank.code, 2);
  assert.match(rank.err, /--rank 5: A has ranks 0, 1 and B has ranks 0, 1; give a rank both have/);
  const top = cli(['compare', path.join(FIX, 'plain2'), path.join(FIX, 'plain2'), '--top', '0']);
  assert.equal(top.code, 2);
  assert.match(top.err, /--top: got "0"; expected an integer in decimal digits >= 1/);
  const one = cli(['compare', path.join(FIX, 'plain2')]);
  assert.equal(one.code, 2);
  assert.match(one.err, /holds one run .*give two jobs to compare/);
});
