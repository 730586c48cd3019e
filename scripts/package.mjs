// Builds one platform-specific .vsix per target that the `webgpu` package ships a
// dawn.node for. Each .vsix carries the bundles (dist/), the schema, the icon, the
// Python helper, and of node_modules only `webgpu`'s loader plus that one platform's
// native folder. vsce runs with its dependency detection on (--no-dependencies would
// drop node_modules/webgpu and with it dawn.node); the per-target ignore file keeps the
// other platforms and everything esbuild already bundled out. README links stay relative
// (the images it shows travel in the package), so no repository URL is needed.
// Usage: node scripts/package.mjs [--target linux-x64 ...] [--out-dir DIR]
import { readFileSync, writeFileSync, mkdirSync, statSync, existsSync, openSync, readSync, closeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Buffer } from 'node:buffer';

/** vsce target -> webgpu's dist folder for it. */
export const TARGETS = {
  'linux-x64': 'linux-x64',
  'linux-arm64': 'linux-arm64',
  'darwin-x64': 'darwin-universal',
  'darwin-arm64': 'darwin-universal',
  'win32-x64': 'win32-x64',
  'win32-arm64': 'win32-arm64',
};

const argv = process.argv.slice(2);
const wanted = [];
let outDir = '.';
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--target') wanted.push(argv[++i]);
  else if (argv[i] === '--out-dir') outDir = argv[++i];
  else {
    console.error(
      `package: unknown argument '${argv[i]}'; usage: node scripts/package.mjs [--target ${Object.keys(TARGETS).join('|')}]... [--out-dir DIR]`,
    );
    process.exit(2);
  }
}
for (const t of wanted) {
  if (!TARGETS[t]) {
    console.error(`package: unknown target '${t}'; the webgpu package ships: ${Object.keys(TARGETS).join(', ')}`);
    process.exit(2);
  }
}
const targets = wanted.length > 0 ? wanted : Object.keys(TARGETS);
const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
for (const f of ['dist/extension/extension.js', 'dist/cli/commlens.js']) {
  if (!existsSync(f)) {
    console.error(`package: ${f} is missing; run 'npm run build' first`);
    process.exit(1);
  }
}

function ignoreFileFor(target) {
  const keep = TARGETS[target];
  const lines = [
    '**',
    '!package.json',
    '!README.md',
    '!LICENSE*',
    // Source maps stay out (vsce applies the negations last, so they are never re-added).
    '!dist/extension/*.js',
    '!dist/cli/*.js',
    '!dist/webview/*.js',
    '!dist/webview/*.css',
    '!schemas/**',
    '!media/**',
    '!docs/images/**',
    '!python/commlens_torch/*.py',
    '!python/README.md',
    '!node_modules/webgpu/package.json',
    '!node_modules/webgpu/index.js',
    '!node_modules/webgpu/LICENSE.md',
    `!node_modules/webgpu/dist/${keep}/**`,
  ];
  mkdirSync('.cache/package', { recursive: true });
  const file = join('.cache/package', `vscodeignore-${target}`);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** Names of the entries in a zip file, read from its central directory. */
export function zipEntries(file) {
  const size = statSync(file).size;
  const fd = openSync(file, 'r');
  try {
    const tailLen = Math.min(size, 65557);
    const tail = Buffer.alloc(tailLen);
    readSync(fd, tail, 0, tailLen, size - tailLen);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--)
      if (tail.readUInt32LE(i) === 0x06054b50) {
        eocd = i;
        break;
      }
    if (eocd < 0) throw new Error(`${file}: not a zip file`);
    const count = tail.readUInt16LE(eocd + 10);
    const cdSize = tail.readUInt32LE(eocd + 12);
    const cdOffset = tail.readUInt32LE(eocd + 16);
    const cd = Buffer.alloc(cdSize);
    readSync(fd, cd, 0, cdSize, cdOffset);
    const names = [];
    for (let p = 0, n = 0; n < count; n++) {
      const nameLen = cd.readUInt16LE(p + 28),
        extraLen = cd.readUInt16LE(p + 30),
        commentLen = cd.readUInt16LE(p + 32);
      names.push(cd.toString('utf8', p + 46, p + 46 + nameLen));
      p += 46 + nameLen + extraLen + commentLen;
    }
    return names;
  } finally {
    closeSync(fd);
  }
}

mkdirSync(outDir, { recursive: true });
const vsce = resolve('node_modules/@vscode/vsce/vsce');
const results = [];
for (const target of targets) {
  const out = join(outDir, `${pkg.name}-${pkg.version}-${target}.vsix`);
  const args = [
    vsce,
    'package',
    '--target',
    target,
    '--out',
    out,
    '--ignoreFile',
    ignoreFileFor(target),
    '--skip-license',
    '--allow-missing-repository',
    '--no-rewrite-relative-links',
  ];
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    console.error(`package: vsce failed for ${target} (exit ${r.status})`);
    process.exit(r.status ?? 1);
  }
  const entries = zipEntries(out);
  const natives = entries.filter((e) => e.endsWith('dawn.node'));
  const expected = `extension/node_modules/webgpu/dist/${TARGETS[target]}/dawn.node`;
  if (natives.length !== 1 || natives[0] !== expected) {
    console.error(`package: ${out} should hold exactly ${expected}, holds: ${natives.join(', ') || 'no dawn.node'}`);
    process.exit(1);
  }
  results.push({ target, file: out, bytes: statSync(out).size, entries: entries.length });
}
console.log('\n| target | file | size | entries |\n|---|---|---|---|');
for (const r of results)
  console.log(`| ${r.target} | ${r.file} | ${(r.bytes / 2 ** 20).toFixed(1)} MiB | ${r.entries} |`);
