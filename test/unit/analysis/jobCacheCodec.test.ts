// The job cache's value (analysis/jobCacheCodec.ts): the collective instances travel as bytes of
// their own and are read back the first time they are asked for, in their place, so that the
// cached analysis prints as the one that was cached. In the job's cache entry they lie at its
// end, read only when asked for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deserialize, serialize } from 'node:v8';
import { analysisOfCacheValue, collectiveWaitsOf, jobCacheValue } from '../../../analysis/jobCacheCodec';
import { waitNsByRankAndStep } from '../../../analysis/collectives';
import { markdownReport, type Analysis } from '../../../analysis/index';
import { analyzeKinetoJob } from '../../../analysis/kinetoJobAnalysis';
import { fixturesDir } from '../../helpers/paths';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { jobCacheOf, readJobResult, writeJobResult } from '../../../trace/kinetoJob';
import { entryPath } from '../../../trace/parseCache';
import { FACTS_FILE } from '../../../trace/fileFacts';

/** A small analysis-shaped value: collectives between other members, instances between other collective members. */
function sample(): Analysis {
  return {
    schemaVersion: 1,
    ranks: [{ rank: 0 }, { rank: 1 }],
    collectives: {
      perOp: [{ op: 'allReduce', count: 2 }],
      instances: [
        {
          key: 'default|allReduce|0',
          op: 'allReduce',
          participants: [
            { rank: 0, startNs: 1, waitNs: 0 },
            { rank: 1, startNs: 2, waitNs: NaN },
          ],
          bytes: undefined,
        },
        { key: 'default|allReduce|1', op: 'allReduce', participants: [], step: 3 },
      ],
      waitNsByRank: { '0': 5 },
      unmatched: 0,
    },
    notes: ['n'],
  } as unknown as Analysis;
}

test('a cached analysis reads, prints and compares as the one cached; its instances are read when first asked for', () => {
  const a = sample();
  const back = analysisOfCacheValue(deserialize(serialize(jobCacheValue(a))));
  assert.ok(back);
  const c = back.collectives!;
  // Not read yet: the instances are an accessor where the array was.
  assert.equal(typeof Object.getOwnPropertyDescriptor(c, 'instances')?.get, 'function');
  assert.deepEqual(Object.keys(c), Object.keys(a.collectives!), 'the members keep their order');
  assert.equal(JSON.stringify(back), JSON.stringify(a), 'printed as JSON, the same text');
  // Read: a plain array from then on, equal to the original (NaN and undefined included).
  assert.ok(Array.isArray(Object.getOwnPropertyDescriptor(c, 'instances')?.value));
  assert.deepEqual(back, a);
  assert.equal(c.instances, c.instances, 'read once');
  // The original is untouched by making the value.
  assert.ok(Array.isArray(Object.getOwnPropertyDescriptor(a.collectives!, 'instances')?.value));
});

test('cached instances can be replaced before they are read', () => {
  const back = analysisOfCacheValue(deserialize(serialize(jobCacheValue(sample()))))!;
  back.collectives!.instances = [];
  assert.deepEqual(back.collectives!.instances, []);
  assert.deepEqual(Object.keys(back.collectives!), Object.keys(sample().collectives!));
});

test('an analysis without collectives is kept as it is; a value of another shape is not an analysis', () => {
  const a = { ...sample(), collectives: undefined } as Analysis;
  assert.deepEqual(analysisOfCacheValue(deserialize(serialize(jobCacheValue(a)))), a);
  // An entry of the earlier shape (the analysis itself) or anything else is a miss, not a misread.
  assert.equal(analysisOfCacheValue(sample()), undefined);
  assert.equal(analysisOfCacheValue(undefined), undefined);
  assert.equal(analysisOfCacheValue({ analysis: { ...sample(), collectives: { instances: null } } }), undefined);
});

