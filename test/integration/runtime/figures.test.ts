/**
 * One figure per quantity on every surface: a real `tiny` run and the verify run of one of
 * its suggestions, through the built CLI; then every surface that shows a measured step
 * time (the CLI's output, summary.json, report.md, comparison.json, the runs view, Compare,
 * the webview's data) is read, and each must agree within 1 % and leave warm-up out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { cliPath } from '../../helpers/paths';
import { toAnalysisView } from '../../../extension/analysisView';
import { listRuns } from '../../../extension/runsStore';
import { compareMarkdown } from '../../../extension/compare';
import { median } from '../../../trace/stats';
import { steadyStepTime, syncPeriodOf } from '../../../trace/warmup';
import { analyze, type Analysis } from '../../../analysis/index';
import { loadTraceFile } from '../../../trace/load';
import { baselineDriftText, comparisonText, type Comparison } from '../../../analysis/verify';
import { componentRows } from '../../../analysis/predictionReport';

const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' };

/** A duration as trace/format.ts writes it ("29.1 ms", "812.4 µs", "1.2 s") back in ns. */
function parseDuration(text: string): number {
  const m = /(-?[\d.]+)\s*(ns|µs|ms|s)\b/.exec(text);
  assert.ok(m, `no duration in '${text}'`);
  return Number(m[1]) * { ns: 1, µs: 1e3, ms: 1e6, s: 1e9 }[m[2] as 'ns' | 'µs' | 'ms' | 's'];
}

/** A size as trace/format.ts formatBytes writes it ("7.571 MiB", "323 KiB", "12 B") back in bytes. */
function parseBytes(text: string): number {
  const m = /(-?[\d.]+)\s*(B|KiB|MiB|GiB)\b/.exec(text);
  assert.ok(m, `no size in '${text}'`);
  return Number(m[1]) * { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }[m[2] as 'B' | 'KiB' | 'MiB' | 'GiB'];
}

/** Bytes as shown (4 significant digits) against the figure. */
function agreeBytes(label: string, shown: number, reference: number): void {
  assert.ok(Math.abs(shown - reference) <= 0.001 * reference, `${label}: ${shown} B differs from ${reference} B`);
}

function agree(label: string, value: number, reference: number): void {
  assert.ok(
    Math.abs(value - reference) <= 0.01 * reference,
    `${label}: ${value} ns differs from ${reference} ns by more than 1 %`,
  );
}

interface Summary {
  runId: string;
  config: { strategy: string; strategyOptions?: Record<string, unknown> };
  stepTimeNs: number[];
  warmupSteps: number[];
  medianStepTimeNs: number;
  steadyStepTimeNs: number;
  bytesPerStepPerRank: number[];
  wireBytesPerStepPerRank: number[];
  analysis: Analysis;
}

