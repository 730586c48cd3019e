/**
 * Every op, forward and backward, against a float64 CPU reference on fresh random inputs
 * of several shapes (including ones that are not multiples of any tile size).
 * Forward and gradients must agree to a norm-wise relative error of 1e-4.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../../runtime/engine/random';
import { linear, matmul } from '../../../runtime/engine/ops/matmul';
import { add, mul, relu, gelu } from '../../../runtime/engine/ops/elementwise';
import { softmax } from '../../../runtime/engine/ops/softmax';
import { softmaxCrossEntropy } from '../../../runtime/engine/ops/crossEntropy';
import { layerNorm } from '../../../runtime/engine/ops/layerNorm';
import { embedding } from '../../../runtime/engine/ops/embedding';
import { causalSelfAttention } from '../../../runtime/engine/ops/attention';
import { encodeReduce } from '../../../runtime/engine/ops/reduce';
import type { Tensor } from '../../../runtime/engine/tensor';
import type { Graph } from '../../../runtime/engine/ops/graph';
import { OpHarness, relError } from './harness';
import * as ref from './reference';
import { testDevice } from './device';

const TOL = 1e-4;
const rng = new Rng(12345);

interface Input {
  shape: number[];
  data: ref.F;
  grad: boolean;
  int?: boolean;
}

/**
 * Uploads inputs, runs `gpu` forward and backward (seeded with a random dy), and compares
 * output and every differentiable input's gradient with `cpu` and its numeric gradient.
 */
async function check(
  h: OpHarness,
  label: string,
  inputs: Input[],
  gpu: (g: Graph, xs: Tensor[]) => Tensor,
  cpu: (xs: ref.F[]) => ref.F,
  /** Analytic float64 gradients (one per differentiable input), where differencing would be slow. */
  cpuGrad?: (xs: ref.F[], dy: ref.F) => ref.F[],
  tol = TOL,
): Promise<void> {
  const g = h.graph();
  const ts = inputs.map((i) => h.upload(i.shape, i.data, { grad: i.grad, int: i.int }));
  g.ctx.phase = 'forward';
  const out = gpu(g, ts);
  const y = await h.read(out);
  const yRef = cpu(inputs.map((i) => i.data));
  const ef = relError(y, yRef);
  assert.ok(ef <= tol, `${label} forward: relative error ${ef.toExponential(2)}`);
  const dy = ref.randn(out.size, rng);
  const diff = ts.filter((_, k) => inputs[k].grad);
  const grads = await h.backward(g, out, dy, diff);
  const analytic = cpuGrad?.(
    inputs.map((i) => i.data),
    dy,
  );
  let gi = 0;
  inputs.forEach((inp, k) => {
    if (!inp.grad) return;
    const want = analytic
      ? analytic[gi]
      : ref.numericGrad((x) => cpu(inputs.map((j, m) => (m === k ? x : j.data))), inp.data, dy);
    const eb = relError(grads[gi++], want);
    assert.ok(eb <= tol, `${label} grad of input ${k}: relative error ${eb.toExponential(2)}`);
  });
  g.tape.clear([]);
}

const f = (shape: number[], grad = true, scale = 1): Input => ({
  shape,
  data: ref.randn(
    shape.reduce((a, b) => a * b, 1),
    rng,
    scale,
  ),
  grad,
});

/** dx = dy·wᵀ, dw = xᵀ·dy in float64. */
const matmulGrads =
  (M: number, N: number, K: number) =>
  ([x, w]: ref.F[], dy: ref.F): ref.F[] => [
    ref.matmulRef(dy, ref.transpose(w, K, N), M, K, N),
    ref.matmulRef(ref.transpose(x, M, K), dy, K, N, M),
  ];

