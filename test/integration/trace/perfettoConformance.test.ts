/**
 * Perfetto conformance: every trace CommLens writes loads in Perfetto's own trace processor
 * (trace_processor_shell, ../shared/tools/perfetto) with no import error, and Perfetto finds
 * in it what CommLens' importer finds (`commlens inspect`'s counts, every slice's name,
 * duration and depth, every flow's ends, the args of a collective).
 *
 * Files: a real `tiny` profile (completed), one killed with SIGKILL after its first step
 * (the supervisor completes its trace), one cancelled with SIGINT, one with ZeRO-3; `commlens convert` of
 * the Perfetto fixtures and of the Kineto fixture pair to .pftrace and to Chrome JSON; the
 * Kineto pair merged into one trace by the folder importer, written both ways; a model
 * with args of every kind, written both ways.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { tmpdir } from 'node:os';
import { cliPath, fixturesDir } from '../../helpers/paths';
import {
  IMPORT_PROBLEMS_SQL,
  queryRows,
  queryTrace,
  traceProcessorOrSkip,
  type Row,
} from '../../helpers/traceProcessor';
import { loadTraceFile } from '../../../trace/load';
import { summarizeTrace } from '../../../trace/summary';
import { importKinetoFolder } from '../../../trace/kineto';
import { writePerfetto } from '../../../trace/perfettoWriter';
import { writeChromeJson } from '../../../trace/chromeJson';
import { convertCommand } from '../../../cli/commands/convert';
import type { Args, ArgValue, TraceModel } from '../../../trace/model';
import { parseEventLine } from '../../../cli/protocol';
import { twoRankModel } from '../../unit/trace/fixtures';

const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' };
const PERFETTO_FIXTURES = fixturesDir('perfetto');
const KINETO_PAIR = ['sampled_rank-0.json.gz', 'sampled_rank-1.json.gz'].map((f) =>
  fixturesDir('kineto', 'hta-sampled', f),
);

/** Runs `commlens profile --preset tiny` and returns its trace path (the run's folder holds one). */
function profile(
  runsDir: string,
  steps: number,
  extraEnv: Record<string, string> = {},
  extraArgs: string[] = [],
): { status: number | null; trace: string; stderr: string } {
  const r = spawnSync(
    process.execPath,
    [cliPath, 'profile', '--preset', 'tiny', '--steps', String(steps), '--runs-dir', runsDir, ...extraArgs],
    { env: { ...env, ...extraEnv }, encoding: 'utf8', timeout: 120_000 },
  );
  const run = readdirSync(runsDir)[0];
  return { status: r.status, trace: join(runsDir, run ?? 'none', 'trace.pftrace'), stderr: r.stderr };
}

/** A tiny profile cancelled with SIGINT once its first step is reported. */
async function cancelledProfile(runsDir: string): Promise<{ code: number | null; trace: string }> {
  const child = spawn(
    process.execPath,
    [cliPath, 'profile', '--preset', 'tiny', '--steps', '500', '--runs-dir', runsDir, '--events'],
    { env },
  );
  let out = '';
  let sent = false;
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    out += d;
    if (!sent && out.split('\n').some((l) => parseEventLine(l)?.kind === 'step')) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  child.stderr.resume();
  const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  assert.ok(sent, `the run never reported a step:\n${out}`);
  return { code, trace: join(runsDir, readdirSync(runsDir)[0], 'trace.pftrace') };
}

async function convert(input: string, output: string): Promise<void> {
  let err = '';
  const code = await convertCommand([input, output], { out: () => undefined, err: (t: string) => (err += t) });
  assert.equal(code, 0, `convert ${input} ${output}: ${err}`);
}

const hexToText = (h: unknown) => Buffer.from(String(h ?? ''), 'hex').toString('utf8');

/**
 * Perfetto's flattening of debug annotations / JSON args: `a.b`, `a[0]`. In a debug
 * annotation's name Perfetto writes '.' as '_' ("est. achieved occupancy %" is
 * "debug.est_ achieved occupancy %"), since '.' separates the levels of its keys.
 */
