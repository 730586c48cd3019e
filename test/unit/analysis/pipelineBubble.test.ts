/**
 * The pipeline bubble (analysis/pipelineBubble.ts) on traces of ideal pipelines: every
 * forward kernel takes F, every backward 2F, sends take no time, so a stage's idle time in
 * the flush-to-flush window is exactly the schedule's bubble (p−1)/(m+p−1) for GPipe and
 * 1F1B alike. The trace is built as the runtime writes one (a compute track per rank, the
 * pp group's track with the send/recv spans, `step N` host slices, the config in meta.info).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addTrack, emptyModel, finalizeModel, type Args, type TraceModel } from '../../../trace/model';
import { analyze, pipelineBubbles, theoreticalBubbleFraction } from '../../../analysis';
import { buildRankViews } from '../../../analysis/rankView';
import { markdownReport } from '../../../analysis/report';
import { checkConfigText, type SchemaNode } from '../../../extension/configCheck';
import { repoRoot } from '../../helpers/paths';
import * as fs from 'node:fs';
import * as path from 'node:path';

type Op = { kind: 'F' | 'B'; mb: number };

/** Each stage's op order under the schedule. */
function order(schedule: 'gpipe' | '1f1b', p: number, m: number, s: number): Op[] {
  const F = (mb: number): Op => ({ kind: 'F', mb });
  const B = (mb: number): Op => ({ kind: 'B', mb });
  if (schedule === 'gpipe')
    return [...Array.from({ length: m }, (_, i) => F(i)), ...Array.from({ length: m }, (_, i) => B(m - 1 - i))];
  const warm = Math.min(p - s - 1, m);
  const out = Array.from({ length: warm }, (_, i) => F(i));
  for (let i = 0; i < m - warm; i++) out.push(F(warm + i), B(i));
  for (let i = m - warm; i < m; i++) out.push(B(i));
  return out;
}

/** A CommLens-like trace of `steps` steps of an ideal pipeline (list scheduling of each stage's order). */
export function idealPipelineTrace(
  schedule: 'gpipe' | '1f1b',
  p: number,
  m: number,
  steps = 3,
  fNs = 1000,
): TraceModel {
  const model = emptyModel('commlens', '0');
  model.meta.worldSize = p;
  const config = {
    strategy: 'pp',
    worldSize: p,
    strategyOptions: { microBatches: m, schedule },
    model: { kind: 'gpt-mini' },
  };
  model.meta.info = { config: JSON.stringify(config), strategy: 'pp', worldSize: p, warmupSteps: [0] } as Args;
  const ranks = Array.from({ length: p }, (_, r) => r);
  const group = `pp group 0 (ranks ${ranks.join(',')})`;
  const t = ranks.map((r) => {
    model.processes.push({ pid: r, rank: r, name: `rank ${r}` });
    return {
      compute: addTrack(model, {
        pid: r,
        name: 'compute',
        type: 'slice',
        stream: 'compute',
        gpu: true,
        sourceId: 'compute',
      }),
      pp: addTrack(model, { pid: r, name: group, type: 'slice', stream: 'communication', gpu: true, sourceId: group }),
      host: addTrack(model, { pid: r, name: 'host', type: 'slice', stream: 'host', gpu: false }),
    };
  });
  const sendSeq = new Map<string, number>();
  const recvSeq = new Map<string, number>();
  const p2p = (from: number, to: number, atNs: number, bytes: number) => {
    const k = `${from}>${to}`;
    const sq = sendSeq.get(k) ?? 0;
    sendSeq.set(k, sq + 1);
    const rq = recvSeq.get(k) ?? 0;
    recvSeq.set(k, rq + 1);
    const base = { category: 'collective' as const, startNs: atNs, durNs: 0 };
    model.slices.push({
      ...base,
      track: t[from].pp,
      name: 'send',
      args: { op: 'send', group, bytes, sendTo: to, sendSeq: sq },
    });
    model.slices.push({
      ...base,
      track: t[to].pp,
      name: 'recv',
      args: { op: 'recv', group, bytes, recvFrom: from, recvSeq: rq },
    });
  };
  let t0 = 0;
  for (let step = 0; step < steps; step++) {
    const orders = ranks.map((s) => order(schedule, p, m, s));
    const next = ranks.map(() => 0);
    const free = ranks.map(() => t0);
    const done = new Map<string, number>();
    let left = orders.reduce((a, o) => a + o.length, 0);
    while (left > 0) {
      let progressed = false;
      for (const s of ranks) {
        const op = orders[s][next[s]];
        if (!op) continue;
        const dep =
          op.kind === 'F'
            ? s === 0
              ? t0
              : done.get(`F${s - 1}.${op.mb}`)
            : s === p - 1
              ? done.get(`F${s}.${op.mb}`)
              : done.get(`B${s + 1}.${op.mb}`);
        if (dep === undefined) continue;
        const start = Math.max(dep, free[s]);
        const dur = op.kind === 'F' ? fNs : 2 * fNs;
        model.slices.push({
          track: t[s].compute,
          name: op.kind === 'F' ? 'matmul' : 'matmul backward',
          category: 'kernel',
          startNs: start,
          durNs: dur,
          args: { phase: op.kind === 'F' ? 'forward' : 'backward' },
        });
        free[s] = start + dur;
        done.set(`${op.kind}${s}.${op.mb}`, start + dur);
        if (op.kind === 'F' && s < p - 1) p2p(s, s + 1, start + dur, 64);
        if (op.kind === 'B' && s > 0) p2p(s, s - 1, start + dur, 64);
        next[s]++;
        left--;
        progressed = true;
      }
      assert.ok(progressed, 'the schedule deadlocks');
    }
    // The optimizer after the flush: outside the pipeline's window.
    const end = Math.max(...free);
    for (const s of ranks)
      model.slices.push({
        track: t[s].compute,
        name: 'adam',
        category: 'kernel',
        startNs: end,
        durNs: 500,
        args: { phase: 'optimizer' },
      });
    for (const s of ranks)
      model.slices.push({
        track: t[s].host,
        name: `step ${step}`,
        category: 'step',
        startNs: t0,
        durNs: end + 500 - t0,
        args: { step },
      });
    t0 = end + 1000;
  }
  return finalizeModel(model);
}

