// The speed-up's confidence interval (trace/stats.ts bootstrapRatio): checked against
// values known from theory — the delta method's standard error of a ratio of means, the
// asymptotic standard error of a median — and against its own coverage over many
// simulated experiments with a known true ratio.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrapRatio, mean, median, ratioSampleProblem } from '../../../trace/stats';

/** Normal draws from a seeded generator (Box–Muller), so every run of the test sees the same numbers. */
function normals(n: number, mu: number, sigma: number, seed: number): number[] {
  let s = seed >>> 0 || 1;
  const u = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 1) / 4294967297;
  };
  const out: number[] = [];
  while (out.length < n) {
    const r = Math.sqrt(-2 * Math.log(u()));
    const th = 2 * Math.PI * u();
    out.push(mu + sigma * r * Math.cos(th), mu + sigma * r * Math.sin(th));
  }
  return out.slice(0, n);
}

function sd(xs: number[]): number {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((t, x) => t + (x - m) ** 2, 0) / (xs.length - 1));
}

test('constant samples: the exact ratio and an interval of no width', () => {
  const r = bootstrapRatio(
    { values: [200, 200, 200, 200], statistic: 'median' },
    { values: [100, 100, 100], statistic: 'median' },
  );
  assert.ok(r);
  assert.equal(r.estimate, 2);
  assert.equal(r.low, 2);
  assert.equal(r.high, 2);
  assert.equal(r.halfWidth, 0);
  assert.equal(r.confidence, 0.95);
});

test('ratio of means: the half-width is the delta method’s 1.96 · r · √(cv²a/na + cv²b/nb)', () => {
  const a = normals(400, 100, 10, 7);
  const b = normals(400, 50, 5, 11);
  const r = bootstrapRatio({ values: a, statistic: 'mean' }, { values: b, statistic: 'mean' }, { resamples: 4000 })!;
  const ratio = mean(a) / mean(b);
  assert.ok(Math.abs(r.estimate - ratio) < 1e-12);
  const se = ratio * Math.sqrt((sd(a) / mean(a)) ** 2 / a.length + (sd(b) / mean(b)) ** 2 / b.length);
  // ≈ 0.0277 for these parameters; the bootstrap's own randomness is a few per cent.
  assert.ok(Math.abs(se * 1.96 - 0.0277) < 0.003, `analytic half-width ${se * 1.96}`);
  const half = (r.high - r.low) / 2;
  assert.ok(Math.abs(half / (1.96 * se) - 1) < 0.1, `bootstrap ${half} vs analytic ${1.96 * se}`);
  assert.ok(r.low < ratio && ratio < r.high);
});

test('ratio of medians: the half-width follows the median’s standard error 1.2533 · σ / √n', () => {
  const a = normals(401, 100, 10, 3);
  const b = Array.from({ length: 401 }, () => 50);
  const r = bootstrapRatio(
    { values: a, statistic: 'median' },
    { values: b, statistic: 'median' },
    { resamples: 4000 },
  )!;
  assert.equal(r.estimate, median(a) / 50);
  const want = (1.96 * 1.2533 * 10) / Math.sqrt(401) / 50; // ≈ 0.0245
  const half = (r.high - r.low) / 2;
  assert.ok(Math.abs(half / want - 1) < 0.25, `bootstrap ${half} vs asymptotic ${want}`);
});

test('the same samples give the same interval; scaling one side scales the ratio exactly', () => {
  const a = normals(30, 100, 8, 5);
  const b = normals(30, 80, 8, 9);
  const one = bootstrapRatio({ values: a, statistic: 'median' }, { values: b, statistic: 'median' })!;
  const again = bootstrapRatio({ values: a, statistic: 'median' }, { values: b, statistic: 'median' })!;
  assert.deepEqual(one, again);
  const scaled = bootstrapRatio(
    { values: a, statistic: 'median' },
    { values: b.map((x) => x * 2), statistic: 'median' },
  )!;
  for (const k of ['estimate', 'low', 'high', 'halfWidth'] as const)
    assert.ok(Math.abs(scaled[k] - one[k] / 2) < 1e-12, `${k}: ${scaled[k]} vs ${one[k] / 2}`);
});

test('periods: resampling within each position keeps one sync step per period', () => {
  // H = 4: three inner steps of 100 and a sync step of 500, exactly, in 5 periods; the other side constant.
  const periodic = Array.from({ length: 20 }, (_, i) => (i % 4 === 3 ? 500 : 100));
  const other = { values: [200, 200, 200, 200], statistic: 'median' as const };
  const strat = bootstrapRatio({ values: periodic, statistic: 'mean', period: 4 }, other)!;
  assert.equal(strat.estimate, 1);
  assert.equal(strat.halfWidth, 0, 'every resample is whole periods: mean 200');
  // Treated as exchangeable, a resample can hold any number of sync steps: a wide interval.
  const plain = bootstrapRatio({ values: periodic, statistic: 'mean' }, other)!;
  assert.ok(plain.halfWidth > 0.2, `${plain.halfWidth}`);
});

test('coverage: about 95 % of intervals hold the true ratio', () => {
  let hits = 0;
  const trials = 200;
  for (let i = 0; i < trials; i++) {
    const a = normals(20, 120, 12, 1000 + i);
    const b = normals(20, 100, 10, 5000 + i);
    const r = bootstrapRatio(
      { values: a, statistic: 'mean' },
      { values: b, statistic: 'mean' },
      { resamples: 1000, seed: i + 1 },
    )!;
    if (r.low <= 1.2 && 1.2 <= r.high) hits++;
  }
  // Percentile intervals of n = 20 cover a little under 95 %; far off either way is a bug.
  assert.ok(hits >= 176 && hits <= 198, `${hits} of ${trials}`);
});

