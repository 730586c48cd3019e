/**
 * Suggestions on imported PyTorch traces in the webview (headless Chromium): an external
 * run's suggestions that commlens_torch can make get "Apply & re-run" with the COMMLENS_APPLY
 * they would run with; the others, and every suggestion of a trace CommLens did not run,
 * show the change to make instead.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { harnessAnalysis } from '../../../webview/harness/node/serve';
import { viewerRun } from '../../helpers/syntheticRun';
import type { AnalysisView } from '../../../webview/protocol';
import { chromiumMissing, hostLog, launch, openViewer, type Opened } from './browser';

const skip = chromiumMissing();

describe('suggestions of an imported PyTorch job (headless Chromium)', { skip }, () => {
  let browser: Browser;
  const opened: Opened[] = [];
  // A slow link (1.25 GB/s), where more than one change is worthwhile.
  const model = viewerRun({ ranks: 4, steps: 6, bytesPerNs: 1.25 });
  /** The harness analysis as the extension sends it for an imported job, the first suggestion applicable by commlens_torch. */
  const imported = (externalRun: boolean): AnalysisView => {
    const a = harnessAnalysis(model);
    assert.ok(a.suggestions.length >= 2, 'the harness analysis has suggestions');
    return {
      ...a,
      imported: true,
      ...(externalRun ? { externalRun: true } : {}),
      suggestions: a.suggestions.map((s, i) => ({
        ...s,
        configChange: { ddp: { comm_hook: 'fp16_compress_hook' } },
        ...(i === 0 ? { torchApply: { comm_hook: 'fp16' } } : {}),
      })),
    };
  };

  before(async () => {
    browser = await launch();
  });
  after(async () => {
    for (const o of opened) await o.harness.close();
    await browser?.close();
  });

  it('an external run: Apply & re-run with the COMMLENS_APPLY it adds, only where commlens_torch can make the change', async () => {
    const v = await openViewer(browser, {
      run: { title: 'external pytorch run', model, analysis: imported(true) },
      compare: { title: 'the re-run', model: viewerRun({ ranks: 4, steps: 6, overlap: true }) },
    });
    opened.push(v);
    const { page } = v;
    await page.click('#tab-suggestions');
    const heads = page.locator('.suggestion-head');
    await heads.nth(1).click();
    assert.equal(await page.locator('.suggestion.active button.apply').count(), 0);
    assert.match(
      (await page.textContent('.suggestion.active')) ?? '',
      /commlens_torch cannot make this change on a re-run/,
    );
    await heads.nth(0).click();
    const first = (await page.textContent('.suggestion.active')) ?? '';
    assert.match(first, /Re-run with\s*COMMLENS_APPLY=\{"comm_hook":"fp16"\}/);
    assert.match(first, /launches the job's command again \(you confirm it first\)/);
    assert.equal(await page.locator('.suggestion.active button.apply').count(), 1);
    await page.click('.suggestion.active button.apply');
    await page.waitForSelector('.compare', { timeout: 10_000 });
    const log = await hostLog(page);
    assert.ok(
      log.some((m) => m.type === 'applySuggestion'),
      'the host is asked to apply it',
    );
    assert.deepEqual(v.errors, []);
  });

  it('a trace CommLens did not run: no re-run button, the change to make', async () => {
    const v = await openViewer(browser, { run: { title: 'imported traces', model, analysis: imported(false) } });
    opened.push(v);
    const { page } = v;
    await page.click('#tab-suggestions');
    await page.locator('.suggestion-head').nth(0).click();
    assert.equal(await page.locator('.suggestion.active button.apply').count(), 0);
    assert.match(
      (await page.textContent('.suggestion.active')) ?? '',
      /An imported trace cannot be re-run from here: make the change above in the training job/,
    );
    assert.deepEqual(v.errors, []);
  });
});
