import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { hostname } from 'node:os';
import { crashReason } from '../../../cli/supervisor';
import {
  describeError,
  guardStream,
  onStopRequest,
  requestStop,
  resetStopRequest,
  streamClosed,
} from '../../../runtime/lifeline';
import { processStartTime, runLiveness } from '../../../trace/runLiveness';

const mem = { freeBytes: 20 * 2 ** 30, totalBytes: 24 * 2 ** 30 };

test('a crash after a JavaScript error names the error and its first stack line, not memory', () => {
  const r = crashReason('SIGABRT', mem, {
    jsError: 'Error: write EPIPE (at afterWriteDispatched (node:internal/stream_base_commons:161:15))',
  });
  assert.match(r, /internal error: Error: write EPIPE \(at afterWriteDispatched/);
  assert.match(r, /died of SIGABRT/);
  assert.doesNotMatch(r, /worldSize|memory|heap/);
});

test('SIGABRT: memory advice only when V8 says its heap ran out; otherwise the last stderr line (the driver abort) is named', () => {
  const heap = crashReason('SIGABRT', mem, {
    stderrTail: [
      '<--- Last few GCs --->',
      'FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory',
    ],
  });
  assert.match(heap, /ran out of JavaScript heap.*lower worldSize.*--max-old-space-size/);
  const dawn = crashReason('SIGABRT', mem, {
    stderrTail: ['step 1/3', 'Assertion failure at third_party/dawn/src/dawn/native/Buffer.cpp:412: size != 0'],
  });
  assert.match(dawn, /aborted \(SIGABRT\) in native code.*"Assertion failure at .*Buffer\.cpp:412: size != 0"/);
  assert.doesNotMatch(dawn, /worldSize|memory/);
  const silent = crashReason('SIGABRT', mem, {});
  assert.match(silent, /aborted \(SIGABRT\) without a message/);
  assert.doesNotMatch(silent, /worldSize|memory/);
});

test("describeError: the error's name, message and the first line of its stack", () => {
  const e = new TypeError('x is not a function');
  assert.match(describeError(e), /^TypeError: x is not a function \(at .*lifeline\.test\.js:\d+:\d+\)\)$/);
  assert.equal(describeError('plain'), 'plain');
});

test('a write error on a stream (EPIPE) is absorbed: the stream is marked closed and the callback runs once', async () => {
  const w = new Writable({
    write(_c, _e, cb) {
      cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    },
  });
  const codes: string[] = [];
  guardStream(w, (c) => codes.push(c));
  w.write('a');
  await new Promise((r) => setImmediate(r));
  assert.equal(streamClosed(w), true);
  assert.deepEqual(codes, ['EPIPE']);
});

test('a stop request reaches listeners once, the first reason wins, late listeners hear it at once', () => {
  resetStopRequest();
  const got: string[] = [];
  const off = onStopRequest((r, failed) => got.push(`${r}/${failed}`));
  requestStop('stdout closed');
  requestStop('second');
  onStopRequest((r) => got.push(`late ${r}`))();
  off();
  assert.deepEqual(got, ['stdout closed/false', 'late stdout closed']);
  resetStopRequest();
});

test('runLiveness: running while a recorded process lives; interrupted once all are gone or the pid was reused', async () => {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
  await new Promise((r) => child.once('spawn', r));
  const pid = child.pid!;
  const startTime = processStartTime(pid);
  if (process.platform === 'linux') assert.match(startTime ?? '', /^[0-9a-f-]+:\d+$/);
  const summary = { status: 'running', processes: [{ pid, ...(startTime ? { startTime } : {}) }] };
  assert.equal(runLiveness(summary), 'running');
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  assert.equal(runLiveness(summary), 'interrupted');
  if (process.platform === 'linux') {
    // This test's own pid is alive, but a process that started at another time is not the one recorded.
    assert.equal(
      runLiveness({ status: 'running', processes: [{ pid: process.pid, startTime: `${startTime!.split(':')[0]}:1` }] }),
      'interrupted',
    );
  }
  assert.equal(runLiveness({ status: 'running' }), 'running', 'a summary that names no process is taken at its word');
  assert.equal(
    runLiveness({ status: 'running', processes: [{ pid, host: 'another-machine.invalid' }] }),
    'running',
    "another machine's process cannot be judged here",
  );
  assert.equal(runLiveness({ status: 'running', processes: [{ pid, host: hostname() }] }), 'interrupted');
  assert.equal(runLiveness({ status: 'completed', processes: [{ pid }] }), undefined);
  assert.equal(
    runLiveness({ status: 'running', processes: [{ pid: 'x' }, null] }),
    'running',
    'malformed entries are ignored',
  );
});
