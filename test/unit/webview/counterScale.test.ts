import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeTrace, encodeTrace } from '../../../trace/binary';
import { addTrack, emptyModel, finalizeModel, type TraceModel } from '../../../trace/model';
import {
  counterScale,
  offScale,
  warmupInflates,
  warmupWindow,
  WARMUP_SCALE_FACTOR,
} from '../../../webview/timeline/counterScale';
import { tooltipFor } from '../../../webview/timeline/tooltip';
import { TraceIndex } from '../../../webview/timeline/traceIndex';

const MS = 1e6;

/**
 * A CommLens-like run: `ranks` ranks, steps of the given lengths (ms) on each rank's host track,
 * and per rank a step-time counter and a loss counter sampled at each step's start (as
 * runtime/runTrace.ts writes them) or end.
 */
function run(
  stepMs: number[],
  opts: { ranks?: number; recorded?: number[]; format?: 'commlens' | 'chrome-json'; sampleAt?: 'start' | 'end' } = {},
) {
  const m: TraceModel = emptyModel(opts.format ?? 'commlens');
  if ((opts.format ?? 'commlens') === 'commlens') m.meta.info = { tool: 'commlens' };
  if (opts.recorded) m.meta.info = { ...m.meta.info, warmupSteps: opts.recorded };
  const stepTime: number[] = [],
    loss: number[] = [];
  for (let r = 0; r < (opts.ranks ?? 2); r++) {
    const pid = r + 1;
    m.processes.push({ pid, rank: r, name: `rank ${r}` });
    const host = addTrack(m, { pid, name: 'host', type: 'slice', stream: 'host', gpu: false });
    const st = addTrack(m, { pid, name: 'step time', type: 'counter', stream: 'other', gpu: false, unit: 'ms' });
    const lo = addTrack(m, { pid, name: 'loss', type: 'counter', stream: 'other', gpu: false, unit: '1' });
    stepTime.push(st);
    loss.push(lo);
    const stSeries = { track: st, tsNs: [] as number[], values: [] as number[] };
    const lossSeries = { track: lo, tsNs: [] as number[], values: [] as number[] };
    let t = 0;
    stepMs.forEach((d, i) => {
      // Rank r ends each step a little after rank 0 (skew), as real ranks do.
      const dur = d * MS + r * 0.01 * MS;
      m.slices.push({ track: host, name: `step ${i}`, category: 'step', startNs: t, durNs: dur, args: { step: i } });
      const ts = opts.sampleAt === 'end' ? t + dur : t;
      t += dur;
      stSeries.tsNs.push(ts);
      stSeries.values.push(dur / MS);
      lossSeries.tsNs.push(ts);
      lossSeries.values.push(i === 0 ? 2.4 : 0.5 - 0.05 * i);
      t += 0.05 * MS;
    });
    m.counters.push(stSeries, lossSeries);
  }
  return { model: finalizeModel(m), stepTime, loss };
}

