import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PRESETS, type RunConfig } from '../../../runtime/config';
import { validateStrategyConfig, resolveOptions, STRATEGY_IDS } from '../../../runtime/strategies/options';

const tiny = PRESETS.tiny;
const gpt = PRESETS['gpt-mini'];
const cfg = (base: RunConfig, over: Partial<RunConfig>): RunConfig => ({ ...base, ...over });

test('every strategy id of the issue is known, and valid single strategies pass', () => {
  assert.deepEqual(
    [...STRATEGY_IDS].sort(),
    [
      'bf16',
      'ddp',
      'ddp-bucketed',
      'diloco',
      'fp16',
      'int8-ef',
      'localsgd',
      'onebit-adam',
      'powersgd',
      'streaming-diloco',
      'topk-dgc',
      'tp',
      'pp',
      'ep',
      'ulysses',
      'ring',
      'zero1',
      'zero2',
      'zero3',
    ].sort(),
  );
  for (const s of STRATEGY_IDS.filter((x) => !['ulysses', 'ring', 'tp', 'pp', 'ep'].includes(x)))
    assert.deepEqual(validateStrategyConfig(cfg(tiny, { strategy: s })), [], s);
  assert.deepEqual(validateStrategyConfig(cfg(tiny, { strategy: 'ddp-bucketed+int8-ef' })), []);
  // Ulysses needs gpt-mini: it passes there (2 ranks, 4 heads, seqLen 32) and on ddp data-parallel groups.
  assert.deepEqual(validateStrategyConfig(cfg(gpt, { strategy: 'ulysses' })), []);
  assert.deepEqual(
    validateStrategyConfig(
      cfg(gpt, { strategy: 'ulysses+ddp', worldSize: 4, strategyOptions: { sequenceParallelSize: 2 } }),
    ),
    [],
  );
  assert.match(
    validateStrategyConfig(cfg(gpt, { strategy: 'ulysses+zero1' })).join('\n'),
    /'ulysses' combines with data parallelism \('ddp'\) only; drop 'zero1'/,
  );
  assert.match(
    validateStrategyConfig(
      cfg(gpt, { strategy: 'ulysses', worldSize: 4, strategyOptions: { sequenceParallelSize: 3 } }),
    ).join('\n'),
    /sequenceParallelSize: 3 does not divide worldSize 4/,
  );
  assert.match(
    validateStrategyConfig(cfg(gpt, { strategy: 'ulysses', model: { ...gpt.model, seqLen: 31 } })).join('\n'),
    /model\.seqLen 31 is not divisible by 2/,
  );
  // Tensor parallelism needs gpt-mini too, and heads divisible by its size.
  assert.deepEqual(validateStrategyConfig(cfg(gpt, { strategy: 'tp' })), []);
  assert.deepEqual(
    validateStrategyConfig(cfg(gpt, { strategy: 'tp+ddp', worldSize: 8, strategyOptions: { tensorParallelSize: 4 } })),
    [],
  );
  assert.match(
    validateStrategyConfig(cfg(tiny, { strategy: 'tp' })).join('\n'),
    /'tp' \(tensor parallelism\) .* runs only model\.kind "gpt-mini" \(got "mlp"\)/,
  );
  assert.match(
    validateStrategyConfig(cfg(gpt, { strategy: 'tp', worldSize: 8 })).join('\n'),
    /model\.heads 4 is not divisible by the tensor-parallel size strategyOptions\.tensorParallelSize 8; .*: 1, 2, 4/,
  );
});

test('ZeRO-3 with a hook that needs full gradients is refused, naming the conflict and an alternative', () => {
  for (const h of ['powersgd', 'topk-dgc', 'int8-ef']) {
    const p = validateStrategyConfig(cfg(tiny, { strategy: `zero3+${h}` }));
    assert.equal(p.length, 1);
    assert.match(
      p[0],
      new RegExp(
        `'zero3\\+${h}' cannot work: ${h} needs each rank's full gradient.*use 'zero2'.*'ddp-bucketed\\+${h}'`,
      ),
    );
  }
});

