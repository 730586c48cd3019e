/**
 * Test helper: the harness server plus headless Chromium (Debian's /usr/bin/chromium driven
 * by playwright-core; never a downloaded browser). Screenshots go to test-artifacts/webview/.
 */
import { existsSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { skipUnlessPresent } from '../../helpers/require';
import { repoRoot, startHarness, type Harness, type HarnessOptions } from '../../../webview/harness/node/serve';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = path.join(repoRoot(), 'test-artifacts', 'webview');

/** Why Chromium cannot run here (a skip reason), or false; throws in CI (see helpers/require.ts). */
export function chromiumMissing(): string | false {
  return skipUnlessPresent(
    existsSync(CHROMIUM)
      ? false
      : `${CHROMIUM} not found: install Debian's chromium (scripts/setup.sh does); the tests never download a browser`,
  );
}

export async function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu-sandbox'] });
}

export interface Opened {
  page: Page;
  harness: Harness;
  errors: string[];
}

/**
 * Serves `o` and opens it in a fresh page of `browser`; resolves once the first frame is painted
 * and the analysis, when the harness sends one, is shown: its warnings banner and heat map sit
 * above the tracks, so a rectangle measured before it arrives is not where a click lands after.
 */
export async function openViewer(
  browser: Browser,
  o: HarnessOptions,
  query = '',
  size = { width: 1400, height: 900 },
): Promise<Opened> {
  const harness = await startHarness(o);
  const page = await browser.newPage({ viewport: size });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  await page.goto(harness.url + query);
  await waitFor(
    page,
    `(() => {
    const app = document.getElementById('app');
    if (!app || app.dataset.state === 'loading') return false;
    if (app.dataset.state !== 'ready') return true;
    return app.dataset.firstPaintMs !== undefined &&
      (window.__analysisAnswered === 'none' || app.dataset.analysis !== undefined);
  })()`,
    20_000,
  );
  return { page, harness, errors };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, name);
  await page.screenshot({ path: file });
  return file;
}

/** The visible window the timeline reports on its element. */
export async function viewWindow(
  page: Page,
): Promise<{ startNs: number; endNs: number; paints: number; boxes: number }> {
  return page.evaluate(`(() => {
    const d = document.querySelector('.tracks').dataset;
    return { startNs: Number(d.startNs), endNs: Number(d.endNs), paints: Number(d.paints), boxes: Number(d.boxes) };
  })()`);
}

/** Waits until the timeline has painted more frames than `after`. */
export async function waitPaint(page: Page, after: number, timeoutMs = 10_000): Promise<void> {
  await waitFor(page, `Number(document.querySelector('.tracks')?.dataset.paints ?? 0) > ${after}`, timeoutMs);
}

/**
 * Polls `expr` in the page until it is true. (Playwright's waitForFunction compiles its
 * predicate inside the page, which the viewer's CSP rightly forbids; evaluate does not.)
 */
export async function waitFor(page: Page, expr: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await page.evaluate(expr)) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${expr}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** `#app`'s data-state (loading, ready, empty, error). */
export async function appState(page: Page): Promise<string> {
  return page.evaluate(`document.getElementById('app').dataset.state`);
}

/** Message types the webview posted to the (stand-in) host, in order. */
export async function hostLog(page: Page): Promise<{ type: string; [k: string]: unknown }[]> {
  return page.evaluate(`window.__hostLog`);
}

/** Page rectangle of model slice `m` in the timeline, or null when it is not laid out. */
export async function rectOf(page: Page, m: number): Promise<{ x: number; y: number; w: number; h: number } | null> {
  return page.evaluate(`window.commlens.rectOf(${Number(m)})`);
}

/** Clicks the middle of model slice `m`. */
export async function clickSlice(page: Page, m: number): Promise<void> {
  const r = await rectOf(page, m);
  if (!r) throw new Error(`slice ${m} is not laid out in the timeline`);
  const x = Math.max(r.x, 200) + Math.max(0.5, Math.min(r.w, 1000) / 2);
  await page.mouse.click(x, r.y + r.h / 2);
}