describe('counter scale: warm-up does not set the scale', () => {
  it('scales a step-time series to its steady-state samples when warm-up dominates', () => {
    const series = [{ ts: [10, 20, 30, 40, 50], values: [18_000, 12, 11, 13, 12] }];
    // Without a warm-up window: the old scale, 0 to the warm-up step's 18 s.
    assert.deepEqual(counterScale(series), { lo: 0, hi: 18_000, steadyState: false });
    // Samples up to t = 10 are warm-up: the scale is the steady state's, 0 to 13 ms.
    const s = counterScale(series, 10)!;
    assert.deepEqual(s, { lo: 0, hi: 13, steadyState: true });
    assert.ok(offScale(s, 18_000));
    assert.ok(!offScale(s, 12));
  });

  it('keeps the whole range when warm-up stays within the factor', () => {
    // A loss that starts 10 % higher: warm-up does not dominate, nothing is clipped.
    const loss = [{ ts: [10, 20, 30, 40], values: [2.4, 2.3, 2.2, 2.1] }];
    assert.deepEqual(counterScale(loss, 10), { lo: 0, hi: 2.4, steadyState: false });
    // Just beyond the factor it does.
    const edge = [{ ts: [10, 20], values: [WARMUP_SCALE_FACTOR * 10 + 0.1, 10] }];
    assert.equal(counterScale(edge, 10)!.steadyState, true);
    // Only warm-up samples, or no finite sample at all.
    assert.equal(counterScale([{ ts: [10], values: [5] }], 10)!.steadyState, false);
    assert.equal(counterScale([{ ts: [10], values: [NaN] }], 10), undefined);
  });

  it('applies only to counters warm-up inflates: times and bytes', () => {
    for (const u of ['ms', 's', 'ns', 'bytes']) assert.ok(warmupInflates(u), u);
    for (const u of ['1', undefined, 'GB/s']) assert.ok(!warmupInflates(u), String(u));
  });

  it('finds the warm-up window from the run record, else by the rule, ending on the last rank', () => {
    const steps = [
      { startNs: 0, endNs: 100, label: 'step 0', pid: 1 },
      { startNs: 110, endNs: 120, label: 'step 1', pid: 1 },
      { startNs: 130, endNs: 141, label: 'step 2', pid: 1 },
      { startNs: 150, endNs: 160, label: 'step 3', pid: 1 },
    ];
    const other = steps.map((s) => ({ ...s, endNs: s.endNs + 2, pid: 2 }));
    const ruled = warmupWindow({ format: 'commlens', info: { tool: 'commlens' } }, steps, [...steps, ...other]);
    assert.deepEqual(ruled, {
      steps: [0],
      endNs: 102,
      endNsByPid: new Map([
        [1, 100],
        [2, 102],
      ]),
      source: 'rule',
    });
    const recorded = warmupWindow({ format: 'commlens', info: { tool: 'commlens', warmupSteps: [0, 1] } }, steps, [
      ...steps,
      ...other,
    ]);
    assert.equal(recorded?.source, 'run metadata');
    assert.deepEqual(recorded?.steps, [0, 1]);
    assert.equal(recorded?.endNs, 122);
    assert.equal(recorded?.endNsByPid.get(1), 120);
    // Nothing recorded and the trace is a window of the run: its first step is not warm-up for being first.
    const even = steps.map((s, i) => ({ ...s, endNs: s.startNs + 10, label: `step ${i + 5}` }));
    assert.equal(warmupWindow({ format: 'commlens', info: { tool: 'commlens' } }, even, even, true), undefined);
    // An imported trace: the first step is warm-up only when it is slow.
    assert.equal(warmupWindow({ format: 'chrome-json' }, even, even), undefined);
    assert.equal(warmupWindow({ format: 'chrome-json' }, steps, steps)?.steps[0], 0);
  });

  it('the timeline index scales the step-time counter to the steady state and the loss to its whole range', () => {
    for (const sampleAt of ['start', 'end'] as const) {
      const { model, stepTime, loss } = run([15_000, 12, 11, 13, 12, 12], { ranks: 3, sampleAt });
      const idx = new TraceIndex(decodeTrace(encodeTrace(model)));
      assert.deepEqual(idx.warmup?.steps, [0]);
      for (const t of stepTime) {
        const s = idx.tracks[t].scale!;
        assert.equal(s.steadyState, true, `step time is on the steady-state scale (sampled at the step's ${sampleAt})`);
        assert.ok(s.hi < 14 && s.hi >= 13, `scale top is the slowest steady-state step, got ${s.hi}`);
        assert.equal(s.lo, 0);
      }
      // The loss starts 5x higher than it goes on: training, not warm-up; it keeps its whole range.
      for (const t of loss) assert.deepEqual(idx.tracks[t].scale, { lo: 0, hi: 2.4, steadyState: false });
    }
    // The run's own record wins over the rule.
    const recorded = run([15_000, 900, 11, 13, 12, 12], { recorded: [0, 1] });
    const rec = new TraceIndex(decodeTrace(encodeTrace(recorded.model)));
    assert.deepEqual(rec.warmup?.steps, [0, 1]);
    assert.ok(rec.tracks[recorded.stepTime[0]].scale!.hi < 14);
  });

  it('the tooltip of a clipped warm-up sample gives its value and says it is off the scale', () => {
    const { model, stepTime } = run([15_000, 12, 11, 13, 12, 12]);
    const idx = new TraceIndex(decodeTrace(encodeTrace(model)));
    const series = model.counters.find((c) => c.track === stepTime[0])!;
    const atWarmup = tooltipFor(idx, -1, stepTime[0], series.tsNs[0] + 1, 0)!;
    assert.ok(atWarmup.lines.includes('15 s'), atWarmup.lines.join(' | '));
    assert.ok(
      atWarmup.lines.some((l) => l.startsWith('warm-up: beyond the steady-state scale (0 – 13')),
      atWarmup.lines.join(' | '),
    );
    const steady = tooltipFor(idx, -1, stepTime[0], series.tsNs[3] + 1, 0)!;
    assert.ok(!steady.lines.some((l) => l.startsWith('warm-up')), steady.lines.join(' | '));
  });

  it('an imported trace without a slow first step keeps every counter on its whole range', () => {
    const { model, stepTime } = run([12, 11, 13, 12, 12], { format: 'chrome-json' });
    const idx = new TraceIndex(decodeTrace(encodeTrace(model)));
    assert.equal(idx.warmup, undefined);
    assert.equal(idx.tracks[stepTime[0]].scale!.steadyState, false);
  });
});
