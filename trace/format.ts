/**
 * How CommLens writes numbers for people: durations, bytes, percentages, ratios with their
 * direction, grouped digits. One module, used by the CLI, report.md, the extension and the
 * viewer, so a figure reads the same on every surface. Pure and free of ICU (see
 * groupDigits).
 */

/** A duration in the largest unit that keeps it ≥ 1 (ns, µs, ms, s), 3 significant digits. */
export function formatDurationNs(ns: number | undefined): string {
  if (ns === undefined || Number.isNaN(ns)) return '–';
  if (!Number.isFinite(ns)) return String(ns);
  const a = Math.abs(ns);
  if (a < 1e3) return `${trim(ns)} ns`;
  if (a < 1e6) return `${trim(ns / 1e3)} µs`;
  if (a < 1e9) return `${trim(ns / 1e6)} ms`;
  return `${trim(ns / 1e9)} s`;
}

function trim(v: number): string {
  const a = Math.abs(v);
  const digits = a >= 100 ? 1 : a >= 10 ? 2 : 3;
  return String(Number(v.toFixed(digits)));
}

/** Bytes with binary prefixes (KiB, MiB, GiB). */
export function formatBytes(b: number): string {
  if (!Number.isFinite(b)) return String(b);
  const a = Math.abs(b);
  if (a < 1024) return `${b} B`;
  if (a < 1024 ** 2) return `${trim(b / 1024)} KiB`;
  if (a < 1024 ** 3) return `${trim(b / 1024 ** 2)} MiB`;
  return `${trim(b / 1024 ** 3)} GiB`;
}

/** A value of a counter with its unit (bytes get binary prefixes, times read as durations, others 4 significant digits). */
export function formatWithUnit(v: number, unit: string | undefined): string {
  if (unit === 'bytes' || unit === 'B') return formatBytes(v);
  if (unit === 'ns') return formatDurationNs(v);
  // Times in other units read as every other duration does ("15 s", not "1.500e+4 ms").
  if (unit === 'µs' || unit === 'us') return formatDurationNs(v * 1e3);
  if (unit === 'ms') return formatDurationNs(v * 1e6);
  if (unit === 's') return formatDurationNs(v * 1e9);
  const s =
    Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : String(Number(v.toPrecision(4)));
  return unit && unit !== '1' ? `${s} ${unit}` : s;
}

export function formatPct(p: number): string {
  return `${Number.isFinite(p) ? p.toFixed(1) : '–'} %`;
}

/**
 * A signed change in percent, as every view writes one (a suggestion's title, badge and
 * rows): one decimal, a true minus sign (U+2212) or a plus, `0.0 %` for no change:
 * `−46.1 %`, `+3.0 %`.
 */
export function formatSignedPct(p: number): string {
  if (!Number.isFinite(p)) return '– %';
  const r = Math.round(p * 10) / 10;
  if (r === 0) return '0.0 %';
  return `${r < 0 ? '−' : '+'}${Math.abs(r).toFixed(1)} %`;
}

/** Shortens very long strings for display, saying how long the original was. */
export function clipText(s: string, max = 300): string {
  return s.length <= max ? s : `${s.slice(0, max)}… (${groupDigits(s.length)} characters)`;
}

/**
 * `n` with its thousands grouped by commas, exactly as `n.toLocaleString('en-US')` writes
 * it (`1234567` → `1,234,567`, `-1234` → `-1,234`), without ICU: building an ICU number
 * formatter costs about 10 ms in a fresh Node process, as much as analysing a small trace.
 * Integers below 1e21 in magnitude are grouped here; anything else goes to ICU.
 */
export function groupDigits(n: number): string {
  if (!Number.isInteger(n) || Object.is(n, -0) || Math.abs(n) >= 1e21) return n.toLocaleString('en-US');
  const digits = String(Math.abs(n));
  let out = '';
  for (let end = digits.length; end > 0; end -= 3) {
    const part = digits.slice(Math.max(0, end - 3), end);
    out = out === '' ? part : `${part},${out}`;
  }
  return n < 0 ? `-${out}` : out;
}

/**
 * A speed-up with its direction, never a bare ratio: `speedup` is baseline time / new time,
 * so 1.39 reads "1.39× faster" and 0.88 reads "12 % slower" (1/0.88 − 1 would overstate it:
 * the step takes 1.14× as long, i.e. the job runs at 88 % of its speed). Within ±0.5 % it is
 * "unchanged".
 */
export function formatSpeedup(speedup: number): string {
  if (!Number.isFinite(speedup) || speedup <= 0) return '–';
  if (Math.abs(speedup - 1) < 0.005) return 'unchanged';
  if (speedup > 1) return `${speedup.toFixed(2)}× faster`;
  return `${((1 - speedup) * 100).toFixed(1)} % slower`;
}

const BYTE_KEYS = /bytes$/i;
const NS_KEYS = /Ns$/;

/** A slice argument for display: bytes, nanoseconds and GB/s by the key's suffix. */
export function argValue(key: string, v: unknown): string {
  if (typeof v === 'number' && BYTE_KEYS.test(key)) return `${formatBytes(v)} (${groupDigits(v)} B)`;
  if (typeof v === 'number' && NS_KEYS.test(key)) return formatDurationNs(v);
  if (typeof v === 'number' && /GBps$/.test(key)) return `${Number(v.toPrecision(4))} GB/s`;
  if (typeof v === 'string') return clipText(v);
  return clipText(JSON.stringify(v));
}

/**
 * A speed-up with its uncertainty and direction (formatSpeedup's wording): 1.39 ± 0.04 reads
 * "1.39× ± 0.04 faster", 0.88 ± 0.03 reads "12.0 % ± 3.0 % slower" (of the job's speed), and
 * within ±0.5 % "unchanged (1.00× ± 0.03)".
 */
export function formatSpeedupInterval(speedup: number, halfWidth: number): string {
  if (!Number.isFinite(speedup) || speedup <= 0) return '–';
  const h = Number.isFinite(halfWidth) ? Math.max(0, halfWidth) : NaN;
  if (Math.abs(speedup - 1) < 0.005) return `unchanged (${speedup.toFixed(2)}× ± ${h.toFixed(2)})`;
  if (speedup > 1) return `${speedup.toFixed(2)}× ± ${h.toFixed(2)} faster`;
  return `${((1 - speedup) * 100).toFixed(1)} % ± ${(h * 100).toFixed(1)} % slower`;
}
