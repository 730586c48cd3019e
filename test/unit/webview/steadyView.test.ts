/**
 * What the viewer shows first (issue #17): the window opens on the steady-state steps with
 * warm-up labelled, constant counters folded so two ranks of a real run fit, identical
 * warnings shown once, one formatting of signed percentages.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeTrace, encodeTrace } from '../../../trace/binary';
import { viewerRun } from '../../helpers/syntheticRun';
import { TraceIndex } from '../../../webview/timeline/traceIndex';
import { initialWindow } from '../../../webview/timeline/viewport';

const indexOf = (o: Parameters<typeof viewerRun>[0]): TraceIndex =>
  new TraceIndex(decodeTrace(encodeTrace(viewerRun(o))));

describe('the initial window: steady-state steps', () => {
  it('starts at the end of the last warm-up step and ends at the end of the trace', () => {
    const w = initialWindow(0, 1000, 600)!;
    assert.equal(w.startNs, 600);
    assert.ok(w.endNs >= 1000, `ends at or after the trace end: ${w.endNs}`);
    assert.ok(w.endNs - 1000 < 0.05 * 400, 'with a small margin only');
  });

  it('shows the whole trace without warm-up, or when warm-up does not end inside the trace', () => {
    assert.equal(initialWindow(0, 1000, undefined), undefined);
    assert.equal(initialWindow(0, 1000, NaN), undefined);
    assert.equal(initialWindow(0, 1000, 1000), undefined);
    assert.equal(initialWindow(100, 1000, 50), undefined);
  });

  it('on a run with a long step 0: the window leaves step 0 out and the step is flagged warm-up', () => {
    const index = indexOf({ ranks: 2, steps: 6, warmupNs: 200_000_000 });
    const step0 = index.steps[0];
    assert.equal(step0.label, 'step 0');
    assert.equal(step0.warmup, true);
    assert.ok(index.steps.slice(1).every((s) => !s.warmup));
    const w = initialWindow(index.extentStartNs, index.extentEndNs, index.warmup?.endNs)!;
    assert.ok(w.startNs >= step0.endNs, `window starts ${w.startNs} at or after step 0's end ${step0.endNs}`);
    assert.ok(w.startNs <= index.steps[1].startNs, 'and shows step 1 from its start');
    // Step 0 was most of the run: the steady steps now fill the screen.
    assert.ok(step0.endNs - step0.startNs > index.extentEndNs - step0.endNs);
  });
});
