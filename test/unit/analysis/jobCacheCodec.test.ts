// The job cache's value (analysis/jobCacheCodec.ts): the collective instances travel as bytes of
// their own and are read back the first time they are asked for, in their place, so that the
// cached analysis prints as the one that was cached.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deserialize, serialize } from 'node:v8';
import { analysisOfCacheValue, jobCacheValue } from '../../../analysis/jobCacheCodec';
import { markdownReport, type Analysis } from '../../../analysis/index';
import { analyzeKinetoJob } from '../../../analysis/kinetoJobAnalysis';
import { fixturesDir } from '../../helpers/paths';

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
