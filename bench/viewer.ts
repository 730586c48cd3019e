/**
 * Viewer benchmark (headless Chromium, Debian's /usr/bin/chromium): a synthetic 8-rank run of
 * about one million spans is encoded with trace/binary.ts and served by the harness; we measure
 *  - first_paint_ms: from the trace message reaching the webview to the first complete frame
 *    presented (decode + index + draw + one animation frame),
 *  - frame_ms_median / frame_ms_p95: JS time of each full frame (boxes, labels, overview,
 *    axis, overlay) during a scripted W/S zoom, A/D pan and Ctrl-wheel sequence,
 *  - heap_mb: JS heap after load and a forced GC, plus ArrayBuffer backing stores (the
 *    trace's typed arrays live there, outside the V8 heap proper).
 * Side by side in the same run: the same frames with level of detail off (every span drawn),
 * and the binary encoding's size against the model's JSON.
 * Writes bench/results/viewer.json.
 *
 * The 8-rank case (issue #22): a Kineto job of 8 ranks built by bench/scaleJobs.ts (the
 * cache bench:scale uses) is opened as the extension's trace worker opens it. First, side by
 * side, each in a child process of its own (bench/viewerOpenChild.ts: time to the first view
 * ready to send, the process's peak RSS with the worker threads in it): the way the trace
 * worker opened a job before (the importer's model of every event, its analysis, LodIndex over
 * it) and the way it does now (extension/traceService.ts openKinetoJob: the CLI's analysis and
 * each rank's level-of-detail index, trace/jobLod.ts), cold (an empty cache folder) and
 * re-opened. Then the harness serves the webview from a trace worker (extension/traceHost.ts)
 * as the extension does (protocol step 10: overview first, then views of what is on screen),
 * cold and re-opened. Measured: open time and first paint (from the page's start: the
 * worker's overview, transfer, decode, index, draw) cold and re-opened, frame times while
 * zooming and panning, and the webview's JS heap (with ArrayBuffers) after load and after
 * navigating. The keys viewer_first_paint_ms_8r (cold), viewer_heap_mb_8r,
 * viewer_frame_ms_median_8r and viewer_8r (the rest) are merged into bench/results/scale.json
 * (read, update these keys, write: bench:scale writes the others). The load average is
 * printed and stored: on a shared machine the times follow it.
 *
 *   npm run bench:viewer                          both cases, 8 × 500 MB
 *   npm run bench:viewer -- --quick               both cases, 8 × 20 MB
 *   npm run bench:viewer -- --only 8r [--mb-per-rank N] [--no-importer]   (--no-importer: not the before case)
 *   npm run bench:viewer -- --only synthetic
 *   npm run bench:viewer -- --only 1024r [--quick]
 *
 * The 1,024-rank case (`--only 1024r`, not run by default): bench:scale's 1,024 × 10 MB gzip job
 * (`--quick`: 1,024 × 0.2 MB) opened in a child process as the extension opens it, with the
 * default memory budget (2 GiB) and with a quarter of it: cold, then re-opened, each with a
 * zoom over the first rank's tracks (what the page asks for when the ranks are summary rows and
 * one is opened) and a zoom over every track; the ranks' columns held stay within the budget
 * (trace/jobLod.ts), so the peak RSS follows the budget, not the job. Then the webview's first
 * paint of the job re-opened, and its heap. Merged into bench/results/scale.json as viewer_1024r.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { encodeTrace } from '../trace/binary';
import { repoRoot } from '../webview/harness/node/serve';
import { defaultMaxTraceBytes } from '../trace/budget';
import { openTrace, type RemoteTrace } from '../extension/traceHost';
import type { ViewerOpenResult } from './viewerOpenChild';
import { buildJob } from './scaleJobs';
import { viewerRun } from '../test/helpers/syntheticRun';
import { chromiumMissing, launch, openViewer, viewWindow, waitPaint } from '../test/integration/webview/browser';

const quantile = (xs: number[], q: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

interface SequenceResult {
  frames: number[];
  intervals: number[];
}

/**
 * Runs the scripted navigation; returns the JS times of the full frames it caused and the
 * intervals between animation frames meanwhile (what the user sees: 16.7 ms at 60 Hz when
 * every frame fits its budget).
 */
