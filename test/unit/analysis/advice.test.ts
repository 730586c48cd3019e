// Warm-up, the run's figures, and suggestions a practitioner would accept, on hand-built
// runs (synthetic.ts) whose numbers are known by construction.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze, prepareReplay, WORTHWHILE, type Suggestion } from '../../../analysis/index';
import { SEQUENCE_PARALLEL, ZERO } from '../../../analysis/advisor/catalogue';
import { markdownReport } from '../../../analysis/report';
import { etaFromSteadySteps, warmupStepCount } from '../../../trace/warmup';
import { formatSpeedup } from '../../../trace/format';
import { median } from '../../../trace/stats';
import type { Args, TraceModel } from '../../../trace/model';
import { syntheticRun } from '../../helpers/syntheticRun';

/** The same run, as if it had been made with another strategy. */
function withStrategy(m: TraceModel, strategy: string): TraceModel {
  const info = m.meta.info as Args;
  const config = JSON.parse(String(info.config)) as Record<string, unknown>;
  config.strategy = strategy;
  delete config.strategyOptions;
  m.meta.info = { ...info, strategy, config: JSON.stringify(config) };
  return m;
}

test('warm-up rule: the first step, then each step far slower than the steps after it, up to a quarter of the run', () => {
  assert.equal(warmupStepCount([]), 0);
  assert.equal(warmupStepCount([5e9]), 0, 'a lone step is all there is');
  assert.equal(warmupStepCount([10, 10]), 1, 'the first step is warm-up even when it is not slower');
  assert.equal(warmupStepCount([20e9, 15, 14, 16, 15]), 1);
  assert.equal(warmupStepCount([20e9, 900, 15, 14, 16, 15, 15, 14]), 2, 'step 1 is 60× the median after it');
  assert.equal(warmupStepCount([20e9, 900, 800, 700, 15, 14, 16, 15]), 2, 'capped at a quarter of 8 steps');
  assert.equal(warmupStepCount([20e9, 20, 15, 14, 16, 15, 15, 14]), 1, '20 is within 1.5× of 15');
});

test('the ETA comes from steady-state steps only, and is unknown while only warm-up has finished', () => {
  assert.equal(etaFromSteadySteps([20e9], 9), undefined);
  assert.equal(etaFromSteadySteps([20e9, 10e6], 8), 80e6);
  assert.equal(etaFromSteadySteps([20e9, 10e6, 12e6, 11e6], 6), 6 * 11e6);
  assert.equal(etaFromSteadySteps([20e9, 10e6], 0), 0);
});

