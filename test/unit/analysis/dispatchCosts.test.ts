import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dispatchCostsOf, hostTimePerSubmission, measuredRunOf, prepareReplay } from '../../../analysis/replay/whatIf';
import { calibrate, DEFAULT_LAYOUT, type JobDims, type Layout } from '../../../analysis/replay/layouts';
import type { Args, TraceModel } from '../../../trace/model';
import { syntheticRun } from '../../helpers/syntheticRun';
import { TEST_HOST_PROBE } from '../../helpers/hostProbe';

/**
 * A 2-rank run whose kernels are renamed as the runtime names a transformer's (`… embed`,
 * `… layerN.…`, the head's and loss's without either) and given FLOPs and times by role:
 * per step and rank, forward: 1 embedding kernel, 4 per layer × 2 layers, 3 head kernels;
 * backward: 6 head kernels, 8 per layer × 2 layers, 2 embedding kernels. So 12 kernels per
 * layer, 3 for the embedding, 9 for the head, 36 in all. The embedding's kernels are the
 * lightest (1 kFLOP, 30 µs), the head's next (2 kFLOP, 40 µs), the layers' the heaviest
 * (1 MFLOP, the synthetic run's 100 µs). Each step marker starts `submitNs` before its first kernel.
 */
const SUBMIT_NS = 300_000;
const EMBED_NS = 30_000;
const HEAD_NS = 40_000;

function roles(phase: 'forward' | 'backward', i: number): { role: 'embed' | 'head' | 'layer'; layer?: number } {
  if (phase === 'forward') {
    if (i === 0) return { role: 'embed' };
    if (i <= 8) return { role: 'layer', layer: i <= 4 ? 0 : 1 };
    return { role: 'head' };
  }
  if (i < 6) return { role: 'head' };
  if (i < 22) return { role: 'layer', layer: i < 14 ? 1 : 0 };
  return { role: 'embed' };
}

/** The fixed time of a dispatch the run's dispatch probe measured (runtime/dispatchProbe.ts), unlike any kernel's time here. */
const PROBED_NS = 17_000;
const PROBE = {
  ...TEST_HOST_PROBE,
  dispatch: {
    fixedNs: PROBED_NS,
    kernels: {
      matmul: { smallNs: 60_000, largeNs: 200_000, fixedNs: 13_333, smallMedianNs: 55_000, largeMedianNs: 190_000 },
      add: { smallNs: 30_000, largeNs: 79_000, fixedNs: 13_667, smallMedianNs: 28_000, largeMedianNs: 75_000 },
    },
    tokens: [64, 256],
    ranks: 2,
    reps: 48,
    wallNs: 1e8,
  },
};

function transformerRun(opts: { flops?: boolean; layerNames?: boolean; probe?: boolean } = {}): TraceModel {
  const m = syntheticRun({
    ranks: 2,
    steps: 6,
    kernels: 12,
    fwdNs: 100_000,
    stepGapNs: 2 * SUBMIT_NS,
    ...(opts.probe ? { hostProbe: PROBE } : {}),
  });
  const seen = new Map<string, number>();
  for (const sl of m.slices) {
    if (sl.category === 'step') {
      sl.startNs -= SUBMIT_NS;
      sl.durNs += SUBMIT_NS;
      continue;
    }
    if (sl.category !== 'kernel') continue;
    const phase = sl.args?.phase;
    if (phase !== 'forward' && phase !== 'backward') continue;
    // The kernels' index within their rank's step and phase: the synthetic run writes each
    // phase's kernels in order, one phase after the other, so a new forward follows a backward.
    const key = `${sl.track} ${phase}`;
    const other = `${sl.track} ${phase === 'forward' ? 'backward' : 'forward'}`;
    let i = seen.get(key) ?? -1;
    if (phase === 'forward' && (seen.get(other) ?? -1) >= 0) {
      i = -1;
      seen.set(other, -1);
    }
    if (phase === 'backward' && i === 23) i = -1;
    i++;
    seen.set(key, i);
    const r = roles(phase, i);
    const dir = phase === 'forward' ? 'fwd' : 'bwd';
    if (r.role === 'embed') {
      sl.name = `gather 64x128 ${dir} embed`;
      sl.durNs = EMBED_NS;
      sl.args = { ...sl.args, flops: 1_000 };
    } else if (r.role === 'head') {
      sl.name = `matmul 64x128x512 ${dir} lm_head`;
      sl.durNs = HEAD_NS;
      sl.args = { ...sl.args, flops: 2_000 };
    } else {
      sl.name =
        opts.layerNames === false ? `matmul 64x128x32 ${dir} fc` : `matmul 64x128x32 ${dir} layer${r.layer}.mlp`;
      sl.args = { ...sl.args, flops: 1_000_000 };
    }
    if (opts.flops === false) delete sl.args!.flops;
  }
  return m;
}

