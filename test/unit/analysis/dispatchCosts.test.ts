import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dispatchCostsOf, measuredRunOf, prepareReplay } from '../../../analysis/replay/whatIf';
import { calibrate, DEFAULT_LAYOUT, type JobDims, type Layout } from '../../../analysis/replay/layouts';
import type { TraceModel } from '../../../trace/model';
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

test('dispatchCostsOf: the fixed time of a dispatch, the kernels per layer, embedding and head, and the host time per submission', () => {
  const c = dispatchCostsOf(prepareReplay(transformerRun()));
  assert.ok(c, 'a run with FLOPs and layer names on its kernels has dispatch costs');
  // The lightest tenth by FLOPs is 5/6 embedding kernels (3 of 36 is 1/12 of all) and 1/6 head
  // kernels: its median is an embedding kernel's time. (A lightest fifth would give a head
  // kernel's; the median of all kernels a layer kernel's.)
  assert.equal(c.dispatchNs, EMBED_NS);
  assert.equal(c.dispatchSource, 'lightest kernels');
  assert.equal(c.perLayer, 12);
  assert.equal(c.embed, 3);
  assert.equal(c.head, 9);
  assert.equal(c.submitNs, SUBMIT_NS);
});

test('dispatchCostsOf: the fixed time of a dispatch is what the run’s dispatch probe measured, when the trace carries it', () => {
  const c = dispatchCostsOf(prepareReplay(transformerRun({ probe: true })));
  assert.ok(c);
  // The probe's figure, not the lightest kernels' (30 µs) nor any other kernel's time.
  assert.equal(c.dispatchNs, PROBED_NS);
  assert.equal(c.dispatchSource, 'probe');
  // The counts and the submission cost still come from the trace.
  assert.equal(c.perLayer, 12);
  assert.equal(c.embed, 3);
  assert.equal(c.head, 9);
  assert.equal(c.submitNs, SUBMIT_NS);
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