function flattenArgs(prefix: string, v: ArgValue, out: Map<string, ArgValue>, debug: boolean): void {
  if (Array.isArray(v)) v.forEach((x, i) => flattenArgs(`${prefix}[${i}]`, x, out, debug));
  else if (v !== null && typeof v === 'object')
    for (const [k, x] of Object.entries(v))
      flattenArgs(`${prefix}.${debug ? k.replace(/\./g, '_') : k}`, x, out, debug);
  else if (v !== null) out.set(prefix, v); // Perfetto keeps no null arg (CommLens does)
}

function sameValue(model: ArgValue, perfetto: string | number | null): boolean {
  if (typeof model === 'number') {
    const p = Number(perfetto);
    return p === model || Math.abs(p - model) <= 1e-12 * Math.max(Math.abs(p), Math.abs(model));
  }
  if (typeof model === 'boolean') return String(perfetto) === String(model) || Number(perfetto) === Number(model);
  return String(perfetto) === String(model);
}

interface Checked {
  perfetto: { slices: number; flows: number };
}

/**
 * Loads `file` in Perfetto and in CommLens' importer and asserts they agree: no import
 * problem in `stats`; the counts `commlens inspect` reports; every slice (name, start
 * relative to the first slice, duration, depth, track name); every flow's two ends; the
 * processes (pid and name).
 */
async function checkFile(bin: string, file: string): Promise<{ model: TraceModel; slices: Row[] } & Checked> {
  const model = await loadTraceFile(file);
  const sum = summarizeTrace(model);
  const json = /\.json(\.gz)?$/.test(file);
  const [problems, counts, procs, slices, flows, counters] = queryTrace(
    bin,
    file,
    `${IMPORT_PROBLEMS_SQL};
     select (select count(*) from slice) slices, (select count(*) from flow) flows,
       (select count(*) from counter_track) counterTracks, (select count(*) from counter) counterValues,
       (select count(*) from track) tracks, (select count(*) from thread_track) threadTracks;
     select pid, hex(name) name from process where upid > 0 or name is not null;
     select s.id, hex(s.name) name, s.ts - (select min(ts) from (select ts from slice union all select ts from counter)) rel, s.dur, s.depth,
       hex(coalesce(t.name, (select th.name from thread_track tt join thread th using (utid) where tt.id = s.track_id), '')) track
       from slice s join track t on t.id = s.track_id;
     select slice_out, slice_in from flow;
     select hex(t.name) name, c.ts - (select min(ts) from (select ts from slice union all select ts from counter)) rel, printf('%.17g', c.value) value
       from counter c join counter_track t on t.id = c.track_id;`,
  );
  const where = basename(file);
  assert.deepEqual(problems, [], `${where}: Perfetto's import problems (stats with severity error or data_loss)`);
  const c = counts[0];
  assert.equal(c.slices, sum.slices, `${where}: slices`);
  assert.equal(c.flows, sum.flows, `${where}: flows`);
  assert.equal(c.counterValues, sum.counters.samples, `${where}: counter values`);
  if (json) {
    // Chrome JSON: a thread per slice track, a counter track per counter name; Perfetto makes a track of what has events.
    const sliceTracks = new Set(model.slices.map((s) => s.track)).size;
    const counterTracks = new Set(model.counters.filter((x) => x.tsNs.length > 0).map((x) => x.track)).size;
    assert.equal(c.threadTracks, sliceTracks, `${where}: thread tracks = slice tracks with slices`);
    assert.equal(c.counterTracks, counterTracks, `${where}: counter tracks with values`);
  } else {
    // Protobuf: every track CommLens declared, plus one track per process (its root).
    assert.equal(c.counterTracks, sum.tracks.counter, `${where}: counter tracks`);
    assert.equal(
      c.tracks,
      sum.tracks.slice + sum.tracks.counter + sum.processes.length,
      `${where}: tracks = slice + counter tracks + one per process`,
    );
  }
  const pProcs = procs.map((p) => `${p.pid}:${hexToText(p.name)}`).sort();
  assert.deepEqual(pProcs, model.processes.map((p) => `${p.pid}:${p.name}`).sort(), `${where}: processes (pid:name)`);

  // Every slice, as comparable keys; times from the first slice or counter sample.
  const t0 = Math.min(
    model.slices.reduce((m, s) => Math.min(m, s.startNs), Infinity),
    ...model.counters.map((x) => (x.tsNs.length > 0 ? Math.min(...x.tsNs) : Infinity)),
  );
  const modelKey = (i: number) => {
    const s = model.slices[i];
    return `${model.tracks[s.track].name}|${s.name}|${Math.round(s.startNs - t0)}|${s.durNs}|${s.depth}`;
  };
  const pKeyById = new Map<number, string>();
  // Perfetto's JSON importer names a slice with an empty (or no) name "[No name]"; CommLens keeps it empty.
  const pName = (hex: unknown) => {
    const n = hexToText(hex);
    return json && n === '[No name]' ? '' : n;
  };
  for (const r of slices)
    pKeyById.set(Number(r.id), `${hexToText(r.track)}|${pName(r.name)}|${r.rel}|${r.dur}|${r.depth}`);
  assert.deepEqual(
    [...pKeyById.values()].sort(),
    model.slices.map((_, i) => modelKey(i)).sort(),
    `${where}: slices (track|name|start|dur|depth)`,
  );
  const pFlows = flows.map((f) => `${pKeyById.get(Number(f.slice_out))} -> ${pKeyById.get(Number(f.slice_in))}`).sort();
  assert.deepEqual(
    pFlows,
    model.flows.map((f) => `${modelKey(f.from)} -> ${modelKey(f.to)}`).sort(),
    `${where}: flows (out -> in)`,
  );

  // Every counter value: track name, time (from the first slice or sample), value. Perfetto
  // names a Chrome JSON counter "<name> <arg key>", and the writer's arg key is the unit.
  const byTimeThenValue = (a: [string, number, number], b: [string, number, number]) =>
    a[0].localeCompare(b[0]) || a[1] - b[1] || a[2] - b[2];
  const pCounters = counters
    .map((r) => [hexToText(r.name), Number(r.rel), Number(r.value)] as [string, number, number])
    .sort(byTimeThenValue);
  const mCounters = model.counters
    .flatMap((x) => {
      const tr = model.tracks[x.track];
      const name = json ? `${tr.name} ${tr.unit ?? 'value'}` : tr.name;
      return x.tsNs.map((ts, k) => [name, Math.round(ts - t0), x.values[k]] as [string, number, number]);
    })
    .sort(byTimeThenValue);
  assert.equal(pCounters.length, mCounters.length, `${where}: counter values`);
  pCounters.forEach((p, k) => {
    const m = mCounters[k];
    assert.ok(
      p[0] === m[0] && p[1] === m[1] && sameValue(m[2], p[2]),
      `${where}: counter value ${k}: Perfetto ${JSON.stringify(p)}, CommLens ${JSON.stringify(m)}`,
    );
  });
  return { model, slices, perfetto: { slices: Number(c.slices), flows: Number(c.flows) } };
}

