// Concurrent spans of a run (two buckets' staging copies, the host blocked on two collectives)
// go on lanes, so the trace file says what the run's own model says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { RunTrace } from '../../../runtime/runTrace';
import type { RankSpan } from '../../../runtime/rankMessages';
import { loadTraceFile } from '../../../trace/load';
import type { TraceModel } from '../../../trace/model';

const mem = { parameters: 0, gradients: 0, optimizerState: 0, activations: 0, communication: 0 };

/** Slices of rank 0 other than the host's, as (track name, name, start, end), in time order. */
function spansOf(m: TraceModel): string[] {
  return m.slices
    .filter((s) => m.tracks[s.track].pid === 1 && m.tracks[s.track].stream !== 'host')
    .map((s) => `${m.tracks[s.track].name}|${s.name}|${s.startNs}|${s.startNs + s.durNs}`)
    .sort();
}

test('spans in flight together go on lanes: the file holds every span whole, as the run recorded it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'commlens-lanes-'));
  try {
    const file = join(dir, 'trace.pftrace');
    const trace = new RunTrace(file, 1, 0, 0n, {});
    const step = (i: number, spans: RankSpan[]): void =>
      trace.addStep({
        type: 'step',
        rank: 0,
        step: i,
        loss: 1,
        startNs: i * 10_000,
        endNs: i * 10_000 + 9_000,
        spans,
        bytes: 0,
        wireBytes: 0,
        memory: mem,
      });
    const copy = (name: string, startNs: number, endNs: number): RankSpan => ({
      name,
      startNs,
      endNs,
      stream: 'staging',
      category: 'staging',
      args: { direction: name.toLowerCase(), bytes: 1024 },
    });
    const wait = (startNs: number, endNs: number): RankSpan => ({
      name: 'wait allReduce',
      startNs,
      endNs,
      stream: 'wait',
      category: 'wait',
    });
    // Step 0: copies A [100, 1000) and B [200, 1500) overlap without nesting, C [300, 600)
    // inside both, D after A: three lanes, D back on the first. The host blocked on two
    // collectives at once.
    step(0, [
      copy('D2H', 200, 1_500),
      copy('D2H', 100, 1_000),
      copy('D2H', 300, 600),
      copy('H2D', 1_000, 1_200),
      wait(2_000, 5_000),
      wait(2_500, 6_000),
      { name: 'forward', startNs: 0, endNs: 8_000, stream: 'host', category: 'host' },
      { name: 'matmul', startNs: 10, endNs: 90, stream: 'host', category: 'host' },
    ]);
    // Step 1: one copy, on the first lane again.
    step(1, [copy('D2H', 10_100, 10_900)]);
    trace.close();
    const fromFile = await loadTraceFile(file);
    const want = [
      'staging D2H/H2D|D2H|100|1000',
      'staging D2H/H2D|H2D|1000|1200',
      'staging D2H/H2D (2)|D2H|200|1500',
      'staging D2H/H2D (3)|D2H|300|600',
      'host blocked on collectives|wait allReduce|2000|5000',
      'host blocked on collectives (2)|wait allReduce|2500|6000',
      'staging D2H/H2D|D2H|10100|10900',
    ].sort();
    assert.deepEqual(spansOf(trace.model), want, "the run's model");
    assert.deepEqual(spansOf(fromFile), want, 'the file');
    for (const m of [trace.model, fromFile])
      assert.ok(!m.warnings.some((w) => /clipped/.test(w)), `nothing clipped: ${m.warnings.join('; ')}`);
    // Host spans nest as they are (a kernel inside its phase): no lanes for them.
    const host = fromFile.slices.filter((s) => fromFile.tracks[s.track].stream === 'host');
    assert.deepEqual(
      host.map((s) => [fromFile.tracks[s.track].name, s.name, s.depth]),
      [
        ['host', 'forward', 0],
        ['host', 'matmul', 1],
      ],
    );
    // A lane sits right after its track, with its stream.
    const lane = fromFile.tracks.find((t) => t.name === 'staging D2H/H2D (2)')!;
    const first = fromFile.tracks.find((t) => t.name === 'staging D2H/H2D' && t.pid === lane.pid)!;
    assert.equal(lane.stream, 'staging');
    assert.equal(lane.order, first.order);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
