import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { harnessAnalysis } from '../../../webview/harness/node/serve';
import { viewerRun } from '../../helpers/syntheticRun';
import {
  appState,
  chromiumMissing,
  clickSlice,
  hostLog,
  launch,
  openViewer,
  screenshot,
  viewWindow,
  waitFor,
  waitPaint,
  type Opened,
} from './browser';

const skip = chromiumMissing();

describe('trace viewer in the harness (headless Chromium)', { skip }, () => {
  let browser: Browser;
  let v: Opened;
  const model = viewerRun({ ranks: 4, steps: 6 });
  const compare = viewerRun({ ranks: 4, steps: 6, overlap: true });

  before(async () => {
    browser = await launch();
    v = await openViewer(browser, {
      run: { title: 'synthetic ddp run', model },
      compare: { title: 'synthetic ddp-overlap re-run', model: compare },
    });
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
    assert.match((await page.textContent('.toolbar .status')) ?? '', /4 rank/);
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
    assert.ok(
      w1.endNs - w1.startNs < (w0.endNs - w0.startNs) * 0.8,
      `W should zoom in: ${w0.endNs - w0.startNs} -> ${w1.endNs - w1.startNs}`,
    );
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
    const details = (await page.textContent('#pane')) ?? '';
    assert.match(details, /allReduce/);
    assert.match(details, /busbwGBps/);
    assert.match(details, /ring/);
    assert.match(details, /Flows/);
    assert.equal(await page.getAttribute('.details', 'data-slice'), String(target));
    await screenshot(page, 'details.png');
  });

  it('aggregates a Shift-drag area selection per name', async () => {
    const { page } = v;
    await page.keyboard.press('0');
    const box = (await page.locator('.tracks').boundingBox())!;
    // From the compute track of rank 0 down through its host track, over the middle of the run.
    await page.keyboard.down('Shift');
    await page.mouse.move(box.x + 400, box.y + 30);
    await page.mouse.down();
    await page.mouse.move(box.x + 700, box.y + 90, { steps: 5 });
    await page.mouse.up();
    await page.keyboard.up('Shift');
    assert.equal(await page.getAttribute('#tab-area', 'aria-selected'), 'true');
    const text = (await page.textContent('#pane')) ?? '';
    assert.match(text, /slices on \d+ tracks?/);
    assert.match(text, /matmul \S+ (fwd|bwd)/);
    assert.match(text, /allReduce/);
    assert.match(text, /Share of window/);
    await screenshot(page, 'area-selection.png');
  });

  it('searches by name, counts matches and steps to the next one', async () => {
    const { page } = v;
    await page.fill('input[type=search]', 'adam');
    await waitFor(page, `document.querySelector('.search-count').textContent.includes('match')`);
    const expected = model.slices.filter((s) => s.name.includes('adam')).length;
    assert.equal((await page.textContent('.search-count'))?.trim(), `${expected} matches`);
    await page.press('input[type=search]', 'Enter');
    await page.press('input[type=search]', 'Enter');
    assert.equal((await page.textContent('.search-count'))?.trim(), `2 / ${expected}`);
    const details = (await page.textContent('#pane')) ?? '';
    assert.match(details, /adam update/);
    const adam = model.slices
      .map((s, i) => ({ s, i }))
      .filter(({ s }) => s.name === 'adam update')
      .sort((a, b) => a.s.startNs - b.s.startNs);
    assert.equal(await page.getAttribute('.details', 'data-slice'), String(adam[1].i));
    await screenshot(page, 'search.png');
    await page.fill('input[type=search]', '');
  });

  it('shows suggestions, highlights and zooms to evidence, and compares the re-run after Apply & re-run', async () => {
    const { page } = v;
    await page.click('#tab-suggestions');
    const heads = page.locator('.suggestion-head');
    assert.ok((await heads.count()) >= 1, 'the harness analysis should produce suggestions');
    const w0 = await viewWindow(page);
    await heads.first().click();
    await waitPaint(page, w0.paints);
    const w1 = await viewWindow(page);
    const ev = harnessAnalysis(model).suggestions[0].evidence.sliceIndexes.map((i) => model.slices[i]);
    const lo = Math.min(...ev.map((e) => e.startNs)),
      hi = Math.max(...ev.map((e) => e.startNs + e.durNs));
    assert.ok(w1.startNs <= lo && w1.endNs >= hi, 'every evidence slice is in view');
    assert.ok(w1.endNs - w1.startNs <= (hi - lo) * 1.35, 'and the view is zoomed to them');
    assert.match((await page.textContent('.suggestion.active')) ?? '', /evidence slice\(s\) highlighted/);
    // Every figure reads now → predicted, on the run's steady-state basis.
    assert.match((await page.textContent('.suggestion.active')) ?? '', /Step time \(now → predicted\)[^→]+→/);
    assert.match((await page.textContent('#pane')) ?? '', /Suggestions are ranked by predicted step-time gain/);
    await screenshot(page, 'suggestion-evidence.png');
    // Scrolled down the suggestions, the Compare pane that replaces them still opens at its top.
    const scrolled = Number(
      await page.evaluate(
        `(() => { const p = document.getElementById('pane'); p.scrollTop = p.scrollHeight; return p.scrollTop; })()`,
      ),
    );
    assert.ok(scrolled > 0, `the suggestions pane scrolls (scrollTop ${scrolled})`);
    await page.click('.suggestion.active button.apply');
    await page.waitForSelector('.compare', { timeout: 10_000 });
    assert.equal(
      Number(await page.evaluate(`document.getElementById('pane').scrollTop`)),
      0,
      'Compare opens at its top',
    );
    const log = await hostLog(page);
    assert.ok(log.some((m) => m.type === 'applySuggestion' && typeof m.suggestionId === 'string'));
    const text = (await page.textContent('.compare')) ?? '';
    assert.match(text, /Prediction error/);
    assert.match(text, /Before: breakdown per rank and step/);
    assert.match(text, /Loss by step, before and after/);
    assert.equal(await page.locator('.compare table.steps tbody tr').count(), 6);
    await screenshot(page, 'compare.png');
  });

  it('shows the breakdown and loss & memory charts', async () => {
    const { page } = v;
    await page.click('#tab-breakdown');
    // 4 ranks x 4 steps: the analysis leaves out the last of the 6 steps, as HTA does by
    // default, and the bars leave out step 0, the warm-up (it would set their scale).
    assert.equal(await page.locator('#pane svg rect.c-compute').count(), 4 * 4);
    assert.match((await page.textContent('#pane')) ?? '', /warm-up step 0 left out/);
    await screenshot(page, 'breakdown.png');
    await page.click('#tab-charts');
    assert.equal(await page.locator('#pane svg path.line').count(), 4);
    assert.match((await page.textContent('#pane')) ?? '', /activations/);
    await screenshot(page, 'loss-memory.png');
  });

  it('restores the view window, selection and pane after the webview is re-created', async () => {
    const { page } = v;
    await page.click('#tab-details');
    await page.keyboard.press('0');
    const target = model.slices.findIndex((s) => s.category === 'collective' && s.args?.seq === 9);
    await clickSlice(page, target);
    await page.mouse.move(900, 300);
    await page.keyboard.down('w');
    await page.waitForTimeout(300);
    await page.keyboard.up('w');
    await page.waitForTimeout(400); // state is saved debounced
    const before = await viewWindow(page);
    await page.reload();
    await waitFor(page, `document.getElementById('app').dataset.firstPaintMs !== undefined`);
    await page.waitForTimeout(100);
    const after = await viewWindow(page);
    assert.ok(
      Math.abs(after.startNs - before.startNs) < 1 && Math.abs(after.endNs - before.endNs) < 1,
      `window restored: ${JSON.stringify({ before, after })}`,
    );
    assert.equal(await page.getAttribute('.details', 'data-slice'), String(target));
    assert.equal(await page.getAttribute('#tab-details', 'aria-selected'), 'true');
  });

  it('is keyboard operable: focus reaches the timeline, Enter collapses a rank, arrows switch panes', async () => {
    const { page } = v;
    await page.keyboard.press('Escape');
    await page.focus('.tracks');
    assert.equal(await page.evaluate(`document.activeElement.className`), 'tracks');
    const before = await viewWindow(page);
    await page.keyboard.press('Home'); // no-op key must not break anything
    await page.keyboard.press('ArrowDown'); // focus the first row: the rank 0 header
    await page.keyboard.press('Enter');
    await waitPaint(page, before.paints);
    const collapsed = (await page.evaluate(`JSON.parse(sessionStorage.getItem('commlens-state') || '{}')`)) as {
      collapsed?: number[];
    };
    await page.waitForTimeout(300);
    const saved = (await page.evaluate(
      `JSON.parse(sessionStorage.getItem('commlens-state') || '{}').collapsed`,
    )) as number[];
    assert.deepEqual(saved, [model.processes[0].pid], `rank 0 collapsed (was ${JSON.stringify(collapsed.collapsed)})`);
    await page.keyboard.press('Enter');
    await page.focus('#tab-details');
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.evaluate(`document.activeElement.id`), 'tab-area');
    assert.equal(await page.getAttribute('#tab-area', 'aria-selected'), 'true');
    await screenshot(page, 'keyboard-focus.png');
  });

  it('serves the panel HTML with the nonce CSP and without trace data in it', async () => {
    const html = await (await fetch(v.harness.url)).text();
    assert.match(html, /script-src 'nonce-[^']+'/);
    assert.doesNotMatch(html, /allReduce|matmul|adam update/);
    assert.ok(html.length < 4000, `HTML is small (${html.length} chars)`);
    assert.deepEqual(
      v.errors.filter((e) => /Content Security Policy/.test(e)),
      [],
    );
  });

  for (const theme of ['light', 'high-contrast']) {
    it(`renders legibly in the ${theme} theme`, async () => {
      const o = await openViewer(browser, { run: { title: `synthetic ddp run (${theme})`, model } }, `?theme=${theme}`);
      try {
        assert.equal(await appState(o.page), 'ready');
        const bg = await o.page.evaluate(`getComputedStyle(document.body).backgroundColor`);
        assert.equal(bg, theme === 'light' ? 'rgb(255, 255, 255)' : 'rgb(0, 0, 0)');
        await screenshot(o.page, `timeline-${theme}.png`);
        assert.deepEqual(o.errors, []);
      } finally {
        await o.page.close();
        await o.harness.close();
      }
    });
  }
});
