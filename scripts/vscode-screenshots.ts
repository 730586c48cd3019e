/**
 * The documentation screenshots of CommLens in a real VS Code (code-server, as the
 * end-to-end test runs it: test/e2e/codeServer.ts), each in the light and the dark theme:
 *
 *   docs/images/vscode-{light,dark}-profile.png     a fresh `mlp-small` run: its trace and analysis
 *   docs/images/vscode-{light,dark}-suggestion.png  the top suggestion's detail
 *   docs/images/vscode-{light,dark}-comparison.png  that suggestion applied and re-run: the Compare pane
 *   docs/images/vscode-{light,dark}-pytorch.png     an imported PyTorch (Kineto) trace
 *
 * One session does it all (two runs of `mlp-small`, a few steps each) and switches the
 * color theme at each view, so both themes show the same runs. It then checks that the
 * figures agree: the step times each surface shows (the Suggestions pane, the suggestion's
 * now → predicted, the Compare pane, the verdict notification and the panel's toolbar)
 * within 1 % of the runs' summary.json (measured) and comparison.json (predicted), the
 * Compare pane's speed-up rows and verdict line and the toolbar's verdict against
 * comparison.json as written, and the verdict's direction word (faster / slower) against the
 * measured step times. It exits 1 when they do not. CPU-heavy (lavapipe, code-server and chromium):
 * not part of the test suite.
 *
 *   npm run build && npm run compile && node out/scripts/vscode-screenshots.js [--out DIR] [--steps N]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FrameLocator, Page } from 'playwright-core';
import {
  closeAllEditors,
  launchBrowser,
  openWorkbench,
  packageVsix,
  quickOpen,
  reopenWith,
  REPO_ROOT,
  FIXTURES,
  runCommand,
  setUp,
  startCodeServer,
  waitForNotification,
  waitForRun,
  webviewFrame,
} from '../test/e2e/codeServer';
import { loadTraceFile } from '../trace/load';
import { verificationViewOf } from '../extension/analysisView';
import { componentSplitRows, speedupRows } from '../webview/panes/predictionRows';
import { syncPeriodOf } from '../trace/warmup';

/** The two themes (settings ids); "Preferences: Toggle between Light/Dark Themes" switches between them. */
const THEMES = { light: 'Default Light Modern', dark: 'Default Dark Modern' } as const;
type Theme = keyof typeof THEMES;

interface Options {
  out: string;
  steps: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { out: path.join(REPO_ROOT, 'docs', 'images'), steps: 6 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--out') o.out = path.resolve(value());
    else if (a === '--steps') {
      const v = value();
      o.steps = Number(v);
      // Streaming DiLoCo, a likely top suggestion, averages every 4 steps: one warm-up step and a whole period at least.
      if (!Number.isInteger(o.steps) || o.steps < 5 || o.steps > 40)
        throw new Error(`--steps: got "${v}", expected an integer from 5 to 40`);
    } else throw new Error(`unknown argument "${a}"; expected --out DIR or --steps N`);
  }
  return o;
}

/**
 * Switches the color theme as a user does (the command toggles between the preferred light
 * and dark themes, no theme picker) and waits until the workbench and the open webview (if
 * any) have taken it.
 */
async function setTheme(page: Page, theme: Theme, frame?: FrameLocator): Promise<void> {
  const cls = theme === 'dark' ? 'vs-dark' : 'vs';
  await runCommand(page, 'Preferences: Toggle between Light/Dark Themes');
  await page.locator(`.monaco-workbench.${cls}`).waitFor({ state: 'attached', timeout: 30_000 });
  if (frame) await frame.locator(`body.vscode-${theme}`).waitFor({ state: 'attached', timeout: 30_000 });
  // The timeline re-reads its palette on the theme change and redraws on the next frame.
  await page.waitForTimeout(800);
}

/** Takes one view in both themes, starting with the theme that is on (fewer switches). */
async function shoot(
  page: Page,
  out: string,
  name: string,
  current: { theme: Theme },
  frame?: FrameLocator,
): Promise<void> {
  const order: Theme[] = current.theme === 'light' ? ['light', 'dark'] : ['dark', 'light'];
  for (const theme of order) {
    if (theme !== current.theme) {
      await setTheme(page, theme, frame);
      current.theme = theme;
    }
    const file = path.join(out, `vscode-${theme}-${name}.png`);
    await page.screenshot({ path: file });
    console.log(`wrote ${path.relative(REPO_ROOT, file)}`);
  }
}

const text = async (l: { innerText(): Promise<string> }): Promise<string> =>
  (await l.innerText()).replace(/\u00a0/g, ' ');

