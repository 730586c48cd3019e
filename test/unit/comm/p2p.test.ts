/**
 * Point-to-point send/recv: exact data along a pipeline-like chain in a named group, the
 * spans that join a send to its recv (peer and pair number), the flow the run trace draws
 * between them and the group's own track, and pacing to the α-β time of an emulated link.
 */
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { CallSpec } from '../../../runtime/comm/harness';
import { LINK_PROFILES } from '../../../runtime/comm/profiles';
import { commSpanToRankSpan } from '../../../runtime/commSpans';
import { RunTrace } from '../../../runtime/runTrace';
import { assertClose, runCalls } from './helpers';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadTraceFile } from '../../../trace/load';
import type { TraceModel } from '../../../trace/model';
import { expectedOutputs } from './reference';

describe('point-to-point send/recv', () => {
  it('a chain 0 -> 1 -> 2 -> 3 in a named group: exact data, send/recv spans paired, a flow from each send to its recv, the group on its own track', async () => {
    const group = [0, 1, 2, 3];
    const groupName = 'pp group 0 (ranks 0,1,2,3)';
    const calls: CallSpec[] = [];
    for (let k = 0; k < 2; k++)
      for (let s = 0; s < 3; s++)
        calls.push({ op: 'send', count: 1000 + 7 * s + k, dtype: 'f32', group, groupName, from: s, to: s + 1 });
    calls.push({ op: 'allReduce', count: 64, dtype: 'f32', group, groupName });
    const seed = 41;
    const res = await runCalls(4, { seed, calls });
    calls.forEach((call, ci) => {
      const expected = expectedOutputs(call, group, seed, ci);
      group.forEach((r, i) => assertClose(call.dtype, res[r].outputs[ci]!, expected[i], `call ${ci} rank ${r}`));
    });
    // Spans: the sender's says send (to, k-th send to it), the receiver's recv (from, k-th recv from it).
    for (let r = 0; r < 4; r++) {
      const p2p = res[r].spans.filter((s) => s.kind === 'collective' && (s.op === 'send' || s.op === 'recv'));
      const sends = p2p.filter((s) => s.op === 'send');
      const recvs = p2p.filter((s) => s.op === 'recv');
      assert.equal(sends.length, r < 3 ? 2 : 0, `rank ${r} sends`);
      assert.equal(recvs.length, r > 0 ? 2 : 0, `rank ${r} receives`);
      sends.forEach((s, k) => assert.deepEqual([s.sendTo, s.sendSeq, s.recvFrom], [r + 1, k, undefined]));
      recvs.forEach((s, k) => assert.deepEqual([s.recvFrom, s.recvSeq, s.sendTo], [r - 1, k, undefined]));
      for (const s of p2p) assert.equal(s.track, groupName);
      const ar = res[r].spans.find((s) => s.kind === 'collective' && s.op === 'allReduce')!;
      assert.equal(ar.group, groupName);
      assert.equal(ar.track, groupName);
    }
    // The run trace: one flow per send, from the send's or the recv's span (whichever
    // started first, as Perfetto needs) to the other, and every span on the group's track.
    const dir = mkdtempSync(join(tmpdir(), 'commlens-p2p-'));
    try {
      const file = join(dir, 'trace.pftrace');
      const trace = new RunTrace(file, 4, 0, 0n, {});
      for (let r = 0; r < 4; r++) {
        trace.addStep({
          type: 'step',
          rank: r,
          step: 0,
          loss: 0,
          startNs: 0,
          endNs: 1,
          bytes: 0,
          wireBytes: 0,
          memory: { parameters: 0, gradients: 0, optimizerState: 0, activations: 0, communication: 0 },
          spans: res[r].spans.map(commSpanToRankSpan),
        });
      }
      trace.close();
      checkTrace(trace.model);
      // The file says the same: the group's tracks and the flows survive the round trip.
      checkTrace(await loadTraceFile(file));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  function checkTrace(m: TraceModel, groupName = 'pp group 0 (ranks 0,1,2,3)'): void {
    const tracks = m.tracks.filter((t) => t.name === groupName);
    assert.equal(tracks.length, 4, 'one track per rank for the group');
    const onTrack = m.slices.filter((s) => tracks.some((t) => t.id === s.track));
    assert.equal(onTrack.length, 2 * 3 * 2 + 4, 'every send, recv and the all-reduce on the group track');
    const p2pFlows = m.flows.filter((f) => m.slices[f.from].args?.op !== 'allReduce');
    assert.equal(p2pFlows.length, 6, 'one flow per send/recv pair');
    for (const f of p2pFlows) {
      const [a, b] = [m.slices[f.from], m.slices[f.to]];
      const send = a.args!.op === 'send' ? a : b;
      const recv = a.args!.op === 'send' ? b : a;
      assert.equal(send.args!.op, 'send');
      assert.equal(recv.args!.op, 'recv');
      assert.equal(send.args!.sendSeq, recv.args!.recvSeq);
      assert.equal(send.args!.bytes, recv.args!.bytes);
      assert.ok(a.startNs <= b.startNs, 'flows start on the slice that began first');
    }
  }

  it('sendRecv spans carry both directions', async () => {
    const res = await runCalls(3, {
      seed: 5,
      calls: [
        { op: 'sendRecv', count: 100, dtype: 'f32' },
        { op: 'sendRecv', count: 100, dtype: 'f32' },
      ],
    });
    for (let r = 0; r < 3; r++) {
      const spans = res[r].spans.filter((s) => s.kind === 'collective');
      assert.deepEqual(
        spans.map((s) => [s.op, s.sendTo, s.sendSeq, s.recvFrom, s.recvSeq]),
        [0, 1].map((k) => ['sendRecv', (r + 1) % 3, k, (r + 2) % 3, k]),
      );
      assert.equal(spans[0].track, undefined, 'unnamed groups stay on the communication track');
    }
  });

  it('a send on an emulated eth-10g link is paced to α + S/β', async () => {
    const bytes = 4 << 20;
    // The best of 5 bounds the pipeline's overhead; this machine is shared and noisy.
    const iters = 5;
    const calls: CallSpec[] = [
      { op: 'barrier', count: 0, dtype: 'uint8' },
      ...Array.from({ length: iters }, (): CallSpec => ({ op: 'send', count: bytes / 4, dtype: 'f32' })),
    ];
    type Res = Awaited<ReturnType<typeof runCalls>>;
    const p2pSpans = (res: Res) =>
      res.map((r) => r.spans.filter((x) => x.kind === 'collective' && (x.op === 'send' || x.op === 'recv')));
    // A message's time: from the send's start to the recv's end. Data cannot arrive sooner
    // than α + S/β after it was sent, however late the receiver comes.
    const iterTimes = (perRank: ReturnType<typeof p2pSpans>) =>
      Array.from({ length: iters }, (_, k) => perRank[1][k].endNs - perRank[0][k].startNs);
    const bestOf = (res: Res) => Math.min(...iterTimes(p2pSpans(res)));
    const link = LINK_PROFILES['eth-10g'];
    const modelNs = link.alphaNs + bytes / link.bytesPerNs;
    const measure = async () => ({
      local: bestOf(await runCalls(2, { seed: 3, calls }, { chunkBytes: 256 * 1024 })),
      res: await runCalls(2, { seed: 3, calls }, { topology: { link: 'eth-10g' }, chunkBytes: 256 * 1024 }),
    });
    const check = (res: Res) => {
      const perRank = p2pSpans(res);
      assert.deepEqual(
        perRank.map((sp) => sp.map((s) => s.op)),
        [new Array(iters).fill('send'), new Array(iters).fill('recv')],
      );
      for (const sp of perRank) for (const s of sp) assert.equal(s.link, 'eth-10g');
      // The spans are the messages on the emulated timeline (runtime/comm/groupCore.ts), however
      // late either thread got to them: none is faster than the link, and the messages share
      // the link one after the other.
      const times = iterTimes(perRank);
      for (const t of times)
        assert.ok(t >= modelNs - 1, `a message took ${t} ns, below the model's ${modelNs} ns (${times.join(', ')})`);
      const whole = perRank[1][iters - 1].endNs - perRank[0][0].startNs;
      const wholeModel = link.alphaNs + (iters * bytes) / link.bytesPerNs;
      assert.ok(whole >= wholeModel - 1, `${iters} messages in ${whole} ns, below the model's ${wholeModel} ns`);
    };
    let { local, res } = await measure();
    check(res);
    // The pipeline overlaps local work with the wire: the best message stays near the model plus
    // this machine's own time. That bound is the machine's speed, not the emulation's: when it
    // is missed (another process took a core during the run), both are measured again, side by
    // side, once.
    const within = () => bestOf(res) < modelNs + 2 * local + 2e6;
    if (!within()) {
      ({ local, res } = await measure());
      check(res);
    }
    const best = bestOf(res);
    assert.ok(best < modelNs + 2 * local + 2e6, `best ${best} ns vs model ${modelNs} ns + local ${local} ns`);
  });
});
