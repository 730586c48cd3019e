// Bundles the three programs of CommLens with esbuild:
//  - the extension host code (cjs, `vscode` external),
//  - the webview (browser, iife),
//  - the CLI (cli/main.ts -> dist/cli/commlens.js) with the runtime's worker entry points
//    beside it (node, cjs, `webgpu` external: it is a native package that ships per
//    platform in the .vsix).
// Worker entry points are every `runtime/*Worker.ts`, `trace/*Worker.ts` and
// `analysis/*Worker.ts`; code resolves them next to itself.
import * as esbuild from 'esbuild';
import { readdirSync, mkdirSync, copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');
const common = { bundle: true, sourcemap: !production, minify: production, logLevel: 'warning', legalComments: 'none' };

const workerEntries = Object.fromEntries(
  ['runtime', 'trace', 'analysis'].flatMap((dir) =>
    readdirSync(dir)
      .filter((f) => /Worker\.ts$/.test(f))
      .map((f) => [f.replace(/\.ts$/, ''), join(dir, f)]),
  ),
);

const builds = [
  {
    ...common,
    entryPoints: { commlens: 'cli/main.ts', ...workerEntries },
    outdir: 'dist/cli',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['webgpu'],
  },
];
if (existsSync('extension/extension.ts')) {
  builds.push({
    ...common,
    // The trace worker (loading and analysis off the extension host's thread) sits beside it,
    // and the Kineto scan workers it starts (trace/kinetoScanPool.ts and
    // analysis/kinetoJobAnalysis.ts find them beside themselves).
    entryPoints: {
      extension: 'extension/extension.ts',
      traceWorker: 'extension/traceWorker.ts',
      kinetoScanWorker: 'trace/kinetoScanWorker.ts',
      rankDigestWorker: 'analysis/rankDigestWorker.ts',
    },
    outdir: 'dist/extension',
    platform: 'node',
    format: 'cjs',
    target: 'node18',
    external: ['vscode'],
  });
}
if (existsSync('webview/main.ts')) {
  builds.push({
    ...common,
    entryPoints: ['webview/main.ts'],
    outdir: 'dist/webview',
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
  });
}

function copyStatic() {
  if (!existsSync('webview/static')) return;
  mkdirSync('dist/webview', { recursive: true });
  for (const f of readdirSync('webview/static')) copyFileSync(join('webview/static', f), join('dist/webview', f));
}

if (watch) {
  for (const b of builds) (await esbuild.context(b)).watch();
  copyStatic();
  console.log('[build] watching');
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
  copyStatic();
}
