import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import type { Browser } from 'playwright-core';
import { traceLoader } from '../../../webview/harness/node/serve';
import { fixturesDir } from '../../helpers/paths';
import { appState, chromiumMissing, launch, openViewer, screenshot, viewWindow } from './browser';

const kineto = fixturesDir('kineto', 'hta-sampled', 'sampled_rank-0.json.gz');
const perfetto = fixturesDir('perfetto', 'flow_events_track_event.pftrace');
const load = traceLoader();
const skip = chromiumMissing() || (!load && 'trace/load is not in this checkout (the readers merge separately)');

describe('trace viewer on real traces from the shared fixtures', { skip }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
  });

  for (const [name, file] of [
    ['kineto rank 0 (HTA sample)', kineto],
    ['perfetto flow events', perfetto],
  ] as const) {
    it(`opens ${name}`, async () => {
      const model = await load!(file);
      const o = await openViewer(browser, { run: { title: path.basename(file), model, analysis: null } });
      try {
        assert.equal(await appState(o.page), 'ready');
        const w = await viewWindow(o.page);
        assert.ok(w.boxes > 0, 'some slices drawn');
        await screenshot(o.page, `real-${path.basename(file).replace(/\W+/g, '-')}.png`);
        assert.deepEqual(o.errors, []);
      } finally {
        await o.page.close();
        await o.harness.close();
      }
    });
  }
});
