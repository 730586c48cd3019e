/**
 * The house rules, checked: which room (top-level folder, or a sub-folder named here)
 * may import which, which packages only one room may import, and no import cycles between
 * files or between rooms. docs/architecture.md draws the same rules; this list is the one
 * that counts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cycles, importGraph, type SourceFile } from '../../helpers/importGraph';
import { repoRoot } from '../../helpers/paths';

interface Room {
  /** What it is for, in one line. */
  job: string;
  /** Rooms (or single files, by path) it may import; '*' for anything. */
  mayImport: readonly string[];
}

/** Longest prefix wins: `webview/harness` is a room of its own inside `webview`. */
export const ROOMS: Record<string, Room> = {
  trace: { job: 'the trace model and its formats; definitions every room shares', mayImport: [] },
  analysis: { job: 'metrics, what-if replay, advisor, verification of a suggestion', mayImport: ['trace'] },
  runtime: { job: 'training on WebGPU across N ranks: engine, collectives, strategies, spans', mayImport: ['trace'] },
  cli: {
    job: 'the commands: arguments, output, exit codes, the supervisor',
    mayImport: ['runtime', 'trace', 'analysis'],
  },
  extension: {
    job: 'VS Code glue: runs, panels, the runs view; starts the CLI',
    mayImport: ['trace', 'analysis', 'cli/protocol.ts', 'webview/protocol.ts', 'webview/html.ts'],
  },
  webview: { job: 'the browser UI; talks to the host only through webview/protocol.ts', mayImport: ['trace'] },
  'webview/harness': {
    job: 'a stand-in for the extension host in a browser page (tests, benchmark, development)',
    mayImport: ['webview', 'trace', 'analysis', 'extension/analysisView.ts', 'test/helpers/syntheticRun.ts'],
  },
  'test/helpers': {
    job: 'what tests, benchmarks and the harness share: paths, tool requirements, the synthetic run',
    mayImport: ['trace'],
  },
  test: { job: 'unit, integration (real WebGPU) and end-to-end (real VS Code) tests', mayImport: ['*'] },
  bench: { job: 'benchmarks that print ratios measured side by side', mayImport: ['*'] },
  scripts: { job: 'build, test and packaging scripts', mayImport: ['*'] },
};

/** Packages only some rooms may import. */
const PACKAGE_OWNERS: Record<string, readonly string[]> = {
  vscode: ['extension', 'test'],
  webgpu: ['runtime', 'test', 'bench'],
};

function roomOf(path: string): string | undefined {
  let best: string | undefined;
  for (const r of Object.keys(ROOMS))
    if ((path === r || path.startsWith(`${r}/`)) && (!best || r.length > best.length)) best = r;
  return best;
}

function allowed(fromRoom: string, target: string): boolean {
  const targetRoom = roomOf(target);
  if (targetRoom === fromRoom) return true;
  return ROOMS[fromRoom].mayImport.some((m) => m === '*' || m === targetRoom || m === target);
}

const files: SourceFile[] = importGraph(
  repoRoot,
  Object.keys(ROOMS).filter((r) => !r.includes('/')),
);

test('the import graph is read (guards against a scanner that finds nothing)', () => {
  assert.ok(files.length > 100, `only ${files.length} files found`);
  const cli = files.find((f) => f.path === 'cli/main.ts');
  assert.ok(cli && cli.imports.some((i) => i.target === 'cli/commands/index.ts'), 'cli/main.ts imports cli/commands');
});

test('every relative import resolves to a file', () => {
  const bad = files.flatMap((f) =>
    f.imports.filter((i) => i.target.startsWith('<unresolved')).map((i) => `${f.path}:${i.line} ${i.target}`),
  );
  assert.deepEqual(bad, []);
});

test('each room imports only the rooms its rule allows', () => {
  const bad: string[] = [];
  for (const f of files) {
    const from = roomOf(f.path);
    if (!from) continue;
    for (const i of f.imports) {
      if (!allowed(from, i.target))
        bad.push(
          `${f.path}:${i.line} imports ${i.target} (${from}/ may import ${ROOMS[from].mayImport.join(', ') || 'nothing of ours'})`,
        );
    }
  }
  assert.deepEqual(bad, [], `folder rules broken:\n${bad.join('\n')}`);
});

test('vscode only in extension/, webgpu only in runtime/ (and tests and benchmarks)', () => {
  const bad: string[] = [];
  for (const f of files) {
    const from = roomOf(f.path) ?? '';
    const top = from.split('/')[0];
    for (const p of f.packages) {
      const owners = PACKAGE_OWNERS[p.name];
      if (owners && !owners.includes(top))
        bad.push(`${f.path}:${p.line} imports '${p.name}' (only ${owners.join(', ')})`);
    }
  }
  assert.deepEqual(bad, []);
});

test('no import cycles between files', () => {
  const edges = new Map<string, Set<string>>();
  for (const f of files) edges.set(f.path, new Set(f.imports.map((i) => i.target)));
  const found = cycles([...edges.keys()], edges);
  assert.deepEqual(found, [], `file cycles:\n${found.map((c) => c.join(' ↔ ')).join('\n')}`);
});

test('no import cycles between rooms', () => {
  const edges = new Map<string, Set<string>>();
  for (const f of files) {
    const from = roomOf(f.path);
    if (!from || ROOMS[from].mayImport.includes('*')) continue;
    const set = edges.get(from) ?? new Set<string>();
    for (const i of f.imports) {
      const to = roomOf(i.target);
      if (to && to !== from) set.add(to);
    }
    edges.set(from, set);
  }
  const found = cycles([...edges.keys()], edges);
  assert.deepEqual(found, [], `room cycles:\n${found.map((c) => c.join(' ↔ ')).join('\n')}`);
});

test('the checker catches a forbidden import and a cycle (it can fail)', () => {
  assert.equal(allowed('analysis', 'runtime/config.ts'), false);
  assert.equal(allowed('extension', 'webview/app.ts'), false);
  assert.equal(allowed('extension', 'webview/protocol.ts'), true);
  assert.equal(allowed('webview/harness', 'extension/analysisView.ts'), true);
  assert.equal(allowed('webview', 'extension/analysisView.ts'), false);
  assert.equal(allowed('webview/harness', 'test/helpers/syntheticRun.ts'), true);
  assert.equal(allowed('test/helpers', 'analysis/index.ts'), false);
  const e = new Map<string, Set<string>>([
    ['a', new Set(['b'])],
    ['b', new Set(['c'])],
    ['c', new Set(['a'])],
    ['d', new Set(['a'])],
  ]);
  assert.deepEqual(cycles(['a', 'b', 'c', 'd'], e), [['a', 'b', 'c']]);
});
