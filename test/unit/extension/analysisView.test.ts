// What the webview gets of an analysis: the run's steady-state figures, suggestions and
// diagnoses apart, every figure of a suggestion with its value now, and for imported
// traces the change to make instead of a re-run.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../../../analysis/index';
import { toAnalysisView, verificationViewOf } from '../../../extension/analysisView';
import { baselineDriftText, comparisonText } from '../../../analysis/verify';
import { formatSignedPct } from '../../../trace/format';
import { waitNsByRankAndStep } from '../../../analysis/collectives';
import { predictionRows, speedupRows } from '../../../webview/panes/predictionRows';
import { syntheticRun } from '../../helpers/syntheticRun';

describe('the webview view of an analysis', () => {
  const a = analyze(
    syntheticRun({
      ranks: 4,
      steps: 5,
      buckets: 2,
      gradBytes: 8 * 1024 * 1024,
      bytesPerNs: 0.05,
      slowRank: 2,
      slowExtraNs: 60_000,
    }),
  );
  const v = toAnalysisView(a);

  it("carries the run's step time and exposed communication, and leaves warm-up out of the bars", () => {
    assert.equal(v.stepTimeNs, a.figures.stepTimeNs);
    assert.equal(v.exposedCommNs, a.figures.exposedCommNs);
    assert.deepEqual(v.warmupSteps, [0]);
    for (const r of v.ranks) assert.ok((r.steps ?? []).length > 0 && (r.steps ?? []).every((s) => s.step !== 0));
  });

  it("gives each step its rank's collective wait: the analysis' per-participant waits, summed by step", () => {
    const instances = a.collectives!.instances;
    const byStep = waitNsByRankAndStep(instances);
    for (const r of v.ranks) {
      // Per rank, every step together is the rank's total wait less the waits outside any step.
      const outside = instances
        .filter((i) => i.step === undefined)
        .flatMap((i) => i.participants.filter((p) => p.rank === r.rank))
        .reduce((t, p) => t + p.waitNs, 0);
      const all = [...(byStep.get(r.rank)?.values() ?? [])].reduce((t, x) => t + x, 0);
      assert.ok(Math.abs(all + outside - a.collectives!.waitNsByRank[String(r.rank)]) < 1e-6 * (1 + all));
      for (const s of r.steps ?? []) {
        assert.equal(s.collectiveWaitNs, byStep.get(r.rank)?.get(s.step) ?? 0);
        const m = a.ranks.find((x) => x.rank === r.rank)!.steps.find((x) => x.step === s.step)!;
        assert.equal(s.startNs, m.startNs);
        assert.equal(s.durNs, m.durNs);
      }
    }
    // The slow rank makes the others wait: somebody waits in a steady-state step.
    assert.ok(v.ranks.some((r) => (r.steps ?? []).some((s) => (s.collectiveWaitNs ?? 0) > 0)));
  });

  it("carries how each prediction was priced (the advisor's notes), and nothing for a suggestion without any", () => {
    const priced = a.suggestions.filter((s) => (s.predicted.notes ?? []).length > 0);
    assert.ok(priced.length > 0, 'the compressions say where their codec speed came from');
    for (const s of a.suggestions)
      assert.deepEqual(v.suggestions.find((x) => x.id === s.id)!.pricing, s.predicted.notes, s.id);
  });

  it('keeps diagnoses apart and shows every predicted figure as now → after', () => {
    assert.deepEqual(
      v.suggestions.map((s) => s.id),
      a.suggestions.map((s) => s.id),
    );
    assert.deepEqual(
      (v.diagnoses ?? []).map((s) => s.id),
      a.diagnoses.map((s) => s.id),
    );
    assert.ok((v.diagnoses ?? []).length > 0);
    for (const s of v.suggestions) {
      const rows = predictionRows(s);
      for (const [name, value] of rows) assert.match(value, /\S+ → \S+/, `${s.id}: ${name} has its value now`);
      assert.equal(s.predicted.baselineStepTimeNs, v.stepTimeNs);
    }
    const algo = v.suggestions.filter((s) => s.changesAlgorithm);
    assert.ok(algo.length > 0 && algo.every((s) => a.suggestions.find((x) => x.id === s.id)!.changesAlgorithm));
  });

  it('marks imported traces so that no re-run is offered, and keeps the PyTorch change', () => {
    const m = syntheticRun({ ranks: 2, steps: 4, buckets: 2, gradBytes: 8 * 1024 * 1024, bytesPerNs: 0.05 });
    m.meta.format = 'kineto';
    const iv = toAnalysisView(analyze(m));
    assert.equal(iv.imported, true);
    assert.ok(iv.suggestions.length > 0);
    assert.ok(iv.suggestions.some((s) => typeof s.pytorchHint === 'string' && s.pytorchHint.length > 0));
    // The changes commlens_torch can make on a re-run carry it as COMMLENS_APPLY, and only those.
    const applicable = iv.suggestions.filter((s) => s.torchApply !== undefined);
    assert.ok(applicable.length > 0, iv.suggestions.map((s) => s.id).join(', '));
    for (const s of applicable)
      assert.match(s.id, /^(overlap-bucket-\d+mb|compression-(fp16|bf16|powersgd))$/, JSON.stringify(s.torchApply));
    for (const s of iv.suggestions.filter((x) => /^(zero|local|compression-(int8|topk|onebit))/.test(x.id)))
      assert.equal(s.torchApply, undefined, s.id);
    assert.ok(
      v.suggestions.every((s) => s.torchApply === undefined),
      'CommLens runs re-run with their config change',
    );
    assert.equal(v.imported, undefined);
  });

  it('splits an older analysis that kept diagnoses among its suggestions', () => {
    const old = { ...a, suggestions: [...a.suggestions, ...a.diagnoses] } as Record<string, unknown>;
    delete old.diagnoses;
    const ov = toAnalysisView(old as never);
    assert.deepEqual(
      ov.suggestions.map((s) => s.id),
      a.suggestions.map((s) => s.id),
    );
    assert.deepEqual(
      (ov.diagnoses ?? []).map((s) => s.id),
      a.diagnoses.map((s) => s.id),
    );
  });

  it('carries the layout figures a pipeline run has (groups, bubble per stage), and none of a DDP run', () => {
    assert.equal(v.groups, undefined);
    assert.equal(v.pipeline, undefined);
    const pa = analyze(syntheticRun({ ranks: 4, steps: 4, pipeline: { stages: 2, microBatches: 4, p2pNs: 20_000 } }));
    const pv = toAnalysisView(pa);
    assert.deepEqual(pv.groups, pa.groups);
    assert.equal(pv.pipeline?.length, 2);
    pv.pipeline!.forEach((p, i) => {
      const want = pa.pipeline![i];
      assert.equal(p.group, want.group);
      assert.equal(p.theoreticalFraction, want.theoreticalFraction);
      assert.deepEqual(
        p.perStage.map((st) => [st.rank, st.meanBubbleNs, st.meanFraction, st.steps.map((x) => x.bubbleNs)]),
        want.perStage.map((st) => [st.rank, st.meanBubbleNs, st.meanFraction, st.steps.map((x) => x.bubbleNs)]),
      );
    });
  });
});

