/**
 * What a strategy leaves in the run's trace: its collectives, its staging copies, its
 * encode/decode work as host spans, and the loss curve as a counter; and combinations
 * that cannot work are refused before any rank starts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runStrategy, tinyConfig } from './harness';
import { analyze } from '../../../analysis/index';

test('a compression hook shows its buckets, encode/decode spans, all-to-all + all-gather, and the loss counter', async () => {
  const steps = 2;
  const run = await runStrategy(
    tinyConfig({
      strategy: 'ddp-bucketed+int8-ef',
      steps,
      strategyOptions: { bucketCapMb: 0.02, firstBucketCapMb: 0.004 },
    }),
    false,
  );
  const m = run.outcome.trace.model;
  for (const p of m.processes) {
    const track = (stream: string): number =>
      m.tracks.find((t) => t.pid === p.pid && t.stream === stream && t.type === 'slice')!.id;
    const names = (stream: string): string[] => m.slices.filter((s) => s.track === track(stream)).map((s) => s.name);
    const host = names('host');
    assert.equal(
      host.filter((n) => n === 'encode int8').length,
      2 * 2 * steps,
      `rank ${p.rank}: worker and shard-owner encode per bucket (2 buckets) per step`,
    );
    assert.equal(host.filter((n) => n === 'decode int8').length, 2 * 2 * steps);
    const staging = names('staging');
    assert.deepEqual([...new Set(staging.filter((n) => n.startsWith('D2H')))].sort(), ['D2H bucket 0', 'D2H bucket 1']);
    const ops = m.slices
      .filter((s) => s.track === track('communication') && s.category === 'collective')
      .map((s) => s.args?.op);
    assert.equal(ops.filter((o) => o === 'allToAll').length, 2 * steps);
    assert.equal(ops.filter((o) => o === 'allGather').length, 2 * steps);
    assert.equal(ops.filter((o) => o === 'allReduce').length, 0, 'int8 never travels as an f32 all-reduce');
    const lossTrack = m.tracks.find((t) => t.pid === p.pid && t.type === 'counter' && t.name === 'loss')!;
    const series = m.counters.find((c) => c.track === lossTrack.id)!;
    assert.equal(series.values.length, steps);
    run.outcome.steps.forEach((s) => assert.equal(series.values[s.step], s.perRank[p.rank!].loss));
  }
});

test('impossible combinations are refused before the run, naming the conflict and an alternative', () => {
  assert.throws(
    () => tinyConfig({ strategy: 'zero3+powersgd' }),
    /'zero3\+powersgd' cannot work: powersgd needs each rank's full gradient.*use 'zero2'/,
  );
  assert.throws(
    () => tinyConfig({ strategy: 'ddp-bucketed', strategyOptions: { bucketCapMb: 5 } }),
    /larger than the whole model.*or use strategy 'ddp'/,
  );
  assert.throws(() => tinyConfig({ strategy: 'ulysses' }), /needs model\.kind "gpt-mini"/);
});

test("a compressed run's replayed split gives its codec: its own encode/decode spans, per rank and step", async () => {
  const steps = 5;
  // With GPU timing (the harness leaves it off): the replay's lanes are the run's kernels.
  const run = await runStrategy(tinyConfig({ strategy: 'int8-ef', steps, gpuTiming: true }), false);
  const m = run.outcome.trace.model;
  const a = analyze(m);
  const split = a.replay?.components;
  assert.ok(split, `the analysis replays the run: ${a.notes.join('; ')}`);
  // The same per rank and step, from the spans themselves: each replayed step's mean over ranks.
  const perStep: number[] = [];
  for (const st of (a.ranks[0].steps ?? []).filter((x) => !a.figures.warmupSteps.includes(x.step))) {
    let sum = 0,
      ranks = 0;
    for (const p of m.processes) {
      const w = m.slices.find(
        (s) => s.category === 'step' && m.tracks[s.track].pid === p.pid && s.args?.step === st.step,
      );
      if (!w) continue;
      ranks++;
      for (const s of m.slices)
        if (
          m.tracks[s.track].pid === p.pid &&
          s.category === 'host' &&
          /^(encode|decode) /.test(s.name) &&
          s.startNs >= w.startNs &&
          s.startNs < w.startNs + w.durNs
        )
          sum += s.durNs;
    }
    if (ranks > 0) perStep.push(sum / ranks);
  }
  assert.ok(perStep.length >= 2 && perStep.every((x) => x > 0), `codec spans in every step: ${perStep.join(', ')}`);
  // The split's codec is the median over the replayed steps, each the whole of its spans (they sit
  // before and after the exchange's collectives): within the steps' range, to a µs.
  assert.ok(
    split.codecNs >= Math.min(...perStep) - 1e3 && split.codecNs <= Math.max(...perStep) + 1e3,
    `codec ${split.codecNs} ns, the steps' spans ${perStep.join(', ')} ns`,
  );
  assert.ok(split.wireNs > 0, JSON.stringify(split));
  // A run without a codec has none.
  const plain = analyze(
    (await runStrategy(tinyConfig({ strategy: 'ddp', steps, gpuTiming: true }), false)).outcome.trace.model,
  );
  assert.equal(plain.replay?.components?.codecNs, 0);
});
