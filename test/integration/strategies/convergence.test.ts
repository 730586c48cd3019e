/**
 * Convergence of the lossy techniques on the presets users run (`mlp-small`, `gpt-mini`,
 * and `tiny`): each technique trains the preset's model with the preset's optimizer for
 * the same steps and seed as plain DDP (so every rank sees the same batches in both
 * runs), with its default options, and must
 *  - stay finite (a NaN loss fails the run),
 *  - end below the loss it started from, and
 *  - keep most of DDP's loss reduction: final − final(DDP) ≤ tolerance × (start − final(DDP)).
 * The band is on the reduction rather than a ratio of final losses because DDP drives
 * mlp-small's loss to ~1e-4 within a few steps: a ratio of two near-zero losses says
 * nothing, while "kept 90% of what DDP gained" does. The final loss is the mean of the
 * last three steps (the task's loss is noisy step to step).
 *
 * Real WebGPU runs (lavapipe here), in-process as lossy.test.ts does; steps are few to
 * keep the file within a few minutes on two cores.
 *
 * The short runs the advisor verifies with (12 steps, the preset's ranks) get 1-bit Adam
 * against Adam on both presets: its warm-up must last until the variance is stable
 * (trace/onebitWarmup.ts). With a fixed 20% of the run (2 steps) mlp-small diverged there:
 * 2.89 → 0.0018 at step 3, then 0.024, 2.20, 14.08 at steps 9-11.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { presetConfig, runStrategy, type StrategyRun } from './harness';
import { onebitWarmupBounds } from '../../../trace/onebitWarmup';

interface PresetCase {
  preset: string;
  /** Steps of every run: enough for the compressed phase to show (warm-ups are 15-50% of them). */
  steps: number;
  /** Allowed share of DDP's loss reduction a technique may lose. */
  tolerance: number;
}

const PRESET_CASES: PresetCase[] = [
  // DDP: 2.89 → ~1e-4 in 8 steps.
  { preset: 'mlp-small', steps: 8, tolerance: 0.05 },
  // DDP: 3.49 → ~3.42 in 12 steps (the content tokens' unigram entropy, ln 30 = 3.40): a
  // small reduction, so the band is wider in share. Measured: the techniques lose 0–13% of
  // it; PowerSGD compressing from step 0 lost 43%.
  { preset: 'gpt-mini', steps: 12, tolerance: 0.25 },
  { preset: 'tiny', steps: 12, tolerance: 0.05 },
];

/** 1-bit Adam; top-k with DGC's momentum correction, local accumulation and warm-up; PowerSGD with error feedback and warm start; int8 with error feedback. */
const TECHNIQUES = ['onebit-adam', 'topk-dgc', 'powersgd', 'int8-ef'];

const finalLoss = (r: StrategyRun): number => r.loss.slice(-3).reduce((a, b) => a + b, 0) / 3;
const curve = (r: StrategyRun): string => r.loss.map((x) => x.toPrecision(4)).join(' ');

for (const { preset, steps, tolerance } of PRESET_CASES) {
  let ddp: StrategyRun | undefined;

  test(`${preset}: DDP baseline learns in ${steps} steps`, async (t) => {
    ddp = await runStrategy(presetConfig(preset, { strategy: 'ddp', steps }), false);
    t.diagnostic(`ddp: final ${finalLoss(ddp).toPrecision(4)}; ${curve(ddp)}`);
    assert.equal(ddp.loss.length, steps);
    assert.ok(finalLoss(ddp) < ddp.loss[0], `${preset} DDP: ${curve(ddp)}`);
  });

  for (const strategy of TECHNIQUES) {
    test(`${preset}: ${strategy} keeps ≥ ${100 - tolerance * 100}% of DDP's loss reduction over ${steps} steps`, async (t) => {
      assert.ok(ddp, 'the DDP baseline ran first');
      const run = await runStrategy(presetConfig(preset, { strategy, steps }), false);
      const start = ddp.loss[0];
      const base = finalLoss(ddp);
      const got = finalLoss(run);
      const message = `${preset} ${strategy}: final ${got.toPrecision(4)} vs DDP ${base.toPrecision(4)} from ${start.toPrecision(4)}\n  ${strategy}: ${curve(run)}\n  ddp: ${curve(ddp)}`;
      t.diagnostic(
        `${strategy}: final ${got.toPrecision(4)} (DDP ${base.toPrecision(4)}, lost ${(((got - base) / (start - base)) * 100).toFixed(1)}% of its reduction); ${curve(run)}`,
      );
      assert.ok(
        Math.abs(run.loss[0] - start) <= 1e-6 * start,
        `same seed and batches, so the first loss (before any update) is DDP's: ${message}`,
      );
      assert.ok(run.loss.every(Number.isFinite), message);
      assert.ok(got < start, `loss decreased: ${message}`);
      assert.ok(
        got - base <= tolerance * (start - base),
        `within ${tolerance} of DDP's reduction (${(start - base).toPrecision(4)}): ${message}`,
      );
    });
  }
}

