import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { LINK_PROFILES, scaledProfile } from '../../../runtime/comm/profiles';
import { resolveLinks } from '../../../runtime/comm/world';
import { assertClose, inputsOf, reference, runCalls } from './helpers';

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
    const { links } = resolveLinks(4, {
      link: 'none',
      nodes: 2,
      ranksPerNode: 2,
      intraLink: 'nvlink4',
      interLink: 'eth-10g',
    });
    assert.equal(links[0 * 4 + 1].name, 'nvlink4');
    assert.equal(links[1 * 4 + 2].name, 'eth-10g');
    assert.equal(links[3 * 4 + 2].name, 'nvlink4');
    assert.throws(
      () => resolveLinks(4, { link: 'none', nodes: 3, ranksPerNode: 2 }),
      /nodes × ranksPerNode must equal worldSize 4/,
    );
    assert.throws(() => resolveLinks(2, { link: 'nvlink9' }), /unknown link profile 'nvlink9'; valid: none, nvlink4/);
  });

  for (const [linkName, bytes, lowFactor] of [
    ['wan', 1 << 20, 0.95],
    ['eth-10g', 4 << 20, 0.85],
  ] as const) {
    it(`an emulated ${linkName} link paces a ${bytes >> 20} MiB ring all-reduce to its α-β time`, async () => {
      const iters = 3;
      const calls = [
        { op: 'barrier' as const, count: 0, dtype: 'uint8' as const },
        ...Array.from({ length: iters }, () => ({
          op: 'allReduce' as const,
          count: bytes / 4,
          dtype: 'f32' as const,
          algorithm: 'ring',
        })),
      ];
      const bestOf = (res: Awaited<ReturnType<typeof runCalls>>) =>
        Math.min(
          ...res.flatMap((r) =>
            r.spans.filter((x) => x.kind === 'collective' && x.op === 'allReduce').map((s) => s.endNs - s.startNs),
          ),
        );
      const link = LINK_PROFILES[linkName];
      // Ring all-reduce, n = 2: 2(n-1)α + 2(n-1)/n · S/β. Timed as nccl-tests does, from the
      // last rank's start to the last rank's end: a rank that arrives late finds its peer's
      // chunks already on the wire, so its own span alone can be shorter. The spans are on the
      // emulated timeline, however late a thread got to them: the last rank to start still
      // sends S bytes over its link after its start (S/β + α, within lowFactor of the model).
      const modelNs = 2 * link.alphaNs + bytes / link.bytesPerNs;
      // The same collective unpaced, side by side: what this (shared, noisy) machine adds.
      const measure = async () => ({
        local: bestOf(await runCalls(2, { seed: 9, calls }, { chunkBytes: 256 * 1024 })),
        res: await runCalls(
          2,
          { seed: 9, calls },
          { topology: { link: linkName }, chunkBytes: linkName === 'wan' ? 2 << 20 : 256 * 1024 },
        ),
      });
      const check = (res: Awaited<ReturnType<typeof runCalls>>) => {
        const perRank = res.map((r) => r.spans.filter((x) => x.kind === 'collective' && x.op === 'allReduce'));
        for (const spans of perRank) {
          assert.equal(spans.length, iters);
          for (const s of spans) assert.equal(s.link, linkName);
        }
        for (let k = 0; k < iters; k++) {
          const t = Math.max(...perRank.map((sp) => sp[k].endNs)) - Math.max(...perRank.map((sp) => sp[k].startNs));
          assert.ok(t >= lowFactor * modelNs, `all-reduce ${k}: ${t} ns far below the model's ${modelNs} ns`);
        }
        // On the emulated timeline too, a rank's collectives follow one another: none starts
        // before the one before it ended.
        for (const r of res) {
          const own = r.spans.filter((x) => x.kind === 'collective');
          for (let k = 1; k < own.length; k++)
            assert.ok(
              own[k].startNs >= own[k - 1].endNs,
              `${own[k].op} ${k} starts ${own[k - 1].endNs - own[k].startNs} ns before ${own[k - 1].op} ${k - 1} ends`,
            );
        }
      };
      let { local, res } = await measure();
      check(res);
      // The pipeline overlaps local work with the wire: paced time stays near model + local time.
      // That bound is this machine's speed, not the emulation's: when it is missed (another
      // process took a core during the run), both are measured again, side by side, once.
      if (!(bestOf(res) < modelNs + 2 * local + 2e6)) {
        ({ local, res } = await measure());
        check(res);
      }
      const best = bestOf(res);
      assert.ok(best < modelNs + 2 * local + 2e6, `best span ${best} ns vs model ${modelNs} ns + local ${local} ns`);
    });
  }

  it('an emulated all-to-all streams its chunks: α + (S/n)/β, not α per chunk', async () => {
    // 2 ranks over the WAN (α 30 ms), 4 MiB: each rank sends 2 MiB to the other in 8 chunks of
    // 256 KiB. Alternating each send with the receive before the next paid α per chunk
    // (8α + S/n/β ≈ 274 ms); a link pipelines them (α + S/n/β ≈ 64 ms).
    const bytes = 4 << 20;
    const calls = [
      { op: 'barrier' as const, count: 0, dtype: 'uint8' as const },
      { op: 'allToAll' as const, count: bytes / 4, dtype: 'f32' as const },
    ];
    const res = await runCalls(2, { seed: 3, calls }, { topology: { link: 'wan' }, chunkBytes: 256 * 1024 });
    const link = LINK_PROFILES.wan;
    const spans = res.map((r) => r.spans.find((x) => x.kind === 'collective' && x.op === 'allToAll')!);
    const t = Math.max(...spans.map((x) => x.endNs)) - Math.max(...spans.map((x) => x.startNs));
    const modelNs = link.alphaNs + bytes / 2 / link.bytesPerNs;
    assert.ok(t >= 0.95 * modelNs, `all-to-all ${t} ns, below the wire's ${modelNs} ns`);
    assert.ok(t < modelNs + 2 * link.alphaNs, `all-to-all ${t} ns: α paid per chunk (model ${modelNs} ns)`);
  });

  it('a rank whose thread stalls after issuing shows its collective from the issue, never shorter than the wire allows', async () => {
    const bytes = 4 << 20;
    const stallMs = 12;
    const calls = [
      { op: 'barrier' as const, count: 0, dtype: 'uint8' as const },
      {
        op: 'allReduce' as const,
        count: bytes / 4,
        dtype: 'f32' as const,
        algorithm: 'ring',
        perRank: { 1: { stallAfterIssueMs: stallMs } },
      },
    ];
    const res = await runCalls(2, { seed: 5, calls }, { topology: { link: 'eth-10g' }, chunkBytes: 256 * 1024 });
    const ref = reference('f32', 'sum', inputsOf([0, 1], 'f32', bytes / 4, 5, 1));
    const link = LINK_PROFILES['eth-10g'];
    const spans = res.map((r, i) => {
      assertClose('f32', r.outputs[1]!, ref, `rank ${i}`);
      return r.spans.find((x) => x.kind === 'collective' && x.op === 'allReduce')!;
    });
    // Rank 1's thread came back to wait on it stallMs after issuing it: on the emulated
    // timeline the collective started at its issue (the set-up overlaps the wire, as a GPU's
    // launch does), not when the thread got to it.
    const waited = res[1].spans.find((x) => x.kind === 'wait' && x.op === 'allReduce')!;
    assert.ok(
      waited.startNs - spans[1].startNs >= 0.9 * stallMs * 1e6,
      `rank 1's collective starts ${(waited.startNs - spans[1].startNs) / 1e6} ms before its wait, not the ${stallMs} ms it stalled`,
    );
    // Rank 1 sends its bytes once its thread comes back: the collective is never faster than the wire.
    const t = Math.max(spans[0].endNs, spans[1].endNs) - Math.max(spans[0].startNs, spans[1].startNs);
    assert.ok(t >= link.alphaNs + bytes / link.bytesPerNs, `all-reduce: ${t} ns, below the wire's time`);
    for (const s of spans) assert.ok(s.waitNs <= s.endNs - s.startNs && s.transferNs >= 0);
  });

  it('a hierarchical world (2 nodes × 2 ranks) is correct and its slow inter-node link bounds the ring', async () => {
    const bytes = 1 << 20;
    const topology = { link: 'none', nodes: 2, ranksPerNode: 2, intraLink: 'none', interLink: 'eth-10g' };
    const calls = [
      { op: 'barrier' as const, count: 0, dtype: 'uint8' as const },
      { op: 'allReduce' as const, count: bytes / 4, dtype: 'f32' as const, algorithm: 'ring' },
    ];
    const res = await runCalls(4, { seed: 12, calls }, { topology, chunkBytes: 256 * 1024 });
    const ref = reference('f32', 'sum', inputsOf([0, 1, 2, 3], 'f32', bytes / 4, 12, 1));
    for (let r = 0; r < 4; r++) {
      assertClose('f32', res[r].outputs[1]!, ref, `rank ${r}`);
      const s = res[r].spans.find((x) => x.op === 'allReduce' && x.kind === 'collective')!;
      assert.equal(s.link, 'none+eth-10g');
      // Ring links 1->2 and 3->0 cross nodes; each carries 2(n-1)/n · S bytes at β.
      assert.ok(s.endNs - s.startNs >= (0.85 * (1.5 * bytes)) / LINK_PROFILES['eth-10g'].bytesPerNs);
    }
  });
});