test('a tiny run and the verify run of its suggestion show one step time on every surface, warm-up left out', async () => {
  const runsDir = mkdtempSync(join(tmpdir(), 'commlens-figures-'));
  try {
    // A slowed link so that communication is worth changing (the advisor's minimum effect).
    const p = spawnSync(
      process.execPath,
      [cliPath, 'profile', '--preset', 'tiny', '--steps', '10', '--link-scale', '200', '--runs-dir', runsDir],
      { env, encoding: 'utf8', timeout: 300_000 },
    );
    assert.equal(p.status, 0, `profile exit ${p.status}\n${p.stdout}\n${p.stderr}`);
    const baseDir = join(runsDir, readdirSync(runsDir)[0]);
    const base = JSON.parse(readFileSync(join(baseDir, 'summary.json'), 'utf8')) as Summary;
    const f = base.analysis.figures;

    // Warm-up: recorded by the run, the same set in summary.json and in the analysis, step 0 among it.
    assert.deepEqual(base.warmupSteps, f.warmupSteps);
    assert.equal(f.warmupSource, 'run metadata');
    assert.ok(f.warmupSteps.includes(0), `step 0 is warm-up: ${JSON.stringify(f.warmupSteps)}`);
    const steady = base.stepTimeNs.slice(base.warmupSteps.length);
    const reference = median(steady);
    // Warm-up excluded: the figure is the steady-state median, and below every warm-up step.
    for (const w of base.warmupSteps)
      assert.ok(
        reference < base.stepTimeNs[w],
        `warm-up step ${w} (${base.stepTimeNs[w]} ns) is slower than the steady state (${reference} ns)`,
      );
    const withWarmup = median(base.stepTimeNs);
    assert.ok(Math.abs(withWarmup - reference) > 0 || base.stepTimeNs.length < 3);

    // summary.json: its own field and the analysis stored in it.
    agree('summary.json medianStepTimeNs', base.medianStepTimeNs, reference);
    agree('summary.json steadyStepTimeNs', base.steadyStepTimeNs, reference);
    agree('summary.json analysis.figures.stepTimeNs', f.stepTimeNs!, reference);
    // The CLI's closing line.
    const done = /step time ([^(]+)\(/.exec(p.stdout);
    assert.ok(done, `no step time in the CLI output:\n${p.stdout}`);
    agree('CLI output', parseDuration(done[1]), reference);
    // report.md's figures table.
    const report = readFileSync(join(baseDir, 'report.md'), 'utf8');
    const row = /\| step time \(median of \d+ steady-state steps?\) \| ([^|]+) \|/.exec(report);
    assert.ok(row, 'report.md has the step-time figure');
    agree('report.md', parseDuration(row[1]), reference);
    assert.match(report, /Warm-up: steps? 0[ ,]/);
    assert.match(report, /## Diagnoses|## Top suggestions/);
    // The webview's data: the step time and every suggestion's "now" figure.
    const view = toAnalysisView(base.analysis);
    agree('webview stepTimeNs', view.stepTimeNs!, reference);
    assert.ok(
      view.ranks.every((r) => (r.steps ?? []).every((s) => !f.warmupSteps.includes(s.step))),
      'the breakdown bars leave warm-up out',
    );
    assert.ok(
      view.suggestions.length > 0,
      `the slowed link should give a suggestion; notes: ${base.analysis.notes.join(' | ')}`,
    );
    for (const s of view.suggestions) agree(`suggestion ${s.id} baseline`, s.predicted.baselineStepTimeNs, reference);
    for (const s of view.suggestions)
      assert.ok(
        s.predicted.baselineExposedCommNs !== undefined,
        `suggestion ${s.id} shows exposed communication before → after`,
      );
    // Suggestions are ordered by score, and no diagnosis is among them.
    assert.ok(base.analysis.suggestions.every((s) => Object.keys(s.configChange).length > 0));
    // The trace file as the extension opens it: analysed again, the same figure and warm-up.
    const model = await loadTraceFile(join(baseDir, 'trace.pftrace'));
    const fromFile = analyze(model);
    assert.deepEqual(fromFile.figures.warmupSteps, f.warmupSteps);
    agree('trace file analysed by the extension', toAnalysisView(fromFile).stepTimeNs!, reference);

    // Bytes per step: one figure, Σ buffer bytes of the busiest rank's collectives, from the
    // runtime (summary.json), the trace's counter (the analysis), the collectives' own sizes
    // (as for a PyTorch trace), the replay's baseline, and on every surface that shows it.
    const bytes = Math.max(...base.bytesPerStepPerRank);
    assert.ok(bytes > 0, 'the run all-reduces its gradients');
    assert.equal(f.bytesPerStep, bytes, 'summary.json per rank and analysis.figures');
    assert.equal(fromFile.figures.bytesPerStep, bytes, 'the trace file');
    const noCounter = {
      ...model,
      counters: model.counters.filter((c) => model.tracks[c.track].name !== 'bytes per step'),
    };
    assert.ok(noCounter.counters.length < model.counters.length, 'the trace has the bytes-per-step counter');
    assert.equal(analyze(noCounter).figures.bytesPerStep, bytes, "the collectives' own sizes");
    for (const s of base.analysis.suggestions)
      if (s.predicted.baselineBytesPerStep !== undefined)
        agreeBytes(`suggestion ${s.id} bytes now`, s.predicted.baselineBytesPerStep, bytes);
    // The bytes on the wire (S × the bus factor) are a figure of their own, kept beside it.
    assert.ok(base.wireBytesPerStepPerRank.every((w) => w > 0));
    const doneBytes = /, ([\d.]+ [KMG]?i?B) of collectives per rank per step/.exec(p.stdout);
    assert.ok(doneBytes, `no bytes per step in the CLI output:\n${p.stdout}`);
    agreeBytes('CLI output bytes', parseBytes(doneBytes[1]), bytes);
    const bytesRow = /\| bytes per rank per step \| ([^|]+) \|/.exec(report);
    assert.ok(bytesRow, 'report.md has the bytes figure');
    agreeBytes('report.md bytes', parseBytes(bytesRow[1]), bytes);
    // The runs view.
    const listed = listRuns(runsDir).find((r) => r.runId === base.runId);
    agree('runs view', listed!.stepTimeNs!, reference);

    // Verify one suggestion: an exact one when there is one (quicker to re-run), else the first.
    const pick =
      base.analysis.suggestions.find((s) => s.verifiable && !s.changesAlgorithm) ??
      base.analysis.suggestions.find((s) => s.verifiable);
    assert.ok(pick, 'a verifiable suggestion');
    // One round: the baseline again, then the change (docs/figures.md).
    const v = spawnSync(process.execPath, [cliPath, 'verify', baseDir, pick.id, '--max-rounds', '1'], {
      env,
      encoding: 'utf8',
      timeout: 300_000,
    });
    assert.equal(v.status, 0, `verify exit ${v.status}\n${v.stdout}\n${v.stderr}`);
    const dirs = readdirSync(runsDir).map((d) => join(runsDir, d));
    assert.equal(dirs.length, 3, `the run, its baseline measured again, the change: ${dirs.join(', ')}`);
    const verifyDir = dirs.find((d) => existsSync(join(d, 'comparison.json')))!;
    assert.ok(verifyDir, 'comparison.json in the changed run');
    const re = JSON.parse(readFileSync(join(verifyDir, 'summary.json'), 'utf8')) as Summary;
    const againDir = dirs.find((d) => d !== baseDir && d !== verifyDir)!;
    const again = JSON.parse(readFileSync(join(againDir, 'summary.json'), 'utf8')) as Summary;
    assert.equal(again.config.strategy, base.config.strategy);
    const againSteady = median(again.stepTimeNs.slice(again.warmupSteps.length));
    // A DiLoCo-family re-run's step time is the mean over whole synchronisation periods (docs/figures.md).
    const reSteady = steadyStepTime(
      re.stepTimeNs.slice(re.warmupSteps.length),
      syncPeriodOf(re.config.strategy, re.config.strategyOptions),
    ).value;
    assert.ok(re.warmupSteps.includes(0));
    agree('re-run summary.json', re.steadyStepTimeNs, reSteady);
    agree('re-run analysis figures', re.analysis.figures.stepTimeNs!, reSteady);
    const cmp = JSON.parse(readFileSync(join(verifyDir, 'comparison.json'), 'utf8')) as Comparison;
    assert.deepEqual(cmp.rounds, {
      baselineSource: 're-measured',
      baselineRunIds: [again.runId],
      changedRunIds: [re.runId],
    });
    // The baseline the change is compared with is the one measured beside it; the prediction started from the original.
    agree('comparison.json baseline', cmp.baseline.stepTimeNs, againSteady);
    agree('comparison.json predicted baseline', cmp.predicted.baselineStepTimeNs, reference);
    agree('comparison.json measured', cmp.measured.stepTimeNs, reSteady);
    assert.deepEqual(cmp.measured.warmupSteps, re.warmupSteps);
    // How far the baseline ran from the run the prediction came from: the same figures, and the CLI's sentence.
    assert.ok(cmp.baselineDrift, 'comparison.json names the baseline drift');
    agree('comparison.json drift, predicted from', cmp.baselineDrift.predictedFromStepNs, reference);
    agree('comparison.json drift, the baseline run', cmp.baselineDrift.runStepNs[0], againSteady);
    agree('comparison.json drift, pooled', cmp.baselineDrift.pooledStepNs, cmp.baseline.stepTimeNs);
    assert.ok(v.stdout.includes(baselineDriftText(cmp.baselineDrift, { fromRun: base.runId })!), v.stdout);
    // The prediction re-made from the baseline run beside the change: that run's own analysis, when it made the suggestion.
    const remade = again.analysis.suggestions.find((x) => x.id === pick.id)?.predicted;
    assert.equal(
      cmp.baselineDrift.repredictedSpeedup,
      remade ? remade.baselineStepTimeNs / remade.stepTimeNs : undefined,
    );
    // The CLI's table: baseline → predicted → measured.
    const line = v.stdout.split('\n').find((l) => l.startsWith('step time '));
    assert.ok(line, `no step-time row in verify's output:\n${v.stdout}`);
    const cells = [...line.matchAll(/([\d.]+\s*(?:ns|µs|ms|s))\b/g)].map((m) => parseDuration(m[1]));
    assert.equal(cells.length, 3, line);
    agree('verify CLI baseline', cells[0], againSteady);
    agree('verify CLI measured', cells[2], reSteady);
    // The step split as the replay splits it: the re-run's own replay in comparison.json and the
    // CLI, beside the prediction's (analysis/predictionReport.ts componentRows).
    assert.ok(re.analysis.replay?.components, 'the re-run analysis replays its steps');
    assert.deepEqual(cmp.measured.components, re.analysis.replay.components);
    const split = componentRows(cmp.predicted.components, cmp.measured.components);
    assert.equal(split.length, 6, 'compute, staging, wire, codec, wait, host');
    for (const r of split) {
      const l = v.stdout.split('\n').find((x) => x.startsWith(`${r.label.padEnd(18)} `));
      assert.ok(l, `no ${r.label} row in verify's output:\n${v.stdout}`);
      const c = [...l.matchAll(/([\d.]+\s*(?:ns|µs|ms|s))\b/g)].map((m) => parseDuration(m[1]));
      assert.equal(c.length, 3, l);
      agree(`verify CLI ${r.label} predicted`, c[1], r.predictedNs);
      agree(`verify CLI ${r.label} measured`, c[2], r.measuredNs);
    }
    // The speed-up: the CLI, comparison.json and the extension say the same sentence.
    assert.ok(v.stdout.includes(`verdict: ${comparisonText(cmp)}`), `${comparisonText(cmp)}\n${v.stdout}`);
    if (cmp.speedupInterval) {
      assert.match(comparisonText(cmp), /measured .+ \(95 % CI, /);
      assert.ok(Math.abs(cmp.measuredSpeedup - againSteady / reSteady) <= 0.01 * cmp.measuredSpeedup);
      assert.ok(cmp.speedupInterval.low <= cmp.measuredSpeedup && cmp.measuredSpeedup <= cmp.speedupInterval.high);
    } else assert.match(v.stdout, /no interval/);
    // Compare: the same figures, and a speed-up with its direction.
    const runs = listRuns(runsDir);
    const b = runs.find((r) => r.runId === base.runId)!;
    const r2 = runs.find((r) => r.runId === re.runId)!;
    agree('runs view (re-run)', r2.stepTimeNs!, reSteady);
    const md = compareMarkdown([b, r2]);
    const stepRow = md.split('\n').find((l) => l.startsWith('| step time (steady state) |'))!;
    const [c1, c2] = stepRow
      .split('|')
      .slice(2, 4)
      .map((c) => parseDuration(c));
    agree('Compare baseline', c1, reference);
    agree('Compare re-run', c2, reSteady);
    const exposedRow = md.split('\n').find((l) => l.startsWith('| exposed communication per step |'))!;
    const e1 = parseDuration(exposedRow.split('|')[2]);
    agree('Compare exposed communication', e1, base.analysis.figures.exposedCommNs!);
    const bytesCells = md
      .split('\n')
      .find((l) => l.startsWith('| bytes per rank per step |'))!
      .split('|')
      .slice(2, 4)
      .map((c) => parseBytes(c));
    agreeBytes('Compare bytes', bytesCells[0], bytes);
    agreeBytes('Compare re-run bytes', bytesCells[1], re.analysis.figures.bytesPerStep!);
    // verify's table and comparison.json: the same figure of each run.
    assert.equal(cmp.baseline.bytesPerStepPerRank, again.analysis.figures.bytesPerStep);
    assert.equal(cmp.measured.bytesPerStepPerRank, re.analysis.figures.bytesPerStep);
    const bytesLine = v.stdout.split('\n').find((l) => l.startsWith('bytes/rank/step'));
    assert.ok(bytesLine, `no bytes row in verify's output:\n${v.stdout}`);
    const sizes = [...bytesLine.matchAll(/([\d.]+ [KMG]?i?B)\b/g)].map((m) => parseBytes(m[1]));
    assert.equal(sizes.length, 3, bytesLine);
    agreeBytes('verify CLI baseline bytes', sizes[0], again.analysis.figures.bytesPerStep!);
    agreeBytes('verify CLI predicted bytes', sizes[1], cmp.predicted.bytesPerStep!);
    agreeBytes('verify CLI measured bytes', sizes[2], re.analysis.figures.bytesPerStep!);
    assert.match(md, /\| warm-up steps \(left out\) \| 0/);
    assert.match(md, /\| speed vs [^|]+\| baseline \| (\d+\.\d+× faster|\d+\.\d % slower|unchanged) \|/);
  } finally {
    rmSync(runsDir, { recursive: true, force: true });
  }
});
