import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HostOptimizer } from '../../../runtime/strategies/hostOptimizer';
import { varianceChangeOfStep } from '../../../runtime/strategies/onebitAdam';

/** ‖v̂_t − v̂_{t−1}‖/‖v̂_t‖ measured the long way: a copy of v, the real step, the two compared. */
function measured(opt: HostOptimizer, p: Float32Array, g: Float32Array, scale: number): number {
  const b2 = opt.settings.beta2 ?? 0.999;
  const before = Float32Array.from(opt.v!);
  const bcPrev = 1 - b2 ** opt.steps;
  opt.step(p, g, scale);
  const bc = 1 - b2 ** opt.steps;
  let diff = 0,
    norm = 0;
  for (let i = 0; i < p.length; i++) {
    const a = before[i] / bcPrev,
      b = opt.v![i] / bc;
    diff += (b - a) ** 2;
    norm += b * b;
  }
  return Math.sqrt(diff / norm);
}

for (const settings of [
  { kind: 'adam' as const, lr: 0.01, weightDecay: 0.1 },
  { kind: 'adamw' as const, lr: 0.01 },
]) {
  test(`1-bit Adam's variance change before the step is the step's change of v̂ (${settings.kind})`, () => {
    const n = 257;
    const opt = new HostOptimizer(settings, n);
    const p = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
    let seed = 7;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
    const l2 = settings.kind === 'adam' ? (settings.weightDecay ?? 0) : 0;
    const opts = (stepsDone: number) => ({ gradScale: 0.5, l2, beta2: 0.999, stepsDone });
    const g0 = Float32Array.from({ length: n }, rnd);
    assert.equal(varianceChangeOfStep(opt.v!, g0, p, opts(0)), 1, 'no variance before the first step');
    opt.step(p, g0, 0.5);
    for (let t = 1; t < 6; t++) {
      // Gradients that shrink, as on mlp-small: v̂ keeps falling, by about 1/t of itself.
      const g = Float32Array.from({ length: n }, () => rnd() / 10 ** t);
      const predicted = varianceChangeOfStep(opt.v!, g, p, opts(opt.steps));
      const actual = measured(opt, p, g, 0.5);
      assert.ok(Math.abs(predicted - actual) <= 1e-4 * actual, `step ${t}: ${predicted} vs ${actual}`);
      assert.ok(Math.abs(actual - 1 / t) < 0.2 / t, `step ${t}: ${actual} near 1/${t}`);
    }
    assert.equal(varianceChangeOfStep(opt.v!, g0, p, { ...opts(opt.steps), gradScale: 0 }), 1, 'a skipped step');
  });
}
