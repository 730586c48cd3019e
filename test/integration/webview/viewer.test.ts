import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { syntheticRun } from '../../../webview/harness/node/synthetic';
import { appState, chromiumMissing, clickSlice, hostLog, launch, openViewer, screenshot, viewWindow, waitPaint, type Opened } from './browser';

const skip = chromiumMissing();

describe('trace viewer in the harness (headless Chromium)', { skip }, () => {
  let browser: Browser;
  let v: Opened;
  const model = syntheticRun({ worldSize: 4, steps: 6 });
  const compare = syntheticRun({ worldSize: 4, steps: 6, variant: 'overlap' });

  before(async () => {
    browser = await launch();
    v = await openViewer(browser, { run: { title: 'synthetic ddp run', model }, compare: { title: 'synthetic ddp-overlap re-run', model: compare } });
  });
  after(async () => {
    await v?.harness.close();
    await browser?.close();
  });

  it('opens the trace after the ready handshake and paints rank groups, tracks and counters', async () => {
    const { page } = v;
    assert.equal(await appState(page), 'ready');
    assert.equal((await hostLog(page))[0].type, 'ready');
    const w = await viewWindow(page);
    assert.ok(w.boxes > 100, `expected many boxes drawn, got ${w.boxes}`);
    assert.match(await page.textContent('.toolbar .status') ?? '', /4 rank/);
    await screenshot(page, 'timeline-dark.png');
    assert.deepEqual(v.errors, []);
  });

  it('zooms with W, pans with D and zooms with Ctrl+wheel around the cursor', async () => {
    const { page } = v;
    const w0 = await viewWindow(page);
    await page.mouse.move(800, 300);
    await page.keyboard.down('w');
    await page.waitForTimeout(400);
    await page.keyboard.up('w');
    const w1 = await viewWindow(page);
    assert.ok(w1.endNs - w1.startNs < (w0.endNs - w0.startNs) * 0.8, `W should zoom in: ${w0.endNs - w0.startNs} -> ${w1.endNs - w1.startNs}`);
    await page.keyboard.down('d');
    await page.waitForTimeout(250);
    await page.keyboard.up('d');
    const w2 = await viewWindow(page);
    assert.ok(w2.startNs > w1.startNs, 'D should pan later');
    await page.keyboard.down('Control');
    await page.mouse.wheel(0, -400);
    await page.keyboard.up('Control');
    await waitPaint(page, w2.paints);
    const w3 = await viewWindow(page);
    assert.ok(w3.endNs - w3.startNs < w2.endNs - w2.startNs, 'Ctrl+wheel up should zoom in');
    await screenshot(page, 'timeline-zoomed.png');
  });

  it('selects a collective by click and shows its args and flows in the details pane', async () => {
    const { page } = v;
    const target = model.slices.findIndex((s) => s.category === 'collective' && s.args?.seq === 5);
    await page.keyboard.press('0');
    await clickSlice(page, target);
    const details = await page.textContent('#pane') ?? '';
    assert.match(details, /allReduce/);
    assert.match(details, /busbwGBps/);
    assert.match(details, /ring/);
    assert.match(details, /Flows/);
    assert.equal(await page.getAttribute('.details', 'data-slice'), String(target));
    await screenshot(page, 'details.png');
  });
});
