import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skipUnlessPresent, toolsRequired } from '../../helpers/require';
import { fixturesDir } from '../../helpers/paths';

test('a missing tool skips on a developer machine and fails in CI or with COMMLENS_REQUIRE_GPU=1', () => {
  assert.equal(toolsRequired({}), false);
  assert.equal(toolsRequired({ CI: 'true' }), true);
  assert.equal(toolsRequired({ CI: '0' }), false);
  assert.equal(toolsRequired({ COMMLENS_REQUIRE_GPU: '1' }), true);
  assert.equal(skipUnlessPresent('no adapter', {}), 'no adapter');
  assert.equal(skipUnlessPresent(false, { CI: 'true' }), false);
  assert.throws(() => skipUnlessPresent('no adapter', { CI: 'true' }), /no adapter — required here/);
});

test('fixturesDir finds the shared fixtures and names a missing one', () => {
  assert.match(fixturesDir('kineto', 'hta-sampled'), /shared[/\\]fixtures[/\\]kineto[/\\]hta-sampled$/);
  assert.throws(() => fixturesDir('no-such-fixture'), /fixture missing: .*no-such-fixture/);
});
