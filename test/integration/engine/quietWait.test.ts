// Waiting for lavapipe without spinning on its cores (runtime/gpu/quietWait.ts). dawn-node
// settles mapAsync by ticking the device from the event loop continuously, so the awaiting
// thread keeps a core busy; on a software GPU that core is one the kernels need. Through
// `quietly` the thread sleeps between ticks: here its own CPU time over a long kernel's wait
// must be a small share of the wall time, and well under what dawn's own polling takes over
// the same kernel. (CPU shares, not speeds: the speed-up is a benchmark's business.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { isSoftwareAdapter } from '../../../runtime/gpu/dawn';
import { quietly, quietGpuWaits } from '../../../runtime/gpu/quietWait';
import { testAdapter, testDevice } from './device';

/** This (the main) thread's CPU time, ms (Linux /proc; 10 ms resolution). */
function mainThreadCpuMs(): number {
  const f = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

test('a software GPU is waited for quietly: the waiting thread sleeps instead of spinning', async (t) => {
  const adapter = await testAdapter();
  const device = await testDevice();
  if (!adapter || !device) return t.skip('no WebGPU device');
  const soft = isSoftwareAdapter(adapter);
  assert.equal(quietGpuWaits(), soft && process.env.COMMLENS_GPU_WAIT !== 'spin', 'quiet waits follow the adapter');
  if (!soft) return t.skip('a hardware adapter: dawn keeps its own polling');

  const n = 1 << 18;
  const buf = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const rb = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const module = device.createShaderModule({
    code: `override iters: u32 = 1;
@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  var x = 0.0;
  for (var i = 0u; i < iters; i++) { x = x * 0.999 + 1.0; }
  a[g.x] = x;
}`,
  });
  const run = async (iters: number, wait: (p: Promise<undefined>) => Promise<undefined>) => {
    const pipeline = device.createComputePipeline({
      layout: 'auto',
      compute: { module, entryPoint: 'main', constants: { iters } },
    });
    const bg = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: buf } }],
    });
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bg);
    pass.dispatchWorkgroups(n / 64);
    pass.end();
    enc.copyBufferToBuffer(buf, 0, rb, 0, n * 4);
    device.queue.submit([enc.finish()]);
    const c0 = mainThreadCpuMs();
    const t0 = performance.now();
    await wait(rb.mapAsync(GPUMapMode.READ));
    const wallMs = performance.now() - t0;
    const cpuMs = mainThreadCpuMs() - c0;
    const first = new Float32Array(rb.getMappedRange(0, 4))[0];
    rb.unmap();
    return { wallMs, cpuMs, first };
  };
  // A kernel long enough to read a thread's CPU share over (≥ 400 ms: /proc counts 10 ms ticks).
  let iters = 256;
  let quiet: Awaited<ReturnType<typeof run>>;
  let spin: Awaited<ReturnType<typeof run>>;
  try {
    for (;;) {
      const r = await run(iters, quietly);
      if (r.wallMs >= 400 || iters >= 1 << 22) break;
      iters *= 2;
    }
    quiet = await run(iters, quietly);
    spin = await run(iters, (p) => p);
  } finally {
    buf.destroy();
    rb.destroy();
  }
  // x after k steps of x = 0.999x + 1 from 0: (1 − 0.999^k) / 0.001.
  const expected = (1 - Math.pow(0.999, iters)) / 0.001;
  assert.ok(
    Math.abs(quiet.first - expected) / expected < 1e-3,
    `the kernel's result came back (${quiet.first} vs ${expected})`,
  );
  const qShare = quiet.cpuMs / quiet.wallMs;
  const sShare = spin.cpuMs / spin.wallMs;
  t.diagnostic(
    `iters ${iters}: quiet ${quiet.cpuMs} ms CPU over ${quiet.wallMs.toFixed(0)} ms; dawn's polling ${spin.cpuMs} ms over ${spin.wallMs.toFixed(0)} ms`,
  );
  // dawn's polling thread is one of LP_NUM_THREADS + 1 runnable threads here, so it gets a
  // share of the cores, not a whole one (~20 % on 2 cores with 8 lavapipe threads).
  assert.ok(qShare < 0.15, `waiting quietly took ${(100 * qShare).toFixed(0)} % of a core (expected under 15 %)`);
  assert.ok(
    quiet.cpuMs < 0.6 * spin.cpuMs,
    `quietly ${quiet.cpuMs} ms CPU, dawn's own polling ${spin.cpuMs} ms: expected well under`,
  );
  assert.ok(sShare > qShare, 'dawn polls while a promise is pending (else quietWait.ts has nothing left to do)');
});