test('Ulysses with heads not divisible by the sequence-parallel size is refused with a working size', () => {
  const p = validateStrategyConfig(
    cfg(gpt, {
      strategy: 'ulysses',
      worldSize: 4,
      model: { ...gpt.model, heads: 6, dModel: 96 },
      strategyOptions: { sequenceParallelSize: 4 },
    }),
  );
  assert.ok(
    p.some((m) =>
      /model\.heads 6 is not divisible by 4; set strategyOptions\.sequenceParallelSize to a divisor of 6 that divides worldSize \(e\.g\. 2\)/.test(
        m,
      ),
    ),
    p.join('\n'),
  );
  const mlp = validateStrategyConfig(cfg(tiny, { strategy: 'ulysses' }));
  assert.ok(
    mlp.some((m) => /needs model\.kind "gpt-mini"/.test(m)),
    mlp.join('\n'),
  );
});

test('ring attention: its context-parallel size must divide worldSize and model.seqLen, named with the sizes that work; not with Ulysses', () => {
  // Passes on gpt-mini alone (cp = worldSize 2), with data parallelism, and with any head count.
  assert.deepEqual(validateStrategyConfig(cfg(gpt, { strategy: 'ring' })), []);
  assert.deepEqual(
    validateStrategyConfig(
      cfg(gpt, {
        strategy: 'ring+ddp',
        worldSize: 4,
        model: { ...gpt.model, heads: 3, dModel: 96 },
        strategyOptions: { contextParallelSize: 2 },
      }),
    ),
    [],
  );
  assert.deepEqual(resolveOptions(cfg(gpt, { strategy: 'ring', worldSize: 4 })).contextParallelSize, 4);
  const world = validateStrategyConfig(
    cfg(gpt, { strategy: 'ring', worldSize: 4, strategyOptions: { contextParallelSize: 3 } }),
  ).join('\n');
  assert.match(world, /strategyOptions\.contextParallelSize 3 = 3 does not divide worldSize 4/);
  assert.match(world, /divisors of 4: 1, 2, 4/);
  const seq = validateStrategyConfig(
    cfg(gpt, { strategy: 'ring', worldSize: 4, model: { ...gpt.model, seqLen: 30 } }),
  ).join('\n');
  assert.match(
    seq,
    /model\.seqLen 30 is not divisible by the context-parallel size strategyOptions\.contextParallelSize 4; strategyOptions\.contextParallelSize must divide 30 \(and worldSize 4\): 1, 2/,
  );
  const both = validateStrategyConfig(cfg(gpt, { strategy: 'ring+ulysses' }));
  assert.equal(both.length, 1, both.join('\n'));
  assert.match(both[0], /'ring' and 'ulysses' are two ways to split attention over the sequence .* keep 'ring'/);
  assert.match(
    validateStrategyConfig(cfg(gpt, { strategy: 'ring+zero2' })).join('\n'),
    /'ring' combines with data parallelism \('ddp'\) only; drop 'zero2'/,
  );
  assert.match(validateStrategyConfig(cfg(tiny, { strategy: 'ring' })).join('\n'), /needs model\.kind "gpt-mini"/);
  assert.match(
    validateStrategyConfig(cfg(gpt, { strategy: 'ulysses', strategyOptions: { contextParallelSize: 2 } })).join('\n'),
    /contextParallelSize: only used by 'ring'/,
  );
});