async function scriptedSequence(page: Page): Promise<SequenceResult> {
  await page.keyboard.press('0');
  await page.mouse.move(700, 400);
  await page.evaluate('window.commlens.frameTimes.length = 0');
  await page.evaluate(
    `(() => { window.__raf = []; window.__rafOn = true; const f = (t) => { window.__raf.push(t); if (window.__rafOn) requestAnimationFrame(f); }; requestAnimationFrame(f); })()`,
  );
  const hold = async (key: string, ms: number): Promise<void> => {
    await page.keyboard.down(key);
    await page.waitForTimeout(ms);
    await page.keyboard.up(key);
  };
  await hold('w', 1500); // zoom in around the cursor
  await hold('d', 600); // pan right
  await hold('a', 600); // pan left
  await hold('s', 1200); // zoom out
  for (let i = 0; i < 10; i++) {
    // Ctrl+wheel zoom in, then out
    await page.keyboard.down('Control');
    await page.mouse.wheel(0, i < 5 ? -240 : 240);
    await page.keyboard.up('Control');
    await page.waitForTimeout(40);
  }
  await page.mouse.move(600, 300);
  await page.mouse.down();
  await page.mouse.move(300, 300, { steps: 15 }); // drag to pan
  await page.mouse.up();
  await page.waitForTimeout(100);
  await page.evaluate('window.__rafOn = false');
  const raf = (await page.evaluate('window.__raf.slice()')) as number[];
  return {
    frames: await page.evaluate('window.commlens.frameTimes.slice()'),
    intervals: raf.slice(1).map((t, i) => t - raf[i]),
  };
}

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const MB = 1e6;

async function main(): Promise<void> {
  const missing = chromiumMissing();
  if (missing) throw new Error(missing);
  const only = flag('--only');
  if (only !== undefined && only !== 'synthetic' && only !== '8r' && only !== '1024r')
    throw new Error(`bench:viewer: --only takes 'synthetic', '8r' or '1024r', got '${only}'`);
  if (only === '1024r') return manyRanksCase(argv.includes('--quick'));
  if (only !== '8r') await syntheticCase();
  if (only !== 'synthetic') {
    const mbText = flag('--mb-per-rank');
    const mb = mbText !== undefined ? Number(mbText) : argv.includes('--quick') ? 20 : 500;
    if (!(Number.isFinite(mb) && mb > 0))
      throw new Error(`bench:viewer: --mb-per-rank wants a positive number of MB, got '${mbText}'`);
    await eightRanksCase(mb, !argv.includes('--no-importer'));
  }
}

/** Heap of the page after a forced GC: V8 heap plus ArrayBuffer backing stores (MB). */
async function pageHeapMb(page: Page): Promise<{ total: number; v8: number; buffers: number }> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('HeapProfiler.collectGarbage');
  const heap = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number; backingStorageSize?: number };
  await cdp.detach();
  const v8 = heap.usedSize / 2 ** 20,
    buffers = (heap.backingStorageSize ?? 0) / 2 ** 20;
  return { total: v8 + buffers, v8, buffers };
}

