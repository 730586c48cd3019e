/**
 * The one argument parser of the CLI. Each command declares its options; the parser
 * accepts `--name value` and `--name=value`, refuses unknown options and missing values,
 * and reads numbers strictly (decimal integers only for counts, finite numbers for
 * figures), so that every command refuses the same mistakes with the same words.
 */

export type OptionKind = 'flag' | 'string' | 'int' | 'number';

export interface OptionSpec {
  kind: OptionKind;
  /** Inclusive bounds for 'int' and 'number'. */
  min?: number;
  max?: number;
  /** Allowed values for 'string'. */
  values?: readonly string[];
  /** May be given more than once (values are collected in order). */
  repeat?: boolean;
}

export type OptionSpecs = Record<string, OptionSpec>;

export type OptionValue = string | number | boolean | (string | number)[];

export interface ParsedArgs {
  positional: string[];
  /** By option name without the dashes; absent when not given. */
  options: Record<string, OptionValue>;
}

/**
 * A command line that cannot be run: the message names the option and what would be right.
 * `showUsage`: the mistake is in the shape of the command (an unknown option, a missing
 * value), so the command's usage helps; a bad value's message says everything.
 */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly showUsage = true,
  ) {
    super(message);
  }
}

const DECIMAL_INT = /^[+-]?\d+$/;

/** Reads an integer written in decimal (no `0x10`, no `1e3`, no `7.0`). */
export function parseDecimalInt(text: string): number | undefined {
  if (!DECIMAL_INT.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Reads a finite number in any of JavaScript's decimal forms (2e13, 2e+13, 0.5). */
export function parseFiniteNumber(text: string): number | undefined {
  const t = text.trim();
  if (t === '' || /^[+-]?0[xob]/i.test(t)) return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

function describeBounds(spec: OptionSpec, what: string): string {
  if (spec.min !== undefined && spec.max !== undefined) return `${what} from ${spec.min} to ${spec.max}`;
  if (spec.min !== undefined) return `${what} >= ${spec.min}`;
  if (spec.max !== undefined) return `${what} <= ${spec.max}`;
  return what;
}

function readValue(flag: string, spec: OptionSpec, raw: string): string | number {
  if (spec.kind === 'string') {
    if (spec.values && !spec.values.includes(raw)) {
      throw new UsageError(`${flag}: got ${JSON.stringify(raw)}; expected one of ${spec.values.join(', ')}`, false);
    }
    return raw;
  }
  const what = spec.kind === 'int' ? 'an integer in decimal digits' : 'a finite number';
  const n = spec.kind === 'int' ? parseDecimalInt(raw) : parseFiniteNumber(raw);
  if (n === undefined || (spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
    throw new UsageError(`${flag}: got ${JSON.stringify(raw)}; expected ${describeBounds(spec, what)}`, false);
  }
  return n;
}

/**
 * Parses `args` against `specs`. `--` ends the options; everything after it is positional.
 * `--help` is not handled here: the entry point answers it before a command runs.
 */
export function parseArgs(args: readonly string[], specs: OptionSpecs): ParsedArgs {
  const positional: string[] = [];
  const options: Record<string, OptionValue> = Object.create(null);
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (!a.startsWith('--') || a === '-') {
      if (/^-[a-zA-Z]/.test(a)) throw new UsageError(`unknown option '${a}'`);
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (!spec) throw new UsageError(`unknown option '--${name}'`);
    const flag = `--${name}`;
    let value: string | number | boolean;
    if (spec.kind === 'flag') {
      if (eq >= 0) throw new UsageError(`${flag} takes no value`);
      value = true;
    } else {
      let raw: string | undefined;
      if (eq >= 0) raw = a.slice(eq + 1);
      else {
        raw = args[i + 1];
        if (raw === undefined || (raw.startsWith('--') && raw.length > 2))
          throw new UsageError(`${flag}: missing value`);
        i++;
      }
      value = readValue(flag, spec, raw);
    }
    if (spec.repeat) {
      const prev = options[name];
      options[name] = [...(Array.isArray(prev) ? prev : []), value as string | number];
    } else options[name] = value; // given twice: the last one counts, as in most tools
  }
  return { positional, options };
}

/** Typed readers over ParsedArgs.options (undefined when the option was not given). */
export function str(p: ParsedArgs, name: string): string | undefined {
  const v = p.options[name];
  return typeof v === 'string' ? v : undefined;
}
export function num(p: ParsedArgs, name: string): number | undefined {
  const v = p.options[name];
  return typeof v === 'number' ? v : undefined;
}
export function flag(p: ParsedArgs, name: string): boolean {
  return p.options[name] === true;
}
