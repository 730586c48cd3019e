/**
 * The Perfetto-like timeline features on a 2-rank run, driven in headless Chromium: hover
 * tooltips, time origin, overview range drag, sticky rank headers, pinned tracks, compact
 * counters, the resizable bottom pane, area counters, flow keys and marks, linked views.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { decodeTrace, encodeTrace } from '../../../trace/binary';
import { viewerRun } from '../../helpers/syntheticRun';
import { formatDurationNs, formatWithUnit } from '../../../trace/format';
import { LABEL_W } from '../../../webview/timeline/layout';
import { aggregateArea } from '../../../webview/timeline/query';
import { TraceIndex } from '../../../webview/timeline/traceIndex';
import {
  chromiumMissing,
  clickSlice,
  launch,
  openViewer,
  rectOf,
  screenshot,
  viewWindow,
  waitFor,
  waitPaint,
  type Opened,
} from './browser';

const skip = chromiumMissing();
if (skip && process.env.CI) throw new Error(skip);

type Rect = { x: number; y: number; w: number; h: number };
const trackRect = (page: Page, t: number): Promise<Rect | null> => page.evaluate(`window.commlens.trackRect(${t})`);
const tracksData = (page: Page): Promise<Record<string, string>> =>
  page.evaluate(`({ ...document.querySelector('.tracks').dataset })`);
const savedState = (page: Page): Promise<Record<string, unknown>> =>
  page.evaluate(`JSON.parse(sessionStorage.getItem('commlens-state') || '{}')`);

describe("what the timeline opens on: a run with a long warm-up step and the runtime's track set", { skip }, () => {
  let browser: Browser;
  let v: Opened;
  // Step 0 compiles pipelines for ~25× a steady step (~85 % of the run), as on a software rasterizer; tracks and counters as the runtime writes them.
  const model = viewerRun({ ranks: 2, steps: 6, runtimeTracks: true, warmupNs: 500_000_000 });
  const index = new TraceIndex(decodeTrace(encodeTrace(model)));

  before(async () => {
    browser = await launch();
    v = await openViewer(browser, { run: { title: 'run with a long step 0 (2 ranks)', model } });
  });
  after(async () => {
    await v?.harness.close();
    await browser?.close();
  });

  it('opens on the steady-state steps, after step 0, which stays reachable and labelled', async () => {
    const { page } = v;
    const [step0, step1] = index.steps;
    assert.equal(step0.warmup, true);
    assert.ok(
      step0.endNs - step0.startNs > 0.8 * (index.extentEndNs - index.extentStartNs),
      'step 0 is most of the run',
    );
    const w = await viewWindow(page);
    assert.ok(w.startNs >= step0.endNs, `the first view starts at ${w.startNs}, after step 0 (ends ${step0.endNs})`);
    assert.ok(w.startNs <= step1.startNs && w.endNs >= index.extentEndNs, 'and shows every steady-state step');
    assert.ok(
      await page.evaluate(
        `[...document.querySelectorAll('select[aria-label="Origin of the time axis"] option')].some((o) => o.textContent === 'start of step 0 (warm-up)')`,
      ),
      'the origin menu labels step 0 as warm-up',
    );
    await screenshot(page, 'steady-first-view.png');
    await page.click('button:has-text("Fit")');
    await waitPaint(page, w.paints);
    const fit = await viewWindow(page);
    assert.ok(fit.startNs <= step0.startNs && fit.endNs >= index.extentEndNs, 'Fit shows the warm-up too');
    assert.deepEqual(v.errors, []);
  });

  it("fits both ranks of the runtime's track set on one screen: constant counters folded, the banner one line", async () => {
    const { page } = v;
    const box = (await page.locator('.tracks').boundingBox())!;
    const d = await tracksData(page);
    assert.ok(Number(d.contentHeight) <= box.height, `2 ranks (${d.contentHeight} px) fit in ${box.height} px`);
    const banner = (await page.locator('.banner').boundingBox())!;
    assert.ok(banner.height <= 30, `the warnings banner is one line: ${banner.height} px`);
    const pid = model.processes[0].pid;
    const fold = (await page.evaluate(`window.commlens.foldRect(${pid})`)) as Rect | null;
    assert.ok(fold, 'rank 0 has a constant-counter row');
    const h0 = Number(d.contentHeight);
    await page.mouse.click(fold.x + 60, fold.y + fold.h / 2);
    await waitFor(page, `Number(document.querySelector('.tracks').dataset.contentHeight) > ${h0}`);
    const params = model.tracks.findIndex((t) => t.pid === pid && t.name === 'memory: parameters');
    assert.ok(await trackRect(page, params), 'unfolded: the parameters counter has its own row');
    await screenshot(page, 'steady-unfolded.png');
    await page.mouse.click(fold.x + 60, fold.y + fold.h / 2);
    await waitFor(page, `Number(document.querySelector('.tracks').dataset.contentHeight) === ${h0}`);
    assert.equal(await trackRect(page, params), null, 'folded again');
    assert.deepEqual(v.errors, []);
  });
});

describe('timeline features on a 2-rank run (headless Chromium)', { skip }, () => {
  let browser: Browser;
  let v: Opened;
  const model = viewerRun({ ranks: 2, steps: 6 });
  const index = new TraceIndex(decodeTrace(encodeTrace(model)));
  const trackId = (rank: number, name: string): number =>
    model.tracks.findIndex((t) => t.pid === model.processes[rank].pid && t.name === name);

  before(async () => {
    browser = await launch();
    v = await openViewer(browser, { run: { title: 'synthetic ddp run (2 ranks)', model } });
  });
  after(async () => {
    await v?.harness.close();
    await browser?.close();
  });

  it('counters are one line each until expanded', async () => {
    const { page } = v;
    const d = await tracksData(page);
    const loss = trackId(0, 'loss');
    const r = (await trackRect(page, loss))!;
    assert.ok(r.h <= 20, `compact counter row: ${r.h} px`);
    await page.mouse.click(r.x + 60, r.y + r.h / 2);
    await waitFor(page, `Number(document.querySelector('.tracks').dataset.contentHeight) > ${Number(d.contentHeight)}`);
    assert.ok((await trackRect(page, loss))!.h >= 40, 'clicking the counter name expands it');
    await page.mouse.click(r.x + 60, r.y + 8);
    await waitFor(
      page,
      `Number(document.querySelector('.tracks').dataset.contentHeight) === ${Number(d.contentHeight)}`,
    );
    assert.deepEqual(v.errors, []);
  });

  it('hover shows a tooltip with the slice name, duration and key args, and counter values', async () => {
    const { page } = v;
    const i = model.slices.findIndex((s) => s.category === 'collective' && s.args?.seq === 5);
    const r = (await rectOf(page, i))!;
    await page.mouse.move(r.x + Math.min(r.w, 40) / 2, r.y + r.h / 2);
    await waitFor(page, `!document.querySelector('.tooltip').hidden`);
    const tip = (await page.textContent('.tooltip')) ?? '';
    assert.match(tip, /^allReduce/);
    assert.ok(tip.includes(formatDurationNs(model.slices[i].durNs)), `duration in ${tip}`);
    assert.match(tip, /bytes: 25 MiB/);
    assert.match(tip, /rank 0/);
    // The loss counter in the middle of a sample's span: the tooltip gives that sample's value.
    const loss = trackId(0, 'loss');
    const series = model.counters.find((c) => c.track === loss)!;
    const k = 2;
    const mid = (series.tsNs[k] + series.tsNs[k + 1]) / 2;
    const w = await viewWindow(page);
    const tracks = (await page.locator('.tracks').boundingBox())!;
    const timeW = Math.floor(tracks.width) - 12 - LABEL_W;
    const lr = (await trackRect(page, loss))!;
    await page.mouse.move(tracks.x + LABEL_W + ((mid - w.startNs) / (w.endNs - w.startNs)) * timeW, lr.y + lr.h / 2);
    await waitFor(page, `(document.querySelector('.tooltip').textContent || '').includes('loss')`);
    const ct = (await page.textContent('.tooltip')) ?? '';
    assert.match(ct, /rank 0 · loss/);
    assert.ok(ct.includes(formatWithUnit(series.values[k], '1')), `value ${series.values[k]} in ${ct}`);
    await page.mouse.move(5, 5);
  });

  it('times the axis from a chosen origin (the start of a step) with unit-aware ticks', async () => {
    const { page } = v;
    const before = await tracksData(page);
    assert.equal(Number(before.originNs), index.extentStartNs);
    await page.selectOption('select[aria-label="Origin of the time axis"]', 'step:2');
    await waitFor(page, `document.querySelector('.tracks').dataset.originNs === '${index.steps[2].startNs}'`);
    const labels = (await tracksData(page)).axis.split('|');
    assert.ok(
      labels.some((l) => /^0 (s|ms|µs|ns)$/.test(l)),
      labels.join(' '),
    );
    assert.ok(
      labels.some((l) => l.startsWith('-')),
      'ticks before step 2 are negative',
    );
    assert.ok(
      labels.every((l) => / ms$/.test(l)),
      'the whole run is labelled in ms',
    );
    // Zoomed in far, the unit follows the zoom.
    const w0 = await viewWindow(page);
    await page.mouse.move(800, 300);
    await page.keyboard.down('Control');
    for (let j = 0; j < 6; j++) await page.mouse.wheel(0, -600);
    await page.keyboard.up('Control');
    await waitPaint(page, w0.paints);
    const fine = (await tracksData(page)).axis.split('|');
    assert.ok(
      fine.every((l) => / (µs|ns)$/.test(l)),
      `zoomed-in ticks: ${fine.join(' ')}`,
    );
    await page.keyboard.press('0');
  });

  it('dragging on the overview strip shows the dragged range', async () => {
    const { page } = v;
    const ov = (await page.locator('canvas.overview').boundingBox())!;
    const span = index.extentEndNs - index.extentStartNs;
    const timeW =
      ((await page.evaluate(`parseFloat(document.querySelector('canvas.overview').style.width)`)) as number) - LABEL_W;
    const xa = ov.x + LABEL_W + 0.25 * timeW,
      xb = ov.x + LABEL_W + 0.5 * timeW;
    const w0 = await viewWindow(page);
    await page.mouse.move(xa, ov.y + 20);
    await page.mouse.down();
    await page.mouse.move(xb, ov.y + 20, { steps: 6 });
    await page.mouse.up();
    await waitPaint(page, w0.paints);
    const w = await viewWindow(page);
    assert.ok(Math.abs(w.startNs - (index.extentStartNs + 0.25 * span)) < span * 0.005, `start ${w.startNs}`);
    assert.ok(Math.abs(w.endNs - (index.extentStartNs + 0.5 * span)) < span * 0.005, `end ${w.endNs}`);
    await page.keyboard.press('0');
  });

  it('keeps the rank label visible when its tracks are scrolled (sticky header)', async () => {
    const { page } = v;
    await page.setViewportSize({ width: 1400, height: 640 });
    const box = (await page.locator('.tracks').boundingBox())!;
    await page.mouse.move(box.x + 600, box.y + 100);
    await page.mouse.wheel(0, 80);
    await waitFor(page, `document.querySelector('.tracks').dataset.stickyGroup !== '-1'`);
    const d = await tracksData(page);
    assert.equal(d.stickyGroup, '0', 'rank 0 header sticks at the top');
    await screenshot(page, 'sticky-header.png');
    // Clicking the sticky header collapses its rank, as the real header does.
    await page.mouse.click(box.x + 60, box.y + 8);
    await page.waitForTimeout(250);
    assert.deepEqual((await savedState(page)).collapsed, [model.processes[0].pid]);
    await page.mouse.click(box.x + 60, box.y + 8);
    await page.waitForTimeout(250);
    assert.deepEqual((await savedState(page)).collapsed, []);
    await page.mouse.wheel(0, -500);
    await page.setViewportSize({ width: 1400, height: 900 });
  });

  it('pins a track to the top, where it stays while the rest scrolls', async () => {
    const { page } = v;
    const t = trackId(1, 'communication');
    const r = (await trackRect(page, t))!;
    await page.mouse.click(r.x + LABEL_W - 11, r.y + 10);
    await waitFor(page, `document.querySelector('.tracks').dataset.pinned === '${t}'`);
    const tracks = (await page.locator('.tracks').boundingBox())!;
    const pinned = (await trackRect(page, t))!;
    assert.ok(Math.abs(pinned.y - tracks.y) < 1, `pinned row at the top: ${pinned.y} vs ${tracks.y}`);
    await page.mouse.move(tracks.x + 600, tracks.y + 200);
    await page.mouse.wheel(0, 150);
    await page.waitForTimeout(100);
    assert.ok(Math.abs((await trackRect(page, t))!.y - tracks.y) < 1, 'still at the top after scrolling');
    await page.waitForTimeout(250); // the state is saved debounced
    assert.deepEqual((await savedState(page)).pinned, [t]);
    await page.mouse.wheel(0, -500);
  });

  it('resizes the bottom pane by dragging the divider and keeps the size after a reload', async () => {
    const { page } = v;
    const panel0 = (await page.locator('.panel').boundingBox())!;
    const div = (await page.locator('.divider').boundingBox())!;
    await page.mouse.move(div.x + 300, div.y + 2);
    await page.mouse.down();
    await page.mouse.move(div.x + 300, div.y - 120, { steps: 5 });
    await page.mouse.up();
    const panel1 = (await page.locator('.panel').boundingBox())!;
    assert.ok(Math.abs(panel1.height - panel0.height - 122) <= 3, `pane ${panel0.height} → ${panel1.height}`);
    await page.waitForTimeout(300);
    await page.reload();
    await waitFor(page, `document.getElementById('app').dataset.firstPaintMs !== undefined`);
    const panel2 = (await page.locator('.panel').boundingBox())!;
    assert.ok(Math.abs(panel2.height - panel1.height) <= 1, `restored ${panel2.height} vs ${panel1.height}`);
    assert.equal((await tracksData(page)).pinned, String(trackId(1, 'communication')), 'pins survive the reload');
    // Back to the default layout for the next tests: unpin, origin at the trace start.
    const t = trackId(1, 'communication');
    const r = (await trackRect(page, t))!;
    await page.mouse.click(r.x + LABEL_W - 11, r.y + 10);
    await waitFor(page, `document.querySelector('.tracks').dataset.pinned === ''`);
    await page.selectOption('select[aria-label="Origin of the time axis"]', 'start');
  });

  it('an area selection shows its duration and min / max / mean of its counters', async () => {
    const { page } = v;
    await page.keyboard.press('0');
    const compute = (await trackRect(page, trackId(0, 'compute')))!;
    const act = (await trackRect(page, trackId(0, 'memory: activations')))!;
    const box = (await page.locator('.tracks').boundingBox())!;
    await page.keyboard.down('Shift');
    await page.mouse.move(box.x + 450, compute.y + 5);
    await page.mouse.down();
    await page.mouse.move(box.x + 900, act.y + act.h - 4, { steps: 5 });
    await page.mouse.up();
    await page.keyboard.up('Shift');
    assert.equal(await page.getAttribute('#tab-area', 'aria-selected'), 'true');
    await page.waitForTimeout(250);
    const area = (await savedState(page)).area as { startNs: number; endNs: number; tracks: number[] };
    assert.ok(area, 'the area is saved');
    const sum = aggregateArea(index, area);
    assert.ok(sum.counters.length >= 4, `loss and three memory counters, got ${sum.counters.length}`);
    const text = (await page.textContent('#pane')) ?? '';
    assert.ok(text.includes(`Duration ${formatDurationNs(area.endNs - area.startNs)}`), text.slice(0, 200));
    assert.match(text, /Counters over the window/);
    const rows = await page.locator('#pane table.counters tbody tr').allTextContents();
    assert.equal(rows.length, sum.counters.length);
    const lossRow = rows.find((r) => r.startsWith('loss'))!;
    const loss = sum.counters.find((c) => c.name === 'loss')!;
    for (const x of [loss.min, loss.max, loss.mean])
      assert.ok(lossRow.includes(formatWithUnit(x, loss.unit)), `${formatWithUnit(x, loss.unit)} in ${lossRow}`);
    await screenshot(page, 'area-counters.png');
  });

  it('] and [ follow the flows of the selected slice; M marks it', async () => {
    const { page } = v;
    await page.keyboard.press('Escape');
    await page.click('#tab-details');
    await page.keyboard.press('0');
    // A flow between slices of different ranges (a collective's ranks start when each arrives).
    const flow = model.flows.find(
      (f) => Number(model.slices[f.from].args?.seq) >= 4 && model.slices[f.from].startNs !== model.slices[f.to].startNs,
    )!;
    await clickSlice(page, flow.from);
    assert.equal(await page.getAttribute('.details', 'data-slice'), String(flow.from));
    await page.keyboard.press(']');
    assert.equal(
      await page.getAttribute('.details', 'data-slice'),
      String(flow.to),
      '] goes to the slice the flow leads to',
    );
    await page.keyboard.press('[');
    assert.equal(await page.getAttribute('.details', 'data-slice'), String(flow.from), '[ comes back');
    await page.keyboard.press('[');
    assert.match((await page.textContent('.toolbar .status')) ?? '', /no incoming flow/);
    await page.keyboard.press('m');
    await page.waitForTimeout(50);
    const s = model.slices[flow.from];
    const marks = JSON.parse((await tracksData(page)).marks) as {
      startNs: number;
      endNs: number;
      temporary: boolean;
    }[];
    assert.deepEqual(marks, [{ startNs: s.startNs, endNs: s.startNs + s.durNs, temporary: true }]);
    await page.keyboard.press('m');
    await page.waitForTimeout(50);
    assert.deepEqual(JSON.parse((await tracksData(page)).marks), [], 'M on the same range removes the mark');
    await page.keyboard.press('Shift+M');
    await page.keyboard.press(']');
    await page.keyboard.press('m');
    await page.waitForTimeout(50);
    const t = model.slices[flow.to];
    assert.deepEqual(
      JSON.parse((await tracksData(page)).marks),
      [
        { startNs: s.startNs, endNs: s.startNs + s.durNs, temporary: false },
        { startNs: t.startNs, endNs: t.startNs + t.durNs, temporary: true },
      ],
      'Shift+M keeps a mark; M adds a temporary one beside it',
    );
    assert.deepEqual(v.errors, []);
  });

  it("linked side-by-side views share the zoom, aligned at each view's chosen step", async () => {
    // Two views of the same run in one browser context (the harness relays between them as the extension does).
    const ctx = await browser.newContext({ viewport: { width: 1200, height: 700 } });
    const [a, b] = [await ctx.newPage(), await ctx.newPage()];
    for (const p of [a, b]) {
      await p.goto(v.harness.url);
      await waitFor(p, `document.getElementById('app').dataset.firstPaintMs !== undefined`);
    }
    await a.selectOption('select[aria-label="Origin of the time axis"]', 'step:1');
    await b.selectOption('select[aria-label="Origin of the time axis"]', 'step:3');
    await a.click('.link-toggle');
    await b.click('.link-toggle');
    assert.equal(await b.getAttribute('.link-toggle', 'aria-pressed'), 'true');
    // Zoom view A onto the first 4 ms of its step 1.
    await a.keyboard.press('0');
    const s1 = index.steps[1].startNs,
      s3 = index.steps[3].startNs;
    const ov = (await a.locator('canvas.overview').boundingBox())!;
    const timeW =
      ((await a.evaluate(`parseFloat(document.querySelector('canvas.overview').style.width)`)) as number) - LABEL_W;
    const span = index.extentEndNs - index.extentStartNs;
    const xOf = (t: number): number => ov.x + LABEL_W + ((t - index.extentStartNs) / span) * timeW;
    await a.mouse.move(xOf(s1), ov.y + 20);
    await a.mouse.down();
    await a.mouse.move(xOf(s1 + 4e6), ov.y + 20, { steps: 4 });
    await a.mouse.up();
    // A's last frame of the drag, then B following it (both ends, from its own step 3).
    await waitFor(
      a,
      `Math.abs(Number(document.querySelector('.tracks').dataset.endNs) - ${s1 + 4e6}) < ${span * 0.005}`,
    );
    await a.waitForTimeout(100);
    const wa = await viewWindow(a);
    const d = `document.querySelector('.tracks').dataset`;
    await waitFor(
      b,
      `Math.abs(Number(${d}.startNs) - (${s3} + ${wa.startNs - s1})) < 1 && Math.abs(Number(${d}.endNs) - (${s3} + ${wa.endNs - s1})) < 1`,
    );
    const wb = await viewWindow(b);
    assert.ok(
      Math.abs(wb.startNs - s3 - (wa.startNs - s1)) < 1 && Math.abs(wb.endNs - s3 - (wa.endNs - s1)) < 1,
      `B shows A's window moved from step 1 to step 3: ${JSON.stringify({ a: [wa.startNs - s1, wa.endNs - s1], b: [wb.startNs - s3, wb.endNs - s3] })}`,
    );
    // Unlinked, B no longer follows.
    await b.click('.link-toggle');
    await a.keyboard.press('0');
    await a.waitForTimeout(200);
    const wb2 = await viewWindow(b);
    assert.equal(wb2.startNs, wb.startNs);
    await screenshot(b, 'linked-view.png');
    await ctx.close();
  });
});