describe("verify's judgement as the Compare pane shows it", () => {
  // A comparison.json as `commlens verify` writes it: three rounds, an interval, the baseline's drift
  // and the prediction re-made from the baseline runs' own analyses.
  const comparison = {
    verdict: 'worse than predicted',
    predictedSpeedup: 1.671,
    measuredSpeedup: 1.409,
    speedupInterval: { estimate: 1.414, halfWidth: 0.08, confidence: 0.95, baselineSteps: 33, changedSteps: 48 },
    baselineDrift: {
      predictedFromStepNs: 815.9e6,
      runStepNs: [900e6, 940e6, 960e6],
      pooledStepNs: 940.5e6,
      relative: 940.5 / 815.9 - 1,
      repredictedSpeedups: [1.5, 1.52, 1.55],
      repredictedSpeedup: 1.52,
    },
  };

  it('takes the verdict line and the figures from comparison.json, the interval estimate as the measured speed-up', () => {
    const v = verificationViewOf(comparison);
    assert.equal(
      v.text,
      `${comparisonText(comparison)}; ${baselineDriftText(comparison.baselineDrift, { short: true })}`,
    );
    assert.match(
      v.text,
      /^worse than predicted: measured 1\.41× ± 0\.08 faster .*predicted 1\.67× faster; the baseline ran 15\.3 % slower .*; re-made from its runs beside the change, the prediction reads 1\.52× faster$/,
    );
    assert.deepEqual(
      { ...v, text: undefined },
      {
        text: undefined,
        predictedSpeedup: 1.671,
        measuredSpeedup: 1.414,
        halfWidth: 0.08,
        confidence: 0.95,
        baselineStepNs: 940.5e6,
        repredictedSpeedup: 1.52,
      },
    );
    // The rows: the speed-up judged, then the prediction re-made; the error is (predicted − measured) / measured.
    const rows = speedupRows(v);
    assert.deepEqual(rows, [
      [
        'Speed-up (against the baseline run beside the change)',
        '940.5 ms a step (run beside)',
        '1.67× faster',
        '1.41× ± 0.08 faster',
        formatSignedPct(((1.671 - 1.414) / 1.414) * 100),
      ],
      [
        'Speed-up predicted again from the baseline run beside',
        '940.5 ms a step (run beside)',
        '1.52× faster',
        '1.41× ± 0.08 faster',
        formatSignedPct(((1.52 - 1.414) / 1.414) * 100),
      ],
    ]);
  });

  it('leaves out what the file lacks or holds wrongly: an older or external comparison.json', () => {
    // Before rounds (or a PyTorch re-run): no interval, no drift; the step-time ratio is the measured speed-up.
    const old = {
      verdict: 'as predicted',
      predictedSpeedup: 1.2,
      measuredSpeedup: 1.18,
      predicted: { stepTimeNs: 5e8 },
      measured: { stepTimeNs: 5.1e8 },
    };
    const v = verificationViewOf(old);
    assert.deepEqual({ ...v, text: undefined }, { text: undefined, predictedSpeedup: 1.2, measuredSpeedup: 1.18 });
    assert.equal(speedupRows(v).length, 1);
    assert.equal(speedupRows(v)[0][3], '1.18× faster');
    assert.equal(speedupRows(v)[0][1], '–');
    // No baseline run beside the change (a PyTorch re-run, --reuse-baseline): the row says what it is against.
    assert.equal(speedupRows(v)[0][0], 'Speed-up (against this run)');
    assert.equal(
      speedupRows(verificationViewOf(comparison))[0][0],
      'Speed-up (against the baseline run beside the change)',
    );
    // Wrong types are dropped, not shown as NaN; without both speed-ups there is no row.
    const bad = verificationViewOf({
      predictedSpeedup: 'fast',
      measuredSpeedup: null,
      baselineDrift: { pooledStepNs: 'x' },
    });
    assert.deepEqual(Object.keys(bad), ['text']);
    assert.deepEqual(speedupRows(bad), []);
    assert.deepEqual(speedupRows(undefined), []);
    assert.equal(verificationViewOf(null).text, comparisonText(null));
  });
});
