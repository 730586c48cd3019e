// Runs the compiled tests (out/test/<group>/**/*.test.js) with node's test runner.
// Usage: node scripts/test.mjs all|unit|integration|e2e [name-filter]
import { readdirSync, statSync, existsSync, mkdtempSync } from 'node:fs';
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
// `analyze` writes its parse cache beside the traces by default: tests keep it out of the
// fixtures (and the shared folder) in a folder of their own.
process.env.COMMLENS_CACHE_DIR ??= mkdtempSync(join(tmpdir(), 'commlens-test-cache-'));
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
