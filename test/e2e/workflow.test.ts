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
import { formatSpeedup } from '../../trace/format';
import { syncPeriodOf } from '../../trace/warmup';
import { verificationViewOf } from '../../extension/analysisView';
import { componentSplitRows, speedupRows } from '../../webview/panes/predictionRows';
import {
  setUp,
  packageVsix,
  startCodeServer,
  launchBrowser,
  openWorkbench,
  runCommand,
  closeAllEditors,
  pickQuickItem,
  answerInputBox,
  quickOpen,
  reopenWith,
  waitForNotification,
  webviewFrame,
  screenshot,
  shotOnFailure,
  waitForRun,
  REPO_ROOT,
  FIXTURES,
  type CodeServer,
  type E2eTools,
} from './codeServer';

/** Processes whose command line names `needle` (the runtime is started with --runs-dir). */
function runtimeProcesses(needle: string): string[] {
  const out: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmd.includes(needle) && cmd.includes('commlens.js')) out.push(`${pid}: ${cmd.slice(0, 200)}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

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
    // Runs go over the WAN profile: on the tiny preset's default 10 GbE link communication is
    // ~5 % of the step, below what the advisor calls worth changing (analysis/advisor WORTHWHILE),
    // and the suggestion workflow needs a suggestion.
    server = await startCodeServer(tools, vsix, workspace, {
      'commlens.runsFolder': 'runs',
      'commlens.linkProfile': 'wan',
      'security.workspace.trust.enabled': false,
    });
    browser = await launchBrowser(tools);
    page = await openWorkbench(browser, server);
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await server?.stop();
  });

  it('runs "CommLens: Show Environment" from the command palette', async () =>
    shotOnFailure(
      () => page,
      'runs-CommLens-Show-Environment-from-the-command-pa',
      async () => {
        await runCommand(page, 'CommLens: Show Environment');
        // The report opens rendered, in VS Code's Markdown preview (a webview), not as raw Markdown.
        const preview = webviewFrame(page);
        await preview.locator('h1', { hasText: 'CommLens environment' }).waitFor({ state: 'visible', timeout: 90_000 });
        const text = (await preview.locator('body').innerText()).replace(/\u00a0/g, ' ');
        assert.match(text, /commlens doctor/);
        assert.match(text, /workspace trusted: yes/);
        assert.match(text, /GPU adapter/);
        assert.doesNotMatch(text, /"timestampQuery"|```/, 'no raw JSON or Markdown');
        await screenshot(page, '01-show-environment');
        // The runs folder named in the settings was created on first use.
        assert.ok(fs.existsSync(path.join(workspace, 'runs')), 'the runs folder was created');
        await closeAllEditors(page);
      },
    ));

  it('refuses a run config with unknown keys and wrong types, and lists them in Problems', async () =>
    shotOnFailure(
      () => page,
      'refuses-a-run-config-with-unknown-keys-and-wrong-t',
      async () => {
        fs.writeFileSync(
          path.join(workspace, 'commlens.json'),
          '{\n  "preset": "tiny",\n  "stpes": 3,\n  "worldSize": "two"\n}\n',
        );
        await quickOpen(page, 'commlens.json');
        await runCommand(page, 'CommLens: Profile with Config File…');
        const note = await waitForNotification(page, /problem\(s\), so the run was not started/);
        assert.match(note, /commlens\.json has 2 problem\(s\)/);
        await runCommand(page, 'View: Focus Problems');
        const problems = page.locator('.markers-panel .monaco-list-row');
        await problems
          .filter({ hasText: 'stpes: unknown setting' })
          .first()
          .waitFor({ state: 'visible', timeout: 30_000 });
        const all = (await page.locator('.markers-panel').innerText()).replace(/\u00a0/g, ' ');
        assert.match(all, /worldSize: got "two" \(string\), expected an integer/);
        await screenshot(page, '02-refused-config');
        await runCommand(page, 'View: Toggle Panel Visibility');
        const runsDir = path.join(workspace, 'runs');
        assert.equal(
          fs.existsSync(runsDir) ? fs.readdirSync(runsDir).filter((d) => !d.startsWith('.')).length : 0,
          0,
          'no run was started',
        );
        await closeAllEditors(page);
      },
    ));

  it('profiles the tiny preset from the palette and opens its trace', async () =>
    shotOnFailure(
      () => page,
      'profiles-the-tiny-preset-from-the-palette-and-open',
      async () => {
        await runCommand(page, 'CommLens: Profile Training Run');
        await pickQuickItem(page, 'tiny');
        await waitForNotification(page, /CommLens: profiling preset tiny/, 30_000);
        await screenshot(page, '04-profile-progress');
        const run = await waitForRun(path.join(workspace, 'runs'), (r) => r.status !== 'running', 180_000);
        assert.equal(run.status, 'done', JSON.stringify(run));
        assert.ok(fs.existsSync(path.join(run.dir, 'trace.pftrace')));
        // The trace opens in a CommLens panel: the timeline has drawn every rank's group.
        await page.locator('.tab', { hasText: 'CommLens:' }).first().waitFor({ state: 'visible', timeout: 60_000 });
        const frame = webviewFrame(page);
        await frame.locator('#app[data-state="ready"]').waitFor({ state: 'attached', timeout: 90_000 });
        const status = await frame.locator('.toolbar .status').innerText();
        const ranks = Number(/(\d+) rank/.exec(status)?.[1] ?? 0);
        assert.ok(ranks >= 2, `at least two rank groups drawn: ${status}`);
        const boxes = Number(await frame.locator('[data-boxes]').first().getAttribute('data-boxes'));
        assert.ok(boxes > 0, `slices drawn on the timeline: ${boxes}`);
        // The analysis arrives with ranked suggestions; clicking one opens it.
        await frame.getByRole('tab', { name: 'Suggestions' }).click();
        const suggestions = frame.locator('ol.suggestions li.suggestion');
        await suggestions.first().waitFor({ state: 'visible', timeout: 60_000 });
        assert.ok((await suggestions.count()) >= 1, 'at least one suggestion drawn');
        const head = suggestions.first().locator('.suggestion-head');
        const title = await head.locator('.title').innerText();
        await head.click();
        await frame
          .locator('ol.suggestions li.suggestion.active .suggestion-head[aria-pressed="true"]')
          .waitFor({ state: 'visible', timeout: 10_000 });
        await frame.getByRole('button', { name: 'Apply & re-run' }).waitFor({ state: 'visible', timeout: 10_000 });
        assert.ok(title.length > 0);
        await page.waitForTimeout(500);
        await screenshot(page, '05-tiny-trace-suggestion');
        // Apply & re-run: the extension runs `commlens verify` and answers in the panel, with
        // the comparison when the re-run finished, or with the runtime's reason when it refused.
        await frame.getByRole('button', { name: 'Apply & re-run' }).click();
        const compared = frame.locator('#tab-compare[aria-selected="true"]');
        const refused = frame.locator('ol.suggestions li.suggestion.active .status-line', { hasText: 'Failed: ' });
        await compared.or(refused).first().waitFor({ state: 'visible', timeout: 240_000 });
        if (await refused.isVisible()) {
          assert.match(await refused.innerText(), /Failed: .+/);
          await waitForNotification(page, /Verifying .* failed/, 30_000);
        } else {
          // The Compare pane shows the re-run (after) beside this run (before), with the prediction.
          const pane = await frame.locator('#pane').innerText();
          assert.match(pane, /Before: .*After: /s);
          assert.match(pane, /Predicted/);
          // The toolbar ends the re-run with verify's verdict and how far the baseline ran from this run.
          await frame
            .locator('.toolbar .status', { hasText: /as predicted|than predicted|measured a slowdown/ })
            .waitFor({ state: 'visible', timeout: 30_000 });
          const status = await frame.locator('.toolbar .status').innerText();
          assert.match(
            status,
            /; the baseline ran (as in|\d+\.\d % (slower|faster) than in) the run the prediction came from/,
          );
          const verify = await waitForRun(
            path.join(workspace, 'runs'),
            (r) => r.status === 'done' && fs.existsSync(path.join(r.dir, 'comparison.json')),
            30_000,
          );
          assert.ok(verify.dir);
          // The prediction re-made from the baseline runs beside the change: the toolbar states
          // comparison.json's figure when the file has one, and no such clause when it has none.
          const written: unknown = JSON.parse(fs.readFileSync(path.join(verify.dir, 'comparison.json'), 'utf8'));
          const again = (written as { baselineDrift?: { repredictedSpeedup?: number } }).baselineDrift
            ?.repredictedSpeedup;
          if (again === undefined) assert.doesNotMatch(status, /re-made/);
          else
            assert.ok(
              status.includes(`the prediction reads ${formatSpeedup(again)}`),
              `the toolbar names the re-made prediction ${formatSpeedup(again)}: ${status}`,
            );
          // The Compare pane states the same judgement: the speed-up rows and the verdict line of the file.
          const shown = verificationViewOf(written);
          const rows = speedupRows(shown);
          assert.ok(rows.length >= 1, `comparison.json has the predicted and measured speed-ups: ${shown.text}`);
          for (const r of rows)
            for (const cell of [r[0], r[2], r[3], r[4]])
              assert.ok(pane.includes(cell), `the Compare pane shows "${cell}": ${pane}`);
          assert.ok(pane.includes(`Verify: ${shown.text}`), `the Compare pane states the verdict: ${pane}`);
          // And where the step went: the prediction's split against the re-run's, every cell, and the
          // furthest miss; none for a strategy that synchronises every H steps (docs/figures.md).
          const split = componentSplitRows(shown);
          const change =
            (
              written as {
                suggestion?: { configChange?: { strategy?: unknown; strategyOptions?: Record<string, unknown> } };
              }
            ).suggestion?.configChange ?? {};
          const strategy = change.strategy;
          const periodic = syncPeriodOf(strategy, change.strategyOptions) !== undefined;
          assert.equal(split.length, periodic ? 0 : 6, `the split of ${String(strategy)}: ${JSON.stringify(written)}`);
          if (periodic) assert.ok(!pane.includes('(replayed)'), `no split for ${String(strategy)}: ${pane}`);
          for (const r of split)
            for (const cell of r) assert.ok(pane.includes(cell), `the Compare pane shows "${cell}": ${pane}`);
          if (shown.componentMiss)
            assert.ok(pane.includes(shown.componentMiss), `the Compare pane names the furthest miss: ${pane}`);
        }
        await page.waitForTimeout(500);
        await screenshot(page, '05b-apply-and-rerun');
        await closeAllEditors(page);
      },
    ));

  it('opens a fixture PyTorch (Kineto) trace through the custom editor and shows its analysis', async () =>
    shotOnFailure(
      () => page,
      'opens-a-fixture-PyTorch-Kineto-trace-through-the-c',
      async () => {
        const dir = path.join(workspace, 'pytorch');
        fs.mkdirSync(dir, { recursive: true });
        fs.copyFileSync(
          path.join(FIXTURES, 'kineto', 'hta-sampled', 'sampled_rank-0.json.gz'),
          path.join(dir, 'sampled_rank-0.json.gz'),
        );
        await quickOpen(page, 'sampled_rank-0.json.gz');
        await reopenWith(page, 'CommLens Trace');
        const frame = webviewFrame(page);
        await frame.locator('#app[data-state="ready"]').waitFor({ state: 'attached', timeout: 90_000 });
        assert.match(await frame.locator('.toolbar .status').innerText(), /1 rank/);
        await frame.getByRole('tab', { name: 'Breakdown' }).click();
        const chart = frame.locator('#pane svg[aria-label="Breakdown per rank and step"]');
        await chart.waitFor({ state: 'visible', timeout: 60_000 });
        await page.waitForTimeout(500);
        await screenshot(page, '09-kineto-custom-editor');
        await closeAllEditors(page);
      },
    ));

  it('cancels a run: the whole process tree ends within 2 s and the partial trace is offered', async () =>
    shotOnFailure(
      () => page,
      'cancels-a-run-the-whole-process-tree-ends-within-2',
      async () => {
        const runsDir = path.join(workspace, 'runs');
        const before = new Set(fs.existsSync(runsDir) ? fs.readdirSync(runsDir) : []);
        await runCommand(page, 'CommLens: Profile Training Run');
        await pickQuickItem(page, 'mlp-small');
        // Past the warm-up (mlp-small's first step compiles the pipelines: ~100 s on lavapipe, more
        // on a loaded machine), so the cancel lands in the middle of the run.
        await waitForNotification(page, /step [1-9]\/20|step 1\d\/20/, 300_000);
        await screenshot(page, '06-run-in-progress');
        const run = await waitForRun(runsDir, (r) => r.status === 'running', 10_000, before);
        const t0 = Date.now();
        await runCommand(page, 'CommLens: Cancel Run');
        const note = await waitForNotification(page, /was cancelled/, 30_000);
        const ended = await waitForRun(runsDir, (r) => r.dir === run.dir && r.status !== 'running', 10_000, before);
        assert.equal(ended.status, 'cancelled');
        assert.match(note, /The trace of the finished steps was kept/);
        assert.match(note, /Open Partial Trace/);
        // Nothing of the run is left: no process still names its runs folder.
        const left = runtimeProcesses(runsDir);
        assert.deepEqual(left, [], `runtime processes left after cancel: ${left.join('; ')}`);
        assert.ok(Date.now() - t0 < 2000 + 15_000, 'cancel reported promptly');
        await screenshot(page, '07-cancelled');
        await page
          .locator('.notifications-toasts .notification-toast')
          .getByRole('button', { name: 'Open Partial Trace' })
          .first()
          .click();
        await page.locator('.tab', { hasText: 'CommLens:' }).first().waitFor({ state: 'visible', timeout: 60_000 });
        await webviewFrame(page).locator('#app[data-state="ready"]').waitFor({ state: 'attached', timeout: 90_000 });
        await closeAllEditors(page);
      },
    ));

  it('profiles an external (PyTorch-style) command and imports every rank it wrote', async () =>
    shotOnFailure(
      () => page,
      'profiles-an-external-PyTorch-style-command-and-imp',
      async () => {
        const runsDir = path.join(workspace, 'runs');
        const before = new Set(fs.readdirSync(runsDir));
        const standin = path.join(REPO_ROOT, 'test', 'e2e', 'standin-torchrun.mjs');
        await runCommand(page, 'CommLens: Profile External Command…');
        await answerInputBox(page, `node ${standin} --nproc-per-node 2 train.py`);
        const run = await waitForRun(runsDir, (r) => r.status !== 'running', 60_000, before);
        assert.equal(run.status, 'done');
        const record = JSON.parse(fs.readFileSync(path.join(run.dir, 'commlens-run.json'), 'utf8')) as {
          traceFiles: string[];
        };
        assert.deepEqual(
          record.traceFiles.map((f) => path.basename(f)),
          ['rank-0.pt.trace.json.gz', 'rank-1.pt.trace.json.gz'],
        );
        await page.locator('.tab', { hasText: '(2 ranks)' }).first().waitFor({ state: 'visible', timeout: 60_000 });
        const frame = webviewFrame(page);
        await frame.locator('#app[data-state="ready"]').waitFor({ state: 'attached', timeout: 90_000 });
        assert.match(await frame.locator('.toolbar .status').innerText(), /2 rank/);
        // The terminal shows the command's own output.
        const terminal = page.locator('.terminal-wrapper, .xterm').first();
        await terminal.waitFor({ state: 'visible', timeout: 10_000 });
        await page.waitForTimeout(1000);
        await screenshot(page, '08-external-command');
        await closeAllEditors(page);
      },
    ));

  it('lists the runs in the CommLens view with status, step time and link', async () =>
    shotOnFailure(
      () => page,
      'runs-view',
      async () => {
        await runCommand(page, 'View: Show CommLens');
        const rows = page.locator('.pane-body .monaco-list-row');
        const tiny = rows.filter({ hasText: 'tiny' }).first();
        await tiny.waitFor({ state: 'visible', timeout: 30_000 });
        const text = (await tiny.innerText()).replace(/\u00a0/g, ' ');
        assert.match(text, /done/);
        assert.match(text, /ms\/step/);
        assert.match(text, /wan/);
        await rows
          .filter({ hasText: 'mlp-small' })
          .filter({ hasText: 'cancelled' })
          .first()
          .waitFor({ state: 'visible', timeout: 10_000 });
        await rows.filter({ hasText: 'standin-torchrun' }).first().waitFor({ state: 'visible', timeout: 10_000 });
        await screenshot(page, '11-runs-view');
        await runCommand(page, 'View: Show Explorer');
      },
    ));

  it('opens a trace that cannot be parsed in a panel that says which file and why', async () =>
    shotOnFailure(
      () => page,
      'opens-a-trace-that-cannot-be-parsed-in-a-panel-tha',
      async () => {
        fs.writeFileSync(
          path.join(workspace, 'broken.pftrace'),
          Buffer.from('this is not a perfetto trace\x00\xff\xfe', 'latin1'),
        );
        await quickOpen(page, 'broken.pftrace');
        await reopenWith(page, 'CommLens Trace');
        const frame = webviewFrame(page);
        const alert = frame.locator('[role=alert]');
        await alert.waitFor({ state: 'visible', timeout: 60_000 });
        assert.match(await alert.innerText(), /CommLens cannot show broken\.pftrace/);
        const body = await frame.locator('body').innerText();
        assert.match(body, /broken\.pftrace/);
        await screenshot(page, '03-unparseable-trace');
        await closeAllEditors(page);
      },
    ));
});

describe('CommLens in VS Code (code-server), untrusted workspace', { timeout: 10 * 60_000 }, () => {
  let server: CodeServer | undefined;
  let browser: Browser | undefined;
  let page: Page;

  before(async () => {
    const workspace = newWorkspace();
    server = await startCodeServer(tools, vsix, workspace, {
      'security.workspace.trust.enabled': true,
      'security.workspace.trust.startupPrompt': 'never',
      'security.workspace.trust.banner': 'never',
    });
    browser = await launchBrowser(tools);
    page = await openWorkbench(browser, server);
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await server?.stop();
  });

  it('explains that profiling needs trust instead of running anything', async () =>
    shotOnFailure(
      () => page,
      'explains-that-profiling-needs-trust-instead-of-run',
      async () => {
        await runCommand(page, 'CommLens: Profile Training Run');
        const note = await waitForNotification(page, /untrusted workspace/);
        assert.match(note, /does not profile in an untrusted workspace/);
        assert.match(note, /opening and analysing traces works without it/);
        await page.waitForTimeout(500); // let the toast finish sliding in
        await screenshot(page, '10-untrusted');
      },
    ));
});
