import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { viewerRun } from '../../helpers/syntheticRun';
import { lodMinDurNs } from '../../../webview/protocol';
import {
  chromiumMissing,
  clickSlice,
  hostLog,
  launch,
  openViewer,
  rectOf,
  screenshot,
  viewWindow,
  waitFor,
  type Opened,
} from './browser';

const skip = chromiumMissing();

describe('trace viewer with a level-of-detail subset (range requests)', { skip }, () => {
  let browser: Browser;
  let v: Opened;
  const model = viewerRun({ ranks: 2, steps: 3 });
  // Recorded without warm-up, so the first view is the whole run; with one, it would open on the
  // steady steps and ask for their detail at once.
  model.meta.info = { ...model.meta.info, warmupSteps: [] };
  // Send only the slices of 30 µs and longer first, as the extension sends the longest slices of
  // a huge trace. The cut must lie below the first view's ns per pixel (the whole run over at most
  // 1,400 px: 34 µs), or the viewer rightly asks for the detail of its first view at once, and
  // what the test sees first would depend on how fast the host answers.
  const maxSlices = model.slices.filter((sl) => sl.durNs >= 30_000).length;
  const cut = lodMinDurNs(
    model.slices.map((sl) => sl.durNs),
    maxSlices,
  );
  before(async () => {
    browser = await launch();
    v = await openViewer(browser, { run: { title: 'partial', model, analysis: null, maxSlices } });
  });
  after(async () => {
    await v?.harness.close();
    await browser?.close();
  });

  it('asks for the short slices of a zoomed window and merges them in', async () => {
    const { page } = v;
    const first = await viewWindow(page);
    assert.ok((first.endNs - first.startNs) / 1400 > cut, 'the first view is coarser than the left-out slices');
    // A short kernel that the first message left out.
    const kernels = model.slices
      .map((s, i) => ({ s, i }))
      .filter(({ s }) => s.category === 'kernel' && s.durNs < cut)
      .sort((a, b) => a.s.durNs - b.s.durNs);
    assert.ok(kernels.length > 0, `some kernels are shorter than the cut (${cut} ns)`);
    const target = kernels[Math.floor(kernels.length / 2)].i;
    assert.equal(await rectOf(page, target), null, 'the short kernel is not in the first message');
    assert.equal((await hostLog(page)).filter((m) => m.type === 'requestRange').length, 0);
    // Zoom to a step window around the kernel: the webview should ask for that range.
    const s = model.slices[target];
    await page.evaluate(`window.commlens.rectOf(0)`); // warm
    await page.mouse.move(700, 300);
    for (let k = 0; k < 4; k++) {
      await page.keyboard.down('Control');
      await page.mouse.wheel(0, -300);
      await page.keyboard.up('Control');
      await page.waitForTimeout(30);
    }
    await waitFor(page, `(window.__hostLog || []).some((m) => m.type === 'requestRange')`, 10_000);
    const req = (await hostLog(page)).find((m) => m.type === 'requestRange') as unknown as {
      startNs: number;
      endNs: number;
      minDurNs: number;
    };
    assert.ok(req.endNs > req.startNs && req.minDurNs >= 0);
    await page.waitForTimeout(600); // let the debounced request for the final window go out
    await waitFor(
      page,
      `/of [\\d,]+ slices loaded/.test(document.querySelector('.toolbar .status').textContent)`,
      10_000,
    );
    // Every model slice in the requested window at or above its minDurNs is now drawn.
    const inWindow = model.slices
      .map((sl, i) => ({ sl, i }))
      .filter(({ sl }) => sl.startNs <= req.endNs && sl.startNs + sl.durNs >= req.startNs && sl.durNs >= req.minDurNs);
    for (const { i } of inWindow.filter((_, k) => k % 25 === 0)) {
      const r = await rectOf(page, i);
      assert.ok(r, `slice ${i} (${model.slices[i].name}) merged in`);
    }
    // A left-out slice now in view can be clicked like any other.
    const view = await viewWindow(page);
    let clicked = false;
    for (const { sl, i } of model.slices
      .map((sl, i) => ({ sl, i }))
      .filter(
        ({ sl }) => sl.durNs < cut && sl.durNs > 0 && sl.startNs >= view.startNs && sl.startNs + sl.durNs <= view.endNs,
      )) {
      const r = await rectOf(page, i);
      if (!r || r.y < 150 || r.y > 500 || r.w < 3) continue;
      await clickSlice(page, i);
      assert.equal(await page.getAttribute('.details', 'data-slice'), String(i), `clicked ${sl.name}`);
      clicked = true;
      break;
    }
    assert.ok(clicked, 'some left-out slice became visible and clickable');
    void s;
    await screenshot(page, 'range-merged.png');
    assert.deepEqual(v.errors, []);
  });
});