/** One way of opening the job, weighed alone in a child process (bench/viewerOpenChild.ts). */
function openInChild(
  mode: 'job' | 'importer',
  files: string[],
  cacheDir: string,
  maxTraceBytes?: number,
): ViewerOpenResult {
  const r = spawnSync(process.execPath, [path.join(repoRoot(), 'out', 'bench', 'viewerOpenChild.js'), mode, ...files], {
    env: {
      ...process.env,
      COMMLENS_CACHE_DIR: cacheDir,
      ...(maxTraceBytes !== undefined ? { COMMLENS_BENCH_MAX_TRACE_BYTES: String(maxTraceBytes) } : {}),
    },
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) throw new Error(`bench:viewer: opening the job (${mode}) failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ViewerOpenResult;
}

/** The first paint of the job in the harness's webview, served by a trace worker of this process. */
async function paintJob(
  browser: Awaited<ReturnType<typeof launch>>,
  files: string[],
  title: string,
  navigate: boolean,
): Promise<{
  openMs: number;
  trace: Extract<RemoteTrace, { ok: true }>;
  perf: { arrival: number; firstPaint: number; decoded: number; indexed: number };
  heapLoad: { total: number; v8: number; buffers: number };
  seq?: SequenceResult;
  heapNav?: { total: number; v8: number; buffers: number };
  views?: number;
  close: () => Promise<void>;
}> {
  const t = performance.now();
  const trace = await openTrace(files, title, {
    maxTraceBytes: defaultMaxTraceBytes(),
    workerPath: path.join(repoRoot(), 'out', 'extension', 'traceWorker.js'),
  });
  const openMs = performance.now() - t;
  if (!trace.ok) throw new Error(`bench:viewer: the trace worker could not open the job: ${trace.message}`);
  const v = await openViewer(
    browser,
    {
      run: {
        title,
        analysis: trace.analysis ?? null,
        views: {
          overview: () => trace.encodeWhole(),
          view: (r) => trace.view(r),
          search: (q) => trace.search(q),
        },
      },
    },
    '',
    { width: 1600, height: 1000 },
  );
  const page = v.page;
  const perf = (await page.evaluate(`(() => ({ ...window.commlens.perf }))()`)) as {
    arrival: number;
    firstPaint: number;
    decoded: number;
    indexed: number;
  };
  const heapLoad = await pageHeapMb(page);
  let seq: SequenceResult | undefined, heapNav: typeof heapLoad | undefined, views: number | undefined;
  if (navigate) {
    seq = await scriptedSequence(page);
    // Let the last view arrive, then weigh the page holding it.
    await page.waitForTimeout(1500);
    heapNav = await pageHeapMb(page);
    views = (await page.evaluate(`window.__hostLog.filter((m) => m.type === 'requestView').length`)) as number;
  }
  if (v.errors.length) console.log('page errors:', v.errors);
  return {
    openMs,
    trace,
    perf,
    heapLoad,
    seq,
    heapNav,
    views,
    close: async () => {
      await v.harness.close();
      trace.dispose();
    },
  };
}

/**
 * The 8-rank Kineto job (see the file comment). Side by side, each in a child process of its own
 * (peak RSS of the process, the trace worker's threads and the scan workers in it): the way the
 * trace worker opened a job before (the importer's model of every event of every rank, and
 * LodIndex over it) and the way it opens one now (the CLI's analysis and the ranks' indexes,
 * trace/jobLod.ts), cold (an empty cache folder) and re-opened (the same folder). Then the
 * webview's first paint, cold and re-opened, and frame times and heap while navigating.
 */
async function eightRanksCase(mbPerRank: number, withImporter: boolean): Promise<void> {
  const bytesPerRank = mbPerRank * MB;
  // The same cache folders as bench:scale's 8-rank cases, so a job is built once.
  const name = mbPerRank === 20 ? 'quick-8' : mbPerRank === 500 ? 'full-8' : 'viewer-8';
  const fixtureDir = path.join(repoRoot(), '..', 'shared', 'fixtures', 'kineto', 'hta-sampled');
  const job = await buildJob({ name, ranks: 8, bytesPerRank, gzip: false }, fixtureDir, console.log);
  console.log(
    `8-rank job: ${job.files.length} files, ${(job.jsonBytes / MB).toFixed(0)} MB of JSON, ${job.events.toLocaleString('en-US')} events (${job.dir}); load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  // Parse cache and indexes: a fresh folder, so the first open is cold.
  const cacheDir = mkdtempSync(path.join(tmpdir(), 'commlens-viewer-cache-'));
  const prevCacheDir = process.env.COMMLENS_CACHE_DIR;
  process.env.COMMLENS_CACHE_DIR = cacheDir;
  try {
    const before = withImporter ? openInChild('importer', job.files, cacheDir) : undefined;
    const cold = openInChild('job', job.files, cacheDir);
    const reopen = openInChild('job', job.files, cacheDir);
    const jsonMb = job.jsonBytes / 2 ** 20;
    const openRow = (what: string, r: ViewerOpenResult | undefined): [string, string, string, string] =>
      r
        ? [
            what,
            `${(r.openMs / 1000).toFixed(2)} s`,
            `${r.peakRssMb.toFixed(0)} MB`,
            `${(r.peakRssMb / jsonMb).toFixed(3)} × JSON; ${r.slices.toLocaleString('en-US')} slices, first view ${(r.firstViewBytes / 2 ** 20).toFixed(1)} MB${r.fromCache !== undefined ? `, from cache: ${r.fromCache}` : ''}${r.zoomRankMs !== undefined ? `; a zoom right after it, one rank's tracks ${(r.zoomRankMs / 1000).toFixed(2)} s` : ''}${r.zoomMs !== undefined ? `, every track ${(r.zoomMs / 1000).toFixed(2)} s` : ''}`,
          ]
        : [what, 'not run', '', '--no-importer'];
    console.log(`\nopening the job in the trace worker (each in its own process; peak RSS of the process)`);
    printTable(
      [
        openRow('before: importer model + LodIndex', before),
        openRow('now: cold (rank indexes made)', cold),
        openRow('now: re-opened (from the cache)', reopen),
      ],
      ['open', 'to first view', 'peak RSS', 'side by side'],
    );
    // The webview: cold (the cache emptied again) and re-opened.
    rmSync(cacheDir, { recursive: true, force: true });
    mkdirSync(cacheDir, { recursive: true });
    const title = `8 ranks × ${mbPerRank} MB`;
    const browser = await launch();
    try {
      const c = await paintJob(browser, job.files, title, true);
      await c.close();
      const w = await paintJob(browser, job.files, title, false);
      await w.close();
      const seq = c.seq!;
      const fm = quantile(seq.frames, 0.5),
        fp = quantile(seq.frames, 0.95);
      const heapMb = Math.max(c.heapLoad.total, c.heapNav!.total);
      const paintNote = (p: typeof c.perf) =>
        `overview arrives at ${p.arrival.toFixed(0)} ms; decode ${(p.decoded - p.arrival).toFixed(0)} + index ${(p.indexed - p.decoded).toFixed(0)} + draw/present ${(p.firstPaint - p.indexed).toFixed(0)}`;
      console.log('');
      printTable([
        [
          'open in the trace worker, cold (s)',
          (c.openMs / 1000).toFixed(2),
          '',
          `analysis + rank indexes made (from cache: ${c.trace.fromCache})`,
        ],
        ['first paint from page start, cold (ms)', c.perf.firstPaint.toFixed(0), '≤ 2000', paintNote(c.perf)],
        [
          'open in the trace worker, re-opened (s)',
          (w.openMs / 1000).toFixed(2),
          '< 1',
          `from cache: ${w.trace.fromCache}`,
        ],
        ['first paint from page start, re-opened (ms)', w.perf.firstPaint.toFixed(0), '≤ 2000', paintNote(w.perf)],
        ['frame time, median (ms)', fm.toFixed(2), '≤ 16', `p95 ${fp.toFixed(2)} ms over ${seq.frames.length} frames`],
        [
          'JS heap + ArrayBuffers (MB)',
          heapMb.toFixed(1),
          '≤ 500',
          `after load ${c.heapLoad.total.toFixed(1)} (V8 ${c.heapLoad.v8.toFixed(1)} + buffers ${c.heapLoad.buffers.toFixed(1)}), after navigating ${c.heapNav!.total.toFixed(1)}`,
        ],
        ['views asked of the worker', String(c.views), '', `while zooming and panning (debounced)`],
      ]);
      const file = path.join(repoRoot(), 'bench', 'results', 'scale.json');
      mkdirSync(path.dirname(file), { recursive: true });
      const prev = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
      const opened = (r: ViewerOpenResult | undefined) =>
        r && {
          open_s: Number((r.openMs / 1000).toFixed(2)),
          ...(r.zoomMs !== undefined ? { first_zoom_s: Number((r.zoomMs / 1000).toFixed(2)) } : {}),
          ...(r.zoomRankMs !== undefined ? { first_zoom_one_rank_s: Number((r.zoomRankMs / 1000).toFixed(2)) } : {}),
          peak_rss_mb: Math.round(r.peakRssMb),
          slices: r.slices,
        };
      const next = {
        ...prev,
        viewer_first_paint_ms_8r: Math.round(c.perf.firstPaint),
        viewer_heap_mb_8r: Number(heapMb.toFixed(1)),
        viewer_frame_ms_median_8r: Number(fm.toFixed(2)),
        viewer_8r: {
          mb_per_rank: mbPerRank,
          json_mb: Math.round(job.jsonBytes / MB),
          load_average: loadavg().map((x) => Number(x.toFixed(2))),
          slices: c.trace.sliceCount,
          open_s_cold: Number((c.openMs / 1000).toFixed(2)),
          open_s_reopen: Number((w.openMs / 1000).toFixed(2)),
          first_paint_ms_cold: Math.round(c.perf.firstPaint),
          first_paint_ms_reopen: Math.round(w.perf.firstPaint),
          trace_worker_before: opened(before) ?? null,
          trace_worker_cold: opened(cold),
          trace_worker_reopen: opened(reopen),
          frame_ms_p95: Number(fp.toFixed(2)),
          frames: seq.frames.length,
          heap_mb_after_load: Number(c.heapLoad.total.toFixed(1)),
          heap_mb_after_navigation: Number(c.heapNav!.total.toFixed(1)),
          views_requested: c.views,
        },
      };
      writeFileSync(file, `${JSON.stringify(next, null, 2)}\n`);
      console.log(`merged viewer_*_8r into ${file}`);
    } finally {
      await browser.close();
    }
  } finally {
    if (prevCacheDir === undefined) delete process.env.COMMLENS_CACHE_DIR;
    else process.env.COMMLENS_CACHE_DIR = prevCacheDir;
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

/** The 1,024-rank job in the trace worker (see the file comment). */
async function manyRanksCase(quick: boolean): Promise<void> {
  const spec = quick
    ? { name: 'quick-1024', ranks: 1024, bytesPerRank: 0.2 * MB, gzip: true }
    : { name: 'full-1024', ranks: 1024, bytesPerRank: 10 * MB, gzip: true };
  const fixtureDir = path.join(repoRoot(), '..', 'shared', 'fixtures', 'kineto', 'hta-sampled');
  const job = await buildJob(spec, fixtureDir, console.log);
  const jsonMb = job.jsonBytes / MB;
  console.log(
    `1,024-rank job: ${jsonMb.toFixed(0)} MB of JSON (gzip), ${job.events.toLocaleString('en-US')} events (${job.dir}); load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  const budget = defaultMaxTraceBytes();
  const cacheDir = mkdtempSync(path.join(tmpdir(), 'commlens-viewer-cache-'));
  const prevCacheDir = process.env.COMMLENS_CACHE_DIR;
  process.env.COMMLENS_CACHE_DIR = cacheDir;
  try {
    const runs: [string, number, ViewerOpenResult][] = [];
    for (const b of [budget, budget / 4])
      for (const what of ['cold', 're-opened']) {
        if (what === 'cold') {
          rmSync(cacheDir, { recursive: true, force: true });
          mkdirSync(cacheDir, { recursive: true });
        }
        runs.push([`${what}, budget ${(b / 2 ** 30).toFixed(1)} GiB`, b, openInChild('job', job.files, cacheDir, b)]);
      }
    const s = (ms: number | undefined) => (ms === undefined ? '' : `${(ms / 1000).toFixed(2)} s`);
    console.log(`
opening the job in the trace worker (each in its own process; peak RSS of the process)`);
    printTable(
      runs.map(([what, , r]) => [
        what,
        s(r.openMs),
        `${r.openPeakRssMb !== undefined ? `${r.openPeakRssMb.toFixed(0)} MB at the first view, ` : ''}${r.peakRssMb.toFixed(0)} MB after the zooms`,
        `zoom right after: one rank's tracks ${s(r.zoomRankMs)}, every track ${s(r.zoomMs)}; ${r.slices.toLocaleString('en-US')} slices, first view ${(r.firstViewBytes / 2 ** 20).toFixed(1)} MB, from cache: ${String(r.fromCache)}`,
      ]),
      ['open', 'to first view', 'peak RSS', 'side by side'],
    );
    // The webview, re-opened (the cache is warm from the last open).
    const browser = await launch();
    let paint: { firstPaint: number; heapMb: number; openMs: number };
    try {
      const w = await paintJob(browser, job.files, `1,024 ranks × ${spec.bytesPerRank / MB} MB`, false);
      paint = { firstPaint: w.perf.firstPaint, heapMb: w.heapLoad.total, openMs: w.openMs };
      await w.close();
    } finally {
      await browser.close();
    }
    console.log(
      `
webview, re-opened: open ${s(paint.openMs)}, first paint ${paint.firstPaint.toFixed(0)} ms from the page's start, heap + buffers ${paint.heapMb.toFixed(1)} MB`,
    );
    const file = path.join(repoRoot(), 'bench', 'results', 'scale.json');
    mkdirSync(path.dirname(file), { recursive: true });
    const prev = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
    const next = {
      ...prev,
      viewer_1024r: {
        mode: quick ? 'quick' : 'full',
        json_mb: Math.round(jsonMb),
        load_average: loadavg().map((x) => Number(x.toFixed(2))),
        opens: runs.map(([what, b, r]) => ({
          what,
          budget_bytes: b,
          open_s: Number((r.openMs / 1000).toFixed(2)),
          first_zoom_one_rank_s: r.zoomRankMs !== undefined ? Number((r.zoomRankMs / 1000).toFixed(2)) : null,
          first_zoom_s: r.zoomMs !== undefined ? Number((r.zoomMs / 1000).toFixed(2)) : null,
          peak_rss_mb_first_view: r.openPeakRssMb !== undefined ? Math.round(r.openPeakRssMb) : null,
          peak_rss_mb: Math.round(r.peakRssMb),
        })),
        first_paint_ms_reopen: Math.round(paint.firstPaint),
        heap_mb: Number(paint.heapMb.toFixed(1)),
      },
    };
    writeFileSync(
      file,
      `${JSON.stringify(next, null, 2)}
`,
    );
    console.log(`merged viewer_1024r into ${file}`);
  } finally {
    if (prevCacheDir === undefined) delete process.env.COMMLENS_CACHE_DIR;
    else process.env.COMMLENS_CACHE_DIR = prevCacheDir;
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

function printTable(
  rows: [string, string, string, string][],
  head: [string, string, string, string] = ['metric', 'value', 'target', 'side by side'],
): void {
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i].length), head[i].length));
  const line = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i])).join(' | ');
  console.log(line(head));
  console.log(widths.map((x) => '-'.repeat(x)).join('-|-'));
  for (const r of rows) console.log(line(r));
}

