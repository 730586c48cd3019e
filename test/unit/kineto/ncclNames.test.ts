// NCCL and RCCL kernel names of each release: op, algorithm, protocol and dtype, and one collective each.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNcclKernelName, dtypeBytes } from '../../../trace/kinetoCollectives';
import { importKineto } from '../../../trace/kineto';

test("kernel names in both of NCCL's orders, RCCL's, and the generic ones", () => {
  const cases: [string, ReturnType<typeof parseNcclKernelName>][] = [
    [
      'ncclKernel_AllReduce_RING_LL_Sum_float(ncclDevComm*, unsigned long, ncclWork*)',
      { op: 'allReduce', algorithm: 'RING', protocol: 'LL', dtype: 'float' },
    ],
    [
      'ncclDevKernel_AllReduce_Sum_f32_RING_LL(ncclDevComm*, unsigned long, ncclWork*)',
      { op: 'allReduce', dtype: 'f32', algorithm: 'RING', protocol: 'LL' },
    ],
    [
      'ncclDevKernel_ReduceScatter_Sum_bf16_RING_LL128',
      { op: 'reduceScatter', dtype: 'bf16', algorithm: 'RING', protocol: 'LL128' },
    ],
    [
      'ncclKernel_AllReduce_COLLNET_DIRECT_SIMPLE_Sum_half',
      { op: 'allReduce', algorithm: 'COLLNETDIRECT', protocol: 'SIMPLE', dtype: 'half' },
    ],
    [
      'ncclKernel_SendRecv_RING_SIMPLE_Sum_int8_t',
      { op: 'sendRecv', algorithm: 'RING', protocol: 'SIMPLE', dtype: 'int8_t' },
    ],
    ['ncclDevKernel_AllGather_RING_LL', { op: 'allGather', algorithm: 'RING', protocol: 'LL' }],
    ['ncclDevKernel_Generic', {}],
    ['ncclDevKernel_SendRecv(ncclDevComm*)', { op: 'sendRecv' }],
  ];
  for (const [name, want] of cases) assert.deepEqual(parseNcclKernelName(name), want, name);
  assert.equal(dtypeBytes('f32'), 4);
  assert.equal(dtypeBytes('bf16'), 2);
  assert.equal(dtypeBytes('u8'), 1);
});

test("a trace with new-style NCCL names: each kernel one collective, sized from its name's dtype", () => {
  const ev = [];
  for (let i = 0; i < 3; i++) {
    ev.push({
      ph: 'X',
      cat: 'cuda_runtime',
      name: 'cudaLaunchKernelExC',
      pid: 1,
      tid: 1,
      ts: 1000 + i * 100,
      dur: 5,
      args: { correlation: i + 1 },
    });
    ev.push({
      ph: 'X',
      cat: 'kernel',
      name: 'ncclDevKernel_AllReduce_Sum_f32_RING_LL(ncclDevComm*, unsigned long, ncclWork*)',
      pid: 0,
      tid: 20,
      ts: 1010 + i * 100,
      dur: 50,
      args: { stream: 20, correlation: i + 1, 'In msg nelems': 256 },
    });
    // A gloo-looking CPU op and a c10d launcher do not add collectives when NCCL kernels are there.
    ev.push({ ph: 'X', cat: 'cpu_op', name: 'c10d::allreduce_', pid: 1, tid: 1, ts: 999 + i * 100, dur: 20 });
  }
  const m = importKineto({ distributedInfo: { rank: 0, world_size: 2 }, traceEvents: ev });
  const coll = m.slices.filter((s) => s.category === 'collective');
  assert.equal(coll.length, 3);
  for (const c of coll) {
    assert.equal(c.args?.op, 'allReduce');
    assert.equal(c.args?.bytes, 256 * 4);
    assert.equal(c.args?.algorithm, 'RING_LL');
  }
});