/**
 * One collective: its name, duration, depth, flow ends and args as Perfetto shows them,
 * against the importer's slice.
 */
function checkCollective(bin: string, file: string, model: TraceModel, argPrefix: string, wantArgs: string[]): void {
  const i = model.slices.findIndex(
    (s) => s.category === 'collective' && model.tracks[s.track].pid === model.processes.at(-1)?.pid,
  );
  assert.ok(i >= 0, `${basename(file)}: a collective on the last rank`);
  const s = model.slices[i];
  const t0 = model.slices.reduce((m, x) => Math.min(m, x.startNs), Infinity);
  const rel = Math.round(s.startNs - t0);
  const chosen = `with chosen as (select s.id, s.name, s.dur, s.depth, s.arg_set_id from slice s
       where s.ts - (select min(ts) from slice) = ${rel} and s.name = '${s.name.replace(/'/g, "''")}' and s.category like 'collective%')`;
  const [rows, ends, args] = queryTrace(
    bin,
    file,
    `${chosen} select name, dur, depth from chosen;
     ${chosen} select o.name out_name, o.ts - (select min(ts) from slice) out_rel, n.name in_name, n.ts - (select min(ts) from slice) in_rel
       from flow f join slice o on o.id = f.slice_out join slice n on n.id = f.slice_in
       where f.slice_out in (select id from chosen) or f.slice_in in (select id from chosen);
     ${chosen} select key, display_value from args where arg_set_id = (select arg_set_id from chosen);`,
  );
  const where = `${basename(file)}: ${s.name} at ${rel} ns`;
  assert.deepEqual(rows, [{ name: s.name, dur: s.durNs, depth: s.depth as number }], `${where}: name, duration, depth`);
  const modelEnds = model.flows
    .filter((f) => f.from === i || f.to === i)
    .map((f) => [model.slices[f.from], model.slices[f.to]])
    .map(([o, n]) => ({
      out_name: o.name,
      out_rel: Math.round(o.startNs - t0),
      in_name: n.name,
      in_rel: Math.round(n.startNs - t0),
    }));
  assert.ok(modelEnds.length > 0, `${where}: the collective has a flow`);
  const byKey = (a: Row, b: Row) => JSON.stringify(a).localeCompare(JSON.stringify(b));
  assert.deepEqual([...ends].sort(byKey), modelEnds.sort(byKey), `${where}: flow ends`);
  const flat = new Map<string, ArgValue>();
  flattenArgs(argPrefix, (s.args ?? {}) as Args, flat, argPrefix === 'debug');
  const pArgs = new Map(args.map((a) => [String(a.key), a.display_value]));
  for (const k of wantArgs)
    assert.ok(
      pArgs.has(`${argPrefix}.${k}`),
      `${where}: ${argPrefix}.${k} in Perfetto's args (has ${[...pArgs.keys()].join(', ')})`,
    );
  assert.deepEqual(
    [...pArgs.keys()].filter((k) => k.startsWith(`${argPrefix}.`)).sort(),
    [...flat.keys()].sort(),
    `${where}: arg keys`,
  );
  for (const [k, v] of flat)
    assert.ok(
      sameValue(v, pArgs.get(k) ?? null),
      `${where}: ${k} is ${JSON.stringify(v)} in CommLens, ${JSON.stringify(pArgs.get(k))} in Perfetto`,
    );
}

