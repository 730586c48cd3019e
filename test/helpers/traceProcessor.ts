/**
 * Perfetto's own trace processor (trace_processor_shell) for tests: the reference for
 * whether a file is valid Perfetto and for what Perfetto makes of it. The binary is a test
 * tool beside the checkout (../shared/tools/perfetto/, see the README there), never shipped.
 *
 * Without it a test skips with a message, except where the tools are required: when `CI`
 * is set or COMMLENS_REQUIRE_TOOLS=1, a missing binary fails the test.
 */
import { accessSync, constants } from 'node:fs';
import { resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';
import { sharedDir } from './paths';
import { skipUnlessPresent } from './require';

/** Where the tests look for the binary. */
export const traceProcessorPath = resolve(sharedDir, 'tools', 'perfetto', 'trace_processor_shell');

/** A row of a result: column name → value (integers and reals as numbers, NULL as null). */
export type Row = Record<string, string | number | null>;

/**
 * The binary's path, or undefined after `t.skip()` with the reason when it is absent.
 * Throws (failing the test) instead of skipping when toolsRequired().
 */
export function traceProcessorOrSkip(t: TestContext): string | undefined {
  try {
    accessSync(traceProcessorPath, constants.X_OK);
    return traceProcessorPath;
  } catch {
    const why = `Perfetto's trace_processor_shell not found at ${traceProcessorPath} (an executable file is needed; see ../shared/tools/perfetto/README.md)`;
    t.skip(`${skipUnlessPresent(why)}; skipped (set CI or COMMLENS_REQUIRE_TOOLS=1 to make this a failure)`);
    return undefined;
  }
}

/**
 * Runs SQL statements (separated by `;`) over one trace file and returns each statement's
 * rows, in order. Throws with the binary's stderr when it fails.
 *
 * The shell prints CSV without escaping: strings in double quotes (a quote inside is
 * printed as is), numbers bare, NULL as "[NULL]", reals with six decimals (use
 * printf('%.17g', x) for more). A value holding `",` or a line break cannot be told apart
 * from the next field or row, so such a row throws: select json_quote(x) or hex(x) instead.
 */
export function queryTrace(bin: string, trace: string, sql: string): Row[][] {
  const r = spawnSync(bin, ['query', '-f', '-', trace], {
    input: sql,
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.error) throw new Error(`trace_processor_shell on ${trace}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`trace_processor_shell on ${trace} exited ${r.status ?? r.signal}:\n${r.stderr}`);
  // Result sets are separated by one blank line; an empty result set is its header alone.
  return r.stdout
    .replace(/\n+$/, '')
    .split('\n\n')
    .map((block) => parseCsv(block, trace));
}

/** One statement's rows (see queryTrace). */
export function queryRows(bin: string, trace: string, sql: string): Row[] {
  const sets = queryTrace(bin, trace, sql);
  if (sets.length !== 1) throw new Error(`expected one result set from ${JSON.stringify(sql)}, got ${sets.length}`);
  return sets[0];
}

function parseCsv(block: string, trace: string): Row[] {
  const lines = block.split('\n');
  const header = splitLine(lines[0]).map((v) => String(v));
  return lines.slice(1).map((line) => {
    const values = splitLine(line);
    if (values.length !== header.length) {
      throw new Error(
        `trace_processor_shell output for ${trace}: a row of ${values.length} values under ${header.length} columns (${header.join(', ')}): ${line.slice(0, 200)}; a string value holds '",' or a line break: select json_quote(x) or hex(x)`,
      );
    }
    const row: Row = {};
    header.forEach((h, i) => (row[h] = values[i]));
    return row;
  });
}

/** Fields of one CSV line as the shell prints them. */
function splitLine(line: string): (string | number | null)[] {
  const out: (string | number | null)[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      // A quoted string ends at the first quote followed by a comma or the end of the line.
      let j = i + 1;
      while (j < line.length && !(line[j] === '"' && (j + 1 === line.length || line[j + 1] === ','))) j++;
      const s = line.slice(i + 1, j);
      out.push(s === '[NULL]' ? null : s);
      i = j + 2;
    } else {
      let j = line.indexOf(',', i);
      if (j < 0) j = line.length;
      const s = line.slice(i, j);
      out.push(s === '[NULL]' ? null : s !== '' && Number.isFinite(Number(s)) ? Number(s) : s);
      i = j + 1;
    }
  }
  return out;
}

/** The `stats` rows Perfetto counts as import problems: severity error or data_loss with a non-zero value. */
export const IMPORT_PROBLEMS_SQL =
  "select name, idx, severity, source, value from stats where value > 0 and severity in ('error', 'data_loss')";
