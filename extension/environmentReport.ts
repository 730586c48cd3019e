/**
 * "Show Environment" as a readable report (pure): `commlens doctor --json` rendered as
 * Markdown sections and tables with human names, instead of the raw JSON.
 */
import { humanName, humanValue } from './reportFormat';

function esc(v: unknown): string {
  return String(v).replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

const yesNo = (v: unknown): string => (v === true ? 'yes' : v === false ? 'no' : esc(v));

/** Rows of name | value for the scalar fields of `obj` (nested objects and arrays left to the caller). */
function table(obj: Record<string, unknown>, prefix: string, names: Record<string, string> = {}): string[] {
  const rows: string[] = [];
  for (const [k, v] of Object.entries(obj)) {
    if (v === null || v === undefined || typeof v === 'object') continue;
    const p = prefix ? `${prefix}.${k}` : k;
    const value = typeof v === 'number' ? humanValue(p, v) : typeof v === 'boolean' ? yesNo(v) : esc(v);
    rows.push(`| ${names[k] ?? humanName(p).replace(/^[^:]*: /, '')} | ${value} |`);
  }
  return rows.length ? ['| | |', '|---|---|', ...rows] : [];
}

const ADAPTER_NAMES: Record<string, string> = {
  vendor: 'vendor',
  architecture: 'architecture',
  device: 'device',
  description: 'driver',
  backend: 'graphics API',
  isFallbackAdapter: 'software (fallback) adapter',
};
const TIMESTAMP_NAMES: Record<string, string> = {
  supported: 'timestamp queries supported',
  works: 'timestamp queries measured a pass',
  resolutionNs: 'resolution',
  error: 'error',
};

/**
 * The environment report: `context` lines (extension, editor, paths) as a list, then the
 * doctor's findings (adapter, GPU timing, features, limits) as tables. `doctorStdout` that
 * is not JSON is shown as the runtime printed it.
 */
export function environmentMarkdown(
  context: string[],
  doctor: { code: number | null; stdout: string; stderr: string },
): string {
  const lines = ['# CommLens environment', '', ...context.map((c) => `- ${c}`), ''];
  let report: Record<string, unknown> | undefined;
  try {
    const v: unknown = JSON.parse(doctor.stdout);
    if (v && typeof v === 'object' && !Array.isArray(v)) report = v as Record<string, unknown>;
  } catch {
    // not JSON: shown as printed below
  }
  lines.push(
    `## WebGPU check (\`commlens doctor\`, ${doctor.code === 0 ? 'passed' : `exit code ${doctor.code ?? '?'}`})`,
    '',
  );
  if (!report) {
    lines.push('```', doctor.stdout.trim() || '(no output)', '```');
  } else {
    const adapter = (report.adapter ?? {}) as Record<string, unknown>;
    const ts = (report.timestampQuery ?? {}) as Record<string, unknown>;
    lines.push('### GPU adapter', '', ...table(adapter, 'adapter', ADAPTER_NAMES), '');
    lines.push('### GPU timing', '', ...table(ts, 'timestampQuery', TIMESTAMP_NAMES), '');
    if (Array.isArray(adapter.features))
      lines.push(
        '### Features',
        '',
        (adapter.features as unknown[]).map((f) => `\`${esc(f)}\``).join(', ') || '(none)',
        '',
      );
    if (adapter.limits && typeof adapter.limits === 'object') {
      lines.push('### Limits', '', '| limit | value |', '|---|---|');
      for (const [k, v] of Object.entries(adapter.limits as Record<string, unknown>)) {
        const name = humanName(k).replace(/^max /, 'most ');
        const value =
          typeof v === 'number' && /Size$/.test(k)
            ? `${v.toLocaleString('en-US')} B`
            : typeof v === 'number'
              ? v.toLocaleString('en-US')
              : esc(v);
        lines.push(`| ${name} | ${value} |`);
      }
      lines.push('');
    }
    const other = Object.keys(report).filter((k) => k !== 'adapter' && k !== 'timestampQuery');
    for (const k of other) {
      const v = report[k];
      lines.push(
        `### ${humanName(k)}`,
        '',
        ...(v && typeof v === 'object' ? table(v as Record<string, unknown>, k) : [`${esc(v)}`]),
        '',
      );
    }
  }
  if (doctor.stderr.trim()) lines.push('### Messages from the check', '', '```', doctor.stderr.trim(), '```');
  return lines.join('\n') + '\n';
}
