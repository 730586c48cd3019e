/**
 * The statistics every room uses, defined once: the median of an even count is the mean
 * of the two middle values (not the upper middle), and an empty list has median and mean 0.
 */

/** The median of `xs` (the mean of the two middle values for an even count); 0 for none. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The arithmetic mean of `xs`; 0 for none. */
export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  let sum = 0;
  for (const x of xs) sum += x;
  return sum / xs.length;
}

/** The `q`-quantile (0..1) by linear interpolation between order statistics; 0 for none. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const pos = Math.min(1, Math.max(0, q)) * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/**
 * Fit of ns = latency + bytes / speed to (bytes, ns) samples by least squares, as a copy's
 * cost is modelled. One size only, a negative intercept or a non-positive slope (noise)
 * fall back to a line through the origin (all of it per byte); the speed is at most 1e6
 * bytes per ns.
 */
export function fitLatencyAndSpeed(samples: readonly { bytes: number; ns: number }[]): {
  latencyNs: number;
  bytesPerNs: number;
} {
  if (samples.length === 0) return { latencyNs: 0, bytesPerNs: 1e6 };
  const mx = mean(samples.map((s) => s.bytes));
  const my = mean(samples.map((s) => s.ns));
  let sxx = 0,
    sxy = 0;
  for (const s of samples) {
    sxx += (s.bytes - mx) ** 2;
    sxy += (s.bytes - mx) * (s.ns - my);
  }
  let slope = sxx > 0 ? sxy / sxx : 0;
  let latency = my - slope * mx;
  if (sxx <= 0 || latency < 0 || slope <= 0) {
    latency = 0;
    let num = 0,
      den = 0;
    for (const s of samples) {
      num += Math.max(0, s.ns) * s.bytes;
      den += s.bytes * s.bytes;
    }
    slope = den > 0 ? num / den : 0;
  }
  return { latencyNs: latency, bytesPerNs: slope > 1e-6 ? 1 / slope : 1e6 };
}

/** One side of a ratio: its values and the statistic taken of them. */
export interface RatioSample {
  values: readonly number[];
  /** The figure of the sample: the median, or the mean. */
  statistic: 'median' | 'mean';
  /**
   * The values come in whole periods of this length, position by position (a step time of
   * a strategy that synchronises every `period` steps: the sync step costs more than the
   * others). Resampling then draws within each position, so every resample is made of whole
   * periods too. Omitted: the values are exchangeable.
   */
  period?: number;
  /**
   * The values come from runs, one after another: each run's count of values (summing to the
   * values' length; with a period, whole periods each). With two runs or more the bootstrap
   * resamples the runs too, not only the values (bootstrapRatio): what makes one run of a job
   * faster than another (the machine's speed at the time, the ranks' interplay) then widens the
   * interval as it should, where pooling the runs' values took them as independent draws.
   * Omitted, or one run: the values are one run's.
   */
  runs?: readonly number[];
}

/** A ratio of two samples' figures with its confidence interval (bootstrapRatio). */
export interface RatioInterval {
  /** statistic(numerator) / statistic(denominator), of the samples as given. */
  estimate: number;
  /** The interval's ends (percentile bootstrap). */
  low: number;
  high: number;
  /** The larger distance from the estimate to an end: the "±" to print. */
  halfWidth: number;
  /** 0.95 for a 95 % interval. */
  confidence: number;
  resamples: number;
  /**
   * How the runs were resampled: 'paired' (both sides had the same number of runs, two or
   * more, and run k of one was drawn with run k of the other: rounds of a baseline run then the
   * changed run, taken at the same time), 'runs' (each side with two runs or more drew its
   * runs on its own), or 'values' (one run a side: its values alone, the run-to-run noise not seen).
   */
  resampled?: 'paired' | 'runs' | 'values';
}

/** The smallest sample (per position, with a period) an interval is given for. */
export const MIN_INTERVAL_SAMPLES = 3;

/** A small, fast, seeded generator (mulberry32): the same input gives the same interval. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function statOf(xs: readonly number[], statistic: RatioSample['statistic']): number {
  return statistic === 'mean' ? mean(xs) : median(xs);
}

/** Why a sample cannot carry an interval, or undefined when it can. */
export function ratioSampleProblem(s: RatioSample): string | undefined {
  const n = s.values.length;
  if (s.values.some((v) => !Number.isFinite(v) || v <= 0)) return 'a value that is not a positive finite number';
  if (s.period !== undefined) {
    if (!Number.isInteger(s.period) || s.period < 1) return `period ${s.period}: expected a whole number ≥ 1`;
    if (n % s.period !== 0) return `${n} values are not whole periods of ${s.period}`;
    if (n / s.period < 2)
      return `${n / s.period} period${n / s.period === 1 ? '' : 's'} of ${s.period}: at least 2 are needed to see how a period varies`;
    return runsProblem(s);
  }
  return n < MIN_INTERVAL_SAMPLES
    ? `${n} value${n === 1 ? '' : 's'}: at least ${MIN_INTERVAL_SAMPLES} are needed`
    : runsProblem(s);
}

