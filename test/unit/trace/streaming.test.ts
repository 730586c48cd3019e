import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { readPerfetto } from '../../../trace/perfettoReader';

test('a writer killed with SIGKILL leaves a file holding every step it finished', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-kill-'));
  const file = path.join(dir, 'run.pftrace');
  try {
    const child = spawn(process.execPath, [path.join(__dirname, 'killedWriterChild.js'), file], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let reported = -1;
    await new Promise<void>((resolve, reject) => {
      let buffered = '';
      const timer = setTimeout(() => reject(new Error('child never reported 5 steps')), 10_000);
      child.stdout.on('data', (d: Buffer) => {
        buffered += d.toString();
        const m = [...buffered.matchAll(/step (\d+)\n/g)];
        if (m.length > 0) reported = Number(m[m.length - 1][1]);
        if (reported >= 5) {
          child.kill('SIGKILL');
          clearTimeout(timer);
          resolve();
        }
      });
    });
    await new Promise((r) => child.once('exit', r));
    const bytes = fs.readFileSync(file);
    const m = readPerfetto(bytes, { fileName: file });
    const steps = m.slices.filter((s) => s.category === 'step').map((s) => Number(s.name.split(' ')[1]));
    for (let s = 0; s <= reported; s++) {
      assert.ok(steps.includes(s), `step ${s} (reported before the kill) is in the file`);
      assert.equal(
        m.slices.filter((x) => x.category === 'kernel' && x.args?.step === s).length,
        50,
        `all kernels of step ${s}`,
      );
    }
    // Every packet boundary is a valid end of file: whatever the kill cut, nothing is half-read.
    assert.ok(
      m.warnings.every((w) => !/malformed/.test(w)),
      m.warnings.join('\n'),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
