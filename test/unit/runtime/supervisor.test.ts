import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crashReason, shouldSupervise } from '../../../runtime/supervisor';

test('training commands are supervised once: not in the child, not when turned off, not other commands', () => {
  assert.equal(shouldSupervise('profile', {}), true);
  assert.equal(shouldSupervise('verify', {}), true);
  assert.equal(shouldSupervise('analyze', {}), false);
  assert.equal(shouldSupervise(undefined, {}), false);
  assert.equal(shouldSupervise('profile', { COMMLENS_SUPERVISED: '1' }), false);
  assert.equal(shouldSupervise('profile', { COMMLENS_NO_SUPERVISOR: '1' }), false);
});

test('a crash reason names the signal, the likely cause, the free memory and what to change', () => {
  const mem = { freeBytes: 1.5 * 2 ** 30, totalBytes: 24 * 2 ** 30 };
  assert.match(crashReason('SIGKILL', mem), /killed \(SIGKILL\).*out-of-memory killer.*1\.5 of 24\.0 GiB free.*lower worldSize/);
  assert.match(crashReason('SIGSEGV', mem), /native code \(SIGSEGV\).*GPU driver or Dawn.*running out of memory.*1\.5 of 24\.0 GiB free/);
  assert.match(crashReason('SIGBUS', mem), /\(SIGBUS\)/);
  assert.match(crashReason('SIGABRT', mem), /aborted \(SIGABRT\).*heap limit/);
  assert.equal(crashReason('SIGUSR2', mem), 'the runtime process died of SIGUSR2');
});