test('the analysis leaves warm-up out of the step time, and the predictions start from that same figure', () => {
  const m = syntheticRun({ ranks: 2, steps: 5, buckets: 2, gradBytes: 8 * 1024 * 1024, bytesPerNs: 0.05 });
  // Make step 0 a 2-second warm-up on every rank (its step slices only: the ops stay).
  for (const s of m.slices)
    if (s.category === 'step' && s.args?.step === 0) {
      s.startNs -= 2e9;
      s.durNs += 2e9;
    }
  const a = analyze(m);
  assert.deepEqual(a.figures.warmupSteps, [0]);
  assert.equal(a.figures.warmupSource, 'rule');
  const later = a.figures.stepTimesNs.filter((s) => s.step !== 0).map((s) => s.timeNs);
  assert.equal(a.figures.stepTimeNs, median(later));
  assert.ok(a.figures.stepTimeNs! < 1e9, 'the 2 s warm-up is not in the step time');
  assert.ok(a.suggestions.length > 0);
  for (const s of a.suggestions)
    assert.equal(
      s.predicted.baselineStepTimeNs,
      a.figures.stepTimeNs,
      `${s.id}: the "now" of a prediction is the run's step time`,
    );
  assert.ok(a.notes.some((n) => /warm-up: step 0/.test(n)));
  const md = markdownReport(a);
  assert.match(md, /## Run figures \(steady state\)/);
  assert.match(md, /Warm-up: step 0 /);
  // The run records its own warm-up: the analysis takes it as is.
  (m.meta.info as Args).warmupSteps = [0, 1];
  const b = analyze(m);
  assert.deepEqual(b.figures.warmupSteps, [0, 1]);
  assert.equal(b.figures.warmupSource, 'run metadata');
});

function checkAdvice(a: ReturnType<typeof analyze>): void {
  for (let i = 1; i < a.suggestions.length; i++)
    assert.ok(a.suggestions[i - 1].score >= a.suggestions[i].score, 'ranked by score');
  for (const s of a.suggestions) {
    assert.ok(Object.keys(s.configChange).length > 0, `${s.id}: a suggestion changes the config`);
    const p = s.predicted;
    const memoryWin =
      p.peakMemoryBytes !== undefined &&
      p.baselinePeakMemoryBytes !== undefined &&
      p.baselinePeakMemoryBytes - p.peakMemoryBytes >= WORTHWHILE.minMemoryBytes &&
      p.peakMemoryBytes <= (1 - WORTHWHILE.minMemoryShare) * p.baselinePeakMemoryBytes;
    assert.ok(
      s.stepTimeGain >= WORTHWHILE.minStepGain || memoryWin,
      `${s.id}: gain ${s.stepTimeGain} is below the worthwhile minimum`,
    );
    // Algorithm changes are discounted below an exact change of the same gain.
    if (s.changesAlgorithm)
      assert.ok(s.score < s.stepTimeGain, `${s.id}: an algorithm change ranks below an equal exact gain`);
    else if (s.kind === 'compression' || s.kind === 'overlap')
      assert.ok(Math.abs(s.score - s.stepTimeGain) < 1e-12, `${s.id}: an exact change ranks by its gain`);
  }
  for (const d of a.diagnoses) assert.deepEqual(d.configChange, {}, `${d.id}: a diagnosis has no config change`);
}

test('suggestions: ranked by predicted gain, diagnoses apart, nothing under the worthwhile minimum, algorithm changes flagged', () => {
  const slow = analyze(
    syntheticRun({
      ranks: 4,
      steps: 4,
      buckets: 2,
      gradBytes: 8 * 1024 * 1024,
      bytesPerNs: 0.05,
      slowRank: 2,
      slowExtraNs: 60_000,
    }),
  );
  checkAdvice(slow);
  assert.ok(
    slow.diagnoses.some((d) => d.id === 'imbalance'),
    'the slow rank computes more: a diagnosis',
  );
  const ids = slow.suggestions.map((s) => s.id);
  for (const algo of ['compression-powersgd', 'compression-topk-dgc', 'compression-onebit-adam']) {
    const s = slow.suggestions.find((x) => x.id === algo);
    if (s) assert.ok(s.changesAlgorithm, `${algo} changes the algorithm`);
  }
  assert.ok(slow.suggestions.filter((s) => s.kind === 'local-updates').every((s) => s.changesAlgorithm));
  assert.ok(ids.length > 0);
  const md = markdownReport(slow);
  assert.match(md, /## Diagnoses/);
  const [top, diag] = [md.indexOf('## Top suggestions'), md.indexOf('## Diagnoses')];
  assert.ok(top >= 0 && diag > top);
  assert.ok(!md.slice(top, diag).includes('Compute is imbalanced'), 'no diagnosis in the ranked list');
  assert.ok(md.slice(diag).includes('Compute is imbalanced'));
  assert.match(md, /Predicted \(now → after\): step time [^→]+→/);
  // A fast link: a few percent of communication, nothing worth changing (no 0 % entries).
  const fast = analyze(syntheticRun({ ranks: 2, steps: 4, gradBytes: 64 * 1024, bytesPerNs: 100 }));
  checkAdvice(fast);
  assert.deepEqual(
    fast.suggestions.map((s) => s.id),
    [],
  );
  assert.match(markdownReport(fast), /None: a change is suggested only when/);
});

test('never suggests what the run already does', () => {
  const shape = { ranks: 2, steps: 4, buckets: 2, gradBytes: 8 * 1024 * 1024, bytesPerNs: 0.05, memory: true };
  const ddp = analyze(syntheticRun(shape));
  assert.ok(
    ddp.suggestions.some((s) => s.id === 'compression-bf16'),
    'the DDP run is told to cast',
  );
  const bf16 = analyze(withStrategy(syntheticRun(shape), 'bf16'));
  assert.ok(
    !bf16.suggestions.some((s) => s.id === 'compression-bf16' || s.id === 'compression-fp16'),
    'no second half-precision cast',
  );
  const fp16 = analyze(withStrategy(syntheticRun(shape), 'fp16'));
  assert.ok(!fp16.suggestions.some((s) => s.id === 'compression-bf16' || s.id === 'compression-fp16'));
  const zero2 = analyze(withStrategy(syntheticRun(shape), 'zero2'));
  assert.ok(
    !zero2.suggestions.some((s: Suggestion) => s.id === 'zero1' || s.id === 'zero2'),
    "no ZeRO stage at or below the run's",
  );
  const diloco = analyze(withStrategy(syntheticRun(shape), 'diloco'));
  assert.ok(!diloco.suggestions.some((s) => s.kind === 'local-updates'));
  // At most one ZeRO stage, and only a worthwhile one.
  assert.ok(ddp.suggestions.filter((s) => s.kind === 'sharding').length <= 1);
  checkAdvice(ddp);
});

test("a mixture-of-experts run ('ep') is not told to switch to ZeRO: its model runs under expert parallelism only", () => {
  const shape = { ranks: 4, steps: 4, buckets: 2, gradBytes: 64 * 1024 * 1024, bytesPerNs: 1, memory: true };
  const ddp = analyze(syntheticRun(shape));
  assert.ok(
    ddp.suggestions.some((s) => s.kind === 'sharding'),
    'the same run under DDP is told to shard',
  );
  const ep = analyze(withStrategy(syntheticRun(shape), 'ep'));
  assert.deepEqual(
    ep.suggestions.filter((s) => s.kind === 'sharding' || s.kind === SEQUENCE_PARALLEL.kind).map((s) => s.id),
    [],
  );
});

test("ZeRO-2's risk text agrees with its bytes per step (twice the buffer bytes of one all-reduce)", () => {
  assert.doesNotMatch(ZERO[2].risk, /same volume as DDP/);
  assert.match(ZERO[2].risk, /double/);
});

test('a speed-up always says its direction', () => {
  assert.equal(formatSpeedup(1.39), '1.39× faster');
  assert.equal(formatSpeedup(0.72), '28.0 % slower');
  assert.equal(formatSpeedup(1.001), 'unchanged');
});

test('a suggestion says how its prediction was priced: its own what-if notes, in the analysis and the report', () => {
  const m = syntheticRun({
    ranks: 4,
    steps: 6,
    gradBytes: 8 * 1024 * 1024,
    bytesPerNs: 0.05,
    hostCores: 4,
    hostProbe: {
      codecBytesPerNs: { fp16: 0.5 },
      d2h: { latencyNs: 50_000, bytesPerNs: 20 },
      h2d: { latencyNs: 20_000, bytesPerNs: 40 },
      outerStepBytesPerNs: { gradient: 1, nesterov: 0.5, mix: 1 },
    },
  });
  const ctxNotes = prepareReplay(m).notes;
  assert.ok(ctxNotes.length > 0, 'the trace-wide notes this test keeps out of the suggestions');
  const a = analyze(m);
  const byId = (id: string) => {
    const s = a.suggestions.find((x) => x.id.startsWith(id));
    assert.ok(s, `${id} among ${a.suggestions.map((x) => x.id).join(', ')}`);
    return s.predicted.notes ?? [];
  };
  const diloco = byId('diloco-h');
  assert.ok(
    diloco.some((n) =>
      /outer-step loops priced by the host probe at the start of the run: 1\.00, 0\.50 and 1\.00 GB\/s/.test(n),
    ),
    diloco.join('\n'),
  );
  assert.ok(diloco.some((n) => /outer step host work per period of \d+ steps/.test(n)));
  assert.ok(
    byId('compression-fp16').some((n) => /fp16 encode \+ decode measured by the host probe.*0\.500 GB\/s/.test(n)),
  );
  // A codec the probe did not time is priced by the constant, and says why.
  assert.ok(byId('compression-bf16').some((n) => /constant .*the run's host probe did not time this codec/.test(n)));
  for (const s of a.suggestions)
    for (const n of s.predicted.notes ?? [])
      assert.ok(!ctxNotes.includes(n), `${s.id} repeats a trace-wide note: ${n}`);
  // The report prints them under the prediction they priced.
  const report = markdownReport(a, { topSuggestions: a.suggestions.length });
  const at = report.indexOf(`. ${a.suggestions.find((x) => x.id.startsWith('diloco-h'))!.title}`);
  assert.ok(at > 0);
  const section = report.slice(at, report.indexOf('\n### ', at + 1) > 0 ? report.indexOf('\n### ', at + 1) : undefined);
  assert.match(section, /\n- How it was priced:\n {2}- outer-step loops priced by the host probe/);
});