/** Why a sample's run lengths do not fit its values, or undefined when they do (or it has none). */
function runsProblem(s: RatioSample): string | undefined {
  if (s.runs === undefined) return undefined;
  const total = s.runs.reduce((t, k) => t + k, 0);
  if (s.runs.some((k) => !Number.isInteger(k) || k < 1) || total !== s.values.length)
    return `runs of ${s.runs.join(', ')} values: expected whole counts of at least 1 that add up to the ${s.values.length} values`;
  if (s.period !== undefined && s.runs.some((k) => k % s.period! !== 0))
    return `runs of ${s.runs.join(', ')} values: expected whole periods of ${s.period} each`;
  return undefined;
}

/**
 * The ratio statistic(num) / statistic(den) — a speed-up is baseline step time / new step
 * time — with a percentile bootstrap interval, resampled `resamples` times; the interval is
 * the central `confidence` share of the resampled ratios, and a seeded generator makes it
 * reproducible. Each resample draws runs and then values (a two-stage, clustered bootstrap):
 * - the runs (RatioSample.runs), with replacement, when a side has two or more: run k of both
 *   sides together when both have the same number (rounds: a baseline run, then the changed run
 *   beside it, share the machine's state at the time), else each side's on its own;
 * - then within each drawn run its values, with replacement (within each position of a period,
 *   when there is one), the statistic taken over all the drawn runs' values pooled.
 * With one run a side this is the values' bootstrap alone, taking them as independent draws:
 * it cannot see how much one run differs from the next. On this project's 2-core machine the
 * rounds' own speed-ups spread 1.2–1.5× (median) and up to 2.8× as far as that bootstrap over
 * their pooled steps implied (docs/benchmarks.md, 2026-12-07 evening).
 * Undefined when either sample is too small or malformed (ratioSampleProblem says why).
 */
export function bootstrapRatio(
  num: RatioSample,
  den: RatioSample,
  opts: { confidence?: number; resamples?: number; seed?: number } = {},
): RatioInterval | undefined {
  if (ratioSampleProblem(num) || ratioSampleProblem(den)) return undefined;
  const confidence = opts.confidence ?? 0.95;
  const resamples = opts.resamples ?? 2000;
  const random = seededRandom(opts.seed ?? 1);
  // Each side's runs: where each starts and how many values it has (one run: all of them).
  const runsOf = (s: RatioSample) => {
    const lengths = s.runs && s.runs.length > 0 ? s.runs : [s.values.length];
    const starts: number[] = [];
    let at = 0;
    for (const k of lengths) {
      starts.push(at);
      at += k;
    }
    return { lengths, starts };
  };
  const runsNum = runsOf(num),
    runsDen = runsOf(den);
  const resampled: NonNullable<RatioInterval['resampled']> =
    runsNum.lengths.length >= 2 && runsNum.lengths.length === runsDen.lengths.length
      ? 'paired'
      : runsNum.lengths.length >= 2 || runsDen.lengths.length >= 2
        ? 'runs'
        : 'values';
  // Values drawn from the runs `picked`, within each run by period position, into `buf` (returned, trimmed).
  const drawFrom = (s: RatioSample, r: ReturnType<typeof runsOf>, picked: readonly number[], buf: number[]) => {
    const p = s.period ?? 1;
    let n = 0;
    for (const j of picked) {
      const start = r.starts[j],
        perPosition = r.lengths[j] / p;
      for (let pos = 0; pos < p; pos++)
        for (let k = 0; k < perPosition; k++) buf[n++] = s.values[start + Math.floor(random() * perPosition) * p + pos];
    }
    buf.length = n;
    return statOf(buf, s.statistic);
  };
  const pick = (count: number, into: number[]) => {
    for (let k = 0; k < count; k++) into[k] = count >= 2 ? Math.floor(random() * count) : k;
    into.length = count;
    return into;
  };
  const pickedNum: number[] = [],
    pickedDen: number[] = [];
  const bufNum: number[] = [],
    bufDen: number[] = [];
  const ratios = new Array<number>(resamples);
  for (let i = 0; i < resamples; i++) {
    pick(runsNum.lengths.length, pickedNum);
    if (resampled === 'paired') {
      pickedDen.length = pickedNum.length;
      for (let k = 0; k < pickedNum.length; k++) pickedDen[k] = pickedNum[k];
    } else pick(runsDen.lengths.length, pickedDen);
    ratios[i] = drawFrom(num, runsNum, pickedNum, bufNum) / drawFrom(den, runsDen, pickedDen, bufDen);
  }
  const estimate = statOf(num.values, num.statistic) / statOf(den.values, den.statistic);
  const tail = (1 - confidence) / 2;
  const low = Math.min(estimate, quantile(ratios, tail));
  const high = Math.max(estimate, quantile(ratios, 1 - tail));
  return {
    estimate,
    low,
    high,
    halfWidth: Math.max(estimate - low, high - estimate),
    confidence,
    resamples,
    resampled,
  };
}
