import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { perfettoSql, TRACE_PROCESSOR_ENV } from '../../../cli/perfettoSql';
import { writePerfetto } from '../../../trace/perfettoWriter';
import { inspectCommand } from '../../../cli/commands/inspect';
import { queryRows, traceProcessorOrSkip } from '../../helpers/traceProcessor';
import { toolsRequired } from '../../helpers/require';
import { twoRankModel } from '../trace/fixtures';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-sql-test-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const trace = path.join(tmp, 't.pftrace');
fs.writeFileSync(trace, writePerfetto(twoRankModel()));

function capture() {
  const io = {
    stdout: '',
    stderr: '',
    out: (t: string) => void (io.stdout += t),
    err: (t: string) => void (io.stderr += t),
  };
  return io;
}

test('--perfetto-sql without the binary: exit 1 and where it looked, what to do', () => {
  const io = capture();
  assert.equal(perfettoSql([trace], 'select 1', io, { PATH: tmp }), 1);
  assert.match(
    io.stderr,
    /needs Perfetto's trace processor.*trace_processor_shell or trace_processor on PATH.*COMMLENS_TRACE_PROCESSOR \(unset\).*every other command works without it/,
  );
  const io2 = capture();
  assert.equal(perfettoSql([trace], 'select 1', io2, { [TRACE_PROCESSOR_ENV]: path.join(tmp, 'nope') }), 1);
  assert.match(io2.stderr, /COMMLENS_TRACE_PROCESSOR=.*nope \(not an executable file\)/);
});

test("inspect --perfetto-sql: the query's CSV; a query Perfetto refuses is exit 2 with its message; no query is usage", async (t) => {
  const bin = traceProcessorOrSkip(t);
  if (!bin) return;
  const env = { ...process.env, [TRACE_PROCESSOR_ENV]: bin };
  const io = capture();
  assert.equal(perfettoSql([trace], 'select count(*) n from slice', io, env), 0, io.stderr);
  assert.equal(io.stdout, `"n"\n${twoRankModel().slices.length}\n`);
  const bad = capture();
  assert.equal(perfettoSql([trace], 'select nope from slice', bad, env), 2);
  assert.match(bad.stderr, /t\.pftrace: Perfetto's trace processor failed.*\n[\s\S]*no such column: nope/);
  assert.doesNotMatch(bad.stderr, /Loading trace/);
  const usage = capture();
  assert.equal(await inspectCommand([trace, '--perfetto-sql'], usage), 2);
  assert.match(usage.stderr, /usage: commlens inspect/);
});

test('the test helper: CSV as the shell prints it (quotes and commas inside strings, reals, NULL); CI or COMMLENS_REQUIRE_TOOLS make a missing tool a failure', (t) => {
  assert.equal(toolsRequired({}), false);
  assert.equal(toolsRequired({ CI: 'true' }), true);
  assert.equal(toolsRequired({ CI: '' }), false);
  assert.equal(toolsRequired({ COMMLENS_REQUIRE_TOOLS: '1' }), true);
  const bin = traceProcessorOrSkip(t);
  if (!bin) return;
  assert.deepEqual(queryRows(bin, trace, `select 'a,b "c"' s, 1.5 r, 7 i, null z`), [
    { s: 'a,b "c"', r: 1.5, i: 7, z: null },
  ]);
  assert.throws(() => queryRows(bin, trace, `select 'x",y' s, 1 i`), /a string value holds/);
});
