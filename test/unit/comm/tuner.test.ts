import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { chooseAlgorithm, estimateNs, groupLink } from '../../../runtime/comm/tuner';
import { LINK_PROFILES } from '../../../runtime/comm/profiles';
import { runCalls } from './helpers';
import { createWorld } from '../../../runtime/comm/world';

const MiB = 1 << 20;
const link = (name: string) => groupLink([LINK_PROFILES[name]]);

describe('tuner', () => {
  it('small all-reduces go to recursive doubling, large ones to the ring', () => {
    for (const name of ['none', 'eth-10g', 'ib-hdr']) {
      for (const n of [2, 4, 8]) {
        assert.equal(
          chooseAlgorithm('allReduce', n, 64, link(name), 256 * 1024, ['two-shot']),
          'recursive-doubling',
          `${name} n=${n} 64 B`,
        );
        assert.equal(
          chooseAlgorithm('allReduce', n, 64 * MiB, link(name), 256 * 1024, ['two-shot']),
          'ring',
          `${name} n=${n} 64 MiB`,
        );
      }
    }
  });

  it('registered buffers on raw shared memory: two-shot for large all-reduces, recursive doubling for tiny ones', () => {
    assert.equal(chooseAlgorithm('allReduce', 2, 64 * MiB, link('none'), 256 * 1024), 'two-shot');
    assert.equal(chooseAlgorithm('allReduce', 8, 16 * MiB, link('none'), 256 * 1024), 'two-shot');
    assert.equal(chooseAlgorithm('allReduce', 4, 16, link('none'), 256 * 1024), 'recursive-doubling');
  });

  it('broadcast: tree for small, chain for large; latency grows the crossover', () => {
    assert.equal(chooseAlgorithm('broadcast', 8, 256, link('none'), 256 * 1024), 'tree');
    assert.equal(chooseAlgorithm('broadcast', 8, 64 * MiB, link('none'), 256 * 1024), 'chain');
    const cross = (name: string) => {
      let s = 1;
      while (chooseAlgorithm('allReduce', 8, s, link(name), 256 * 1024, ['two-shot']) !== 'ring') s *= 2;
      return s;
    };
    assert.ok(cross('wan') > cross('none'), 'a slower-latency link keeps recursive doubling for larger messages');
  });

  it('ring all-reduce estimate follows the α-β model', () => {
    const l = { alphaNs: 1e6, bytesPerNs: 1e-3 }; // local costs are negligible next to this link
    const t = estimateNs('allReduce', 'ring', 4, 1e6, l, 256 * 1024);
    const model = 2 * 3 * 1e6 + (2 * (3 / 4) * 1e6) / 1e-3;
    assert.ok(Math.abs(t - model) / model < 0.01);
  });

  it('a run-wide forced algorithm applies to calls without their own, and bad names are refused', async () => {
    assert.throws(
      () => createWorld(2, { topology: { link: 'none' }, algorithms: { allReduce: 'butterfly' } }),
      /algorithms.allReduce: unknown algorithm 'butterfly'; valid: ring, recursive-doubling, two-shot/,
    );
    assert.throws(
      () => createWorld(2, { topology: { link: 'none' }, algorithms: { allreduce: 'ring' } }),
      /unknown collective 'allreduce'/,
    );
    const res = await runCalls(
      2,
      { seed: 1, calls: [{ op: 'allReduce', count: 10, dtype: 'f32' }] },
      { algorithms: { allReduce: 'ring' } },
    );
    assert.equal(res[0].spans.find((s) => s.kind === 'collective')!.algorithm, 'ring');
  });
});
