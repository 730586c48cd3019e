// NumberMap (trace/numberMap.ts) answers as a Map<number, number> does: SameValueZero keys, later sets replace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NumberMap } from '../../../trace/numberMap';

test('NumberMap gives what a Map gives for ids, fractions, huge, negative, -0, NaN and Infinity keys, through growth', () => {
  const keys: number[] = [0, -0, NaN, Infinity, -Infinity, 2 ** 31, -(2 ** 31) - 1, 2 ** 53, 0.5, -7.25, 1e-300];
  // Ids in runs, as correlations come, and pseudo-random ones.
  for (let i = 0; i < 5000; i++) keys.push(307_000_000 + i * 3);
  let x = 12345;
  for (let i = 0; i < 5000; i++) {
    x = (Math.imul(x, 1103515245) + 12345) | 0;
    keys.push(i % 3 === 0 ? x / 7 : x);
  }
  for (const presize of [0, 20_000]) {
    const m = new NumberMap(presize);
    const ref = new Map<number, number>();
    keys.forEach((k, i) => {
      m.set(k, i);
      ref.set(k, i);
    });
    // Later sets replace the value, not add a key.
    for (let i = 0; i < keys.length; i += 5) {
      m.set(keys[i], -i);
      ref.set(keys[i], -i);
    }
    assert.equal(m.size, ref.size);
    for (const k of keys) assert.equal(m.get(k), ref.get(k), `key ${k}`);
    for (const k of [1, -1, 307_000_001, 0.25, 2 ** 52 + 1]) {
      assert.equal(m.has(k), ref.has(k), `key ${k}`);
      assert.equal(m.get(k), ref.get(k), `key ${k}`);
    }
    assert.equal(m.get(-0), ref.get(0));
    assert.equal(m.has(NaN), true);
  }
});
