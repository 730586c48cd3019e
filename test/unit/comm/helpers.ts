// Shared helpers of the communication tests: run a local world of worker ranks and
// compute naive references from the same deterministic payloads the ranks used.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { CallsResult, CallsTask } from '../../../runtime/comm/harness';
import { runLocalWorld } from '../../../runtime/comm/localWorld';
import { Dtype, f16ToF32Table, ReduceOp, TypedData } from '../../../runtime/comm/dtypes';
import { randomPayload } from '../../../runtime/comm/testData';
import { TopologyConfig } from '../../../runtime/comm/world';

export const workerPath = path.resolve(__dirname, '../../../runtime/commBenchWorker.js');

export function runCalls(
  worldSize: number,
  task: Omit<CallsTask, 'kind'>,
  opts: {
    topology?: TopologyConfig;
    timeoutMs?: number;
    chunkBytes?: number;
    slots?: number;
    maxBytes?: number;
    algorithms?: Record<string, string>;
  } = {},
): Promise<CallsResult[]> {
  return runLocalWorld<CallsResult>({
    worldSize,
    workerPath,
    topology: opts.topology ?? { link: 'none' },
    timeoutMs: opts.timeoutMs ?? 20_000,
    chunkBytes: opts.chunkBytes ?? 4096,
    slots: opts.slots,
    maxBytes: opts.maxBytes,
    algorithms: opts.algorithms,
    task: { kind: 'calls', ...task },
  });
}

export function toNumbers(dtype: Dtype, a: TypedData): number[] {
  if (dtype === 'f16') {
    const t = f16ToF32Table();
    return Array.from(a as Uint16Array, (h) => t[h]);
  }
  return Array.from(a as ArrayLike<number>);
}

/** The inputs every rank used for call c (rank order = `ranks`). */
export function inputsOf(ranks: number[], dtype: Dtype, count: number, seed: number, call: number): number[][] {
  return ranks.map((r) => toNumbers(dtype, randomPayload(dtype, count, seed, r, call)));
}

/**
 * Naive reduction over ranks with a tolerance per element: exact for integers (sums
 * wrap modulo 256 like NCCL), summation-order rounding bounds for floats.
 */
export function reference(dtype: Dtype, op: ReduceOp, inputs: number[][]): { value: number[]; tol: number[] } {
  const n = inputs.length;
  const len = inputs[0]?.length ?? 0;
  const value: number[] = [];
  const tol: number[] = [];
  const eps = dtype === 'f32' ? 2 ** -23 : dtype === 'f16' ? 2 ** -10 : 0;
  for (let i = 0; i < len; i++) {
    let acc = op === 'max' ? -Infinity : 0;
    let mag = 0;
    for (const x of inputs) {
      acc = op === 'max' ? Math.max(acc, x[i]) : acc + x[i];
      mag += Math.abs(x[i]);
    }
    if (op !== 'max') {
      if (dtype === 'int8') acc = (acc << 24) >> 24;
      if (dtype === 'uint8') acc = acc & 255;
      if (op === 'avg') {
        acc = dtype === 'f32' || dtype === 'f16' ? acc / n : Math.trunc(acc / n);
        mag /= n;
      }
    }
    value.push(acc);
    tol.push(op === 'max' ? 0 : eps * n * (mag + 1e-3));
  }
  return { value, tol };
}

export function assertClose(dtype: Dtype, got: TypedData, ref: { value: number[]; tol: number[] }, what: string): void {
  const g = toNumbers(dtype, got);
  assert.equal(g.length, ref.value.length, `${what}: length`);
  for (let i = 0; i < g.length; i++) {
    const d = Math.abs(g[i] - ref.value[i]);
    if (!(d <= ref.tol[i])) assert.fail(`${what}: element ${i} = ${g[i]}, expected ${ref.value[i]} ± ${ref.tol[i]}`);
  }
}
