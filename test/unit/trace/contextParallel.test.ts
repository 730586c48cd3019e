import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contextParallelTraffic } from '../../../trace/contextParallel';

// gpt-mini's preset: 8 sequences of 32 tokens, width 128; a shard N·h/P is 16,384 elements at P = 2.
const gpt = { batch: 8, seqLen: 32, hidden: 128 };

test('Ulysses moves 2 × 4·N·h/P per layer, (P−1)/P of it off the rank, in 4 all-to-alls', () => {
  // The gpt-mini preset on 2 ranks: 0.5 MiB per step over its 2 layers (its runs' wire bytes less the gradients').
  assert.deepEqual(contextParallelTraffic('ulysses', { ...gpt, degree: 2 }), {
    bytesPerLayer: 262_144,
    messagesPerLayer: 4,
  });
  // P = 4: a shard of 8,192 elements; 8 shards, 3/4 of them sent, 4 bytes each.
  assert.deepEqual(contextParallelTraffic('ulysses', { ...gpt, degree: 4 }), {
    bytesPerLayer: 196_608,
    messagesPerLayer: 12,
  });
});

test('ring attention moves (3P−2) key/value-sized blocks per layer: P−1 forward, P−1 + P backward', () => {
  assert.deepEqual(contextParallelTraffic('ring', { ...gpt, degree: 2 }), {
    bytesPerLayer: 4 * 2 * 16_384 * 4,
    messagesPerLayer: 4,
  });
  assert.deepEqual(contextParallelTraffic('ring', { ...gpt, degree: 4 }), {
    bytesPerLayer: 10 * 2 * 8_192 * 4,
    messagesPerLayer: 10,
  });
  // f16 halves it; one rank sends nothing.
  assert.equal(contextParallelTraffic('ring', { ...gpt, degree: 2, elementBytes: 2 }).bytesPerLayer, 262_144);
  assert.deepEqual(contextParallelTraffic('ring', { ...gpt, degree: 1 }), { bytesPerLayer: 0, messagesPerLayer: 0 });
});

test('a shape that cannot be split is refused, naming the value', () => {
  assert.throws(
    () => contextParallelTraffic('ring', { ...gpt, degree: 3 }),
    /seqLen 32 is not divisible by the degree 3/,
  );
  assert.throws(
    () => contextParallelTraffic('ulysses', { ...gpt, degree: 0 }),
    /degree must be a positive integer, got 0/,
  );
});
