import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspectCommand } from '../../../cli/commands/inspect';
import { convertCommand } from '../../../cli/commands/convert';
import { writePerfetto } from '../../../trace/perfettoWriter';
import { loadTraceFile } from '../../../trace/load';
import { PERFETTO_FIXTURES, twoRankModel } from './fixtures';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-cmd-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs a command with its output captured. */
async function run(
  fn: (a: string[], io: { out(t: string): void; err(t: string): void }) => Promise<number>,
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await fn(args, { out: (t: string) => (out += t), err: (t: string) => (err += t) });
  return { code, out, err };
}

test('inspect --json reports format, ranks, tracks, slices, flows, counters, steps and collectives', async () => {
  const f = path.join(tmp, 'run.pftrace');
  fs.writeFileSync(f, writePerfetto(twoRankModel()));
  const r = await run(inspectCommand, [f, '--json']);
  assert.equal(r.code, 0, r.err);
  const s = JSON.parse(r.out);
  assert.equal(s.format, 'commlens');
  assert.equal(s.ranks, 2);
  assert.deepEqual(s.tracks, { slice: 6, counter: 2 });
  assert.equal(s.slices, 12);
  assert.equal(s.flows, 1);
  assert.equal(s.steps, 1, 'one step, which each of the two ranks has a slice of');
  assert.deepEqual(s.collectivesByOp, { allReduce: 2 });
  assert.deepEqual(s.counters, { series: 2, samples: 4 });
  assert.deepEqual(s.warnings, []);
});

test('inspect on a folder lists every trace file; the fixtures import without errors', async () => {
  const r = await run(inspectCommand, [PERFETTO_FIXTURES, '--json']);
  assert.equal(r.code, 0, r.err);
  const list = JSON.parse(r.out) as { file: string; flows: number; error?: string }[];
  assert.equal(list.length, 7);
  assert.ok(list.every((x) => !x.error));
  assert.equal(list.find((x) => x.file.endsWith('flow_events_track_event.pftrace'))?.flows, 8);
  const text = await run(inspectCommand, [path.join(PERFETTO_FIXTURES, 'track_event_counters.pftrace')]);
  assert.match(text.out, /format {6}perfetto/);
});

test('convert pftrace -> json -> pftrace keeps the slices and flows', async () => {
  const a = path.join(tmp, 'a.pftrace');
  const b = path.join(tmp, 'b.json');
  const c = path.join(tmp, 'c.pftrace');
  fs.writeFileSync(a, writePerfetto(twoRankModel()));
  assert.equal((await run(convertCommand, [a, b])).code, 0);
  assert.equal((await run(convertCommand, [b, c, '--compress'])).code, 0);
  const [ma, mc] = [await loadTraceFile(a), await loadTraceFile(c)];
  assert.deepEqual(
    mc.slices.map((s) => [s.name, s.startNs, s.durNs]),
    ma.slices.map((s) => [s.name, s.startNs, s.durNs]),
  );
  assert.equal(mc.flows.length, ma.flows.length);
  assert.equal(mc.meta.originNs, ma.meta.originNs);
});

test('bad input exits 2 with a message naming the file', async () => {
  const bad = path.join(tmp, 'bad.json');
  fs.writeFileSync(bad, '{"not":"a trace"}');
  const r = await run(inspectCommand, [bad, '--json']);
  assert.equal(r.code, 2);
  assert.match(JSON.parse(r.out).error, /bad\.json.*traceEvents/);
  const c = await run(convertCommand, [bad, path.join(tmp, 'x.pftrace')]);
  assert.equal(c.code, 2);
  assert.match(c.err, /bad\.json/);
  assert.equal((await run(convertCommand, [bad])).code, 2);
  assert.equal((await run(convertCommand, [bad, path.join(tmp, 'x.txt')])).code, 2);
  assert.equal((await run(inspectCommand, [path.join(tmp, 'missing.pftrace')])).code, 2);
});
