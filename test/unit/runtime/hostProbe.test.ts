// The host probe's codec half (no GPU needed): every codec the runtime has, timed as its hook runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  loopbackCollectives,
  perCoreSpeed,
  PROBE_REPS,
  probeCodecs,
  probeHostLoops,
  probeOnebitAdam,
  probeOuterStep,
  SpanCpuMeter,
} from '../../../runtime/hostProbe';
import { join } from 'node:path';
import { PRESETS } from '../../../runtime/config';
import { COMPRESSORS } from '../../../analysis/compressors';

test('probeCodecs times every compressor the replay knows, per core and over the wall, positive and finite', async () => {
  const r = await probeCodecs({ ...PRESETS['mlp-small'] }, { values: 8192, reps: 1 });
  assert.deepEqual(Object.keys(r.perCore).sort(), Object.keys(COMPRESSORS).sort());
  for (const name of Object.keys(COMPRESSORS)) {
    const core = r.perCore[name],
      wall = r.wall[name];
    assert.ok(Number.isFinite(core) && core > 0, `${name}: ${core} GB/s per core`);
    assert.ok(Number.isFinite(wall) && wall > 0, `${name}: ${wall} GB/s over the wall`);
    // The thread never gets more than its wall time: per core is never slower than over the wall.
    assert.ok(core >= wall * 0.999, `${name}: per core ${core} < wall ${wall}`);
  }
});

test('the loopback group returns data of the shape a group of its size would', async () => {
  const g = loopbackCollectives(4);
  assert.equal((await g.allGatherBytes(new Uint8Array(3))).length, 12);
  assert.equal((await g.allToAllBytes(new Uint8Array(8))).length, 8);
  assert.equal((await g.reduceScatterF32(new Float32Array(8), 'sum')).length, 2);
  assert.equal((await g.allGatherF32(new Float32Array(2))).length, 8);
});

test("probeOuterStep times DiLoCo's outer-step loops: positive, finite, per core", () => {
  const r = probeOuterStep({ values: 64 * 1024, reps: 2 });
  assert.deepEqual(Object.keys(r.perCore).sort(), ['gradient', 'mix', 'nesterov']);
  for (const [k, v] of Object.entries(r.perCore)) {
    const wall = r.wall[k as keyof typeof r.wall];
    assert.ok(Number.isFinite(v) && v > 0, `${k}: ${v} GB/s per core`);
    assert.ok(
      Number.isFinite(wall) && wall > 0 && v >= wall * 0.999,
      `${k}: ${wall} GB/s over the wall, ${v} per core`,
    );
  }
});

test("probeOnebitAdam times 1-bit Adam's two host loops (momentum, update): positive, finite, per core", () => {
  const r = probeOnebitAdam({ values: 64 * 1024, reps: 2 });
  assert.deepEqual(Object.keys(r.perCore).sort(), ['momentum', 'update']);
  for (const [k, v] of Object.entries(r.perCore)) {
    const wall = r.wall[k as keyof typeof r.wall];
    assert.ok(Number.isFinite(v) && v > 0 && v >= wall * 0.999, `${k}: ${v} GB/s per core, ${wall} over the wall`);
  }
});

test('a codec or loop is priced at its fastest repetition: repetitions the scheduler interrupted do not set its speed', () => {
  // Two fast repetitions among three the scheduler cut into (the 2-of-10 probes that read 1-bit
  // Adam's codec at 0.04 GB/s per core beside busy threads of the same process, against 0.11).
  const bytes = 262_144;
  assert.equal(perCoreSpeed(bytes, [2.4e6, 6.1e6, 2.5e6, 6.3e6, 6.0e6]), bytes / 2.4e6);
  assert.equal(perCoreSpeed(bytes, [3e6]), bytes / 3e6);
  assert.ok(PROBE_REPS >= 5, 'enough repetitions that one of them likely ran uninterrupted');
});

test("a codec's CPU is its spans' own: preemptions and the collectives' copies between spans are not counted", () => {
  // Fake clocks: the process's CPU and the wall, advanced by hand.
  let cpu = 0,
    wall = 0;
  const m = new SpanCpuMeter(
    () => cpu,
    (name) => name.startsWith('encode') || name.startsWith('decode'),
  );
  /** `cpuNs` of CPU over `wallNs` of wall, then a span over the last `spanNs` of it ended. */
  const span = (name: string, cpuNs: number, wallNs: number, spanNs = wallNs) => {
    cpu += cpuNs;
    wall += wallNs;
    m.span(name, wall - spanNs, wall);
  };
  m.reset();
  // encode: 3 ms of wall, preempted for 1 of them (2 ms of CPU).
  span('encode int8', 2e6, 3e6);
  // The collective copies: 4 ms of CPU, not the codec's.
  cpu += 4e6;
  wall += 4e6;
  m.boundary();
  // decode: 2 ms of wall, all of it on the CPU; then a span that is not the codec's.
  span('decode int8', 2e6, 2e6);
  span('adam update', 1e6, 1e6);
  assert.equal(m.spanNs, 5e6, 'the spans over the wall');
  assert.equal(m.cpuNs, 4e6, "the spans' CPU, without the copies or the other span");
  // Other threads of the process busy as well, or the hook's own work before its span: never
  // more than the span's wall time.
  m.reset();
  span('encode int8', 9e6, 5e6, 3e6);
  assert.equal(m.spanNs, 3e6);
  assert.equal(m.cpuNs, 3e6);
});

test('the host loops are timed in a worker of their own; a worker that cannot start leaves them to this thread, saying why', async () => {
  const config = { ...PRESETS['mlp-small'] };
  const r = await probeHostLoops({ config, values: 8192 });
  assert.equal(r.thread, 'worker');
  assert.deepEqual(Object.keys(r.codecs.perCore).sort(), Object.keys(COMPRESSORS).sort());
  assert.ok(r.onebit.perCore.momentum > 0 && r.outer.perCore.mix > 0);
  const missing = join(__dirname, 'no-such-worker.js');
  const f = await probeHostLoops({ config, values: 8192 }, missing);
  assert.match(f.thread, /^main \(the probe's worker failed: .*no-such-worker/);
  assert.ok(f.codecs.perCore['int8-ef'] > 0 && f.onebit.perCore.update > 0);
});
