/**
 * The documentation screenshots of many ranks and big traces (docs/images/):
 *  - heatmap-{dark,light}.png: a 16-rank synthetic job as compact rank rows under the
 *    ranks × steps heat map, the pointer on a cell (its value read out) after one rank was
 *    opened at a step by clicking its cell;
 *  - windowed-8-ranks-{dark,light}.png: an 8-rank job served windowed (protocol step 10),
 *    zoomed into one step: the view the host's level-of-detail index answered.
 *
 *   npm run build && npm run compile && node out/scripts/viewer-scale-screenshots.js [out-dir]
 */
import * as path from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { harnessAnalysis, repoRoot, startHarness, type HarnessRun } from '../webview/harness/node/serve';
import { viewerRun } from '../test/helpers/syntheticRun';

type Rect = { x: number; y: number; w: number; h: number };

async function until(p: Page, expr: string, what: string): Promise<void> {
  for (let i = 0; i < 800; i++) {
    if (await p.evaluate(expr)) return;
    await p.waitForTimeout(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function open(run: HarnessRun, theme: string, f: (p: Page) => Promise<void>, file: string): Promise<void> {
  const harness = await startHarness({ run });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`${harness.url}?theme=${theme}`);
    await until(page, `document.getElementById('app').dataset.firstPaintMs !== undefined`, 'the first paint');
    await f(page);
    await page.screenshot({ path: file });
    console.log(file);
  } finally {
    await browser.close();
    await harness.close();
  }
}

async function main(): Promise<void> {
  const outDir = path.resolve(process.argv[2] ?? path.join(repoRoot(), 'docs', 'images'));
  const sixteen = viewerRun({ ranks: 16, steps: 10, kernels: 24, jitterSeed: 4 });
  const analysis = harnessAnalysis(sixteen);
  const steps = analysis.ranks[0].steps ?? [];
  const eight = viewerRun({ ranks: 8, steps: 30, kernels: 120, buckets: 6, jitterSeed: 8 });
  for (const theme of ['dark', 'light']) {
    await open(
      { title: 'synthetic ddp job (16 ranks)', model: sixteen, analysis },
      theme,
      async (p) => {
        await until(p, `!!document.querySelector('.heatmap canvas')`, 'the heat map');
        const step = steps[Math.floor(steps.length / 2)].step;
        const cell = (await p.evaluate(`window.commlens.heatCell(6, ${step})`)) as Rect;
        await p.mouse.click(cell.x + cell.w / 2, cell.y + cell.h / 2);
        await p.waitForTimeout(300);
        const hover = (await p.evaluate(`window.commlens.heatCell(11, ${steps[2].step})`)) as Rect;
        await p.mouse.move(hover.x + hover.w / 2, hover.y + hover.h / 2);
        await p.waitForTimeout(200);
      },
      path.join(outDir, `heatmap-${theme}.png`),
    );
    await open(
      { title: 'synthetic ddp job (8 ranks, served windowed)', model: eight, analysis: null, windowed: true },
      theme,
      async (p) => {
        await p.mouse.move(760, 420);
        for (let k = 0; k < 9; k++) {
          await p.keyboard.down('Control');
          await p.mouse.wheel(0, -300);
          await p.keyboard.up('Control');
          await p.waitForTimeout(30);
        }
        await until(
          p,
          `/slices held/.test(document.querySelector('.toolbar .status').textContent)`,
          'the zoomed view from the index',
        );
        await p.waitForTimeout(300);
      },
      path.join(outDir, `windowed-8-ranks-${theme}.png`),
    );
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exitCode = 1;
});
