// The reduced Kineto trace (trace/kinetoReduce.ts, `commlens reduce`) analyses to the same per-rank metrics
// and collectives as the original, on the real HTA-sampled pair, in a fraction of the bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fixturesDir } from '../../helpers/paths';
import { importKinetoFolder } from '../../../trace/kineto';
import { scanKinetoFile } from '../../../trace/kinetoScan';
import { reduceKinetoColumns } from '../../../trace/kinetoReduce';
import { analyze } from '../../../analysis/index';
import { reduceCommand } from '../../../cli/commands/reduce';

test('reduced traces analyse to the same per-rank metrics and collectives as the originals', async () => {
  const dir = fixturesDir('kineto', 'hta-sampled');
  const files = [0, 1].map((r) => join(dir, `sampled_rank-${r}.json.gz`));
  const out = mkdtempSync(join(tmpdir(), 'commlens-reduce-'));
  try {
    const reduced: string[] = [];
    for (const [r, f] of files.entries()) {
      const red = reduceKinetoColumns(await scanKinetoFile(f));
      const p = join(out, `rank-${r}.json`);
      writeFileSync(p, red.json);
      reduced.push(p);
      const original = gunzipSync(readFileSync(f)).length;
      assert.ok(red.json.length < 0.6 * original, `reduced to ${red.json.length} of ${original} bytes`);
      assert.ok(red.eventsOut < red.eventsIn);
    }
    const a = analyze(await importKinetoFolder(files));
    const b = analyze(await importKinetoFolder(reduced));
    assert.equal(b.ranks.length, 2);
    for (let i = 0; i < 2; i++) {
      assert.deepEqual(b.ranks[i].temporal, a.ranks[i].temporal);
      assert.deepEqual(b.ranks[i].overlap, a.ranks[i].overlap);
      assert.deepEqual(b.ranks[i].kernelTypeNs, a.ranks[i].kernelTypeNs);
      assert.deepEqual(b.ranks[i].idleByStream, a.ranks[i].idleByStream);
      assert.deepEqual(b.ranks[i].stepsAnalysed, a.ranks[i].stepsAnalysed);
    }
    assert.deepEqual(b.collectives?.perOp, a.collectives?.perOp);
    assert.deepEqual(b.source.worldSize, a.source.worldSize);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('commlens reduce --kineto writes one reduced trace per rank that analyze reads; bad input is exit 2', async () => {
  const out = mkdtempSync(join(tmpdir(), 'commlens-reduce-cmd-'));
  const io = { out: () => undefined, err: (t: string) => void (err += t) };
  let err = '';
  try {
    const dir = fixturesDir('kineto', 'hta-sampled');
    assert.equal(await reduceCommand([dir, '--out', out, '--kineto'], io), 0, err);
    assert.match(err, /wrote 2 reduced rank trace\(s\)/);
    const reduced = ['sampled_rank-0', 'sampled_rank-1'].map((n) => join(out, `${n}.reduced.json.gz`));
    const a = analyze(await importKinetoFolder([0, 1].map((r) => join(dir, `sampled_rank-${r}.json.gz`))));
    const b = analyze(await importKinetoFolder(reduced));
    assert.deepEqual(
      b.ranks.map((r) => r.temporal),
      a.ranks.map((r) => r.temporal),
    );
    const bad = join(out, 'bad.json');
    writeFileSync(bad, '[1, 2, 3]');
    err = '';
    assert.equal(await reduceCommand([bad, '--out', join(out, 'x'), '--kineto'], io), 2);
    assert.match(err, /expected "\{"/);
    assert.equal(await reduceCommand([dir], io), 2);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
