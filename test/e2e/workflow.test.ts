/**
 * CommLens end to end in a real VS Code (code-server + Debian chromium): the packaged
 * .vsix is installed, commands run from the palette, and the trace view is inspected
 * inside its nested webview frames. Screenshots go to test-artifacts/e2e/.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { setUp, packageVsix, startCodeServer, launchBrowser, openWorkbench, runCommand, screenshot, REPO_ROOT, type CodeServer } from './codeServer';

describe('CommLens in VS Code (code-server)', { timeout: 15 * 60_000 }, () => {
  let server: CodeServer | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let workspace: string;

  before(async () => {
    const tools = setUp();
    const vsix = packageVsix();
    workspace = fs.mkdtempSync(path.join(REPO_ROOT, '.cache', 'e2e', 'workspace-'));
    server = await startCodeServer(tools, vsix, workspace, { 'commlens.runsFolder': 'runs' });
    browser = await launchBrowser(tools);
    page = await openWorkbench(browser, server);
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await server?.stop();
  });

  it('runs "CommLens: Show Environment" from the command palette', async () => {
    await runCommand(page, 'CommLens: Show Environment');
    // The report opens as a Markdown document whose first line is the heading.
    const editor = page.locator('.editor-instance .view-lines');
    await editor.filter({ hasText: 'CommLens environment' }).first().waitFor({ state: 'visible', timeout: 90_000 });
    const text = (await editor.first().innerText()).replace(/\u00a0/g, ' ');
    assert.match(text, /commlens doctor --json/);
    assert.match(text, /runs folder/);
    await screenshot(page, '01-show-environment');
    // The runs folder named in the settings was created on first use.
    assert.ok(fs.existsSync(path.join(workspace, 'runs')), 'the runs folder was created');
  });
});