/**
 * The advisor's verify runs (bench/advisor.ts): 12 steps on the preset's ranks (mlp-small 4,
 * gpt-mini 2; mlp-small on 2 ranks did not diverge with the old 2-step warm-up). 1-bit Adam with its default (adaptive)
 * warm-up against Adam (DDP) with the same seed and batches: no NaN, no step after the
 * first 3 above the starting loss (no rise), and the final loss (mean of the last 3) keeps
 * all but `tolerance` of Adam's loss reduction. Measured (2026-12-03, lavapipe): mlp-small
 * froze after 5 steps, final 1.2e-4 (Adam 4.0e-5, from 2.894); gpt-mini froze after 5,
 * final 3.425 (Adam 3.422, from 3.495: 4.8% of Adam's reduction lost). The variance must freeze within the rule's bounds, and say so in its note.
 */
const SHORT_RUNS: { preset: string; tolerance: number }[] = [
  { preset: 'mlp-small', tolerance: 0.05 },
  { preset: 'gpt-mini', tolerance: 0.25 },
];
const SHORT_STEPS = 12;

for (const { preset, tolerance } of SHORT_RUNS) {
  test(`${preset}, ${SHORT_STEPS} steps as the advisor verifies: 1-bit Adam keeps ≥ ${100 - tolerance * 100}% of Adam's loss reduction and does not rise`, async (t) => {
    const over = { steps: SHORT_STEPS };
    const adam = await runStrategy(presetConfig(preset, { ...over, strategy: 'ddp' }), false);
    const run = await runStrategy(presetConfig(preset, { ...over, strategy: 'onebit-adam' }), false);
    const start = adam.loss[0];
    const base = finalLoss(adam);
    const got = finalLoss(run);
    const note = run.outcome.done.find((d) => d.rank === 0)?.notes?.[0] ?? '';
    const message = `${preset} onebit-adam: final ${got.toPrecision(4)} vs Adam ${base.toPrecision(4)} from ${start.toPrecision(4)}\n  onebit-adam: ${curve(run)}\n  adam: ${curve(adam)}\n  ${note}`;
    t.diagnostic(
      `onebit-adam: final ${got.toPrecision(4)} (Adam ${base.toPrecision(4)}, lost ${(((got - base) / (start - base)) * 100).toFixed(1)}% of its reduction); ${curve(run)}; ${note}`,
    );
    assert.ok(Math.abs(run.loss[0] - start) <= 1e-6 * start, `same seed and batches: ${message}`);
    assert.ok(run.loss.every(Number.isFinite), `no NaN: ${message}`);
    assert.ok(
      run.loss.slice(3).every((x) => x < start),
      `no step after the first 3 above the starting loss: ${message}`,
    );
    assert.ok(
      got - base <= tolerance * (start - base),
      `within ${tolerance} of Adam's reduction (${(start - base).toPrecision(4)}): ${message}`,
    );
    const frozenAfter = /variance frozen after step (\d+) \((\d+) full-precision/.exec(note);
    assert.ok(frozenAfter, `rank 0 notes when the variance froze: ${JSON.stringify(note)}`);
    const { min, max } = onebitWarmupBounds(SHORT_STEPS);
    const warmup = Number(frozenAfter[2]);
    assert.ok(warmup >= min && warmup <= max, `warm-up ${warmup} within the rule's ${min}-${max}: ${note}`);
  });
}
