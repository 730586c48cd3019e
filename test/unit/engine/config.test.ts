import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  validateModelConfig,
  modelFlopsPerStep,
  resolveModelConfig,
  validateOptimizerConfig,
  achievedFlopsPerSec,
  modelFlopsUtilization,
  opClass,
} from '../../../runtime/engine';
import { planParams } from '../../../runtime/engine/params';
import { makeTaskBatch } from '../../../runtime/engine/models/tasks';
import { MlpModel } from '../../../runtime/engine/models/mlp';
import { GptModel } from '../../../runtime/engine/models/gpt';

const limits = { maxStorageBufferBindingSize: 128 << 20, maxBufferSize: 256 << 20 } as GPUSupportedLimits;

test('valid configs pass', () => {
  assert.deepEqual(validateModelConfig({ kind: 'mlp', batchSize: 8 }, limits), []);
  assert.deepEqual(
    validateModelConfig(
      { kind: 'gpt-mini', layers: 2, heads: 4, dModel: 64, seqLen: 32, vocab: 16, batchSize: 8 },
      limits,
    ),
    [],
  );
});

test('bad configs are rejected with the setting and the limit named', () => {
  const heads = validateModelConfig({ kind: 'gpt-mini', heads: 3, dModel: 32, batchSize: 4 });
  assert.equal(heads.length, 1);
  assert.match(heads[0], /model\.heads \(3\) must divide model\.dModel \(32\).*1, 2, 4, 8, 16, 32/);
  const seq = validateModelConfig({ kind: 'gpt-mini', seqLen: 64, maxSeqLen: 32, batchSize: 4 });
  assert.match(seq.join(), /model\.seqLen \(64\) exceeds model\.maxSeqLen \(32\)/);
  const big = validateModelConfig(
    { kind: 'gpt-mini', dModel: 64, heads: 4, seqLen: 512, vocab: 32000, batchSize: 64 },
    limits,
  );
  assert.match(
    big.join(),
    /logits .* needs \d+ bytes, over the adapter's maxStorageBufferBindingSize\/maxBufferSize limit of 134217728 bytes/,
  );
  assert.match(validateModelConfig({ kind: 'mlp', batchSize: 0 }).join(), /model\.batchSize is 0/);
  assert.match(validateModelConfig({ kind: 'mlp', classes: 1, batchSize: 2 }).join(), /model\.classes is 1/);
  assert.match(
    validateModelConfig({ kind: 'cnn' as 'mlp', batchSize: 2 }).join(),
    /model\.kind is "cnn"; allowed: 'mlp' or 'gpt-mini'/,
  );
  assert.match(
    validateModelConfig({ kind: 'gpt-mini', task: 'sort' as 'copy', batchSize: 2 }).join(),
    /model\.task is "sort"/,
  );
  assert.match(
    validateModelConfig({ kind: 'gpt-mini', dModel: 512, heads: 2, batchSize: 2 }).join(),
    /maximum head dimension 128/,
  );
  assert.match(
    validateModelConfig({ kind: 'gpt-mini', dtype: 'f16', batchSize: 2 }, limits, new Set()).join(),
    /shader-f16/,
  );
  assert.match(validateOptimizerConfig({ kind: 'adam', lr: -1 }).join(), /optimizer\.lr is -1/);
  assert.match(
    validateOptimizerConfig({ kind: 'adam', lr: 1, beta2: 1 }).join(),
    /optimizer\.beta2 is 1; it must be in \[0, 1\)/,
  );
});

test('analytic FLOPs: MLP is 6·B·Σ in·out; gpt-mini counts 3× (matmuls + causal attention)', () => {
  assert.equal(
    modelFlopsPerStep(resolveModelConfig({ kind: 'mlp', inputDim: 10, hiddenDims: [20], classes: 5, batchSize: 4 })),
    6 * 4 * (10 * 20 + 20 * 5),
  );
  const r = resolveModelConfig({ kind: 'gpt-mini', layers: 1, heads: 1, dModel: 4, seqLen: 2, vocab: 3, batchSize: 1 });
  const matmul = 2 * 2 * (12 * 16 + 4 * 3);
  const attention = 2 * 2 * 3 * 4;
  assert.equal(modelFlopsPerStep(r), 3 * (matmul + attention));
});

