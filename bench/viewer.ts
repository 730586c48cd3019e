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
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { encodeTrace } from '../trace/binary';
import { repoRoot } from '../webview/harness/node/serve';
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

async function main(): Promise<void> {
  const missing = chromiumMissing();
  if (missing) throw new Error(missing);
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
    const widths = [0, 1, 2, 3].map((i) =>
      Math.max(...rows.map((r) => r[i].length), ['metric', 'value', 'target', 'side by side'][i].length),
    );
    const line = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i])).join(' | ');
    console.log(line(['metric', 'value', 'target', 'side by side']));
    console.log(widths.map((x) => '-'.repeat(x)).join('-|-'));
    for (const r of rows) console.log(line(r));
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