for (const [schedule, p, m] of [
  ['gpipe', 2, 4],
  ['1f1b', 2, 4],
  ['gpipe', 4, 8],
  ['1f1b', 4, 8],
  ['1f1b', 3, 3],
] as const)
  test(`an ideal ${schedule} pipeline of ${p} stages × ${m} micro-batches: every stage's bubble is (p−1)/(m+p−1)`, () => {
    const model = idealPipelineTrace(schedule, p, m);
    const views = buildRankViews(model, { includeLastStep: true });
    const [b] = pipelineBubbles(model, views, [1, 2], {
      strategy: 'pp',
      strategyOptions: { microBatches: m, schedule },
    });
    const want = theoreticalBubbleFraction(p, m);
    assert.equal(b.theoreticalFraction, want);
    assert.equal(b.stages, p);
    assert.equal(b.schedule, schedule);
    const F = 1000;
    for (const st of b.perStage) {
      assert.equal(st.steps.length, 2);
      for (const x of st.steps) {
        assert.equal(x.windowNs, (m + p - 1) * 3 * F, `stage ${st.stage} step ${x.step}: window`);
        assert.equal(x.computeNs, m * 3 * F);
        assert.ok(Math.abs(x.fraction - want) < 1e-12, `stage ${st.stage}: ${x.fraction} vs ${want}`);
      }
    }
    assert.ok(Math.abs(b.meanFraction - want) < 1e-12);
  });

test('analyze reports the bubble over the steady steps (warm-up and the last step left out); no pp groups, no pipeline', () => {
  const model = idealPipelineTrace('1f1b', 2, 4);
  const a = analyze(model);
  assert.ok(a.pipeline, a.notes.join('; '));
  assert.deepEqual(a.pipeline[0].ranks, [0, 1]);
  assert.deepEqual(
    a.pipeline[0].perStage[0].steps.map((s) => s.step),
    [1],
  );
  assert.equal(a.pipeline[0].microBatches, 4);
  assert.equal(a.pipeline[0].schedule, '1f1b');
  // `analyze --json` prints this object: it fits the schema, and report.md shows the table.
  const schema = JSON.parse(
    fs.readFileSync(path.join(repoRoot, 'schemas', 'analysis.schema.json'), 'utf8'),
  ) as SchemaNode;
  assert.deepEqual(
    checkConfigText(JSON.stringify(a), schema).map((p) => p.message),
    [],
  );
  const report = markdownReport(a);
  assert.match(report, /## Pipeline bubble \(pp group 0 \(ranks 0,1\), 1f1b, 4 micro-batches\)/);
  assert.match(report, /\(p−1\)\/\(m\+p−1\) = 20\.0 % \(p 2, m 4\)/);
  // The rows the viewer shows too (trace/layoutFigures.ts): stage, rank, mean bubble, of the window, per step.
  assert.match(report, /\| 0 \| 0 \| 3 µs \| 20\.0 % \| 1: 3 µs \(20\.0 %\) \|/);
  assert.deepEqual(pipelineBubbles(emptyModel('commlens'), [], [1]), []);
  assert.equal(analyze(emptyModel('commlens')).pipeline, undefined);
});