test("Perfetto's trace processor loads every trace CommLens writes with no error and finds what CommLens' importer finds", async (t: TestContext) => {
  const bin = traceProcessorOrSkip(t);
  if (!bin) return;
  const t0 = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'commlens-perfetto-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  // Real runs: completed, killed with SIGKILL after step 1 (the supervisor completes the trace), cancelled with SIGINT.
  const completed = profile(join(dir, 'completed'), 3);
  assert.equal(completed.status, 0, completed.stderr);
  const killed = profile(join(dir, 'killed'), 4, { COMMLENS_DEBUG_CRASH_AFTER_STEPS: '1:SIGKILL' });
  assert.equal(killed.status, 4, killed.stderr);
  const cancelled = await cancelledProfile(join(dir, 'cancelled'));
  assert.equal(cancelled.code, 130);
  // ZeRO-3: sharded collectives (reduce-scatter, all-gather) and the most flows per step.
  const zero3 = profile(join(dir, 'zero3'), 2, {}, ['--strategy', 'zero3']);
  assert.equal(zero3.status, 0, zero3.stderr);

  await t.test('a completed tiny run: counts, slices, flows; one all-reduce with its flow ends and args', async () => {
    const { model, perfetto } = await checkFile(bin, completed.trace);
    assert.equal(model.meta.info?.runStatus, 'completed');
    assert.ok(perfetto.slices > 0 && perfetto.flows > 0);
    checkCollective(bin, completed.trace, model, 'debug', ['bytes', 'algorithm', 'busbwGBps', 'op', 'seq']);
    // A kernel's shape (M, N, K) is in its args too.
    const kernelArgs = queryRows(
      bin,
      completed.trace,
      "select distinct key from args join slice using (arg_set_id) where slice.category = 'kernel' and key in ('debug.M', 'debug.N', 'debug.K')",
    );
    assert.deepEqual(kernelArgs.map((r) => r.key).sort(), ['debug.K', 'debug.M', 'debug.N']);
    const meta = queryRows(
      bin,
      completed.trace,
      "select hex(str_value) value from metadata where name = 'cr-commlens.run'",
    );
    assert.equal(meta.length, 1, "the run metadata is in Perfetto's metadata table");
    assert.equal(
      (JSON.parse(hexToText(meta[0].value)) as { info: { runId: string } }).info.runId,
      model.meta.info?.runId,
    );
  });

  await t.test(
    'a run killed with SIGKILL: the completed trace of its finished step, its end in the metadata',
    async () => {
      const { model } = await checkFile(bin, killed.trace);
      assert.equal(model.meta.info?.runStatus, 'failed');
      assert.equal(model.meta.info?.exitSignal, 'SIGKILL');
      const meta = queryRows(
        bin,
        killed.trace,
        "select name from metadata where name like 'cr-%commlens.run' order by name",
      );
      assert.equal(meta.length, 2, 'the start and the appended end of the run metadata');
    },
  );

  await t.test('a ZeRO-3 run: reduce-scatter and all-gather collectives', async () => {
    const { model } = await checkFile(bin, zero3.trace);
    const ops = new Set(model.slices.filter((s) => s.category === 'collective').map((s) => s.args?.op));
    assert.ok(ops.has('reduceScatter') && ops.has('allGather'), `collectives: ${[...ops].join(', ')}`);
    checkCollective(bin, zero3.trace, model, 'debug', ['bytes', 'algorithm', 'busbwGBps']);
  });

  await t.test('a run cancelled with SIGINT', async () => {
    const { model } = await checkFile(bin, cancelled.trace);
    assert.equal(model.meta.info?.runStatus, 'cancelled');
  });

  await t.test('the Chrome JSON writer: a run, converted; and back to .pftrace', async () => {
    const json = join(dir, 'completed.json');
    await convert(completed.trace, json);
    const { model } = await checkFile(bin, json);
    checkCollective(bin, json, model, 'args', ['bytes', 'algorithm', 'busbwGBps']);
    const back = join(dir, 'completed-from-json.pftrace');
    await convert(json, back);
    await checkFile(bin, back);
  });

  await t.test('`commlens convert` of the Perfetto fixtures, both ways', async () => {
    const inputs = readdirSync(PERFETTO_FIXTURES).filter((f) => /\.(pftrace|json)$/.test(f));
    assert.ok(inputs.length >= 7, `Perfetto fixtures in ${PERFETTO_FIXTURES}`);
    for (const f of inputs) {
      for (const ext of ['pftrace', 'json']) {
        const out = join(dir, `${f}.${ext}`);
        await convert(join(PERFETTO_FIXTURES, f), out);
        await checkFile(bin, out);
      }
    }
  });

  await t.test('`commlens convert` of the Kineto fixture pair, both ways, and the pair merged', async () => {
    for (const f of KINETO_PAIR) {
      for (const ext of ['pftrace', 'json']) {
        const out = join(dir, `${basename(f)}.${ext}`);
        await convert(f, out);
        const { model } = await checkFile(bin, out);
        checkCollective(bin, out, model, ext === 'json' ? 'args' : 'debug', []);
      }
    }
    const merged = await importKinetoFolder(KINETO_PAIR);
    const pf = join(dir, 'kineto-merged.pftrace');
    writeFileSync(pf, writePerfetto(merged));
    await checkFile(bin, pf);
    const js = join(dir, 'kineto-merged.json');
    writeFileSync(js, writeChromeJson(merged));
    await checkFile(bin, js);
  });

  await t.test(
    'the writers on a model with every kind of arg (nulls, arrays, dicts, a shape, unicode, reals, booleans)',
    async () => {
      const m = twoRankModel();
      for (const sl of m.slices)
        if (sl.category === 'collective')
          sl.args = {
            ...sl.args,
            nested: { list: [1, 2.5, 'x', false], empty: [], none: {} },
            negative: -5,
            note: 'ünïcode ✓, "quoted"',
          };
      const pf = join(dir, 'every-arg.pftrace');
      writeFileSync(pf, writePerfetto(m));
      const a = await checkFile(bin, pf);
      checkCollective(bin, pf, a.model, 'debug', [
        'bytes',
        'algorithm',
        'busbwGBps',
        'shape[0]',
        'shape[1]',
        'nested.list[3]',
        'negative',
      ]);
      const js = join(dir, 'every-arg.json');
      writeFileSync(js, writeChromeJson(m));
      const b = await checkFile(bin, js);
      checkCollective(bin, js, b.model, 'args', [
        'bytes',
        'algorithm',
        'busbwGBps',
        'shape[0]',
        'shape[1]',
        'nested.list[3]',
        'negative',
      ]);
    },
  );

  t.diagnostic(`perfetto conformance: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});
