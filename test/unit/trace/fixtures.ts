/** Paths of the shared fixtures (CI has shared/ beside the clone) and a synthetic CommLens model. */
import { fixturesDir } from '../../helpers/paths';
import type { TraceModel } from '../../../trace/model';
import { addTrack, emptyModel, finalizeModel } from '../../../trace/model';

export const PERFETTO_FIXTURES = fixturesDir('perfetto');

/**
 * A two-rank run: per rank a host track with a step containing nested spans, a compute
 * track with kernels, a communication track with an allReduce joined across ranks by a
 * flow, and a counter track in bytes. Epoch origin beyond 2^53 to check exactness.
 */
export function twoRankModel(): TraceModel {
  const m = emptyModel('commlens', '1732345678123456789');
  m.meta.worldSize = 2;
  m.meta.info = { preset: 'mlp-small', link: { name: 'pcie4', bandwidthGBps: 24.5 }, steps: 2 };
  for (let rank = 0; rank < 2; rank++) {
    m.processes.push({ pid: rank, rank, name: `rank ${rank}`, labels: { device: 'lavapipe' } });
    const host = addTrack(m, { pid: rank, name: 'host', type: 'slice', stream: 'host', gpu: false, sourceId: 1 });
    const compute = addTrack(m, { pid: rank, name: 'compute', type: 'slice', stream: 'compute', gpu: true, order: 1 });
    const comm = addTrack(m, {
      pid: rank,
      name: 'communication',
      type: 'slice',
      stream: 'communication',
      gpu: true,
      sourceId: 'queue-b',
    });
    const mem = addTrack(m, {
      pid: rank,
      name: 'bytes in flight',
      type: 'counter',
      stream: 'communication',
      gpu: false,
      unit: 'bytes',
    });
    const off = rank * 250.5;
    m.slices.push({
      track: host,
      name: 'step 0',
      category: 'step',
      startNs: 0,
      durNs: 10_000 + off,
      args: { step: 0 },
    });
    m.slices.push({ track: host, name: 'forward', category: 'host', startNs: 0, durNs: 3_000 });
    m.slices.push({
      track: host,
      name: 'backward',
      category: 'host',
      startNs: 3_000,
      durNs: 4_000,
      args: { note: 'ünïcode ✓' },
    });
    m.slices.push({
      track: compute,
      name: 'matmul',
      category: 'kernel',
      rawCategory: 'wgsl',
      startNs: 100 + off,
      durNs: 2_000,
      args: { shape: [64, 128], flops: 1.5e9 },
    });
    m.slices.push({
      track: compute,
      name: 'matmul',
      category: 'kernel',
      rawCategory: 'wgsl',
      startNs: 2_100 + off,
      durNs: 2_000,
      args: { shape: [128, 64], ok: true, none: null },
    });
    m.slices.push({
      track: comm,
      name: 'allReduce',
      category: 'collective',
      startNs: 7_000 + off,
      durNs: 2_500.25,
      args: { op: 'allReduce', seq: 0, bytes: 4_194_304, algorithm: 'ring', busbwGBps: 12.75, shape: [1024, 1024] },
    });
    m.counters.push({ track: mem, tsNs: [7_000 + off, 9_500 + off], values: [4_194_304, 0] });
  }
  finalizeModel(m);
  const ar0 = m.slices.findIndex((s) => s.name === 'allReduce' && m.tracks[s.track].pid === 0);
  const ar1 = m.slices.findIndex((s) => s.name === 'allReduce' && m.tracks[s.track].pid === 1);
  m.flows.push({ id: 7, from: ar0, to: ar1 });
  return m;
}