test('parameter layout: layers are contiguous, aligned, in forward order', () => {
  const gpt = new GptModel(
    resolveModelConfig({
      kind: 'gpt-mini',
      layers: 2,
      heads: 2,
      dModel: 8,
      seqLen: 4,
      vocab: 5,
      batchSize: 1,
    }) as never,
    1,
  );
  const plan = planParams(gpt.layerSpecs, 64);
  assert.deepEqual(
    plan.layers.map((l) => l.name),
    ['embed', 'layer0', 'layer1', 'head'],
  );
  let cursor = 0;
  for (const l of plan.layers) {
    assert.equal(l.paramOffset, cursor);
    assert.equal(l.paramOffset % 64, 0);
    cursor += l.paramCount;
  }
  assert.equal(cursor, plan.flatCount);
  const D = 8;
  assert.equal(plan.modelParamCount, 5 * D + 4 * D + 2 * (12 * D * D + 13 * D) + 2 * D + D * 5 + 5);
});

test('synthetic tasks are deterministic per (seed, rank, step) and correct', () => {
  const a = makeTaskBatch('reverse', 7, 9, 3, 1, 0, 5);
  assert.deepEqual(makeTaskBatch('reverse', 7, 9, 3, 1, 0, 5), a);
  assert.notDeepEqual(makeTaskBatch('reverse', 7, 9, 3, 1, 1, 5).tokens, a.tokens);
  // k = 4: x1..x4 SEP x4..x1; answers are predicted from positions 4..7.
  const row = Array.from(a.tokens.slice(0, 9));
  assert.equal(row[4], 1);
  assert.deepEqual(row.slice(5, 9), row.slice(0, 4).reverse().slice(0, 4));
  assert.deepEqual(
    Array.from(a.labels.slice(0, 9)),
    [-1, -1, -1, -1, row[3], row[2], row[1], row[0], -1].map((v, i) => (i < 4 ? -1 : v)),
  );
  assert.equal(a.counted, 3 * 4);
  assert.ok(Math.abs(a.weights.reduce((s, w) => s + w, 0) - 1) < 1e-6);
  const m = makeTaskBatch('modadd', 8, 8, 2, 3, 0, 0);
  const p = 7;
  for (let b = 0; b < 2; b++) {
    const t = m.tokens.slice(b * 8, b * 8 + 8);
    assert.equal(t[2], p);
    assert.equal(t[3], (t[0] + t[1]) % p);
    assert.equal(m.labels[b * 8 + 2], t[3]);
  }
  const copy = makeTaskBatch('copy', 5, 6, 1, 2, 0, 0);
  assert.deepEqual(Array.from(copy.tokens.slice(4, 6)), Array.from(copy.tokens.slice(0, 2)));
});

test('MLP data: same centres on every rank, a different shard per rank', () => {
  const cfg = { inputDim: 4, hiddenDims: [8], classes: 3, batchSize: 5 };
  const m = new MlpModel(cfg, 9);
  assert.deepEqual(m.batch(9, 0, 2), new MlpModel(cfg, 9).batch(9, 0, 2));
  assert.notDeepEqual(m.batch(9, 1, 2).x, m.batch(9, 0, 2).x);
});

test('achieved FLOP/s and MFU', () => {
  assert.equal(achievedFlopsPerSec(2e9, 1e9), 2e9);
  assert.equal(modelFlopsUtilization(2e9, 0.5e9, 8e9), 0.5);
  assert.throws(() => modelFlopsUtilization(1, 1, 0), /peakFlopsPerSec must be > 0/);
  assert.equal(opClass('matmul.dw 16x32x32 bwd layer0.fc'), 'matmul');
  assert.equal(opClass('adamw 768 params opt'), 'optimizer');
  assert.equal(opClass('layer_norm.dgamma 192x32 bwd head'), 'layer_norm');
});