test('matmul forward/backward, odd shapes and batched leading dims', async (t) => {
  const device = await testDevice();
  if (!device) return t.skip('no WebGPU adapter');
  const h = new OpHarness(device);
  for (const [M, K, N] of [
    [1, 1, 1],
    [5, 7, 3],
    [33, 17, 65],
    [64, 32, 64],
    [70, 3, 129],
  ]) {
    await check(
      h,
      `matmul ${M}x${N}x${K}`,
      [f([M, K]), f([K, N])],
      (g, [x, w]) => matmul(g, x, w),
      ([x, w]) => ref.matmulRef(x, w, M, N, K),
      M * N * K > 2000 ? matmulGrads(M, N, K) : undefined,
    );
  }
  // f16 operands (mixed precision): 1e-2.
  if (h.ctx.f16) {
    h.ctx.mixedF16 = true;
    for (const [M, K, N] of [
      [5, 7, 3],
      [33, 17, 65],
      [64, 32, 64],
    ]) {
      await check(
        h,
        `matmul f16 ${M}x${N}x${K}`,
        [f([M, K]), f([K, N])],
        (g, [x, w]) => matmul(g, x, w),
        ([x, w]) => ref.matmulRef(x, w, M, N, K),
        matmulGrads(M, N, K),
        1e-2,
      );
    }
    h.ctx.mixedF16 = false;
  }
  await check(
    h,
    'matmul 3-D x',
    [f([2, 5, 7]), f([7, 6])],
    (g, [x, w]) => matmul(g, x, w),
    ([x, w]) => ref.matmulRef(x, w, 10, 6, 7),
  );
  for (const [M, K, N] of [
    [5, 7, 3],
    [12, 8, 16],
  ]) {
    await check(
      h,
      `linear ${M}x${N}x${K}`,
      [f([M, K]), f([K, N]), f([N])],
      (g, [x, w, b]) => linear(g, x, w, b),
      ([x, w, b]) => ref.binaryRef('add', ref.matmulRef(x, w, M, N, K), [M, N], b, [N]).y,
    );
  }
  // x feeds two matmuls: the second gradient contribution takes the accumulate path.
  await check(
    h,
    'matmul accumulate',
    [f([9, 11]), f([11, 5]), f([11, 5])],
    (g, [x, w1, w2]) => add(g, matmul(g, x, w1), matmul(g, x, w2)),
    ([x, w1, w2]) =>
      ref.binaryRef('add', ref.matmulRef(x, w1, 9, 5, 11), [9, 5], ref.matmulRef(x, w2, 9, 5, 11), [9, 5]).y,
  );
});

test('broadcast add and mul forward/backward', async (t) => {
  const device = await testDevice();
  if (!device) return t.skip('no WebGPU adapter');
  const h = new OpHarness(device);
  const cases: [number[], number[]][] = [
    [[4, 5], [5]],
    [
      [2, 3, 4],
      [3, 1],
    ],
    [
      [3, 1, 5],
      [1, 4, 1],
    ],
    [
      [2, 3, 4, 5],
      [3, 1, 5],
    ],
    [[7], [7]],
  ];
  for (const op of ['add', 'mul'] as const) {
    for (const [sa, sb] of cases) {
      await check(
        h,
        `${op} ${sa}|${sb}`,
        [f(sa), f(sb)],
        (g, [a, b]) => (op === 'add' ? add : mul)(g, a, b),
        ([a, b]) => ref.binaryRef(op, a, sa, b, sb).y,
      );
    }
  }
});

test('shared gradients: add passes dy on, copy on write before accumulating', async (t) => {
  const device = await testDevice();
  if (!device) return t.skip('no WebGPU adapter');
  const h = new OpHarness(device);
  // (a + b) + a: the outer add hands dy to both the inner sum and a; the inner add then
  // accumulates into a's gradient, which must not write into the shared dy.
  await check(
    h,
    '(a+b)+a',
    [f([3, 5]), f([3, 5])],
    (g, [a, b]) => add(g, add(g, a, b), a),
    ([a, b]) => a.map((v, i) => 2 * v + b[i]),
  );
  await check(
    h,
    'a+a',
    [f([4, 2])],
    (g, [a]) => add(g, a, a),
    ([a]) => a.map((v) => 2 * v),
  );
});

test('relu, gelu, softmax forward/backward', async (t) => {
  const device = await testDevice();
  if (!device) return t.skip('no WebGPU adapter');
  const h = new OpHarness(device);
  for (const shape of [[37], [3, 300]]) {
    await check(
      h,
      `relu ${shape}`,
      [f(shape)],
      (g, [x]) => relu(g, x),
      ([x]) => ref.reluRef(x),
    );
    await check(
      h,
      `gelu ${shape}`,
      [f(shape, true, 2)],
      (g, [x]) => gelu(g, x),
      ([x]) => ref.geluRef(x),
    );
  }
  for (const shape of [
    [7, 13],
    [1, 300],
    [2, 3, 5],
  ]) {
    await check(
      h,
      `softmax ${shape}`,
      [f(shape, true, 3)],
      (g, [x]) => softmax(g, x),
      ([x]) => ref.softmaxRef(x, shape[shape.length - 1]),
    );
  }
});

