import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crashReason, shouldSupervise, stderrFilter } from '../../../cli/supervisor';

test('training commands are supervised once: not in the child, not when turned off, not other commands', () => {
  assert.equal(shouldSupervise('profile', {}), true);
  assert.equal(shouldSupervise('verify', {}), true);
  assert.equal(shouldSupervise('doctor', {}), true, "doctor: so that Dawn's native stderr notices pass the filter");
  assert.equal(shouldSupervise('analyze', {}), false);
  assert.equal(shouldSupervise(undefined, {}), false);
  assert.equal(shouldSupervise('profile', { COMMLENS_SUPERVISED: '1' }), false);
  assert.equal(shouldSupervise('profile', { COMMLENS_NO_SUPERVISOR: '1' }), false);
});

test('a crash reason names the signal, the likely cause, the free memory and what to change', () => {
  const mem = { freeBytes: 1.5 * 2 ** 30, totalBytes: 24 * 2 ** 30 };
  assert.match(
    crashReason('SIGKILL', mem),
    /killed \(SIGKILL\).*out-of-memory killer.*1\.5 of 24\.0 GiB free.*lower worldSize/,
  );
  assert.match(
    crashReason('SIGSEGV', mem),
    /native code \(SIGSEGV\).*GPU driver or Dawn.*running out of memory.*1\.5 of 24\.0 GiB free/,
  );
  assert.match(crashReason('SIGBUS', mem), /\(SIGBUS\)/);
  assert.match(crashReason('SIGABRT', mem), /aborted \(SIGABRT\) without a message/);
  assert.equal(crashReason('SIGUSR2', mem), 'the runtime process died of SIGUSR2');
});

test("the child's stderr reaches the user without Dawn's per-device notices, split chunks and a last partial line included", () => {
  let out = '';
  const f = stderrFilter((t) => (out += t));
  f.push(
    'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\nstep 1/3 ',
  );
  f.push(
    'loss 2.0\nWarning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\n',
  );
  f.push('Warning: something Dawn really means\ncommlens profile: rank 0 failed');
  assert.equal(out, 'step 1/3 loss 2.0\nWarning: something Dawn really means\n');
  f.end();
  assert.equal(out, 'step 1/3 loss 2.0\nWarning: something Dawn really means\ncommlens profile: rank 0 failed');
});
