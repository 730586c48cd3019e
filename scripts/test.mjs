// Runs the compiled tests (out/test/<group>/**/*.test.js) with node's test runner.
// Usage: node scripts/test.mjs all|unit|integration|e2e [name-filter]
import { readdirSync, statSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';

const group = process.argv[2] ?? 'all';
const filter = process.argv[3];
const groups = group === 'all' ? ['unit', 'integration', 'e2e'] : [group];
const files = [];
function walk(dir) {
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) walk(p);
    else if (f.endsWith('.test.js') && (!filter || p.includes(filter))) files.push(p);
  }
}
for (const g of groups) walk(join('out', 'test', g));
if (files.length === 0) {
  console.error(`no test files found for '${group}' under out/test (did you run 'npm run compile'?)`);
  process.exit(1);
}
process.env.XDG_RUNTIME_DIR ??= '/tmp';
// Every temporary folder the tests make (theirs, the jobs they build, the CLI's and the
// runtime's, Python's) goes into one folder of this run, removed when the tests end: a run
// left about 150 folders and 0.1-0.3 GB in the machine's temporary folder.
// COMMLENS_KEEP_TEST_TMP=1 keeps it (its path is printed) to look at what a test wrote.
const runTmp = mkdtempSync(join(tmpdir(), 'commlens-tests-'));
process.env.TMPDIR = runTmp;
// `analyze` writes its parse cache beside the traces by default: tests keep it out of the
// fixtures (and the shared folder) in a folder of their own.
process.env.COMMLENS_CACHE_DIR ??= mkdtempSync(join(runTmp, 'commlens-test-cache-'));
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
});
if (process.env.COMMLENS_KEEP_TEST_TMP) console.error(`the tests' temporary files are kept in ${runTmp}`);
else rmSync(runTmp, { recursive: true, force: true });
process.exit(r.status ?? 1);
