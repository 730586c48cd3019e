/**
 * The standalone harness: serves the built viewer (dist/webview) inside the same HTML the
 * extension uses (`renderWebviewHtml`, same CSP), plus a stand-in of the VS Code bridge
 * (webview/harness/bridge.js) that feeds it a trace encoded with trace/binary.ts. Listens on
 * 127.0.0.1 only. Used by the Playwright tests and the viewer benchmark; also runnable:
 *
 *   node out/webview/harness/node/serve.js [trace-file] [--port 8123] [--world-size 4] [--windowed]
 *
 * With no file it serves a synthetic CommLens-shaped run (and its overlap re-run to compare).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { encodeTrace } from '../../../trace/binary';
import { renderWebviewHtml } from '../../html';
import { lodMinDurNs, WINDOWED_ABOVE_SLICES, type AnalysisView } from '../../protocol';
import { analyze } from '../../../analysis/index';
import { toAnalysisView } from '../../../extension/analysisView';
import type { TraceModel } from '../../../trace/model';
import { LodIndex, type SearchAnswer, type ViewRequest } from '../../../trace/lod';
import { syntheticRun, viewerRun } from '../../../test/helpers/syntheticRun';

/** The same analysis, adapted the same way, as the extension sends. */
export function harnessAnalysis(model: TraceModel): AnalysisView {
  return toAnalysisView(analyze(model));
}

/** Where a windowed run's views come from (protocol step 10): an index here, or the extension's trace worker. */
export interface ViewProvider {
  overview(): Promise<ArrayBuffer>;
  view(request: ViewRequest): Promise<ArrayBuffer>;
  search(query: string): Promise<SearchAnswer>;
}

/** A provider over a level-of-detail index built in this process. */
export function lodProvider(model: TraceModel): ViewProvider {
  let lod: LodIndex | undefined;
  const index = (): LodIndex => (lod ??= new LodIndex(model));
  return {
    overview: async () => index().overview(),
    view: async (r) => index().encode(r),
    search: async (q) => index().search(q),
  };
}

export interface HarnessRun {
  title: string;
  /** The trace (not needed when `views` and `analysis` are given). */
  model?: TraceModel;
  /** Serve it windowed (protocol step 10): views from a level-of-detail index of `model`. */
  windowed?: boolean;
  /** Serve it windowed from this provider (the viewer benchmark passes the trace worker). */
  views?: ViewProvider;
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
  const modelOf = (r: HarnessRun): TraceModel => {
    if (!r.model) throw new Error(`harness: run '${r.title}' has no model (give one, or views and an analysis)`);
    return r.model;
  };
  const encode = (r: HarnessRun): Buffer =>
    Buffer.from(
      r.data ??
        encodeTrace(
          modelOf(r),
          r.maxSlices !== undefined
            ? {
                minDurNs: lodMinDurNs(
                  modelOf(r).slices.map((sl) => sl.durNs),
                  r.maxSlices,
                ),
              }
            : {},
        ),
    );
  const views = o.run.views ?? (o.run.windowed ? lodProvider(modelOf(o.run)) : undefined);
  const traceBin = views ? null : encode(o.run);
  const compareBin = o.compare ? encode(o.compare) : null;
  const server = createServer((req, res) => {
    void handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`harness: ${(e as Error)?.message ?? String(e)}`);
    });
  });
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
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
    if (p === '/trace.bin')
      return send(200, 'application/octet-stream', traceBin ?? Buffer.from(await views!.overview()));
    if (p === '/view.bin' && views) {
      const r = JSON.parse(url.searchParams.get('request') ?? 'null') as ViewRequest;
      return send(200, 'application/octet-stream', Buffer.from(await views.view(r)));
    }
    if (p === '/search.json' && views) return json(await views.search(url.searchParams.get('q') ?? ''));
    if (p === '/info.json') return json({ title: o.run.title });
    if (p === '/analysis.json')
      return json(o.run.analysis === undefined ? harnessAnalysis(modelOf(o.run)) : o.run.analysis);
    if (p === '/compare-info.json')
      return o.compare ? json({ title: o.compare.title }) : send(404, 'application/json', 'null');
    if (p === '/compare.bin' && compareBin) return send(200, 'application/octet-stream', compareBin);
    if (p === '/compare-analysis.json' && o.compare)
      return json(o.compare.analysis === undefined ? harnessAnalysis(modelOf(o.compare)) : o.compare.analysis);
    if (p === '/range.bin') {
      const startNs = Number(url.searchParams.get('start')),
        endNs = Number(url.searchParams.get('end')),
        minDurNs = Number(url.searchParams.get('minDur'));
      return send(
        200,
        'application/octet-stream',
        Buffer.from(encodeTrace(modelOf(o.run), { window: { startNs, endNs }, minDurNs })),
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
  };
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
    // --pipeline: a DP × PP run (2 stages, GPipe of 4 micro-batches), whose Breakdown has the layout's tables.
    const pipeline = args.includes('--pipeline');
    if (pipeline && (worldSize < 2 || worldSize % 2 !== 0))
      throw new Error(`harness: --pipeline runs 2 pipeline stages and needs an even --world-size, got ${worldSize}`);
    const model = file
      ? await loadTraceFile(file)
      : pipeline
        ? syntheticRun({
            ranks: worldSize,
            steps: 6,
            fwdNs: 1_000_000,
            optimizerNs: 400_000,
            gradBytes: 8 * 1024 * 1024,
            alphaNs: 20_000,
            loss: true,
            flows: true,
            hostPhases: true,
            pipeline: { stages: 2, microBatches: 4, p2pNs: 300_000 },
          })
        : viewerRun({ ranks: worldSize });
    const run: HarnessRun = {
      title: file
        ? path.basename(file)
        : pipeline
          ? `synthetic run (dp ${worldSize / 2} × pp 2, gpipe)`
          : `synthetic run (ddp, ${worldSize} ranks)`,
      model,
      // As the extension does: big traces are served as views of a level-of-detail index.
      windowed: args.includes('--windowed') || model.slices.length > WINDOWED_ABOVE_SLICES,
    };
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
