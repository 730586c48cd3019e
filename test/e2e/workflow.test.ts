/**
 * CommLens end to end in a real VS Code (code-server + Debian chromium): the packaged
 * .vsix is installed, commands run from the palette, and the views are inspected inside
 * their nested webview frames. Screenshots go to test-artifacts/e2e/.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import {
  setUp,
  packageVsix,
  startCodeServer,
  launchBrowser,
  openWorkbench,
  runCommand,
  quickOpen,
  reopenWith,
  waitForNotification,
  webviewFrame,
  screenshot,
  REPO_ROOT,
  type CodeServer,
  type E2eTools,
} from './codeServer';

let tools: E2eTools;
let vsix: string;
const workspaces: string[] = [];

function newWorkspace(): string {
  const w = fs.mkdtempSync(path.join(REPO_ROOT, '.cache', 'e2e', 'workspace-'));
  workspaces.push(w);
  return w;
}

before(() => {
  tools = setUp();
  vsix = packageVsix();
});

after(() => {
  for (const w of workspaces) fs.rmSync(w, { recursive: true, force: true });
});

describe('CommLens in VS Code (code-server), trusted workspace', { timeout: 15 * 60_000 }, () => {
  let server: CodeServer | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let workspace: string;

  before(async () => {
    workspace = newWorkspace();
    server = await startCodeServer(tools, vsix, workspace, { 'commlens.runsFolder': 'runs', 'security.workspace.trust.enabled': false });
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
    assert.match(text, /workspace trusted: yes/);
    await screenshot(page, '01-show-environment');
    // The runs folder named in the settings was created on first use.
    assert.ok(fs.existsSync(path.join(workspace, 'runs')), 'the runs folder was created');
    await runCommand(page, 'View: Close All Editors');
  });

  it('refuses a run config with unknown keys and wrong types, and lists them in Problems', async () => {
    fs.writeFileSync(path.join(workspace, 'commlens.json'), '{\n  "preset": "tiny",\n  "stpes": 3,\n  "worldSize": "two"\n}\n');
    await quickOpen(page, 'commlens.json');
    await runCommand(page, 'CommLens: Profile with Config File…');
    const note = await waitForNotification(page, /problem\(s\), so the run was not started/);
    assert.match(note, /commlens\.json has 2 problem\(s\)/);
    await runCommand(page, 'View: Focus Problems');
    const problems = page.locator('.markers-panel .monaco-list-row');
    await problems.filter({ hasText: 'stpes: unknown setting' }).first().waitFor({ state: 'visible', timeout: 30_000 });
    const all = (await page.locator('.markers-panel').innerText()).replace(/\u00a0/g, ' ');
    assert.match(all, /worldSize: got "two" \(string\), expected an integer/);
    await screenshot(page, '02-refused-config');
    const runsDir = path.join(workspace, 'runs');
    assert.equal(fs.existsSync(runsDir) ? fs.readdirSync(runsDir).filter((d) => !d.startsWith('.')).length : 0, 0, 'no run was started');
    await runCommand(page, 'View: Close All Editors');
  });

  it('opens a trace that cannot be parsed in a panel that says which file and why', async () => {
    fs.writeFileSync(path.join(workspace, 'broken.pftrace'), Buffer.from('this is not a perfetto trace\x00\xff\xfe', 'latin1'));
    await quickOpen(page, 'broken.pftrace');
    await reopenWith(page, 'CommLens Trace');
    const frame = webviewFrame(page);
    const alert = frame.locator('[role=alert]');
    await alert.waitFor({ state: 'visible', timeout: 60_000 });
    assert.match(await alert.innerText(), /CommLens cannot show broken\.pftrace/);
    const body = await frame.locator('body').innerText();
    assert.match(body, /broken\.pftrace/);
    await screenshot(page, '03-unparseable-trace');
    await runCommand(page, 'View: Close All Editors');
  });
});

describe('CommLens in VS Code (code-server), untrusted workspace', { timeout: 10 * 60_000 }, () => {
  let server: CodeServer | undefined;
  let browser: Browser | undefined;
  let page: Page;

  before(async () => {
    const workspace = newWorkspace();
    server = await startCodeServer(tools, vsix, workspace, { 'security.workspace.trust.enabled': true, 'security.workspace.trust.startupPrompt': 'never', 'security.workspace.trust.banner': 'never' });
    browser = await launchBrowser(tools);
    page = await openWorkbench(browser, server);
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await server?.stop();
  });

  it('explains that profiling needs trust instead of running anything', async () => {
    await runCommand(page, 'CommLens: Profile Training Run');
    const note = await waitForNotification(page, /untrusted workspace/);
    assert.match(note, /does not profile in an untrusted workspace/);
    assert.match(note, /opening and analysing traces works without it/);
    await page.waitForTimeout(500); // let the toast finish sliding in
    await screenshot(page, '10-untrusted');
  });
});
