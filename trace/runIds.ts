/**
 * Run ids, one format for every run CommLens names (profiled, verified, imported from an
 * external command): `YYYYMMDD-HHMMSS-<label>-<4 hex>`, the time in UTC so that ids sort
 * by start time on any machine, the label saying what ran, the suffix keeping two runs
 * started in the same second apart. Safe as a folder name on every platform.
 */

/** `label` is reduced to letters, digits, '.', '_' and '-' ('+' in strategy names becomes '_'). */
export function newRunId(label: string, now: Date = new Date(), random: () => number = Math.random): string {
  const t = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  const safe =
    label
      .replace(/\+/g, '_')
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'run';
  const suffix = Math.floor(random() * 0x10000)
    .toString(16)
    .padStart(4, '0');
  return `${t}-${safe}-${suffix}`;
}
