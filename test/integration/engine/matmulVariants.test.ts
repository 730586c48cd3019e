/**
 * Every matmul variant, every operand layout it supports, in f32 (≤ 1e-4) and with f16
 * operands (≤ 1e-2), against a float64 reference; shapes include non-multiples of every
 * tile size. Also: the selection always returns a variant that supports the shape.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../../runtime/engine/random';
import { encodeMatmul } from '../../../runtime/engine/ops/matmul';
import { MATMUL_VARIANTS, variantById } from '../../../runtime/engine/ops/matmulKernels';
import { chooseMatmulVariant, TEXTURE_MIN_FLOPS } from '../../../runtime/engine/ops/matmulSelect';
import { castToF16 } from '../../../runtime/engine/ops/cast';
import { OpHarness, relError } from './harness';
import { matmulRef, randn, transpose } from './reference';
import { testDevice } from './device';

const rng = new Rng(777);

const SHAPES: [number, number, number][] = [
  [4, 4, 4],
  [12, 20, 8],
  [68, 36, 44],
  [3, 5, 7],
  [65, 33, 17],
  [1, 64, 9],
];

test('matmul variants × layouts × dtypes match float64', async (t) => {
  const device = await testDevice();
  if (!device) return t.skip('no WebGPU adapter');
  const h = new OpHarness(device);
  let checked = 0;
  for (const [M, N, K] of SHAPES) {
    const a = randn(M * K, rng);
    const b = randn(K * N, rng);
    const c0 = randn(M * N, rng);
    const want = matmulRef(a, b, M, N, K);
    for (const [transA, transB] of [
      [false, false],
      [false, true],
      [true, false],
    ] as const) {
      const shape = { M, N, K, transA, transB };
      const at = h.upload([M * K], transA ? transpose(a, M, K) : a);
      const bt = h.upload([K * N], transB ? transpose(b, K, N) : b);
      for (const v of MATMUL_VARIANTS) {
        if (!v.supports(shape)) continue;
        for (const dtype of h.ctx.f16 ? (['f32', 'f16'] as const) : (['f32'] as const)) {
          const [ax, bx] = dtype === 'f16' ? [castToF16(h.ctx, at), castToF16(h.ctx, bt)] : [at, bt];
          for (const accumulate of [false, true]) {
            const c = h.upload([M, N], c0);
            encodeMatmul(
              h.ctx,
              {
                ...shape,
                a: ax.binding(),
                b: bx.binding(),
                c: c.binding(),
                variant: v,
                dtype,
                accumulate,
                alpha: accumulate ? 0.5 : 1,
              },
              'test',
            );
            const got = await h.read(c);
            const ref = accumulate ? want.map((x, i) => 0.5 * x + c0[i]) : want;
            const err = relError(got, ref);
            assert.ok(
              err <= (dtype === 'f16' ? 1e-2 : 1e-4),
              `${v.id} ${dtype} ${M}x${N}x${K} transA=${transA} transB=${transB} acc=${accumulate}: relative error ${err.toExponential(2)}`,
            );
            h.ctx.release(c);
            checked++;
          }
          if (dtype === 'f16') [ax, bx].forEach((x) => h.ctx.release(x));
        }
      }
      if (!transA && !transB) {
        // Fused bias epilogue.
        const bias = randn(N, rng);
        const bt2 = h.upload([N], bias);
        for (const v of MATMUL_VARIANTS.filter((x) => x.supports(shape))) {
          const c = h.upload([M, N], c0);
          encodeMatmul(
            h.ctx,
            { ...shape, a: at.binding(), b: bt.binding(), c: c.binding(), variant: v, bias: bt2.binding() },
            'test',
          );
          const err = relError(
            await h.read(c),
            want.map((x, i) => x + bias[i % N]),
          );
          assert.ok(err <= 1e-4, `${v.id} +bias ${M}x${N}x${K}: relative error ${err.toExponential(2)}`);
          h.ctx.release(c);
        }
      }
      const pick = chooseMatmulVariant(h.ctx, shape, 'f32');
      assert.ok(pick.supports(shape), `chosen ${pick.id} must support ${M}x${N}x${K}`);
    }
  }
  assert.ok(checked > 100, `checked ${checked} combinations`);
});

test('batched products (one per expert, strides between them) match float64 in every variant that takes a batch', async (t) => {
  const device = await testDevice();
  if (!device) return t.skip('no WebGPU adapter');
  const h = new OpHarness(device);
  const batch = 3;
  let checked = 0;
  for (const [M, N, K] of [
    [68, 72, 40],
    [12, 20, 8],
    [5, 8, 3],
  ] as [number, number, number][]) {
    const a = randn(batch * M * K, rng);
    const b = randn(batch * K * N, rng);
    const want = new Float64Array(batch * M * N);
    for (let z = 0; z < batch; z++)
      want.set(
        matmulRef(a.subarray(z * M * K, (z + 1) * M * K), b.subarray(z * K * N, (z + 1) * K * N), M, N, K),
        z * M * N,
      );
    for (const [transA, transB] of [
      [false, false],
      [false, true],
      [true, false],
    ] as const) {
      const shape = { M, N, K, transA, transB, batch };
      const per = (x: Float64Array, rows: number, cols: number, tr: boolean) => {
        const out = new Float64Array(x.length);
        for (let z = 0; z < batch; z++) {
          const m = x.subarray(z * rows * cols, (z + 1) * rows * cols);
          out.set(tr ? transpose(m, rows, cols) : m, z * rows * cols);
        }
        return out;
      };
      const at = h.upload([batch * M * K], per(a, M, K, transA));
      const bt = h.upload([batch * K * N], per(b, K, N, transB));
      const strides = { strideA: M * K, strideB: K * N, strideC: M * N };
      for (const v of MATMUL_VARIANTS) {
        if (!v.supports(shape) || (v.vec4 && Object.values(strides).some((x) => x % 4 !== 0))) continue;
        const c = h.upload([batch * M * N], new Float64Array(batch * M * N));
        encodeMatmul(
          h.ctx,
          { ...shape, ...strides, a: at.binding(), b: bt.binding(), c: c.binding(), variant: v },
          'test',
        );
        const err = relError(await h.read(c), want);
        assert.ok(
          err <= 1e-4,
          `${v.id} batch ${batch} × ${M}x${N}x${K} transA=${transA} transB=${transB}: relative error ${err.toExponential(2)}`,
        );
        h.ctx.release(c);
        checked++;
      }
      const pick = chooseMatmulVariant(h.ctx, shape, 'f32');
      assert.ok(pick.supports(shape), `chosen ${pick.id} must support batch ${batch} × ${M}x${N}x${K}`);
    }
  }
  assert.ok(checked >= 15, `checked ${checked} combinations`);
});

test('large products on a software adapter go through packed textures, which are reused, not recreated', async (t) => {
  const device = await testDevice();
  if (!device) return t.skip('no WebGPU adapter');
  const h = new OpHarness(device);
  // Just over the threshold, with dims that are not multiples of the 64×64 tile.
  const [M, N, K] = [260, 300, Math.ceil(TEXTURE_MIN_FLOPS / (2 * 260 * 300))];
  const shape = { M, N, K, transA: false, transB: false };
  const pick = chooseMatmulVariant(h.ctx, shape, 'f32');
  if (h.ctx.adapterClass === 'cpu') assert.equal(pick.id, 'tex8x8', `a ${M}x${N}x${K} product on a software adapter`);
  else assert.notEqual(pick.id, 'tex8x8', 'hardware adapters keep buffer kernels');
  assert.notEqual(chooseMatmulVariant(h.ctx, { ...shape, K: 4 }, 'f32').id, 'tex8x8', 'small products skip the packs');
  assert.notEqual(
    chooseMatmulVariant(h.ctx, { ...shape, batch: 2 }, 'f32').id,
    'tex8x8',
    'batched products are not packed',
  );

  const a = randn(M * K, rng);
  const b = randn(K * N, rng);
  const want = matmulRef(a, b, M, N, K);
  const [at, bt] = [h.upload([M * K], a), h.upload([K * N], b)];
  const tex = variantById('tex8x8');
  let missesAfterFirst = 0;
  for (let round = 0; round < 3; round++) {
    const c = h.upload([M, N], new Float32Array(M * N));
    encodeMatmul(h.ctx, { ...shape, a: at.binding(), b: bt.binding(), c: c.binding(), variant: tex }, 'test');
    const err = relError(await h.read(c), want);
    assert.ok(err <= 1e-4, `round ${round}: relative error ${err.toExponential(2)}`);
    h.ctx.release(c);
    if (round === 0) missesAfterFirst = h.ctx.pool.misses;
  }
  assert.equal(h.ctx.pool.misses, missesAfterFirst, 'no buffer or texture created after the first product');
});
