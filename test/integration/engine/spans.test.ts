/**
 * Span capture beyond one query set (2,048 spans), drains between submits, and a
 * calibration whose bound is finite.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GpuContext, UniformWriter } from '../../../runtime/engine/context';
import { hostNowNs } from '../../../runtime/clock';
import { testDevice } from './device';

const FILL = `struct U { v: f32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) { if (g.x < arrayLength(&Y)) { Y[g.x] = u.v; } }`;

test('thousands of spans across query-set chunks come back named, ordered, on the host clock', async (t) => {
  const device = await testDevice();
  if (!device) return t.skip('no WebGPU adapter');
  const ctx = new GpuContext(device, { timing: true });
  const cal = await ctx.spans!.calibrate();
  assert.ok(Number.isFinite(cal.errorNs) && cal.errorNs < 50e6, `calibration bound ${cal.errorNs} ns`);
  const y = ctx.tensor([64]);
  const pipeline = ctx.pipeline('fill', FILL);
  const t0 = hostNowNs();
  const n = 2500;
  for (let i = 0; i < n; i++) {
    ctx.dispatch({
      name: `fill ${i}`,
      pipeline,
      buffers: [y.binding()],
      uniform: new UniformWriter().f(i).build(),
      workgroups: [1],
    });
    if (i % 700 === 699) ctx.submit();
  }
  // Mid-way drain: only submitted spans come back; the rest wait for the next drain.
  const first = await ctx.spans!.drain();
  ctx.submit();
  await device.queue.onSubmittedWorkDone();
  const t1 = hostNowNs();
  const spans = [...first, ...(await ctx.spans!.drain())];
  assert.equal(spans.length, n);
  spans.forEach((s, i) => {
    assert.equal(s.name, `fill ${i}`);
    assert.ok(s.endNs >= s.startNs);
    if (i > 0) assert.ok(s.startNs >= spans[i - 1].startNs);
  });
  const slack = cal.errorNs + 1e6;
  assert.ok(spans[0].startNs >= t0 - slack && spans[n - 1].endNs <= t1 + slack);
  assert.deepEqual(await ctx.spans!.drain(), []);
  ctx.destroy();
});
