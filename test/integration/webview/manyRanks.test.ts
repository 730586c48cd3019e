/**
 * Many ranks and big traces in headless Chromium, through the harness:
 *  - a 16-rank job opens as compact rank rows under a ranks × steps heat map (the analysis'
 *    per-step exposed communication and collective wait); hovering reads a cell out, the
 *    toggle switches the figure, clicking a cell opens that rank's tracks at that step;
 *  - a windowed trace (protocol step 10): the webview starts from the index's overview,
 *    asks for the window it shows as it zooms, and never holds the whole trace; selection
 *    details and search work through the host.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { viewerRun } from '../../helpers/syntheticRun';
import { harnessAnalysis } from '../../../webview/harness/node/serve';
import { formatDurationNs } from '../../../trace/format';
import { decodeTrace } from '../../../trace/binary';
import { LodIndex } from '../../../trace/lod';
import { chromiumMissing, hostLog, launch, openViewer, screenshot, viewWindow, waitFor, type Opened } from './browser';

const skip = chromiumMissing();

type Rect = { x: number; y: number; w: number; h: number };

describe('many ranks: the ranks × steps heat map', { skip }, () => {
  let browser: Browser;
  let v: Opened;
  const model = viewerRun({ ranks: 16, steps: 8, kernels: 20, jitterSeed: 4 });
  const analysis = harnessAnalysis(model);
  before(async () => {
    browser = await launch();
    v = await openViewer(browser, { run: { title: '16 ranks', model, analysis } }, '?theme=dark', {
      width: 1400,
      height: 900,
    });
    await waitFor(v.page, `!!document.querySelector('.heatmap canvas')`, 10_000);
  });
  after(async () => {
    await v?.harness.close();
    await browser?.close();
  });

  it('shows every rank as a summary row and the heat map of the analysis figures', async () => {
    const { page } = v;
    assert.equal(await page.getAttribute('.heatmap', 'data-metric'), 'exposed');
    const head = (await page.textContent('.heatmap-head')) ?? '';
    const steps = analysis.ranks[0].steps!.length;
    assert.match(head, new RegExp(`16 ranks × ${steps} steps`));
    // Every rank collapsed: 16 header rows and no track rows.
    const height = Number(await page.evaluate(`document.querySelector('.tracks').dataset.contentHeight`));
    assert.equal(height, 16 * 24);
    await screenshot(page, 'heatmap-dark.png');
    assert.deepEqual(v.errors, []);
  });

  it('reads a cell out on hover, with the analysis value, and toggles to the collective wait', async () => {
    const { page } = v;
    const r = analysis.ranks.find((x) => x.rank === 3)!;
    const st = r.steps![1];
    const cell = (await page.evaluate(`window.commlens.heatCell(3, ${st.step})`)) as Rect;
    assert.ok(cell, 'the cell of rank 3 is drawn');
    await page.mouse.move(cell.x + cell.w / 2, cell.y + cell.h / 2);
    await waitFor(page, `/rank 3 · step ${st.step}:/.test(document.querySelector('.heatmap-readout').textContent)`);
    const readout = (await page.textContent('.heatmap-readout')) ?? '';
    assert.ok(readout.includes(`exposed communication ${formatDurationNs(st.exposedCommNs)}`), readout);
    assert.ok(st.collectiveWaitNs !== undefined, 'the analysis gives per-step collective waits');
    await page.click('.heatmap-metrics button:nth-child(2)');
    assert.equal(await page.getAttribute('.heatmap', 'data-metric'), 'wait');
    await page.mouse.move(cell.x + cell.w / 2, cell.y + cell.h / 2 + 1);
    await waitFor(page, `/: collective wait/.test(document.querySelector('.heatmap-readout').textContent)`);
    assert.ok(
      ((await page.textContent('.heatmap-readout')) ?? '').startsWith(
        `rank 3 · step ${st.step}: collective wait ${formatDurationNs(st.collectiveWaitNs!)}`,
      ),
    );
  });

  it("opens a rank's tracks at the step when its cell is clicked", async () => {
    const { page } = v;
    const r = analysis.ranks.find((x) => x.rank === 5)!;
    const st = r.steps![2];
    const pid = model.processes.find((p) => p.rank === 5)!.pid;
    const compute = model.tracks.find((t) => t.pid === pid && t.stream === 'compute')!.id;
    assert.equal(await page.evaluate(`window.commlens.trackRect(${compute})`), null, 'rank 5 starts collapsed');
    const before = (await viewWindow(page)).paints;
    const cell = (await page.evaluate(`window.commlens.heatCell(5, ${st.step})`)) as Rect;
    await page.mouse.click(cell.x + cell.w / 2, cell.y + cell.h / 2);
    await waitFor(page, `Number(document.querySelector('.tracks').dataset.paints) > ${before}`);
    assert.ok(await page.evaluate(`window.commlens.trackRect(${compute})`), "rank 5's tracks are laid out");
    const w = await viewWindow(page);
    assert.ok(w.startNs <= st.startNs! && w.endNs >= st.startNs! + st.durNs!, 'the step is in view');
    assert.ok(w.endNs - w.startNs < st.durNs! * 1.2, 'zoomed to the step');
    // Keyboard: focus the heat map, move and open with Enter.
    await page.focus('.heatmap-canvas');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowRight');
    assert.match((await page.textContent('.heatmap-readout')) ?? '', /rank 6 · step/);
  });

  it('looks right in the light theme', async () => {
    const light = await openViewer(browser, { run: { title: '16 ranks', model, analysis } }, '?theme=light');
    try {
      await waitFor(light.page, `!!document.querySelector('.heatmap canvas')`, 10_000);
      await screenshot(light.page, 'heatmap-light.png');
      assert.deepEqual(light.errors, []);
    } finally {
      await light.harness.close();
    }
  });
});

describe('big traces: views from the host index (protocol step 10)', { skip }, () => {
  let browser: Browser;
  let v: Opened;
  const model = viewerRun({ ranks: 8, steps: 30, kernels: 120, buckets: 6, jitterSeed: 8 });
  before(async () => {
    browser = await launch();
    v = await openViewer(browser, { run: { title: '8 ranks, windowed', model, analysis: null, windowed: true } });
  });
  after(async () => {
    await v?.harness.close();
    await browser?.close();
  });

  const heldSlices = (): Promise<number> =>
    v.page.evaluate(
      `Number(/^([\\d,]+)/.exec(document.querySelector('.toolbar .status').textContent)?.[1].replace(/,/g, '') ?? 'NaN')`,
    );

  it('starts from the overview, asks for the zoomed window, and never holds the whole trace', async () => {
    const { page } = v;
    assert.match((await page.textContent('.toolbar .status')) ?? '', /shown from the host's index/);
    // Zoom in around the middle: the webview asks for the visible window at its resolution.
    await page.mouse.move(800, 400);
    for (let k = 0; k < 12; k++) {
      await page.keyboard.down('Control');
      await page.mouse.wheel(0, -300);
      await page.keyboard.up('Control');
      await page.waitForTimeout(20);
    }
    await waitFor(page, `(window.__hostLog || []).some((m) => m.type === 'requestView')`, 10_000);
    await waitFor(page, `/slices held/.test(document.querySelector('.toolbar .status').textContent)`, 20_000);
    // The last view asked for has arrived and covers the window on screen at about its resolution
    // (under load the zoom can outrun the debounced requests: a coarser answer may be shown first).
    await waitFor(
      page,
      `(() => { const v = window.commlens.viewStatus(), d = document.querySelector('.tracks').dataset;
        const perPx = (Number(d.endNs) - Number(d.startNs)) / 1000;
        return !v.asked && !!v.shown && v.shown.startNs <= Number(d.startNs) && v.shown.endNs >= Number(d.endNs)
          && v.shown.nsPerPx <= perPx * 4; })()`,
      20_000,
    );
    const req = (await hostLog(page)).filter((m) => m.type === 'requestView').pop() as unknown as {
      startNs: number;
      endNs: number;
      nsPerPx: number;
    };
    const w = await viewWindow(page);
    assert.ok(req.startNs <= w.startNs && req.endNs >= w.endNs, 'the request covers the view');
    assert.ok(req.nsPerPx > 0 && req.nsPerPx < (w.endNs - w.startNs) / 100);
    const held = await heldSlices();
    assert.ok(held > 0 && held < model.slices.length / 3, `the webview holds ${held} of ${model.slices.length}`);
    // Every kernel of the middle of the view is there, at full detail.
    const mid = (w.startNs + w.endNs) / 2;
    const kernel = model.slices.findIndex(
      (s) => s.category === 'kernel' && s.startNs > mid && s.startNs + s.durNs < w.endNs,
    );
    assert.ok(kernel >= 0);
    assert.ok(await page.evaluate(`window.commlens.rectOf(${kernel})`), 'a kernel in view is drawn');
    await screenshot(page, 'windowed-8-ranks-zoomed.png');
    assert.deepEqual(v.errors, []);
  });

  it('selects a slice of the answer and shows its details; search goes through the host', async () => {
    const { page } = v;
    await page.fill('.search input', 'allReduce');
    await waitFor(page, `/\\d+ match/.test(document.querySelector('.search-count').textContent)`, 10_000);
    const total = model.slices.filter((s) => s.name.toLowerCase().includes('allreduce')).length;
    assert.match((await page.textContent('.search-count')) ?? '', new RegExp(`${total.toLocaleString('en-US')} match`));
    assert.ok((await hostLog(page)).some((m) => m.type === 'search'));
    // Enter goes to the first match (by start) and selects it once an answer holds it.
    await page.focus('.search input');
    await page.keyboard.press('Enter');
    const first = model.slices
      .map((s, i) => ({ s, i }))
      .filter(({ s }) => s.name.toLowerCase().includes('allreduce'))
      .sort((a, b) => a.s.startNs - b.s.startNs || a.i - b.i)[0].i;
    await waitFor(page, `document.querySelector('.details')?.dataset.slice === '${first}'`, 20_000);
    assert.match((await page.textContent('#pane')) ?? '', /allReduce/);
  });

  it('restores the selection when the view is re-created, asking the host for it', async () => {
    const { page } = v;
    // A short kernel that the overview does not hold (merged below a pixel there).
    const overview = decodeTrace(new LodIndex(model).overview());
    // The first match of a search is the earliest slice of that name: take a backward kernel's
    // name whose earliest slice the overview left out.
    const earliest = new Map<string, number>();
    model.slices.forEach((s, i) => {
      if (s.category !== 'kernel' || !s.name.includes(' bwd ')) return;
      const e = earliest.get(s.name);
      if (e === undefined || s.startNs < model.slices[e].startNs) earliest.set(s.name, i);
    });
    const [name, target] = [...earliest].find(([, i]) => !overview.sliceSource!.includes(i))!;
    assert.ok(!overview.sliceSource!.includes(target), 'the kernel is not in the overview');
    await page.fill('.search input', name);
    await waitFor(page, `/\\d+ match/.test(document.querySelector('.search-count').textContent)`, 10_000);
    await page.focus('.search input');
    await page.keyboard.press('Enter');
    await waitFor(page, `document.querySelector('.details')?.dataset.slice === '${target}'`, 20_000);
    const selected = String(target);
    await page.fill('.search input', '');
    await page.waitForTimeout(400); // the state is saved 150 ms after a change
    await page.reload();
    await waitFor(page, `document.getElementById('app')?.dataset.firstPaintMs !== undefined`, 20_000);
    await waitFor(page, `document.querySelector('.details')?.dataset.slice === '${selected}'`, 20_000);
    assert.deepEqual(v.errors, []);
  });
});
