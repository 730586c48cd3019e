/**
 * The standalone harness: serves the built viewer (dist/webview) inside the same HTML the
 * extension uses (`renderWebviewHtml`, same CSP), plus a stand-in of the VS Code bridge
 * (webview/harness/bridge.js) that feeds it a trace encoded with trace/binary.ts. Listens on
 * 127.0.0.1 only. Used by the Playwright tests and the viewer benchmark; also runnable:
 *
 *   node out/webview/harness/node/serve.js [trace-file] [--port 8123] [--world-size 4]
 *
 * With no file it serves a synthetic CommLens-shaped run (and its overlap re-run to compare).
 */
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { encodeTrace } from '../../../trace/binary';
import { renderWebviewHtml } from '../../html';
import { lodMinDurNs, type AnalysisView } from '../../protocol';
import { analyze } from '../../../analysis/index';
import { toAnalysisView } from '../../../extension/analysisView';
import type { TraceModel } from '../../../trace/model';
import { viewerRun } from '../../../test/helpers/syntheticRun';

/** The same analysis, adapted the same way, as the extension sends. */
export function harnessAnalysis(model: TraceModel): AnalysisView {
  return toAnalysisView(analyze(model));
}

export interface HarnessRun {
  title: string;
  model: TraceModel;
  /** Analysis to send; computed by analysis/ when undefined, not sent when null. */
  analysis?: AnalysisView | null;
  /** Bytes to send instead of encoding the model (to test bad input). */
  data?: ArrayBuffer;
  /** Send a level-of-detail subset of at most this many slices, as the extension does for huge traces. */
  maxSlices?: number;
}
export interface HarnessOptions {
  run: HarnessRun;
  compare?: HarnessRun;
  port?: number;
}
export interface Harness {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Repository root, found from this file in out/ or in the source tree. */
export function repoRoot(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('harness: could not find the repository root (package.json) above ' + __dirname);
    dir = up;
  }
  return dir;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.map': 'application/json',
  '.html': 'text/html',
};

export async function startHarness(o: HarnessOptions): Promise<Harness> {
  const root = repoRoot();
  const dist = path.join(root, 'dist', 'webview');
  if (!existsSync(path.join(dist, 'main.js')))
    throw new Error(`harness: ${path.join(dist, 'main.js')} is missing; run 'npm run build' first`);
  const encode = (r: HarnessRun): Buffer =>
    Buffer.from(
      r.data ??
        encodeTrace(
          r.model,
          r.maxSlices !== undefined
            ? {
                minDurNs: lodMinDurNs(
                  r.model.slices.map((sl) => sl.durNs),
                  r.maxSlices,
                ),
              }
            : {},
        ),
    );
  const traceBin = encode(o.run);
  const compareBin = o.compare ? encode(o.compare) : null;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const send = (status: number, type: string, body: string | Buffer): void => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    const json = (v: unknown): void => send(v === undefined ? 404 : 200, 'application/json', JSON.stringify(v ?? null));
    const p = url.pathname;
    if (p === '/' || p === '/index.html') {
      const nonce = randomBytes(16).toString('base64');
      const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      let html = renderWebviewHtml({
        scriptUri: '/dist/main.js',
        styleUri: '/dist/main.css',
        cspSource: origin,
        nonce,
        title: o.run.title,
      });
      // The harness adds the theme variables VS Code would inject and the bridge stand-in, and
      // lets that stand-in (only it) fetch from this server; the viewer's own CSP is unchanged.
      html = html
        .replace("default-src 'none'", `default-src 'none'; connect-src ${origin}`)
        .replace('</head>', `<link rel="stylesheet" href="/harness/theme.css">\n</head>`)
        .replace('<script nonce', `<script nonce="${nonce}" src="/harness/bridge.js"></script>\n<script nonce`);
      return send(200, 'text/html', html);
    }
    if (p === '/favicon.ico') return send(204, 'image/x-icon', '');
    if (p === '/trace.bin') return send(200, 'application/octet-stream', traceBin);
    if (p === '/info.json') return json({ title: o.run.title });
    if (p === '/analysis.json')
      return json(o.run.analysis === undefined ? harnessAnalysis(o.run.model) : o.run.analysis);
    if (p === '/compare-info.json')
      return o.compare ? json({ title: o.compare.title }) : send(404, 'application/json', 'null');
    if (p === '/compare.bin' && compareBin) return send(200, 'application/octet-stream', compareBin);
    if (p === '/compare-analysis.json' && o.compare)
      return json(o.compare.analysis === undefined ? harnessAnalysis(o.compare.model) : o.compare.analysis);
    if (p === '/range.bin') {
      const startNs = Number(url.searchParams.get('start')),
        endNs = Number(url.searchParams.get('end')),
        minDurNs = Number(url.searchParams.get('minDur'));
      return send(
        200,
        'application/octet-stream',
        Buffer.from(encodeTrace(o.run.model, { window: { startNs, endNs }, minDurNs })),
      );
    }
    const file = p.startsWith('/dist/')
      ? path.join(dist, path.basename(p))
      : p.startsWith('/harness/')
        ? path.join(root, 'webview', 'harness', path.basename(p))
        : '';
    if (file && existsSync(file))
      return send(200, TYPES[path.extname(file)] ?? 'application/octet-stream', readFileSync(file));
    send(404, 'text/plain', `not found: ${p}`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, '127.0.0.1', () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    url,
    server,
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

type Loader = { loadTraceFile?: (p: string) => Promise<TraceModel> };

/** trace/load when this checkout has it (the readers live on another branch until merged), else null. */
export function traceLoader(): ((file: string) => Promise<TraceModel>) | null {
  let loader: Loader;
  try {
    // A computed path: this file must compile where trace/load does not exist yet.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loader = require(path.join(__dirname, '..', '..', '..', 'trace', 'load')) as Loader;
  } catch {
    return null;
  }
  return typeof loader.loadTraceFile === 'function' ? loader.loadTraceFile : null;
}

/** Loads a trace file with trace/load, or says clearly why it cannot. */
export async function loadTraceFile(file: string): Promise<TraceModel> {
  const load = traceLoader();
  if (!load)
    throw new Error(
      `harness: cannot open ${file}: trace/load (loadTraceFile) is not in this checkout. Run without a file to serve a synthetic run.`,
    );
  return load(file);
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const portAt = args.indexOf('--port');
  const port = portAt >= 0 ? Number(args[portAt + 1]) : 8123;
  const wsAt = args.indexOf('--world-size');
  const worldSize = wsAt >= 0 ? Number(args[wsAt + 1]) : 4;
  const file = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--port' && args[i - 1] !== '--world-size');
  void (async () => {
    if (!Number.isInteger(worldSize) || worldSize < 1 || worldSize > 64)
      throw new Error(`harness: --world-size wants a whole number of ranks from 1 to 64, got ${args[wsAt + 1]}`);
    const run: HarnessRun = file
      ? { title: path.basename(file), model: await loadTraceFile(file) }
      : { title: `synthetic run (ddp, ${worldSize} ranks)`, model: viewerRun({ ranks: worldSize }) };
    const compare = file
      ? undefined
      : {
          title: `synthetic re-run (ddp-overlap, ${worldSize} ranks)`,
          model: viewerRun({ ranks: worldSize, overlap: true }),
        };
    const h = await startHarness({ run, compare, port });
    console.log(`CommLens viewer harness: ${h.url}  (Ctrl+C to stop)`);
  })().catch((err) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  });
}
