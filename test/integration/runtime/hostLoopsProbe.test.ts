// The host probe times the host loops as the ranks run them, in a fresh V8 isolate, even in a
// process that has run before (verify's rounds, bench:advisor's passes): there the probe's own
// thread had read the codecs 20-30 % slower than a fresh one (runtime/hostProbe.ts probeHostLoops).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { probeCodecs, probeHostLoops } from '../../../runtime/hostProbe';
import { PRESETS } from '../../../runtime/config';
import { profileCommand } from '../../../cli/commands/profile';

const CODECS = ['int8-ef', 'onebit-adam', 'bf16'];

test("after a run in this process, the probe reads the codecs as this process's first probe did", async () => {
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';
  const config = { ...PRESETS['mlp-small'] };
  const before = await probeCodecs(config);
  const runsDir = mkdtempSync(join(tmpdir(), 'commlens-loops-'));
  try {
    const errors: string[] = [];
    const code = await profileCommand(
      ['--preset', 'tiny', '--steps', '3', '--world-size', '2', '--runs-dir', runsDir],
      { out: () => undefined, err: (s: string) => void errors.push(s) },
    );
    assert.equal(code, 0, errors.join(''));
    // Two tries: a busy machine can slow one probe by itself.
    const seen: string[] = [];
    let ok = false;
    for (let attempt = 0; attempt < 2 && !ok; attempt++) {
      const after = await probeHostLoops({ config, values: 64 * 1024 });
      assert.equal(after.thread, 'worker');
      const ratios = CODECS.map((n) => after.codecs.perCore[n] / before.perCore[n]);
      seen.push(CODECS.map((n, i) => `${n} ${ratios[i].toFixed(2)}`).join(', '));
      ok = ratios.every((x) => x > 0.88);
    }
    assert.ok(ok, `after a run / before it, per core: ${seen.join('; ')}`);
  } finally {
    rmSync(runsDir, { recursive: true, force: true });
  }
});
