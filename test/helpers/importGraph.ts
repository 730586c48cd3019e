/**
 * The import graph of the repository's TypeScript, for the folder-rules test: every
 * relative import (static, `export … from`, dynamic `import()`, `require()`), type-only
 * ones included, resolved to the file it names; and every bare package name imported.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

export interface SourceFile {
  /** Repository-relative path with '/' separators. */
  path: string;
  /** Repository-relative files it imports. */
  imports: { target: string; line: number }[];
  /** Bare package names it imports (`vscode`, `webgpu`, `node:fs` is left out). */
  packages: { name: string; line: number }[];
}

const SKIP = new Set(['node_modules', 'out', 'dist', '.cache', '.git', 'runs', 'test-artifacts', '.gpu']);
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)(['"])([^'"\n]+)\1/gm;

function walk(root: string, dir: string, out: string[]): void {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(root, p, out);
    else if (/\.tsx?$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
}

function resolveImport(fromFile: string, spec: string): string | undefined {
  const base = resolve(dirname(fromFile), spec);
  for (const c of [base, `${base}.ts`, `${base}.tsx`, join(base, 'index.ts')]) {
    if (existsSync(c) && statSync(c).isFile()) return c;
  }
  // Compiled-name imports (`./x.js`) in ESM-style code.
  if (spec.endsWith('.js')) return resolveImport(fromFile, spec.slice(0, -3));
  return undefined;
}

/** Strips comments so that an example import in a doc comment is not read as one. */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' ')).replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

export function importGraph(repoRoot: string, rooms: readonly string[]): SourceFile[] {
  const files: string[] = [];
  for (const r of rooms) if (existsSync(join(repoRoot, r))) walk(repoRoot, join(repoRoot, r), files);
  const rel = (p: string): string => relative(repoRoot, p).split(sep).join('/');
  return files.map((f) => {
    const text = stripComments(readFileSync(f, 'utf8'));
    const lineOf = (index: number): number => text.slice(0, index).split('\n').length;
    const imports: SourceFile['imports'] = [];
    const packages: SourceFile['packages'] = [];
    for (const m of text.matchAll(SPECIFIER)) {
      const spec = m[2];
      const line = lineOf(m.index ?? 0);
      if (spec.startsWith('.')) {
        const target = resolveImport(f, spec);
        if (target) imports.push({ target: rel(target), line });
        else imports.push({ target: `<unresolved ${spec}>`, line });
      } else if (!spec.startsWith('node:'))
        packages.push({
          name: spec.split('/')[0].startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0],
          line,
        });
    }
    return { path: rel(f), imports, packages };
  });
}

/** Strongly connected components of more than one node (or a self-loop): the import cycles. */
export function cycles(nodes: readonly string[], edges: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  const strong = (v: string): void => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || edges.get(v)?.has(v)) out.push(comp.sort());
    }
  };
  for (const v of nodes) if (!idx.has(v)) strong(v);
  return out;
}