test('too few values, or values that are not step times, give no interval and say why', () => {
  const ok = { values: [1, 2, 3], statistic: 'median' as const };
  assert.equal(bootstrapRatio({ values: [1, 2], statistic: 'median' }, ok), undefined);
  assert.match(ratioSampleProblem({ values: [1, 2], statistic: 'median' })!, /2 values: at least 3/);
  assert.match(
    ratioSampleProblem({ values: [1, 2, 3, 4], statistic: 'mean', period: 4 })!,
    /1 period of 4: at least 2/,
  );
  assert.match(ratioSampleProblem({ values: [1, 2, 3, 4, 5], statistic: 'mean', period: 2 })!, /not whole periods/);
  assert.match(ratioSampleProblem({ values: [1, NaN, 3], statistic: 'mean' })!, /positive finite/);
  assert.equal(ratioSampleProblem(ok), undefined);
});

// Runs (RatioSample.runs): the bootstrap draws runs, then steps within them (trace/stats.ts).
const steadyRun = (ms: number, n = 10) => Array.from({ length: n }, (_, k) => ms + ((k % 3) - 1) * 0.5);

test('rounds whose runs move together (the machine slower in one round): drawn in pairs, the drift cancels', () => {
  // Round k: a baseline run and a changed run at twice its speed, the machine 10 % faster or slower by round.
  const base = [100, 110, 90].flatMap((ms) => steadyRun(ms));
  const changed = [50, 55, 45].flatMap((ms) => steadyRun(ms));
  const runs = [10, 10, 10];
  const paired = bootstrapRatio(
    { values: base, statistic: 'median', runs },
    { values: changed, statistic: 'median', runs },
  )!;
  assert.equal(paired.resampled, 'paired');
  // Each round reads 2×, so does every draw of rounds: the interval is about a point.
  assert.ok(paired.halfWidth < 0.03, `paired half-width ${paired.halfWidth}`);
  // The same values taken as independent steps draw the slow round's baseline with the fast round's change.
  const pooled = bootstrapRatio({ values: base, statistic: 'median' }, { values: changed, statistic: 'median' })!;
  assert.equal(pooled.resampled, 'values');
  assert.ok(pooled.halfWidth > 3 * paired.halfWidth, `pooled ${pooled.halfWidth} vs paired ${paired.halfWidth}`);
});

test('rounds that read different speed-ups widen the interval to cover them, where their pooled steps did not', () => {
  // Steady steps within each run; the rounds read 2.0×, 1.82× and 2.22×.
  const base = [100, 100, 100].flatMap((ms) => steadyRun(ms));
  const changed = [50, 55, 45].flatMap((ms) => steadyRun(ms));
  const runs = [10, 10, 10];
  const byRuns = bootstrapRatio(
    { values: base, statistic: 'median', runs },
    { values: changed, statistic: 'median', runs },
  )!;
  const bySteps = bootstrapRatio({ values: base, statistic: 'median' }, { values: changed, statistic: 'median' })!;
  assert.ok(byRuns.halfWidth >= 1.5 * bySteps.halfWidth, `runs ${byRuns.halfWidth} vs steps ${bySteps.halfWidth}`);
  assert.ok(byRuns.low <= 1.85 && byRuns.high >= 2.15, `[${byRuns.low}, ${byRuns.high}]`);
  // The estimate is the pooled figure either way.
  assert.equal(byRuns.estimate, bySteps.estimate);
});

test('one run a side is its steps alone, as before; unequal run counts draw each side on its own', () => {
  const a = normals(12, 100, 5, 21);
  const b = normals(12, 60, 5, 23);
  const plain = bootstrapRatio({ values: a, statistic: 'median' }, { values: b, statistic: 'median' })!;
  const oneRun = bootstrapRatio(
    { values: a, statistic: 'median', runs: [12] },
    { values: b, statistic: 'median', runs: [12] },
  )!;
  assert.deepEqual(oneRun, plain);
  assert.equal(plain.resampled, 'values');
  const reused = bootstrapRatio(
    { values: a, statistic: 'median', runs: [12] },
    { values: [...b, ...normals(12, 66, 5, 29)], statistic: 'median', runs: [12, 12] },
  )!;
  assert.equal(reused.resampled, 'runs');
});

test('runs that do not add up to the values, or cut a period, are refused with what would fit', () => {
  assert.match(
    ratioSampleProblem({ values: [1, 2, 3, 4], statistic: 'median', runs: [3, 2] })!,
    /runs of 3, 2 values: expected whole counts of at least 1 that add up to the 4 values/,
  );
  assert.match(
    ratioSampleProblem({ values: [1, 2, 3, 4, 5, 6], statistic: 'mean', period: 2, runs: [3, 3] })!,
    /expected whole periods of 2 each/,
  );
  assert.equal(
    ratioSampleProblem({ values: [1, 2, 3, 4, 5, 6], statistic: 'mean', period: 2, runs: [4, 2] }),
    undefined,
  );
  assert.equal(
    bootstrapRatio(
      { values: [1, 2, 3, 4], statistic: 'median', runs: [3, 2] },
      { values: [1, 2, 3], statistic: 'median' },
    ),
    undefined,
  );
});