test('cross-entropy with ignored rows and weights', async (t) => {
  const device = await testDevice();
  if (!device) return t.skip('no WebGPU adapter');
  const h = new OpHarness(device);
  for (const [rows, cols] of [
    [9, 5],
    [3, 130],
  ]) {
    const labels = Array.from({ length: rows }, (_, r) => (r % 4 === 3 ? -1 : rng.int(cols)));
    const weights = labels.map((l) => (l < 0 ? 0 : Math.fround(0.5 + rng.next())));
    await check(
      h,
      `cross-entropy ${rows}x${cols}`,
      [
        f([rows, cols], true, 3),
        { shape: [rows], data: Float64Array.from(labels), grad: false, int: true },
        { shape: [rows], data: Float64Array.from(weights), grad: false },
      ],
      (g, [x, l, w]) => softmaxCrossEntropy(g, x, l, w),
      ([x]) => ref.crossEntropyRef(x, cols, labels, weights),
    );
  }
});

test('layer norm forward/backward', async (t) => {
  const device = await testDevice();
  if (!device) return t.skip('no WebGPU adapter');
  const h = new OpHarness(device);
  for (const shape of [
    [7, 13],
    [3, 4, 33],
  ]) {
    const d = shape[shape.length - 1];
    await check(
      h,
      `layer norm ${shape}`,
      [f(shape, true, 2), f([d]), f([d])],
      (g, [x, ga, be]) => layerNorm(g, x, ga, be),
      ([x, ga, be]) => ref.layerNormRef(x, ga, be, d),
    );
  }
});

test('embedding forward/backward (repeated tokens, pos table longer than the sequence)', async (t) => {
  const device = await testDevice();
  if (!device) return t.skip('no WebGPU adapter');
  const h = new OpHarness(device);
  for (const [batch, seq, vocab, d, posRows] of [
    [3, 5, 7, 6, 8],
    [2, 9, 3, 17, 9],
  ]) {
    const ids = Array.from({ length: batch * seq }, () => rng.int(vocab));
    await check(
      h,
      `embedding ${batch}x${seq}x${d}`,
      [{ shape: [batch, seq], data: Float64Array.from(ids), grad: false, int: true }, f([vocab, d]), f([posRows, d])],
      (g, [i, tok, pos]) => embedding(g, i, tok, pos),
      ([, tok, pos]) => ref.embeddingRef(ids, tok, pos, batch, seq, d),
    );
  }
});

test('causal self-attention forward/backward', async (t) => {
  const device = await testDevice();
  if (!device) return t.skip('no WebGPU adapter');
  const h = new OpHarness(device);
  for (const [batch, seq, heads, d] of [
    [2, 7, 2, 12],
    [1, 1, 1, 4],
    [2, 5, 3, 9],
  ]) {
    await check(
      h,
      `attention b${batch} t${seq} h${heads} d${d}`,
      [f([batch, seq, 3 * d])],
      (g, [qkv]) => causalSelfAttention(g, qkv, heads),
      ([qkv]) => ref.attentionRef(qkv, batch, seq, heads, d),
    );
  }
});

test('two-stage reductions (sum, sum of squares) over many elements', async (t) => {
  const device = await testDevice();
  if (!device) return t.skip('no WebGPU adapter');
  const h = new OpHarness(device);
  for (const n of [1, 1000, 100003]) {
    const x = ref.randn(n, rng);
    const xt = h.upload([n], x);
    for (const square of [false, true]) {
      const out = h.ctx.tensor([1]);
      encodeReduce(h.ctx, xt.binding(), n, out.binding(), { square, label: 'sum' });
      const [v] = await h.read(out);
      let want = 0;
      let mag = 0;
      for (const e of x) {
        want += square ? e * e : e;
        mag += Math.abs(square ? e * e : e);
      }
      assert.ok(Math.abs(v - want) <= TOL * mag, `sum${square ? ' of squares' : ''} of ${n}: ${v} vs ${want}`);
    }
  }
});
