/** Adaptive time-axis ticks (pure), relative to a chosen origin (trace start or a step). */

export interface AxisTick {
  /** Time of the tick, ns relative to the trace origin. */
  ns: number;
  label: string;
}

export interface AxisTicks {
  stepNs: number;
  unit: 'ns' | 'µs' | 'ms' | 's';
  ticks: AxisTick[];
}

const UNITS: [AxisTicks['unit'], number][] = [
  ['s', 1e9],
  ['ms', 1e6],
  ['µs', 1e3],
  ['ns', 1],
];

/**
 * Ticks for the window [startNs, endNs] drawn over `widthPx` pixels: the step is the smallest
 * 1·10^k, 2·10^k or 5·10^k ns that keeps ticks at least `minSpacingPx` apart; labels use the
 * unit of the step, with as many decimals as the step needs, relative to `originNs`.
 */
export function axisTicks(startNs: number, endNs: number, widthPx: number, minSpacingPx = 90, originNs = 0): AxisTicks {
  const span = Math.max(endNs - startNs, 1e-9);
  const minStep = (span * minSpacingPx) / Math.max(widthPx, 1);
  let stepNs = 1;
  for (let p = 0; p < 20; p++) {
    const base = 10 ** p;
    const hit = [1, 2, 5].map((m) => m * base).find((s) => s >= minStep);
    if (hit !== undefined) {
      stepNs = hit;
      break;
    }
  }
  const [unit, scale] = UNITS.find(([, s]) => stepNs >= s) ?? ['ns', 1];
  const decimals = Math.max(0, Math.ceil(Math.log10(scale / stepNs) - 1e-9));
  const ticks: AxisTick[] = [];
  const first = Math.ceil((startNs - originNs) / stepNs) * stepNs + originNs;
  for (let t = first, k = 0; t <= endNs && k < 1000; t += stepNs, k++) {
    const rel = Math.abs(t - originNs) < stepNs / 2 ? 0 : t - originNs;
    ticks.push({ ns: t, label: `${(rel / scale).toFixed(decimals)} ${unit}` });
  }
  return { stepNs, unit, ticks };
}
