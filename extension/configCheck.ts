/**
 * Checks a run config (commlens.json) against schemas/commlens.schema.json before a run,
 * with the position of every problem so it lands in the Problems view on the right
 * token. VS Code's JSON language service shows the same schema while the file is edited;
 * this check is what refuses a bad config when a run is asked for (the file need not be
 * open, and a refused run must say why).
 *
 * The schema is read as data and evaluated with the subset of JSON Schema it uses:
 * type, enum, minimum, maximum, pattern, properties, additionalProperties: false,
 * items, minItems. No `vscode` here.
 */

/** A JSON value with where it was in the text. */
export interface Located {
  value: unknown;
  offset: number;
  length: number;
  /** For objects: each member's value, and where its key was. */
  members?: Map<string, { key: { offset: number; length: number }; value: Located }>;
  items?: Located[];
}

export interface ConfigProblem {
  /** JSON path, `model.hiddenDims[0]`; empty for the whole document. */
  path: string;
  message: string;
  offset: number;
  length: number;
}

export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at offset ${offset}`);
  }
}

/** Parses JSON (no comments, as the runtime reads it) keeping positions. */
export function parseLocated(text: string): Located {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\r\n'.includes(text[i])) i++;
  };
  const fail = (what: string): never => {
    throw new JsonSyntaxError(
      i >= text.length
        ? `unexpected end of file, expected ${what}`
        : `unexpected ${JSON.stringify(text[i])}, expected ${what}`,
      i,
    );
  };
  const str = (): Located => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) fail('a closing quote');
    i++;
    try {
      return { value: JSON.parse(text.slice(start, i)) as string, offset: start, length: i - start };
    } catch {
      i = start;
      return fail('a valid string');
    }
  };
  const value = (): Located => {
    ws();
    const start = i;
    const c = text[i];
    if (c === '{') {
      i++;
      const members = new Map<string, { key: { offset: number; length: number }; value: Located }>();
      const obj: Record<string, unknown> = {};
      ws();
      if (text[i] === '}') {
        i++;
        return { value: obj, offset: start, length: i - start, members };
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('a property name in double quotes');
        const k = str();
        ws();
        if (text[i] !== ':') fail("':'");
        i++;
        const v = value();
        members.set(k.value as string, { key: { offset: k.offset, length: k.length }, value: v });
        obj[k.value as string] = v.value;
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return { value: obj, offset: start, length: i - start, members };
        }
        fail("',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const items: Located[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return { value: [], offset: start, length: i - start, items };
      }
      for (;;) {
        items.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return { value: items.map((x) => x.value), offset: start, length: i - start, items };
        }
        fail("',' or ']'");
      }
    }
    if (c === '"') return str();
    const m = /^(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 64));
    if (!m) return fail('a value');
    i += m[0].length;
    return { value: JSON.parse(m[0]) as unknown, offset: start, length: m[0].length };
  };
  const v = value();
  ws();
  if (i < text.length) fail('the end of the file');
  return v;
}

/** The part of JSON Schema that schemas/commlens.schema.json uses. */
export interface SchemaNode {
  type?: string | string[];
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  pattern?: string;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean;
  items?: SchemaNode;
  minItems?: number;
  /** Members an object must have (schemas/analysis.schema.json uses it). */
  required?: string[];
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(v: unknown, t: string): boolean {
  const actual = typeOf(v);
  return actual === t || (t === 'number' && actual === 'integer');
}

function validate(node: Located, schema: SchemaNode, path: string, out: ConfigProblem[]): void {
  const at = (message: string, where: { offset: number; length: number } = node) =>
    out.push({ path, message: `${path || 'config'}: ${message}`, offset: where.offset, length: where.length });
  const v = node.value;
  if (schema.type) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => typeMatches(v, t))) {
      at(
        `got ${JSON.stringify(v)} (${typeOf(v)}), expected ${types.map((t) => (t === 'integer' ? 'an integer' : t === 'object' ? 'an object' : t === 'array' ? 'an array' : `a ${t}`)).join(' or ')}`,
      );
      return;
    }
  }
  if (schema.enum && !schema.enum.some((e) => e === v))
    at(`got ${JSON.stringify(v)}, expected one of ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}`);
  if (typeof v === 'number') {
    if (schema.minimum !== undefined && v < schema.minimum) at(`got ${v}, expected at least ${schema.minimum}`);
    if (schema.maximum !== undefined && v > schema.maximum) at(`got ${v}, expected at most ${schema.maximum}`);
  }
  if (typeof v === 'string' && schema.pattern && !new RegExp(schema.pattern).test(v))
    at(`got ${JSON.stringify(v)}, which does not match ${schema.pattern}`);
  if (node.members && schema.required) {
    for (const k of schema.required)
      if (!node.members.has(k)) at(`${path ? `${path}: ` : ''}missing the required field "${k}"`);
  }
  if (node.members && schema.properties) {
    for (const [k, m] of node.members) {
      const sub = Object.hasOwn(schema.properties, k) ? schema.properties[k] : undefined;
      const childPath = path ? `${path}.${k}` : k;
      if (sub) validate(m.value, sub, childPath, out);
      else if (schema.additionalProperties === false) {
        const allowed = Object.keys(schema.properties).filter((p) => p !== '$schema');
        out.push({
          path: childPath,
          message: `${childPath}: unknown setting; allowed here: ${allowed.join(', ')}`,
          offset: m.key.offset,
          length: m.key.length,
        });
      }
    }
  }
  if (node.items) {
    if (schema.minItems !== undefined && node.items.length < schema.minItems)
      at(`expected at least ${schema.minItems} item(s)`);
    if (schema.items) node.items.forEach((it, idx) => validate(it, schema.items!, `${path}[${idx}]`, out));
  }
}

/** Every problem of a config text against the schema; an empty list when it is fine. */
export function checkConfigText(text: string, schema: SchemaNode): ConfigProblem[] {
  let root: Located;
  try {
    // A leading byte order mark is accepted (the runtime skips it too); a space keeps offsets.
    root = parseLocated(text.replace(/^\uFEFF/, ' '));
  } catch (e) {
    if (e instanceof JsonSyntaxError)
      return [{ path: '', message: `not valid JSON: ${e.message}`, offset: e.offset, length: 1 }];
    throw e;
  }
  const out: ConfigProblem[] = [];
  validate(root, schema, '', out);
  return out;
}

/** Line and column (both 0-based) of an offset, for editors that want positions. */
export function positionOf(text: string, offset: number): { line: number; character: number } {
  let line = 0;
  let last = -1;
  for (let k = 0; k < offset && k < text.length; k++) {
    if (text[k] === '\n') {
      line++;
      last = k;
    }
  }
  return { line, character: offset - last - 1 };
}

/**
 * The runtime reports a refused config as lines `field.path: what was wrong`. Finds where
 * the field is in the text, so the runtime's own verdict also lands on the right token.
 */
export function locateField(text: string, fieldPath: string): { offset: number; length: number } | undefined {
  let node: Located;
  try {
    node = parseLocated(text.replace(/^\uFEFF/, ' '));
  } catch {
    return undefined;
  }
  let where: { offset: number; length: number } = node;
  for (const part of fieldPath.split('.').flatMap((p) => p.split(/\[(\d+)\]/).filter((s) => s !== ''))) {
    if (node.members?.has(part)) {
      const m = node.members.get(part)!;
      where = m.key;
      node = m.value;
    } else if (node.items && /^\d+$/.test(part) && node.items[Number(part)]) {
      node = node.items[Number(part)];
      where = node;
    } else return where === node ? undefined : where;
  }
  return where;
}
