// A rank digested in its worker keeps the runtime calls that launched GPU work as a launch table,
// not as slices (trace/kinetoRank.ts launchTable): about half a GPU rank's slices are not made.
// The digest, the pruned model and the slices' origins must be those of the rank reduced with
// every launch as a slice: on the real fixture ranks, on one whose earliest event is such a
// launch (it sets the origin), one whose launch carries a name the job settings look for, and one
// where two runtime calls share a correlation (all then stay slices).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fixturesDir } from '../../helpers/paths';
import { heldColumnsOf, reduceHeld, type RankRequest } from '../../../trace/kinetoScanService';
import { digestReducedRank } from '../../../analysis/rankDigest';
import { NAME_SIGNS } from '../../../analysis/jobSettings';

const fixture = (r: number) => path.join(fixturesDir('kineto', 'hta-sampled'), `sampled_rank-${r}.json.gz`);
const plain = (v: unknown) =>
  JSON.stringify(v, (_k, x: unknown) =>
    x instanceof Map ? [...x] : ArrayBuffer.isView(x) ? Array.from(x as Float64Array) : x,
  );

async function reduceBoth(file: string) {
  const req: RankRequest = { kind: 'rank', index: 0, path: file, rank: 1 };
  const out = [];
  for (const launchTable of [false, true]) {
    const reduced = reduceHeld(await heldColumnsOf(file), req, true, launchTable);
    const slices = reduced.model.slices.length;
    const launches = reduced.launches;
    const d = digestReducedRank({ includeLastStep: false, keptSteps: 2 }, reduced);
    out.push({ slices, launches, d, eventsKept: reduced.eventsKept });
  }
  const [whole, table] = out;
  assert.equal(whole.launches, undefined, 'without the option there is no table');
  assert.ok(table.launches, 'with the option there is a table');
  assert.equal(plain(table.d.digest), plain(whole.d.digest), 'the digest');
  assert.equal(plain(table.d.model), plain(whole.d.model), 'the pruned model');
  assert.deepEqual([...table.d.sliceOrigin], [...whole.d.sliceOrigin], "the slices' origins");
  assert.equal(table.eventsKept, whole.eventsKept, 'events kept (launch times included)');
  assert.equal(
    table.slices + table.launches.correlation.length,
    whole.slices,
    'each launch is either a slice or a row of the table',
  );
  return { whole, table };
}

interface Ev {
  ph?: string;
  cat?: string;
  name?: string;
  ts?: number;
  args?: Record<string, unknown>;
}

/** The fixture rank's JSON with `edit` applied to its events, written to a temporary file. */
function edited(name: string, edit: (events: Ev[], launches: Ev[]) => void): string {
  const json = JSON.parse(gunzipSync(fs.readFileSync(fixture(1))).toString('utf8')) as { traceEvents: Ev[] };
  const kernels = new Set(
    json.traceEvents.filter((e) => e.ph === 'X' && e.cat === 'kernel').map((e) => e.args?.correlation),
  );
  // Runtime calls that launched a kernel, in file order, past each thread's first event.
  const launches = json.traceEvents
    .filter((e) => e.ph === 'X' && e.cat === 'cuda_runtime' && kernels.has(e.args?.correlation))
    .slice(50);
  edit(json.traceEvents, launches);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'launch-table-'));
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(json));
  return file;
}

test('the fixture ranks digest the same with their launches as a table, with about half the slices', async () => {
  for (const r of [0, 1]) {
    const { whole, table } = await reduceBoth(fixture(r));
    assert.ok(
      table.launches!.correlation.length > 0.4 * whole.slices,
      `${table.launches!.correlation.length} launches in the table of ${whole.slices} slices`,
    );
    assert.equal(whole.d.digest?.hasLaunchTimes, true);
  }
});

test("a launch that is the rank's earliest event still sets the origin; a launch's name still counts for the job settings", async () => {
  const moe = NAME_SIGNS.findIndex((re) => re.test('router'));
  assert.ok(moe >= 0);
  let moved = NaN;
  const file = edited('earliest', (events, launches) => {
    const first = Math.min(...events.filter((e) => e.ph === 'X' && typeof e.ts === 'number').map((e) => e.ts!));
    launches[10].ts = moved = first - 1234.5;
    launches[20].name = 'cudaLaunchKernel (router)';
  });
  const { whole, table } = await reduceBoth(file);
  assert.ok(table.launches!.names.includes('cudaLaunchKernel (router)'));
  assert.ok(table.launches!.correlation.length > 0);
  assert.equal(whole.d.digest!.names[moe], true, 'the name sign is found');
  assert.equal(table.d.digest!.names[moe], true, 'the name sign is found from the table');
  // The origin is the moved launch's start, rounded up to a whole µs, in both.
  const origin = String(Math.ceil(moved) * 1000);
  assert.equal(whole.d.model.meta.originNs, origin);
  assert.equal(table.d.model.meta.originNs, origin);
});

test('two runtime calls sharing a correlation: every launch stays a slice, the same digest', async () => {
  const file = edited('shared', (_events, launches) => {
    launches[30].args = { ...launches[30].args, correlation: launches[5].args!.correlation };
  });
  const { whole, table } = await reduceBoth(file);
  assert.equal(table.launches!.correlation.length, 0);
  assert.equal(table.slices, whole.slices);
});
