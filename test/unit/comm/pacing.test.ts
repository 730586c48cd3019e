import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { LINK_PROFILES, scaledProfile } from '../../../runtime/comm/profiles';
import { resolveLinks } from '../../../runtime/comm/world';
import { runCalls } from './helpers';

describe('link emulation', () => {
  it('profiles carry the public figures (GB/s = bytes/ns)', () => {
    assert.equal(LINK_PROFILES.nvlink4.bytesPerNs, 450);
    assert.equal(LINK_PROFILES['ib-ndr'].bytesPerNs, 50);
    assert.equal(LINK_PROFILES['eth-10g'].bytesPerNs, 1.25);
    assert.equal(LINK_PROFILES.none.bytesPerNs, Infinity);
  });

  it('scaled profiles slow the link by target/local FLOP/s and record the factor', () => {
    const factor = 989e12 / 12e9;
    const p = scaledProfile('nvlink4', 12e9, 989e12);
    assert.ok(Math.abs(p.scaleFactor! - factor) < 1e-9);
    assert.ok(Math.abs(p.bytesPerNs - 450 / factor) < 1e-12);
    assert.ok(Math.abs(p.alphaNs - 1500 * factor) < 1e-6);
    assert.match(p.name, /^nvlink4@scaled82400$/);
  });

  it('hierarchical topology: fast inside a node, slow across nodes', () => {
    const { links } = resolveLinks(4, { link: 'none', nodes: 2, ranksPerNode: 2, intraLink: 'nvlink4', interLink: 'eth-10g' });
    assert.equal(links[0 * 4 + 1].name, 'nvlink4');
    assert.equal(links[1 * 4 + 2].name, 'eth-10g');
    assert.equal(links[3 * 4 + 2].name, 'nvlink4');
    assert.throws(() => resolveLinks(4, { link: 'none', nodes: 3, ranksPerNode: 2 }), /nodes × ranksPerNode must equal worldSize 4/);
    assert.throws(() => resolveLinks(2, { link: 'nvlink9' }), /unknown link profile 'nvlink9'; valid: none, nvlink4/);
  });

  it('an emulated 10 GbE link paces a 1 MiB all-reduce to at least its α-β time', async () => {
    const bytes = 1 << 20;
    const iters = 5;
    const calls = [{ op: 'barrier' as const, count: 0, dtype: 'uint8' as const }, ...Array.from({ length: iters }, () => ({ op: 'allReduce' as const, count: bytes / 4, dtype: 'f32' as const }))];
    const res = await runCalls(2, { seed: 9, calls }, { topology: { link: 'eth-10g' }, chunkBytes: 64 * 1024 });
    const link = LINK_PROFILES['eth-10g'];
    // Ring all-reduce, n = 2: 2(n-1)α + 2(n-1)/n · S/β. Pacing makes it a hard lower bound
    // for the part of the span spent transferring; the machine's load only adds to it.
    const modelNs = 2 * link.alphaNs + bytes / link.bytesPerNs;
    for (const r of res) {
      const spans = r.spans.filter((x) => x.kind === 'collective' && x.op === 'allReduce');
      assert.equal(spans.length, iters);
      for (const s of spans) {
        assert.ok(s.endNs - s.startNs >= 0.97 * modelNs, `span ${s.endNs - s.startNs} ns shorter than the model's ${modelNs} ns`);
        assert.equal(s.link, 'eth-10g');
      }
      const best = Math.min(...spans.map((s) => s.endNs - s.startNs));
      // Loose: the CPU is shared, but the pipeline must not serialize every chunk's latency.
      assert.ok(best < 6 * modelNs, `best span ${best} ns far above the model's ${modelNs} ns`);
    }
  });
});
