/**
 * A real VS Code for the end-to-end tests: code-server (installed on demand into .cache/
 * by scripts/e2e-setup.sh, running on its own Node 24) serving the workbench on
 * 127.0.0.1 with its own config, user data and extensions folders; the CommLens .vsix
 * installed with --install-extension; Debian's chromium driven by playwright-core.
 * code-server runs in its own process group, killed whole on teardown.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { chromium, type Browser, type Page, type FrameLocator } from 'playwright-core';
import { fixturesDir } from '../helpers/paths';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts', 'e2e');
export const FIXTURES = fixturesDir();

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export interface E2eTools {
  node24: string;
  codeServerEntry: string;
  chromium: string;
}

/** Runs scripts/e2e-setup.sh (a no-op once installed) and returns what it made. */
export function setUp(): E2eTools {
  const r = spawnSync('bash', [path.join(REPO_ROOT, 'scripts', 'e2e-setup.sh')], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 15 * 60_000,
  });
  if (r.status !== 0) throw new Error(`scripts/e2e-setup.sh failed (exit ${r.status}); see its output above`);
  const kv = Object.fromEntries(
    r.stdout
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  if (!kv.NODE24 || !kv.CODE_SERVER_ENTRY || !kv.CHROMIUM)
    throw new Error(`scripts/e2e-setup.sh printed no paths:\n${r.stdout}`);
  return { node24: kv.NODE24, codeServerEntry: kv.CODE_SERVER_ENTRY, chromium: kv.CHROMIUM };
}

