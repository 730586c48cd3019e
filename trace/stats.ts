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
