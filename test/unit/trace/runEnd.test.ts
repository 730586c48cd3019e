import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PerfettoStreamWriter, intactPrefixLength, runEndArgs, writePerfetto } from '../../../trace/perfettoWriter';
import { readPerfetto } from '../../../trace/perfettoReader';
import { deflateFast, inflateBounded } from '../../../trace/load';
import { twoRankModel } from './fixtures';

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

test('intactPrefixLength keeps every whole packet and drops a cut one at the end', () => {
  const whole = writePerfetto(twoRankModel());
  assert.equal(intactPrefixLength(whole), whole.length, 'a whole file is intact');
  assert.equal(intactPrefixLength(new Uint8Array(0)), 0);
  // Cut at every offset of the last 40 bytes: the prefix is always a readable trace with
  // no more than the whole file, and never ends inside a packet.
  const full = readPerfetto(whole);
  for (let cut = whole.length - 40; cut < whole.length; cut++) {
    const n = intactPrefixLength(whole.subarray(0, cut));
    assert.ok(n <= cut && n > 0, `cut ${cut}: prefix ${n}`);
    const m = readPerfetto(whole.subarray(0, n));
    assert.ok(m.slices.length <= full.slices.length);
    assert.deepEqual(
      m.warnings.filter((w) => /truncat|past the end/i.test(w)),
      [],
      `cut ${cut}: the prefix reads without a truncation warning`,
    );
  }
  // Bytes that are not a packet (another field) end the intact prefix too.
  assert.equal(intactPrefixLength(concat([whole, Uint8Array.of(0x08, 0x01)])), whole.length);
});

test('a run end appended by a second writer replaces the run info and keeps the rest of the metadata', () => {
  const model = twoRankModel();
  const first = writePerfetto(model, { compress: deflateFast });
  const chunks: Uint8Array[] = [];
  const w = new PerfettoStreamWriter((c) => chunks.push(c.slice()), {
    originNs: model.meta.originNs,
    compress: deflateFast,
  });
  w.metadata(
    runEndArgs(model.meta.info, {
      status: 'failed',
      error: 'the runtime process crashed (SIGSEGV)',
      signal: 'SIGSEGV',
      rank: 1,
    }),
  );
  w.flush();
  const back = readPerfetto(concat([first, ...chunks]), { inflate: inflateBounded });
  assert.equal(back.meta.info?.runStatus, 'failed');
  assert.equal(back.meta.info?.runError, 'the runtime process crashed (SIGSEGV)');
  assert.equal(back.meta.info?.exitSignal, 'SIGSEGV');
  assert.equal(back.meta.info?.failedRank, 1);
  assert.equal(back.meta.info?.preset, 'mlp-small', 'fields of the first metadata are kept');
  assert.equal(back.meta.worldSize, model.meta.worldSize);
  assert.equal(
    back.slices.length,
    readPerfetto(first, { inflate: inflateBounded }).slices.length,
    'no slice gained or lost',
  );
  // A completed run records only its status; a negative rank (none) is left out.
  assert.deepEqual(runEndArgs({ a: 1 }, { status: 'completed', rank: -1 }), { info: { a: 1, runStatus: 'completed' } });
});