/** Builds the linux-x64 .vsix (dist/ must be built) and returns its path. */
export function packageVsix(): string {
  const outDir = path.join(REPO_ROOT, '.cache', 'e2e', 'vsix');
  const r = spawnSync(
    process.execPath,
    [path.join(REPO_ROOT, 'scripts', 'package.mjs'), '--target', 'linux-x64', '--out-dir', outDir],
    { cwd: REPO_ROOT, encoding: 'utf8', timeout: 5 * 60_000 },
  );
  if (r.status !== 0) throw new Error(`packaging failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  const vsix = fs
    .readdirSync(outDir)
    .filter((f) => f.endsWith('-linux-x64.vsix'))
    .map((f) => path.join(outDir, f));
  if (vsix.length !== 1) throw new Error(`expected one linux-x64 .vsix in ${outDir}, found ${vsix.length}`);
  return vsix[0];
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface CodeServer {
  url: string;
  home: string;
  workspace: string;
  process: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

/**
 * Installs the .vsix into a fresh extensions folder and starts code-server on a free
 * loopback port with `workspace` open. `settings` go to the user settings.json.
 */
export async function startCodeServer(
  tools: E2eTools,
  vsix: string,
  workspace: string,
  settings: Record<string, unknown> = {},
): Promise<CodeServer> {
  const home = fs.mkdtempSync(path.join(REPO_ROOT, '.cache', 'e2e', 'session-'));
  const userData = path.join(home, 'user-data');
  const extensions = path.join(home, 'extensions');
  const configFile = path.join(home, 'config.yaml');
  fs.mkdirSync(path.join(userData, 'User'), { recursive: true });
  fs.mkdirSync(extensions, { recursive: true });
  fs.writeFileSync(configFile, 'auth: none\ncert: false\n');
  fs.writeFileSync(
    path.join(userData, 'User', 'settings.json'),
    JSON.stringify(
      {
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'workbench.welcomePage.walkthroughs.openOnInstall': false,
        'telemetry.telemetryLevel': 'off',
        'update.mode': 'none',
        'extensions.autoCheckUpdates': false,
        'extensions.autoUpdate': false,
        'chat.disableAIFeatures': true,
        'workbench.secondarySideBar.defaultVisibility': 'hidden',
        'security.workspace.trust.startupPrompt': 'never',
        'git.openRepositoryInParentFolders': 'never',
        'git.enabled': false,
        ...settings,
      },
      null,
      2,
    ),
  );
  const env = {
    ...process.env,
    XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp',
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, 'config'),
    XDG_DATA_HOME: path.join(home, 'data'),
  };
  const common = [
    '--config',
    configFile,
    '--user-data-dir',
    userData,
    '--extensions-dir',
    extensions,
    '--disable-telemetry',
    '--disable-update-check',
  ];
  const inst = spawnSync(tools.node24, [tools.codeServerEntry, ...common, '--install-extension', vsix], {
    env,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (inst.status !== 0 || !/was successfully installed/i.test(inst.stdout + inst.stderr)) {
    throw new Error(`code-server --install-extension failed (exit ${inst.status}):\n${inst.stdout}\n${inst.stderr}`);
  }
  const port = await freePort();
  let logText = '';
  const child = spawn(
    tools.node24,
    [
      tools.codeServerEntry,
      ...common,
      '--bind-addr',
      `127.0.0.1:${port}`,
      '--auth',
      'none',
      '--disable-getting-started-override',
      '--ignore-last-opened',
      workspace,
    ],
    {
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const collect = (b: Buffer) => {
    logText += b.toString('utf8');
    if (logText.length > 1 << 20) logText = logText.slice(-(1 << 19));
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      return;
    }
    const t = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }, 3000);
    await gone;
    clearTimeout(t);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    fs.writeFileSync(path.join(ARTIFACTS, `code-server-${port}.log`), logText);
    fs.rmSync(home, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`code-server exited (${child.exitCode}) before it served:\n${logText}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`code-server did not answer on ${url} within 60 s:\n${logText}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { url, home, workspace, process: child, log: () => logText, stop };
}

export async function launchBrowser(tools: E2eTools): Promise<Browser> {
  return chromium.launch({ executablePath: tools.chromium, args: CHROMIUM_FLAGS, headless: true });
}

/** Opens the workbench and waits until it can take commands. */
export async function openWorkbench(browser: Browser, server: CodeServer): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  await page.goto(`${server.url}/?folder=${encodeURIComponent(server.workspace)}`);
  await page.waitForSelector('.monaco-workbench .part.statusbar', { timeout: 90_000 });
  // The extension host starts after the workbench renders.
  await page.waitForTimeout(1500);
  return page;
}

/**
 * Opens the quick input with `key`. A webview that has the keyboard focus may keep the
 * key to itself, so when nothing opens the workbench gets the focus back (a click on the
 * active editor tab, or on the status bar when no editor is open) and the key is pressed again.
 */
async function openPalette(page: Page, key: string): Promise<void> {
  const input = page.locator('.quick-input-widget input');
  for (let attempt = 0; ; attempt++) {
    await page.keyboard.press('Escape');
    // A quick input still closing from the last command would swallow the next one.
    await input.waitFor({ state: 'hidden', timeout: 5_000 }).catch(() => undefined);
    await page.keyboard.press(key);
    try {
      await input.waitFor({ state: 'visible', timeout: attempt < 3 ? 3_000 : 15_000 });
      return;
    } catch (e) {
      if (attempt >= 3) throw e;
      const tab = page.locator('.tabs-container .tab.active').first();
      if (await tab.isVisible()) await tab.click();
      else await page.locator('.part.statusbar').click({ position: { x: 600, y: 10 } });
    }
  }
}

/**
 * Runs a command from the palette by its title, e.g. `CommLens: Show Environment`.
 * Right after start the workbench may not list the extension's commands yet (the
 * extension scan finishes after the first paint), so the palette is reopened until the
 * command shows up.
 */
export async function runCommand(page: Page, title: string, timeoutMs = 90_000): Promise<void> {
  const input = page.locator('.quick-input-widget input');
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      // A webview that finishes loading takes the focus and closes the palette: try again.
      await openPalette(page, 'F1');
      await input.fill(`>${title}`, { timeout: 5_000 });
      await row.waitFor({ state: 'visible', timeout: 5_000 });
      break;
    } catch (e) {
      if (Date.now() > deadline) {
        await screenshot(page, `failed-command-${title.replace(/\W+/g, '-')}`);
        throw e;
      }
    }
  }
  await input.press('Enter');
}

/** Picks an item in the open quick pick by typing it and pressing Enter. */
export async function pickQuickItem(page: Page, text: string): Promise<void> {
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 15_000 });
  await input.fill(text);
  await page
    .locator('.quick-input-list .monaco-list-row', { hasText: text })
    .first()
    .waitFor({ state: 'visible', timeout: 15_000 });
  await input.press('Enter');
}

/**
 * The content frame of a webview whose panel/editor title contains `title`: VS Code
 * nests it as iframe.webview > iframe#active-frame.
 */
export function webviewFrame(page: Page, index = 0): FrameLocator {
  return page.locator('iframe.webview.ready').nth(index).contentFrame().locator('iframe#active-frame').contentFrame();
}

/** Closes every editor, answering "Don't Save" should VS Code ask about a modified one. */
export async function closeAllEditors(page: Page): Promise<void> {
  await runCommand(page, 'View: Close All Editors');
  const dontSave = page.locator('.monaco-dialog-box button', { hasText: /Don't Save/ });
  const asked = await dontSave.waitFor({ state: 'visible', timeout: 1500 }).then(
    () => true,
    () => false,
  );
  if (asked) await dontSave.click();
}

/**
 * Opens a workspace file by name through Quick Open; a file written a moment ago may not
 * be in the file search yet, so it asks again until it is.
 */
export async function quickOpen(page: Page, fileName: string, timeoutMs = 60_000): Promise<void> {
  const input = page.locator('.quick-input-widget input');
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: fileName }).first();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await openPalette(page, 'Control+P');
      await input.fill(fileName, { timeout: 5_000 });
      await row.waitFor({ state: 'visible', timeout: 5_000 });
      break;
    } catch (e) {
      if (Date.now() > deadline) {
        await screenshot(page, `failed-open-${fileName.replace(/\W+/g, '-')}`);
        throw e;
      }
    }
  }
  await input.press('Enter');
}

/** Answers an open input box (showInputBox) with `text`. */
export async function answerInputBox(page: Page, text: string): Promise<void> {
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 15_000 });
  await input.fill(text);
  await input.press('Enter');
}

/** Reopens the active editor with another editor (our custom editor), by its display name. */
export async function reopenWith(page: Page, editorName: string): Promise<void> {
  await runCommand(page, 'View: Reopen Editor With...');
  await pickQuickItem(page, editorName);
}

/** Waits for a notification toast containing `text` and returns its text. */
export async function waitForNotification(page: Page, text: string | RegExp, timeoutMs = 60_000): Promise<string> {
  const toast = page.locator('.notifications-toasts .notification-toast', { hasText: text }).first();
  await toast.waitFor({ state: 'visible', timeout: timeoutMs });
  return (await toast.innerText()).replace(/\u00a0/g, ' ');
}

/** Runs `body`; if it throws, saves a screenshot named after the test first. */
export async function shotOnFailure(
  page: () => Page | undefined,
  name: string,
  body: () => Promise<void>,
): Promise<void> {
  try {
    await body();
  } catch (e) {
    const p = page();
    if (p) await screenshot(p, `failed-${name}`).catch(() => undefined);
    throw e;
  }
}

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

export interface RunOnDisk {
  dir: string;
  status: string;
}

/** Waits until a run folder's record satisfies `done` (the extension writes commlens-run.json). */
export async function waitForRun(
  runsDir: string,
  done: (r: RunOnDisk) => boolean,
  timeoutMs: number,
  after = new Set<string>(),
): Promise<RunOnDisk> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const runs = fs.existsSync(runsDir)
      ? fs.readdirSync(runsDir).filter((d) => !d.startsWith('.') && !after.has(d))
      : [];
    for (const d of runs) {
      const f = path.join(runsDir, d, 'commlens-run.json');
      if (!fs.existsSync(f)) continue;
      const r = {
        dir: path.join(runsDir, d),
        status: (JSON.parse(fs.readFileSync(f, 'utf8')) as { status: string }).status,
      };
      if (done(r)) return r;
    }
    if (Date.now() > deadline)
      throw new Error(
        `no run in ${runsDir} reached the expected state within ${timeoutMs} ms (${runs.join(', ') || 'none'})`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}