/** Every duration written in `s` ("1.68 s", "848.1 ms", "12 µs"), in ns, in order. */
export function durationsIn(s: string): number[] {
  const unit: Record<string, number> = { ns: 1, µs: 1e3, us: 1e3, ms: 1e6, s: 1e9 };
  return [...s.matchAll(/(\d+(?:\.\d+)?)\s*(ns|µs|us|ms|s)\b/g)].map((m) => Number(m[1]) * unit[m[2]]);
}

interface Seen {
  surface: string;
  figure: 'before' | 'predicted' | 'after' | 'afterRun';
  ns: number;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  fs.mkdirSync(o.out, { recursive: true });
  const tools = setUp();
  const vsix = packageVsix();
  const workspace = fs.mkdtempSync(path.join(REPO_ROOT, '.cache', 'e2e', 'screenshots-'));
  fs.writeFileSync(
    path.join(workspace, 'commlens.json'),
    `${JSON.stringify({ preset: 'mlp-small', steps: o.steps }, null, 2)}\n`,
  );
  const server = await startCodeServer(tools, vsix, workspace, {
    'commlens.runsFolder': 'runs',
    'security.workspace.trust.enabled': false,
    'workbench.colorTheme': THEMES.light,
    'workbench.preferredLightColorTheme': THEMES.light,
    'workbench.preferredDarkColorTheme': THEMES.dark,
  });
  const browser = await launchBrowser(tools);
  const current = { theme: 'light' as Theme };
  const seen: Seen[] = [];
  let page: Page | undefined;
  try {
    page = await openWorkbench(browser, server);
    const runsDir = path.join(workspace, 'runs');

    // 1. A fresh mlp-small profile: its trace, with the step-time counter of rank 0 expanded, and its breakdown.
    await quickOpen(page, 'commlens.json');
    await runCommand(page, 'CommLens: Profile with Config File…');
    const run = await waitForRun(runsDir, (r) => r.status !== 'running', 15 * 60_000);
    if (run.status !== 'done') throw new Error(`the mlp-small run ended ${run.status} (${run.dir})`);
    await page.locator('.tab', { hasText: 'CommLens:' }).first().waitFor({ state: 'visible', timeout: 60_000 });
    let frame = webviewFrame(page);
    await frame.locator('#app[data-state="ready"]').waitFor({ state: 'attached', timeout: 120_000 });
    await closeEditorTab(page, 'commlens.json');
    const model = await loadTraceFile(path.join(run.dir, 'trace.pftrace'));
    const rank0 = model.processes.find((p) => p.rank === 0)?.pid;
    const stepTimeTrack = model.tracks.findIndex((t) => t.pid === rank0 && t.name === 'step time');
    if (stepTimeTrack < 0) throw new Error('the run trace has no step time counter on rank 0');
    const r = (await frame
      .locator('body')
      .evaluate(
        (_, t) => (globalThis as unknown as { commlens: { trackRect(t: number): unknown } }).commlens.trackRect(t),
        stepTimeTrack,
      )) as { x: number; y: number; h: number } | null;
    if (!r) throw new Error(`the step time counter (track ${stepTimeTrack}) is not laid out`);
    await frame.locator('body').click({ position: { x: r.x + 60, y: r.y + r.h / 2 } });
    await frame.getByRole('tab', { name: 'Breakdown' }).click();
    await frame.locator('#pane svg').first().waitFor({ state: 'visible', timeout: 60_000 });
    await page.waitForTimeout(500);
    await shoot(page, o.out, 'profile', current, frame);

    // 2. The top suggestion's detail, in a bottom pane made taller (as a user drags the divider) to show all of it.
    const divider = frame.locator('.divider');
    await divider.focus();
    for (let i = 0; i < 8; i++) await divider.press('ArrowUp');
    await frame.getByRole('tab', { name: 'Suggestions' }).click();
    const top = frame.locator('ol.suggestions li.suggestion').first();
    await top.waitFor({ state: 'visible', timeout: 60_000 });
    await top.locator('.suggestion-head').click();
    const apply = frame.getByRole('button', { name: 'Apply & re-run' });
    await apply.waitFor({ state: 'visible', timeout: 10_000 });
    await page.waitForTimeout(500);
    const suggestionsText = await text(frame.locator('#pane'));
    const basis = /Step time (\S+ \S+) \(/.exec(suggestionsText);
    if (basis)
      seen.push({ surface: 'Suggestions pane: "Step time …"', figure: 'before', ns: durationsIn(basis[1])[0] });
    const nowPredicted = /Step time \(now → predicted\)\s*(\S+ \S+) → (\S+ \S+)/.exec(suggestionsText);
    if (nowPredicted) {
      seen.push({ surface: 'suggestion detail: step time now', figure: 'before', ns: durationsIn(nowPredicted[1])[0] });
      seen.push({ surface: 'suggestion detail: predicted', figure: 'predicted', ns: durationsIn(nowPredicted[2])[0] });
    }
    await shoot(page, o.out, 'suggestion', current, frame);

    // 3. Apply & re-run: the comparison.
    const before = new Set(fs.readdirSync(runsDir));
    await apply.click();
    const compared = frame.locator('#tab-compare[aria-selected="true"]');
    const refused = frame.locator('ol.suggestions li.suggestion.active .status-line', { hasText: 'Failed: ' });
    await compared
      .or(refused)
      .first()
      .waitFor({ state: 'visible', timeout: 20 * 60_000 });
    if (await refused.isVisible()) throw new Error(`the re-run was refused: ${await text(refused)}`);
    const verdict = await waitForNotification(page, /measured .*predicted|predicted .*measured/, 60_000);
    const verify = await waitForRun(
      runsDir,
      (x) => x.status === 'done' && fs.existsSync(path.join(x.dir, 'comparison.json')),
      60_000,
      before,
    );
    await runCommand(page, 'Notifications: Clear All Notifications');
    await page.waitForTimeout(800);
    const compareText = await text(frame.locator('#pane'));
    const stepRow = /Step time \(steady state\)\s+(\S+ \S+)\s+(\S+ \S+)\s+(\S+ \S+)/.exec(compareText);
    if (stepRow) {
      seen.push({ surface: 'Compare pane: before', figure: 'before', ns: durationsIn(stepRow[1])[0] });
      seen.push({ surface: 'Compare pane: predicted', figure: 'predicted', ns: durationsIn(stepRow[2])[0] });
      // The pane's After column is the re-run it opened (the last of verify's rounds), not verify's pool.
      seen.push({ surface: 'Compare pane: measured', figure: 'afterRun', ns: durationsIn(stepRow[3])[0] });
    }
    const verdictFigures = /predicted (\S+ \S+)\/step, measured (\S+ \S+)\/step/.exec(verdict);
    if (verdictFigures) {
      seen.push({
        surface: 'verdict notification: predicted',
        figure: 'predicted',
        ns: durationsIn(verdictFigures[1])[0],
      });
      seen.push({ surface: 'verdict notification: measured', figure: 'after', ns: durationsIn(verdictFigures[2])[0] });
    }
    // The panel's toolbar repeats the verdict once the re-run is loaded.
    const toolbar = await text(frame.locator('.toolbar .status'));
    const toolbarFigures = /predicted (\S+ \S+)\/step, measured (\S+ \S+)\/step/.exec(toolbar);
    if (toolbarFigures) {
      seen.push({ surface: 'panel toolbar: predicted', figure: 'predicted', ns: durationsIn(toolbarFigures[1])[0] });
      seen.push({ surface: 'panel toolbar: measured', figure: 'after', ns: durationsIn(toolbarFigures[2])[0] });
    }
    await shoot(page, o.out, 'comparison', current, frame);

    // 4. A PyTorch (Kineto) trace opened with the CommLens editor.
    await closeAllEditors(page);
    const dir = path.join(workspace, 'pytorch');
    fs.mkdirSync(dir, { recursive: true });
    const kineto = path.join(FIXTURES, 'kineto', 'hta-sampled', 'sampled_rank-0.json.gz');
    fs.copyFileSync(kineto, path.join(dir, path.basename(kineto)));
    await quickOpen(page, path.basename(kineto));
    await reopenWith(page, 'CommLens Trace');
    frame = webviewFrame(page);
    await frame.locator('#app[data-state="ready"]').waitFor({ state: 'attached', timeout: 120_000 });
    await frame.getByRole('tab', { name: 'Breakdown' }).click();
    await frame.locator('#pane svg').first().waitFor({ state: 'visible', timeout: 60_000 });
    await page.waitForTimeout(500);
    await shoot(page, o.out, 'pytorch', current, frame);

    // The figures against the runs' own summaries.
    const summary = (dirName: string): { steadyStepTimeNs: number } =>
      JSON.parse(fs.readFileSync(path.join(dirName, 'summary.json'), 'utf8')) as { steadyStepTimeNs: number };
    const written: unknown = JSON.parse(fs.readFileSync(path.join(verify.dir, 'comparison.json'), 'utf8'));
    const comparison = written as {
      predicted?: { stepTimeNs?: number };
      measured?: { stepTimeNs?: number };
    };
    // verify pools the changed runs of its rounds (analysis/verify.ts): "after" is comparison.json's.
    const ref = {
      before: summary(run.dir).steadyStepTimeNs,
      predicted: comparison.predicted?.stepTimeNs ?? NaN,
      after: comparison.measured?.stepTimeNs ?? summary(verify.dir).steadyStepTimeNs,
      afterRun: summary(verify.dir).steadyStepTimeNs,
    };
    const problems: string[] = [];
    const expected = [
      'Suggestions pane',
      'suggestion detail: step time now',
      'suggestion detail: predicted',
      'Compare pane: before',
      'Compare pane: predicted',
      'Compare pane: measured',
    ];
    for (const e of expected)
      if (!seen.some((x) => x.surface.startsWith(e))) problems.push(`found no step time on the surface "${e}"`);
    console.log(
      `step time: before ${ref.before} ns (summary.json), after ${ref.after} ns (comparison.json, verify's rounds pooled; the re-run opened: ${ref.afterRun} ns), predicted ${ref.predicted} ns (comparison.json)`,
    );
    for (const x of seen) {
      const dev = Math.abs(x.ns - ref[x.figure]) / ref[x.figure];
      const from =
        x.figure === 'predicted' || x.figure === 'after'
          ? 'comparison.json'
          : `summary.json of ${x.figure === 'afterRun' ? 'the re-run' : 'the run'}`;
      console.log(`  ${x.surface}: ${x.ns} ns (${(dev * 100).toFixed(2)} % from ${from})`);
      if (!(dev <= 0.01))
        problems.push(`${x.surface} shows ${x.ns} ns, ${(dev * 100).toFixed(1)} % off ${ref[x.figure]} ns`);
    }
    // verify's speed-up judgement: the Compare pane's speed-up rows and verdict line, and the
    // toolbar's verdict, are comparison.json's as written (extension/analysisView.ts verificationViewOf).
    const judged = verificationViewOf(written);
    const speedups = speedupRows(judged);
    if (speedups.length === 0) problems.push(`comparison.json has no predicted and measured speed-up: ${judged.text}`);
    for (const row of speedups) {
      console.log(`  Compare pane: ${row.join(' | ')}`);
      for (const cell of [row[0], row[2], row[3], row[4]])
        if (!compareText.includes(cell)) problems.push(`the Compare pane does not show "${cell}" (comparison.json)`);
    }
    // Where the step went: the prediction's split against the re-run's, every cell.
    const split = componentSplitRows(judged);
    const change =
      (written as { suggestion?: { configChange?: { strategy?: unknown; strategyOptions?: Record<string, unknown> } } })
        .suggestion?.configChange ?? {};
    // None for a strategy that synchronises every H steps (docs/figures.md).
    const periodic = syncPeriodOf(change.strategy, change.strategyOptions) !== undefined;
    if (split.length !== (periodic ? 0 : 6))
      problems.push(`the Compare pane's split has ${split.length} rows for ${String(change.strategy)}`);
    for (const row of split) {
      console.log(`  Compare pane: ${row.join(' | ')}`);
      for (const cell of row)
        if (!compareText.includes(cell)) problems.push(`the Compare pane does not show "${cell}" (comparison.json)`);
    }
    if (!compareText.includes(`Verify: ${judged.text}`))
      problems.push(`the Compare pane does not state comparison.json's verdict "${judged.text}"`);
    if (!toolbar.includes(judged.text))
      problems.push(`the toolbar does not state comparison.json's verdict: ${toolbar}`);
    // "measured 1.39× ± 0.04 faster (95 % CI …)", or older "(1.39× faster vs the baseline)".
    const dirWord = (/measured [\d.]+× (?:± [\d.]+ )?(faster|slower)/.exec(verdict) ??
      /(faster|slower|unchanged) vs the baseline/.exec(verdict))?.[1];
    const truth = ref.after < ref.before * 0.995 ? 'faster' : ref.after > ref.before * 1.005 ? 'slower' : 'unchanged';
    console.log(`verdict: ${verdict.split('\n').find((l) => /predicted/.test(l)) ?? verdict}`);
    if (dirWord !== truth)
      problems.push(`the verdict says "${dirWord ?? 'no direction'}", the step times say ${truth}`);
    if (problems.length > 0) {
      console.error(`The surfaces disagree:\n- ${problems.join('\n- ')}`);
      process.exitCode = 1;
    }
  } catch (e) {
    if (page) await page.screenshot({ path: path.join(o.out, 'failed.png') }).catch(() => undefined);
    throw e;
  } finally {
    await browser.close().catch(() => undefined);
    await server.stop();
    fs.rmSync(workspace, { recursive: true, force: true });
  }
}

/** Closes the editor tab titled `title`, if open (the run config stays out of the pictures). */
async function closeEditorTab(page: Page, title: string): Promise<void> {
  const tab = page.locator('.tabs-container .tab', { hasText: title }).first();
  if (!(await tab.isVisible())) return;
  await tab.hover();
  await tab.locator('.action-label.codicon-close, a[aria-label^="Close"]').first().click();
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exit(1);
});
