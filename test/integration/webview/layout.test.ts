/**
 * The layout's figures in the webview's Breakdown pane (headless Chromium): a DP 2 × PP 2 run
 * (test/helpers/syntheticRun.ts `pipeline`) shows exposed communication per process group, named
 * as the trace names them, and each pipeline's bubble per stage — the same rows as report.md
 * (both from trace/layoutFigures.ts). A plain data-parallel run shows neither.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { analyze } from '../../../analysis';
import { markdownReport } from '../../../analysis/report';
import { toAnalysisView } from '../../../extension/analysisView';
import { groupExposureRows, pipelineStageRows } from '../../../trace/layoutFigures';
import { syntheticRun, viewerRun } from '../../helpers/syntheticRun';
import { chromiumMissing, launch, openViewer, screenshot, type Opened } from './browser';

const skip = chromiumMissing();

/** Each table's body cells (text), per table in page order. */
async function tables(page: Page): Promise<{ label: string; rows: string[][] }[]> {
  return page.evaluate(`[...document.querySelectorAll('.layout-figures table')].map((t) => ({
    label: t.getAttribute('aria-label'),
    rows: [...t.querySelectorAll('tbody tr')].map((tr) =>
      [...tr.querySelectorAll('td')].map((td) => td.textContent)),
  }))`);
}

describe('layout figures in the Breakdown pane (headless Chromium)', { skip }, () => {
  let browser: Browser;
  const opened: Opened[] = [];
  // 4 ranks as DP 2 × PP 2: GPipe of 4 micro-batches, p2p messages of 0.3 ms, 8 MiB of gradients on 1 GB/s.
  const model = syntheticRun({
    ranks: 4,
    steps: 6,
    fwdNs: 1_000_000,
    optimizerNs: 400_000,
    gradBytes: 8 * 1024 * 1024,
    bytesPerNs: 1,
    alphaNs: 20_000,
    loss: true,
    flows: true,
    hostPhases: true,
    pipeline: { stages: 2, microBatches: 4, p2pNs: 300_000 },
  });

  before(async () => {
    browser = await launch();
  });
  after(async () => {
    for (const o of opened) await o.harness.close();
    await browser?.close();
  });

  it('shows exposed communication per group and the bubble per stage, the rows report.md prints', async () => {
    const analysis = analyze(model);
    const view = toAnalysisView(analysis);
    assert.ok(view.groups && view.pipeline, 'the view carries the groups and the pipelines');
    const v = await openViewer(browser, { run: { title: 'synthetic DP 2 × PP 2 run (gpipe)', model } }, '', {
      width: 1400,
      height: 1000,
    });
    opened.push(v);
    const { page } = v;
    await page.click('#tab-breakdown');
    await page.waitForSelector('.layout-figures table', { timeout: 10_000 });
    const shown = await tables(page);
    // One group table, then one table per pipeline.
    assert.equal(shown.length, 1 + view.pipeline.length);
    const wantGroups = groupExposureRows(view.groups, view.stepTimeNs);
    assert.deepEqual(
      shown[0].rows.map((r) => r.slice(0, wantGroups[0].length)),
      wantGroups,
    );
    assert.deepEqual(shown[0].rows.map((r) => r[0]).sort(), [
      'dp group 0 (ranks 0,1)',
      'dp group 1 (ranks 2,3)',
      'pp group 0 (ranks 0,2)',
      'pp group 1 (ranks 1,3)',
    ]);
    view.pipeline.forEach((p, i) => assert.deepEqual(shown[1 + i].rows, pipelineStageRows(p)));
    // The same rows in report.md.
    const report = markdownReport(analysis);
    for (const r of wantGroups) assert.ok(report.includes(`| ${r.join(' | ')} |`), `report.md lacks ${r.join(' | ')}`);
    for (const p of view.pipeline)
      for (const r of pipelineStageRows(p)) assert.ok(report.includes(`| ${r.join(' | ')} |`));
    const text = (await page.textContent('.layout-figures')) ?? '';
    assert.match(text, /Pipeline bubble: pp group 0 \(ranks 0,2\), gpipe, 4 micro-batches/);
    assert.match(text, /\(p−1\)\/\(m\+p−1\) = 20\.0 % \(p 2, m 4\)/);
    // Every group has its exposed | hidden bar.
    assert.equal(await page.locator('.layout-figures .group-bar').count(), view.groups.length);
    await page.evaluate(`document.querySelector('.layout-figures').scrollIntoView()`);
    await screenshot(page, 'layout-breakdown.png');
    assert.deepEqual(v.errors, []);
  });

  it('a plain data-parallel run has neither table', async () => {
    const v = await openViewer(browser, { run: { title: 'synthetic DDP run', model: viewerRun({ ranks: 4 }) } });
    opened.push(v);
    await v.page.click('#tab-breakdown');
    await v.page.waitForSelector('figure.chart', { timeout: 10_000 });
    assert.equal(await v.page.locator('.layout-figures').count(), 0);
    assert.deepEqual(v.errors, []);
  });
});