/** The synthetic one-million-span case (bench/results/viewer.json). */
async function syntheticCase(): Promise<void> {
  const ranks = 8;
  let t = performance.now();
  const model = viewerRun({ ranks, steps: 102, kernels: 400, buckets: 8, jitterSeed: 11 });
  const buildMs = performance.now() - t;
  t = performance.now();
  const data = encodeTrace(model);
  const encodeMs = performance.now() - t;
  const jsonBytes = Buffer.byteLength(
    JSON.stringify({ slices: model.slices, counters: model.counters, flows: model.flows }),
  );
  console.log(
    `model: ${model.slices.length.toLocaleString('en-US')} spans, ${ranks} ranks, ${model.tracks.length} tracks, ${model.flows.length} flows (built in ${buildMs.toFixed(0)} ms, encoded in ${encodeMs.toFixed(0)} ms)`,
  );

  const browser = await launch();
  try {
    const v = await openViewer(
      browser,
      { run: { title: 'bench: 1M spans, 8 ranks', model, analysis: null, data } },
      '',
      { width: 1600, height: 1000 },
    );
    const page = v.page;
    const firstPaintMs = Number(await page.evaluate(`document.getElementById('app').dataset.firstPaintMs`));
    const phases = (await page.evaluate(
      `(() => { const p = window.commlens.perf; return { decode: p.decoded - p.arrival, index: p.indexed - p.decoded, paint: p.firstPaint - p.indexed }; })()`,
    )) as { decode: number; index: number; paint: number };
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('HeapProfiler.collectGarbage');
    const heap = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number; backingStorageSize?: number };
    const heapMb = (heap.usedSize + (heap.backingStorageSize ?? 0)) / 2 ** 20;
    await cdp.send('Performance.enable');
    const metrics = (await cdp.send('Performance.getMetrics')).metrics as { name: string; value: number }[];
    const jsHeapUsedMb = (metrics.find((x) => x.name === 'JSHeapUsedSize')?.value ?? NaN) / 2 ** 20;

    const lod = await scriptedSequence(page);
    const lodFrames = lod.frames;
    console.log(`LOD on: ${lodFrames.length} frames, median ${quantile(lodFrames, 0.5).toFixed(2)} ms`);
    const w = await viewWindow(page);
    await page.evaluate('window.commlens.setLod(false)');
    await waitPaint(page, w.paints, 60_000);
    const noLod = await scriptedSequence(page);
    const noLodFrames = noLod.frames;
    await page.evaluate('window.commlens.setLod(true)');

    const fm = quantile(lodFrames, 0.5),
      fp = quantile(lodFrames, 0.95);
    const nm = quantile(noLodFrames, 0.5),
      np = quantile(noLodFrames, 0.95);
    const rows: [string, string, string, string][] = [
      [
        'first paint after data arrival (ms)',
        firstPaintMs.toFixed(0),
        '≤ 1500',
        `decode ${phases.decode.toFixed(0)} + index ${phases.index.toFixed(0)} + draw/present ${phases.paint.toFixed(0)}`,
      ],
      [
        'frame time, median (ms)',
        fm.toFixed(2),
        '≤ 16',
        `LOD off: ${nm.toFixed(2)} ms (${(nm / fm).toFixed(1)}× slower)`,
      ],
      ['frame time, p95 (ms)', fp.toFixed(2), '', `LOD off: ${np.toFixed(2)} ms (${(np / fp).toFixed(1)}× slower)`],
      ['frames measured', String(lodFrames.length), '', `LOD off: ${noLodFrames.length}`],
      [
        'animation-frame interval, median / p95 (ms)',
        `${quantile(lod.intervals, 0.5).toFixed(1)} / ${quantile(lod.intervals, 0.95).toFixed(1)}`,
        '',
        `LOD off: ${quantile(noLod.intervals, 0.5).toFixed(1)} / ${quantile(noLod.intervals, 0.95).toFixed(1)}`,
      ],
      [
        'JS heap + ArrayBuffers after load (MB)',
        heapMb.toFixed(1),
        '≤ 300',
        `V8 heap ${(heap.usedSize / 2 ** 20).toFixed(1)} + buffers ${((heap.backingStorageSize ?? 0) / 2 ** 20).toFixed(1)} (Performance JSHeapUsedSize ${jsHeapUsedMb.toFixed(1)})`,
      ],
      [
        'transfer size (MB)',
        (data.byteLength / 2 ** 20).toFixed(1),
        '',
        `JSON of the same slices/counters/flows ${(jsonBytes / 2 ** 20).toFixed(1)} MB (${(jsonBytes / data.byteLength).toFixed(1)}× larger)`,
      ],
    ];
    printTable(rows);
    if (v.errors.length) console.log('page errors:', v.errors);
    const out = path.join(repoRoot(), 'bench', 'results');
    mkdirSync(out, { recursive: true });
    writeFileSync(
      path.join(out, 'viewer.json'),
      JSON.stringify(
        {
          first_paint_ms: Math.round(firstPaintMs),
          frame_ms_median: Number(fm.toFixed(2)),
          frame_ms_p95: Number(fp.toFixed(2)),
          heap_mb: Number(heapMb.toFixed(1)),
          spans: model.slices.length,
          ranks,
          frames: lodFrames.length,
          no_lod_frame_ms_median: Number(nm.toFixed(2)),
          no_lod_frame_ms_p95: Number(np.toFixed(2)),
          raf_interval_ms_median: Number(quantile(lod.intervals, 0.5).toFixed(1)),
          raf_interval_ms_p95: Number(quantile(lod.intervals, 0.95).toFixed(1)),
          transfer_mb: Number((data.byteLength / 2 ** 20).toFixed(1)),
          json_mb: Number((jsonBytes / 2 ** 20).toFixed(1)),
          phases_ms: {
            decode: Math.round(phases.decode),
            index: Math.round(phases.index),
            drawAndPresent: Math.round(phases.paint),
          },
        },
        null,
        2,
      ) + '\n',
    );
    console.log(`wrote ${path.join(out, 'viewer.json')}`);
    await v.harness.close();
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exitCode = 1;
});
