/**
 * `commlens compare` on CommLens run folders (trace.pftrace beside summary.json): the
 * figures of the runs, collectives whose size changed paired by order, and the steps the
 * analysed window covers (a trace's last step is outside it unless --include-last-step).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compareCommand } from '../../../cli/commands/compare';
import { writePerfetto } from '../../../trace/perfettoWriter';
import type { Comparison } from '../../../analysis/compare';
import { syntheticRun, type SyntheticOptions } from '../../helpers/syntheticRun';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-compare-runs-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A run folder as `commlens profile` leaves it (the parts compare reads). */
function runFolder(id: string, o: SyntheticOptions): string {
  const dir = path.join(tmp, 'runs', id);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'trace.pftrace'), writePerfetto(syntheticRun(o)));
  fs.writeFileSync(path.join(dir, 'summary.json'), JSON.stringify({ schemaVersion: 1, runId: id }));
  return dir;
}

async function compare(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '',
    err = '';
  const code = await compareCommand(args, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

test('two CommLens run folders: half the gradient bytes, the all-reduces paired by order, the figures from the runs', async () => {
  const MiB = 1024 * 1024;
  const base = runFolder('base', { steps: 5, gradBytes: 4 * MiB });
  const half = runFolder('half', { steps: 5, gradBytes: 2 * MiB });
  const r = await compare([base, half, '--json']);
  assert.equal(r.code, 0, r.err);
  const c = JSON.parse(r.out) as Comparison;
  assert.equal(c.a.format, 'commlens');
  assert.equal(c.a.strategy, 'ddp');
  assert.deepEqual([c.figures.bytesPerStep.a, c.figures.bytesPerStep.b], [4 * MiB, 2 * MiB]);
  assert.ok(c.figures.speedup! > 1);
  assert.match(c.figures.direction, /^\d\.\d\d× faster$/);
  assert.deepEqual(
    c.steps.pairs.map((p) => p.a),
    [1, 2, 3, 4],
  );
  // The last step is outside the analysed window: its collectives are not compared, and a note says so.
  assert.equal(c.collectives.steps, 3);
  assert.ok(c.notes.some((n) => /over 3 of the 4 paired steps/.test(n)));
  // Every all-reduce changed size: paired in order, each 4 MiB → 2 MiB.
  assert.deepEqual(c.collectives.alignment, { bySizeAndOrder: 0, byOrder: 3, onlyA: 0, onlyB: 0 });
  const k = c.collectives.kinds[0];
  assert.deepEqual([k.op, k.a!.countPerStep, k.b!.countPerStep], ['allReduce', 1, 1]);
  assert.deepEqual([k.a!.bytesPerStep, k.b!.bytesPerStep], [4 * MiB, 2 * MiB]);
  assert.ok(k.b!.timePerStepNs < k.a!.timePerStepNs);
  assert.ok(
    c.collectives.changed.every((p) => p.alignedBy === 'order' && p.bytesA === 4 * MiB && p.bytesB === 2 * MiB),
  );
  // --include-last-step: all four steps.
  const all = JSON.parse((await compare([base, half, '--json', '--include-last-step'])).out) as Comparison;
  assert.equal(all.collectives.steps, 4);
  assert.equal(all.collectives.alignment.byOrder, 4);
  assert.ok(!all.notes.some((n) => /paired steps: the others/.test(n)));
  // The human text names the runs and says the direction.
  const text = await compare([base, half]);
  assert.match(
    text.out,
    /^A {2}.*runs\/base \(CommLens run, 2 ranks, ddp; steady-state steps 1–4, warm-up step 0 left out\)/,
  );
  assert.match(text.out, /bytes per rank per step\s+4 MiB → 2 MiB\s+−2 MiB \(−50\.0 %\)/);
});
