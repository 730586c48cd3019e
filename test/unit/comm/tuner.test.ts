import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { chooseAlgorithm, estimateNs, groupLink } from '../../../runtime/comm/tuner';
import { LINK_PROFILES } from '../../../runtime/comm/profiles';

const MiB = 1 << 20;
const link = (name: string) => groupLink([LINK_PROFILES[name]]);

describe('tuner', () => {
  it('small all-reduces go to recursive doubling, large ones to the ring', () => {
    for (const name of ['none', 'eth-10g', 'ib-hdr']) {
      for (const n of [2, 4, 8]) {
        assert.equal(chooseAlgorithm('allReduce', n, 64, link(name), 256 * 1024), 'recursive-doubling', `${name} n=${n} 64 B`);
        assert.equal(chooseAlgorithm('allReduce', n, 64 * MiB, link(name), 256 * 1024), 'ring', `${name} n=${n} 64 MiB`);
      }
    }
  });

  it('broadcast: tree for small, chain for large; latency grows the crossover', () => {
    assert.equal(chooseAlgorithm('broadcast', 8, 256, link('none'), 256 * 1024), 'tree');
    assert.equal(chooseAlgorithm('broadcast', 8, 64 * MiB, link('none'), 256 * 1024), 'chain');
    const cross = (name: string) => {
      let s = 1;
      while (chooseAlgorithm('allReduce', 8, s, link(name), 256 * 1024) !== 'ring') s *= 2;
      return s;
    };
    assert.ok(cross('wan') > cross('none'), 'a slower-latency link keeps recursive doubling for larger messages');
  });

  it('ring all-reduce estimate follows the α-β model', () => {
    const l = { alphaNs: 1e6, bytesPerNs: 1e-3 }; // local costs are negligible next to this link
    const t = estimateNs('allReduce', 'ring', 4, 1e6, l, 256 * 1024);
    const model = 2 * 3 * 1e6 + 2 * (3 / 4) * 1e6 / 1e-3;
    assert.ok(Math.abs(t - model) / model < 0.01);
  });
});
