// A track's name in the label column keeps the lane number it ends with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clipLabel, clipTrackName } from '../../../webview/timeline/labelText';

/** A canvas context whose characters are 7 px wide. */
const ctx = {
  font: '12px monospace',
  measureText: (s: string) => ({ width: 7 * s.length }),
};

test("a clipped track name keeps its lane's number", () => {
  const w = 7 * 20; // room for 20 characters
  assert.equal(clipTrackName(ctx, 'host blocked on collectives (2)', w), 'host blocked on… (2)');
  assert.equal(clipTrackName(ctx, 'host blocked on collectives (12)', w), 'host blocked o… (12)');
  // Names that fit, and names without a lane number, are clipped as any label.
  assert.equal(clipTrackName(ctx, 'staging D2H/H2D (2)', w), 'staging D2H/H2D (2)');
  for (const name of ['host blocked on collectives', 'tp group 0 (ranks 0,1,2,3)'])
    assert.equal(clipTrackName(ctx, name, w), clipLabel(ctx, name, w));
  assert.equal(clipLabel(ctx, 'host blocked on collectives (2)', w), 'host blocked on col…');
});
