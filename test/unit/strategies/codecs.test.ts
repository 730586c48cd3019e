import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  f32ToF16Bits,
  f16BitsToF32,
  f32ToBf16Bits,
  bf16BitsToF32,
  decodeF16,
  encodeF16,
} from '../../../runtime/comm/halfFloat';
import { Int8Codec, SignCodec, topKIndices } from '../../../runtime/strategies/codecs';
import { compressedAllReduce, newErrorFeedback } from '../../../runtime/strategies/compressedAllReduce';
import { LocalWorld } from './localGroup';

function rng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 4294967296 - 0.5;
  };
}

test('decodeF16 gives every fp16 pattern the value f16BitsToF32 gives it', () => {
  const all = new Uint16Array(65536);
  for (let h = 0; h < 65536; h++) all[h] = h;
  const out = decodeF16(all);
  for (let h = 0; h < 65536; h++) assert.ok(Object.is(out[h], Math.fround(f16BitsToF32(h))), `0x${h.toString(16)}`);
});

test("decodeF16 costs the same for gradients of ordinary size as for tiny ones (the host probe's gradients are not the run's)", () => {
  const n = 1 << 18;
  const ordinary = new Float32Array(n),
    tiny = new Float32Array(n);
  const r = rng(7);
  for (let i = 0; i < n; i++) {
    ordinary[i] = r() * 1e-2;
    tiny[i] = r() * 1e-6; // fp16 subnormals: a converged model's gradients
  }
  const bitsOrdinary = encodeF16(ordinary),
    bitsTiny = encodeF16(tiny);
  const out = new Float32Array(n);
  const best = (bits: Uint16Array): number => {
    let min = Infinity;
    for (let k = 0; k < 7; k++) {
      const t = process.hrtime.bigint();
      decodeF16(bits, out);
      min = Math.min(min, Number(process.hrtime.bigint() - t));
    }
    return min;
  };
  best(bitsOrdinary);
  best(bitsTiny);
  const ratio = best(bitsOrdinary) / best(bitsTiny);
  // Through `2 ** e` per value, ordinary values decoded 6-8x slower than subnormals.
  assert.ok(ratio < 2.5, `ordinary / tiny decode time ${ratio.toFixed(2)}`);
});

test('fp16 and bf16 conversions match the IEEE bit patterns and round to nearest even', () => {
  assert.equal(f32ToF16Bits(1), 0x3c00);
  assert.equal(f32ToF16Bits(-2), 0xc000);
  assert.equal(f32ToF16Bits(65504), 0x7bff);
  assert.equal(f32ToF16Bits(1e6), 0x7c00, 'overflow goes to +Inf');
  assert.equal(f32ToF16Bits(2 ** -24), 0x0001, 'smallest subnormal');
  assert.equal(f32ToF16Bits(1 + 2 ** -11), 0x3c00, 'a tie rounds to even (down)');
  assert.equal(f32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02, 'a tie rounds to even (up)');
  for (const x of [0.1, -3.75, 1234.5, 6e-5, 2e-7]) {
    const back = f16BitsToF32(f32ToF16Bits(x));
    assert.ok(Math.abs(back - x) <= Math.max(Math.abs(x) * 2 ** -11, 2 ** -25), `${x} -> ${back}`);
  }
  assert.equal(f32ToBf16Bits(1), 0x3f80);
  assert.equal(bf16BitsToF32(f32ToBf16Bits(3.140625)), 3.140625);
  assert.ok(Math.abs(bf16BitsToF32(f32ToBf16Bits(0.1)) - 0.1) < 0.1 * 2 ** -8);
});

test('int8 codec: each value within half a quantisation step of its input, sizes as announced', () => {
  const r = rng(3);
  const x = Float32Array.from({ length: 1000 }, () => r() * 10);
  const codec = new Int8Codec(128);
  const bytes = new Uint8Array(codec.encodedBytes(x.length));
  assert.equal(bytes.length, Math.ceil(1000 / 128) * 4 + 1000);
  codec.encode(x, bytes);
  const y = new Float32Array(x.length);
  codec.decode(bytes, y, false);
  for (let c = 0; c < 8; c++) {
    const chunk = x.subarray(c * 128, (c + 1) * 128);
    const step = Math.max(...chunk.map(Math.abs)) / 127;
    for (let i = 0; i < chunk.length; i++) assert.ok(Math.abs(y[c * 128 + i] - chunk[i]) <= step / 2 + 1e-6);
  }
});

test("sign codec: 1 bit per value plus a scale per chunk; decodes to sign × ‖x‖₂/√n (the input chunk's L2 norm kept)", () => {
  const x = Float32Array.from([1, -3, 2, -2, 0.5, 0.5, -0.5, 4, 1]);
  const codec = new SignCodec(4);
  const bytes = new Uint8Array(codec.encodedBytes(x.length));
  assert.equal(bytes.length, 3 * 4 + 2 + 2 /* align */);
  codec.encode(x, bytes);
  const y = new Float32Array(x.length);
  codec.decode(bytes, y, false);
  const a = Math.fround(Math.sqrt((1 + 9 + 4 + 4) / 4));
  const b = Math.fround(Math.sqrt((0.25 * 3 + 16) / 4));
  assert.deepEqual([...y], [a, -a, a, -a, b, b, -b, b, 1]);
});

test('topKIndices returns exactly the k largest magnitudes', () => {
  const r = rng(11);
  const x = Float32Array.from({ length: 5000 }, () => r());
  for (const k of [1, 7, 50, 4999]) {
    const got = [...topKIndices(x, k)];
    const want = [...x.keys()]
      .sort((a, b) => Math.abs(x[b]) - Math.abs(x[a]))
      .slice(0, k)
      .sort((a, b) => a - b);
    assert.deepEqual(got, want, `k=${k}`);
  }
});

test('compressed all-reduce averages within the int8 error; error feedback keeps the running sum exact to one step', async () => {
  const n = 3;
  const len = 997;
  const r = rng(5);
  const inputs = Array.from({ length: n }, () => Float32Array.from({ length: len }, () => r()));
  const mean = new Float32Array(len).map((_, i) => inputs.reduce((a, x) => a + x[i], 0) / n);
  const codec = new Int8Codec(64);
  const run = async (ef: boolean, steps: number): Promise<number> => {
    const world = new LocalWorld(n);
    const efs = world.ranks.map(() => (ef ? newErrorFeedback(len, n) : undefined));
    const sums = world.ranks.map(() => new Float32Array(len));
    for (let s = 0; s < steps; s++) {
      await Promise.all(
        world.ranks.map(async (rank, i) => {
          const data = inputs[i].slice();
          await compressedAllReduce(rank, data, codec, efs[i]);
          for (let j = 0; j < len; j++) sums[i][j] += data[j];
        }),
      );
    }
    // All ranks decode the same bytes, so they agree exactly.
    for (let i = 1; i < n; i++) assert.deepEqual(sums[i], sums[0]);
    let worst = 0;
    for (let j = 0; j < len; j++) worst = Math.max(worst, Math.abs(sums[0][j] - steps * mean[j]));
    return worst;
  };
  const one = await run(false, 1);
  assert.ok(one < 0.02, `one step within the int8 error (${one})`);
  const steps = 40;
  const plain = await run(false, steps);
  const withEf = await run(true, steps);
  assert.ok(withEf < 0.03, `with error feedback the cumulative error stays at one step's (${withEf})`);
  assert.ok(plain > 5 * withEf, `without it the bias accumulates (${plain} vs ${withEf})`);
});
