/**
 * The runtime child-process handling with real child processes: small Node programs that
 * speak cli/protocol.ts the way the runtime does (events on stdout, log on stderr,
 * SIGTERM => partial trace + exit 130), and ones that misbehave (die without a final
 * event, ignore SIGTERM, leave grandchildren behind).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RuntimeProcess, LineSplitter, describeCrash, CRASH_TAIL_LINES } from '../../../extension/runtimeProcess';
import type { RuntimeEvent } from '../../../cli/protocol';

function nodeScript(code: string) {
  return { command: process.execPath, args: ['-e', code] };
}

const EMIT = `const emit = (e) => process.stdout.write(JSON.stringify({ v: 1, ...e }) + '\\n');`;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('LineSplitter', () => {
  it('joins lines split across chunks and keeps an unfinished tail', () => {
    const s = new LineSplitter();
    assert.deepEqual(s.push('{"a":'), []);
    assert.deepEqual(s.push('1}\r\n{"b"'), ['{"a":1}']);
    assert.deepEqual(s.push(':2}\nlast'), ['{"b":2}']);
    assert.deepEqual(s.flush(), ['last']);
    assert.deepEqual(s.flush(), []);
  });
});

describe('RuntimeProcess', () => {
  it('follows a run to its done event, in order, with log lines apart', async () => {
    const events: RuntimeEvent[] = [];
    const logs: string[] = [];
    const p = new RuntimeProcess(
      nodeScript(`${EMIT}
        emit({ kind: 'start', runId: 'r1', runDir: '/tmp/r1', worldSize: 2, steps: 3, strategy: 'ddp', link: 'eth-10g' });
        console.error('compiling kernels');
        console.log('not an event');
        // One event split across two writes, as a pipe may deliver it.
        process.stdout.write('{"v":1,"kind":"step","step":1,"steps":3,');
        setTimeout(() => {
          process.stdout.write('"loss":2.5,"stepTimeNs":1000000,"etaNs":2000000}\\n');
          emit({ kind: 'step', step: 2, steps: 3, loss: 2.0, stepTimeNs: 1e6, etaNs: 1e6 });
          emit({ kind: 'future-kind', x: 1 });
          emit({ kind: 'done', runId: 'r1', runDir: '/tmp/r1', tracePath: '/tmp/r1/trace.pftrace', summaryPath: '/tmp/r1/summary.json', partial: false });
        }, 20);`),
      { onEvent: (e) => events.push(e), onLog: (l) => logs.push(l) },
    );
    const o = await p.finished;
    assert.equal(o.kind, 'done');
    assert.equal(o.kind === 'done' && o.done.tracePath, '/tmp/r1/trace.pftrace');
    assert.equal(o.kind === 'done' && o.cancelled, false);
    assert.equal(o.exitCode, 0);
    assert.deepEqual(
      events.map((e) => e.kind),
      ['start', 'step', 'step', 'future-kind', 'done'],
    );
    const step1 = events[1] as Extract<RuntimeEvent, { kind: 'step' }>;
    assert.equal(step1.loss, 2.5);
    // stderr and stdout are separate pipes: their relative order is not defined.
    assert.deepEqual(logs.sort(), ['compiling kernels', 'not an event']);
  });

  it('reports the runtime error event with its message and exit code', async () => {
    const p = new RuntimeProcess(
      nodeScript(`${EMIT}
        emit({ kind: 'error', message: 'worldSize: got 99, expected an integer from 1 to 16', exitCode: 2 });
        process.exit(2);`),
    );
    const o = await p.finished;
    assert.equal(o.kind, 'error');
    if (o.kind !== 'error') return;
    assert.match(o.error.message, /worldSize: got 99/);
    assert.equal(o.exitCode, 2);
  });

  it('reports a process that dies without a final event as a crash with its last lines', async () => {
    const p = new RuntimeProcess(
      nodeScript(`${EMIT}
        emit({ kind: 'start', runId: 'r2', runDir: '/tmp/r2', worldSize: 2, steps: 3, strategy: 'ddp', link: 'none' });
        for (let i = 0; i < 30; i++) console.error('line ' + i);
        console.error('Error: device lost on rank 1');
        process.exit(7);`),
    );
    const o = await p.finished;
    assert.equal(o.kind, 'crash');
    if (o.kind !== 'crash') return;
    assert.equal(o.exitCode, 7);
    assert.equal(o.lastLines.length, CRASH_TAIL_LINES);
    assert.equal(o.lastLines.at(-1), 'Error: device lost on rank 1');
    const text = describeCrash(o);
    assert.match(text, /exited with code 7 without reporting a result/);
    assert.match(text, /device lost on rank 1/);
  });

  it('reports a program that cannot start as a crash, not a hang', async () => {
    const p = new RuntimeProcess({ command: '/nonexistent/commlens-node', args: [] });
    const o = await p.finished;
    assert.equal(o.kind, 'crash');
    assert.match(describeCrash(o as Extract<typeof o, { kind: 'crash' }>), /could not start/);
  });

  it('cancel: SIGTERM lets the runtime write its partial trace and report done partial', async () => {
    const events: string[] = [];
    const p = new RuntimeProcess(
      nodeScript(`${EMIT}
        emit({ kind: 'start', runId: 'r3', runDir: '/tmp/r3', worldSize: 2, steps: 100, strategy: 'ddp', link: 'none' });
        let step = 0;
        const t = setInterval(() => emit({ kind: 'step', step: ++step, steps: 100, loss: 1, stepTimeNs: 1e6, etaNs: 1e8 }), 10);
        process.on('SIGTERM', () => {
          clearInterval(t);
          emit({ kind: 'done', runId: 'r3', runDir: '/tmp/r3', tracePath: '/tmp/r3/trace.pftrace', summaryPath: '/tmp/r3/summary.json', partial: true });
          process.exit(130);
        });`),
      { onEvent: (e) => events.push(e.kind) },
    );
    while (!events.includes('step')) await new Promise((r) => setTimeout(r, 10));
    const t0 = Date.now();
    const o = await p.cancel();
    assert.ok(Date.now() - t0 < 2000, 'ended within 2 s');
    assert.equal(o.kind, 'done');
    assert.equal(o.kind === 'done' && o.done.partial, true);
    assert.equal(o.kind === 'done' && o.cancelled, true);
    assert.equal(o.exitCode, 130);
  });

  it('cancel ends the whole process tree within 2 s, even when SIGTERM is ignored', async () => {
    let grandchild = 0;
    const p = new RuntimeProcess(
      nodeScript(`
        process.on('SIGTERM', () => {});
        const { spawn } = require('node:child_process');
        const g = spawn(process.execPath, ['-e', 'process.on("SIGTERM", () => {}); setInterval(() => {}, 1000)'], { stdio: 'ignore' });
        console.log('grandchild ' + g.pid);
        setInterval(() => {}, 1000);`),
      {
        onLog: (l) => {
          const m = /^grandchild (\d+)$/.exec(l);
          if (m) grandchild = Number(m[1]);
        },
      },
    );
    while (grandchild === 0) await new Promise((r) => setTimeout(r, 10));
    assert.ok(alive(grandchild));
    const t0 = Date.now();
    const o = await p.cancel(1500);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed < 2000, `ended within 2 s (took ${elapsed} ms)`);
    assert.equal(o.kind, 'crash');
    assert.equal(o.kind === 'crash' && o.cancelled, true);
    assert.equal(o.kind === 'crash' && o.signal, 'SIGKILL');
    // The grandchild was in the same process group and got the SIGKILL too.
    for (let i = 0; i < 50 && alive(grandchild); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(alive(grandchild), false, 'the grandchild is gone');
  });
});
