/** Number formatting for the viewer (pure; shared by the timeline and the panes). */

/** A duration in the largest unit that keeps it ≥ 1 (ns, µs, ms, s), 3 significant digits. */
export function formatDurationNs(ns: number): string {
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

/** A value of a counter with its unit (bytes get binary prefixes, others 4 significant digits). */
export function formatWithUnit(v: number, unit: string | undefined): string {
  if (unit === 'bytes' || unit === 'B') return formatBytes(v);
  if (unit === 'ns') return formatDurationNs(v);
  const s = Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : String(Number(v.toPrecision(4)));
  return unit && unit !== '1' ? `${s} ${unit}` : s;
}

export function formatPct(p: number): string {
  return `${Number.isFinite(p) ? p.toFixed(1) : '–'} %`;
}

/** Shortens very long strings for display, saying how long the original was. */
export function clipText(s: string, max = 300): string {
  return s.length <= max ? s : `${s.slice(0, max)}… (${s.length.toLocaleString('en-US')} characters)`;
}

const BYTE_KEYS = /bytes$/i;
const NS_KEYS = /Ns$/;

/** A slice argument for display: bytes, nanoseconds and GB/s by the key's suffix. */
export function argValue(key: string, v: unknown): string {
  if (typeof v === 'number' && BYTE_KEYS.test(key)) return `${formatBytes(v)} (${v.toLocaleString('en-US')} B)`;
  if (typeof v === 'number' && NS_KEYS.test(key)) return formatDurationNs(v);
  if (typeof v === 'number' && /GBps$/.test(key)) return `${Number(v.toPrecision(4))} GB/s`;
  if (typeof v === 'string') return clipText(v);
  return clipText(JSON.stringify(v));
}