/** What dispatchCostsOf reads from transformerRun's trace whatever prices a dispatch: kernels per layer, embedding and head, the submission's host time. */
function assertTraceCounts(c: NonNullable<ReturnType<typeof dispatchCostsOf>>): void {
  assert.equal(c.perLayer, 12);
  assert.equal(c.embed, 3);
  assert.equal(c.head, 9);
  assert.equal(c.submitNs, SUBMIT_NS);
}

test('dispatchCostsOf: the fixed time of a dispatch, the kernels per layer, embedding and head, and the host time per submission', () => {
  const c = dispatchCostsOf(prepareReplay(transformerRun()));
  assert.ok(c, 'a run with FLOPs and layer names on its kernels has dispatch costs');
  // The lightest tenth by FLOPs is 5/6 embedding kernels (3 of 36 is 1/12 of all) and 1/6 head
  // kernels: its median is an embedding kernel's time. (A lightest fifth would give a head
  // kernel's; the median of all kernels a layer kernel's.)
  assert.equal(c.dispatchNs, EMBED_NS);
  assert.equal(c.dispatchSource, 'lightest kernels');
  assertTraceCounts(c);
});

test('dispatchCostsOf: the fixed time of a dispatch is what the run’s dispatch probe measured, when the trace carries it', () => {
  const c = dispatchCostsOf(prepareReplay(transformerRun({ probe: true })));
  assert.ok(c);
  // The probe's figure, not the lightest kernels' (30 µs) nor any other kernel's time.
  assert.equal(c.dispatchNs, PROBED_NS);
  assert.equal(c.dispatchSource, 'probe');
  // The counts and the submission cost still come from the trace.
  assertTraceCounts(c);
  // A host probe without the dispatch figure (runs recorded before it, or a probe that failed): the lightest kernels.
  const { dispatch: _dropped, ...older } = PROBE;
  const m = transformerRun();
  m.meta.info = { ...m.meta.info, hostProbe: { ...older, dispatchError: 'no timestamp queries' } };
  assert.equal(dispatchCostsOf(prepareReplay(m))?.dispatchNs, EMBED_NS);
  // And it is what the layout model is calibrated with.
  const run = measuredRunOf(prepareReplay(transformerRun({ probe: true })));
  assert.equal(run.dispatch?.dispatchNs, PROBED_NS);
});

test('dispatchCostsOf: undefined without CommLens’s FLOPs or layer names on the kernels (compute is then FLOPs alone)', () => {
  assert.equal(dispatchCostsOf(prepareReplay(transformerRun({ flops: false }))), undefined);
  assert.equal(dispatchCostsOf(prepareReplay(transformerRun({ layerNames: false }))), undefined);
  const ctx = prepareReplay(transformerRun({ flops: false }));
  assert.equal(measuredRunOf(ctx).dispatch, undefined);
});

