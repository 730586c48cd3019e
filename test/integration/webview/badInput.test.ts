import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { addTrack, emptyModel, finalizeModel, type TraceModel } from '../../../trace/model';
import type { HarnessRun } from '../../../webview/harness/node/serve';
import { viewerRun } from '../../helpers/syntheticRun';
import { appState, chromiumMissing, clickSlice, launch, openViewer, screenshot, viewWindow, waitFor } from './browser';
import { startHarness } from '../../../webview/harness/node/serve';

const skip = chromiumMissing();

/** `ranks` ranks with `tracksPerRank` compute tracks of `slicesPerTrack` kernels each. */
function manyTracks(ranks: number, tracksPerRank: number, slicesPerTrack: number): TraceModel {
  const m = emptyModel('perfetto');
  for (let r = 0; r < ranks; r++) {
    m.processes.push({ pid: r + 10, rank: r, name: `rank ${r}` });
    for (let t = 0; t < tracksPerRank; t++) {
      const track = addTrack(m, { pid: r + 10, name: `stream ${t}`, type: 'slice', stream: 'compute', gpu: true });
      for (let k = 0; k < slicesPerTrack; k++)
        m.slices.push({ track, name: `k${k % 3}`, category: 'kernel', startNs: k * 1000 + t, durNs: 600 });
    }
  }
  return finalizeModel(m);
}

describe('trace viewer on bad input', { skip }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
  });

  async function open(
    run: HarnessRun,
    shot: string,
  ): Promise<{ state: string; text: string; errors: string[]; boxes: number }> {
    const o = await openViewer(browser, { run: { analysis: null, ...run } });
    try {
      const state = await appState(o.page);
      const text = (await o.page.textContent('#app')) ?? '';
      const boxes = state === 'ready' ? (await viewWindow(o.page)).boxes : 0;
      await screenshot(o.page, shot);
      return { state, text, errors: o.errors, boxes };
    } finally {
      await o.page.close();
      await o.harness.close();
    }
  }

  it('shows how far the reading of a job has got where the timeline will be, until the trace comes', async () => {
    const harness = await startHarness({
      run: { title: 'held', model: viewerRun({ ranks: 2, steps: 2 }), analysis: null },
    });
    const page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    try {
      await page.goto(`${harness.url}?holdTrace=1`);
      await waitFor(page, `typeof window.__releaseTrace === 'function'`);
      const message = 'Reading 8 rank traces and indexing them for the timeline: 3 of 8 done, 2 from the parse cache…';
      // What extension/tracePanel.ts posts while the trace worker reads the job's ranks.
      await page.evaluate(`window.postMessage(${JSON.stringify({ type: 'status', message, busy: false })}, '*')`);
      await waitFor(page, `document.querySelector('main p.placeholder')?.textContent === ${JSON.stringify(message)}`);
      assert.equal(await page.textContent('span.status'), message);
      await screenshot(page, 'reading-progress.png');
      // No warnings yet: the banner takes no room (its border showed as an empty strip).
      assert.equal(await page.evaluate(`document.querySelector('.banner').getBoundingClientRect().height`), 0);
      await page.evaluate(`window.__releaseTrace()`);
      await waitFor(page, `document.getElementById('app')?.dataset.state === 'ready'`);
      assert.equal(await page.$('main p.placeholder'), null, 'the timeline replaced the progress');
      assert.notEqual(await page.textContent('span.status'), message);
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
      await harness.close();
    }
  });

  it('says a trace with zero spans is empty instead of showing a blank panel', async () => {
    const m = emptyModel('perfetto');
    m.processes.push({ pid: 1, rank: 0, name: 'rank 0' });
    addTrack(m, { pid: 1, name: 'compute', type: 'slice', stream: 'compute', gpu: true });
    const r = await open({ title: 'empty', model: m }, 'bad-empty.png');
    assert.equal(r.state, 'empty');
    assert.match(r.text, /This trace has no spans/);
    assert.deepEqual(r.errors, []);
  });

  it('opens a one-rank trace', async () => {
    const r = await open({ title: 'one rank', model: viewerRun({ ranks: 1, steps: 2 }) }, 'bad-one-rank.png');
    assert.equal(r.state, 'ready');
    assert.match(r.text, /1 rank\(s\)/);
    assert.ok(r.boxes > 10);
  });

  it('opens thousands of tracks with later ranks collapsed and a warning', async () => {
    const t0 = Date.now();
    const r = await open({ title: 'many tracks', model: manyTracks(40, 100, 20) }, 'bad-many-tracks.png');
    assert.equal(r.state, 'ready');
    assert.match(r.text, /4,000 tracks: rank groups after the first start collapsed/);
    assert.ok(r.boxes > 0);
    assert.ok(Date.now() - t0 < 20_000);
  });

  it('warns about zero and negative durations and still draws them', async () => {
    const m = emptyModel('chrome-json');
    m.processes.push({ pid: 1, rank: 0, name: 'rank 0' });
    const t = addTrack(m, { pid: 1, name: 'host', type: 'slice', stream: 'host', gpu: false });
    for (let k = 0; k < 50; k++)
      m.slices.push({ track: t, name: 'neg', category: 'host', startNs: k * 100, durNs: -(k % 5) - 1 });
    for (let k = 0; k < 50; k++)
      m.slices.push({ track: t, name: 'zero', category: 'host', startNs: k * 100 + 50, durNs: 0 });
    const r = await open({ title: 'bad durations', model: m }, 'bad-durations.png');
    assert.equal(r.state, 'ready');
    assert.match(r.text, /50 slice\(s\) have a negative duration/);
    assert.ok(r.boxes > 0);
  });

  it('clips huge names in labels and in the details pane', async () => {
    const m = viewerRun({ ranks: 2, steps: 1 });
    const huge = 'x'.repeat(200_000);
    const target = m.slices.findIndex((s) => s.category === 'step');
    m.slices[target].name = `step ${huge}`;
    const o = await openViewer(browser, { run: { title: 'huge name', model: m, analysis: null } });
    try {
      await clickSlice(o.page, target);
      const shown = (await o.page.textContent('.details .slice-name')) ?? '';
      assert.ok(shown.length < 2_200, `name shown clipped (${shown.length} chars)`);
      assert.match(shown, /200,005 characters/);
      await screenshot(o.page, 'bad-huge-name.png');
      assert.deepEqual(o.errors, []);
    } finally {
      await o.page.close();
      await o.harness.close();
    }
  });

  it('shows an error state for data that is not a CommLens binary trace', async () => {
    const r = await open(
      { title: 'garbage', model: emptyModel('perfetto'), data: new Uint8Array(64).fill(7).buffer },
      'bad-garbage.png',
    );
    assert.equal(r.state, 'error');
    assert.match(r.text, /not a CommLens binary trace/);
  });
});
