/**
 * Differential test of Compare's per-name table against Holistic Trace Analysis' own trace
 * diff (../shared/oracles/hta: TraceDiff.compare_traces, counts and total durations per
 * name, CPU ops and GPU kernels together), on the HTA pair against itself and against a
 * copy with known changes (compareFixtures.ts), per rank, over the step both analyse.
 *
 * Needs Debian's python3 with pandas, plotly, networkx and pydot (scripts/setup.sh
 * installs them). Without them the test is skipped locally and FAILS when CI is set.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { discoverTraces } from '../../../trace/discover';
import { loadRun } from '../../../trace/load';
import { analyze } from '../../../analysis/index';
import { compareJobs, type CompareInput } from '../../../analysis/compare';
import { sharedDir } from '../../helpers/paths';
import { skipUnlessPresent } from '../../helpers/require';
import { mutateHtaPair } from './compareFixtures';

const HTA_DIR = path.join(sharedDir, 'oracles', 'hta');
const PYTHON = '/usr/bin/python3';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-compare-hta-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function htaMissing(): string | false {
  if (!fs.existsSync(path.join(HTA_DIR, 'hta', 'trace_diff.py')))
    return `HTA is not at ${HTA_DIR} (../shared/oracles/hta)`;
  const r = spawnSync(PYTHON, ['-c', 'import pandas, plotly, networkx, pydot'], { encoding: 'utf8' });
  if (r.status !== 0)
    return `${PYTHON} lacks pandas/plotly/networkx/pydot (apt-get install -y python3-pandas python3-plotly python3-networkx python3-pydot)`;
  return false;
}

/**
 * HTA's TraceDiff.compare_traces on one rank and iteration, for (A, A) and (A, B) on each rank,
 * in one Python process (each trace loaded once): diffs[pair][rank] = {name: [countA, countB, µsA, µsB]}.
 */
function htaDiffs(
  dirA: string,
  dirB: string,
  ranks: number[],
  iteration: number,
): Record<string, Record<string, number[]>>[] {
  const script = `
import json, sys, logging, contextlib, io
sys.path.insert(0, ${JSON.stringify(HTA_DIR)})
logging.disable(logging.CRITICAL)
from hta.trace_diff import TraceDiff, LabeledTrace
out = []
with contextlib.redirect_stdout(io.StringIO()):
    a = LabeledTrace(label="A", trace_dir=${JSON.stringify(dirA)})
    b = LabeledTrace(label="B", trace_dir=${JSON.stringify(dirB)})
    a2 = LabeledTrace(label="B", t=a.t)
    for x, y in [(a, a2), (a, b)]:
        per = {}
        for r in ${JSON.stringify(ranks)}:
            df = TraceDiff.compare_traces(x, y, control_rank=r, test_rank=r, control_iteration=[${iteration}], test_iteration=[${iteration}])
            per[str(r)] = {str(n): [float(v["A_counts"]), float(v["B_counts"]), float(v["A_total_duration"]), float(v["B_total_duration"])] for n, v in df.iterrows()}
        out.append(per)
print(json.dumps(out))
`;
  const r = spawnSync(PYTHON, ['-c', script], { encoding: 'utf8', timeout: 300_000, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `HTA failed: ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, Record<string, number[]>>[];
}

async function job(dir: string): Promise<CompareInput> {
  const model = await loadRun(discoverTraces([dir]).chosen);
  return { label: dir, model, analysis: analyze(model) };
}

const missing = htaMissing();

test(
  "the per-name table equals HTA's TraceDiff.compare_traces (counts and total durations), per rank",
  { skip: skipUnlessPresent(missing) },
  async () => {
    const m = mutateHtaPair(tmp);
    const A = await job(m.dirA),
      B = await job(m.dirB);
    const diffs = htaDiffs(m.dirA, m.dirB, [0, 1], 551);
    for (const [i, [x, y, what]] of (
      [
        [A, A, 'the pair against itself'],
        [A, B, 'the pair against the changed copy'],
      ] as const
    ).entries()) {
      for (const rank of [0, 1]) {
        const c = compareJobs(x, y, { rank });
        assert.deepEqual(
          c.steps.pairs.map((p) => [p.a, p.b]),
          [[551, 551]],
        );
        const hta = diffs[i][String(rank)];
        const ours = new Map(c.ops!.rows.map((r) => [r.name, r]));
        assert.equal(ours.size, Object.keys(hta).length, `${what}, rank ${rank}: the same names`);
        for (const [name, [ca, cb, da, db]] of Object.entries(hta)) {
          const r = ours.get(name);
          assert.ok(r, `${what}, rank ${rank}: HTA has ${name}`);
          assert.deepEqual(
            [r.countA, r.countB, r.totalNsA, r.totalNsB],
            [ca, cb, da * 1000, db * 1000],
            `${what}, rank ${rank}: ${name}`,
          );
        }
      }
    }
  },
);