test('calibrate keeps the measured dispatch costs while the FLOPs keep over 20 % of compute, and drops them beyond', () => {
  const ctx = prepareReplay(transformerRun());
  const run = measuredRunOf(ctx);
  assert.ok(run.dispatch);
  const d: JobDims = {
    layers: 2,
    dModel: 128,
    heads: 4,
    seqLen: 64,
    vocab: 512,
    maxSeqLen: 64,
    globalBatch: 8,
    worldSize: 2,
    bytesPerElement: 4,
    precision: 'fp32',
  };
  const dp: Layout = { ...DEFAULT_LAYOUT, dp: 2 };
  // 36 dispatches of 30 µs against the run's measured compute (36 kernels, ~2.3 ms): kept.
  const kept = calibrate(d, dp, run);
  assert.deepEqual(kept.dispatch, run.dispatch);
  // The same counts at a fixed time that would take over 80 % of compute: compute is FLOPs alone.
  const tooBig = { ...run.dispatch, dispatchNs: (0.85 * run.computeNs) / 36 };
  assert.equal(calibrate(d, dp, { ...run, dispatch: tooBig }).dispatch, undefined);
  const justUnder = { ...run.dispatch, dispatchNs: (0.75 * run.computeNs) / 36 };
  assert.deepEqual(calibrate(d, dp, { ...run, dispatch: justUnder }).dispatch, justUnder);
});

/**
 * transformerRun with the runtime's four host phases in every step of every rank (data, forward,
 * backward, optimizer), and, in `stretched` of rank 0's steps, `extraNs` more at the step's start
 * (before its first kernel, within the gap left before it) of which the first `waitNs` the host waits
 * on a collective.
 */
function withHostPhases(info: Args = {}, stretch?: { steps: number[]; extraNs: number; waitNs: number }): TraceModel {
  const m = transformerRun();
  m.meta.info = { ...m.meta.info, ...info };
  const added: TraceModel['slices'] = [];
  for (const sl of m.slices) {
    if (sl.category !== 'step') continue;
    const pid = m.tracks[sl.track].pid;
    const step = Number(/step (\d+)/.exec(sl.name)?.[1]);
    if (stretch && pid === m.processes[0].pid && stretch.steps.includes(step)) {
      sl.startNs -= stretch.extraNs;
      sl.durNs += stretch.extraNs;
      if (stretch.waitNs > 0)
        added.push({
          track: sl.track,
          name: 'wait allReduce',
          category: 'wait',
          startNs: sl.startNs,
          durNs: stretch.waitNs,
        });
    }
    for (const [i, name] of ['data', 'forward (encode)', 'backward + gradient exchange', 'optimizer'].entries())
      added.push({ track: sl.track, name, category: 'host', startNs: sl.startNs + i * 1_000, durNs: 500 });
  }
  m.slices.push(...added);
  return m;
}

test('hostTimePerSubmission: the steps less their kernels and waits, over the host phases, mean over ranks and steps; a PP run’s passes count', () => {
  // Without host phases in the trace: undefined, and dispatchCostsOf keeps the step-start gap.
  assert.equal(hostTimePerSubmission(prepareReplay(transformerRun())), undefined);
  const base = prepareReplay(withHostPhases());
  const h0 = hostTimePerSubmission(base);
  assert.ok(h0 !== undefined && h0 > 0, 'a run with host phases has a host time per submission');
  assert.equal(dispatchCostsOf(base)?.submitNs, h0, 'dispatchCostsOf prices a submission at it');
  // One replayed step of one rank with 400 µs more, 100 µs of them waiting on a collective: 300 µs
  // more host time in one of the samples (ranks × replayed steps), over its 4 host phases. The mean
  // counts it; a median over the samples would not move.
  const samples = base.graphs.length * base.views.length;
  assert.ok(samples >= 4);
  const one = { steps: [base.graphs[0].step!], extraNs: 200_000, waitNs: 50_000 };
  const h1 = hostTimePerSubmission(prepareReplay(withHostPhases({}, one)));
  assert.ok(h1 !== undefined);
  assert.ok(Math.abs(h1 - h0 - 150_000 / 4 / samples) < 1, `${h1 - h0} ns more per submission`);
  // The same run as PP 2 with 4 micro-batches: its forward and backward phases hold 4 passes each,
  // so a step is 4 + 2·3 = 10 submissions.
  const pp = {
    config: { strategy: 'pp', worldSize: 2, strategyOptions: { pipelineParallelSize: 2, microBatches: 4 } },
  };
  const p0 = hostTimePerSubmission(prepareReplay(withHostPhases(pp)));
  assert.ok(p0 !== undefined);
  assert.ok(Math.abs(p0 - (h0 * 4) / 10) < 1, `PP: ${p0} against ${(h0 * 4) / 10}`);
});