test("the report of a cached job of many ranks does not read the instances, and is the report of the job's analysis", async () => {
  const pair = [0, 1].map((r) => ({ path: fixturesDir('kineto', 'hta-sampled', `sampled_rank-${r}.json.gz`) }));
  const { analysis } = await analyzeKinetoJob(pair, { cache: false, options: { includeLastStep: false } });
  assert.ok(analysis.collectives && analysis.collectives.instances.length > 0);
  const back = analysisOfCacheValue(deserialize(serialize(jobCacheValue(analysis))))!;
  // rankTableLimit 1: the report summarises ranks as it does for big jobs (stragglers, lateness, slow links).
  const report = markdownReport(back, { rankTableLimit: 1 });
  assert.equal(
    typeof Object.getOwnPropertyDescriptor(back.collectives!, 'instances')?.get,
    'function',
    'the report left the instances unread',
  );
  assert.match(report, /How late the last rank was/);
  assert.equal(report, markdownReport(analysis, { rankTableLimit: 1 }));
});

test("a cached job's collective waits per rank and step are those of its instances, answered without reading them", async () => {
  const pair = [0, 1].map((r) => ({ path: fixturesDir('kineto', 'hta-sampled', `sampled_rank-${r}.json.gz`) }));
  const { analysis } = await analyzeKinetoJob(pair, { cache: false, options: { includeLastStep: false } });
  const expected = waitNsByRankAndStep(analysis.collectives!.instances);
  assert.ok(
    [...expected.values()].some((bySteps) => bySteps.size > 0),
    'the pair has waits in its steps',
  );
  assert.deepEqual(collectiveWaitsOf(analysis), expected, 'an analysis of its own: from its instances');
  const back = analysisOfCacheValue(deserialize(serialize(jobCacheValue(analysis))))!;
  assert.deepEqual(collectiveWaitsOf(back), expected);
  assert.equal(
    typeof Object.getOwnPropertyDescriptor(back.collectives!, 'instances')?.get,
    'function',
    'the instances left unread',
  );
  // Instances put in their place: the waits are theirs from then on.
  back.collectives!.instances = [];
  assert.deepEqual(collectiveWaitsOf(back), new Map());
});

test("a job's cache entry: its instances are read from the entry only when asked for; an entry damaged or replaced since says so, and is dropped", async () => {
  const pair = [0, 1].map((r) => ({ path: fixturesDir('kineto', 'hta-sampled', `sampled_rank-${r}.json.gz`) }));
  const { analysis } = await analyzeKinetoJob(pair, { cache: false, options: { includeLastStep: false } });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-jobentry-'));
  try {
    // A cache folder not made yet (a first analysis): the entry's write makes it, and what was
    // learnt of the files while keying them is kept there too (trace/fileFacts.ts).
    const c = jobCacheOf(pair, { dir: path.join(dir, 'cache'), options: {}, code: 'test' })!;
    const { instances, ...value } = jobCacheValue(analysis);
    assert.equal(writeJobResult(c, value, instances), undefined);
    assert.ok(fs.existsSync(path.join(dir, 'cache', FACTS_FILE)), "the files' facts kept with the first entry");
    const file = entryPath(c.dir, c.key);
    const read = readJobResult(c)!;
    assert.ok(read.apart, 'the instances are apart in the entry');
    const back = analysisOfCacheValue(read.value, read.apart)!;
    assert.equal(typeof Object.getOwnPropertyDescriptor(back.collectives!, 'instances')?.get, 'function');
    assert.deepEqual(collectiveWaitsOf(back), waitNsByRankAndStep(analysis.collectives!.instances));
    assert.deepEqual(
      back.collectives!.instances,
      analysis.collectives!.instances,
      'read from the entry when asked for',
    );
    assert.equal(JSON.stringify(back), JSON.stringify(analysis));

    // Read before the entry's last bytes were damaged: the payload checked, the instances do not.
    const early = analysisOfCacheValue(readJobResult(c)!.value, readJobResult(c)!.apart)!;
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 3] ^= 0xff;
    fs.writeFileSync(file, bytes);
    assert.throws(
      () => early.collectives!.instances,
      /parse cache entry .* damaged since it was read, and is dropped: run again/,
    );
    assert.equal(fs.existsSync(file), false, 'dropped, so that the next run makes it again');
    assert.equal(readJobResult(c), undefined);

    // Read, then the entry replaced by one with other instances: not mistaken for them.
    writeJobResult(c, value, instances);
    const before = analysisOfCacheValue(readJobResult(c)!.value, readJobResult(c)!.apart)!;
    writeJobResult(c, value, serialize([]));
    assert.throws(() => before.collectives!.instances, /replaced/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
