/**
 * A parallel-layout suggestion in a real VS Code (code-server, as the end-to-end test runs
 * it: test/e2e/codeServer.ts), as a user meets it: profile a tensor-parallel `gpt-mini` run
 * (TP 2) from a run config, open the Suggestions pane, find the advisor's first layout
 * suggestion (another way to split the same job over the ranks), Apply & re-run it, and wait
 * for the comparison. Writes
 *
 *   docs/images/vscode-dark-layout-suggestion.png   the layout suggestion's detail
 *   docs/images/vscode-dark-layout-comparison.png   its re-run: the Compare pane
 *
 * and checks what the user is told against the files the runs wrote: the suggestion in the pane
 * is the first of kind `layout` in the run's summary.json, the re-run ran the suggested strategy
 * and options, and comparison.json holds the suggestion's prediction. Exits 1 when not.
 * CPU-heavy (lavapipe, code-server and chromium): not part of the test suite.
 *
 *   npm run build && npm run compile && node out/scripts/vscode-layout.js [--out DIR] [--steps N]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import {
  launchBrowser,
  openWorkbench,
  packageVsix,
  quickOpen,
  REPO_ROOT,
  runCommand,
  setUp,
  startCodeServer,
  waitForNotification,
  waitForRun,
  webviewFrame,
} from '../test/e2e/codeServer';

interface Options {
  out: string;
  steps: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { out: path.join(REPO_ROOT, 'docs', 'images'), steps: 6 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[++i];
    if (v === undefined) throw new Error(`${a} needs a value`);
    if (a === '--out') o.out = path.resolve(v);
    else if (a === '--steps') {
      o.steps = Number(v);
      if (!Number.isInteger(o.steps) || o.steps < 4 || o.steps > 40)
        throw new Error(`--steps: got "${v}", expected an integer from 4 to 40`);
    } else throw new Error(`unknown argument "${a}"; expected --out DIR or --steps N`);
  }
  return o;
}

interface SuggestionOnDisk {
  id: string;
  kind?: string;
  title: string;
  configChange?: { strategy?: string; strategyOptions?: Record<string, unknown> };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  fs.mkdirSync(o.out, { recursive: true });
  const tools = setUp();
  const vsix = packageVsix();
  const workspace = fs.mkdtempSync(path.join(REPO_ROOT, '.cache', 'e2e', 'layout-'));
  const config = { preset: 'gpt-mini', strategy: 'tp', strategyOptions: { tensorParallelSize: 2 }, steps: o.steps };
  fs.writeFileSync(path.join(workspace, 'commlens.json'), `${JSON.stringify(config, null, 2)}\n`);
  const server = await startCodeServer(tools, vsix, workspace, {
    'commlens.runsFolder': 'runs',
    'security.workspace.trust.enabled': false,
    'workbench.colorTheme': 'Default Dark Modern',
  });
  const browser = await launchBrowser(tools);
  let page: Page | undefined;
  const problems: string[] = [];
  try {
    page = await openWorkbench(browser, server);
    const runsDir = path.join(workspace, 'runs');
    await quickOpen(page, 'commlens.json');
    await runCommand(page, 'CommLens: Profile with Config File…');
    const run = await waitForRun(runsDir, (r) => r.status !== 'running', 15 * 60_000);
    if (run.status !== 'done') throw new Error(`the TP 2 run ended ${run.status} (${run.dir})`);
    const summary = JSON.parse(fs.readFileSync(path.join(run.dir, 'summary.json'), 'utf8')) as {
      analysis?: { suggestions?: SuggestionOnDisk[] };
    };
    const layout = summary.analysis?.suggestions?.find((s) => s.kind === 'layout');
    if (!layout) throw new Error(`the run's summary.json has no layout suggestion (${run.dir})`);
    console.log(`the CLI's first layout suggestion: ${layout.title}`);
    await page.locator('.tab', { hasText: 'CommLens:' }).first().waitFor({ state: 'visible', timeout: 60_000 });
    const frame = webviewFrame(page);
    await frame.locator('#app[data-state="ready"]').waitFor({ state: 'attached', timeout: 120_000 });
    const divider = frame.locator('.divider');
    await divider.focus();
    for (let i = 0; i < 8; i++) await divider.press('ArrowUp');
    await frame.getByRole('tab', { name: 'Suggestions' }).click();
    // The pane shows the title as the advisor wrote it; its head is enough to find it.
    const head = layout.title.split(':')[0];
    const item = frame.locator('ol.suggestions li.suggestion', { hasText: head }).first();
    await item.waitFor({ state: 'visible', timeout: 60_000 });
    await item.locator('.suggestion-head').click();
    const apply = frame.getByRole('button', { name: 'Apply & re-run' });
    await apply.waitFor({ state: 'visible', timeout: 10_000 });
    await page.waitForTimeout(500);
    const shown = (await item.innerText()).replace(/\u00a0/g, ' ');
    console.log(`the panel shows:\n${shown}`);
    await page.screenshot({ path: path.join(o.out, 'vscode-dark-layout-suggestion.png') });

    const before = new Set(fs.readdirSync(runsDir));
    await apply.click();
    const compared = frame.locator('#tab-compare[aria-selected="true"]');
    const refused = frame.locator('ol.suggestions li.suggestion.active .status-line', { hasText: 'Failed: ' });
    await compared
      .or(refused)
      .first()
      .waitFor({ state: 'visible', timeout: 30 * 60_000 });
    if (await refused.isVisible()) throw new Error(`the re-run was refused: ${await refused.innerText()}`);
    const verdict = await waitForNotification(page, /measured .*predicted|predicted .*measured/, 60_000);
    console.log(`verdict: ${verdict}`);
    const verify = await waitForRun(
      runsDir,
      (x) => x.status === 'done' && fs.existsSync(path.join(x.dir, 'comparison.json')),
      60_000,
      before,
    );
    await runCommand(page, 'Notifications: Clear All Notifications');
    await page.waitForTimeout(800);
    await page.screenshot({ path: path.join(o.out, 'vscode-dark-layout-comparison.png') });

    const rerun = JSON.parse(fs.readFileSync(path.join(verify.dir, 'config.json'), 'utf8')) as {
      strategy?: string;
      strategyOptions?: Record<string, unknown>;
    };
    const want = layout.configChange ?? {};
    if (rerun.strategy !== want.strategy)
      problems.push(`the re-run ran strategy '${rerun.strategy}', the suggestion says '${want.strategy}'`);
    for (const [k, v] of Object.entries(want.strategyOptions ?? {}))
      if (rerun.strategyOptions?.[k] !== v)
        problems.push(`the re-run has ${k} ${JSON.stringify(rerun.strategyOptions?.[k])}, the suggestion ${v}`);
    const comparison = JSON.parse(fs.readFileSync(path.join(verify.dir, 'comparison.json'), 'utf8')) as {
      suggestionId?: string;
      predicted?: { stepTimeNs?: number };
      measured?: { stepTimeNs?: number };
      baseline?: { stepTimeNs?: number };
      verdict?: string;
    };
    console.log(
      `comparison.json: baseline ${comparison.baseline?.stepTimeNs} ns, predicted ${comparison.predicted?.stepTimeNs} ns, measured ${comparison.measured?.stepTimeNs} ns; ${comparison.verdict}`,
    );
    if (!(comparison.predicted?.stepTimeNs && comparison.predicted.stepTimeNs > 0))
      problems.push('comparison.json has no predicted step time');
  } catch (e) {
    if (page) await page.screenshot({ path: path.join(o.out, 'failed.png') }).catch(() => undefined);
    throw e;
  } finally {
    await browser.close().catch(() => undefined);
    await server.stop();
    fs.rmSync(workspace, { recursive: true, force: true });
  }
  if (problems.length > 0) {
    console.error(`What the user was told and what ran disagree:\n- ${problems.join('\n- ')}`);
    process.exitCode = 1;
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exit(1);
});