test('a bucket larger than the model is refused with a size that works', () => {
  const p = validateStrategyConfig(cfg(tiny, { strategy: 'ddp-bucketed', strategyOptions: { bucketCapMb: 1 } }));
  assert.equal(p.length, 1);
  assert.match(
    p[0],
    /bucketCapMb: a 1 MiB bucket is larger than the whole model \(0\.037 MiB.*pick bucketCapMb below 0\.037 \(e\.g\. 0\.0092\), or use strategy 'ddp'/,
  );
  assert.deepEqual(
    validateStrategyConfig(
      cfg(tiny, { strategy: 'ddp-bucketed', strategyOptions: { bucketCapMb: 0.01, firstBucketCapMb: 0.005 } }),
    ),
    [],
  );
});

test('options are checked: unknown, foreign to the strategy, or out of range', () => {
  assert.match(
    validateStrategyConfig(cfg(tiny, { strategy: 'powersgd', strategyOptions: { rank: 2 } }))[0],
    /strategyOptions\.rank: unknown option; 'powersgd' takes powerSgdRank, powerSgdStartStep/,
  );
  assert.match(
    validateStrategyConfig(cfg(tiny, { strategy: 'fp16', strategyOptions: { density: 0.1 } }))[0],
    /density: only used by 'topk-dgc', not by 'fp16'/,
  );
  assert.match(
    validateStrategyConfig(cfg(tiny, { strategy: 'topk-dgc', strategyOptions: { density: 2 } }))[0],
    /density: got 2, expected a number from 0\.000001 to 1/,
  );
  assert.match(
    validateStrategyConfig(cfg(tiny, { strategy: 'diloco', strategyOptions: { localSteps: 50 } }))[0],
    /localSteps: 50 inner steps exceed the run's 6 steps/,
  );
  assert.match(
    validateStrategyConfig(cfg(tiny, { strategy: 'zero1+zero2' }))[0],
    /stages of one method; keep the highest, 'zero2'/,
  );
  assert.match(
    validateStrategyConfig(cfg(tiny, { strategy: 'diloco+fp16' }))[0],
    /exchange parameter deltas every H steps.*strategyOptions\.quantize/,
  );
  assert.match(
    validateStrategyConfig(cfg(tiny, { strategy: 'onebit-adam', optimizer: { kind: 'sgd', lr: 0.1 } }))[0],
    /variant of Adam but optimizer\.kind is "sgd"/,
  );
  assert.match(
    validateStrategyConfig(
      cfg(tiny, { strategy: 'onebit-adam', optimizer: { kind: 'adam', lr: 0.01, clipGradNorm: 1 } }),
    )[0],
    /global gradient norm that optimizer\.clipGradNorm needs; remove optimizer\.clipGradNorm/,
  );
  assert.match(
    validateStrategyConfig(cfg(tiny, { strategy: 'onebit-adam', steps: 2 }))[0],
    /a run of 2 step\(s\) is too short; use steps ≥ 3/,
  );
  assert.match(
    validateStrategyConfig(
      cfg(tiny, { strategy: 'onebit-adam', steps: 6, strategyOptions: { onebitWarmupSteps: 6 } }),
    )[0],
    /onebitWarmupSteps: 6 warm-up steps leave no compressed step in a 6-step run; set it below 6/,
  );
  assert.deepEqual(validateStrategyConfig(cfg(tiny, { strategy: 'onebit-adam', steps: 3 })), []);
  // Without onebitWarmupSteps the strategy measures when the variance is stable (trace/onebitWarmup.ts).
  assert.equal(resolveOptions(cfg(tiny, { strategy: 'onebit-adam', steps: 12 })).onebitWarmupSteps, undefined);
  assert.equal(
    resolveOptions(cfg(tiny, { strategy: 'onebit-adam', steps: 12, strategyOptions: { onebitWarmupSteps: 4 } }))
      .onebitWarmupSteps,
    4,
  );
  assert.match(
    validateStrategyConfig(cfg(tiny, { strategy: 'topk-dgc', optimizer: { kind: 'sgd', lr: 0.1, momentum: 0.9 } }))[0],
    /apply momentum twice.*strategyOptions\.dgcMomentum to 0\.9/,
  );
});

test('defaults follow the methods: PyTorch bucket caps, PowerSGD rank 1, DiLoCo outer Nesterov 0.7/0.9', () => {
  const o = resolveOptions(cfg(tiny, { strategy: 'ddp-bucketed' }));
  assert.equal(o.bucketCapMb, 25);
  assert.equal(o.firstBucketCapMb, 1);
  assert.equal(o.powerSgdRank, 1);
  assert.equal(o.outerLr, 0.7);
  assert.equal(o.outerMomentum, 0.9);
});
