/**
 * The documentation screenshots of the timeline (docs/images/timeline-{dark,light}.png): the
 * harness serving a 2-rank synthetic run, driven in Debian's chromium to show the features
 * (a pinned track, an expanded counter, the origin at step 1, a mark, an area selection with
 * its counters, a tooltip).
 *
 *   npm run build && npm run compile && node out/scripts/viewer-screenshots.js [out-dir]
 */
import * as path from 'node:path';
import { chromium, type Page } from 'playwright-core';
import type { TraceModel } from '../trace/model';
import { LABEL_W } from '../webview/timeline/layout';
import { repoRoot, startHarness } from '../webview/harness/node/serve';
import { viewerRun } from '../test/helpers/syntheticRun';

type Rect = { x: number; y: number; w: number; h: number };

async function showFeatures(p: Page, model: TraceModel): Promise<void> {
  const track = (rank: number, name: string): number =>
    model.tracks.findIndex((t) => t.pid === model.processes[rank].pid && t.name === name);
  const rectOfTrack = async (t: number): Promise<Rect> => {
    const r = (await p.evaluate(`window.commlens.trackRect(${t})`)) as Rect | null;
    if (!r) throw new Error(`track ${t} is not laid out`);
    return r;
  };
  const rectOfSlice = async (i: number): Promise<Rect> => {
    const r = (await p.evaluate(`window.commlens.rectOf(${i})`)) as Rect | null;
    if (!r) throw new Error(`slice ${i} is not laid out`);
    return r;
  };
  let r = await rectOfTrack(track(1, 'communication'));
  await p.mouse.click(r.x + LABEL_W - 11, r.y + 10); // pin
  r = await rectOfTrack(track(0, 'loss'));
  await p.mouse.click(r.x + 60, r.y + r.h / 2); // expand
  await p.selectOption('select[aria-label="Origin of the time axis"]', 'step:1');
  const collective = (seq: number): number =>
    model.slices.findIndex((s) => s.category === 'collective' && s.args?.seq === seq);
  const m = await rectOfSlice(collective(14));
  await p.mouse.click(m.x + m.w / 2, m.y + m.h / 2);
  await p.keyboard.press('Shift+M');
  const c = await rectOfTrack(track(0, 'compute')),
    a = await rectOfTrack(track(0, 'memory: activations'));
  await p.keyboard.down('Shift');
  await p.mouse.move(560, c.y + 5);
  await p.mouse.down();
  await p.mouse.move(760, a.y + a.h - 3, { steps: 4 });
  await p.mouse.up();
  await p.keyboard.up('Shift');
  const t = await rectOfSlice(collective(18));
  await p.mouse.move(t.x + t.w / 2, t.y + t.h / 2);
  await p.waitForTimeout(200);
}

async function main(): Promise<void> {
  const outDir = path.resolve(process.argv[2] ?? path.join(repoRoot(), 'docs', 'images'));
  const model = viewerRun({ ranks: 2, steps: 6 });
  const harness = await startHarness({ run: { title: 'synthetic ddp run (2 ranks)', model } });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox'],
  });
  try {
    for (const theme of ['dark', 'light']) {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      await page.goto(`${harness.url}?theme=${theme}`);
      for (
        let i = 0;
        i < 400 && !(await page.evaluate(`document.getElementById('app').dataset.firstPaintMs !== undefined`));
        i++
      )
        await page.waitForTimeout(25);
      await showFeatures(page, model);
      const file = path.join(outDir, `timeline-${theme}.png`);
      await page.screenshot({ path: file });
      console.log(file);
      await page.close();
    }
  } finally {
    await browser.close();
    await harness.close();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
});
