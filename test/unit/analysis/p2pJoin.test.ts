/**
 * Point-to-point messages joined by their two ends (analysis/collectives.ts): the k-th send
 * from rank a to rank b with the k-th recv on b from a (the sendTo/sendSeq, recvFrom/recvSeq
 * args the runtime writes), never with another rank's send of the same number; the recv's
 * wait is the time it was blocked before the send began; a sendRecv is in two messages and
 * its wait is counted once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addTrack, emptyModel, finalizeModel, type Args } from '../../../trace/model';
import { collectiveMetrics, P2P_OP } from '../../../analysis/collectives';
import { buildRankViews } from '../../../analysis/rankView';

test('p2p: each send joined with its recv; recv wait = blocked before the send began; a sendRecv counted once', () => {
  const m = emptyModel('commlens', '0');
  m.meta.worldSize = 3;
  const group = 'pp group 0 (ranks 0,1,2)';
  const tr = [0, 1, 2].map((r) => {
    m.processes.push({ pid: r, rank: r, name: `rank ${r}` });
    return addTrack(m, { pid: r, name: group, type: 'slice', stream: 'communication', gpu: true, sourceId: group });
  });
  const add = (rank: number, name: string, startNs: number, endNs: number, args: Args) =>
    m.slices.push({
      track: tr[rank],
      name,
      category: 'collective',
      startNs,
      durNs: endNs - startNs,
      args: { group, bytes: 1024, ...args },
    });
  // Message 0→1 #0: the recv was posted 50 ns before the send began.
  add(0, 'send', 100, 200, { op: 'send', sendTo: 1, sendSeq: 0 });
  add(1, 'recv', 50, 210, { op: 'recv', recvFrom: 0, recvSeq: 0 });
  // Message 1→2 #0: the same op and number as 0→1 #0, another message.
  add(1, 'send', 300, 400, { op: 'send', sendTo: 2, sendSeq: 0 });
  add(2, 'recv', 300, 420, { op: 'recv', recvFrom: 1, recvSeq: 0 });
  // Rank 0 and 1 exchange at once: 0→1 #1 and 1→0 #0; rank 0 came 50 ns before rank 1.
  add(0, 'sendRecv', 500, 700, { op: 'sendRecv', sendTo: 1, sendSeq: 1, recvFrom: 1, recvSeq: 0 });
  add(1, 'sendRecv', 550, 690, { op: 'sendRecv', sendTo: 0, sendSeq: 0, recvFrom: 0, recvSeq: 1 });
  finalizeModel(m);
  const c = collectiveMetrics(m, buildRankViews(m));
  const msgs = c.instances.filter((i) => i.op === P2P_OP);
  assert.equal(msgs.length, 4, msgs.map((i) => i.key).join(', '));
  const byPair = new Map(msgs.map((i) => [`${i.p2p!.from}>${i.p2p!.to}#${i.seq}`, i]));
  assert.deepEqual([...byPair.keys()].sort(), ['0>1#0', '0>1#1', '1>0#0', '1>2#0']);
  for (const i of msgs) {
    assert.equal(i.participants.length, 2, i.key);
    assert.deepEqual(i.participants.map((p) => p.role).sort(), ['recv', 'send']);
  }
  const end = (k: string, role: 'send' | 'recv') => byPair.get(k)!.participants.find((p) => p.role === role)!;
  assert.equal(end('0>1#0', 'recv').rank, 1);
  assert.equal(end('0>1#0', 'recv').waitNs, 50);
  assert.equal(end('0>1#0', 'send').waitNs, 0);
  assert.equal(byPair.get('0>1#0')!.transferNs, 110);
  assert.equal(byPair.get('0>1#0')!.lastArrivalRank, 0);
  assert.equal(end('1>2#0', 'recv').waitNs, 0);
  assert.equal(byPair.get('1>2#0')!.transferNs, 120);
  // Rank 0's sendRecv waited 50 ns for rank 1: with the message it receives (1→0), not again with 0→1.
  assert.equal(end('1>0#0', 'recv').waitNs, 50);
  assert.equal(end('0>1#1', 'send').waitNs, 0);
  assert.equal(c.waitNsByRank['0'], 50);
  assert.equal(c.waitNsByRank['1'], 50);
  assert.equal(c.waitNsByRank['2'], 0);
  assert.equal(c.disjoint, 0);
  assert.equal(c.unmatched, 0);
  const perOp = c.perOp.find((o) => o.op === P2P_OP);
  assert.ok(perOp);
  assert.equal(perOp.count, 4);
  assert.equal(perOp.totalBytes, 4096);
});

test('a broadcast whose root returned before the receiver started is joined when its spans name the root', () => {
  const build = (rootArg: number | undefined, rootStart: number) => {
    const m = emptyModel('commlens', '0');
    m.meta.worldSize = 2;
    const group = 'pp group 0 (ranks 0,1)';
    const tr = [0, 1].map((r) => {
      m.processes.push({ pid: r, rank: r, name: `rank ${r}` });
      return addTrack(m, { pid: r, name: group, type: 'slice', stream: 'communication', gpu: true, sourceId: group });
    });
    const root: Args = rootArg !== undefined ? { root: rootArg } : {};
    const add = (rank: number, startNs: number, endNs: number) =>
      m.slices.push({
        track: tr[rank],
        name: 'broadcast',
        category: 'collective',
        startNs,
        durNs: endNs - startNs,
        args: { op: 'broadcast', group, seq: 0, bytes: 4, ...root },
      });
    // The root (rank 1, the last stage) sends its 4 bytes and returns; rank 0 comes later.
    add(1, rootStart, rootStart + 50);
    add(0, 1000, 1100);
    finalizeModel(m);
    return collectiveMetrics(m, buildRankViews(m));
  };
  const named = build(1, 100);
  assert.equal(named.disjoint, 0);
  const b = named.instances.filter((i) => i.op === 'broadcast');
  assert.equal(b.length, 1);
  assert.deepEqual(b[0].participants.map((p) => p.rank).sort(), [0, 1]);
  // Without the root, or with the root starting after the receiver ended, the spans are not one broadcast.
  assert.equal(build(undefined, 100).disjoint, 1);
  assert.equal(build(1, 1200).disjoint, 1);
  // A root that is not among the spans proves nothing either.
  assert.equal(build(5, 100).disjoint, 1);
});

test('a collective counts as unmatched only when ranks of its own process group lack it, not the whole world', () => {
  const build = (dropOne: boolean) => {
    const m = emptyModel('commlens', '0');
    m.meta.worldSize = 4;
    const tp = (r: number) => `tp group ${r >> 1} (ranks ${r & ~1},${(r & ~1) + 1})`;
    const tracks = [0, 1, 2, 3].map((r) => {
      m.processes.push({ pid: r, rank: r, name: `rank ${r}` });
      return {
        world: addTrack(m, { pid: r, name: 'world', type: 'slice', stream: 'communication', gpu: true }),
        tp: addTrack(m, { pid: r, name: tp(r), type: 'slice', stream: 'communication', gpu: true }),
      };
    });
    for (let r = 0; r < 4; r++) {
      // Two TP all-reduces on each pair, then one all-reduce over all four ranks.
      for (let k = 0; k < 2; k++)
        if (!(dropOne && r === 3 && k === 1))
          m.slices.push({
            track: tracks[r].tp,
            name: 'allReduce',
            category: 'collective',
            startNs: 100 + k * 100,
            durNs: 50,
            args: { op: 'allReduce', group: tp(r), seq: k, bytes: 1024, groupSize: 2 },
          });
      m.slices.push({
        track: tracks[r].world,
        name: 'allReduce',
        category: 'collective',
        startNs: 400,
        durNs: 50,
        args: { op: 'allReduce', group: 'world', seq: 0, bytes: 4096, groupSize: 4 },
      });
    }
    finalizeModel(m);
    return collectiveMetrics(m, buildRankViews(m));
  };
  const whole = build(false);
  assert.equal(whole.instances.length, 5);
  assert.equal(whole.unmatched, 0);
  // Rank 3 misses its second TP all-reduce: that one instance, on rank 2 alone, is unmatched.
  assert.equal(build(true).unmatched, 1);
});
