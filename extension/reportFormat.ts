/**
 * Human names and units for the fields the reports show (Compare Runs, Show Environment):
 * internal keys such as `bufferPool.hits` or `clockCalibrationErrorNs` become "buffer pool:
 * buffers reused" and "GPU clock alignment error" with their values in ms, MiB or %. Pure.
 */

interface FieldInfo {
  label: string;
  format?: (v: number) => string;
}

const duration = (ns: number): string => {
  const a = Math.abs(ns);
  if (a < 1e3) return `${Number(ns.toPrecision(3))} ns`;
  if (a < 1e6) return `${Number((ns / 1e3).toPrecision(3))} µs`;
  if (a < 1e9) return `${Number((ns / 1e6).toPrecision(3))} ms`;
  return `${Number((ns / 1e9).toPrecision(3))} s`;
};
const bytes = (b: number): string => {
  const a = Math.abs(b);
  if (a < 1024) return `${b} B`;
  if (a < 1024 ** 2) return `${Number((b / 1024).toPrecision(3))} KiB`;
  if (a < 1024 ** 3) return `${Number((b / 1024 ** 2).toPrecision(3))} MiB`;
  return `${Number((b / 1024 ** 3).toPrecision(3))} GiB`;
};
const pct = (f: number): string => `${(f * 100).toFixed(1)} %`;
const count = (v: number): string =>
  Number.isInteger(v) ? v.toLocaleString('en-US') : String(Number(v.toPrecision(4)));
const si =
  (unit: string) =>
  (v: number): string => {
    const a = Math.abs(v);
    for (const [p, s] of [
      [1e12, 'T'],
      [1e9, 'G'],
      [1e6, 'M'],
      [1e3, 'k'],
    ] as const)
      if (a >= p) return `${Number((v / p).toPrecision(3))} ${s}${unit}`;
    return `${Number(v.toPrecision(3))} ${unit}`;
  };

/** Fields the runtime and the doctor write, by dotted path. */
const KNOWN: Record<string, FieldInfo> = {
  medianStepTimeNs: { label: 'median step time', format: duration },
  stepsCompleted: { label: 'steps completed', format: count },
  paramCount: { label: 'model parameters', format: count },
  flopsPerStepPerRank: { label: 'FLOP per step per rank', format: si('FLOP') },
  achievedFlopsPerRank: { label: 'achieved FLOP/s per rank', format: si('FLOP/s') },
  mfu: { label: 'model FLOP utilisation', format: pct },
  'bufferPool.hits': { label: 'buffer pool: buffers reused', format: count },
  'bufferPool.misses': { label: 'buffer pool: buffers allocated', format: count },
  'bufferPool.hitRate': { label: 'buffer pool: reuse rate', format: pct },
  clockCalibrationErrorNs: { label: 'GPU clock alignment error (worst rank)', format: duration },
  wallTimeNs: { label: 'wall time of the run', format: duration },
  'config.steps': { label: 'steps configured', format: count },
  'config.seed': { label: 'random seed', format: String },
  'config.worldSize': { label: 'ranks', format: count },
  'config.collectiveTimeoutMs': { label: 'collective timeout', format: (v) => duration(v * 1e6) },
  'timestampQuery.resolutionNs': { label: 'GPU timestamp resolution', format: duration },
};

/** Fields that mean nothing to a reader (schema bookkeeping). */
const HIDDEN = new Set(['schemaVersion']);

/** "clockCalibrationErrorNs" → "clock calibration error"; "bufferPool.hitRate" → "buffer pool: hit rate". */
export function humanName(path: string): string {
  const known = KNOWN[path];
  if (known) return known.label;
  return path
    .split('.')
    .map((part) =>
      part
        .replace(/(Ns|Ms|Bytes|Pct|GBps)$/, '')
        .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
        .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
        .toLowerCase()
        .trim(),
    )
    .join(': ');
}

/** A value formatted by what its field holds (known fields, else the key's unit suffix). */
export function humanValue(path: string, v: number): string {
  const known = KNOWN[path];
  if (known?.format) return known.format(v);
  if (/Ns$/.test(path)) return duration(v);
  if (/Ms$/.test(path)) return duration(v * 1e6);
  if (/[bB]ytes$/.test(path)) return bytes(v);
  if (/Pct$/.test(path)) return `${v.toFixed(1)} %`;
  if (/(Rate|Fraction)$/.test(path) && v >= 0 && v <= 1) return pct(v);
  if (/GBps$/.test(path)) return `${Number(v.toPrecision(4))} GB/s`;
  return count(v);
}

export function isHidden(path: string): boolean {
  return HIDDEN.has(path.split('.').pop() ?? path);
}
